"""Per-user accuracy and popularity metrics of top-k lists (jittable building blocks).

Conventions (binary relevance): ``hits[u, r]`` says whether the item at 0-based rank ``r`` of
user ``u``'s list is one of the user's test items; ``num_relevant[u] = |test_u|``.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxrec import _checks
from jaxrec.typing import Array, ArrayLike

__all__ = ["ACCURACY_METRICS", "POPULARITY_METRICS", "accuracy_at_k", "popularity_at_k"]

ACCURACY_METRICS = ("hr", "precision", "recall", "ndcg", "mrr")
POPULARITY_METRICS = ("arp", "aplt", "novelty")


def accuracy_at_k(hits: ArrayLike, num_relevant: ArrayLike, k: int) -> dict[str, Array]:
  """HR@k, Precision@k, Recall@k, nDCG@k and MRR@k of each user's list.

  * HR@k: 1 if any of the first ``k`` items is relevant.
  * Precision@k: ``hits / k``. Recall@k: ``hits / |test_u|``.
  * nDCG@k: ``DCG / IDCG`` with ``DCG = sum_{r<=k} rel_r / log2(r + 1)`` (1-based ``r``) and
    ``IDCG`` the DCG of ``min(|test_u|, k)`` relevant items at the top (Jarvelin and Kekalainen,
    ACM TOIS 2002, binary gain).
  * MRR@k: ``1 / rank`` of the first relevant item within ``k``, else 0.

  Users with ``num_relevant == 0`` get 0 everywhere; callers exclude them from means.

  Args:
    hits: ``(C, K) bool`` relevance of each list slot, ``K >= k``.
    num_relevant: ``(C,) int`` number of test items per user.
    k: static cut-off.

  Returns:
    Dict of ``(C,) float32`` arrays keyed by :data:`ACCURACY_METRICS`.

  Raises:
    ValueError: ``k`` not an integer ``>= 1``, or lists shorter than ``k``.
  """
  k = _checks.integer("k", k, low=1)
  h = jnp.asarray(hits)[:, :k].astype(jnp.float32)
  if h.shape[1] != k:
    raise ValueError(f"lists hold {h.shape[1]} items, fewer than k={k}")
  n_rel = jnp.asarray(num_relevant).astype(jnp.int32)
  n_hits = jnp.sum(h, axis=1)
  discount = 1.0 / jnp.log2(jnp.arange(2, k + 2, dtype=jnp.float32))
  dcg = h @ discount
  ideal = jnp.concatenate([jnp.zeros((1,), jnp.float32), jnp.cumsum(discount)])
  idcg = ideal[jnp.clip(n_rel, 0, k)]
  has = n_rel > 0
  safe = lambda x: jnp.where(has, x, 1.0)  # noqa: E731
  first = jnp.argmax(h, axis=1)
  return {
      "hr": (n_hits > 0).astype(jnp.float32),
      "precision": n_hits / k,
      "recall": jnp.where(has, n_hits / safe(n_rel.astype(jnp.float32)), 0.0),
      "ndcg": jnp.where(has, dcg / safe(idcg), 0.0),
      "mrr": jnp.where(n_hits > 0, 1.0 / (first + 1.0), 0.0),
  }


def popularity_at_k(
    items: ArrayLike,
    valid: ArrayLike,
    item_popularity: ArrayLike,
    long_tail: ArrayLike,
    num_users: int,
    k: int,
) -> dict[str, Array]:
  """Popularity-bias metrics of each user's top-k list (averaged over its valid slots).

  * ARP: mean training popularity ``phi(i)`` (number of training users) of the listed items.
  * APLT: share of listed items in the long tail.
    Both after Abdollahpouri, Burke, Mobasher, "Managing Popularity Bias in Recommender Systems
    with Personalized Re-ranking", FLAIRS 2019.
  * Novelty: mean self-information ``-log2(max(phi(i), 1) / num_users)`` (Zhou et al., "Solving
    the apparent diversity-accuracy dilemma of recommender systems", PNAS 2010); an item never
    seen in training counts as seen once.

  Args:
    items: ``(C, K) int`` listed item ids, ``K >= k``.
    valid: ``(C, K) bool`` slots that hold a real candidate (False when a user has fewer than
      ``k`` unseen items).
    item_popularity: ``(I,) float`` training popularity of each item.
    long_tail: ``(I,) bool`` long-tail membership.
    num_users: number of users in the training id space (static).
    k: static cut-off.

  Returns:
    Dict of ``(C,) float32`` arrays keyed by :data:`POPULARITY_METRICS`; 0 for empty lists.
  """
  it = jnp.asarray(items)[:, :k]
  v = jnp.asarray(valid)[:, :k].astype(jnp.float32)
  pop = jnp.asarray(item_popularity, jnp.float32)[it]
  tail = jnp.asarray(long_tail)[it].astype(jnp.float32)
  info = -jnp.log2(jnp.maximum(pop, 1.0) / num_users)
  n = jnp.sum(v, axis=1)
  denom = jnp.where(n > 0, n, 1.0)
  return {
      "arp": jnp.sum(pop * v, axis=1) / denom,
      "aplt": jnp.sum(tail * v, axis=1) / denom,
      "novelty": jnp.sum(info * v, axis=1) / denom,
  }
