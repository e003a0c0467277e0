"""Most-popular baseline: every user gets the items with the most training interactions."""

from __future__ import annotations

import jax.numpy as jnp
from flax import struct

from jaxrec.data._index import PositiveIndex
from jaxrec.models._base import Recommender
from jaxrec.typing import Array, ArrayLike

__all__ = ["PopularityParams", "fit_popularity", "popularity"]


@struct.dataclass
class PopularityParams:
  """Attributes: counts: ``(I,) float32`` number of training users per item."""

  counts: Array


def fit_popularity(index: PositiveIndex) -> PopularityParams:
  """Counts each item's training users (unique positives)."""
  return PopularityParams(counts=index.item_degrees().astype(jnp.float32))


def _init(key, num_users, num_items, **_):
  del key, num_users
  return PopularityParams(counts=jnp.zeros((num_items,), jnp.float32))


def _score(params: PopularityParams, users: ArrayLike, items: ArrayLike) -> Array:
  del users
  return params.counts[items]


def _score_all(params: PopularityParams, users: ArrayLike) -> Array:
  users = jnp.asarray(users)
  return jnp.broadcast_to(params.counts[None, :], (users.shape[0], params.counts.shape[0]))


popularity = Recommender(init=_init, score=_score, score_all=_score_all, name="most-pop")
"""Most-popular recommender; fit it with :func:`fit_popularity` (ties are broken by the
evaluation's random tie policy, see :func:`jaxrec.metrics.evaluate`)."""
