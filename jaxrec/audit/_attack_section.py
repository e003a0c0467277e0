"""The audit's fake-profile section: poison -> retrain -> measure, and detection of the fakes.

For every attack and budget, each target item is attacked separately (one vmapped program per
attack: targets x budgets); the victim (``config.model``) is retrained from scratch with the
audit's hyper-parameters and seed. Rows (tidy, see :mod:`jaxrec.report`):

* ``attack="none"``: the clean model's target exposure (``target_hr``, ``target_ndcg`` @k,
  ``target_rank``, ``target_score``), per target (grid key ``target`` = raw item id) and averaged
  over the targets (``target`` = ``None``);
* ``attack=<name>, budget=<b>``: the same after the attack, ``prediction_shift`` (attacked minus
  clean mean target score over the eligible users), and the real users' accuracy and
  beyond-accuracy (``ndcg``, ``recall``, ``coverage``, ``gini``, ``arp`` @k) with their change
  against the clean model (``delta_<metric>``);
* ``defense=<detector>``: how visible the fake users of the attack on the first target are to
  the unsupervised detectors (precision, recall, F1 of flagging as many users as were injected, the
  share of fake users that survive, and a random flagger's expected precision).
"""

from __future__ import annotations

import functools
import time
from typing import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec import data, defenses, metrics
from jaxrec.attacks import poisoning
from jaxrec.audit._config import AuditConfig, attacker_view
from jaxrec.audit._progress import bar
from jaxrec.audit._registry import (HEURISTIC_ATTACKS, LEARNED_ATTACKS, NUKE_ATTACKS,
                                    SELECTED_ATTACKS)
from jaxrec.data import Dataset, Interactions, PositiveIndex
from jaxrec.report import make_row

__all__ = ["DELTA_METRICS", "attack_recipe", "attack_section", "knowledge_of",
           "preflight_attacks", "resolve_targets"]

DELTA_METRICS = ("ndcg", "recall", "coverage", "gini", "arp")
MAX_DENSE = 50_000_000  # users x items entries the learned attacks may hold densely (200 MB)


def resolve_targets(dataset: Dataset, train_index: PositiveIndex, config: AuditConfig
                    ) -> np.ndarray:
  """Dense target item ids: ``config.target_ids`` (raw ids) or a seeded draw.

  Raises:
    ValueError: a raw id not in the dataset, or too few candidate items.
  """
  if config.target_ids is not None:
    raw_ids = np.asarray(dataset.item_ids)
    text = raw_ids.dtype.kind == "U"  # string ids: compare as text, else as integers
    wanted = []
    for t in config.target_ids:
      try:
        wanted.append(str(t) if text else int(t))
      except ValueError:
        raise ValueError(f"target item {t!r} is not an item id of this dataset (its ids are "
                         "integers)") from None
    if len(set(wanted)) != len(wanted):
      raise ValueError(f"target ids repeat an item: {list(config.target_ids)}")
    lookup = {(str(r) if text else int(r)): d for d, r in enumerate(raw_ids)}
    missing = [t for t in wanted if t not in lookup]
    if missing:
      raise ValueError(f"target item {missing[0]!r} (raw id) is not in the dataset")
    return np.asarray([lookup[t] for t in wanted])
  return poisoning.select_targets(np.asarray(train_index.item_degrees()), config.num_targets,
                                config.target_strategy, seed=config.seed)


def raw_id(value) -> int | str:
  """A raw id as a report row holds it: ``int`` for integer ids, ``str`` for string ids."""
  return value.item() if isinstance(value, np.integer) else \
      str(value) if isinstance(value, (str, np.str_)) else int(value)


def preflight_attacks(dataset: Dataset, train_index: PositiveIndex, config: AuditConfig) -> None:
  """Checks the attack settings against the data before anything is trained.

  Raises:
    ValueError: unknown target ids, too few candidate targets, a budget that gives at least as
      many fake users as real ones, or a filler size the catalogue cannot provide.
  """
  targets = resolve_targets(dataset, train_index, config)
  num_real = int(np.sum(np.asarray(train_index.degrees()) > 0))
  seen: dict[int, object] = {}
  for b in config.budgets:
    n = poisoning.num_fake_users(b, train_index.num_users)
    if n >= num_real:
      raise ValueError(f"budget {b} means {n} fake users, not fewer than the {num_real} real "
                       "users with training data")
    if n in seen:
      raise ValueError(f"budgets {seen[n]} and {b} both mean {n} fake users; give distinct "
                       "sizes")
    seen[n] = b
  if "reverse_bandwagon" in config.attacks and config.threshold is None:
    raise ValueError("reverse_bandwagon injects dislikes only (the target and the disliked "
                     "items rated at the minimum): a victim that counts every interaction "
                     "receives none of them; pass --threshold to use it")
  cells = train_index.num_users * train_index.num_items
  learned = [a for a in config.attacks if a in LEARNED_ATTACKS]
  if learned and cells > MAX_DENSE:
    raise ValueError(f"the {learned[0]} attack optimises a dense users x items matrix; "
                     f"{train_index.num_users} x {train_index.num_items} = {cells} entries exceed "
                     f"{MAX_DENSE}")
  filler = config.filler_size
  if filler is not None and filler + len(targets) >= train_index.num_items:
    raise ValueError(f"filler_size={filler} plus {len(targets)} target(s) would cover the whole "
                     f"catalogue of {train_index.num_items} items: BPR could sample no negative "
                     "for the fake users")


