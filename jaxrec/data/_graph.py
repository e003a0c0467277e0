"""The interaction data as a weighted bipartite graph, for models that read the data itself.

Graph-based and neighbourhood models (LightGCN, EASE, ItemKNN) compute their scores from the
interactions, so an attack that changes the data changes the model. A :class:`Graph` stores the
interactions as weighted edges: weight 1 for an interaction, 0 for padding, and any value in
between for a *relaxed* interaction, so ``jax.grad`` with respect to ``weights`` tells how each
(possibly fake) interaction moves the model (gradient-based poisoning differentiates through
it). Everything here is jittable; no dense users x items matrix is built except
:func:`user_rows` for a chunk of users.

Padding (the one rule of ``docs/data.md``): a padding edge has weight 0 and the sentinel ids
``(num_users, num_items)``; every scatter drops it, so it contributes nothing. Build graphs with
:func:`make_graph` (validated) or :func:`graph_from_index`; models check a graph they receive
with :func:`check_graph`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrec import _checks
from jaxrec.data._index import PositiveIndex
from jaxrec.typing import Array, ArrayLike

__all__ = ["Graph", "as_graph", "check_graph", "graph_degrees", "graph_from_index",
           "make_graph", "user_rows"]


@struct.dataclass(kw_only=True)
class Graph:
  """Weighted user-item edges.

  Attributes:
    users: ``(E,) int32`` user of each edge, in ``[0, num_users]`` (``num_users`` = padding).
    items: ``(E,) int32`` item of each edge, in ``[0, num_items]`` (``num_items`` = padding).
    weights: ``(E,)`` floating edge weights, finite and ``>= 0`` (1 = interaction, 0 =
      absent/padding, fractions for relaxed interactions).
    num_users, num_items: static id-space sizes.
  """

  users: Array
  items: Array
  weights: Array
  num_users: int = struct.field(pytree_node=False)
  num_items: int = struct.field(pytree_node=False)


_PADDING_MESSAGE = ("graph edges with the padding id (num_users / num_items) must have weight 0 "
                    "(padding rule, docs/data.md)")


def check_graph(graph: Graph) -> Graph:
  """Validates a graph where it enters a model: ids in range (the sentinel only on zero-weight
  padding edges), aligned ``(E,)`` arrays, floating weights that are finite and ``>= 0``.

  Shapes and dtypes are checked always; values when concrete (``ValueError``) and under
  :func:`jaxrec.checked` when traced.

  Returns:
    ``graph``, unchanged.

  Raises:
    ValueError: as above.

  Source:
    jaxrec (the padding rule of ``docs/data.md``).
  """
  if not isinstance(graph, Graph):
    raise ValueError(f"expected a jaxrec.data.Graph, got {type(graph).__name__}")
  shapes = {jnp.shape(graph.users), jnp.shape(graph.items), jnp.shape(graph.weights)}
  if len(shapes) != 1 or len(next(iter(shapes))) != 1:
    raise ValueError(f"graph users, items and weights must be aligned (E,) arrays, got shapes "
                     f"{[jnp.shape(x) for x in (graph.users, graph.items, graph.weights)]}")
  if not jnp.issubdtype(jnp.result_type(graph.weights), jnp.floating):
    raise ValueError(f"graph weights must be floating, got {jnp.result_type(graph.weights)}")
  _checks.ids("graph users", graph.users, graph.num_users, padding=True)
  _checks.ids("graph items", graph.items, graph.num_items, padding=True)
  _checks.real("graph weights", graph.weights, array=True)
  if _checks.is_concrete(graph):
    u, i, w = (np.asarray(a) for a in (graph.users, graph.items, graph.weights))
    if np.any(((u == graph.num_users) | (i == graph.num_items)) & (w != 0)):
      raise ValueError(_PADDING_MESSAGE)
  else:
    pad = (graph.users == graph.num_users) | (graph.items == graph.num_items)
    _checks.check_traced(jnp.all(~pad | (graph.weights == 0)), _PADDING_MESSAGE)
  return graph


def make_graph(users: ArrayLike, items: ArrayLike, weights: ArrayLike | None = None, *,
               num_users: int, num_items: int) -> Graph:
  """A validated :class:`Graph` from edge arrays (host-side or traced).

  Args:
    users: ``(E,)`` integer user ids in ``[0, num_users]`` (the sentinel ``num_users`` marks a
      padding edge, which must have weight 0). items: ``(E,)`` item ids, likewise.
    weights: ``(E,)`` finite weights ``>= 0``; default 1 (float32).
    num_users, num_items: the id spaces (positive integers).

  Returns:
    A :class:`Graph` with ``int32`` ids and ``float32`` (or the given floating) weights.

  Raises:
    ValueError: misaligned arrays, non-integer (or boolean) ids, ids out of range (64-bit ids
      are checked before any conversion), boolean, complex, negative, NaN or infinite weights,
      a padding edge with a non-zero weight, empty id spaces.

  Source:
    jaxrec.
  """
  num_users = _checks.integer("num_users", num_users, low=1)
  num_items = _checks.integer("num_items", num_items, low=1)
  # host ids are checked with NumPy before any conversion: jnp.asarray would wrap 64-bit ids
  u = _checks.ids("graph users", users, num_users, padding=True)
  i = _checks.ids("graph items", items, num_items, padding=True)
  if weights is None:
    w = np.ones(np.shape(u), np.float32)
  else:
    w = weights if isinstance(weights, jax.core.Tracer) else np.asarray(weights)
    if w.dtype.kind not in "iuf":  # booleans, complex numbers, strings
      raise ValueError(f"graph weights must be real numbers, got dtype {w.dtype}")
    if not isinstance(w, jax.core.Tracer):
      # on the host, before jnp sees them: int64 weights would wrap in int32 (2**40 -> 0), and
      # a float64 weight that overflows float32 becomes inf (rejected below)
      target = np.float32 if w.dtype.kind in "iu" else jax.dtypes.canonicalize_dtype(w.dtype)
      with np.errstate(over="ignore"):
        w = w.astype(target)
  if not isinstance(w, jax.core.Tracer) and _checks.is_concrete((users, items)):
    # every value is on the host: check it with NumPy, also inside a jit trace (where the
    # converted arrays are tracers and check_graph could only record checkify checks)
    un, itn = np.asarray(users), np.asarray(items)
    if un.shape == itn.shape == w.shape:
      _checks.real("graph weights", w, array=True)
      if np.any(((un == num_users) | (itn == num_items)) & (w != 0)):
        raise ValueError(_PADDING_MESSAGE)
  w = jnp.asarray(w)
  if not jnp.issubdtype(w.dtype, jnp.floating):
    w = w.astype(jnp.float32)
  return check_graph(Graph(users=u, items=i, weights=w, num_users=num_users,
                           num_items=num_items))


def graph_from_index(index: PositiveIndex) -> Graph:
  """The graph of a :class:`PositiveIndex`: one unit-weight edge per unique positive (so
  repeated interactions never add weight), padding rows as padding edges (jittable).

  Raises:
    Nothing (an index is valid by construction).

  Source:
    jaxrec.
  """
  valid = jnp.arange(index.capacity) < index.num_valid
  return Graph(users=jnp.where(valid, index.users, index.num_users),
               items=jnp.where(valid, index.items, index.num_items),
               weights=valid.astype(jnp.float32), num_users=index.num_users,
               num_items=index.num_items)


def as_graph(data: Any) -> Graph:
  """The graph view of a model's data: a :class:`Graph` (checked with :func:`check_graph`) or
  a :class:`PositiveIndex` (:func:`graph_from_index`).

  Raises:
    ValueError: data of another kind, or an invalid graph.

  Source:
    jaxrec.
  """
  if isinstance(data, PositiveIndex):
    return graph_from_index(data)
  if isinstance(data, Graph):
    return check_graph(data)
  raise ValueError(f"this model reads the interactions: pass a PositiveIndex or a Graph as "
                   f"data, got {type(data).__name__}")


def graph_degrees(graph: Graph) -> tuple[Array, Array]:
  """Weighted degrees: ``(U,)`` per user and ``(I,)`` per item, in the weights' dtype (padding
  edges are dropped).

  Raises:
    Nothing (jittable; check the graph first).

  Source:
    jaxrec.
  """
  return (jax.ops.segment_sum(graph.weights, graph.users, num_segments=graph.num_users),
          jax.ops.segment_sum(graph.weights, graph.items, num_segments=graph.num_items))


def user_rows(graph: Graph, users: ArrayLike) -> Array:
  """Dense weighted interaction rows of some users: ``(C, num_items)`` in the weights' float
  dtype (at least float32).

  Row ``c`` holds the weights of user ``users[c]``'s edges (0 elsewhere), also when a user is
  listed several times (every position gets the row). Costs ``O(E + U + C I)``; differentiable
  with respect to ``graph.weights``.

  Args:
    graph: the interactions.
    users: ``(C,)`` integer user ids in ``[0, num_users)`` (ids outside give zero rows; not
      range-checked here: the callers' score functions check them).

  Raises:
    Nothing (jittable).

  Source:
    jaxrec.
  """
  users = jnp.asarray(users, jnp.int32)
  c, nu = users.shape[0], graph.num_users
  dtype = jnp.promote_types(graph.weights.dtype, jnp.float32)
  valid = (users >= 0) & (users < nu)
  # Each listed user's first position (scatter-min is order-independent, unlike scatter-set);
  # slot nu (padding edges) and ids outside the range keep c, which every scatter drops.
  slot = jnp.full((nu + 1,), c, jnp.int32).at[jnp.where(valid, users, nu + 1)].min(
      jnp.arange(c, dtype=jnp.int32), mode="drop")
  rows = jnp.zeros((c, graph.num_items), dtype).at[
      slot[graph.users], graph.items].add(graph.weights.astype(dtype), mode="drop")
  position = jnp.where(valid, slot[jnp.clip(users, 0, nu)], c)
  return jnp.take(rows, position, axis=0, mode="fill", fill_value=0.0)
