"""Chunked top-k lists over the whole catalogue with training items masked and random ties.

Only ``chunk_size x num_items`` scores exist at any time, never a dense all-users x all-items
matrix. Items with equal scores are ordered at random, independently for every user, from a tie
seed: every (user, item) pair gets a priority (:func:`tie_priority`, a hash of the ids and the
seed) and lists are ranked by (score, priority), so every order of tied items is equally likely,
results do not depend on the chunking, and a model that scores every item equally ranks like a
random ranking, never better. (``lax.top_k`` alone would favour items with small ids.)
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec import _checks
from jaxrec.data._index import PositiveIndex, row_window
from jaxrec.typing import Array, Params, PRNGKey

__all__ = ["recommend", "tie_priority", "tie_seed", "top_k_random_ties"]

ScoreFn = Callable[[Array], Array]


def score_fn(model: Any, params: Params, data: Any, num_items: int) -> ScoreFn:
  """``users (C,) -> (C, I) float32``: the model's ``score_all`` after its ``scoring`` (computed
  once), checking that the model ranks the catalogue of the evaluation (static shapes)."""
  ranker, ranker_params = model.scoring(params, data)

  def scores(users: Array) -> Array:
    out = ranker.score_all(ranker_params, data, users)
    if out.ndim != 2 or out.shape[1] != num_items:
      raise ValueError(f"the model scores {out.shape[-1]} items, but the evaluation's "
                       f"catalogue has {num_items}")
    return out.astype(jnp.float32)

  return scores


def tie_seed(tie_key: PRNGKey | None) -> Array:
  """``() uint32`` tie seed drawn from ``tie_key`` (default ``jax.random.key(0)``)."""
  key = jax.random.key(0) if tie_key is None else tie_key
  return jax.random.bits(key, (), jnp.uint32)


def chunk_mask(rows_u: Array, rows_i: Array, indptr: Array, start: Array, chunk: int,
                window: int, num_users: int, num_items: int) -> Array:
  """``(chunk, I) bool`` positives of users ``[start, start + chunk)`` from padded CSR rows."""
  lo = indptr[jnp.minimum(start, num_users)]
  u = jax.lax.dynamic_slice_in_dim(rows_u, lo, window)
  i = jax.lax.dynamic_slice_in_dim(rows_i, lo, window)
  r = u - start
  ok = (u < num_users) & (r >= 0) & (r < chunk)
  mask = jnp.zeros((chunk, num_items), bool)
  return mask.at[jnp.where(ok, r, chunk), i].set(True, mode="drop")


def padded_rows(index: PositiveIndex, window: int) -> tuple[Array, Array]:
  pad_u = jnp.full((window,), index.num_users, jnp.int32)
  pad_i = jnp.zeros((window,), jnp.int32)
  return (jnp.concatenate([index.users, pad_u]), jnp.concatenate([index.items, pad_i]))


def tie_priority(seed: Array, users: Array, items: Array) -> Array:
  """Random tie-break priorities in ``[0, 1)``, a function of ``(seed, user, item)`` only.

  A counter-based hash (the MurmurHash3 32-bit finaliser, Appleby 2011, over the user and item
  ids mixed with ``seed``), so any subset of (user, item) pairs can be prioritised without
  generating the rest, and results do not depend on how users are chunked.

  Args:
    seed: ``() uint32``, e.g. ``jax.random.bits(tie_key, (), jnp.uint32)``.
    users: ``(C,) int32`` user ids.
    items: ``(C, K)`` or ``(1, K)`` int32 item ids.

  Returns:
    ``(C, K) float32`` in ``[0, 1)`` with 24 random bits.
  """
  h = (jnp.asarray(items).astype(jnp.uint32) * jnp.uint32(0x9E3779B1)) ^ (
      jnp.asarray(users).astype(jnp.uint32)[:, None] * jnp.uint32(0x85EBCA77)) ^ seed
  h = h ^ (h >> 16)
  h = h * jnp.uint32(0x85EBCA6B)
  h = h ^ (h >> 13)
  h = h * jnp.uint32(0xC2B2AE35)
  h = h ^ (h >> 16)
  return (h >> 8).astype(jnp.float32) * jnp.float32(2.0**-24)


def _top_k(x: Array, k: int) -> tuple[Array, Array]:
  # The optimization barrier keeps XLA:CPU on its dedicated TopK kernel: when the results are
  # fused into consumers it falls back to sorting whole rows (measured 7 ms vs 130 ms for a
  # 256 x 3706 chunk at k = 100, jax 0.10.2). One barrier per result: a barrier over the
  # (values, indices) tuple crashes XLA:CPU's TopkDecomposer inside ``jax.shard_map`` (a check
  # failure, jax 0.10.2), and two barriers keep the kernel as fast (measured 19 ms either way).
  vals, idx = jax.lax.top_k(x, k)
  return jax.lax.optimization_barrier(vals), jax.lax.optimization_barrier(idx)


def top_k_random_ties(scores: Array, users: Array, seed: Array, k: int) -> Array:
  """Indices of the ``k`` largest scores per row, ties broken by :func:`tie_priority`.

  Exact for any pattern of ties: the items strictly above the k-th largest score are all in;
  when more items equal the k-th score than slots remain, the slots go to those with the largest
  priorities; the list is then ordered by (score, priority), both descending, and equal
  priorities (rare with 24 random bits) by increasing item id: a total order, shared with
  :func:`jaxrec.metrics.top_k_dot`. With random priorities every order of tied items is
  equally likely. The priority pass over whole rows only
  runs when a chunk has such a boundary tie.

  Args:
    scores: ``(C, I) float32`` (``-inf`` for excluded items; no NaN).
    users: ``(C,) int32`` user id of each row (seeds the priorities).
    seed: ``() uint32`` tie seed.
    k: static list length, ``k <= I``.

  Returns:
    ``(C, k) int32`` item indices, best first.
  """
  num_items = scores.shape[1]
  kk = min(k + 1, num_items)
  vals, idx = _top_k(scores, kk)
  kth = vals[:, k - 1:k]
  n_above = jnp.sum(vals[:, :k] > kth, axis=1, keepdims=True, dtype=jnp.int32)
  # more items tie with the k-th score than fit: the (k+1)-th largest equals the k-th
  boundary_tie = (vals[:, k] == vals[:, k - 1]) if kk > k else jnp.zeros(vals.shape[:1], bool)
  idx = idx[:, :k]
  slot = jnp.arange(k, dtype=jnp.int32)[None, :]

  def fill(idx):
    prio = tie_priority(seed, users, jnp.arange(num_items, dtype=jnp.int32)[None, :])
    _, tied = _top_k(jnp.where(scores == kth, prio, -1.0), k)
    chosen = jnp.take_along_axis(tied, jnp.clip(slot - n_above, 0, k - 1), axis=1)
    return jnp.where(slot < n_above, idx, chosen)

  idx = jax.lax.cond(jnp.any(boundary_tie), fill, lambda i: i, idx)
  s = jnp.take_along_axis(scores, idx, axis=1)
  p = tie_priority(seed, users, idx)
  _, _, idx = jax.lax.sort((-s, -p, idx), dimension=1, num_keys=3)
  return idx.astype(jnp.int32)


def chunk_topk(scores_of: ScoreFn, train_rows, train_indptr, seed, start, *, chunk, window,
               num_users, num_items, k):
  """Top-k lists of users ``[start, start + chunk)``: ``(users, items, valid, num_nan)``."""
  users = jnp.minimum(start + jnp.arange(chunk, dtype=jnp.int32), num_users - 1)
  scores = scores_of(users)
  in_range = (start + jnp.arange(chunk)) < num_users
  num_nan = jnp.sum(jnp.isnan(scores) & in_range[:, None])
  seen = chunk_mask(*train_rows, train_indptr, start, chunk, window, num_users, num_items)
  # -0.0 as 0.0: top_k and the tie pass's equality treat them as equal, the final sort would not
  scores = jnp.where(seen | jnp.isnan(scores), -jnp.inf,
                     jnp.where(scores == 0, jnp.zeros_like(scores), scores))
  items = top_k_random_ties(scores, users, seed, k)
  valid = jnp.take_along_axis(scores, items, axis=1) > -jnp.inf
  return users, items, valid, num_nan


def check_cutoffs(train: PositiveIndex, ks, chunk_size) -> tuple[tuple[int, ...], int]:
  """Host-side validation of cut-offs and chunk size (``ValueError`` naming the problem).

  Returns:
    ``(sorted distinct ks, chunk_size)``.
  """
  if np.ndim(ks) == 0:  # one cut-off of any type (a float or a bool is rejected as a k)
    ks = (ks,)
  ks = _checks.cutoffs(ks, train.num_items)
  return ks, _checks.integer("chunk_size", chunk_size, low=1)


def raise_on_nan(num_nan) -> None:
  """Raises ``ValueError`` when a model produced NaN scores."""
  if int(num_nan):
    raise ValueError(
        f"score_all returned NaN for {int(num_nan)} user-item pairs: the model diverged, its "
        "parameters hold NaN, or it covers fewer users than the evaluation's training data; "
        "metrics would be meaningless")


def recommend(
    model: Any,
    params: Params,
    train: PositiveIndex,
    k: int,
    *,
    data: Any = None,
    chunk_size: int = 256,
    tie_key: PRNGKey | None = None,
    block_size: int | None = None,
    mesh: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
  """Top-``k`` lists of every user, training items excluded (ties as in the module docstring).

  By default each chunk of users is scored against the whole catalogue (``score_all``, a
  ``(chunk_size, I)`` matrix). With ``block_size`` or ``mesh``, a dot-product model (one with
  ``dot_vectors``: :class:`jaxrec.models.MF`, :class:`jaxrec.models.LightGCN`) is ranked by
  :func:`jaxrec.metrics.top_k_dot` instead: items ``block_size`` at a time, optionally over a
  catalogue split by rows across the mesh's ``items`` devices; same tie order, same lists up to
  scores within float rounding of each other (``docs/metrics.md``, "Ranking at scale").

  Args:
    model: a :class:`jaxrec.models.Model`. params: its parameters.
    train: the training positives, masked from the lists.
    k: list length, ``1 <= k <= num_items``.
    data: the model's data (default ``train``).
    chunk_size: users scored at once.
    tie_key: key of the random tie order; default ``jax.random.key(0)``.
    block_size: items scored at once (two-stage top-k); ``None`` scores the whole catalogue per
      chunk unless ``mesh`` is given (then 65536).
    mesh: a :func:`jaxrec.sharding.make_mesh` mesh for the two-stage top-k, or ``None``.

  Returns:
    ``(items, valid)``: ``(U, k) int32`` item ids by decreasing score and ``(U, k) bool``, False
    for slots past a user's number of unseen items.

  Raises:
    ValueError: ``k`` outside ``[1, num_items]``, a non-positive ``chunk_size`` or
      ``block_size``, a model whose catalogue differs from ``train``'s, NaN scores; with
      ``block_size`` or ``mesh``, a model without ``dot_vectors``, one with fewer users than
      ``train``, or a bad mesh (as :func:`jaxrec.metrics.top_k_dot`).

  Source:
    jaxrec (random tie order of the module docstring).
  """
  if block_size is not None or mesh is not None:
    return _recommend_dot(model, params, train, k, data=data, chunk_size=chunk_size,
                          tie_key=tie_key, block_size=65536 if block_size is None else block_size,
                          mesh=mesh)
  (k,), chunk_size = check_cutoffs(train, (k,), chunk_size)
  window = row_window(train, chunk_size)
  items, valid, num_nan = _recommend_core(model, params, train if data is None else data,
                                          train, tie_seed(tie_key), chunk=chunk_size,
                                          window=window, k=k)
  raise_on_nan(num_nan)
  return np.asarray(items)[: train.num_users], np.asarray(valid)[: train.num_users]


def _recommend_dot(model, params, train, k, *, data, chunk_size, tie_key, block_size, mesh):
  """:func:`recommend` through :func:`top_k_dot` over the model's ``dot_vectors``."""
  from jaxrec.metrics._topk_scale import top_k_dot  # pylint: disable=import-outside-toplevel
  if not hasattr(model, "dot_vectors"):
    raise ValueError(f"block_size and mesh rank dot-product models (with dot_vectors, e.g. MF, "
                     f"LightGCN); {type(model).__name__} has none: leave both unset")
  users, items, bias = model.dot_vectors(params, train if data is None else data)
  if users.shape[0] < train.num_users:
    raise ValueError(f"the model has {users.shape[0]} users, the training data "
                     f"{train.num_users}")
  return top_k_dot(users[:train.num_users], items, k, item_bias=bias, train=train,
                   chunk_size=chunk_size, block_size=block_size, tie_key=tie_key, mesh=mesh)


@functools.partial(jax.jit, static_argnames=("chunk", "window", "k"))
def _recommend_core(model, params, data, train, seed, *, chunk, window, k):
  nu, ni = train.num_users, train.num_items
  rows = padded_rows(train, window)
  starts = jnp.arange(0, nu, chunk, dtype=jnp.int32)
  scores_of = score_fn(model, params, data, ni)
  _, items, valid, num_nan = jax.lax.map(
      lambda s: chunk_topk(scores_of, rows, train.indptr, seed, s, chunk=chunk,
                           window=window, num_users=nu, num_items=ni, k=k),
      starts)
  return items.reshape(-1, k), valid.reshape(-1, k), jnp.sum(num_nan)


