"""A victim: a recommender plus its training recipe, as pure functions.

The poisoning pipeline retrains a victim from scratch on poisoned data with the same
hyper-parameters and seed as the clean model; bundling the recipe makes that a guarantee.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import optax

from jaxrec.data._index import PositiveIndex
from jaxrec.models._mf import mf, mf_bpr_objective
from jaxrec.training._loop import Objective, TrainState, fit, init_state
from jaxrec.typing import Array, Params, PRNGKey

__all__ = ["Victim", "bpr_mf_victim", "fit_victim"]


class Victim(NamedTuple):
  """A trainable recommender.

  Attributes:
    name: short name for reports (e.g. ``"bpr-mf"``).
    init: ``init(index, key) -> TrainState``: fresh parameters for ``index.num_users`` users and
      ``index.num_items`` items, optimiser state and the training key, all from ``key``.
    objective: ``objective(params, batch) -> scalar`` to minimise.
    tx: the optax optimiser.
    batch_size: static triples per step.
    num_epochs: static epochs.
    score_all: ``score_all(params, users (C,)) -> (C, I)``.
  """

  name: str
  init: Callable[[PositiveIndex, PRNGKey], TrainState]
  objective: Objective
  tx: optax.GradientTransformation
  batch_size: int
  num_epochs: int
  score_all: Callable[[Params, Array], Array]


def fit_victim(victim: Victim, index: PositiveIndex, key: PRNGKey, *,
               num_steps: int | None = None) -> tuple[Params, Array]:
  """Trains ``victim`` from scratch on ``index`` (pure, jittable, ``vmap``-able).

  Args:
    victim: the model and its recipe. index: training positives. key: PRNG key.
    num_steps: static steps per epoch; default ``ceil(index.capacity / batch_size)``. Poisoned
      retraining passes the clean data's count, so that padding slots reserved for fake users
      do not change the training schedule.

  Returns:
    ``(params, curve)``, ``curve`` the ``(num_epochs,)`` mean loss per triple.
  """
  state, curve = fit(victim.init(index, key), index, objective=victim.objective, tx=victim.tx,
                     batch_size=victim.batch_size, num_epochs=victim.num_epochs,
                     num_steps=num_steps)
  return state.params, curve


def bpr_mf_victim(*, dim: int = 64, num_epochs: int = 200, batch_size: int = 4096,
                  reg: float = 0.01, tx: optax.GradientTransformation | None = None) -> Victim:
  """BPR-MF (:mod:`jaxrec.models._mf`) with its training recipe.

  Args:
    dim: factors. num_epochs: epochs. batch_size: triples per step.
    reg: L2 coefficient (:func:`jaxrec.models.mf_bpr_objective`).
    tx: optimiser; default ``optax.adagrad(0.05, initial_accumulator_value=0.1)``.

  Raises:
    ValueError: non-positive ``dim``, ``batch_size`` or negative ``num_epochs``.
  """
  if dim <= 0 or batch_size <= 0 or num_epochs < 0:
    raise ValueError(f"need dim > 0, batch_size > 0, num_epochs >= 0; got {dim}, {batch_size}, "
                     f"{num_epochs}")
  tx = optax.adagrad(0.05, initial_accumulator_value=0.1) if tx is None else tx

  def init(index: PositiveIndex, key: PRNGKey) -> TrainState:
    k_init, k_train = jax.random.split(key)
    return init_state(mf.init(k_init, index.num_users, index.num_items, dim), tx, k_train)

  return Victim(name="bpr-mf", init=init,
                objective=functools.partial(mf_bpr_objective, reg=reg), tx=tx,
                batch_size=batch_size, num_epochs=num_epochs, score_all=mf.score_all)
