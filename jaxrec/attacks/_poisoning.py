"""Poison -> retrain -> measure: the data-poisoning pipeline.

One *cell* of an experiment generates fake profiles with a recipe, injects them into the clean
training data (fake user ``f`` gets id ``num_users + f``; the real users' rows are never
modified), retrains the victim from scratch with the same hyper-parameters and seed as the clean
model, and measures target exposure (:mod:`jaxrec.metrics._target`) and accuracy/beyond-accuracy
(:mod:`jaxrec.metrics._evaluate`) on the real users. A grid of cells (target sets x budgets x
seeds) of one recipe runs as one ``jit(vmap(cell))`` program: budgets share the static capacity
``F = max(budgets)`` and differ only in the traced number of active fake users.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.attacks._profiles import AttackKnowledge, FakeProfiles
from jaxrec.data._index import PositiveIndex, build_index
from jaxrec.data._interactions import Interactions
from jaxrec.metrics._evaluate import Evaluator
from jaxrec.metrics._target import TargetEvaluator
from jaxrec.training._loop import steps_per_epoch
from jaxrec.training._victim import Victim, fit_victim
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["CellResult", "Recipe", "inject", "poisoned_interactions", "run_poisoning"]

Recipe = Callable[[PRNGKey, AttackKnowledge, Array, Any], FakeProfiles]
"""``recipe(key, knowledge, targets (T,), num_fake) -> FakeProfiles``: an attack recipe with its
static arguments bound, e.g. ``functools.partial(attacks.random_attack, capacity=47,
filler_size=106)``."""


def inject(clean: PositiveIndex, profiles: FakeProfiles) -> PositiveIndex:
  """The poisoned training positives: the clean rows plus the fake profiles' interactions.

  Fake user ``f`` becomes user ``clean.num_users + f``; inactive fake users and slots that are
  not interactions of the victim (:meth:`FakeProfiles.mask`) are masked, so the capacity (and
  the compiled program) does not depend on the budget. Pure and jittable; returns new arrays.

  Args:
    clean: the clean training positives (``U`` real users).
    profiles: ``(F, L)`` fake profiles.

  Returns:
    A :class:`PositiveIndex` over ``U + F`` users and the same items.
  """
  u, ni = clean.num_users, clean.num_items
  f, slots = profiles.items.shape
  real_valid = jnp.arange(clean.capacity) < clean.num_valid
  fake_users = jnp.broadcast_to(u + jnp.arange(f, dtype=jnp.int32)[:, None], (f, slots))
  return build_index(
      jnp.concatenate([clean.users, fake_users.ravel()]),
      jnp.concatenate([clean.items, profiles.items.ravel()]),
      num_users=u + f, num_items=ni,
      valid=jnp.concatenate([real_valid, profiles.mask().ravel()]))


def poisoned_interactions(clean: Interactions, profiles: FakeProfiles) -> tuple[Interactions,
                                                                                 np.ndarray]:
  """Host-side poisoned :class:`~jaxrec.data.Interactions` (for detectors), and the fake flags.

  Real rows keep their ratings (1 when the data has none); fake rows carry the profile ratings
  of the slots that are interactions. Only fake users with at least one interaction are
  appended (an account with no activity is invisible in interaction data), as users
  ``U .. U + n - 1``.

  Returns:
    ``(interactions, is_fake)`` with ``is_fake`` a ``(U + n,) bool`` array.
  """
  mask = np.asarray(profiles.mask())
  present = np.flatnonzero(mask.any(axis=1))
  n_fake = int(present.size)
  mask = mask[present]
  fu, slot = np.nonzero(mask)
  items_all = np.asarray(profiles.items)[present]
  ratings_all = np.asarray(profiles.ratings)[present]
  users = np.concatenate([np.asarray(clean.users), clean.num_users + fu]).astype(np.int32)
  items = np.concatenate([np.asarray(clean.items), items_all[fu, slot]])
  real_r = (np.ones(len(clean), np.float32) if clean.ratings is None
            else np.asarray(clean.ratings, np.float32))
  ratings = np.concatenate([real_r, ratings_all[fu, slot]])
  inter = Interactions(users=users, items=items.astype(np.int32),
                       ratings=None if clean.ratings is None else ratings,
                       num_users=clean.num_users + n_fake, num_items=clean.num_items)
  is_fake = np.arange(clean.num_users + n_fake) >= clean.num_users
  return inter, is_fake


@dataclasses.dataclass(frozen=True)
class CellResult:
  """One poisoned retraining, summarised on the host.

  Attributes:
    targets: ``(T,)`` target items. num_fake: active fake users. seed: victim seed.
    evaluation: :meth:`jaxrec.metrics.Evaluator.summarize` of the poisoned model.
    exposure: per-target :meth:`jaxrec.metrics.TargetEvaluator.summarize`.
    train_loss: final mean training loss.
    profiles: the fake profiles (NumPy arrays) of this cell.
  """

  targets: np.ndarray
  num_fake: int
  seed: int
  evaluation: dict
  exposure: list
  train_loss: float
  profiles: FakeProfiles


def _cell(key, victim_key, targets, num_fake, knowledge, clean, evaluator, target_evaluator, *,
          recipe, victim, num_steps):
  profiles = recipe(key, knowledge, targets, num_fake)
  poisoned = inject(clean, profiles)
  params, curve = fit_victim(victim, poisoned, victim_key, num_steps=num_steps)
  score_all, score_params = victim.scorer(params, poisoned)
  return {"eval": evaluator.raw(score_all, score_params),
          "target": target_evaluator.raw(score_all, score_params, targets),
          "loss": curve[-1] if curve.shape[0] else jnp.float32(0.0), "profiles": profiles}


def run_poisoning(
    recipe: Recipe,
    *,
    knowledge: AttackKnowledge,
    clean: PositiveIndex,
    victim: Victim,
    evaluator: Evaluator,
    target_evaluator: TargetEvaluator,
    target_sets: ArrayLike,
    budgets: list[int],
    seeds: list[int],
    vectorize: bool = True,
    max_lanes: int | None = None,
    timings: dict | None = None,
) -> list[CellResult]:
  """Runs every (target set, budget, seed) cell of one attack recipe.

  With ``vectorize=True`` the cells run as ``jit(vmap(cell))`` (in groups of ``max_lanes``
  cells, all cells by default); with ``False`` the same jitted cell runs in a Python loop
  (for comparison: both give the same numbers). The recipe must have been built with
  ``capacity >= max(budgets)``. The attack key of a cell is ``fold_in(key(seed), 1)``; the
  victim is retrained with ``key(seed)``, the key of the clean model, and with the clean
  model's schedule: ``ceil(N / batch_size)`` steps per epoch for the ``N`` clean interactions,
  whatever the capacity reserved for fake users (so a cell with no active fake user reproduces
  the clean model exactly).

  Args:
    recipe: an attack recipe with its static arguments bound (:data:`Recipe`).
    knowledge: :func:`jaxrec.attacks.attacker_knowledge` of the clean training data.
    clean: the clean training positives.
    victim: the model and its training recipe.
    evaluator: accuracy evaluation over the real users (:func:`jaxrec.metrics.make_evaluator`).
    target_evaluator: target exposure over the real users.
    target_sets: ``(S, T)`` integer target items (one attack per row).
    budgets: numbers of fake users (each in ``[1, capacity]``).
    seeds: victim seeds.
    vectorize: vmap the cells (default) or loop over them.
    max_lanes: cells per vmapped program (bounds memory); default all.
    timings: if a dict, filled with ``compile_s`` (tracing and XLA compilation) and ``run_s``
      (executing the compiled programs, device-to-host copies included) in seconds.

  Returns:
    One :class:`CellResult` per cell, in ``itertools.product(target_sets, budgets, seeds)``
    order.

  Raises:
    ValueError: target ids outside the catalogue or repeated within a set, budgets that are not
      integers in ``[1, capacity]``, seeds outside ``[0, 2**32)``, ``max_lanes < 1``, fake
      profiles that could cover the whole catalogue (BPR could then sample no negative for
      them), an empty grid.
  """
  target_sets = np.atleast_2d(np.asarray(target_sets))
  if target_sets.size == 0 or not np.issubdtype(target_sets.dtype, np.integer):
    raise ValueError(f"target_sets must be a non-empty (S, T) integer array, got {target_sets!r}")
  if target_sets.min() < 0 or target_sets.max() >= clean.num_items:
    raise ValueError(f"target ids must lie in [0, {clean.num_items}), got "
                     f"{target_sets.tolist()}")
  for row in target_sets:
    if np.unique(row).size != row.size:
      raise ValueError(f"a target set repeats an item: {row.tolist()}")
  if not budgets or not seeds:
    raise ValueError("budgets and seeds must not be empty")
  for s in seeds:
    if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 0 <= s < 2**32:
      raise ValueError(f"seeds must be integers in [0, 2**32), got {s!r}")
  if max_lanes is not None and (not isinstance(max_lanes, (int, np.integer)) or max_lanes < 1):
    raise ValueError(f"max_lanes must be a positive integer, got {max_lanes!r}")
  probe = jax.eval_shape(lambda: recipe(jax.random.key(0), knowledge,
                                        jnp.asarray(target_sets[0], jnp.int32), 1))
  capacity, slots = probe.items.shape
  for b in budgets:
    if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not 1 <= b <= capacity:
      raise ValueError(f"budget {b!r} must be an integer number of fake users in "
                       f"[1, capacity={capacity}]")
  if slots >= clean.num_items:
    raise ValueError(f"a fake profile of {slots} items could cover the whole catalogue of "
                     f"{clean.num_items}: BPR would have no negative item for it; lower "
                     "filler_size")
  num_steps = steps_per_epoch(int(clean.num_valid), victim.batch_size)
  cells = list(itertools.product(range(len(target_sets)), [int(b) for b in budgets],
                                 [int(s) for s in seeds]))
  # data enter as arguments (not closed over), so they are not baked into the program
  cell = functools.partial(_cell, recipe=recipe, victim=victim, num_steps=num_steps)
  shared = (knowledge, clean, evaluator, target_evaluator)

  def arrays(group):
    keys = jnp.stack([jax.random.key_data(jax.random.key(s)) for _, _, s in group])
    keys = jax.random.wrap_key_data(keys)
    return (jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys), keys,
            jnp.asarray(np.stack([target_sets[t] for t, _, _ in group]), jnp.int32),
            jnp.asarray([b for _, b, _ in group], jnp.int32))

  outs = []
  compiled: dict[int, Any] = {}
  clock = {"compile_s": 0.0, "run_s": 0.0}

  def call(fn, lanes, args):
    if lanes not in compiled:
      t = time.perf_counter()
      compiled[lanes] = jax.jit(fn).lower(*args).compile()
      clock["compile_s"] += time.perf_counter() - t
    t = time.perf_counter()
    out = jax.device_get(compiled[lanes](*args))
    clock["run_s"] += time.perf_counter() - t
    return out

  if vectorize:
    batched = jax.vmap(cell, in_axes=(0, 0, 0, 0, None, None, None, None))
    size = len(cells) if max_lanes is None else max(1, int(max_lanes))
    for start in range(0, len(cells), size):
      group = cells[start:start + size]
      out = call(batched, len(group), (*arrays(group), *shared))
      outs += [jax.tree.map(lambda x, i=i: x[i], out) for i in range(len(group))]
  else:
    for c in cells:
      a = jax.tree.map(lambda x: x[0], arrays([c]))
      outs.append(call(cell, 0, (*a, *shared)))
  if timings is not None:
    timings.update(clock)
  results = []
  for (t, b, s), out in zip(cells, outs):
    results.append(CellResult(
        targets=target_sets[t], num_fake=b, seed=s,
        evaluation=evaluator.summarize(out["eval"]),
        exposure=target_evaluator.summarize(out["target"]),
        train_loss=float(out["loss"]), profiles=out["profiles"]))
  return results
