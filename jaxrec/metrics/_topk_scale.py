"""Two-stage top-k for dot-product models: bounded memory, and a catalogue sharded by item rows.

A dot-product model scores ``s(u, i) = <x_u, y_i> + b_i`` from user vectors ``(U, D)``, item
vectors ``(I, D)`` and an optional item bias ``(I,)`` (:class:`jaxrec.models.MF`,
:class:`jaxrec.models.LightGCN`: their ``dot_vectors``). :func:`top_k_dot` ranks the whole
catalogue for every user without ever holding a ``U x I`` score matrix: users are taken
``chunk_size`` at a time (``lax.map``), items ``block_size`` at a time (``lax.scan``); each
block's best ``k`` are merged into a running top-``k`` of the chunk. Memory beyond the inputs and
the ``(U, k)`` output is ``O(chunk_size x block_size + chunk_size x k)``.

With a mesh (:func:`jaxrec.sharding.make_mesh`) whose ``items`` axis has ``n`` devices, the item
vectors are split by rows over those devices and the users over the ``cells`` axis; inside
``jax.shard_map`` each device ranks its slice of the catalogue as above (stage one), then the
``(chunk, k)`` candidates of the ``n`` slices, with their global item ids, are all-gathered
and merged (stage two). A plain ``lax.top_k`` over an item-sharded array would raise under the
mesh's explicit axis types; ``shard_map`` makes the per-device code and the one collective
explicit.

Ties and identical results. Items are ranked by ``(score, priority, -item id)``, descending:
``priority`` is :func:`jaxrec.metrics.tie_priority` of ``(tie seed, user, item)``, the random
tie order of :func:`jaxrec.metrics.recommend`, and the item id settles the (rare) equal
priorities, so the order is total and the top-``k`` list is a function of the scores alone,
whatever the blocks or shards. The scores themselves must not depend on the blocking either:
XLA picks a matrix-multiply kernel by shape, and two kernels may round a dot product
differently (measured on XLA:CPU: a ``(256, 64) x (64, 1000)`` product differs in the last bit
from the same entries of a ``(256, 64) x (64, 3706)`` one). So every score is computed by a
product of one fixed shape, ``(chunk_size, D) x (D, T)`` with ``T = min(256, I rounded up to 8)``
items (a tile), at tile-aligned global item offsets: block sizes are rounded to a multiple of
``T``, each device's slice is a whole number of tiles, and the lists are identical for every
``block_size`` and every number of ``items`` devices (tested with 1 and 4). ``chunk_size`` fixes
the product's other side: a different chunk size may round scores differently, and then
reorder items whose scores are within rounding. For the same reason the lists equal those of
:func:`jaxrec.metrics.recommend` (one ``(C, D) x (D, I)`` product per chunk) up to such
near-ties: equal on random data in the tests, not by construction.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxrec import _checks
from jaxrec.data._index import PositiveIndex, row_window
from jaxrec.metrics._topk import _top_k, padded_rows, raise_on_nan, tie_priority, tie_seed
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["TILE", "top_k_dot"]

TILE = 256
"""Items per score tile: every score comes from a ``(chunk, D) x (D, TILE)`` product (fewer for
a catalogue of under 256 items, see the module docstring)."""

_PAD_PRIORITY = -2.0  # padding items (ids >= I): below every real item, scored or masked
_EMPTY_PRIORITY = -3.0  # the running list's initial entries: below padding


def _round_up(x: int, m: int) -> int:
  return -(-x // m) * m


def top_k_dot(
    user_vectors: ArrayLike,
    item_vectors: ArrayLike,
    k: int,
    *,
    item_bias: ArrayLike | None = None,
    train: PositiveIndex | None = None,
    chunk_size: int = 256,
    block_size: int = 65536,
    tie_key: PRNGKey | None = None,
    mesh: Mesh | None = None,
) -> tuple[np.ndarray, np.ndarray]:
  """Top-``k`` items of every user by ``<x_u, y_i> + b_i``, in bounded memory, optionally sharded.

  Two stages (module docstring): per user chunk, a running top-``k`` over item blocks (on each
  ``items`` device's slice of the catalogue), then a merge of the slices' candidates. Ties are
  ordered by :func:`jaxrec.metrics.tie_priority`, then by item id; lists are identical for any
  ``block_size`` and any number of ``items`` devices.

  Args:
    user_vectors: ``(U, D) float`` user vectors ``x_u``.
    item_vectors: ``(I, D) float`` item vectors ``y_i`` (same ``D``).
    k: list length, ``1 <= k <= I``.
    item_bias: ``(I,) float`` item bias ``b_i``, or ``None`` (no bias).
    train: positives to exclude from the lists (training items), a
      :class:`jaxrec.data.PositiveIndex` over ``U`` users and ``I`` items; ``None`` excludes
      nothing.
    chunk_size: users ranked at once, ``>= 1``.
    block_size: items scored at once per device, ``>= 1``; rounded up to a multiple of the tile
      (:data:`TILE`) and capped at a device's slice of the catalogue. The default keeps a
      ``(chunk_size, block_size)`` float32 block at 64 MiB for 256 users; smaller blocks merge
      more often (on 2 CPU cores, 500,000 items: 8192 items ran at half the speed of 131,072).
    tie_key: key of the random tie order (default ``jax.random.key(0)``, as ``recommend``).
    mesh: a :func:`jaxrec.sharding.make_mesh` mesh: item vectors split by rows over its
      ``items`` axis, users over its ``cells`` axis; ``None`` runs on the default device.

  Returns:
    ``(items, valid)``: ``(U, k) int32`` item ids by decreasing score and ``(U, k) bool``, False
    for slots past a user's number of unexcluded items (their ids are excluded items).

  Raises:
    ValueError: vectors that are not 2-D floating matrices, are empty, hold NaN or disagree on
      ``D``; a bias of the wrong shape or with non-finite values; ``k`` outside ``[1, I]``;
      a non-positive ``chunk_size`` or ``block_size``; ``train`` over other sizes; a mesh
      without the axes ``("cells", "items")``; NaN scores (e.g. ``inf - inf``).

  Source:
    jaxrec (two-stage top-k over a row-sharded catalogue; tie order of
    :func:`jaxrec.metrics.recommend`).
  """
  user_vectors = _checks.matrix("user_vectors", user_vectors, nonempty=True)
  item_vectors = _checks.matrix("item_vectors", item_vectors, nonempty=True)
  num_users, dim = user_vectors.shape
  num_items = item_vectors.shape[0]
  _checks.size_matches("item_vectors' dimension", item_vectors.shape[1], dim, "columns")
  if item_bias is not None:
    if np.shape(item_bias) != (num_items,):
      raise ValueError(f"item_bias must have shape ({num_items},) (one per item), got "
                       f"{np.shape(item_bias)}")
    item_bias = _checks.real("item_bias", item_bias, low=None, array=True)
  k = _checks.integer("k", k, low=1)
  if k > num_items:
    raise ValueError(f"k={k} is larger than the catalogue (num_items={num_items})")
  chunk = _checks.integer("chunk_size", chunk_size, low=1)
  block_size = _checks.integer("block_size", block_size, low=1)
  if train is not None:
    if not isinstance(train, PositiveIndex):
      raise ValueError(f"train must be a PositiveIndex or None, got {type(train).__name__}")
    _checks.size_matches("train", train.num_users, num_users, "users")
    _checks.size_matches("train", train.num_items, num_items, "items")
  cells, shards = 1, 1
  if mesh is not None:
    if not isinstance(mesh, Mesh) or tuple(mesh.axis_names) != ("cells", "items"):
      raise ValueError("mesh must be a jax.sharding.Mesh with the axes ('cells', 'items') "
                       f"(jaxrec.sharding.make_mesh), got {mesh!r}")
    cells, shards = int(mesh.shape["cells"]), int(mesh.shape["items"])

  tile = min(TILE, _round_up(num_items, 8))
  per_shard = _round_up(-(-num_items // shards), tile)
  block = min(_round_up(block_size, tile), per_shard)
  users_pad = _round_up(num_users, cells * chunk)
  dtype = jnp.result_type(user_vectors.dtype, item_vectors.dtype)
  uvec = jnp.pad(user_vectors.astype(dtype), ((0, users_pad - num_users), (0, 0)))
  ivec = jnp.pad(item_vectors.astype(dtype), ((0, per_shard * shards - num_items), (0, 0)))
  bias = (jnp.zeros((num_items,), dtype) if item_bias is None
          else jnp.asarray(item_bias).astype(dtype))
  bias = jnp.pad(bias, (0, per_shard * shards - num_items))
  if train is None:
    window, rows, indptr = 0, None, None
  else:
    window = row_window(train, chunk)
    rows, indptr = padded_rows(train, window), train.indptr
  static = dict(num_users=num_users, num_items=num_items, chunk=chunk, block=block, tile=tile,
                k=k, window=window)
  seed = tie_seed(tie_key)
  if mesh is None:
    items, valid, num_nan = _single(uvec, ivec, bias, rows, indptr, seed, **static)
  else:
    put = lambda x, spec: jax.device_put(x, NamedSharding(mesh, spec))  # noqa: E731
    uvec, ivec, bias = put(uvec, P("cells", None)), put(ivec, P("items", None)), put(bias,
                                                                                    P("items"))
    rows, indptr, seed = jax.tree.map(lambda x: put(x, P()), (rows, indptr, seed))
    items, valid, num_nan = _sharded(mesh, uvec, ivec, bias, rows, indptr, seed, **static)
  raise_on_nan(jnp.sum(num_nan))
  return np.asarray(items)[:num_users], np.asarray(valid)[:num_users]


# ---------------------------------------------------------------------------------------------
# per-device program


def _scores(u: Array, vecs: Array, bias: Array, tile: int) -> Array:
  """``(C, B)`` scores ``u @ vecs.T + bias`` as ``B / tile`` products of one shape."""
  c, b = u.shape[0], vecs.shape[0]
  tiles = (vecs.reshape(b // tile, tile, -1), bias.reshape(b // tile, tile))
  out = jax.lax.map(lambda t: u @ t[0].T + t[1][None, :], tiles)  # (B / tile, C, tile)
  return jnp.moveaxis(out, 0, 1).reshape(c, b)


def _block_mask(window_rows, start_user: Array, start_item: Array, chunk: int, block: int,
                num_users: int) -> Array:
  """``(chunk, block) bool`` training positives of the chunk in the block (global offsets)."""
  u, i = window_rows
  r = u - start_user
  col = i - start_item
  ok = (u < num_users) & (r >= 0) & (r < chunk) & (col >= 0) & (col < block)
  mask = jnp.zeros((chunk, block), bool)
  return mask.at[jnp.where(ok, r, chunk), jnp.where(ok, col, 0)].set(True, mode="drop")


def _best(s: Array, p: Array, i: Array, k: int):
  """The first ``k`` of ``(C, M)`` candidates ``(score, priority, id)`` sorted by ``(score,
  priority, -id)``, descending (a total order: ids are distinct)."""
  ns, npr, i = jax.lax.sort((-s, -p, i), dimension=1, num_keys=3)
  return -ns[:, :k], -npr[:, :k], i[:, :k]


def _merge(a, b, k: int):
  """The best ``k`` of two candidate lists ``(s, p, i)``."""
  return _best(*(jnp.concatenate([x, y], axis=1) for x, y in zip(a, b)), k)


def _block_candidates(scores: Array, real: Array, ids: Array, users: Array, seed: Array,
                      k: int):
  """The exact best ``min(k, B)`` of a ``(C, B)`` block under ``(score, priority, -id)``.

  ``lax.top_k`` on the scores (ties by lowest index, i.e. lowest id); only when more items
  equal the ``k``-th score than slots remain, those slots go to the tied items with the
  largest priorities (padding, ``real`` False, last), as :func:`top_k_random_ties`.
  """
  num = scores.shape[1]

  def prio_of(idx):
    return jnp.where(real[idx], tie_priority(seed, users, ids[idx]), _PAD_PRIORITY)

  if num <= k:
    idx = jnp.broadcast_to(jnp.arange(num, dtype=jnp.int32)[None, :], scores.shape)
    return scores, prio_of(idx), ids[idx]
  vals, idx = _top_k(scores, k + 1)
  kth = vals[:, k - 1:k]
  n_above = jnp.sum(vals[:, :k] > kth, axis=1, keepdims=True, dtype=jnp.int32)
  idx = idx[:, :k]
  slot = jnp.arange(k, dtype=jnp.int32)[None, :]

  def fill(idx):
    prio = jnp.where(real[None, :], tie_priority(seed, users, ids[None, :]), _PAD_PRIORITY)
    _, tied = _top_k(jnp.where(scores == kth, prio, _EMPTY_PRIORITY), k)
    chosen = jnp.take_along_axis(tied, jnp.clip(slot - n_above, 0, k - 1), axis=1)
    return jnp.where(slot < n_above, idx, chosen)

  idx = jax.lax.cond(jnp.any(vals[:, k] == vals[:, k - 1]), fill, lambda i: i, idx)
  return jnp.take_along_axis(scores, idx, axis=1), prio_of(idx), ids[idx]


def _local_topk(uvec, ivec, bias, rows, indptr, seed, user_offset, item_offset, *, num_users,
                num_items, chunk, block, tile, k, window, gather):
  """One device's lists: ``(U_loc, k)`` items and validity, ``(U_loc / chunk,)`` NaN counts.

  ``user_offset`` / ``item_offset``: global ids of the first local user / item. With ``gather``
  the chunk's candidates are merged across the ``items`` axis (stage two).
  """
  per_shard = ivec.shape[0]
  k_loc = min(k, per_shard)
  nfull, rem = divmod(per_shard, block)
  full = (ivec[:nfull * block].reshape(nfull, block, -1), bias[:nfull * block].reshape(nfull,
                                                                                      block))
  starts = jnp.arange(nfull, dtype=jnp.int32) * block

  def one_chunk(c):
    start_local = c * chunk
    start = user_offset + start_local
    u = jax.lax.dynamic_slice_in_dim(uvec, start_local, chunk)
    gids = start + jnp.arange(chunk, dtype=jnp.int32)
    users = jnp.minimum(gids, num_users - 1)
    user_ok = gids < num_users
    if window:
      lo = indptr[jnp.minimum(start, num_users)]
      wrows = tuple(jax.lax.dynamic_slice_in_dim(r, lo, window) for r in rows)

    def visit(run, vecs, b, local_start):
      s = _scores(u, vecs, b, tile)
      ids = item_offset + local_start + jnp.arange(vecs.shape[0], dtype=jnp.int32)
      real = ids < num_items
      nan = jnp.isnan(s)
      n_nan = jnp.sum(nan & user_ok[:, None] & real[None, :], dtype=jnp.int32)
      drop = nan | ~real[None, :]
      if window:
        drop = drop | _block_mask(wrows, start, item_offset + local_start, chunk, vecs.shape[0],
                                  num_users)
      s = jnp.where(drop, -jnp.inf, jnp.where(s == 0, jnp.zeros_like(s), s))  # no -0.0
      cand = _block_candidates(s.astype(jnp.float32), real, ids, users, seed, k_loc)
      run_s, run_p, run_i, run_nan = run
      return (*_merge((run_s, run_p, run_i), cand, k_loc), run_nan + n_nan)

    run = (jnp.full((chunk, k_loc), -jnp.inf, jnp.float32),
           jnp.full((chunk, k_loc), _EMPTY_PRIORITY, jnp.float32),
           jnp.full((chunk, k_loc), jnp.iinfo(jnp.int32).max, jnp.int32),
           jnp.zeros((), jnp.int32))
    if nfull:
      run, _ = jax.lax.scan(lambda r, x: (visit(r, x[0], x[1], x[2]), None), run,
                            (*full, starts))
    if rem:
      run = visit(run, ivec[nfull * block:], bias[nfull * block:], nfull * block)
    run_s, run_p, run_i, n_nan = run
    if gather:
      s, p, i = (jax.lax.all_gather(x, "items", axis=1, tiled=True)
                 for x in (run_s, run_p, run_i))
      run_s, run_p, run_i = _best(s, p, i, k)
      n_nan = jax.lax.psum(n_nan, "items")
    return run_i, run_s > -jnp.inf, n_nan

  items, valid, n_nan = jax.lax.map(one_chunk, jnp.arange(uvec.shape[0] // chunk))
  return items.reshape(-1, k), valid.reshape(-1, k), n_nan


@functools.partial(jax.jit, static_argnames=("num_users", "num_items", "chunk", "block", "tile",
                                             "k", "window"))
def _single(uvec, ivec, bias, rows, indptr, seed, **static):
  zero = jnp.zeros((), jnp.int32)
  return _local_topk(uvec, ivec, bias, rows, indptr, seed, zero, zero, gather=False, **static)


@functools.partial(jax.jit, static_argnums=0,
                   static_argnames=("num_users", "num_items", "chunk", "block", "tile", "k",
                                    "window"))
def _sharded(mesh, uvec, ivec, bias, rows, indptr, seed, **static):
  users_loc = uvec.shape[0] // mesh.shape["cells"]
  items_loc = ivec.shape[0] // mesh.shape["items"]

  def local(uvec, ivec, bias, rows, indptr, seed):
    user_offset = jax.lax.axis_index("cells").astype(jnp.int32) * users_loc
    item_offset = jax.lax.axis_index("items").astype(jnp.int32) * items_loc
    return _local_topk(uvec, ivec, bias, rows, indptr, seed, user_offset, item_offset,
                       gather=True, **static)

  # check_vma=False: the running lists start from constants (the varying-axes check would need
  # pcast calls); after the all_gather every ``items`` device holds the same merged lists, so
  # the outputs are split along ``cells`` only.
  return jax.shard_map(local, mesh=mesh,
                       in_specs=(P("cells", None), P("items", None), P("items"), P(), P(), P()),
                       out_specs=(P("cells", None), P("cells", None), P("cells")),
                       check_vma=False)(uvec, ivec, bias, rows, indptr, seed)
