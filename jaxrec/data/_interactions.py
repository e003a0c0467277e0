"""The interactions pytree and the dataset container.

``Interactions`` is the one data type every jaxrec function takes: dense integer user and item ids,
optional ratings and timestamps, and the (static) sizes of the id spaces. It is a
``flax.struct`` dataclass, so it passes through ``jit``/``vmap`` as a pytree; the id-space sizes
are static fields because they fix array shapes downstream.

Host-side preprocessing (loading, id remapping, splitting) works on NumPy arrays inside the same
type; jitted code receives them as device arrays.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from flax import struct

from jaxrec.typing import Array, ArrayLike

__all__ = ["Dataset", "Interactions", "from_arrays", "concatenate"]


@struct.dataclass(kw_only=True)
class Interactions:
  """User-item interactions with dense ids.

  Attributes:
    users: ``(N,) int32`` dense user ids in ``[0, num_users)``.
    items: ``(N,) int32`` dense item ids in ``[0, num_items)``.
    ratings: ``(N,) float32`` explicit ratings, or ``None`` for implicit feedback.
    timestamps: ``(N,) int64`` Unix seconds, or ``None`` when the source has none.
    num_users: static size of the user id space (users with no interaction count).
    num_items: static size of the item id space (the catalogue).

  Build instances with :func:`from_arrays` (which validates); the raw constructor does not
  validate so that JAX can rebuild the pytree from tracers.
  """

  users: Array
  items: Array
  ratings: Array | None = None
  timestamps: Array | None = None
  num_users: int = struct.field(pytree_node=False)
  num_items: int = struct.field(pytree_node=False)

  def __len__(self) -> int:
    return int(np.shape(self.users)[0])

  @property
  def num_interactions(self) -> int:
    """Number of rows ``N``."""
    return len(self)

  def select(self, mask_or_index: ArrayLike) -> "Interactions":
    """Rows selected by a boolean mask ``(N,)`` or an index array, same id spaces (host-side)."""
    sel = np.asarray(mask_or_index)

    def take(a):
      return None if a is None else np.asarray(a)[sel]

    return Interactions(
        users=take(self.users),
        items=take(self.items),
        ratings=take(self.ratings),
        timestamps=take(self.timestamps),
        num_users=self.num_users,
        num_items=self.num_items,
    )


def from_arrays(
    users: ArrayLike,
    items: ArrayLike,
    *,
    num_users: int | None = None,
    num_items: int | None = None,
    ratings: ArrayLike | None = None,
    timestamps: ArrayLike | None = None,
) -> Interactions:
  """Validated :class:`Interactions` from dense-id arrays (host-side, NumPy).

  Args:
    users: ``(N,)`` integer dense user ids.
    items: ``(N,)`` integer dense item ids.
    num_users: size of the user id space; defaults to ``max(users) + 1`` (0 when empty).
    num_items: size of the item id space; defaults to ``max(items) + 1`` (0 when empty).
    ratings: optional ``(N,)`` real ratings (stored as float32; must be finite).
    timestamps: optional ``(N,)`` integer timestamps (stored as int64).

  Returns:
    An :class:`Interactions` holding NumPy arrays (``int32`` ids).

  Raises:
    ValueError: arrays are not 1-D or differ in length; ids are not integers; an id is negative
      or not below ``num_users``/``num_items`` (JAX would otherwise clamp such gathers silently);
      ratings are not finite; the id spaces exceed int32.
  """
  u = _int_vector(users, "users")
  i = _int_vector(items, "items")
  n = u.shape[0]
  if i.shape[0] != n:
    raise ValueError(f"users and items differ in length: {n} != {i.shape[0]}")
  if num_users is None:
    num_users = int(u.max()) + 1 if n else 0
  if num_items is None:
    num_items = int(i.max()) + 1 if n else 0
  num_users, num_items = int(num_users), int(num_items)
  for name, ids, size in (("user", u, num_users), ("item", i, num_items)):
    if size < 0 or size >= 2**31:
      raise ValueError(f"num_{name}s={size} is outside [0, 2**31)")
    if n and (ids.min() < 0 or ids.max() >= size):
      bad = int(np.flatnonzero((ids < 0) | (ids >= size))[0])
      raise ValueError(
          f"{name} id {int(ids[bad])} at row {bad} is outside [0, num_{name}s={size})")
  r = None
  if ratings is not None:
    r = np.asarray(ratings)
    if r.shape != (n,):
      raise ValueError(f"ratings has shape {r.shape}, expected ({n},)")
    if not np.issubdtype(r.dtype, np.number):
      raise ValueError(f"ratings must be numeric, got dtype {r.dtype}")
    r = r.astype(np.float32)
    if not np.all(np.isfinite(r)):
      bad = int(np.flatnonzero(~np.isfinite(r))[0])
      raise ValueError(f"rating at row {bad} is not finite: {r[bad]}")
  t = None
  if timestamps is not None:
    t = _int_vector(timestamps, "timestamps").astype(np.int64)
    if t.shape[0] != n:
      raise ValueError(f"timestamps has length {t.shape[0]}, expected {n}")
  return Interactions(
      users=u.astype(np.int32),
      items=i.astype(np.int32),
      ratings=r,
      timestamps=t,
      num_users=num_users,
      num_items=num_items,
  )


def concatenate(parts: list[Interactions]) -> Interactions:
  """Rows of several :class:`Interactions` over the same id spaces, in order (host-side).

  Raises:
    ValueError: no parts, differing id spaces, or ratings/timestamps present in some parts only.
  """
  if not parts:
    raise ValueError("concatenate needs at least one Interactions")
  nu, ni = parts[0].num_users, parts[0].num_items
  for p in parts:
    if (p.num_users, p.num_items) != (nu, ni):
      raise ValueError(
          f"id spaces differ: ({p.num_users}, {p.num_items}) vs ({nu}, {ni})")

  def cat(field):
    vals = [getattr(p, field) for p in parts]
    if all(v is None for v in vals):
      return None
    if any(v is None for v in vals):
      raise ValueError(f"{field} present in some parts only")
    return np.concatenate([np.asarray(v) for v in vals])

  return Interactions(
      users=cat("users"), items=cat("items"), ratings=cat("ratings"),
      timestamps=cat("timestamps"), num_users=nu, num_items=ni)


def _int_vector(x: ArrayLike, name: str) -> np.ndarray:
  a = np.asarray(x)
  if a.ndim != 1:
    raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
  if a.size and not np.issubdtype(a.dtype, np.integer):
    if np.issubdtype(a.dtype, np.floating) and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
      return a.astype(np.int64)
    raise ValueError(f"{name} must hold integers, got dtype {a.dtype}")
  return a.astype(np.int64)


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Interactions plus the raw-id maps and provenance of a loaded dataset.

  Attributes:
    interactions: all interactions, or the training part when ``test`` is given.
    user_ids: ``(num_users,)`` raw user id of each dense user id (``user_ids[u]``): ``int64``,
      or a NumPy ``str`` array for string ids (e.g. user names).
    item_ids: ``(num_items,)`` raw item id of each dense item id (``int64`` or ``str``, e.g.
      Amazon ASINs).
    name: a short name for reports.
    test: a predefined held-out split over the same id spaces (e.g. published leave-one-out
      files), or ``None`` when the caller splits ``interactions`` itself.
    notes: human-readable records of what loading changed (e.g. merged duplicates), so that
      nothing is changed silently.
  """

  interactions: Interactions
  user_ids: np.ndarray
  item_ids: np.ndarray
  name: str = ""
  test: Interactions | None = None
  notes: tuple[str, ...] = ()

  def __post_init__(self):
    if len(self.user_ids) != self.interactions.num_users:
      raise ValueError(
          f"user_ids has {len(self.user_ids)} entries, num_users={self.interactions.num_users}")
    if len(self.item_ids) != self.interactions.num_items:
      raise ValueError(
          f"item_ids has {len(self.item_ids)} entries, num_items={self.interactions.num_items}")
    if self.test is not None and (
        (self.test.num_users, self.test.num_items)
        != (self.interactions.num_users, self.interactions.num_items)):
      raise ValueError("test interactions use different id spaces than interactions")
