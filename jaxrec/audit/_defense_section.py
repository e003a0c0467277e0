"""APR and its side effects: accuracy, robustness and beyond-accuracy over an eps x lambda grid.

A defence is never judged on accuracy alone. BPR-MF is pre-trained once, then every
``(eps, lambda)`` setting continues with APR (He et al., SIGIR 2018) on the experiment executor
(:func:`jaxrec.defenses.fit_apr_grid`); the ``lambda = 0`` lane is plain BPR for the same total
number of epochs. Every model is then evaluated clean and under test-time FGSM and PGD on its
embeddings at several budgets, again on the executor (models x budgets as cells). Rows (tidy; grid
keys ``eps`` and ``lambda`` = the training setting, ``0`` and ``0`` for BPR):

* ``defense="apr"`` (``"none"`` for BPR), ``attack="none"``: every metric of
  :func:`jaxrec.metrics.evaluate` (accuracy, coverage, Gini, ARP, APLT, novelty) at each k;
* ``attack="fgsm"`` / ``"pgd"``, ``budget=<attack eps>``: ``hr`` and ``ndcg`` under attack and
  their relative drops ``hr_drop`` = ``(clean - attacked) / clean`` (0 when clean is 0).
"""

from __future__ import annotations

import itertools
import time
from typing import Callable, Iterator

import jax
import numpy as np

from jaxrec import defenses, metrics, models
from jaxrec.attacks import evasion
from jaxrec.audit._config import AuditConfig
from jaxrec.audit._progress import bar
from jaxrec.data import PositiveIndex
from jaxrec.experiment import execute
from jaxrec.report import make_row, rows_from_evaluation

__all__ = ["apr_section", "apr_settings"]


def apr_settings(config: AuditConfig) -> tuple[list[float], list[float]]:
  """``(eps, lambda)`` of every lane as Python floats: BPR ``(0, 0)`` first, then the grid."""
  pairs = [(0.0, 0.0)] + list(itertools.product(config.apr_eps, config.apr_lambda))
  return [float(p[0]) for p in pairs], [float(p[1]) for p in pairs]


def apr_section(train: PositiveIndex, test: PositiveIndex, config: AuditConfig, *,
                echo: Callable[[str], None] = print, lanes: int | None = None,
                progress: bool = False) -> Iterator[dict]:
  """Yields the rows of the APR side-effects section (module docstring).

  Args:
    train, test: the split.
    config: the audit's hyper-parameters (``apr_*``, ``robustness_eps``, ``pgd_num_steps``).
    echo: status lines.
    lanes: settings per vmapped program (default :func:`jaxrec.experiment.default_lanes`).
    progress: bars with an ETA for the APR training, the evaluation and each embedding attack.
  """
  eps, lam = apr_settings(config)
  pre = config.apr_pretrain_epochs if config.apr_pretrain_epochs is not None else \
      config.epochs // 2
  adv = config.epochs - pre
  victim = config.victim()  # BPR-MF (AuditConfig enforces it)
  echo(f"APR section: {len(eps) - 1} settings (eps {list(config.apr_eps)} x lambda "
       f"{list(config.apr_lambda)}) and BPR, {pre} BPR epochs then {adv} adversarial epochs")
  t0 = time.perf_counter()
  training = bar(len(eps), "APR: training settings", progress)
  params, _ = defenses.fit_apr_grid(train, jax.random.key(config.seed), eps=eps, lambda_=lam,
                                    victim=victim, pretrain_epochs=pre,
                                    adversarial_epochs=adv, lanes=lanes,
                                    progress=training.update)
  training.close()
  echo(f"  trained {len(eps)} models in {time.perf_counter() - t0:.1f} s")
  finite = np.all([np.all(np.isfinite(x), axis=tuple(range(1, x.ndim)))
                   for x in jax.tree.leaves(params)], axis=0)
  for g in np.flatnonzero(~finite)[:1]:
    raise FloatingPointError(f"APR diverged at eps={eps[g]:g}, lambda={lam[g]:g}: non-finite "
                             "parameters; lower the learning rate or eps")
  evaluator = metrics.make_evaluator(train, test, ks=config.ks, chunk_size=config.chunk_size)
  mf = models.MF(dim=victim.model.dim)  # APR is defined for BPR-MF's factors
  per_model = [jax.tree.map(lambda x, g=g: x[g], params) for g in range(len(eps))]
  evaluating = bar(len(per_model), "APR: evaluating", progress)
  clean = [evaluator.summarize(raw) for raw in execute(
      lambda p, ev: ev.raw(mf, p), per_model, evaluator, lanes=lanes,
      progress=evaluating.update)]
  evaluating.close()
  for g, ev in enumerate(clean):
    yield from rows_from_evaluation(ev, **_keys(eps[g], lam[g]))
  triples, weights = evasion.attack_triples(jax.random.key(config.seed + 1), train)

  def attacked(cell, shared, *, steps, random):
    p, budget = cell
    ev, triples, weights = shared
    perturbed, _ = evasion.perturb_embeddings(
        jax.random.key(config.seed + 2), p, triples, weights, eps=budget, num_steps=steps,
        random_init=random)
    return ev.raw(mf, perturbed)

  cells = [(p, np.float32(b)) for b in config.robustness_eps for p in per_model]
  for name, steps, random in (("fgsm", 1, False), ("pgd", config.pgd_num_steps, True)):
    attacking = bar(len(cells), f"APR: {name.upper()} on every model", progress)
    raws = execute(lambda c, s, steps=steps, random=random: attacked(c, s, steps=steps,
                                                                     random=random),
                   cells, (evaluator, triples, weights), lanes=lanes,
                   progress=attacking.update)
    attacking.close()
    order = itertools.product(config.robustness_eps, range(len(eps)))  # the cells' order
    for (budget, g), raw in zip(order, raws):
      ev = evaluator.summarize(raw)
      keys = dict(_keys(eps[g], lam[g]), attack=name, budget=float(budget))
      for metric in ("hr", "ndcg"):
        for k in config.ks:
          before = clean[g][metric][k]
          yield make_row(metric=metric, value=ev[metric][k], k=k, **keys)
          yield make_row(metric=f"{metric}_drop", k=k, **keys,
                         value=(before - ev[metric][k]) / before if before > 0 else 0.0)
  echo(f"  robustness: FGSM and {config.pgd_num_steps}-step PGD at eps "
       f"{list(config.robustness_eps)} (per-row L2 on the factors)")


def _keys(e, l) -> dict:
  return dict(model="bpr-mf", defense="apr" if l > 0 else "none", eps=float(e),
              **{"lambda": float(l)})
