"""Heuristic fake-profile (shilling) attacks: random, average, bandwagon, segment, love/hate,
reverse bandwagon, power user.

Every recipe has the signature ``recipe(key, knowledge, targets, num_fake, *, capacity,
filler_size, intent, ...)`` and returns :class:`jaxrec.attacks.FakeProfiles` of ``capacity``
rows with ``T + filler_size`` slots each: the ``T`` targets, then ``num_selected`` selected items,
then the random fillers. ``key``, ``targets`` and ``num_fake`` may be traced (``vmap`` over them);
the keyword arguments are static. Fillers never include a target or a selected item, and no
profile repeats an item. Ratings are on the data's scale: the target gets the maximum (push) or
the minimum (nuke); generated ratings are clipped to the scale and rounded when the data's
ratings are integers.

Profile anatomy after Lam and Riedl (WWW 2004) and Mobasher, Burke, Bhaumik, Williams, "Toward
trustworthy recommender systems: an analysis of attack models and algorithm robustness", ACM
TOIT 7(4), 2007 (Sec. 3); see also Gunes, Kaleli, Bilge, Polat, "Shilling attacks against
recommender systems: a comprehensive survey", AI Review 42(4), 2014.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec import _checks
from jaxrec.attacks.poisoning._profiles import AttackKnowledge, FakeProfiles, sample_distinct
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["average_attack", "bandwagon_attack", "love_hate_attack", "power_user_attack",
           "random_attack", "reverse_bandwagon_attack", "segment_attack"]

INTENTS = ("push", "nuke")


def _concrete(x) -> bool:
  return _checks.is_concrete(x)


def _check(knowledge: AttackKnowledge, targets, *, capacity: int, filler_size: int,
           intent: str, num_selected: int = 0, nuke_only: bool = False, num_fake=None) -> Array:
  """Argument checks: static arguments always; ``targets`` and ``num_fake`` on the host when
  concrete, under :func:`jaxrec.checked` when traced (under ``vmap`` the pipeline checks
  them). Returns the targets as ``int32``."""
  _checks.choice("intent", intent, INTENTS)
  if nuke_only and intent != "nuke":
    raise ValueError("this attack is a nuke attack: use intent='nuke'")
  _checks.integer("capacity", capacity, low=1)
  targets = _checks.ids("targets", targets, knowledge.num_items, distinct=True, nonempty=True)
  free = knowledge.num_items - targets.shape[0]
  _checks.integer("filler_size", filler_size, low=0, high=free)
  _checks.integer("num_selected", num_selected, low=0, high=filler_size)
  if num_fake is not None:
    if _concrete(num_fake):
      _checks.integer("num_fake", np.asarray(num_fake)[()], low=0, high=capacity)
    else:
      if not jnp.issubdtype(jnp.result_type(num_fake), jnp.integer) or jnp.ndim(num_fake):
        raise ValueError(f"num_fake must be an integer scalar, got a traced "
                         f"{jnp.result_type(num_fake)}{tuple(jnp.shape(num_fake))}")
      _checks.check_traced(
          (num_fake >= 0) & (num_fake <= capacity),
          f"num_fake must lie in [0, capacity={capacity}], got {{n}}", n=num_fake)
  return targets


def _active(num_fake, capacity: int) -> Array:
  return jnp.arange(capacity) < num_fake


def _assemble(knowledge: AttackKnowledge, targets: Array, intent: str, capacity: int,
              num_fake, parts: list[tuple[Array, Array, Array]]) -> FakeProfiles:
  """Concatenates the target slots and ``(items, ratings, negative)`` parts along slots."""
  t = targets.shape[0]
  nuke = intent == "nuke"
  t_rating = knowledge.rating_min if nuke else knowledge.rating_max
  items = [jnp.broadcast_to(targets.astype(jnp.int32), (capacity, t))]
  ratings = [jnp.full((capacity, t), t_rating, jnp.float32)]
  negative = [jnp.full((capacity, t), nuke)]
  for it, r, neg in parts:
    items.append(it.astype(jnp.int32))
    ratings.append(r.astype(jnp.float32))
    negative.append(jnp.broadcast_to(neg, it.shape))
  return FakeProfiles(
      items=jnp.concatenate(items, axis=1), ratings=jnp.concatenate(ratings, axis=1),
      negative=jnp.concatenate(negative, axis=1), active=_active(num_fake, capacity),
      positive_threshold=knowledge.positive_threshold)


def _excluding(knowledge: AttackKnowledge, capacity: int, *taken: Array) -> Array:
  """``(capacity, I) bool``: items not among ``taken`` (``(T,)`` or ``(capacity, S)`` ids)."""
  allowed = jnp.ones((capacity, knowledge.num_items), bool)
  rows = jnp.arange(capacity)[:, None]
  for ids in taken:
    ids = jnp.broadcast_to(jnp.atleast_2d(ids), (capacity, jnp.atleast_2d(ids).shape[-1]))
    allowed = allowed.at[rows, ids].set(False)
  return allowed


def _random_fillers(key: PRNGKey, knowledge: AttackKnowledge, capacity: int, num: int,
                    *taken: Array) -> Array:
  return sample_distinct(key, _excluding(knowledge, capacity, *taken), num)


def _global_ratings(key, knowledge: AttackKnowledge, shape) -> Array:
  noise = jax.random.normal(key, shape, jnp.float32)
  return knowledge.clip(knowledge.global_mean + knowledge.global_std * noise)


def _top_items(score: Array, allowed: Array, num: int) -> Array:
  """The ``num`` items with the highest ``score`` among ``allowed`` (ties by lower id)."""
  _, idx = jax.lax.top_k(jnp.where(allowed, score, -jnp.inf), num)
  return idx.astype(jnp.int32)


def random_attack(key: PRNGKey, knowledge: AttackKnowledge, targets: ArrayLike, num_fake, *,
                  capacity: int, filler_size: int, intent: str = "push") -> FakeProfiles:
  """Random attack: uniform random fillers rated ~ N(global mean, global std).

  Low knowledge (only the global rating distribution). Lam and Riedl, "Shilling recommender
  systems for fun and profit", WWW 2004; Mobasher et al., ACM TOIT 2007, Sec. 3.1.

  Args:
    key: PRNG key (fillers and ratings).
    knowledge: :func:`jaxrec.attacks.attacker_knowledge` of the clean training data.
    targets: ``(T,) int32`` target items.
    num_fake: number of active fake users (``<= capacity``; may be traced).
    capacity: static number of fake-user rows ``F``.
    filler_size: static number of non-target items per profile.
    intent: ``"push"`` (target rated max) or ``"nuke"`` (target rated min).

  Returns:
    :class:`FakeProfiles` of shape ``(F, T + filler_size)``.

  Raises:
    ValueError: bad static arguments (intent, sizes); targets empty, repeated or out of range,
      ``num_fake`` outside ``[0, capacity]`` (when concrete; under ``jit`` see
      :func:`jaxrec.checked`).
  """
  targets = _check(knowledge, targets, capacity=capacity, filler_size=filler_size, intent=intent,
         num_fake=num_fake)
  k_items, k_rate = jax.random.split(key)
  fill = _random_fillers(k_items, knowledge, capacity, filler_size, targets)
  return _assemble(knowledge, targets, intent, capacity, num_fake,
                   [(fill, _global_ratings(k_rate, knowledge, fill.shape), False)])


def average_attack(key: PRNGKey, knowledge: AttackKnowledge, targets: ArrayLike, num_fake, *,
                   capacity: int, filler_size: int, intent: str = "push") -> FakeProfiles:
  """Average attack: uniform random fillers rated ~ N(item mean, item std) of each filler.

  High knowledge (per-item rating means). Lam and Riedl, WWW 2004; Mobasher et al., ACM TOIT
  2007, Sec. 3.1. Arguments, returns and errors as :func:`random_attack`.
  """
  targets = _check(knowledge, targets, capacity=capacity, filler_size=filler_size, intent=intent,
         num_fake=num_fake)
  k_items, k_rate = jax.random.split(key)
  fill = _random_fillers(k_items, knowledge, capacity, filler_size, targets)
  noise = jax.random.normal(k_rate, fill.shape, jnp.float32)
  ratings = knowledge.clip(knowledge.item_mean[fill] + knowledge.item_std[fill] * noise)
  return _assemble(knowledge, targets, intent, capacity, num_fake, [(fill, ratings, False)])


def bandwagon_attack(key: PRNGKey, knowledge: AttackKnowledge, targets: ArrayLike, num_fake, *,
                     capacity: int, filler_size: int, num_selected: int = 1,
                     intent: str = "push") -> FakeProfiles:
  """Bandwagon attack: the ``num_selected`` most popular items rated max, plus random fillers
  rated ~ N(global mean, global std).

  Popular items make the fake users look similar to many real users. Mobasher et al., ACM TOIT
  2007, Sec. 3.2 (Burke, Mobasher, Bhaumik, "Limited knowledge shilling attacks in
  collaborative filtering systems", IJCAI 2005 workshop). ``num_selected`` is part of the
  ``filler_size`` budget. Other arguments as :func:`random_attack`.
  """
  targets = _check(knowledge, targets, capacity=capacity, filler_size=filler_size, intent=intent,
         num_selected=num_selected, num_fake=num_fake)
  k_items, k_rate = jax.random.split(key)
  not_target = _excluding(knowledge, 1, targets)[0]
  sel = _top_items(knowledge.item_count, not_target, num_selected)
  sel = jnp.broadcast_to(sel, (capacity, num_selected))
  fill = _random_fillers(k_items, knowledge, capacity, filler_size - num_selected, targets, sel)
  return _assemble(knowledge, targets, intent, capacity, num_fake, [
      (sel, jnp.full(sel.shape, knowledge.rating_max), False),
      (fill, _global_ratings(k_rate, knowledge, fill.shape), False)])


def segment_attack(key: PRNGKey, knowledge: AttackKnowledge, targets: ArrayLike, num_fake, *,
                   segment: ArrayLike, capacity: int, filler_size: int, num_selected: int,
                   intent: str = "push") -> FakeProfiles:
  """Segment attack: the most popular items of the target's segment (e.g. its genre) rated max,
  random fillers rated min, target max.

  Aims the push at the users who like the segment. Mobasher, Burke, Bhaumik, Williams,
  "Effective attack models for shilling item-based collaborative filtering systems", WebKDD
  2005; Mobasher et al., ACM TOIT 2007, Sec. 3.3. The min-rated fillers are negative feedback:
  a victim that counts every interaction drops them (:meth:`FakeProfiles.mask`).

  The other arguments are those of :func:`random_attack`.

  Args:
    segment: ``(I,) bool`` items of the segment (concrete; at least ``num_selected`` of them are
      not targets).
    num_selected: segment items per profile (part of the ``filler_size`` budget).

  Returns:
    :class:`FakeProfiles` of shape ``(F, T + filler_size)``.

  Raises:
    ValueError: as :func:`random_attack`; ``segment`` not an ``(I,)`` mask; fewer than
      ``num_selected`` non-target items in the segment (when concrete).

  Source:
    Mobasher et al., WebKDD 2005; ACM TOIT 2007, Sec. 3.3.
  """
  targets = _check(knowledge, targets, capacity=capacity, filler_size=filler_size, intent=intent,
         num_selected=num_selected, num_fake=num_fake)
  segment = jnp.asarray(segment, bool)
  if segment.shape != (knowledge.num_items,):
    raise ValueError(f"segment must be a ({knowledge.num_items},) bool mask, got {segment.shape}")
  if _concrete(segment):
    seg = np.asarray(segment).copy()
    if _concrete(targets):
      seg[np.asarray(targets)] = False  # targets never count as selected items
      available = int(seg.sum())
    else:
      available = int(seg.sum()) - targets.shape[0]  # conservative under tracing
    if available < num_selected:
      raise ValueError(f"the segment has {available} items that are not targets, fewer than "
                       f"num_selected={num_selected}")
  allowed = segment & _excluding(knowledge, 1, targets)[0]
  sel = jnp.broadcast_to(_top_items(knowledge.item_count, allowed, num_selected),
                         (capacity, num_selected))
  fill = _random_fillers(key, knowledge, capacity, filler_size - num_selected, targets, sel)
  return _assemble(knowledge, targets, intent, capacity, num_fake, [
      (sel, jnp.full(sel.shape, knowledge.rating_max), False),
      (fill, jnp.full(fill.shape, knowledge.rating_min), True)])


def love_hate_attack(key: PRNGKey, knowledge: AttackKnowledge, targets: ArrayLike, num_fake, *,
                     capacity: int, filler_size: int, intent: str = "nuke") -> FakeProfiles:
  """Love/hate attack (nuke): target rated min, random fillers rated max.

  Very low knowledge yet effective against user-based CF. Mobasher et al., ACM TOIT 2007,
  Sec. 3.4. Arguments as :func:`random_attack`; ``intent`` must be ``"nuke"``.
  """
  targets = _check(knowledge, targets, capacity=capacity, filler_size=filler_size, intent=intent,
         nuke_only=True, num_fake=num_fake)
  fill = _random_fillers(key, knowledge, capacity, filler_size, targets)
  return _assemble(knowledge, targets, intent, capacity, num_fake,
                   [(fill, jnp.full(fill.shape, knowledge.rating_max), False)])


def reverse_bandwagon_attack(key: PRNGKey, knowledge: AttackKnowledge, targets: ArrayLike,
                             num_fake, *, capacity: int, filler_size: int, num_selected: int = 1,
                             intent: str = "nuke") -> FakeProfiles:
  """Reverse bandwagon attack (nuke): widely disliked items rated min, random fillers rated
  ~ N(global mean, global std), target min.

  "Widely disliked" = the lowest mean rating among the items with at least the median number
  of ratings (ties by lower id). Mobasher et al., ACM TOIT 2007, Sec. 3.4. On implicit data
  every item looks alike (all ratings 1) and the selected items are negative feedback, dropped
  by a victim that counts every interaction. Arguments as :func:`bandwagon_attack`; ``intent``
  must be ``"nuke"``.
  """
  targets = _check(knowledge, targets, capacity=capacity, filler_size=filler_size, intent=intent,
         num_selected=num_selected, nuke_only=True, num_fake=num_fake)
  k_items, k_rate = jax.random.split(key)
  rated = knowledge.item_count >= jnp.median(knowledge.item_count)
  allowed = rated & _excluding(knowledge, 1, targets)[0]
  if _concrete(allowed) and int(allowed.sum()) < num_selected:
    raise ValueError(f"only {int(allowed.sum())} non-target items have at least the median "
                     f"number of ratings, fewer than num_selected={num_selected}")
  sel = jnp.broadcast_to(_top_items(-knowledge.item_mean, allowed, num_selected),
                         (capacity, num_selected))
  fill = _random_fillers(k_items, knowledge, capacity, filler_size - num_selected, targets, sel)
  return _assemble(knowledge, targets, intent, capacity, num_fake, [
      (sel, jnp.full(sel.shape, knowledge.rating_min), True),
      (fill, _global_ratings(k_rate, knowledge, fill.shape), False)])


def power_user_attack(key: PRNGKey, knowledge: AttackKnowledge, targets: ArrayLike, num_fake, *,
                      capacity: int, filler_size: int, intent: str = "push") -> FakeProfiles:
  """Power-user attack: fake users modelled on the most influential real users.

  Fake user ``f`` copies a random ``filler_size`` of the items (with their ratings) of power
  user ``f mod P``, the ``P`` most active real users (by number of interactions, the
  degree-centrality selection of Wilson and Seminario); when that user has fewer items, random
  fillers rated ~ N(global mean, global std) complete the budget. Target max (push) or min
  (nuke). Wilson and Seminario, "When power users attack: assessing impacts in collaborative
  recommender systems", ACM RecSys 2013; Seminario and Wilson, "Attacking item-based
  recommender systems with power items", ACM RecSys 2014. Arguments as :func:`random_attack`.
  """
  targets = _check(knowledge, targets, capacity=capacity, filler_size=filler_size, intent=intent,
         num_fake=num_fake)
  k_pick, k_fill, k_rate = jax.random.split(key, 3)
  p_items, p_ratings, p_mask = knowledge.power_items, knowledge.power_ratings, knowledge.power_mask
  width = p_items.shape[1]
  if width < filler_size:  # pad so that top-k over the slots is defined
    pad = ((0, 0), (0, filler_size - width))
    p_items, p_ratings, p_mask = (jnp.pad(p_items, pad), jnp.pad(p_ratings, pad),
                                  jnp.pad(p_mask, pad))
  source = jnp.arange(capacity) % p_items.shape[0]
  items, ratings, pool = p_items[source], p_ratings[source], p_mask[source]
  pool = pool & ~jnp.any(items[:, :, None] == targets[None, None, :], axis=2)
  g = jax.random.gumbel(k_pick, pool.shape)
  _, pos = jax.lax.top_k(jnp.where(pool, g, -jnp.inf), filler_size)
  copied = jnp.take_along_axis(items, pos, axis=1)
  copied_r = jnp.take_along_axis(ratings, pos, axis=1)
  have = jnp.arange(filler_size)[None, :] < jnp.sum(pool, axis=1, keepdims=True)
  copied = jnp.where(have, copied, -1)  # -1 never collides with an item id
  extra = sample_distinct(k_fill, _excluding(knowledge, capacity, targets,
                                             jnp.maximum(copied, 0) * have
                                             + (~have) * targets[0]), filler_size)
  # random fills take the slots after the copied ones, so no item repeats
  n_have = jnp.sum(have, axis=1, keepdims=True)
  extra = jnp.take_along_axis(extra, jnp.clip(jnp.arange(filler_size)[None, :] - n_have, 0,
                                              filler_size - 1), axis=1)
  fill = jnp.where(have, copied, extra)
  fill_r = jnp.where(have, copied_r, _global_ratings(k_rate, knowledge, fill.shape))
  return _assemble(knowledge, targets, intent, capacity, num_fake,
                   [(fill, knowledge.clip(fill_r), False)])
