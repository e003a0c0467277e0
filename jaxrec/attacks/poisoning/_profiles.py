"""Fake user profiles as fixed-capacity arrays, and what the attacker knows about the data.

A batch of fake profiles has a static capacity ``F`` (fake users) and ``L`` slots per profile
(the targets, then the selected items, then the fillers). Which fake users take part is a mask
(``active = arange(F) < num_fake`` with a traced ``num_fake``), so attacks of different sizes share
one compiled program and can be ``vmap``-ed. Slots carry explicit ratings on the data's scale;
the victim's feedback rule decides which slots become interactions (:meth:`FakeProfiles.mask`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrec import _checks
from jaxrec.data._interactions import Interactions
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["AttackKnowledge", "FakeProfiles", "attacker_knowledge", "sample_distinct"]


@struct.dataclass(kw_only=True)
class FakeProfiles:
  """Fake profiles of capacity ``F`` users x ``L`` slots.

  Attributes:
    items: ``(F, L) int32`` item of each slot (distinct within a profile).
    ratings: ``(F, L) float32`` rating of each slot on the data's scale.
    negative: ``(F, L) bool`` slots the recipe rates at the scale minimum as *negative* feedback
      (nuke targets, segment fillers, reverse-bandwagon items).
    active: ``(F,) bool`` fake users that take part (``arange(F) < num_fake``).
    positive_threshold: static minimum rating the victim counts as an interaction, or ``None``
      when the victim counts every interaction (implicit feedback).
  """

  items: Array
  ratings: Array
  negative: Array
  active: Array
  positive_threshold: float | None = struct.field(pytree_node=False, default=None)

  @property
  def capacity(self) -> int:
    """Static number of fake-user rows ``F``."""
    return int(self.items.shape[0])

  def mask(self) -> Array:
    """``(F, L) bool`` slots that become interactions of the victim.

    A negative slot (a dislike by design) is never an interaction: a victim that counts every
    interaction cannot receive a dislike, so the attacker leaves the item out, and a victim that
    binarises ratings drops it. With a ``positive_threshold`` (explicit data binarised by the
    victim) the other slots count when their rating is at or above it; without one, they all
    count.
    """
    keep = ~self.negative
    if self.positive_threshold is not None:
      keep = keep & (self.ratings >= self.positive_threshold)
    return keep & self.active[:, None]


@struct.dataclass(kw_only=True)
class AttackKnowledge:
  """Statistics of the (clean) training data an attacker uses (high-knowledge threat model).

  Attributes:
    item_count: ``(I,) float32`` interactions per item.
    item_mean: ``(I,) float32`` mean rating per item (the global mean where an item has none).
    item_std: ``(I,) float32`` rating standard deviation per item (the global one where < 2).
    global_mean, global_std: ``() float32`` over all ratings.
    power_items: ``(P, M) int32`` profiles of the ``P`` most active real users (power users),
      padded; power_ratings: ``(P, M) float32``; power_mask: ``(P, M) bool``.
    rating_min, rating_max: static rating scale (0 and 1 for implicit data).
    integer_ratings: static; generated ratings are rounded when True.
    positive_threshold: static feedback rule of the victim (see :class:`FakeProfiles`).
    num_users: static number of real users. num_items: static catalogue size.
  """

  num_users: int = struct.field(pytree_node=False)
  num_items: int = struct.field(pytree_node=False)
  rating_min: float = struct.field(pytree_node=False)
  rating_max: float = struct.field(pytree_node=False)
  integer_ratings: bool = struct.field(pytree_node=False)
  positive_threshold: float | None = struct.field(pytree_node=False)
  item_count: Array
  item_mean: Array
  item_std: Array
  global_mean: Array
  global_std: Array
  power_items: Array
  power_ratings: Array
  power_mask: Array

  def clip(self, ratings: Array) -> Array:
    """Ratings clipped to the scale and rounded when the data's ratings are integers."""
    r = jnp.clip(ratings, self.rating_min, self.rating_max)
    return jnp.round(r) if self.integer_ratings else r


