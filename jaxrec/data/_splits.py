"""Per-user train/test splits: leave-one-out and random hold-out (host-side, NumPy).

Both splits keep the id spaces (``num_users``, ``num_items``) of their input, keep rows in their
original relative order within each part, never modify the input, and are deterministic: the
same input and ``seed`` give identical output (NumPy ``default_rng(seed)``).
"""

from __future__ import annotations

import numpy as np

from jaxrec.data._interactions import Interactions

__all__ = ["leave_one_out", "random_holdout"]


def leave_one_out(
    interactions: Interactions, *, seed: int = 0
) -> tuple[Interactions, Interactions]:
  """Holds out one interaction per user: the latest one, or a random one without timestamps.

  With timestamps, each user's test interaction is the one with the largest timestamp; among
  rows sharing that timestamp, the one further down (larger row index) is held out. When
  ``timestamps`` is ``None``, each user's test interaction is drawn uniformly at random with
  ``numpy.random.default_rng(seed)`` (``seed`` is ignored when there are timestamps). Users with
  fewer than 2 interactions keep all of them in train (they get no test interaction), so no user
  is left without training data.

  Args:
    interactions: ``N`` rows; ``users`` ``(N,) int32``, optional ``timestamps`` ``(N,) int64``.
    seed: seed of the random choice when there are no timestamps.

  Returns:
    ``(train, test)`` over the same id spaces; ``test`` has one row per user with at least 2
    interactions, ``train`` the remaining rows, each part in original row order.

  References:
    He et al., "Neural Collaborative Filtering", WWW 2017 (leave-one-out by latest interaction);
    Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback", UAI 2009.
  """
  users = np.asarray(interactions.users, np.int64)
  n = users.shape[0]
  position = np.arange(n)
  if interactions.timestamps is not None:
    secondary = np.asarray(interactions.timestamps, np.int64)
  else:
    secondary = np.random.default_rng(seed).random(n)
  # Sorted by user, then timestamp (or random key), then row: the last row of each user's run.
  order = np.lexsort((position, secondary, users))
  sorted_users = users[order]
  last = np.append(sorted_users[1:] != sorted_users[:-1], True) if n else np.zeros(0, bool)
  counts = np.bincount(users, minlength=interactions.num_users)
  held = order[last & (counts[sorted_users] >= 2)]
  is_test = np.zeros(n, bool)
  is_test[held] = True
  return interactions.select(~is_test), interactions.select(is_test)


def random_holdout(
    interactions: Interactions, *, test_ratio: float, seed: int = 0
) -> tuple[Interactions, Interactions]:
  """Holds out a random fraction of each user's interactions.

  User ``u`` with ``n_u`` interactions gets ``min(round(test_ratio * n_u), n_u - 1)`` of them,
  chosen uniformly at random with ``numpy.random.default_rng(seed)``, in test; ``round`` is
  Python's (half to even, e.g. ``round(2.5) == 2``). At least one interaction of every user stays
  in train, so users with a single interaction have none in test.

  Args:
    interactions: ``N`` rows; ``users`` ``(N,) int32``.
    test_ratio: fraction of each user's interactions to hold out, strictly between 0 and 1.
    seed: seed of the random choice.

  Returns:
    ``(train, test)`` over the same id spaces, each in original row order.

  Raises:
    ValueError: ``test_ratio`` is not strictly between 0 and 1.
  """
  test_ratio = float(test_ratio)
  if not 0.0 < test_ratio < 1.0:
    raise ValueError(f"test_ratio must be strictly between 0 and 1, got {test_ratio}")
  users = np.asarray(interactions.users, np.int64)
  n = users.shape[0]
  counts = np.bincount(users, minlength=interactions.num_users)
  num_test = np.minimum(np.rint(test_ratio * counts).astype(np.int64), np.maximum(counts - 1, 0))
  key = np.random.default_rng(seed).random(n)
  order = np.lexsort((key, users))  # each user's rows in random order
  sorted_users = users[order]
  group_start = np.concatenate([[0], np.cumsum(counts)[:-1]]) if counts.size else counts
  rank = np.arange(n) - group_start[sorted_users]
  is_test = np.zeros(n, bool)
  is_test[order[rank < num_test[sorted_users]]] = True
  return interactions.select(~is_test), interactions.select(is_test)
