"""Shared pieces of the shilling detectors: input checks, unique rows, flagging and scoring.

The detectors (:func:`jaxrec.defenses.pca_suspicion`, :func:`jaxrec.defenses.profile_suspicion`)
run on the poisoned training data and return a suspicion score per user, higher = more
suspicious; :func:`flag_top` turns scores into a flagged set and :func:`detection_metrics` scores
that set against the known fake users (which the detectors never see).

Duplicated (user, item) rows count once; for explicit data the rating of the *last* such row in
input order is kept (the loaders keep the latest row too). Implicit data (``ratings is None``)
has value 1 on every unique row.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec import _checks
from jaxrec.data._interactions import Interactions
from jaxrec.typing import Array, ArrayLike

__all__ = ["detection_metrics", "flag_top"]


class _Rows(NamedTuple):
  """Unique interaction rows sorted by (user, item), fixed capacity ``N`` (padding at the end)."""

  users: Array  # (N,) int32, ascending; padding rows hold num_users
  items: Array  # (N,) int32; padding rows hold 0
  values: Array  # (N,) float32 rating (1 for implicit data); padding rows hold 0
  valid: Array  # (N,) float32, 1 on unique rows, 0 on padding
  indptr: Array  # (num_users + 1,) int32; user u owns rows indptr[u]:indptr[u + 1]


@functools.partial(jax.jit, static_argnames=("num_users", "num_items"))
def _unique_rows(users: Array, items: Array, values: Array, *, num_users: int,
                 num_items: int) -> _Rows:
  """Sorts rows by (user, item) and keeps the last row (input order) of each duplicate group."""
  n = users.shape[0]
  order = jnp.arange(n, dtype=jnp.int32)
  u, i, _, r = jax.lax.sort((users, items, order, values), num_keys=3)
  last = jnp.ones((n,), bool).at[:-1].set((u[:-1] != u[1:]) | (i[:-1] != i[1:]))
  u = jnp.where(last, u, num_users)
  i = jnp.where(last, i, 0)
  r = jnp.where(last, r, 0.0)
  u, i, r = jax.lax.sort((u, i, r), num_keys=2)  # duplicates move to the end
  valid = u < num_users
  counts = jax.ops.segment_sum(valid.astype(jnp.int32), u, num_segments=num_users)
  indptr = jnp.concatenate([jnp.zeros((1,), jnp.int32), jnp.cumsum(counts, dtype=jnp.int32)])
  return _Rows(users=u, items=i, values=r.astype(jnp.float32),
               valid=valid.astype(jnp.float32), indptr=indptr)


def _prepare(interactions: Interactions) -> tuple[_Rows, bool]:
  """Validates ``interactions`` and returns its unique rows and whether ratings are present.

  Raises:
    TypeError: ``interactions`` is not an :class:`~jaxrec.data.Interactions`.
    ValueError: an empty id space, arrays of different lengths or not 1-D, non-integer ids, ids
      out of range (JAX would clamp such gathers silently), or non-finite ratings.
  """
  if not isinstance(interactions, Interactions):
    raise TypeError(f"expected jaxrec.data.Interactions, got {type(interactions).__name__}")
  nu, ni = int(interactions.num_users), int(interactions.num_items)
  if nu <= 0 or ni <= 0:
    raise ValueError(f"empty id space: num_users={nu}, num_items={ni}")
  u = np.asarray(interactions.users)
  i = np.asarray(interactions.items)
  if u.ndim != 1 or i.ndim != 1 or u.shape != i.shape:
    raise ValueError(f"users and items must be 1-D of equal length, got {u.shape}, {i.shape}")
  for name, ids, size in (("user", u, nu), ("item", i, ni)):
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
      raise ValueError(f"{name} ids must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= size):
      raise ValueError(
          f"{name} ids must lie in [0, {size}), got range [{ids.min()}, {ids.max()}]")
  explicit = interactions.ratings is not None
  if explicit:
    r = np.asarray(interactions.ratings, np.float32)
    if r.shape != u.shape:
      raise ValueError(f"ratings has shape {r.shape}, expected {u.shape}")
    if not np.all(np.isfinite(r)):
      raise ValueError("ratings must be finite")
  else:
    r = np.ones(u.shape, np.float32)
  rows = _unique_rows(u.astype(np.int32), i.astype(np.int32), r, num_users=nu, num_items=ni)
  return rows, explicit


def flag_top(scores: ArrayLike, num_flag: int) -> np.ndarray:
  """Flags the ``num_flag`` users with the highest suspicion scores (host-side).

  Ties are broken by lower user id, so the result is deterministic.

  Args:
    scores: ``(U,)`` real suspicion scores, higher = more suspicious (no NaN).
    num_flag: number of users to flag, in ``[0, U]``.

  Returns:
    ``(U,) bool`` NumPy mask with exactly ``num_flag`` True entries.

  Raises:
    ValueError: ``scores`` is not 1-D or holds NaN; ``num_flag`` is not an integer in ``[0, U]``.
  """
  s = np.asarray(scores, np.float64)
  if s.ndim != 1:
    raise ValueError(f"scores must be 1-D (one per user), got shape {s.shape}")
  if np.isnan(s).any():
    raise ValueError("scores hold NaN")
  num_flag = _checks.integer("num_flag", num_flag, low=0, high=s.shape[0])
  order = np.lexsort((np.arange(s.shape[0]), -s))  # by score descending, then id ascending
  flagged = np.zeros(s.shape[0], bool)
  flagged[order[:num_flag]] = True
  return flagged


def _as_mask(x: ArrayLike, name: str) -> np.ndarray:
  a = np.asarray(x)
  if a.ndim != 1:
    raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
  if a.dtype != bool:
    if not (np.issubdtype(a.dtype, np.number) and np.isin(a, (0, 1)).all()):
      raise ValueError(f"{name} must be boolean (or 0/1), got dtype {a.dtype}")
    a = a.astype(bool)
  return a


def detection_metrics(flagged: ArrayLike, is_fake: ArrayLike) -> dict[str, float | int]:
  """Quality of a flagged set of users against the ground truth of injected fake users.

  Args:
    flagged: ``(U,) bool`` users flagged by a detector (e.g. from :func:`flag_top`).
    is_fake: ``(U,) bool`` ground truth, True for injected fake users.

  Returns:
    A dict of plain Python numbers:

    * ``precision``: flagged fakes / flagged users (0.0 when nothing is flagged);
    * ``recall``: flagged fakes / fake users (0.0 when there are no fakes);
    * ``f1``: harmonic mean of precision and recall (0.0 when both are 0);
    * ``survival``: share of fake users *not* flagged, ``1 - recall`` (0.0 when there are no
      fakes: nothing can survive);
    * ``flagged``: number of flagged users (int);
    * ``fake``: number of fake users (int);
    * ``random_precision``: expected precision of flagging the same number of users uniformly
      at random, ``fake / U`` (the baseline a detector must beat; 0.0 when ``U == 0``).

  Raises:
    ValueError: arrays not 1-D, of different lengths, or not boolean/0-1.
  """
  f = _as_mask(flagged, "flagged")
  t = _as_mask(is_fake, "is_fake")
  if f.shape != t.shape:
    raise ValueError(f"flagged and is_fake differ in length: {f.shape[0]} != {t.shape[0]}")
  num_flagged, num_fake = int(f.sum()), int(t.sum())
  hits = int((f & t).sum())
  precision = hits / num_flagged if num_flagged else 0.0
  recall = hits / num_fake if num_fake else 0.0
  f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
  return {
      "precision": float(precision),
      "recall": float(recall),
      "f1": float(f1),
      "survival": float(1.0 - recall) if num_fake else 0.0,
      "flagged": num_flagged,
      "fake": num_fake,
      "random_precision": float(num_fake / f.shape[0]) if f.shape[0] else 0.0,
  }


def _zscore(x: Array, population: Array | None = None) -> Array:
  """``(x - mean) / std`` over users (population std); all zeros when ``std == 0``.

  With a ``(U,) bool`` ``population``, mean and std are over those users only and the others
  score 0 (the jittable detectors' unused fake-user slots).
  """
  x = x.astype(jnp.float32)
  if population is None:
    d = x - jnp.mean(x)
    sd = jnp.sqrt(jnp.mean(d * d))
  else:
    p = population.astype(jnp.float32)
    n = jnp.maximum(jnp.sum(p), 1.0)
    d = (x - jnp.sum(p * x) / n) * p
    sd = jnp.sqrt(jnp.sum(d * d) / n)
  return jnp.where(sd > 0, d / jnp.where(sd > 0, sd, 1.0), 0.0)
