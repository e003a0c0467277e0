"""BPR triple sampling: uniform positive pairs; negatives uniform over the user's non-positives,
by rejection (a bitmap lookup) where the index has a bitmap, else by exact rank selection."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.data._index import PositiveIndex
from jaxrec.typing import Array, PRNGKey

__all__ = ["BPRBatch", "check_sampleable", "sample_bpr_triples", "sample_negatives"]


class BPRBatch(NamedTuple):
  """A batch of BPR triples ``(u, i, j)``: user ``u`` interacted with ``i`` and not with ``j``.

  Attributes:
    users, pos_items, neg_items: ``(B,) int32`` ids.
    weights: ``(B,) float32`` weight of each triple in the loss (0: padding, or a rejected
      negative: :func:`sample_bpr_triples`), or ``None`` for all ones. Every loss over a batch
      weights both the ranking term and the regulariser of the rows it touches by it, so a
      triple of weight 0 changes nothing. Unpack the ids as ``u, i, j = batch[:3]``.
  """

  users: Array
  pos_items: Array
  neg_items: Array
  weights: Array | None = None


def sample_negatives(key: PRNGKey, index: PositiveIndex, users: Array) -> Array:
  """Uniform random items that are *not* positives of the given users (exact, no rejection).

  For user ``u`` with ``d`` positives, draw ``r`` uniformly from ``[0, num_items - d)`` and return
  the ``r``-th non-positive item, found by a fixed-length binary search over the row's ``gaps``
  (``ceil(log2(num_items + 1))`` steps, so the cost is static and jittable). Every non-positive
  item has probability ``1 / (num_items - d)``; a positive is never returned.

  Args:
    key: a PRNG key.
    index: the positives.
    users: ``(B,) int32`` user ids in ``[0, num_users)`` (not range-checked: this runs under jit).

  Returns:
    ``(B,) int32`` item ids. Undefined for a user whose positives are the whole catalogue; the
    training drivers reject such data up front (:func:`check_sampleable`).
  """
  lo = index.indptr[users]
  n = index.indptr[users + 1] - lo
  r = jax.random.randint(key, users.shape, 0, index.num_items - n, dtype=jnp.int32)
  # Branchless search for the number of gaps <= r within [lo, lo + n): invariant "gaps[lo:base]
  # <= r and the answer lies in [base, base + length]".
  base, length = lo, n
  for _ in range(max(1, int(index.num_items).bit_length())):
    half = length // 2
    base = jnp.where(index.gaps[base + half] <= r, base + half, base)
    length = length - half
  count = base - lo + ((n > 0) & (index.gaps[base] <= r)).astype(jnp.int32)
  return r + count


def sample_bpr_triples(key: PRNGKey, index: PositiveIndex, batch_size: int) -> BPRBatch:
  """Samples ``batch_size`` BPR triples (jittable).

  Positive pairs are drawn uniformly *with replacement* from the valid rows of ``index`` (as
  LearnBPR's bootstrap sampling, Rendle et al., UAI 2009, Sec. 4.2, and the implicit and cornac
  libraries do). Negatives, by the index's layout:

  * with a bitmap (``num_users * num_items <=`` :data:`jaxrec.data.BITMAP_MAX_BITS`, e.g.
    MovieLens-1M): ``j`` uniform over the whole catalogue, drawn again once when it is a positive
    of ``u`` (one bitmap lookup each); a triple whose second draw is a positive too is
    *rejected*: weight 0, it neither counts in the loss nor moves a parameter. An accepted
    negative is uniform over the user's non-positives, as with exact sampling. A user with
    ``d_u`` positives is rejected with probability ``r_u = (d_u / I)^2``, so accepted triples
    carry the weight ``1 / (1 - r_u)``: the expected loss (and gradient) of a batch is exactly
    that of exact sampling (importance weighting; without it heavy users would train less:
    MovieLens-100K's HR@10 dropped by about 0.007 with plain rejection). About ``1 - E[r_u]`` of
    the drawn triples are accepted (MovieLens-1M: over 98%). The implicit library skips such
    triples the same way (unweighted, one draw, popularity-weighted negatives). Ids come from one
    32-bit draw each, reduced modulo the range (relative bias below ``range / 2**32``: 2.3e-4
    for MovieLens-1M's 10^6 rows).
  * without a bitmap: every ``j`` is an exact uniform non-positive (:func:`sample_negatives`, a
    binary search per triple), weights ``None``.

  Args:
    key: a PRNG key.
    index: the training positives (at least one valid row).
    batch_size: static number of triples ``B``.

  Returns:
    A :class:`BPRBatch` of ``(B,) int32`` ids and, with a bitmap, ``(B,) float32`` weights
    (0 for a rejected triple, ``1 / (1 - (d_u / I)^2) >= 1`` for an accepted one).

  Raises:
    Nothing (jittable; check the index with :func:`check_sampleable`).

  Source:
    Rendle et al., UAI 2009, Sec. 4.2; the rejection rule follows the implicit library's BPR
    (Frederickson, ``implicit/cpu/bpr.pyx``), with uniform negatives.
  """
  if index.bitmap is None:
    k_pos, k_neg = jax.random.split(key)
    row = jax.random.randint(k_pos, (batch_size,), 0, index.num_valid, dtype=jnp.int32)
    users = index.users[row]
    return BPRBatch(users, index.items[row], sample_negatives(k_neg, index, users))
  draw = jax.random.bits(key, (3, batch_size), jnp.uint32)
  row = (draw[0] % jnp.maximum(index.num_valid, 1).astype(jnp.uint32)).astype(jnp.int32)
  users = index.users[row]
  first, second = ((d % jnp.uint32(index.num_items)).astype(jnp.int32) for d in draw[1:])
  neg = jnp.where(index.contains(users, first), second, first)
  share = (index.indptr[users + 1] - index.indptr[users]).astype(jnp.float32) / index.num_items
  accept = 1.0 / (1.0 - share * share)  # share < 1: check_sampleable refuses full rows
  weights = jnp.where(index.contains(users, neg), 0.0, accept).astype(jnp.float32)
  return BPRBatch(users, index.items[row], neg, weights)


def check_sampleable(index: PositiveIndex) -> None:
  """Host-side check that BPR triples can be sampled from ``index``.

  Raises:
    ValueError: no valid rows, or some user's positives cover the whole catalogue (no negative
      item exists for them).
  """
  if int(index.num_valid) == 0:
    raise ValueError("no training interactions: cannot sample BPR triples from an empty dataset")
  deg = np.asarray(index.degrees())
  full = np.flatnonzero(deg >= index.num_items)
  if full.size:
    raise ValueError(
        f"user {int(full[0])} interacted with all {index.num_items} items: no negative item "
        "exists to sample for BPR")
