"""Learned (gradient-crafted) fake profiles in the poison -> retrain -> measure pipeline.

Crafters (:data:`Crafter`: the exact-budget bilevel attack :func:`craft_bilevel` and the
generator) craft profiles as dense binary ``(F, I)`` matrices, once per target set and budget,
outside the retraining program. This module turns them into
:class:`~jaxrec.attacks.poisoning.FakeProfiles` and into a recipe that hands the right
precomputed profiles to :func:`~jaxrec.attacks.poisoning.run_poisoning`, so learned and
heuristic attacks are retrained, measured and reported by the same code.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrec import _checks
from jaxrec.attacks.poisoning._bilevel import TargetLoss, bilevel_attack, margin_loss
from jaxrec.attacks.poisoning._generator import train_generator
from jaxrec.attacks.poisoning._profiles import AttackKnowledge, FakeProfiles
from jaxrec.attacks.poisoning._surrogates import default_surrogate
from jaxrec.optim import project_top_m, straight_through
from jaxrec.training._victim import Victim
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["Crafter", "bilevel_crafter", "craft_bilevel", "craft_recipe", "generator_crafter",
           "precomputed_recipe", "profiles_from_binary"]


def profiles_from_binary(binary: ArrayLike, *, num_slots: int | None = None,
                         rating: float = 1.0) -> FakeProfiles:
  """Fake profiles holding the items of binary rows (host-side).

  Args:
    binary: ``(F, I)`` 0/1 matrix, one fake profile per row.
    num_slots: slots per profile ``L``; default the longest row. Shorter rows are padded with
      inactive slots (marked ``negative``, so :meth:`FakeProfiles.mask` drops them).
    rating: rating of every item (the scale maximum of explicit data; 1 for implicit data).

  Returns:
    :class:`FakeProfiles` with ``items (F, L)`` in increasing id order; a row without any item
    is an inactive fake user (an account with no activity injects nothing).

  Raises:
    ValueError: a non-binary or non-2-D matrix, a row longer than ``num_slots``, a rating that
      is not finite.

  Source:
    jaxrec.
  """
  b = np.asarray(binary)
  if b.ndim != 2 or not np.isin(b, (0, 1)).all():
    raise ValueError(f"binary must be a 2-D 0/1 matrix, got shape {b.shape}")
  _checks.real("rating", rating, low=None)
  lengths = b.sum(axis=1).astype(int)
  slots = int(lengths.max(initial=0)) if num_slots is None else _checks.integer(
      "num_slots", num_slots, low=0)
  if lengths.max(initial=0) > slots:
    raise ValueError(f"a profile has {int(lengths.max())} items, more than num_slots={slots}")
  f = b.shape[0]
  items = np.zeros((f, slots), np.int32)
  pad = np.ones((f, slots), bool)
  for r in range(f):
    ids = np.flatnonzero(b[r])
    items[r, :ids.size] = ids
    pad[r, :ids.size] = False
  return FakeProfiles(items=jnp.asarray(items), ratings=jnp.full((f, slots), rating, jnp.float32),
                      negative=jnp.asarray(pad), active=jnp.asarray(lengths > 0))


def precomputed_recipe(target_sets: ArrayLike, budgets: list[int],
                       profiles: list[list[FakeProfiles]]):
  """A recipe (:data:`jaxrec.attacks.poisoning.Recipe`) that returns profiles crafted beforehand.

  ``profiles[s][b]`` are the profiles crafted for ``target_sets[s]`` with ``budgets[b]`` fake
  users; the recipe looks the pair up by value (jittable, so :func:`run_poisoning` can vmap over
  cells) and pads every entry to the largest budget and slot count (padding users inactive).
  A ``(targets, num_fake)`` pair that is not in the table cannot raise under ``jit``: it gets
  profiles with every user inactive (nothing is injected). The PRNG key is ignored; the
  knowledge only supplies the victim's feedback rule.

  Args:
    target_sets: ``(S, T)`` integer targets, in the order of ``profiles``.
    budgets: ``B`` distinct numbers of fake users, in the order of ``profiles[s]``.
    profiles: ``S`` lists of ``B`` :class:`FakeProfiles` with ``budgets[b]`` rows.

  Raises:
    ValueError: mismatched lengths or row counts, repeated budgets or target sets, no budget.

  Source:
    jaxrec.
  """
  target_sets = np.atleast_2d(np.asarray(target_sets))
  _checks.ids("target_sets", target_sets, np.iinfo(np.int32).max, distinct=True, nonempty=True,
              ndim=2)
  target_sets = target_sets.astype(np.int32)
  budgets = [_checks.integer("budgets entries", b, low=1) for b in budgets]
  if not budgets:
    raise ValueError("budgets must not be empty")
  if len(profiles) != len(target_sets) or any(len(p) != len(budgets) for p in profiles):
    raise ValueError(f"profiles must be {len(target_sets)} lists of {len(budgets)} entries")
  if len(set(budgets)) != len(budgets):
    raise ValueError(f"budgets repeat a value: {budgets}")
  if len({tuple(row) for row in target_sets.tolist()}) != len(target_sets):
    raise ValueError(f"target_sets repeat a set: {target_sets.tolist()}")
  capacity = max(budgets)
  slots = max(p.items.shape[1] for row in profiles for p in row)
  items = np.zeros((len(target_sets), len(budgets), capacity, slots), np.int32)
  ratings = np.zeros(items.shape, np.float32)
  negative = np.ones(items.shape, bool)
  for s, row in enumerate(profiles):
    for b, p in enumerate(row):
      f, length = p.items.shape
      if f != budgets[b]:
        raise ValueError(f"profiles[{s}][{b}] has {f} users, budget {budgets[b]}")
      items[s, b, :f, :length] = np.asarray(p.items)
      ratings[s, b, :f, :length] = np.asarray(p.ratings)
      negative[s, b, :f, :length] = np.asarray(p.negative)
  table = (jnp.asarray(target_sets), jnp.asarray(budgets, jnp.int32), jnp.asarray(items),
           jnp.asarray(ratings), jnp.asarray(negative))

  def recipe(key: PRNGKey, knowledge: AttackKnowledge, targets: Array, num_fake) -> FakeProfiles:
    del key
    sets, counts, it, ra, ne = table
    match_s = jnp.all(sets == jnp.asarray(targets)[None, :], axis=1)
    match_b = counts == num_fake
    s, b = jnp.argmax(match_s), jnp.argmax(match_b)
    found = jnp.any(match_s) & jnp.any(match_b)  # a miss injects nothing (no wrong profiles)
    return FakeProfiles(items=it[s, b], ratings=ra[s, b], negative=ne[s, b],
                        active=(jnp.arange(capacity) < num_fake) & found,
                        positive_threshold=knowledge.positive_threshold)

  return recipe


def craft_bilevel(real: ArrayLike, targets: ArrayLike, num_fake: int, filler_size: int,
                  key: PRNGKey, *, surrogate: Victim, loss: TargetLoss,
                  tx: optax.GradientTransformation, num_steps: int) -> tuple[Array, Array]:
  """Fake profiles under an exact filler budget, learned through the surrogate's training.

  RevAdv's unrolled bilevel attack (:func:`jaxrec.attacks.poisoning.bilevel_attack`) with the
  budget enforced at every outer step: the surrogate always trains on binary profiles of exactly
  ``filler_size`` fillers plus the targets (``straight_through(z, project_top_m)``: the exact
  profile in the forward pass, the identity in the backward pass, so the hypergradient
  accumulates in continuous scores ``z`` and an item enters a profile once its score overtakes
  the ``m``-th filler's), and the outer optimiser ``tx`` updates ``z`` in the box ``[0, 1]``.
  ``z`` starts at 0.75 on a random profile's items and 0.25 elsewhere (a random attack), and the
  surrogate starts from the same key at every step (a deterministic inner problem, as RevAdv).

  Args:
    real: ``(U, I)`` binary float32 matrix of the real users' training interactions
      (:func:`jaxrec.data.dense_matrix`).
    targets: ``(T,)`` distinct item ids to push, ``T >= 1``.
    num_fake: fake users ``F >= 1``. filler_size: fillers per profile ``m``, ``0 <= m <= I - T``.
    key: PRNG key (random start and surrogate start).
    surrogate: the inner problem (:func:`jaxrec.attacks.poisoning.lfm_surrogate`).
    loss: the attack loss, e.g. ``functools.partial(jaxrec.attacks.poisoning.margin_loss,
      k=10)``.
    tx: outer optax optimiser. num_steps: outer steps ``>= 0``.

  Returns:
    ``(binary (F, I) float32, losses (num_steps,))``: the final profiles (exactly ``m + T`` ones
    per row) and the outer loss before each step.

  Raises:
    ValueError: a ``real`` that is not a non-empty binary floating matrix; bad targets (empty,
      not integers, out of range, repeated) or budget; ``num_fake`` or ``num_steps`` out of
      range; a surrogate that is not a :class:`jaxrec.training.Victim`.

  Source:
    Tang, Wen, Wang, "Revisiting Adversarially Learned Injection Attacks in Recommender
    Systems", RecSys 2020, Algorithm 1, with a straight-through (Bengio, Leonard, Courville,
    arXiv:1308.3432, 2013) exact top-m projection (jaxrec).
  """
  real = _checks.matrix("real", real, binary=True, nonempty=True).astype(jnp.float32)
  targets = _checks.ids("targets", targets, real.shape[1], distinct=True, nonempty=True)
  num_fake = _checks.integer("num_fake", num_fake, low=1)
  filler_size = _checks.integer("filler_size", filler_size, low=0,
                                high=real.shape[1] - targets.shape[0])
  if not isinstance(surrogate, Victim):
    raise ValueError(f"surrogate must be a jaxrec.training.Victim, got "
                     f"{type(surrogate).__name__}")
  return _craft(real, targets, key, num_fake=num_fake, filler_size=filler_size,
                surrogate=surrogate, loss=loss, tx=tx,
                num_steps=_checks.integer("num_steps", num_steps, low=0))


@functools.partial(jax.jit, static_argnames=("num_fake", "filler_size", "surrogate", "loss",
                                             "tx", "num_steps"))
def _craft(real, targets, key, *, num_fake, filler_size, surrogate, loss, tx, num_steps):
  k_start, k_surrogate = jax.random.split(key)
  start = project_top_m(jax.random.uniform(k_start, (num_fake, real.shape[1])), filler_size,
                        targets)
  exact = functools.partial(project_top_m, filler_size=filler_size, targets=targets)
  z, losses = bilevel_attack(real, 0.25 + 0.5 * start, targets, k_surrogate,
                             surrogate=surrogate, loss=loss, tx=tx, num_steps=num_steps,
                             relax=functools.partial(straight_through, projection=exact))
  return exact(z), losses


def _default_loss() -> TargetLoss:
  return functools.partial(margin_loss, k=10, top_fraction=0.05)


Crafter = Callable[[Array, Array, int, int, PRNGKey], tuple[Array, Array]]
"""``craft(real (U, I), targets (T,), num_fake, filler_size, key) -> (binary (F, I), curve)``:
a learned attack with its settings bound (:func:`bilevel_crafter`, :func:`generator_crafter`).
Every crafter returns exactly ``filler_size + T`` items per profile, the targets among them, and
the same profiles for the same key."""


def bilevel_crafter(*, surrogate: Victim | None = None, loss: TargetLoss | None = None,
                    tx: optax.GradientTransformation | None = None,
                    num_steps: int = 30) -> Crafter:
  """:func:`craft_bilevel` with jaxrec's defaults: :func:`default_surrogate`, the log-sigmoid
  margin over the 10th best unseen item for the 5% of eligible users closest to a hit
  (``functools.partial(margin_loss, k=10, top_fraction=0.05)``), ``optax.adam(0.3)``, 30 outer
  steps. Used by ``jaxrec audit --attacks revadv``.

  Measured on MovieLens-100K (5 unpopular targets, 47 fake users of 105 fillers, BPR-MF victim,
  seed 0): mean target HR@10 0.0074 with ``top_fraction=0.05``, 0.0067 with 0.01, 0.0013 over
  all eligible users (the best heuristic, random: 0.0015).

  Returns:
    A :data:`Crafter`.

  Raises:
    ValueError: a negative ``num_steps``; the crafter raises as :func:`craft_bilevel`.

  Source:
    Tang, Wen, Wang, "Revisiting Adversarially Learned Injection Attacks in Recommender
    Systems", RecSys 2020.
  """
  surrogate = default_surrogate() if surrogate is None else surrogate
  loss = _default_loss() if loss is None else loss
  tx = optax.adam(0.3) if tx is None else tx
  num_steps = _checks.integer("num_steps", num_steps, low=0)

  def craft(real, targets, num_fake, filler_size, key):
    return craft_bilevel(real, targets, num_fake, filler_size, key, surrogate=surrogate,
                         loss=loss, tx=tx, num_steps=num_steps)

  return craft


def generator_crafter(*, surrogate: Victim | None = None, loss: TargetLoss | None = None,
                      num_steps: int = 100, **settings) -> Crafter:
  """:func:`jaxrec.attacks.poisoning.train_generator` as a :data:`Crafter` (the final
  exact-budget profiles; ``curve`` is the attack loss per step). Defaults:
  :func:`default_surrogate`, the margin loss of :func:`bilevel_crafter` averaged over the kept
  users (``reduction="mean"``, so that ``disc_weight`` weighs the GAN term against a per-user
  loss, the scale the generator's weights were measured at), 100 steps; ``settings`` go to
  ``train_generator`` (e.g. ``disc_weight=0.3`` for the discriminator term). Used by
  ``jaxrec audit --attacks generator``.

  Returns:
    A :data:`Crafter`.

  Raises:
    Nothing at construction; the crafter raises as
    :func:`jaxrec.attacks.poisoning.train_generator`.

  Source:
    Lin et al., "Attacking Recommender Systems with Augmented User Profiles", CIKM 2020
    (in its spirit).
  """
  surrogate = default_surrogate() if surrogate is None else surrogate
  if loss is None:  # a mean, so that disc_weight compares with a per-user attack loss
    loss = functools.partial(margin_loss, k=10, top_fraction=0.05, reduction="mean")

  def craft(real, targets, num_fake, filler_size, key):
    result = train_generator(key, real, targets, surrogate=surrogate, loss=loss,
                             num_fake=num_fake, filler_size=filler_size, num_steps=num_steps,
                             **settings)
    return result.fake, result.curve["attack_loss"]

  return craft


def craft_recipe(real: ArrayLike, target_sets: ArrayLike, budgets: list[int], filler_size: int,
                 key: PRNGKey, *, rating: float = 1.0, craft: Crafter | None = None,
                 echo: Callable[[str], None] | None = None,
                 progress: Callable[[int], None] | None = None):
  """Crafts learned profiles for every target set and budget, as a recipe.

  ``craft`` once per ``(target set, budget)`` (each budget crafted on its own, with the same
  key), wrapped by :func:`precomputed_recipe` for
  :func:`jaxrec.attacks.poisoning.run_poisoning`.

  Args:
    real: ``(U, I)`` binary matrix of the clean training data (:func:`jaxrec.data.dense_matrix`).
    target_sets: ``(S, T)`` integer targets. budgets: numbers of fake users.
    filler_size: fillers per profile. key: PRNG key. rating: rating of every injected item.
    craft: the learned attack (:data:`Crafter`); default :func:`bilevel_crafter` ``()``.
    echo: optional ``echo(str)`` for one status line per crafted cell (the crafter's loss at
      its first and last step).
    progress: optional ``progress(1)`` after each crafted cell (e.g. a tqdm bar's ``update``).

  Returns:
    ``(recipe, curves)``: the recipe and a dict ``(s, budget) -> curve`` (the crafter's loss
    per step).

  Raises:
    ValueError: from the crafter (bad targets or budget) or :func:`precomputed_recipe`.

  Source:
    jaxrec (plumbing between crafters and :func:`jaxrec.attacks.run_poisoning`).
  """
  craft = bilevel_crafter() if craft is None else craft
  target_sets = np.atleast_2d(np.asarray(target_sets))
  crafted, curves = [], {}
  for s, targets in enumerate(target_sets):
    row = []
    for n in budgets:
      binary, curve = craft(jnp.asarray(real, jnp.float32), jnp.asarray(targets, jnp.int32),
                            int(n), int(filler_size), key)
      row.append(profiles_from_binary(np.asarray(binary), rating=rating))
      curves[(s, int(n))] = curve = np.asarray(curve)
      if echo is not None and curve.size:
        echo(f"    crafted (dense item ids) {targets.tolist()} x {n} fake users: loss "
             f"{float(curve[0]):.1f} -> {float(curve[-1]):.1f}")
      if progress is not None:
        progress(1)
    crafted.append(row)
  return precomputed_recipe(target_sets, list(budgets), crafted), curves
