"""A victim: a recommender plus its training recipe, as pure functions of the data.

The poisoning pipeline retrains a victim from scratch on poisoned data with the same
hyper-parameters and seed as the clean model; bundling the recipe makes that a guarantee. The
training data (a :class:`jaxrec.data.PositiveIndex`) is an argument of every function, never
stored, because graph and neighbourhood models read it: poisoning it changes them, and gradients
reach it.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import optax

from jaxrec.data._index import PositiveIndex
from jaxrec.data._sampling import BPRBatch
from jaxrec.models._mf import mf, mf_bpr_objective
from jaxrec.training._loop import TrainState, fit, init_state
from jaxrec.typing import Array, Params, PRNGKey

__all__ = ["Victim", "bpr_mf_victim", "fit_victim", "scores_of"]

ScoreAll = Callable[[Any, Array], Array]


class Victim(NamedTuple):
  """A trainable recommender.

  Attributes:
    name: short name for reports (e.g. ``"bpr-mf"``).
    init: ``init(index, key) -> TrainState``: fresh parameters for ``index.num_users`` users and
      ``index.num_items`` items (closed-form models solve here), optimiser state and the
      training key, all from ``key``.
    objective: ``objective(params, batch, index) -> scalar`` to minimise over BPR triples.
    tx: the optax optimiser.
    batch_size: static triples per step.
    num_epochs: static epochs (0 for closed-form models).
    scorer: ``scorer(params, index) -> (score_all, score_params)``: how the trained model ranks,
      as a hashable ``score_all(score_params, users (C,)) -> (C, I)`` and its pytree argument
      (for :func:`jaxrec.metrics.evaluate` and the target metrics).
  """

  name: str
  init: Callable[[PositiveIndex, PRNGKey], TrainState]
  objective: Callable[[Params, BPRBatch, PositiveIndex], Array]
  tx: optax.GradientTransformation
  batch_size: int
  num_epochs: int
  scorer: Callable[[Params, PositiveIndex], tuple[ScoreAll, Any]]


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
  objective = functools.partial(victim.objective, index=index)
  state, curve = fit(victim.init(index, key), index, objective=objective, tx=victim.tx,
                     batch_size=victim.batch_size, num_epochs=victim.num_epochs,
                     num_steps=num_steps)
  return state.params, curve


def scores_of(victim: Victim, params: Params, index: PositiveIndex) -> tuple[ScoreAll, Any]:
  """``(score_all, score_params)`` of a trained victim (``victim.scorer``), for evaluation:
  ``metrics.evaluate(*scores_of(victim, params, train), train, test)``."""
  return victim.scorer(params, index)


def _mf_objective(params, batch, index, *, reg):
  del index  # BPR-MF does not read the data beyond the sampled triples
  return mf_bpr_objective(params, batch, reg=reg)


def _mf_scorer(params, index):
  del index
  return mf.score_all, params


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

  return Victim(name="bpr-mf", init=init, objective=functools.partial(_mf_objective, reg=reg),
                tx=tx, batch_size=batch_size, num_epochs=num_epochs, scorer=_mf_scorer)
