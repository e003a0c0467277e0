"""Host-side preprocessing: dense id remapping, duplicate merging, explicit-to-implicit conversion.

All functions here work on NumPy arrays on the host and return new objects; their inputs are never
modified.

Duplicate policy (used by every loader in :mod:`jaxrec.data._io`): a user-item pair that occurs
more than once is ONE interaction. :func:`deduplicate` keeps the row with the latest timestamp;
ties, or data without timestamps, keep the last occurrence in row (file) order.
"""

from __future__ import annotations

import numpy as np

from jaxrec.data._interactions import Interactions
from jaxrec.typing import ArrayLike

__all__ = ["binarize", "deduplicate", "remap_ids"]


def remap_ids(
    raw_users: ArrayLike, raw_items: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """Dense ids for raw user and item ids (integers or strings), assigned in ascending raw-id
  order.

  The smallest raw user id becomes dense user 0, the next smallest 1, and so on (items likewise;
  strings in code-point order), so the mapping does not depend on row order.

  Args:
    raw_users: ``(N,)`` raw user ids: integers (any integer dtype, may be negative or sparse) or
      strings (e.g. Amazon ASINs; a NumPy ``str`` array or a sequence of ``str``).
    raw_items: ``(N,)`` raw item ids, likewise.

  Returns:
    ``(users, items, user_ids, item_ids)``: ``users``/``items`` are ``(N,) int32`` dense ids;
    ``user_ids`` is ``(U,)`` with ``user_ids[users] == raw_users`` (``U`` distinct users),
    ``int64`` for integer ids and a NumPy ``str`` array for string ids; ``item_ids`` likewise.

  Raises:
    ValueError: the arrays are not 1-D, differ in length, or hold neither integers nor strings.

  Source: jaxrec.
  """
  ru = _raw_ids(raw_users, "raw_users")
  ri = _raw_ids(raw_items, "raw_items")
  if ru.shape != ri.shape:
    raise ValueError(f"raw_users and raw_items differ in length: {ru.shape[0]} != {ri.shape[0]}")
  user_ids, users = np.unique(ru, return_inverse=True)
  item_ids, items = np.unique(ri, return_inverse=True)
  return (users.astype(np.int32).reshape(-1), items.astype(np.int32).reshape(-1),
          user_ids, item_ids)


def deduplicate(interactions: Interactions) -> tuple[Interactions, int]:
  """Merges repeated user-item pairs into one interaction each.

  Policy: of all rows with the same ``(user, item)``, keep the one with the latest timestamp; on a
  timestamp tie, or when ``timestamps`` is ``None``, keep the last one in row order. The kept rows
  stay in their original relative order, with all their columns (rating, timestamp).

  Args:
    interactions: ``N`` rows; ``users``/``items`` ``(N,) int``, optional ``timestamps (N,) int64``.

  Returns:
    ``(deduplicated, num_removed)``: an :class:`Interactions` over the same id spaces with
    ``N - num_removed`` rows, and the number of rows dropped (a Python ``int``).
  """
  users = np.asarray(interactions.users, np.int64)
  items = np.asarray(interactions.items, np.int64)
  n = users.shape[0]
  if n == 0:
    return interactions.select(np.arange(0)), 0
  key = users * max(int(interactions.num_items), 1) + items
  position = np.arange(n)
  if interactions.timestamps is None:
    order = np.lexsort((position, key))
  else:
    order = np.lexsort((position, np.asarray(interactions.timestamps, np.int64), key))
  sorted_key = key[order]
  # The last row of each run of equal keys is the latest (then the last in file order).
  last_of_group = np.append(sorted_key[1:] != sorted_key[:-1], True)
  keep = np.sort(order[last_of_group])
  return interactions.select(keep), int(n - keep.shape[0])


def binarize(interactions: Interactions, threshold: float) -> Interactions:
  """Explicit-to-implicit conversion: keeps the rows with ``rating >= threshold``, drops the rest.

  Dropped rows disappear; they are never kept as negatives or as zero ratings (a low rating is not
  treated as evidence of dislike, only as absence of a positive). The kept rows keep their
  ``ratings`` column, unchanged, so that dataset statistics can still report them; implicit models
  simply ignore it. The id spaces (``num_users``, ``num_items``) are unchanged, so users or items
  whose rows were all dropped remain as ids without interactions.

  Args:
    interactions: rows with ``ratings (N,) float32``.
    threshold: minimum rating to keep, in the dataset's rating units (e.g. 4 on MovieLens' 1-5
      stars, 7 on MovieTweetings' 0-10 scale).

  Returns:
    An :class:`Interactions` with the kept rows, in their original order.

  Raises:
    ValueError: ``interactions.ratings`` is ``None``, or ``threshold`` is not a finite number.
  """
  if interactions.ratings is None:
    raise ValueError("binarize needs explicit ratings, but interactions.ratings is None")
  threshold = float(threshold)
  if not np.isfinite(threshold):
    raise ValueError(f"threshold must be finite, got {threshold}")
  return interactions.select(np.asarray(interactions.ratings) >= threshold)


def _raw_ids(x: ArrayLike, name: str) -> np.ndarray:
  a = np.asarray(x)
  if a.ndim != 1:
    raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
  if a.dtype.kind == "U" or (a.dtype == object and a.size
                             and all(isinstance(v, str) for v in a.tolist())):
    return a.astype(str)
  if a.size and not np.issubdtype(a.dtype, np.integer):
    raise ValueError(f"{name} must hold integers or strings, got dtype {a.dtype}")
  return a.astype(np.int64)
