"""Poison -> retrain -> measure: the data-poisoning pipeline.

One *cell* of an experiment generates fake profiles with a recipe, injects them into the clean
training data (fake user ``f`` gets id ``num_users + f``; the real users' rows are never
modified), retrains the victim from scratch with the same hyper-parameters and seed as the clean
model, and measures target exposure (:mod:`jaxrec.metrics._target`) and accuracy/beyond-accuracy
(:mod:`jaxrec.metrics._evaluate`) on the real users. A grid of cells (target sets x budgets x
seeds) of one recipe runs on the experiment executor (:func:`jaxrec.experiment.execute`:
``jit(vmap(cell))`` in lane groups): budgets share the static capacity ``F = max(budgets)`` and
differ only in the traced number of active fake users. With a ``sanitize`` defense (e.g.
:func:`jaxrec.defenses.detect_and_remove`) the cell runs it on the poisoned data between
injection and retraining (detect, remove, retrain) and retrains on what it keeps; the metrics
stay over all real users, removed ones included.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec import _checks
from jaxrec.attacks.poisoning._profiles import AttackKnowledge, FakeProfiles
from jaxrec.data._index import PositiveIndex, build_index
from jaxrec.data._interactions import Interactions
from jaxrec.experiment import execute, product
from jaxrec.metrics._evaluate import Evaluator
from jaxrec.metrics._target import TargetEvaluator
from jaxrec.training._loop import fit_victim
from jaxrec.training._victim import Victim, steps_per_epoch
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

  Raises:
    Nothing (jittable; the profiles' item ids are valid by construction of the recipes).

  Source:
    jaxrec (fake users appended after the real ones, as in Mobasher et al., ACM TOIT 2007).
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

  Raises:
    Nothing (host-side).

  Source:
    jaxrec.
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
    flagged_fake: fake users the ``sanitize`` defense removed (``None`` without one).
    flagged_real: real users it removed, the defense's cost (``None`` without one).
  """

  targets: np.ndarray
  num_fake: int
  seed: int
  evaluation: dict
  exposure: list
  train_loss: float
  profiles: FakeProfiles
  flagged_fake: int | None = None
  flagged_real: int | None = None


