"""Attack many sub-datasets of one source and measure how robust each is.

For every sub-dataset (:func:`jaxrec.data.sample_subdatasets`): train the victim on all of its
interactions, draw target items (seeded; the long tail by default), craft fake profiles of a fixed
*relative* budget (a share of the sub-dataset's users, each profile about as long as a mean real
profile), inject them, retrain from the same key, and measure each target's HR@k and mean score
over the real users who have not interacted with it, before and after. The robustness measures:

* ``delta_target_hr`` @k: mean over targets of ``HR@k(after) - HR@k(before)`` (the attack's gain;
  lower is more robust);
* ``prediction_shift``: mean over targets of the change of the target's mean predicted score
  over those users (Mobasher et al., ACM TOIT 2007, Sec. 6), in the model's score units.

Sub-datasets of one shape (users x items) run as one ``jit(vmap)`` program on the experiment
executor (:func:`jaxrec.experiment.execute`), their interactions padded to the shape's largest
count; crafting runs per sub-dataset before (heuristic recipes are cheap; a learned attack runs
its own compiled program per shape).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec import _checks
from jaxrec.attacks.poisoning._learned import Crafter, profiles_from_binary
from jaxrec.attacks.poisoning._pipeline import inject
from jaxrec.attacks.poisoning._profiles import FakeProfiles, attacker_knowledge
from jaxrec.attacks.poisoning._targets import default_filler_size, num_fake_users, select_targets
from jaxrec.data._index import PositiveIndex, build_index, dense_matrix
from jaxrec.data._interactions import Interactions
from jaxrec.data._stats import characteristics
from jaxrec.data._subsample import SubDataset
from jaxrec.experiment import execute
from jaxrec.metrics._target import make_target_evaluator
from jaxrec.robustness._schedule import own_epochs
from jaxrec.training._loop import fit_victim
from jaxrec.training._victim import Victim, steps_per_epoch
from jaxrec.typing import Array, PRNGKey

__all__ = ["STUDY_CHARACTERISTICS", "Attack", "SampleResult", "attack_subdatasets",
           "heuristic_attack", "learned_attack", "study_table"]

STUDY_CHARACTERISTICS = ("log_space", "log_shape", "log_density", "gini_user", "gini_item",
                         "rating_std")
"""The explanatory variables of Deldjoo et al. (SIGIR 2020): logarithms of space, shape and
density (as Adomavicius & Zhang, ACM TMIS 2012), the Gini coefficients of the user and item
degrees, and the standard deviation of the ratings (dropped for implicit data)."""

Attack = Callable[[PRNGKey, SubDataset, PositiveIndex, Array, int, int], FakeProfiles]
"""``attack(key, sample, index, targets (T,), num_fake, filler_size) -> FakeProfiles`` with
``num_fake`` rows: :func:`heuristic_attack` or :func:`learned_attack`."""


def heuristic_attack(recipe: Callable[..., FakeProfiles], **settings: Any) -> Attack:
  """A heuristic recipe (e.g. :func:`jaxrec.attacks.poisoning.bandwagon_attack`) as an
  :data:`Attack`: the attacker's knowledge is computed from the sub-dataset
  (:func:`jaxrec.attacks.poisoning.attacker_knowledge`, every interaction counted by the victim).

  Args:
    recipe: ``recipe(key, knowledge, targets, num_fake, *, capacity, filler_size, **settings)``.
    settings: further static arguments of the recipe (e.g. ``num_selected=1``).

  Returns:
    An :data:`Attack`.

  Raises:
    Nothing at construction; the attack raises as the recipe.

  Source:
    jaxrec (the recipes' own sources: Mobasher et al., ACM TOIT 2007).
  """
  # one compiled recipe per (budget, filler size) and catalogue
  compiled = jax.jit(functools.partial(recipe, **settings),
                     static_argnames=("capacity", "filler_size"))

  def attack(key, sample, index, targets, num_fake, filler_size):
    del index
    knowledge = attacker_knowledge(sample.interactions)
    return compiled(key, knowledge, targets, num_fake, capacity=num_fake,
                    filler_size=filler_size)

  return attack


def learned_attack(crafter: Crafter) -> Attack:
  """A learned attack (:data:`jaxrec.attacks.poisoning.Crafter`, e.g.
  ``poisoning.bilevel_crafter(num_steps=10)``) as an :data:`Attack`: it crafts binary profiles
  against its surrogate on the sub-dataset's dense ``(U', I')`` matrix, injected as interactions.

  Returns:
    An :data:`Attack`.

  Raises:
    Nothing at construction; the attack raises as the crafter.

  Source:
    jaxrec (the crafters' own sources: Tang, Wen, Wang, RecSys 2020).
  """

  def attack(key, sample, index, targets, num_fake, filler_size):
    del sample
    binary, _ = crafter(jnp.asarray(dense_matrix(index)), targets, num_fake, filler_size, key)
    return profiles_from_binary(np.asarray(binary), num_slots=filler_size + targets.shape[0])

  return attack


@dataclasses.dataclass(frozen=True)
class SampleResult:
  """One attacked sub-dataset.

  Attributes:
    sample: the :class:`jaxrec.data.SubDataset`.
    characteristics: :func:`jaxrec.data.characteristics` of its interactions.
    targets: ``(T,)`` target items (sub-dataset ids). num_fake: fake users. filler_size: fillers.
    target_hr_before, target_hr_after: ``{k: mean over targets of HR@k}``.
    delta_target_hr: ``{k: after - before}``.
    prediction_shift: mean over targets of the change of the mean target score.
  """

  sample: SubDataset
  characteristics: dict
  targets: np.ndarray
  num_fake: int
  filler_size: int
  target_hr_before: dict
  target_hr_after: dict
  delta_target_hr: dict
  prediction_shift: float


def _pad_profiles(p: FakeProfiles, slots: int) -> FakeProfiles:
  extra = slots - p.items.shape[1]
  pad = lambda x, v: jnp.pad(x, ((0, 0), (0, extra)), constant_values=v)  # noqa: E731
  return p.replace(items=pad(p.items, 0), ratings=pad(p.ratings, 0.0),
                   negative=pad(p.negative, True))  # padding slots are never interactions


_build_index = jax.jit(build_index, static_argnames=("num_users", "num_items"))


def _padded_index(interactions: Interactions, capacity: int) -> PositiveIndex:
  """The interactions' index at a fixed capacity (padding rows invalid), one compiled build per
  shape (the ids are valid by construction of the sub-dataset)."""
  n = len(interactions)
  pad = lambda x: np.concatenate([np.asarray(x, np.int32), np.zeros(capacity - n, np.int32)])  # noqa: E731
  return _build_index(pad(interactions.users), pad(interactions.items),
                      num_users=interactions.num_users, num_items=interactions.num_items,
                      valid=np.arange(capacity) < n)


def _cell(cell, shared, *, victim, num_steps):
  del shared
  key, clean, target_ev, targets, profiles = cell
  before, _ = fit_victim(victim, clean, key, num_steps=num_steps)
  poisoned = inject(clean, profiles)
  after, _ = fit_victim(victim, poisoned, key, num_steps=num_steps)
  return (target_ev.raw(victim.model, before, targets),
          target_ev.raw(victim.model, after, targets, poisoned))


def attack_subdatasets(
    samples: Sequence[SubDataset],
    attack: Attack,
    *,
    victim: Victim,
    budget: float | int = 0.01,
    num_targets: int = 5,
    target_strategy: str = "unpopular",
    ks: tuple[int, ...] = (10,),
    seed: int = 0,
    lanes: int | None = None,
    vectorize: bool = True,
    progress: Callable[[int], None] | None = None,
    timings: dict | None = None,
) -> list[SampleResult]:
  """Trains, attacks, retrains and measures every sub-dataset (module docstring).

  Every sub-dataset's victim trains from ``key(seed)`` on all its interactions for the victim's
  epochs of its own rows: one compiled program per shape runs ``S = ceil(R / batch_size)``
  steps per epoch for the group's largest poisoned row count ``R``, and each step of a
  sub-dataset with ``N`` rows trains with probability ``N / (S batch_size)``
  (:mod:`jaxrec.robustness._schedule`), so about ``N / batch_size`` steps per epoch, as if it
  ran alone. The poisoned victim retrains with the same key and schedule (its own rows,
  fakes included). A victim with a fixed ``steps_per_epoch`` keeps it. The fake profiles of a
  sub-dataset have its own mean real profile length as filler size
  (:func:`jaxrec.attacks.poisoning.default_filler_size`), padded to the group's longest with
  slots that are no interaction (one compiled recipe per distinct filler size).
  The ``T`` targets of sub-dataset ``s`` are drawn by
  :func:`jaxrec.attacks.poisoning.select_targets` with the sub-dataset's seed and attacked
  together (each fake profile holds all of them); the attack's key is ``fold_in(key(seed), s)``.

  Args:
    samples: sub-datasets (:func:`jaxrec.data.sample_subdatasets`).
    attack: the attack (:func:`heuristic_attack`, :func:`learned_attack`).
    victim: the model and its training recipe (e.g. ``jaxrec.audit.make_victim("bpr-mf")``).
    budget: fake users as a share of each sub-dataset's users (``0.01``: 1%, at least 1) or a
      count.
    num_targets: targets per sub-dataset ``T >= 1``. target_strategy: as ``select_targets``.
    ks: cut-offs of HR@k. seed: the victims' and attacks' seed.
    lanes, vectorize: as :func:`jaxrec.experiment.execute`.
    progress: optional ``progress(x)`` with ``x`` sub-datasets' worth of work just done:
      ``0.5`` when one is crafted, ``0.5 n`` when ``n`` are trained and measured (e.g. a tqdm
      bar's ``update``; the sum reaches ``len(samples)``).
    timings: if a dict, ``compile_s``, ``run_s`` (training and measuring, summed over shapes),
      ``attack_s`` (crafting) and ``programs``.

  Returns:
    One :class:`SampleResult` per sub-dataset, in order.

  Raises:
    ValueError: no sub-dataset, a bad budget, count, strategy or cut-off, a sub-dataset with too
      few candidate targets, fake profiles that would cover a sub-dataset's whole catalogue, NaN
      scores (a diverged victim).

  Source:
    Deldjoo, Di Noia, Di Sciascio, Merra, "How Dataset Characteristics Affect the Robustness of
    Collaborative Recommendation Models", SIGIR 2020, Sec. 3 (attack each sub-dataset, measure
    the effect); prediction shift and hit ratio as Mobasher et al., ACM TOIT 2007, Sec. 6.
  """
  if not samples:
    raise ValueError("attack_subdatasets needs at least one sub-dataset")
  num_targets = _checks.integer("num_targets", num_targets, low=1)
  seed = _checks.integer("seed", seed, low=0, high=2**32 - 1)
  clock = {"compile_s": 0.0, "run_s": 0.0, "attack_s": 0.0, "programs": 0}
  groups: dict[tuple[int, int], list[int]] = {}
  for s, sample in enumerate(samples):
    shape = (sample.interactions.num_users, sample.interactions.num_items)
    groups.setdefault(shape, []).append(s)
  prepared: list[Any] = [None] * len(samples)
  results: list[SampleResult | None] = [None] * len(samples)
  key = jax.random.key(seed)
  for (num_users, num_items), members in groups.items():
    t0 = time.perf_counter()
    capacity = max(len(samples[s].interactions) for s in members)
    num_fake = num_fake_users(budget, num_users)
    # each sub-dataset's own mean profile length: a group median would make fake profiles
    # relatively longer in the sparser members (a second density confound)
    fillers = {s: default_filler_size(samples[s].interactions) for s in members}
    if max(fillers.values()) + num_targets >= num_items:
      raise ValueError(f"sub-datasets of {num_users} x {num_items}: profiles of "
                       f"{max(fillers.values())} fillers "
                       f"+ {num_targets} targets would cover the catalogue")
    cells, evaluators = [], []
    for s in members:
      sample = samples[s]
      index = _padded_index(sample.interactions, capacity)
      degrees = np.bincount(np.asarray(sample.interactions.items), minlength=num_items)
      targets = select_targets(degrees, num_targets, target_strategy, seed=sample.seed)
      profiles = attack(jax.random.fold_in(key, s), sample, index,
                        jnp.asarray(targets, jnp.int32), num_fake, fillers[s])
      prepared[s] = (targets, profiles)
      if progress is not None:
        progress(0.5)
      evaluators.append(make_target_evaluator(index, ks=ks))
      cells.append([key, index, None, jnp.asarray(targets, jnp.int32), profiles])
    clock["attack_s"] += time.perf_counter() - t0
    slots = max(int(cell[4].items.shape[1]) for cell in cells)
    for cell in cells:
      cell[4] = _pad_profiles(cell[4], slots)
    window = max(ev.window for ev in evaluators)
    for cell, ev in zip(cells, evaluators):
      cell[2] = ev.replace(window=window)
    group_victim, num_steps = victim, None
    if (victim.tx is not None and victim.num_epochs and victim.batch_size is not None
        and victim.steps_per_epoch is None):
      # one static schedule, sized for the group's largest poisoned index; each lane trains
      # its own rows' epochs in expectation (not N_max / N passes: see _schedule)
      num_steps = steps_per_epoch(capacity + num_fake * slots, victim.batch_size)
      group_victim = own_epochs(victim, num_steps * victim.batch_size)
    group_clock: dict = {}
    outs = execute(functools.partial(_cell, victim=group_victim, num_steps=num_steps),
                   [tuple(c) for c in cells], None, lanes=lanes, vectorize=vectorize,
                   timings=group_clock,
                   progress=None if progress is None else lambda n: progress(0.5 * n))
    for name in ("compile_s", "run_s", "programs"):
      clock[name] += group_clock[name]
    for s, (raw_before, raw_after), ev in zip(members, outs, evaluators):
      targets, _ = prepared[s]
      before, after = ev.summarize(raw_before), ev.summarize(raw_after)
      hr_before = {k: float(np.mean([t["target_hr"][k] for t in before])) for k in ev.ks}
      hr_after = {k: float(np.mean([t["target_hr"][k] for t in after])) for k in ev.ks}
      shift = float(np.mean([a["target_score"][None] - b["target_score"][None]
                             for a, b in zip(after, before)]))
      results[s] = SampleResult(
          sample=samples[s], characteristics=characteristics(samples[s].interactions),
          targets=np.asarray(targets), num_fake=num_fake, filler_size=fillers[s],
          target_hr_before=hr_before, target_hr_after=hr_after,
          delta_target_hr={k: hr_after[k] - hr_before[k] for k in ev.ks},
          prediction_shift=shift)
  if timings is not None:
    timings.update(clock)
  return results


def study_table(results: Sequence[SampleResult], k: int = 10) -> dict[str, np.ndarray]:
  """The columns of the regression: every characteristic of :func:`jaxrec.data.characteristics`
  that is defined for all sub-datasets, plus ``delta_target_hr`` (@``k``), ``target_hr_before``,
  ``target_hr_after`` and ``prediction_shift``, one ``(S,) float64`` entry per sub-dataset.

  Raises:
    ValueError: no result, or ``k`` not among the measured cut-offs.

  Source:
    jaxrec.
  """
  if not results:
    raise ValueError("study_table needs at least one result")
  if k not in results[0].delta_target_hr:
    raise ValueError(f"k={k} was not measured (cut-offs {sorted(results[0].delta_target_hr)})")
  names = [n for n, v in results[0].characteristics.items()
           if all(r.characteristics[n] is not None for r in results) and v is not None]
  table = {n: np.asarray([r.characteristics[n] for r in results], np.float64) for n in names}
  for name in ("target_hr_before", "target_hr_after", "delta_target_hr"):
    table[name] = np.asarray([getattr(r, name)[k] for r in results], np.float64)
  table["prediction_shift"] = np.asarray([r.prediction_shift for r in results], np.float64)
  return table