def _exposure_rows(exposure: list[dict], raw_targets: np.ndarray, **keys) -> list[dict]:
  rows = []
  for name in metrics.TARGET_METRICS:
    for k in exposure[0][name]:
      per = [e[name][k] for e in exposure]
      for t, v in zip(raw_targets, per):
        rows.append(make_row(metric=name, value=v, k=k, target=raw_id(t), **keys))
      rows.append(make_row(metric=name, value=float(np.mean(per)), k=k, target=None, **keys))
  return rows


def knowledge_of(dataset: Dataset, test_interactions: Interactions, config: AuditConfig):
  """The attacker's statistics (rating scale, means, power users) of the training ratings before
  any threshold (:func:`jaxrec.audit.attacker_view`).

  Returns:
    A :class:`jaxrec.attacks.poisoning.AttackKnowledge`.
  """
  view = attacker_view(dataset, test_interactions)
  scale = None  # all-equal ratings (clicks all rated 1): attacker_knowledge infers (0, v)
  if view.ratings is not None and len(view) and np.ptp(view.ratings) > 0:
    scale = (float(np.min(view.ratings)), float(np.max(view.ratings)))
  return poisoning.attacker_knowledge(view, positive_threshold=config.threshold,
                                      rating_scale=scale)


def attack_recipe(name: str, *, train_index: PositiveIndex, knowledge, target_sets: np.ndarray,
                  counts: list[int], filler: int, config: AuditConfig,
                  echo: Callable[[str], None] = print, progress: bool = False):
  """The recipe of attack ``name`` for :func:`jaxrec.attacks.poisoning.run_poisoning`.

  A heuristic attack is its profile generator with the static settings bound (capacity
  ``max(counts)``, ``filler`` items, push or nuke by name); a learned attack crafts its profiles
  now, once per ``(target set, budget)`` (dense matrices; seeded with ``config.seed``), with a
  progress bar and a status line.

  Args:
    name: an attack of :data:`jaxrec.audit.ATTACKS`. train_index: the clean training positives.
    knowledge: the attacker's statistics. target_sets: ``(S, T)`` dense target ids.
    counts: numbers of fake users. filler: filler items per profile.
    config: the audit's settings (``seed``, ``num_selected``).

  Returns:
    A :data:`jaxrec.attacks.poisoning.Recipe`.

  Raises:
    ValueError: from the recipe or the crafter (bad targets, budgets or filler size).
  """
  intent = "nuke" if name in NUKE_ATTACKS else "push"
  if name in LEARNED_ATTACKS:
    t0 = time.perf_counter()
    cells = len(target_sets) * len(counts)
    crafting = bar(cells, f"{name}: crafting profile sets", progress)
    recipe, _ = poisoning.craft_recipe(
        data.dense_matrix(train_index), target_sets, counts, filler,
        jax.random.key(config.seed), rating=knowledge.rating_max,
        craft=LEARNED_ATTACKS[name](), echo=echo, progress=crafting.update)
    crafting.close()
    echo(f"  {name}: crafted {cells} profile sets in {time.perf_counter() - t0:.1f} s")
    return recipe
  extra = ({"num_selected": min(config.num_selected, filler)} if name in SELECTED_ATTACKS
           else {})
  return functools.partial(HEURISTIC_ATTACKS[name], capacity=max(counts), filler_size=filler,
                           intent=intent, **extra)


