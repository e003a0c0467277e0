"""All-item ranking evaluation, chunked over users so memory stays bounded.

Protocol: for every user, every item is a candidate except the user's training items, which are
masked (score ``-inf``); the top-``k`` candidates form the list. Only ``chunk_size x num_items``
scores exist at any time, never a dense all-users x all-items matrix.

Ties: items with equal scores are ordered at random, independently for every user, from
``tie_key`` (default ``jax.random.key(0)``, so results are reproducible): each (user, item) gets
a random priority and :func:`top_k_random_ties` ranks by (score, priority). Every order of tied
items is equally likely, so a model that scores every item equally produces a uniformly random
list for each user and scores like a random ranking (HR@k about ``k / candidates``), never
better. A lowest-id-first rule (``lax.top_k``'s own) would instead favour whichever items happen
to have small ids.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.data._index import PositiveIndex, row_window
from jaxrec.metrics._gini import gini
from jaxrec.metrics._ranking import (
    ACCURACY_METRICS, POPULARITY_METRICS, accuracy_at_k, popularity_at_k)
from jaxrec.typing import Array, Params, PRNGKey

__all__ = [
    "BEYOND_ACCURACY_METRICS", "evaluate", "long_tail_items", "recommend", "tie_priority",
    "top_k_random_ties",
]

ScoreAll = Callable[[Params, Array], Array]
BEYOND_ACCURACY_METRICS = ("coverage", "gini") + POPULARITY_METRICS


def long_tail_items(item_popularity: np.ndarray, short_head_fraction: float = 0.2) -> np.ndarray:
  """Long-tail mask: every item outside the ``floor(fraction * I)`` most popular ones.

  Items are ranked by training popularity, descending, ties by ascending id. The 20% short head
  (by item count, not by rating share) is the split of Anelli, Di Noia, Merra (RecSys 2021, whose
  code computes APLT this way), after Abdollahpouri, Burke, Mobasher (FLAIRS 2019).

  Args:
    item_popularity: ``(I,)`` training popularity.
    short_head_fraction: share of the catalogue in the short head, in ``[0, 1]``.

  Returns:
    ``(I,) bool``, True for long-tail items.
  """
  if not 0.0 <= short_head_fraction <= 1.0:
    raise ValueError(f"short_head_fraction must lie in [0, 1], got {short_head_fraction}")
  pop = np.asarray(item_popularity)
  order = np.lexsort((np.arange(pop.size), -pop))
  tail = np.ones(pop.size, bool)
  tail[order[: int(np.floor(short_head_fraction * pop.size))]] = False
  return tail


def _chunk_mask(rows_u: Array, rows_i: Array, indptr: Array, start: Array, chunk: int,
                window: int, num_users: int, num_items: int) -> Array:
  """``(chunk, I) bool`` positives of users ``[start, start + chunk)`` from padded CSR rows."""
  lo = indptr[jnp.minimum(start, num_users)]
  u = jax.lax.dynamic_slice_in_dim(rows_u, lo, window)
  i = jax.lax.dynamic_slice_in_dim(rows_i, lo, window)
  r = u - start
  ok = (u < num_users) & (r >= 0) & (r < chunk)
  mask = jnp.zeros((chunk, num_items), bool)
  return mask.at[jnp.where(ok, r, chunk), i].set(True, mode="drop")


def _padded(index: PositiveIndex, window: int) -> tuple[Array, Array]:
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
  # 256 x 3706 chunk at k = 100, jax 0.10.2).
  return jax.lax.optimization_barrier(jax.lax.top_k(x, k))


def top_k_random_ties(scores: Array, users: Array, seed: Array, k: int) -> Array:
  """Indices of the ``k`` largest scores per row, ties broken by :func:`tie_priority`.

  Exact for any pattern of ties: the items strictly above the k-th largest score are all in;
  when more items equal the k-th score than slots remain, the slots go to those with the largest
  priorities; the list is then ordered by (score, priority), both descending. With random
  priorities every order of tied items is equally likely. The priority pass over whole rows only
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
  _, _, idx = jax.lax.sort((-s, -p, idx), dimension=1, num_keys=2)
  return idx.astype(jnp.int32)


