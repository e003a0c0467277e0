"""The interaction data as a weighted bipartite graph, for models that read the data itself.

Graph-based and neighbourhood models (LightGCN, EASE, ItemKNN) compute their scores from the
interactions, so an attack that changes the data changes the model. A :class:`Graph` stores the
interactions as weighted edges: weight 1 for an interaction, 0 for padding, and any value in
between for a *relaxed* interaction, so ``jax.grad`` with respect to ``weights`` tells how each
(possibly fake) interaction moves the model (gradient-based poisoning differentiates through
it). Everything here is jittable; no dense users x items matrix is built except
:func:`user_rows` for a chunk of users.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxrec.data._index import PositiveIndex
from jaxrec.typing import Array, ArrayLike

__all__ = ["Graph", "graph_degrees", "graph_from_index", "user_rows"]


@struct.dataclass(kw_only=True)
class Graph:
  """Weighted user-item edges.

  Attributes:
    users: ``(E,) int32`` user of each edge (any value where ``weights`` is 0).
    items: ``(E,) int32`` item of each edge.
    weights: ``(E,) float32`` edge weights (1 = interaction, 0 = absent/padding).
    num_users, num_items: static id-space sizes.
  """

  users: Array
  items: Array
  weights: Array
  num_users: int = struct.field(pytree_node=False)
  num_items: int = struct.field(pytree_node=False)


def graph_from_index(index: PositiveIndex) -> Graph:
  """The graph of a :class:`PositiveIndex`: one unit-weight edge per unique positive (so
  repeated interactions never add weight), padding rows weight 0 (jittable)."""
  valid = jnp.arange(index.capacity) < index.num_valid
  return Graph(users=jnp.where(valid, index.users, 0), items=jnp.where(valid, index.items, 0),
               weights=valid.astype(jnp.float32), num_users=index.num_users,
               num_items=index.num_items)


def graph_degrees(graph: Graph) -> tuple[Array, Array]:
  """Weighted degrees: ``(U,) float32`` per user and ``(I,) float32`` per item."""
  return (jax.ops.segment_sum(graph.weights, graph.users, num_segments=graph.num_users),
          jax.ops.segment_sum(graph.weights, graph.items, num_segments=graph.num_items))


def user_rows(graph: Graph, users: ArrayLike) -> Array:
  """Dense weighted interaction rows of some users: ``(C, num_items) float32``.

  Row ``c`` holds the weights of user ``users[c]``'s edges (0 elsewhere). Costs ``O(E + U)``
  per call; differentiable with respect to ``graph.weights``. A user listed twice gets its row
  once (in the last position) and zeros in the others.

  Args:
    graph: the interactions.
    users: ``(C,) int32`` user ids in ``[0, num_users)`` (not range-checked here).
  """
  users = jnp.asarray(users, jnp.int32)
  c = users.shape[0]
  position = jnp.full((graph.num_users,), c, jnp.int32).at[users].set(
      jnp.arange(c, dtype=jnp.int32))
  rows = position[graph.users]
  out = jnp.zeros((c, graph.num_items), jnp.float32)
  return out.at[rows, graph.items].add(graph.weights, mode="drop")
