"""BPR triple sampling: uniform positive pairs, exact uniform negatives."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.data._index import PositiveIndex
from jaxrec.typing import Array, PRNGKey

__all__ = ["BPRBatch", "check_sampleable", "sample_bpr_triples", "sample_negatives"]


class BPRBatch(NamedTuple):
  """A batch of BPR triples ``(u, i, j)``: user ``u`` interacted with ``i`` and not with ``j``."""

  users: Array  # (B,) int32
  pos_items: Array  # (B,) int32
  neg_items: Array  # (B,) int32


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
  libraries do); each negative is uniform over the user's non-positive items
  (:func:`sample_negatives`).

  Args:
    key: a PRNG key.
    index: the training positives (at least one valid row).
    batch_size: static number of triples ``B``.

  Returns:
    A :class:`BPRBatch` of ``(B,) int32`` arrays.
  """
  k_pos, k_neg = jax.random.split(key)
  row = jax.random.randint(k_pos, (batch_size,), 0, index.num_valid, dtype=jnp.int32)
  users = index.users[row]
  return BPRBatch(users, index.items[row], sample_negatives(k_neg, index, users))


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
