"""Poison -> retrain -> evaluate grid: one vmapped program per attack versus a Python loop.

Usage::

  python benchmarks/poison_grid.py [--epochs 200] [--out DIR]

Grid (the issue's): 3 attacks (random, average, bandwagon) x 2 budgets (1% and 5% of the real
users) x 5 unpopular targets x 2 seeds = 60 cells on MovieLens-100K (``../shared/data``, latest
interaction of each user held out), BPR-MF victim with the audit's settings (64 factors,
Adagrad 0.05, batch 4096, L2 0.01; ``--epochs`` retraining epochs per cell). Each cell generates
the fake profiles, injects them, retrains from scratch and computes target exposure and the
real users' metrics at k = 10.

Both modes call the same jaxrec function, :func:`jaxrec.attacks.run_poisoning`, once per attack:
``vectorize=True`` runs the 20 cells of an attack as one ``jit(vmap(cell))`` program,
``vectorize=False`` runs the same jitted cell 20 times in a Python loop. Compile time is
reported separately (``timings``); the ratio compares the execution times. Both modes must give
the same numbers (checked here).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

import jax
import numpy as np

from jaxrec import attacks, data, metrics, report, training

ATTACKS = {"random": attacks.random_attack, "average": attacks.average_attack,
           "bandwagon": functools.partial(attacks.bandwagon_attack, num_selected=1)}


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--epochs", type=int, default=200)
  p.add_argument("--max-lanes", type=int, default=None,
                 help="cells per vmapped program (default: all 20 cells of an attack)")
  p.add_argument("--out", default=None, help="write DIR/report.json")
  args = p.parse_args(argv)
  root = Path(os.environ.get("JAXREC_SHARED_DATA",
                             Path(__file__).resolve().parents[2] / "shared" / "data"))
  path = root / "movielens-100k" / "u.data"
  if not path.is_file():
    print(f"skipped: {path} not found (set JAXREC_SHARED_DATA)")
    return 0
  ds = data.load_movielens_100k(path)
  train, test = data.leave_one_out(ds.interactions)
  tr, te = data.index_interactions(train), data.index_interactions(test)
  budgets = [attacks.num_fake_users(b, train.num_users) for b in (0.01, 0.05)]
  targets = attacks.select_targets(np.asarray(tr.item_degrees()), 5, "unpopular", seed=0)
  filler = attacks.default_filler_size(train)
  victim = training.bpr_mf_victim(dim=64, num_epochs=args.epochs, batch_size=4096, reg=0.01)
  common = dict(knowledge=attacks.attacker_knowledge(train), clean=tr, victim=victim,
                evaluator=metrics.make_evaluator(tr, te, ks=(10,)),
                target_evaluator=metrics.make_target_evaluator(tr, ks=(10,)),
                target_sets=targets[:, None], budgets=budgets, seeds=[0, 1])
  print(f"jax {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} CPUs; ML-100K, "
        f"{args.epochs} epochs per retraining, budgets {budgets} fake users, filler {filler}")
  totals = {True: {"compile_s": 0.0, "run_s": 0.0}, False: {"compile_s": 0.0, "run_s": 0.0}}
  rows, cells = [], 0
  for name, fn in ATTACKS.items():
    recipe = functools.partial(fn, capacity=max(budgets), filler_size=filler)
    results = {}
    for vectorize in (True, False):
      t = {}
      results[vectorize] = attacks.run_poisoning(recipe, vectorize=vectorize, timings=t,
                                                 max_lanes=args.max_lanes, **common)
      for key in t:
        totals[vectorize][key] += t[key]
      print(f"  {name:10s} {'vmap' if vectorize else 'loop'}: {len(results[vectorize])} cells, "
            f"compile {t['compile_s']:.1f} s, run {t['run_s']:.1f} s")
    cells += len(results[True])
    for a, b in zip(results[True], results[False]):
      np.testing.assert_allclose(a.exposure[0]["target_rank"][None],
                                 b.exposure[0]["target_rank"][None], rtol=1e-4)
  vm, lp = totals[True], totals[False]
  ratio = lp["run_s"] / vm["run_s"]
  print(f"\n{cells} cells: vmapped run {vm['run_s']:.1f} s ({vm['run_s'] / cells:.2f} s per "
        f"cell), loop run {lp['run_s']:.1f} s ({lp['run_s'] / cells:.2f} s per cell); "
        f"loop / vmapped = {ratio:.2f}x (goal >= 4x on CPU); compile {vm['compile_s']:.1f} s "
        f"vmapped vs {lp['compile_s']:.1f} s loop")
  for mode, t in (("vmap", vm), ("loop", lp)):
    rows += [report.make_row(model="bpr-mf", metric="run_s", value=t["run_s"], mode=mode),
             report.make_row(model="bpr-mf", metric="compile_s", value=t["compile_s"],
                             mode=mode),
             report.make_row(model="bpr-mf", metric="seconds_per_cell",
                             value=t["run_s"] / cells, mode=mode)]
  rows.append(report.make_row(model="bpr-mf", metric="loop_over_vmap_ratio", value=ratio))
  if args.out:
    rep = report.build_report(
        dataset={"name": "ml-100k"},
        config={"benchmark": "poison_grid", "epochs": args.epochs, "cells": cells,
                "max_lanes": args.max_lanes, "backend": jax.default_backend(),
                "attacks": list(ATTACKS), "budgets": budgets, "targets": targets.tolist(),
                "seeds": [0, 1]}, rows=rows)
    print("wrote", report.write_report(args.out, rep)[0])
  return 0


if __name__ == "__main__":
  sys.exit(main())