def _cell(cell, shared, *, recipe, victim, num_steps, sanitize=None):
  key, victim_key, targets, num_fake = cell
  knowledge, clean, evaluator, target_evaluator = shared
  profiles = recipe(key, knowledge, targets, num_fake)
  poisoned = inject(clean, profiles)
  flags = {}
  if sanitize is not None:
    poisoned, flagged = sanitize(jax.random.fold_in(victim_key, 2), poisoned, clean.num_users)
    flags = {"flagged_real": jnp.sum(flagged[:clean.num_users], dtype=jnp.int32),
             "flagged_fake": jnp.sum(flagged[clean.num_users:], dtype=jnp.int32)}
  params, curve = fit_victim(victim, poisoned, victim_key, num_steps=num_steps)
  return {"eval": evaluator.raw(victim.model, params, poisoned),
          "target": target_evaluator.raw(victim.model, params, targets, poisoned),
          "loss": curve[-1] if curve.shape[0] else jnp.float32(0.0), "profiles": profiles,
          **flags}


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
    progress: Callable[[int], None] | None = None,
    sanitize: Callable[[PRNGKey, PositiveIndex, int], tuple[PositiveIndex, Array]] | None = None,
    cells: Sequence[Mapping[str, int]] | None = None,
    on_cell: Callable[[int, CellResult], None] | None = None,
    mesh: jax.sharding.Mesh | None = None,
) -> list[CellResult]:
  """Runs every (target set, budget, seed) cell of one attack recipe.

  The cells run on :func:`jaxrec.experiment.execute`: with ``vectorize=True`` as
  ``jit(vmap(cell))`` in groups of ``max_lanes`` cells (default
  :func:`jaxrec.experiment.default_lanes`); with ``False`` the same jitted cell in a Python loop
  (both give the same numbers). The recipe must have been built with ``capacity >=
  max(budgets)``. The attack key of a cell is ``fold_in(key(seed), 1)``; the victim is retrained
  with ``key(seed)``, the key of the clean model, and with the clean model's schedule:
  ``ceil(N / batch_size)`` steps per epoch for the ``N`` clean interactions, whatever the
  capacity reserved for fake users (so a cell with no active fake user reproduces the clean
  model exactly).

  With ``sanitize``, each cell runs ``sanitize(fold_in(key(seed), 2), poisoned, U)`` on the
  poisoned positives of its ``U`` real and ``F`` fake users and retrains on the index it returns
  (same capacity; the schedule above is unchanged); the evaluations stay over all real users
  (a removed real user is still recommended to, from a model that lost their data), masking
  each user's clean training items.

  Args:
    recipe: an attack recipe with its static arguments bound (:data:`Recipe`).
    knowledge: :func:`jaxrec.attacks.poisoning.attacker_knowledge` of the clean training data.
    clean: the clean training positives.
    victim: the model and its training recipe.
    evaluator: accuracy evaluation over the real users (:func:`jaxrec.metrics.make_evaluator`).
    target_evaluator: target exposure over the real users.
    target_sets: ``(S, T)`` integer target items (one attack per row).
    budgets: numbers of fake users (each in ``[1, capacity]``).
    seeds: victim seeds.
    vectorize: vmap the cells (default) or loop over them.
    max_lanes: cells per vmapped program (bounds memory); default by backend.
    timings: if a dict, filled by :func:`jaxrec.experiment.execute` (``compile_s``, ``run_s``).
    progress: optional ``progress(n)`` after each program with its ``n`` finished cells (e.g.
      a tqdm bar's ``update``).
    sanitize: optional defense between injection and retraining, ``sanitize(key, poisoned,
      num_real) -> (sanitized, flagged (U + F,) bool)``, pure and jittable (e.g.
      :func:`jaxrec.defenses.detect_and_remove`); ``None`` (default) retrains on the poisoned
      data as it is.
    cells: optional subset of the grid to run, dicts ``{"targets": row of target_sets,
      "num_fake": budget, "seed": seed}`` (e.g. the cells a resumed run has not finished);
      default every cell of ``product(target_sets, budgets, seeds)``. ``budgets`` still sets
      the capacity, so a subset runs the same program and gives the same numbers as the full
      grid.
    on_cell: optional ``on_cell(index, result)`` called as each cell finishes (``index`` into
      the cells run), e.g. to append its rows to a results store.
    mesh: optional device mesh (:func:`jaxrec.sharding.make_mesh`, ``items`` axis 1): the cells
      run spread over its ``cells`` axis, ``max_lanes`` per device, with the numbers of one
      device (:func:`jaxrec.experiment.execute`); under ``jax.distributed`` every process runs
      the same call and gets every result (docs/sharding.md).

  Returns:
    One :class:`CellResult` per cell, in ``itertools.product(target_sets, budgets, seeds)``
    order (or the order of ``cells``).

  Raises:
    TypeError: ``sanitize`` is neither ``None`` nor callable; ``mesh`` is not a
      ``jax.sharding.Mesh``.
    ValueError: target ids outside the catalogue, repeated within a set, or an empty set;
      budgets that are not integers in ``[1, capacity]``; seeds outside ``[0, 2**32)``;
      ``max_lanes < 1``; a ``mesh`` without the axes ``("cells", "items")`` or with more than
      one ``items`` device; ``cells`` naming a target row, budget or seed outside the grid, or
      empty; fake profiles that could cover the whole catalogue (BPR could then
      sample no negative for them); an empty grid; what ``sanitize`` raises when traced (e.g.
      :func:`jaxrec.defenses.detect_and_remove`'s ``num_flag`` not below ``U + F``).

  Source:
    Mobasher et al., ACM TOIT 2007, Sec. 6 (attack, retrain, measure); jaxrec's executor.
  """
  if sanitize is not None and not callable(sanitize):
    raise TypeError(f"sanitize must be None or callable, got {type(sanitize).__name__}")
  target_sets = np.atleast_2d(np.asarray(target_sets))
  _checks.ids("target_sets", target_sets, clean.num_items, distinct=True, nonempty=True,
              ndim=2)
  if not budgets or not seeds:
    raise ValueError("budgets and seeds must not be empty")
  seeds = [_checks.integer("seed", s, low=0, high=2**32 - 1) for s in seeds]
  probe = jax.eval_shape(lambda: recipe(jax.random.key(0), knowledge,
                                        jnp.asarray(target_sets[0], jnp.int32), 1))
  capacity, slots = probe.items.shape
  budgets = [_checks.integer("budget (fake users)", b, low=1, high=capacity) for b in budgets]
  if slots >= clean.num_items:
    raise ValueError(f"a fake profile of {slots} items could cover the whole catalogue of "
                     f"{clean.num_items}: BPR would have no negative item for it; lower "
                     "filler_size")
  num_steps = (steps_per_epoch(int(clean.num_valid), victim.batch_size)
               if victim.batch_size is not None and victim.steps_per_epoch is None else None)
  grid = product(targets=range(len(target_sets)), num_fake=budgets, seed=seeds)
  if cells is not None:
    grid = _subset(grid, cells)

  def cell(c):
    key = jax.random.key(c["seed"])
    return (jax.random.fold_in(key, 1), key, jnp.asarray(target_sets[c["targets"]], jnp.int32),
            jnp.int32(c["num_fake"]))

  def result(c, out):
    return CellResult(targets=target_sets[c["targets"]], num_fake=c["num_fake"], seed=c["seed"],
                      evaluation=evaluator.summarize(out["eval"]),
                      exposure=target_evaluator.summarize(out["target"]),
                      train_loss=float(out["loss"]), profiles=out["profiles"],
                      **{name: int(out[name]) for name in ("flagged_fake", "flagged_real")
                         if name in out})

  results: dict[int, CellResult] = {}

  def finished(index, out):
    results[index] = result(grid[index], out)
    if on_cell is not None:
      on_cell(index, results[index])

  execute(functools.partial(_cell, recipe=recipe, victim=victim, num_steps=num_steps,
                            sanitize=sanitize),
          [cell(c) for c in grid], (knowledge, clean, evaluator, target_evaluator),
          lanes=max_lanes, vectorize=vectorize, timings=timings, progress=progress,
          on_output=finished, mesh=mesh)
  return [results[i] for i in range(len(grid))]


def _subset(grid: list[dict], cells: Sequence[Mapping[str, int]]) -> list[dict]:
  if len(cells) == 0:
    raise ValueError("cells must name at least one cell of the grid")
  allowed = {(c["targets"], c["num_fake"], c["seed"]) for c in grid}
  out = []
  for c in cells:
    try:
      k = (int(c["targets"]), int(c["num_fake"]), int(c["seed"]))
    except (KeyError, TypeError, ValueError) as e:
      raise ValueError(f"a cell must be a dict of integer 'targets', 'num_fake', 'seed'; got "
                       f"{c!r}") from e
    if k not in allowed:
      raise ValueError(f"cell {c!r} is not in the grid of target rows "
                       f"0..{len({g['targets'] for g in grid}) - 1}, the budgets and the seeds")
    out.append(dict(zip(("targets", "num_fake", "seed"), k)))
  return out
