"""LightGCN as a :class:`jaxrec.training.Victim`: the model reads the (possibly poisoned) data.

Unlike BPR-MF, LightGCN's scores depend on the training interactions themselves: the objective
and the scorer rebuild the graph from the index they are given
(:func:`jaxrec.data.graph_from_index`), so retraining on poisoned data also propagates over the
fake interactions, and gradients can reach them.
"""

from __future__ import annotations

import functools

import jax
import optax

from jaxrec.data._graph import graph_from_index
from jaxrec.data._index import PositiveIndex
from jaxrec.models import _lightgcn as lightgcn
from jaxrec.models._mf import mf
from jaxrec.training._loop import TrainState, init_state
from jaxrec.training._victim import Victim
from jaxrec.typing import PRNGKey

__all__ = ["lightgcn_victim"]


def _objective(params, batch, index, *, num_layers, reg):
  return lightgcn.lightgcn_bpr_objective(params, batch, graph_from_index(index),
                                         num_layers=num_layers, reg=reg)


def _scorer(params, index, *, num_layers):
  return mf.score_all, lightgcn.to_mf(params, graph_from_index(index), num_layers)


def lightgcn_victim(*, dim: int = 64, num_layers: int = 3, num_epochs: int = 200,
                    batch_size: int = 4096, reg: float = 1e-4,
                    tx: optax.GradientTransformation | None = None) -> Victim:
  """LightGCN (:mod:`jaxrec.models._lightgcn`) with its training recipe.

  Defaults follow the paper (64 dimensions, 3 layers, Adam, ``lambda = 1e-4``) except the
  learning rate and batch: jaxrec trains 200 epochs of 4096 triples (about 23 steps per epoch on
  MovieLens-100K), far fewer Adam steps than the paper's batches of 1024 for up to 1000 epochs,
  so the default learning rate is 0.01 instead of 0.001. On the MovieLens-100K leave-one-out
  split this recipe reaches HR@10 0.137, nDCG@10 0.069 (``experiments/model_zoo.py``, seed 0;
  BPR-MF 0.142, most-popular 0.082). Adam is invariant to the loss scale, so jaxrec's summed BPR
  loss needs no rescaling.

  Args:
    dim: embedding size. num_layers: propagation layers ``L``. num_epochs: epochs.
    batch_size: triples per step.
    reg: L2 coefficient on the layer-0 embeddings of each batch
      (:func:`jaxrec.models.lightgcn_bpr_objective`).
    tx: optimiser; default ``optax.adam(0.01)``.

  Returns:
    A :class:`Victim` named ``"lightgcn"``; its scorer returns ``(jaxrec.models.mf.score_all,
    MFParams)`` of the propagated embeddings with a zero item bias.

  Raises:
    ValueError: non-positive ``dim`` or ``batch_size``, negative ``num_layers``,
      ``num_epochs`` or ``reg``.
  """
  if dim <= 0 or batch_size <= 0 or num_epochs < 0 or num_layers < 0:
    raise ValueError(f"need dim > 0, batch_size > 0, num_epochs >= 0, num_layers >= 0; got "
                     f"{dim}, {batch_size}, {num_epochs}, {num_layers}")
  if isinstance(reg, (int, float)) and reg < 0:
    raise ValueError(f"reg must be >= 0, got {reg}")
  tx = optax.adam(0.01) if tx is None else tx

  def init(index: PositiveIndex, key: PRNGKey) -> TrainState:
    k_init, k_train = jax.random.split(key)
    return init_state(lightgcn.init(k_init, index.num_users, index.num_items, dim), tx, k_train)

  return Victim(name="lightgcn", init=init,
                objective=functools.partial(_objective, num_layers=num_layers, reg=reg),
                tx=tx, batch_size=batch_size, num_epochs=num_epochs,
                scorer=functools.partial(_scorer, num_layers=num_layers))
