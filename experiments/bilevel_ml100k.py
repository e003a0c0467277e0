"""Gradient-crafted fake profiles against heuristic shilling on MovieLens-100K, and transfer.

The unrolled bilevel attack (RevAdv, Tang, Wen, Wang, RecSys 2020) crafts fake profiles through
a latent-factor surrogate (:func:`jaxrec.attacks.poisoning.craft_bilevel`: exact filler budget
at every outer step, straight-through gradients); they are injected into the training data and
each victim is retrained from scratch, exactly as the heuristic attacks of ``jaxrec audit`` are
(:func:`jaxrec.attacks.poisoning.run_poisoning`, same targets, budgets, filler size and victim
seed)::

  python experiments/bilevel_ml100k.py --data ../shared/data/movielens-100k/u.data \\
      --out runs/bilevel_ml100k

Setting (the audit's attack section): leave the latest interaction of each user out, every
rating is an interaction, 5 unpopular targets (each attacked on its own), 1% and 5% fake users,
fillers = the mean real profile length. Crafting (:func:`jaxrec.attacks.poisoning.craft_recipe`,
the same as ``jaxrec audit --attacks revadv``): surrogate
:func:`jaxrec.attacks.poisoning.default_surrogate`
(LFM, 64 factors, 50 unrolled Adam steps); outer loss: the target's log-sigmoid margin over the
10th best unseen item, for the 5% of eligible real users closest to a hit
(:func:`jaxrec.attacks.poisoning.margin_loss` with ``top_fraction=0.05``), Adam 0.3 for 30 outer
steps.

Victims: BPR-MF with the audit recipe (the main comparison: random, average, bandwagon and the
gradient attack), then the transfer table: BPR-MF with another seed and 32 factors, LightGCN,
NeuMF, EASE and ItemKNN (their default recipes; LightGCN trains ``--lightgcn-epochs``) against
the gradient profiles and the best heuristic on BPR-MF. Writes ``DIR/report.json`` (tidy rows as
``jaxrec audit``: ``model``, ``attack``, ``budget``, ``metric`` in ``target_hr``,
``target_rank``, ``k``, ``value``, ``target`` (raw id, ``None`` = mean over targets), ``seed``;
``config``: the settings, ``config_hash``, ``config_file`` and the targets, fake-user counts
and filler size drawn) and prints both tables. The settings are
``experiments/configs/bilevel_ml100k.toml`` (:class:`BilevelConfig`; ``--config FILE`` runs
another; ``--seed``, ``--targets``, ``--budgets``, ``--outer-steps``, ``--inner-steps``,
``--outer-lr``, ``--lightgcn-epochs`` and ``--no-transfer`` override one setting).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time

import _cli  # experiments/_cli.py, beside this script
import jax
import numpy as np
import optax

from jaxrec import _checks, audit, data, metrics, report, training
from jaxrec.attacks import poisoning
from jaxrec.audit._attack_section import resolve_targets
from jaxrec.audit._config import attacker_view

HEURISTICS = {"random": poisoning.random_attack, "average": poisoning.average_attack,
              "bandwagon": poisoning.bandwagon_attack}


@dataclasses.dataclass(frozen=True)
class BilevelConfig:
  """Settings of the comparison (module docstring).

  Attributes:
    seed: seed of the split's ties, targets, crafting and the victims (``seed + 1`` for the
      second BPR-MF of the transfer table).
    num_targets: unpopular targets, each attacked on its own.
    budgets: fake users: fractions of the real users in ``(0, 1)`` or integer counts.
    outer_steps: Adam steps of the crafting. inner_steps: unrolled steps of the surrogate.
    outer_lr: Adam's learning rate of the crafting.
    lightgcn_epochs: LightGCN's epochs in the transfer table.
    transfer: also run the transfer table (``False``: BPR-MF only).
  """

  seed: int = 0
  num_targets: int = 5
  budgets: tuple[int | float, ...] = (0.01, 0.05)
  outer_steps: int = 30
  inner_steps: int = 50
  outer_lr: float = 0.3
  lightgcn_epochs: int = 60
  transfer: bool = True

  def __post_init__(self):
    _checks.integer("outer_steps", self.outer_steps, low=1)
    _checks.integer("inner_steps", self.inner_steps, low=1)
    _checks.real("outer_lr", self.outer_lr, low_open=True)
    _checks.integer("lightgcn_epochs", self.lightgcn_epochs, low=1)
    self.audit()  # seed, targets and budgets are checked where the audit config is built

  def audit(self) -> audit.AuditConfig:
    """The audit's attack setting with these targets, budgets and seed (HR@10).

    Raises:
      ValueError: a bad seed, number of targets or budget.
    """
    return audit.AuditConfig(seed=self.seed, num_targets=self.num_targets,
                             budgets=self.budgets, ks=(10,))


def main(argv=None) -> int:
  p = _cli.parser(__file__, __doc__)
  p.add_argument("--data", required=True, help="MovieLens-100K u.data")
  _cli.override(p, "--seed", "seed", type=int)
  _cli.override(p, "--targets", "num_targets", type=int)
  _cli.override(p, "--budgets", "budgets", type=_budget, nargs="+",
                help="fractions of the real users (0.05) or counts of fake users (47)")
  _cli.override(p, "--outer-steps", "outer_steps", type=int)
  _cli.override(p, "--inner-steps", "inner_steps", type=int)
  _cli.override(p, "--outer-lr", "outer_lr", type=float)
  _cli.override(p, "--lightgcn-epochs", "lightgcn_epochs", type=int)
  _cli.override(p, "--no-transfer", "transfer", action="store_const", const=False,
                help="BPR-MF only")
  args = p.parse_args(argv)
  study = _cli.load(args, BilevelConfig)
  config = study.audit()
  dataset = data.load_movielens_100k(args.data)
  train, test, _, _ = audit.prepare_split(dataset, config)
  train_idx, test_idx = data.index_interactions(train), metrics.relevant_index(test)
  targets = resolve_targets(dataset, train_idx, config)
  raw = np.asarray(dataset.item_ids)[targets]
  counts = [poisoning.num_fake_users(b, train.num_users) for b in config.budgets]
  filler = poisoning.default_filler_size(train)
  view = attacker_view(dataset, test)
  knowledge = poisoning.attacker_knowledge(
      view, rating_scale=(float(np.min(view.ratings)), float(np.max(view.ratings))))
  print(f"targets {raw.tolist()} (raw ids), fake users {counts}, {filler} fillers", flush=True)

  # 1. craft the gradient profiles, one per target and budget
  rows: list[dict] = []
  t0 = time.perf_counter()
  crafted, _ = poisoning.craft_recipe(
      data.dense_matrix(train_idx), targets[:, None], counts, filler,
      jax.random.key(study.seed), rating=knowledge.rating_max,
      craft=poisoning.bilevel_crafter(surrogate=poisoning.default_surrogate(study.inner_steps),
                                      tx=optax.adam(study.outer_lr), num_steps=study.outer_steps),
      echo=lambda line: print(line, flush=True))
  craft_s = time.perf_counter() - t0
  print(f"crafting: {craft_s:.0f} s", flush=True)
  recipes = {name: functools.partial(fn, capacity=max(counts), filler_size=filler, intent="push",
                                     **({"num_selected": 1} if name == "bandwagon" else {}))
             for name, fn in HEURISTICS.items()}
  recipes["revadv"] = crafted

  # 2. the main comparison on BPR-MF, 3. transfer
  victims = [("bpr-mf", config.victim(), study.seed)]
  if study.transfer:
    victims += [
        ("bpr-mf-d32-s1", audit.make_victim("bpr-mf", dim=32), study.seed + 1),
        ("lightgcn", audit.make_victim("lightgcn", epochs=study.lightgcn_epochs), study.seed),
        ("neumf", audit.make_victim("neumf"), study.seed),
        ("ease", audit.make_victim("ease"), study.seed),
        ("itemknn", audit.make_victim("itemknn"), study.seed)]
  evaluator = metrics.make_evaluator(train_idx, test_idx, ks=(10,))
  target_ev = metrics.make_target_evaluator(train_idx, ks=(10,))
  best = None
  for label, victim, seed in victims:
    names = list(recipes) if best is None else [best, "revadv"]
    t0 = time.perf_counter()
    for name in ["none", *names]:
      if name == "none":
        params, _ = jax.jit(training.fit_victim, static_argnums=0)(
            victim, train_idx, jax.random.key(seed))
        exposure = target_ev.summarize(jax.jit(target_ev.raw)(victim.model, params, targets))
        rows += _rows(exposure, raw, model=label, attack="none", budget=None, seed=seed)
        continue
      cells = poisoning.run_poisoning(
          recipes[name], knowledge=knowledge, clean=train_idx, victim=victim,
          evaluator=evaluator, target_evaluator=target_ev, target_sets=targets[:, None],
          budgets=counts, seeds=[seed], max_lanes=2)
      for n, b in zip(counts, config.budgets):
        mine = [c.exposure[0] for c in cells if c.num_fake == n]
        rows += _rows(mine, raw, model=label, attack=name, budget=b, seed=seed)
    print(f"{label}: {time.perf_counter() - t0:.0f} s", flush=True)
    if best is None:
      best = max(HEURISTICS, key=lambda a: sum(_mean(rows, label, a, b) for b in config.budgets))
  out = report.build_report(
      dataset={"name": dataset.name, "file": args.data},
      config=_cli.config_section(
          study, args.config, targets=raw.tolist(), num_fake=counts, filler_size=filler,
          craft_seconds=round(craft_s, 1), best_heuristic=best),
      rows=rows)
  json_path, _ = report.write_report(args.out, out)

  print(f"\ntarget HR@10, mean over {len(targets)} targets (rank in brackets)")
  print(f"{'victim':>14s} {'attack':>10s} " + " ".join(f"{b:>16g}" for b in config.budgets))
  for label, _, _ in victims:
    for name in ["none", *recipes]:
      cells = [_pair(rows, label, name, None if name == "none" else b) for b in config.budgets]
      if any(c is None for c in cells):
        continue
      print(f"{label:>14s} {name:>10s} " + " ".join(f"{h:8.4f} ({r:5.0f})" for h, r in cells))
  for b in config.budgets:
    g, h = _mean(rows, "bpr-mf", "revadv", b), _mean(rows, "bpr-mf", best, b)
    print(f"budget {b:g}: gradient {g:.4f} vs best heuristic ({best}) {h:.4f}: "
          f"{'exceeds' if g > h else 'does NOT exceed'}")
  print(f"report: {json_path}")
  return 0


def _budget(text: str) -> float | int:
  return float(text) if "." in text else int(text)


def _rows(exposures, raw, **keys):
  out = []
  for metric in ("target_hr", "target_rank"):
    for k in ((10,) if metric == "target_hr" else (None,)):
      per = [e[metric][k] for e in exposures]
      out += [report.make_row(metric=metric, k=k, value=v, target=int(t), **keys)
              for t, v in zip(raw, per)]
      out.append(report.make_row(metric=metric, k=k, value=float(np.mean(per)), target=None,
                                 **keys))
  return out


def _pick(rows, model, attack, budget, metric):
  hit = [r["value"] for r in rows if r["model"] == model and r["attack"] == attack
         and r["budget"] == budget and r["metric"] == metric and r["target"] is None]
  return hit[0] if hit else None


def _mean(rows, model, attack, budget):
  return _pick(rows, model, attack, budget, "target_hr")


def _pair(rows, model, attack, budget):
  h = _pick(rows, model, attack, budget, "target_hr")
  return None if h is None else (h, _pick(rows, model, attack, budget, "target_rank"))


if __name__ == "__main__":
  sys.exit(main())