def _chunk_topk(score_all, params, train_rows, train_indptr, key, start, *, chunk, window,
                num_users, num_items, k):
  """Top-k lists of users ``[start, start + chunk)``: ``(users, items, valid, num_nan)``."""
  users = jnp.minimum(start + jnp.arange(chunk, dtype=jnp.int32), num_users - 1)
  scores = score_all(params, users).astype(jnp.float32)
  in_range = (start + jnp.arange(chunk)) < num_users
  num_nan = jnp.sum(jnp.isnan(scores) & in_range[:, None])
  seen = _chunk_mask(*train_rows, train_indptr, start, chunk, window, num_users, num_items)
  scores = jnp.where(seen | jnp.isnan(scores), -jnp.inf, scores)
  items = top_k_random_ties(scores, users, jax.random.bits(key, (), jnp.uint32), k)
  valid = jnp.take_along_axis(scores, items, axis=1) > -jnp.inf
  return users, items, valid, num_nan


def _check(train: PositiveIndex, ks, chunk_size):
  if not ks:
    raise ValueError("ks must name at least one cut-off")
  for k in ks:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
      raise ValueError(f"cut-off k must be a positive integer, got {k!r}")
    if k > train.num_items:
      raise ValueError(f"k={k} is larger than the catalogue (num_items={train.num_items})")
  if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
      or chunk_size <= 0:
    raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")


def _raise_on_nan(num_nan) -> None:
  if int(num_nan):
    raise ValueError(
        f"score_all returned NaN for {int(num_nan)} user-item pairs: the model diverged or its "
        "parameters hold NaN; metrics would be meaningless")


def recommend(
    score_all: ScoreAll,
    params: Params,
    train: PositiveIndex,
    k: int,
    *,
    chunk_size: int = 256,
    tie_key: PRNGKey | None = None,
) -> tuple[np.ndarray, np.ndarray]:
  """Top-``k`` lists of every user, training items excluded (ties as in the module docstring).

  Args:
    score_all: ``score_all(params, users (C,)) -> (C, I)`` (e.g. ``models.mf.score_all``).
    params: the model parameters.
    train: the training positives, masked from the lists.
    k: list length, ``1 <= k <= num_items``.
    chunk_size: users scored at once.
    tie_key: key of the random tie order; default ``jax.random.key(0)``.

  Returns:
    ``(items, valid)``: ``(U, k) int32`` item ids by decreasing score and ``(U, k) bool``, False
    for slots past a user's number of unseen items.

  Raises:
    ValueError: ``k`` outside ``[1, num_items]``, a non-positive ``chunk_size``, or NaN scores.
  """
  _check(train, (k,), chunk_size)
  key = jax.random.key(0) if tie_key is None else tie_key
  window = row_window(train, chunk_size)
  items, valid, num_nan = _recommend_core(score_all, params, train, key, chunk=chunk_size,
                                          window=window, k=k)
  _raise_on_nan(num_nan)
  return np.asarray(items)[: train.num_users], np.asarray(valid)[: train.num_users]


@functools.partial(jax.jit, static_argnames=("score_all", "chunk", "window", "k"))
def _recommend_core(score_all, params, train, key, *, chunk, window, k):
  nu, ni = train.num_users, train.num_items
  rows = _padded(train, window)
  starts = jnp.arange(0, nu, chunk, dtype=jnp.int32)
  _, items, valid, num_nan = jax.lax.map(
      lambda s: _chunk_topk(score_all, params, rows, train.indptr, key, s, chunk=chunk,
                            window=window, num_users=nu, num_items=ni, k=k),
      starts)
  return items.reshape(-1, k), valid.reshape(-1, k), jnp.sum(num_nan)


