"""The defense benchmark: every defense against every attack, robustness beside its side effects.

The common setup of the 2024 defense papers (Zhang et al., RecSys 2024 and NeurIPS 2024): the
attacker injects fake users (``config.budgets``, 1% of the real users by default) that push all
``config.num_targets`` target items *together* (one target set); the victim is retrained from
scratch with the defense, for ``config.num_seeds`` seeds (``config.seed, config.seed + 1, ...``:
the seed of the attack's randomness and of the victim's training). The attack does not adapt to
the defense: a heuristic attack draws the same profiles for a seed whatever the defense, a
learned attack crafts its profiles once against an undefended surrogate.

Defenses (``config.defense``; ``"none"`` is always run as the reference; settings in
:class:`DefenseSettings`, from each paper's defaults):

* ``apr``: APR's triple form, radius ``apr_eps`` (:func:`jaxrec.defenses.user_apr`);
* ``vat`` / ``pamacf``: per-user radii (:func:`jaxrec.defenses.vat`, :func:`~jaxrec.defenses.pamacf`);
* ``sharpcf``: the trajectory loss (:func:`jaxrec.defenses.sharpcf`);
* ``detect``: detect, remove, retrain (:func:`jaxrec.defenses.detect_and_remove`): the detector
  flags as many users as the attack injected (the defender is told the attack's size, the usual
  evaluation of PCA-VarSelect; a real defender must guess it), the flagged users are removed and
  the victim retrained; rows ``flagged_fake`` and ``flagged_real`` (the real users it removed:
  its cost). On clean data (``attack="none"``) it flags as many users as the smallest budget
  injects: all of them real.

* ``pore``: PORE's bagged ensemble (:func:`jaxrec.defenses.pore_ensemble`) trained on the
  (poisoned) data in place of the victim, recommending by base-model votes; the poisoned data
  are those of the undefended cells (the same profiles). Its clean rows add the certified
  precision@k and recall@k at the attack's number of fake users (``budget`` set).

The adversarial-training defenses need BPR-MF; the warm-up of ``warmup_fraction`` of the epochs
trains plain BPR first (the authors' ``begin_adv``: 5 of 30 epochs).

Rows (keys ``section="defenses"`` and ``seed``; ``attack="none"`` for the defended model on clean
data): ``target_hr``, ``target_ndcg`` (mean over the target items) and the real users' ``hr``,
``ndcg``, ``recall``, ``coverage``, ``gini``, ``arp`` at every k; ``flagged_fake`` /
``flagged_real`` for ``detect``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, ClassVar, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrec import defenses, metrics
from jaxrec.attacks import poisoning
from jaxrec.attacks.poisoning import inject
from jaxrec.audit._attack_section import attack_recipe, knowledge_of, resolve_targets
from jaxrec.audit._config import AuditConfig
from jaxrec.audit._progress import bar
from jaxrec.audit._registry import NUKE_ATTACKS
from jaxrec.data import Dataset, Interactions, PositiveIndex
from jaxrec.experiment import execute
from jaxrec.models import MF
from jaxrec.report import make_row
from jaxrec.training import Victim, fit_victim, steps_per_epoch

__all__ = ["BENCHMARK_METRICS", "DefenseSettings", "defended_victim", "defense_benchmark"]

BENCHMARK_METRICS = ("hr", "ndcg", "recall", "coverage", "gini", "arp")
TRAINING_DEFENSES = ("apr", "vat", "pamacf", "sharpcf")


@dataclasses.dataclass(frozen=True)
class DefenseSettings:
  """Hyper-parameters of the benchmarked defenses (defaults: each paper's or its code's).

  Attributes:
    apr_eps, apr_lambda: APR's radius (absolute, per embedding row) and weight (He et al.:
      0.5 and 1).
    vat_eps, pamacf_eps: base radii of VAT and PamaCF (authors' MF settings: 0.3-0.6 and
      0.5-0.9). user_lambda: their largest per-user weight (authors: 2). adv_lambda: their
      adversarial weight (authors: 1).
    sharpcf_lambda: SharpCF's trajectory weight. sharpcf_lag: epochs back (``T``).
    warmup_fraction: share of the epochs trained with plain BPR before the defended loss
      (authors of VAT/PamaCF: 5 of 30 epochs).
    detector: ``"pca"`` (PCA-VarSelect) or ``"profile"`` for ``detect``.
    pore_models: ``T``, PORE's base models per ensemble (the authors use far more; their
      number only tightens the confidence bounds). pore_sample_fraction: ``s`` as a share of
      the real users (at least 1; the same ``s`` on clean and poisoned data). pore_top_n_base: ``N'``, items each base model recommends (more
      than 1, so that the ensemble ranks more than ``T`` items). pore_alpha: the certificate's
      confidence.
  """

  apr_eps: float = 0.5
  apr_lambda: float = 1.0
  vat_eps: float = 0.5
  pamacf_eps: float = 0.5
  user_lambda: float = 2.0
  adv_lambda: float = 1.0
  sharpcf_lambda: float = 1.0
  sharpcf_lag: int = 3
  warmup_fraction: float = 1 / 6
  detector: str = "pca"
  pore_models: int = 100
  pore_sample_fraction: float = 0.05
  pore_top_n_base: int = 10
  pore_alpha: float = 0.001


def defended_victim(name: str, victim: Victim, settings: DefenseSettings, *,
                    num_steps: int) -> Victim:
  """The victim trained with training-time defense ``name`` (``"none"``: itself).

  Args:
    name: ``"none"``, ``"apr"``, ``"vat"``, ``"pamacf"`` or ``"sharpcf"``.
    victim: the undefended victim. settings: the defenses' hyper-parameters.
    num_steps: steps per epoch of the training data (SharpCF's snapshot period).

  Returns:
    A :class:`jaxrec.training.Victim`.

  Raises:
    ValueError: an unknown name; an adversarial-training defense for a model other than BPR-MF.
  """
  if name == "none":
    return victim
  if name not in TRAINING_DEFENSES:
    raise ValueError(f"{name!r} is not a training-time defense ({', '.join(TRAINING_DEFENSES)})")
  warmup = int(round(settings.warmup_fraction * victim.num_epochs))
  if name == "sharpcf":
    return defenses.sharpcf(victim, lambda_=settings.sharpcf_lambda, lag=settings.sharpcf_lag,
                            steps_per_epoch=num_steps, warmup_epochs=warmup)
  if not isinstance(victim.model, MF):
    raise ValueError(f"the {name} defense perturbs BPR-MF's factors; got a {victim.name!r} "
                     "victim")
  if name == "apr":
    return defenses.user_apr(victim, eps=settings.apr_eps, lambda_=settings.apr_lambda,
                             warmup_epochs=warmup)
  make = defenses.vat if name == "vat" else defenses.pamacf
  eps = settings.vat_eps if name == "vat" else settings.pamacf_eps
  return make(victim, eps=eps, lambda_=settings.adv_lambda, user_lambda=settings.user_lambda,
              warmup_epochs=warmup)


@struct.dataclass
class _VoteScores:
  """A score table as a model (PORE's votes): ``params`` is ``(U, I)`` float32 scores."""

  name: ClassVar[str] = "pore"

  def init(self, key, data):
    raise ValueError("a vote table is computed by pore_ensemble, not initialised")

  def loss(self, params, batch, data):
    raise ValueError("a vote table is not trained by gradient steps")

  def score(self, params, data, users, items):
    return params[users, items]

  def score_all(self, params, data, users):
    return params[users]

  def scoring(self, params, data):
    return self, params


def _pore_votes(index: PositiveIndex, seed: int, settings: DefenseSettings, num_real: int):
  """The ensemble of ``index`` (samples over all its users, fake ones included; the sample
  size from the ``num_real`` real users, the same clean and poisoned) and its votes as scores."""
  s = max(1, int(round(settings.pore_sample_fraction * num_real)))
  ens = defenses.pore_ensemble(index, jax.random.key(seed), num_models=settings.pore_models,
                               num_samples=s, top_n_base=settings.pore_top_n_base)
  return ens, jnp.asarray(ens.counts, jnp.float32)


def _rows(evaluation: dict, exposure: list[dict], ks, **keys) -> Iterator[dict]:
  for metric in ("target_hr", "target_ndcg"):
    for k in ks:
      yield make_row(metric=metric, k=k, value=float(np.mean([e[metric][k] for e in exposure])),
                     **keys)
  for metric in BENCHMARK_METRICS:
    for k in ks:
      yield make_row(metric=metric, k=k, value=evaluation[metric][k], **keys)


def _clean_cell(seed, shared, *, victim, num_steps, sanitize=None):
  clean, evaluator, target_evaluator, targets = shared
  key = jax.random.key(seed)
  data, flags = clean, {}
  if sanitize is not None:  # the same key as run_poisoning's sanitizer
    data, flagged = sanitize(jax.random.fold_in(key, 2), clean, clean.num_users)
    flags = {"flagged_real": jnp.sum(flagged, dtype=jnp.int32)}
  params, _ = fit_victim(victim, data, key, num_steps=num_steps)
  return {"eval": evaluator.raw(victim.model, params, clean),
          "target": target_evaluator.raw(victim.model, params, targets, clean), **flags}


def defense_benchmark(dataset: Dataset, train: Interactions, test_interactions: Interactions,
                      train_index: PositiveIndex, test_index: PositiveIndex,
                      config: AuditConfig, *, settings: DefenseSettings | None = None,
                      echo: Callable[[str], None] = print, progress: bool = False
                      ) -> Iterator[dict]:
  """Yields the rows of the defense benchmark (module docstring).

  Args:
    dataset, train, test_interactions: the data and its split (raw ids, ratings).
    train_index, test_index: the split's positives.
    config: the audit's settings (model and recipe, ``attacks``, ``budgets``, targets,
      ``defense``, ``num_seeds``, ``ks``).
    settings: the defenses' hyper-parameters (default :class:`DefenseSettings`).
    echo: status lines. progress: bars with an ETA.

  Raises:
    ValueError: an adversarial-training defense for a model other than BPR-MF; settings the
      attack section refuses (targets, budgets).
  """
  settings = settings or DefenseSettings()
  names = ("none",) + tuple(d for d in config.defense if d != "none")
  attacks = [a for a in config.attacks if a not in NUKE_ATTACKS]
  if len(attacks) < len(config.attacks):
    echo(f"defense benchmark: the targets are pushed; the nuke attacks "
         f"{[a for a in config.attacks if a in NUKE_ATTACKS]} are left out of it")
  seeds = [config.seed + s for s in range(config.num_seeds)]
  targets = resolve_targets(dataset, train_index, config)
  target_set = jnp.asarray(targets, jnp.int32)
  counts = [poisoning.num_fake_users(b, train.num_users) for b in config.budgets]
  budget_of = dict(zip(counts, config.budgets))
  filler = config.filler_size if config.filler_size is not None else \
      poisoning.default_filler_size(train)
  knowledge = knowledge_of(dataset, test_interactions, config)
  victim = config.victim()
  num_steps = (None if victim.batch_size is None  # closed-form models: detect and pore only
               else steps_per_epoch(int(train_index.num_valid), victim.batch_size))
  evaluator = metrics.make_evaluator(train_index, test_index, ks=config.ks,
                                     chunk_size=config.chunk_size)
  target_ev = metrics.make_target_evaluator(train_index, ks=config.ks,
                                            chunk_size=config.chunk_size)
  echo(f"defense benchmark: {', '.join(names)} against {', '.join(attacks)}; the "
       f"{len(targets)} targets {np.asarray(dataset.item_ids)[targets].tolist()} pushed "
       f"together, {counts} fake users, seeds {seeds}")
  recipes = {a: attack_recipe(a, train_index=train_index, knowledge=knowledge,
                              target_sets=targets[None, :], counts=counts, filler=filler,
                              config=config, echo=echo, progress=progress)
             for a in attacks}
  poisoned_profiles = {}  # (attack, seed, num_fake) -> profiles of the undefended cells
  for name in names:
    t0 = time.perf_counter()
    base = dict(model=config.model, defense=name, section="defenses")
    if name == "pore":
      yield from _pore_section(poisoned_profiles, seeds, counts, budget_of, attacks,
                               train_index, test_index, evaluator, target_ev, target_set,
                               settings, config.ks, base, progress)
      echo(f"  pore: {len(seeds) * (1 + len(attacks) * len(counts))} ensembles of "
           f"{settings.pore_models} models in {time.perf_counter() - t0:.1f} s")
      continue
    sanitize = name == "detect"
    v = victim if sanitize else defended_victim(name, victim, settings, num_steps=num_steps)
    training = bar(len(seeds), f"{name}: clean retrainings", progress)
    # on clean data the detector still flags (as many users as the smallest attack injects)
    clean_sanitizer = (defenses.detect_and_remove(settings.detector, num_flag=min(counts))
                       if sanitize else None)
    outs = execute(lambda s, shared, v=v, z=clean_sanitizer: _clean_cell(
        s, shared, victim=v, num_steps=num_steps, sanitize=z),
                   [jnp.uint32(s) for s in seeds],
                   (train_index, evaluator, target_ev, target_set), progress=training.update)
    training.close()
    for s, out in zip(seeds, outs):
      yield from _rows(evaluator.summarize(out["eval"]), target_ev.summarize(out["target"]),
                       config.ks, seed=s, **base)
      if "flagged_real" in out:
        yield make_row(metric="flagged_real", value=int(out["flagged_real"]), seed=s, **base)
    for attack in attacks:
      attacking = bar(len(seeds) * len(counts), f"{name}: {attack}", progress)
      cells = []
      for count in (counts if sanitize else [None]):
        cells += poisoning.run_poisoning(
            recipes[attack], knowledge=knowledge, clean=train_index, victim=v,
            evaluator=evaluator, target_evaluator=target_ev, target_sets=targets[None, :],
            budgets=counts if count is None else [count], seeds=seeds,
            progress=attacking.update,
            sanitize=None if count is None else defenses.detect_and_remove(
                settings.detector, num_flag=count))
      attacking.close()
      for c in cells:
        if name == "none":
          poisoned_profiles[(attack, c.seed, c.num_fake)] = c.profiles
        keys = dict(base, attack=attack, budget=budget_of[c.num_fake], num_fake=c.num_fake,
                    seed=c.seed)
        yield from _rows(c.evaluation, c.exposure, config.ks, **keys)
        if c.flagged_fake is not None:
          yield make_row(metric="flagged_fake", value=c.flagged_fake, **keys)
          yield make_row(metric="flagged_real", value=c.flagged_real, **keys)
    echo(f"  {name}: {len(seeds) * (1 + len(attacks) * len(counts))} retrainings in "
         f"{time.perf_counter() - t0:.1f} s")


def _pore_section(profiles, seeds, counts, budget_of, attacks, train_index, test_index,
                  evaluator, target_ev, target_set, settings, ks, base, progress
                  ) -> Iterator[dict]:
  """PORE's rows: the ensemble on clean data (with its certificate at each budget), then on
  the undefended cells' poisoned data."""
  steps = bar(len(seeds) * (1 + len(attacks) * len(counts)), "pore: ensembles", progress)
  for s in seeds:
    ens, votes = _pore_votes(train_index, s, settings, train_index.num_users)
    ev = evaluator.summarize(evaluator.raw(_VoteScores(), votes, train_index))
    ex = target_ev.summarize(target_ev.raw(_VoteScores(), votes, target_set, train_index))
    yield from _rows(ev, ex, ks, seed=s, **base)
    for k in ks:
      cert = defenses.pore_certified_accuracy(ens, test_index, counts, top_n=k,
                                              alpha=settings.pore_alpha)
      for e, prec, rec in zip(counts, cert["precision"], cert["recall"]):
        yield make_row(metric="certified_precision", k=k, value=float(prec),
                       budget=budget_of[e], num_fake=e, seed=s, **base)
        yield make_row(metric="certified_recall", k=k, value=float(rec),
                       budget=budget_of[e], num_fake=e, seed=s, **base)
    steps.update(1)
  for attack in attacks:
    for s in seeds:
      for count in counts:
        poisoned = inject(train_index, profiles[(attack, s, count)])
        _, votes = _pore_votes(poisoned, s, settings, train_index.num_users)
        ev = evaluator.summarize(evaluator.raw(_VoteScores(), votes, poisoned))
        ex = target_ev.summarize(target_ev.raw(_VoteScores(), votes, target_set, poisoned))
        yield from _rows(ev, ex, ks, attack=attack, budget=budget_of[count], num_fake=count,
                         seed=s, **base)
        steps.update(1)
  steps.close()