def attacker_knowledge(
    train: Interactions,
    *,
    positive_threshold: float | None = None,
    num_power_users: int = 50,
    rating_scale: tuple[float, float] | None = None,
) -> AttackKnowledge:
  """What a high-knowledge attacker knows: rating statistics, popularity, power users.

  Host-side, from the clean training interactions (the attacker never sees the test split).
  When the victim binarises ratings at a threshold, pass the training ratings *before*
  binarisation (the platform's rating distribution), so that the scale and the rating
  statistics are the real ones.

  Args:
    train: training interactions (ratings optional; ``None`` = implicit, every rating 1).
    positive_threshold: the victim's feedback rule: the minimum rating it counts as an
      interaction, or ``None`` when it counts every interaction (implicit feedback).
    num_power_users: how many of the most active users (by number of interactions, ties by id)
      the power-user attack may copy.
    rating_scale: ``(min, max)``; default the observed range (``(0, 1)`` for implicit data;
      ``(0, v)`` when every observed rating is the same ``v > 0``, e.g. clicks all rated 1).

  Returns:
    An :class:`AttackKnowledge`.

  Raises:
    ValueError: empty training data, a bad ``rating_scale`` (or none given when every rating is
      the same value ``<= 0``), a ``num_power_users`` that is not
      an integer >= 1, a ``positive_threshold`` that is not a finite number.
  """
  n = len(train)
  if n == 0:
    raise ValueError("attacker_knowledge needs training interactions")
  num_power_users = _checks.integer("num_power_users", num_power_users, low=1)
  if positive_threshold is not None:
    _checks.real("positive_threshold", positive_threshold, low=None)
  users = np.asarray(train.users, np.int64)
  items = np.asarray(train.items, np.int64)
  implicit = train.ratings is None
  r = np.ones(n, np.float64) if implicit else np.asarray(train.ratings, np.float64)
  ni = train.num_items
  count = np.bincount(items, minlength=ni).astype(np.float64)
  total = np.bincount(items, weights=r, minlength=ni)
  sq = np.bincount(items, weights=r * r, minlength=ni)
  gmean, gstd = float(r.mean()), float(r.std())
  mean = np.where(count > 0, total / np.maximum(count, 1), gmean)
  var = np.where(count > 1, sq / np.maximum(count, 1) - mean**2, gstd**2)
  if rating_scale is None:
    rating_scale = (0.0, 1.0) if implicit else (float(r.min()), float(r.max()))
    if rating_scale[0] == rating_scale[1]:
      # every rating is the same (clicks, purchases: all 1): an interaction carries no grade,
      # so the scale is "no interaction" (0) to "interaction" (that value), as implicit data
      if rating_scale[1] <= 0:
        raise ValueError(f"every training rating is {rating_scale[1]}: no rating scale can be "
                         "inferred; pass rating_scale=(min, max)")
      rating_scale = (0.0, rating_scale[1])
  lo, hi = map(float, rating_scale)
  if not lo < hi:
    raise ValueError(f"rating_scale must be (min, max) with min < max, got {rating_scale}")
  degree = np.bincount(users, minlength=train.num_users)
  power = np.lexsort((np.arange(train.num_users), -degree))[:min(num_power_users,
                                                                  train.num_users)]
  width = max(1, int(degree[power].max()))
  p_items = np.zeros((power.size, width), np.int32)
  p_ratings = np.zeros((power.size, width), np.float32)
  p_mask = np.zeros((power.size, width), bool)
  order = np.argsort(users, kind="stable")
  starts = np.searchsorted(users[order], power)
  for row, (u, s) in enumerate(zip(power, starts)):
    rows = order[s:s + degree[u]]
    # one slot per distinct item (the last row of a repeated pair, as the loaders keep)
    _, last = np.unique(items[rows][::-1], return_index=True)
    rows = rows[::-1][last]
    p_items[row, :rows.size] = items[rows]
    p_ratings[row, :rows.size] = r[rows]
    p_mask[row, :rows.size] = True
  return AttackKnowledge(
      item_count=jnp.asarray(count, jnp.float32), item_mean=jnp.asarray(mean, jnp.float32),
      item_std=jnp.asarray(np.sqrt(np.maximum(var, 0.0)), jnp.float32),
      global_mean=jnp.float32(gmean), global_std=jnp.float32(gstd),
      power_items=jnp.asarray(p_items), power_ratings=jnp.asarray(p_ratings),
      power_mask=jnp.asarray(p_mask), rating_min=lo, rating_max=hi,
      integer_ratings=bool(np.all(r == np.round(r))), positive_threshold=positive_threshold,
      num_users=train.num_users, num_items=ni)


def sample_distinct(key: PRNGKey, allowed: ArrayLike, num: int,
                    log_weights: ArrayLike | None = None) -> Array:
  """``num`` distinct items per row, drawn without replacement (Gumbel top-k; jittable).

  Uniform over the allowed items, or proportional to ``exp(log_weights)`` in the sequential
  sampling-without-replacement sense (Kool, van Hoof, Welling, ICML 2019, "Stochastic Beams and
  Where to Find Them", Gumbel-top-k).

  Args:
    key: a PRNG key.
    allowed: ``(R, I) bool`` items each row may draw (at least ``num`` True per row; checked by
      the callers' host-side validation, not here).
    num: static number of items per row.
    log_weights: optional ``(R, I)`` or ``(I,)`` log-weights.

  Returns:
    ``(R, num) int32`` item ids (order random).
  """
  allowed = jnp.asarray(allowed, bool)
  g = jax.random.gumbel(key, allowed.shape, jnp.float32)
  if log_weights is not None:
    g = g + jnp.asarray(log_weights, jnp.float32)
  _, idx = jax.lax.top_k(jnp.where(allowed, g, -jnp.inf), num)
  return idx.astype(jnp.int32)