def evaluate(
    score_all: ScoreAll,
    params: Params,
    train: PositiveIndex,
    test: PositiveIndex,
    *,
    ks: tuple[int, ...] = (10,),
    chunk_size: int = 256,
    tie_key: PRNGKey | None = None,
    short_head_fraction: float = 0.2,
) -> dict[str, dict[int, float]]:
  """Accuracy and beyond-accuracy metrics of all-item top-k lists (module docstring protocol).

  Population: the users with at least one test item; users without test items are excluded
  from every mean (accuracy and beyond-accuracy alike). Accuracy metrics are means over that
  population of :func:`accuracy_at_k`; ARP, APLT and novelty are means of
  :func:`popularity_at_k`, with popularity = number of training users per item and the long
  tail from :func:`long_tail_items`. Catalogue-level metrics over the same population's lists:

  * ``coverage``: ``|union of the top-k lists| / num_items``.
  * ``gini``: :func:`jaxrec.metrics.gini` of how often each item of the whole catalogue is
    recommended (never-recommended items count as 0).

  Per-chunk sums are added up on the host in float64, so the chunk size does not change results.

  Args:
    score_all: ``score_all(params, users (C,)) -> (C, I)``.
    params: model parameters.
    train: training positives (masked; the source of popularity).
    test: held-out positives over the same id spaces.
    ks: cut-offs, each an integer in ``[1, num_items]``.
    chunk_size: users scored at once (memory ``~ 4 * chunk_size * num_items`` bytes per array).
    tie_key: key of the random tie order; default ``jax.random.key(0)``.
    short_head_fraction: share of items in the short head for APLT.

  Returns:
    ``{metric: {k: value}}`` for ``hr, precision, recall, ndcg, mrr, coverage, gini, arp, aplt,
    novelty``, plus ``{"users": {0: number of evaluated users}}``.

  Raises:
    ValueError: a bad ``k`` (not a positive integer, or above ``num_items``), id spaces that
      differ between ``train`` and ``test``, no user with a test item, or NaN scores.
  """
  ks = (ks,) if isinstance(ks, (int, np.integer)) else tuple(ks)
  _check(train, ks, chunk_size)
  ks = tuple(sorted({int(k) for k in ks}))
  if (train.num_users, train.num_items) != (test.num_users, test.num_items):
    raise ValueError(
        f"train id spaces ({train.num_users}, {train.num_items}) differ from test "
        f"({test.num_users}, {test.num_items})")
  n_eval = int(np.sum(np.asarray(test.degrees()) > 0))
  if n_eval == 0:
    raise ValueError("no user has a test item: nothing to evaluate")
  pop = np.asarray(train.item_degrees(), np.float32)
  tail = long_tail_items(pop, short_head_fraction)
  key = jax.random.key(0) if tie_key is None else tie_key
  sums, counts, num_nan = _evaluate_core(
      score_all, params, train, test, key, jnp.asarray(pop), jnp.asarray(tail),
      chunk=chunk_size, w_train=row_window(train, chunk_size),
      w_test=row_window(test, chunk_size), ks=ks)
  _raise_on_nan(num_nan)
  sums = {name: np.asarray(v, np.float64).sum(axis=0) for name, v in sums.items()}
  counts = np.asarray(counts)
  out: dict[str, dict[int, float]] = {}
  for j, k in enumerate(ks):
    for name in ACCURACY_METRICS + POPULARITY_METRICS:
      out.setdefault(name, {})[k] = float(sums[name][j]) / n_eval
    out.setdefault("coverage", {})[k] = float(np.mean(counts[j] > 0))
    out.setdefault("gini", {})[k] = float(gini(counts[j]))
  out["users"] = {0: float(n_eval)}
  return out


@functools.partial(
    jax.jit, static_argnames=("score_all", "chunk", "w_train", "w_test", "ks"))
def _evaluate_core(score_all, params, train, test, key, pop, tail, *, chunk, w_train, w_test, ks):
  nu, ni = train.num_users, train.num_items
  kmax = max(ks)
  train_rows = _padded(train, w_train)
  test_rows = _padded(test, w_test)
  n_test = test.degrees()
  names = ACCURACY_METRICS + POPULARITY_METRICS

  def body(carry, start):
    counts, num_nan = carry
    users, items, valid, chunk_nan = _chunk_topk(
        score_all, params, train_rows, train.indptr, key, start, chunk=chunk, window=w_train,
        num_users=nu, num_items=ni, k=kmax)
    in_range = (start + jnp.arange(chunk)) < nu
    n_rel = jnp.where(in_range, n_test[users], 0)
    active = (n_rel > 0).astype(jnp.float32)
    relevant = _chunk_mask(*test_rows, test.indptr, start, chunk, w_test, nu, ni)
    hits = jnp.take_along_axis(relevant, items, axis=1) & valid
    chunk_sums = {name: [] for name in names}
    new_counts = []
    for j, k in enumerate(ks):
      per_user = accuracy_at_k(hits, n_rel, k)
      per_user.update(popularity_at_k(items, valid, pop, tail, nu, k))
      for name in names:
        chunk_sums[name].append(jnp.sum(per_user[name] * active))
      shown = (valid[:, :k] & (active[:, None] > 0)).astype(jnp.int32)
      new_counts.append(counts[j] + jax.ops.segment_sum(
          shown.ravel(), items[:, :k].ravel(), num_segments=ni))
    return (jnp.stack(new_counts), num_nan + chunk_nan), {
        n: jnp.stack(v) for n, v in chunk_sums.items()}

  starts = jnp.arange(0, nu, chunk, dtype=jnp.int32)
  init = (jnp.zeros((len(ks), ni), jnp.int32), jnp.zeros((), jnp.int32))
  (counts, num_nan), sums = jax.lax.scan(body, init, starts)
  return sums, counts, num_nan
