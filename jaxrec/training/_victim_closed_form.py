"""Closed-form victims (EASE, ItemKNN): "training" is one solve on the data, inside ``init``.

Both models are functions of the interaction data, so a poisoning attack that changes the data
changes them directly, and gradients reach the (relaxed) interactions through the solve. They
follow the :class:`jaxrec.training.Victim` protocol with ``num_epochs = 0``: ``init`` computes
the parameters, :func:`jaxrec.training.fit` then runs no epoch (its step is traced, never run),
and ``tx`` is ``optax.identity()``. Everything is jittable and ``vmap``-able over indices
(no host-side NumPy), as the poisoning pipeline retrains victims on poisoned indices inside one
vmapped program.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import optax

from jaxrec.data._graph import graph_from_index
from jaxrec.data._index import PositiveIndex
from jaxrec.models._ease import EASEParams, ease_score_all, fit_ease
from jaxrec.models._itemknn import ItemKNNParams, fit_itemknn, itemknn_score_all
from jaxrec.training._loop import TrainState, init_state
from jaxrec.training._victim import Victim
from jaxrec.typing import Array, PRNGKey

__all__ = ["ease_victim", "itemknn_victim"]


def _no_objective(params, batch, index) -> Array:
  """Closed-form models have no training objective: 0.0, never minimised."""
  del params, batch, index
  return jnp.zeros((), jnp.float32)


def _ease_init(index: PositiveIndex, key: PRNGKey, *, reg, tx) -> TrainState:
  return init_state(fit_ease(graph_from_index(index), reg=reg), tx, key)


def _itemknn_init(index: PositiveIndex, key: PRNGKey, *, num_neighbors, shrink,
                  tx) -> TrainState:
  params = fit_itemknn(graph_from_index(index), num_neighbors=num_neighbors, shrink=shrink)
  return init_state(params, tx, key)


def _ease_scorer(params: EASEParams, index: PositiveIndex):
  return ease_score_all, (params, graph_from_index(index))


def _itemknn_scorer(params: ItemKNNParams, index: PositiveIndex):
  return itemknn_score_all, (params, graph_from_index(index))


def ease_victim(*, reg: float = 500.0) -> Victim:
  """EASE (:func:`jaxrec.models._ease.fit_ease`) as a :class:`Victim` named ``"ease"``.

  ``init(index, key)`` solves EASE on the index's unique positives (unit weights) and keeps
  ``key`` as the (unused) training key; ``scorer(params, index)`` returns
  ``(ease_score_all, (params, graph_from_index(index)))``, so scores are ``x_u B`` with the rows
  of the index passed to it.

  Args:
    reg: L2 weight ``lambda`` (> 0). Default 500 (Steck 2019's value); see
      :func:`jaxrec.models._ease.fit_ease` for what it measured on MovieLens-100K.

  Raises:
    ValueError: ``reg <= 0``.
  """
  if not reg > 0:
    raise ValueError(f"reg must be positive, got {reg}")
  tx = optax.identity()
  return Victim(name="ease", init=functools.partial(_ease_init, reg=reg, tx=tx),
                objective=_no_objective, tx=tx, batch_size=1, num_epochs=0,
                scorer=_ease_scorer)


def itemknn_victim(*, num_neighbors: int = 100, shrink: float = 0.0) -> Victim:
  """Cosine ItemKNN (:func:`jaxrec.models._itemknn.fit_itemknn`) as a :class:`Victim` named
  ``"itemknn"``; same protocol as :func:`ease_victim`.

  Args:
    num_neighbors: neighbours kept per item (static). shrink: cosine shrinkage (>= 0).

  Raises:
    ValueError: ``num_neighbors <= 0`` or ``shrink < 0``.

  Source:
    Sarwar et al., WWW 2001, Sec. 3.1.1; Deshpande, Karypis, ACM TOIS 2004, Sec. 4.
  """
  if isinstance(num_neighbors, bool) or int(num_neighbors) <= 0:
    raise ValueError(f"num_neighbors must be a positive integer, got {num_neighbors!r}")
  if not shrink >= 0:
    raise ValueError(f"shrink must be non-negative, got {shrink}")
  tx = optax.identity()
  return Victim(name="itemknn",
                init=functools.partial(_itemknn_init, num_neighbors=int(num_neighbors),
                                       shrink=shrink, tx=tx),
                objective=_no_objective, tx=tx, batch_size=1, num_epochs=0,
                scorer=_itemknn_scorer)
