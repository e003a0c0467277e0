"""NeuMF as a :class:`jaxrec.training.Victim` (trained with BPR, like every jaxrec victim)."""

from __future__ import annotations

import functools

import jax
import optax

from jaxrec.data._index import PositiveIndex
from jaxrec.models._neumf import init as neumf_init
from jaxrec.models._neumf import neumf_bpr_objective
from jaxrec.models._neumf import score_all as neumf_score_all
from jaxrec.training._loop import TrainState, init_state
from jaxrec.training._victim import Victim
from jaxrec.typing import PRNGKey

__all__ = ["neumf_victim"]


def _neumf_objective(params, batch, index, *, reg):
  del index  # NeuMF reads nothing beyond the sampled triples
  return neumf_bpr_objective(params, batch, reg=reg)


def _neumf_scorer(params, index):
  del index
  return neumf_score_all, params


def neumf_victim(*, gmf_dim: int = 32, mlp_dims: tuple[int, ...] = (64, 32, 16),
                 num_epochs: int = 50, batch_size: int = 1024, reg: float = 0.0,
                 tx: optax.GradientTransformation | None = None) -> Victim:
  """NeuMF (:mod:`jaxrec.models._neumf`) with its training recipe.

  The paper trains NeuMF with a pointwise log loss; jaxrec uses the summed pairwise BPR loss
  (:func:`jaxrec.models._neumf.neumf_bpr_objective`) so that NeuMF shares the training loop,
  sampler and poisoning pipeline of the other victims.

  Defaults: Adam with the paper's learning rate 0.001, batch 1024, 50 epochs, no L2; on the
  MovieLens-100K leave-one-out split HR@10 0.121, nDCG@10 0.064 (``experiments/model_zoo.py``,
  seed 0; BPR-MF 0.142, most-popular 0.082). Adam divides each step by the gradient's running
  RMS, so summing rather than averaging the BPR loss over the batch leaves the step size
  unchanged (up to Adam's epsilon); the learning rate keeps its meaning as a per-parameter step.

  Args:
    gmf_dim: GMF embedding size. mlp_dims: tower sizes (:func:`jaxrec.models._neumf.init`).
    num_epochs: epochs. batch_size: triples per step.
    reg: L2 coefficient on the batch's embedding rows.
    tx: optimiser; default ``optax.adam(1e-3)``.

  Raises:
    ValueError: non-positive ``gmf_dim`` or ``batch_size``, negative ``num_epochs`` or ``reg``,
      or malformed ``mlp_dims``.

  Source:
    He, Liao, Zhang, Nie, Hu, Chua, "Neural Collaborative Filtering", WWW 2017, Sec. 3.4.
  """
  mlp_dims = tuple(int(d) for d in mlp_dims)
  if gmf_dim <= 0 or batch_size <= 0 or num_epochs < 0 or reg < 0:
    raise ValueError("need gmf_dim > 0, batch_size > 0, num_epochs >= 0, reg >= 0; got "
                     f"{gmf_dim}, {batch_size}, {num_epochs}, {reg}")
  if len(mlp_dims) < 2 or min(mlp_dims) <= 0 or mlp_dims[0] % 2:
    raise ValueError("mlp_dims must hold an even positive input width and at least one positive "
                     f"layer width, got {mlp_dims}")
  tx = optax.adam(1e-3) if tx is None else tx

  def init(index: PositiveIndex, key: PRNGKey) -> TrainState:
    k_init, k_train = jax.random.split(key)
    params = neumf_init(k_init, index.num_users, index.num_items, gmf_dim=gmf_dim,
                        mlp_dims=mlp_dims)
    return init_state(params, tx, k_train)

  return Victim(name="neumf", init=init,
                objective=functools.partial(_neumf_objective, reg=reg), tx=tx,
                batch_size=batch_size, num_epochs=num_epochs, scorer=_neumf_scorer)
