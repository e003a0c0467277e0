"""Most-popular baseline: every user gets the items with the most training interactions."""

from __future__ import annotations

from typing import Any, ClassVar

import jax.numpy as jnp
from flax import struct

from jaxrec import _checks
from jaxrec.data._graph import as_graph, graph_degrees
from jaxrec.models import _base
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["Popularity", "PopularityParams", "popularity"]


@struct.dataclass
class PopularityParams:
  """Attributes: counts: ``(I,) float32`` number of training users per item (weighted degree
  for a :class:`jaxrec.data.Graph`)."""

  counts: Array


@struct.dataclass(kw_only=True)
class Popularity:
  """Most-popular as a :class:`jaxrec.models.Model`: ``init`` counts each item's training users
  (unique positives of a PositiveIndex, or weighted degrees of a Graph); every user gets the
  same scores. Ties are broken by the evaluation's random tie policy
  (:func:`jaxrec.metrics.evaluate`)."""

  name: ClassVar[str] = "most-pop"

  def init(self, key: PRNGKey, data: Any) -> PopularityParams:
    """Item degrees of the data (``key`` unused).

    Raises:
      ValueError: data that are not a PositiveIndex or a valid Graph.

    Source:
      jaxrec (the usual most-popular baseline, e.g. Cremonesi, Koren, Turrin, RecSys 2010).
    """
    del key
    return PopularityParams(counts=graph_degrees(as_graph(data))[1].astype(jnp.float32))

  def loss(self, params: PopularityParams, batch: Any, data: Any) -> Array:
    """Most-popular has no training loss: its counts are computed, not fitted.

    Raises:
      NotImplementedError: always.
    """
    raise NotImplementedError("most-pop has no training loss: init counts the interactions")

  def score(self, params: PopularityParams, data: Any, users: ArrayLike, items: ArrayLike
            ) -> Array:
    """``(B,)`` item counts of aligned pairs (NaN for ids out of range)."""
    _base.check_items(params.counts.shape[0], data)
    num_users = _base.data_sizes(data)[0] if data is not None else jnp.iinfo(jnp.int32).max
    u, i = _base.pair_ids(users, items, num_users, params.counts.shape[0])
    s = _base.take_rows(params.counts, i)
    return _base.pair_nan_outside(s, u, i, num_users, params.counts.shape[0])

  def score_all(self, params: PopularityParams, data: Any, users: ArrayLike) -> Array:
    """``(C, I)`` item counts for every user (NaN rows for user ids outside the data's)."""
    _base.check_items(params.counts.shape[0], data)
    num_users = _base.data_sizes(data)[0] if data is not None else jnp.iinfo(jnp.int32).max
    users = _checks.ids("users", users, num_users)
    out = jnp.broadcast_to(params.counts[None, :], (users.shape[0], params.counts.shape[0]))
    return _base.nan_outside(out, users, num_users)

  def scoring(self, params: PopularityParams, data: Any) -> tuple["Popularity", Any]:
    """The identity."""
    return _base.identity_scoring(self, params, data)


def popularity() -> Popularity:
  """The most-popular baseline (:class:`Popularity`).

  Raises:
    Nothing.

  Source:
    jaxrec.
  """
  return Popularity()

