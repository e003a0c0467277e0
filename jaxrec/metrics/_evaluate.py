"""All-item ranking evaluation, chunked over users so memory stays bounded.

Protocol: for every user, every item is a candidate except the user's training items, which are
masked (score ``-inf``); the top-``k`` candidates form the list. Only ``chunk_size x num_items``
scores exist at any time, never a dense all-users x all-items matrix.

Ties: scores are ranked with ties broken by a random order of items, drawn from ``tie_key``
(default ``jax.random.key(0)``, so results are reproducible). The order is a random permutation
of the catalogue rotated by a random offset per user, so that a model that scores every item
equally produces a uniformly random list for each user and scores like a random ranking (HR@k
about ``k / candidates``), never better. A lowest-id-first rule (``lax.top_k``'s own) would
instead favour whichever items happen to have small ids.
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

__all__ = ["BEYOND_ACCURACY_METRICS", "evaluate", "long_tail_items", "recommend"]

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


def _tie_order(key: PRNGKey, num_users: int, num_items: int) -> tuple[Array, Array]:
  k_perm, k_off = jax.random.split(key)
  perm = jax.random.permutation(k_perm, num_items).astype(jnp.int32)
  offsets = jax.random.randint(k_off, (num_users,), 0, num_items, dtype=jnp.int32)
  return perm, offsets


def _chunk_topk(score_all, params, train_rows, train_indptr, perm, offsets, start, *, chunk,
                window, num_users, num_items, k):
  """Top-k lists (items, valid slots) of users ``[start, start + chunk)``."""
  users = jnp.minimum(start + jnp.arange(chunk, dtype=jnp.int32), num_users - 1)
  scores = score_all(params, users)
  seen = _chunk_mask(*train_rows, train_indptr, start, chunk, window, num_users, num_items)
  scores = jnp.where(seen, -jnp.inf, scores.astype(jnp.float32))
  cols = perm[(jnp.arange(num_items, dtype=jnp.int32)[None, :] + offsets[users][:, None])
              % num_items]
  top_scores, top_pos = jax.lax.top_k(jnp.take_along_axis(scores, cols, axis=1), k)
  items = jnp.take_along_axis(cols, top_pos, axis=1)
  return users, items, top_scores > -jnp.inf


def _check(train: PositiveIndex, ks, chunk_size):
  if not ks:
    raise ValueError("ks must name at least one cut-off")
  for k in ks:
    if not isinstance(k, (int, np.integer)) or k <= 0:
      raise ValueError(f"cut-off k must be a positive integer, got {k!r}")
    if k > train.num_items:
      raise ValueError(f"k={k} is larger than the catalogue (num_items={train.num_items})")
  if chunk_size <= 0:
    raise ValueError(f"chunk_size must be positive, got {chunk_size}")


def recommend(
    score_all: ScoreAll,
    params: Params,
    train: PositiveIndex,
    k: int,
    *,
    chunk_size: int = 256,
    tie_key: PRNGKey | None = None,
) -> tuple[np.ndarray, np.ndarray]:
  """Top-``k`` lists of every user, training items excluded.

  Args:
    score_all: ``score_all(params, users (C,)) -> (C, I)`` (e.g. ``models.mf.score_all``).
    params: the model parameters.
    train: the training positives, masked from the lists.
    k: list length, ``1 <= k <= num_items``.
    chunk_size: users scored at once.
    tie_key: key of the random tie order (module docstring); default ``jax.random.key(0)``.

  Returns:
    ``(items, valid)``: ``(U, k) int32`` item ids by decreasing score and ``(U, k) bool``, False
    for slots past a user's number of unseen items.

  Raises:
    ValueError: ``k`` outside ``[1, num_items]`` or a non-positive ``chunk_size``.
  """
  _check(train, (k,), chunk_size)
  key = jax.random.key(0) if tie_key is None else tie_key
  window = row_window(train, chunk_size)
  items, valid = _recommend_core(score_all, params, train, key, chunk=chunk_size,
                                 window=window, k=k)
  return np.asarray(items)[: train.num_users], np.asarray(valid)[: train.num_users]


@functools.partial(jax.jit, static_argnames=("score_all", "chunk", "window", "k"))
def _recommend_core(score_all, params, train, key, *, chunk, window, k):
  nu, ni = train.num_users, train.num_items
  perm, offsets = _tie_order(key, nu, ni)
  rows = _padded(train, window)
  starts = jnp.arange(0, nu, chunk, dtype=jnp.int32)
  _, items, valid = jax.lax.map(
      lambda s: _chunk_topk(score_all, params, rows, train.indptr, perm, offsets, s,
                            chunk=chunk, window=window, num_users=nu, num_items=ni, k=k),
      starts)
  return items.reshape(-1, k), valid.reshape(-1, k)


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

  Args:
    score_all: ``score_all(params, users (C,)) -> (C, I)``.
    params: model parameters.
    train: training positives (masked; the source of popularity).
    test: held-out positives over the same id spaces.
    ks: cut-offs, each in ``[1, num_items]``.
    chunk_size: users scored at once (memory ``~ 4 * chunk_size * num_items`` bytes per array).
    tie_key: key of the random tie order; default ``jax.random.key(0)``.
    short_head_fraction: share of items in the short head for APLT.

  Returns:
    ``{metric: {k: value}}`` for ``hr, precision, recall, ndcg, mrr, coverage, gini, arp, aplt,
    novelty``, plus ``{"users": {0: number of evaluated users}}``.

  Raises:
    ValueError: a bad ``k`` (not positive, or above ``num_items``), id spaces that differ between
      ``train`` and ``test``, or no user with a test item.
  """
  ks = tuple(int(k) for k in ks) if not isinstance(ks, int) else (int(ks),)
  _check(train, ks, chunk_size)
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
  sums, counts = _evaluate_core(
      score_all, params, train, test, key, jnp.asarray(pop), jnp.asarray(tail),
      chunk=chunk_size, w_train=row_window(train, chunk_size),
      w_test=row_window(test, chunk_size), ks=tuple(sorted(set(ks))))
  sums = jax.device_get(sums)
  counts = np.asarray(counts)
  out: dict[str, dict[int, float]] = {}
  for j, k in enumerate(sorted(set(ks))):
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
  perm, offsets = _tie_order(key, nu, ni)
  train_rows = _padded(train, w_train)
  test_rows = _padded(test, w_test)
  n_test = test.degrees()
  names = ACCURACY_METRICS + POPULARITY_METRICS

  def body(carry, start):
    sums, counts = carry
    users, items, valid = _chunk_topk(
        score_all, params, train_rows, train.indptr, perm, offsets, start, chunk=chunk,
        window=w_train, num_users=nu, num_items=ni, k=kmax)
    in_range = (start + jnp.arange(chunk)) < nu
    n_rel = jnp.where(in_range, n_test[users], 0)
    active = (n_rel > 0).astype(jnp.float32)
    relevant = _chunk_mask(*test_rows, test.indptr, start, chunk, w_test, nu, ni)
    hits = jnp.take_along_axis(relevant, items, axis=1) & valid
    new_sums = {}
    new_counts = []
    for j, k in enumerate(ks):
      per_user = accuracy_at_k(hits, n_rel, k)
      per_user.update(popularity_at_k(items, valid, pop, tail, nu, k))
      for name in names:
        new_sums.setdefault(name, []).append(jnp.sum(per_user[name] * active))
      shown = (valid[:, :k] & (active[:, None] > 0)).astype(jnp.int32)
      new_counts.append(counts[j] + jax.ops.segment_sum(
          shown.ravel(), items[:, :k].ravel(), num_segments=ni))
    sums = {n: sums[n] + jnp.stack(new_sums[n]) for n in names}
    return (sums, jnp.stack(new_counts)), None

  init = ({n: jnp.zeros((len(ks),), jnp.float32) for n in names},
          jnp.zeros((len(ks), ni), jnp.int32))
  starts = jnp.arange(0, nu, chunk, dtype=jnp.int32)
  (sums, counts), _ = jax.lax.scan(body, init, starts)
  return sums, counts