def attack_section(dataset: Dataset, train: Interactions, test_interactions: Interactions,
                   train_index: PositiveIndex, test_index: PositiveIndex, clean_params,
                   clean_evaluation: dict, config: AuditConfig, *,
                   echo: Callable[[str], None] = print, progress: bool = False
                   ) -> Iterator[dict]:
  """Yields the tidy rows of the attack section (module docstring).

  The attacker's statistics (rating scale, means, power users) come from the training ratings
  before any threshold (:func:`jaxrec.audit.attacker_view`); the victim keeps the fake slots
  its feedback rule keeps (:meth:`jaxrec.attacks.poisoning.FakeProfiles.mask`). Every attack's
  cells run on the experiment executor (:func:`jaxrec.attacks.poisoning.run_poisoning`).
  With ``progress``, bars with an ETA follow the crafting of learned profiles, each attack's
  poisoned retrainings and the detectors.
  """
  num_real = train.num_users
  targets = resolve_targets(dataset, train_index, config)
  raw_targets = np.asarray(dataset.item_ids)[targets]
  counts = [poisoning.num_fake_users(b, num_real) for b in config.budgets]
  filler = config.filler_size if config.filler_size is not None else \
      poisoning.default_filler_size(train)
  knowledge = knowledge_of(dataset, test_interactions, config)
  victim = config.victim()
  evaluator = metrics.make_evaluator(train_index, test_index, ks=config.ks,
                                     chunk_size=config.chunk_size)
  target_ev = metrics.make_target_evaluator(train_index, ks=config.ks,
                                            chunk_size=config.chunk_size)
  echo(f"attack section: targets {raw_targets.tolist()} (raw ids), budgets "
       f"{list(config.budgets)} = {counts} fake users, {filler} filler items per profile")
  clean = target_ev.summarize(jax.jit(target_ev.raw)(victim.model, clean_params,
                                                      jnp.asarray(targets, jnp.int32)))
  yield from _exposure_rows(clean, raw_targets, model=config.model)
  clean_score = [e["target_score"][None] for e in clean]
  budget_of = dict(zip(counts, config.budgets))
  for name in config.attacks:
    intent = "nuke" if name in NUKE_ATTACKS else "push"
    recipe = attack_recipe(name, train_index=train_index, knowledge=knowledge,
                           target_sets=targets[:, None], counts=counts, filler=filler,
                           config=config, echo=echo, progress=progress)
    t0 = time.perf_counter()
    retraining = bar(len(targets) * len(counts), f"{name}: poisoned retrainings", progress)
    cells = poisoning.run_poisoning(
        recipe, knowledge=knowledge, clean=train_index, victim=victim, evaluator=evaluator,
        target_evaluator=target_ev, target_sets=targets[:, None], budgets=counts,
        seeds=[config.seed], progress=retraining.update)
    retraining.close()
    echo(f"  {name} ({intent}): {len(cells)} poisoned retrainings in "
         f"{time.perf_counter() - t0:.1f} s")
    detecting = bar(len(counts), f"{name}: detectors", progress)
    for count in counts:
      keys = dict(model=config.model, attack=name, budget=budget_of[count], num_fake=count)
      mine = [c for c in cells if c.num_fake == count]  # one per target, in target order
      exposure = [c.exposure[0] for c in mine]
      yield from _exposure_rows(exposure, raw_targets, **keys)
      shifts = [e["target_score"][None] - s for e, s in zip(exposure, clean_score)]
      for t, v in zip(raw_targets, shifts):
        yield make_row(metric="prediction_shift", value=v, target=raw_id(t), **keys)
      yield make_row(metric="prediction_shift", value=float(np.mean(shifts)), target=None,
                     **keys)
      for metric in DELTA_METRICS:
        for k in config.ks:
          attacked = float(np.mean([c.evaluation[metric][k] for c in mine]))
          yield make_row(metric=metric, value=attacked, k=k, **keys)
          yield make_row(metric=f"delta_{metric}", value=attacked - clean_evaluation[metric][k],
                         k=k, **keys)
      yield from _detection_rows(train, mine[0], keys)
      detecting.update(1)
    detecting.close()


def _detection_rows(train: Interactions, cell: poisoning.CellResult, keys: dict) -> list[dict]:
  poisoned, is_fake = poisoning.poisoned_interactions(train, cell.profiles)
  n_fake = int(is_fake.sum())
  if n_fake == 0:
    return []
  # users without any interaction cannot be injected profiles: never flag them
  present = np.bincount(np.asarray(poisoned.users), minlength=poisoned.num_users) > 0
  neighbors = max(1, min(10, int(present.sum()) - 1))
  rows = []
  for detector, scores in (
      ("pca-detector", defenses.pca_suspicion(poisoned)),
      ("profile-detector",
       defenses.profile_suspicion(poisoned, num_neighbors=neighbors)["score"])):
    scores = np.where(present, np.asarray(scores, np.float64), -np.inf)
    m = defenses.detection_metrics(defenses.flag_top(scores, n_fake), is_fake)
    for metric, value in (("detection_precision", m["precision"]),
                          ("detection_recall", m["recall"]), ("detection_f1", m["f1"]),
                          ("fake_survival", m["survival"]),
                          ("random_flagger_precision", m["random_precision"])):
      rows.append(make_row(metric=metric, value=value, defense=detector, **keys))
  return rows
