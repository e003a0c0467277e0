"""APR and its side effects: accuracy, robustness and beyond-accuracy over an eps x lambda grid.

A defence is never judged on accuracy alone. BPR-MF is pre-trained once, then every
``(eps, lambda)`` setting continues with APR (He et al., SIGIR 2018) as one vmapped program
(:func:`jaxrec.defenses.fit_apr_grid`); the ``lambda = 0`` lane is plain BPR for the same total
number of epochs. Every model is then evaluated clean and under test-time FGSM and PGD on its
embeddings at several budgets. Rows (tidy; grid keys ``eps`` and ``lambda`` = the training
setting, ``0`` and ``0`` for BPR):

* ``defense="apr"`` (``"none"`` for BPR), ``attack="none"``: every metric of
  :func:`jaxrec.metrics.evaluate` (accuracy, coverage, Gini, ARP, APLT, novelty) at each k;
* ``attack="fgsm"`` / ``"pgd"``, ``budget=<attack eps>``: ``hr`` and ``ndcg`` under attack and
  their relative drops ``hr_drop`` = ``(clean - attacked) / clean`` (0 when clean is 0).
"""

from __future__ import annotations

import functools
import itertools
import time
from typing import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec import attacks, defenses, metrics, models
from jaxrec.audit._config import AuditConfig
from jaxrec.data import PositiveIndex
from jaxrec.report import make_row, rows_from_evaluation

__all__ = ["apr_section", "apr_settings"]


def apr_settings(config: AuditConfig) -> tuple[list[float], list[float]]:
  """``(eps, lambda)`` of every lane as Python floats: BPR ``(0, 0)`` first, then the grid."""
  pairs = [(0.0, 0.0)] + list(itertools.product(config.apr_eps, config.apr_lambda))
  return [float(p[0]) for p in pairs], [float(p[1]) for p in pairs]


def apr_section(train: PositiveIndex, test: PositiveIndex, config: AuditConfig, *,
                echo: Callable[[str], None] = print, lanes: int | None = None
                ) -> Iterator[dict]:
  """Yields the rows of the APR side-effects section (module docstring).

  Args:
    train, test: the split.
    config: the audit's hyper-parameters (``apr_*``, ``robustness_eps``, ``pgd_steps``).
    echo: status lines.
    lanes: settings per vmapped training program (default: all on accelerators, 2 on CPU,
      where vmapping many retrainings is slower than a few at a time: see
      benchmarks/poison_grid.py).
  """
  eps, lam = apr_settings(config)
  pre = config.apr_pretrain_epochs if config.apr_pretrain_epochs is not None else \
      config.epochs // 2
  adv = config.epochs - pre
  victim = config.victim()  # BPR-MF (AuditConfig enforces it)
  echo(f"APR section: {len(eps) - 1} settings (eps {list(config.apr_eps)} x lambda "
       f"{list(config.apr_lambda)}) and BPR, {pre} BPR epochs then {adv} adversarial epochs")
  lanes = lanes or (2 if jax.default_backend() == "cpu" else len(eps))
  fit = jax.jit(functools.partial(defenses.fit_apr_grid, victim=victim, pretrain_epochs=pre,
                                  adversarial_epochs=adv, reg=config.reg))
  t0 = time.perf_counter()
  params = _in_groups(lambda e, l: fit(train, jax.random.key(config.seed), eps=e, lam=l)[0],
                      eps, lam, lanes)
  jax.block_until_ready(params)
  echo(f"  trained {len(eps)} models in {time.perf_counter() - t0:.1f} s")
  finite = np.all([np.all(np.isfinite(x), axis=tuple(range(1, x.ndim)))
                   for x in jax.tree.leaves(params)], axis=0)
  evaluator = metrics.make_evaluator(train, test, ks=config.ks, chunk_size=config.chunk_size)
  score_all = models.mf.score_all  # APR is defined for BPR-MF's factors
  clean_raw = jax.jit(jax.vmap(lambda p, ev: ev.raw(score_all, p), in_axes=(0, None)))(
      params, evaluator)
  clean = []
  for g in range(len(eps)):
    keys = _keys(eps[g], lam[g])
    if not finite[g]:
      raise FloatingPointError(f"APR diverged at eps={eps[g]:g}, lambda={lam[g]:g}: non-finite "
                               "parameters; lower the learning rate or eps")
    ev = evaluator.summarize(jax.tree.map(lambda x, g=g: x[g], clean_raw))
    clean.append(ev)
    yield from rows_from_evaluation(ev, **keys)
  triples, weights = attacks.attack_triples(jax.random.key(config.seed + 1), train)

  def attacked(p, ev, e, *, steps, random):
    perturbed, _ = attacks.perturb_embeddings(
        jax.random.key(config.seed + 2), p, triples, weights, eps=e, num_steps=steps,
        random_init=random)
    return ev.raw(score_all, perturbed)

  for name, steps, random in (("fgsm", 1, False), ("pgd", config.pgd_steps, True)):
    batched = jax.jit(jax.vmap(functools.partial(attacked, steps=steps, random=random),
                               in_axes=(0, None, None)))
    for budget in config.robustness_eps:  # eps is traced: one compilation per attack
      raw = batched(params, evaluator, jnp.float32(budget))
      for g in range(len(eps)):
        ev = evaluator.summarize(jax.tree.map(lambda x, g=g: x[g], raw))
        keys = dict(_keys(eps[g], lam[g]), attack=name, budget=float(budget))
        for metric in ("hr", "ndcg"):
          for k in config.ks:
            before = clean[g][metric][k]
            yield make_row(metric=metric, value=ev[metric][k], k=k, **keys)
            yield make_row(metric=f"{metric}_drop", k=k, **keys,
                           value=(before - ev[metric][k]) / before if before > 0 else 0.0)
  echo(f"  robustness: FGSM and {config.pgd_steps}-step PGD at eps "
       f"{list(config.robustness_eps)} (per-row L2 on the factors)")


def _keys(e, l) -> dict:
  return dict(model="bpr-mf", defense="apr" if l > 0 else "none", eps=float(e),
              **{"lambda": float(l)})


def _in_groups(train_fn, eps, lam, lanes):
  """Runs ``train_fn`` on groups of ``lanes`` settings (the last group padded by repeating its
  last setting, so every group has one shape and the program compiles once)."""
  outs = []
  eps, lam = np.asarray(eps, np.float32), np.asarray(lam, np.float32)
  for start in range(0, len(eps), lanes):
    e, l = eps[start:start + lanes], lam[start:start + lanes]
    n = len(e)
    pad = lanes - n
    e = np.concatenate([e, np.repeat(e[-1:], pad)])
    l = np.concatenate([l, np.repeat(l[-1:], pad)])
    out = train_fn(jnp.asarray(e), jnp.asarray(l))
    outs.append(jax.tree.map(lambda x, n=n: x[:n], out))
  return jax.tree.map(lambda *xs: jnp.concatenate(xs), *outs)
