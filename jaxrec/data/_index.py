"""A jittable per-user index of positive items (CSR), the basis of sampling and masking.

Rows are sorted by user then item; duplicates and rows flagged invalid are moved past
``num_valid`` and get the sentinel user ``num_users``, so the index keeps a fixed capacity ``N``
(the input length) whatever the number of valid rows. That keeps shapes static when fake profiles
of varying budget are injected (a fixed capacity plus a mask), so several budgets can share one
compiled program under ``vmap``.

Besides the CSR arrays the index stores ``gaps``: for the k-th positive ``p_k`` of a user (0-based,
ascending) ``gaps = p_k - k``, the number of the user's non-positive items below ``p_k``. It is
non-decreasing within a row, which makes exact uniform sampling of non-positive items a binary
search (see :func:`jaxrec.data.sample_negatives`).

For catalogues up to :data:`BITMAP_MAX_BITS` user x item cells (MovieLens-1M: 22.4M cells, a
2.8 MB bitmap) the index also keeps a bitmap of the positives, so that "is item ``j`` a positive
of user ``u``" costs one gather (:meth:`PositiveIndex.contains`), which is what makes rejection
sampling of negatives cheap (:func:`jaxrec.data.sample_bpr_triples`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrec.data._interactions import Interactions
from jaxrec.typing import Array, ArrayLike

__all__ = ["BITMAP_MAX_BITS", "PositiveIndex", "build_index", "dense_matrix", "index_from_dense",
           "index_interactions", "row_window"]

BITMAP_MAX_BITS = 1 << 28
"""Largest ``num_users * num_items`` for which :func:`build_index` keeps a bitmap (32 MiB)."""


@struct.dataclass(kw_only=True)
class PositiveIndex:
  """Unique positive (user, item) pairs in CSR form, with fixed capacity ``N``.

  Attributes:
    users: ``(N,) int32`` user of each row, ascending; rows at or after ``num_valid`` are padding
      and hold ``num_users``.
    items: ``(N,) int32`` item of each row, ascending within a user; padding holds ``num_items``.
    indptr: ``(num_users + 1,) int32``; the positives of user ``u`` are rows
      ``indptr[u]:indptr[u + 1]``.
    gaps: ``(N + 1,) int32``; ``items[k] - (k - indptr[users[k]])`` for valid rows, ``num_items``
      for padding and for the trailing sentinel.
    num_valid: ``() int32`` number of valid unique rows.
    bitmap: ``(num_users * ceil(num_items / 32),) uint32`` positives as bits (bit ``i % 32`` of
      word ``u * ceil(num_items / 32) + i // 32``), or ``None`` when ``num_users * num_items >``
      :data:`BITMAP_MAX_BITS`.
    num_users: static size of the user id space.
    num_items: static size of the item id space.
  """

  users: Array
  items: Array
  indptr: Array
  gaps: Array
  num_valid: Array
  bitmap: Array | None = None
  num_users: int = struct.field(pytree_node=False)
  num_items: int = struct.field(pytree_node=False)

  @property
  def capacity(self) -> int:
    """Static number of rows ``N`` (valid plus padding)."""
    return int(self.users.shape[0])

  def degrees(self) -> Array:
    """``(num_users,) int32`` number of unique positives per user."""
    return self.indptr[1:] - self.indptr[:-1]

  def contains(self, users: Array, items: Array) -> Array:
    """Whether each ``(users[b], items[b])`` is a positive: ``(B,) bool`` (jittable).

    One bitmap gather per pair when the index has a bitmap; otherwise a fixed-length binary
    search of the item in the user's sorted row (``ceil(log2(num_items + 1))`` gathers).

    Args:
      users: ``(B,) int32`` ids in ``[0, num_users)``; items: ``(B,) int32`` ids in
        ``[0, num_items)`` (not range-checked: this runs under jit).

    Returns:
      ``(B,) bool``.

    Raises:
      Nothing.

    Source:
      jaxrec.
    """
    users = jnp.asarray(users, jnp.int32)
    items = jnp.asarray(items, jnp.int32)
    if self.bitmap is not None:
      words = -(-self.num_items // 32)
      word = self.bitmap[users * words + items // 32]
      return ((word >> (items % 32).astype(jnp.uint32)) & 1) == 1
    lo = self.indptr[users]
    base, length = lo, self.indptr[users + 1] - lo
    for _ in range(max(1, int(self.num_items).bit_length())):  # last row in [lo, lo+n) <= item
      half = length // 2
      base = jnp.where(self.items[base + half] <= items, base + half, base)
      length = length - half
    n = self.indptr[users + 1] - lo
    return (n > 0) & (self.items[base] == items)

  def item_degrees(self) -> Array:
    """``(num_items,) int32`` number of users with each item among their positives."""
    valid = jnp.arange(self.capacity) < self.num_valid
    return jax.ops.segment_sum(
        valid.astype(jnp.int32), jnp.where(valid, self.items, 0), num_segments=self.num_items)


def build_index(
    users: ArrayLike,
    items: ArrayLike,
    *,
    num_users: int,
    num_items: int,
    valid: ArrayLike | None = None,
) -> PositiveIndex:
  """Builds a :class:`PositiveIndex` from interaction rows (jittable, ``vmap``-able).

  Duplicate (user, item) rows count once; rows with ``valid == False`` are ignored. Ids are not
  range-checked here (this runs under ``jit``): use :func:`index_interactions` at the API
  boundary, or validate with :func:`jaxrec.data.from_arrays`.

  Args:
    users: ``(N,)`` integer user ids in ``[0, num_users)``.
    items: ``(N,)`` integer item ids in ``[0, num_items)``.
    num_users: static size of the user id space.
    num_items: static size of the item id space.
    valid: optional ``(N,) bool`` mask of rows to keep (fixed-capacity fake profiles).

  Returns:
    A :class:`PositiveIndex` of capacity ``N``.
  """
  users = jnp.asarray(users, jnp.int32)
  items = jnp.asarray(items, jnp.int32)
  n = users.shape[0]
  if valid is None:
    valid = jnp.ones((n,), bool)
  valid = jnp.asarray(valid, bool)
  u = jnp.where(valid, users, num_users)
  i = jnp.where(valid, items, num_items)
  u, i = jax.lax.sort((u, i), num_keys=2)  # by user, then item
  dup = jnp.concatenate([jnp.zeros((1,), bool), (u[1:] == u[:-1]) & (i[1:] == i[:-1])])
  keep = (u < num_users) & ~dup
  u = jnp.where(keep, u, num_users)
  i = jnp.where(keep, i, num_items)
  u, i = jax.lax.sort((u, i), num_keys=2)  # move dropped rows to the end
  num_valid = jnp.sum(keep, dtype=jnp.int32)
  counts = jax.ops.segment_sum(jnp.ones_like(u), u, num_segments=num_users + 1)[:num_users]
  indptr = jnp.concatenate([jnp.zeros((1,), jnp.int32), jnp.cumsum(counts, dtype=jnp.int32)])
  rank = jnp.arange(n, dtype=jnp.int32) - indptr[jnp.minimum(u, num_users - 1)]
  gaps = jnp.where(jnp.arange(n) < num_valid, i - rank, num_items)
  gaps = jnp.concatenate([gaps, jnp.full((1,), num_items, jnp.int32)])
  return PositiveIndex(
      users=u, items=i, indptr=indptr, gaps=gaps.astype(jnp.int32), num_valid=num_valid,
      bitmap=_bitmap(u, i, u < num_users, num_users, num_items), num_users=num_users,
      num_items=num_items)


def _bitmap(u: Array, i: Array, keep: Array, num_users: int, num_items: int) -> Array | None:
  """The positives' bitmap (see :class:`PositiveIndex`), ``None`` above BITMAP_MAX_BITS. The
  rows are unique, so adding their bits is OR-ing them."""
  if num_users * num_items > BITMAP_MAX_BITS:
    return None
  words = -(-num_items // 32)
  bit = jnp.left_shift(jnp.uint32(1), (i % 32).astype(jnp.uint32))
  slot = jnp.where(keep, u * words + i // 32, num_users * words)  # dropped rows: out of range
  return jnp.zeros((num_users * words,), jnp.uint32).at[slot].add(
      jnp.where(keep, bit, jnp.uint32(0)), mode="drop")


def index_interactions(interactions: Interactions) -> PositiveIndex:
  """:func:`build_index` over validated interactions (the API-boundary entry point).

  Raises:
    ValueError: ids out of range (JAX would clamp them silently), or an empty id space.
  """
  nu, ni = interactions.num_users, interactions.num_items
  if nu <= 0 or ni <= 0:
    raise ValueError(f"empty id space: num_users={nu}, num_items={ni}")
  u = np.asarray(interactions.users)
  i = np.asarray(interactions.items)
  if u.size:
    if u.min() < 0 or u.max() >= nu:
      raise ValueError(f"user ids must lie in [0, {nu}), got range [{u.min()}, {u.max()}]")
    if i.min() < 0 or i.max() >= ni:
      raise ValueError(f"item ids must lie in [0, {ni}), got range [{i.min()}, {i.max()}]")
  return jax.jit(build_index, static_argnames=("num_users", "num_items"))(
      u, i, num_users=nu, num_items=ni)


def row_window(index: PositiveIndex, num_rows: int) -> int:
  """Static window length covering the positives of each chunk of ``num_rows`` users.

  Host-side helper for chunked evaluation: the maximum over the chunks
  ``[c * num_rows, (c + 1) * num_rows)`` of their number of positives (at least 1). Needs a
  concrete (not traced) index.
  """
  indptr = np.asarray(index.indptr)
  starts = np.arange(0, index.num_users, num_rows)
  ends = np.minimum(starts + num_rows, index.num_users)
  if starts.size == 0:
    return 1
  return max(1, int((indptr[ends] - indptr[starts]).max()))


def dense_matrix(index: PositiveIndex) -> np.ndarray:
  """The ``(U, I) float32`` binary interaction matrix of an index (host-side, NumPy).

  Meant for MovieLens-100K-size data (943 x 1682 is 6 MB): the dense matrices that bilevel
  poisoning optimises; a large catalogue does not fit in memory.

  Raises:
    Nothing beyond NumPy's MemoryError for a huge catalogue.

  Source:
    jaxrec.
  """
  n = int(index.num_valid)
  out = np.zeros((index.num_users, index.num_items), np.float32)
  out[np.asarray(index.users)[:n], np.asarray(index.items)[:n]] = 1.0
  return out


def index_from_dense(matrix: ArrayLike) -> PositiveIndex:
  """The :class:`PositiveIndex` of the non-zero entries of a dense ``(U, I)`` matrix (host-side):
  every entry ``> 0`` is a positive, the inverse of :func:`dense_matrix` for binary matrices.

  Raises:
    ValueError: not a 2-D matrix, NaN entries, an empty id space.

  Source:
    jaxrec.
  """
  m = np.asarray(matrix)
  if m.ndim != 2 or 0 in m.shape:
    raise ValueError(f"matrix must be a non-empty 2-D (users, items) array, got shape {m.shape}")
  if np.issubdtype(m.dtype, np.floating) and np.isnan(m).any():
    raise ValueError("matrix holds NaN entries")
  users, items = np.nonzero(m > 0)
  return jax.jit(build_index, static_argnames=("num_users", "num_items"))(
      users.astype(np.int32), items.astype(np.int32), num_users=m.shape[0], num_items=m.shape[1])
