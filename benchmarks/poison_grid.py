"""Poison -> retrain -> evaluate grid: one vmapped program per attack versus a Python loop.

Usage::

  python benchmarks/poison_grid.py [--epochs 200] [--max-lanes N [N ...]] [--attacks NAME ...]
                                   [--seeds S ...] [--devices N] [--quick] [--out DIR]

Grid (the issue's): 3 attacks (random, average, bandwagon) x 2 budgets (1% and 5% of the real
users) x 5 unpopular targets x 2 seeds = 60 cells on MovieLens-100K (``../shared/data``, latest
interaction of each user held out), BPR-MF victim with the audit's settings (64 factors,
Adagrad 0.05, batch 4096, L2 0.01; ``--epochs`` retraining epochs per cell). Each cell generates
the fake profiles, injects them, retrains from scratch and computes target exposure and the
real users' metrics at k = 10.

Both modes call the same jaxrec function, :func:`jaxrec.attacks.poisoning.run_poisoning`, once
per attack; it runs the cells on the experiment executor (:func:`jaxrec.experiment.execute`):
``vectorize=True`` runs the 20 cells of an attack as ``jit(vmap(cell))`` programs of
``--max-lanes`` cells each (default: the library's, :func:`jaxrec.experiment.default_lanes`, 1 on
CPU, i.e. the loop's program, and all cells on an accelerator; ``--max-lanes 20`` gives one
program per attack),
``vectorize=False`` runs the same jitted cell 20 times in a Python loop. Compile time is
reported separately (the executor's ``timings``); the ratio compares the execution times. Both
modes must give the same numbers (checked here).

Several ``--max-lanes`` (e.g. ``--max-lanes 1 2 4``) measure each lane count against the same
loop, interleaved per attack in one process (the lane count that sets
:func:`jaxrec.experiment.default_lanes` on CPU); one lane runs the loop's unbatched program.

``--devices N`` runs the vmapped modes over a cells mesh of ``N`` devices
(:func:`jaxrec.sharding.make_mesh`; ``--max-lanes`` then counts cells per device) against the
same one-device loop; one lane per device must give the loop's numbers exactly (checked). On CPU
the script splits the CPU into ``N`` devices (``jax_num_cpu_devices``): they share the same cores,
so this is a correctness and overhead check, not a speed-up (XLA:CPU also ranks with a sort
instead of its TopK kernel in a program over several devices); the speed-up is for several
accelerators or hosts.

``--quick`` (a smoke test, about a minute on 2 cores) runs one attack (random), one seed and
2 epochs: 10 cells per mode.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

import jax
import numpy as np

from jaxrec import audit, data, experiment, metrics, report, sharding
from jaxrec.attacks import poisoning

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _baselines  # noqa: E402  pylint: disable=wrong-import-position

ATTACKS = {"random": poisoning.random_attack, "average": poisoning.average_attack,
           "bandwagon": functools.partial(poisoning.bandwagon_attack, num_selected=1)}


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--epochs", type=int, default=200)
  p.add_argument("--max-lanes", type=int, nargs="+", default=None,
                 help="cells per vmapped program, one or several lane counts, each measured "
                      "against the loop (default: the library's by backend, "
                      "jaxrec.experiment.default_lanes())")
  p.add_argument("--attacks", nargs="+", choices=list(ATTACKS), default=list(ATTACKS))
  p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
  p.add_argument("--devices", type=int, default=None,
                 help="run the vmapped modes over a cells mesh of N devices (on CPU: N devices "
                      "split from the CPU, a correctness/overhead check)")
  p.add_argument("--quick", action="store_true",
                 help="smoke test: one attack (random), one seed, 2 epochs")
  p.add_argument("--out", default=None, help="write DIR/report.json")
  args = p.parse_args(argv)
  if args.max_lanes is not None and min(args.max_lanes) < 1:
    p.error("--max-lanes must be at least 1")
  if args.devices is not None and args.devices < 1:
    p.error("--devices must be at least 1")
  if args.devices is not None:
    # before JAX starts its backends; CPU only (an accelerator backend keeps its devices)
    jax.config.update("jax_num_cpu_devices", args.devices)
  attack_names, seeds = args.attacks, args.seeds
  if args.quick:
    attack_names, seeds, args.epochs = ["random"], [0], 2
  root = Path(os.environ.get("JAXREC_SHARED_DATA",
                             Path(__file__).resolve().parents[2] / "shared" / "data"))
  path = root / "movielens-100k" / "u.data"
  if not path.is_file():
    print(f"skipped: {path} not found (set JAXREC_SHARED_DATA)")
    return 0
  ds = data.load_movielens_100k(path)
  train, test = data.leave_one_out(ds.interactions)
  tr, te = data.index_interactions(train), data.index_interactions(test)
  budgets = [poisoning.num_fake_users(b, train.num_users) for b in (0.01, 0.05)]
  targets = poisoning.select_targets(np.asarray(tr.item_degrees()), 5, "unpopular", seed=0)
  filler = poisoning.default_filler_size(train)
  # the audit's BPR-MF: 64 factors, Adagrad 0.05, batch 4096, L2 0.01
  victim = audit.make_victim("bpr-mf", epochs=args.epochs)
  common = dict(knowledge=poisoning.attacker_knowledge(train), clean=tr, victim=victim,
                evaluator=metrics.make_evaluator(tr, te, ks=(10,)),
                target_evaluator=metrics.make_target_evaluator(tr, ks=(10,)),
                target_sets=targets[:, None], budgets=budgets, seeds=seeds)
  per_attack = len(targets) * len(budgets) * len(seeds)
  mesh = None if args.devices is None else sharding.make_mesh(args.devices)
  per_program = per_attack if mesh is None else -(-per_attack // args.devices)
  default = experiment.default_lanes() or per_program
  lane_counts = [min(n, per_program) for n in (args.max_lanes or [default])]
  print(f"jax {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} CPUs; ML-100K, "
        f"{args.epochs} epochs per retraining, budgets {budgets} fake users, filler {filler}; "
        f"{per_attack} cells per attack, lanes per vmapped program {lane_counts}"
        f"{'' if args.max_lanes else ' (library default)'}; load {_baselines.load_average()}")
  if mesh is not None:
    print(f"cells mesh of {args.devices} {jax.devices()[0].platform} devices; lanes are per "
          "device"
          + ("; CPU devices share the same cores: a correctness and overhead check, not a "
             "speed-up" if jax.default_backend() == "cpu" else ""))
  modes = [*lane_counts, "loop"]
  totals = {m: {"compile_s": 0.0, "run_s": 0.0} for m in modes}
  rows, cells = [], 0
  for name in attack_names:
    fn = ATTACKS[name]
    recipe = functools.partial(fn, capacity=max(budgets), filler_size=filler)
    results = {}
    for mode in modes:
      t = {}
      results[mode] = poisoning.run_poisoning(
          recipe, vectorize=mode != "loop", timings=t,
          max_lanes=None if mode == "loop" else mode,
          mesh=None if mode == "loop" else mesh, **common)
      for key in ("compile_s", "run_s"):
        totals[mode][key] += t[key]
      label = "loop" if mode == "loop" else f"{mode} lanes" + (
          "" if mesh is None else f" x {args.devices} devices")
      print(f"  {name:10s} {label:9s}: {len(results[mode])} cells, {t['programs']} compiled "
            f"program(s), compile {t['compile_s']:.1f} s, run {t['run_s']:.1f} s "
            f"(load {_baselines.load_average()})", flush=True)
    cells += len(results["loop"])
    for mode in lane_counts:
      for a, b in zip(results[mode], results["loop"]):
        np.testing.assert_allclose(a.exposure[0]["target_rank"][None],
                                   b.exposure[0]["target_rank"][None], rtol=1e-4)
        if mode == 1:  # one lane (per device) is the loop's own program
          assert a.exposure == b.exposure and a.evaluation == b.evaluation, (name, a, b)
  lp = totals["loop"]
  print(f"\n{cells} cells; loop run {lp['run_s']:.1f} s ({lp['run_s'] / cells:.2f} s per cell), "
        f"compile {lp['compile_s']:.1f} s; load {_baselines.load_average()}")
  for mode in lane_counts:
    vm = totals[mode]
    ratio = lp["run_s"] / vm["run_s"]
    on = "" if mesh is None else f" x {args.devices} devices"
    goal = ("goal >= 1.0 on CPU" if mesh is None else "CPU devices share the cores: overhead"
            if jax.default_backend() == "cpu" else "the devices' speed-up")
    print(f"  {mode:3d} lanes{on}: run {vm['run_s']:.1f} s ({vm['run_s'] / cells:.2f} s per cell), "
          f"loop / vmapped = {ratio:.2f}x ({goal}), compile {vm['compile_s']:.1f} s")
    rows.append(report.make_row(model="bpr-mf", metric="loop_over_vmap_ratio", value=ratio,
                                lanes=mode, devices=args.devices or 1))
  for mode, t in totals.items():
    grid = dict(mode="loop" if mode == "loop" else "vmap", lanes=1 if mode == "loop" else mode,
                devices=1 if mode == "loop" else args.devices or 1)
    rows += [report.make_row(model="bpr-mf", metric="run_s", value=t["run_s"], **grid),
             report.make_row(model="bpr-mf", metric="compile_s", value=t["compile_s"], **grid),
             report.make_row(model="bpr-mf", metric="seconds_per_cell",
                             value=t["run_s"] / cells, **grid)]
  if args.out:
    rep = report.build_report(
        dataset={"name": "ml-100k"},
        config={"benchmark": "poison_grid", "epochs": args.epochs, "cells": cells,
                "max_lanes": args.max_lanes, "lanes": lane_counts, "quick": args.quick,
                "devices": args.devices,
                "backend": jax.default_backend(), "attacks": attack_names,
                "budgets": budgets, "targets": targets.tolist(), "seeds": seeds}, rows=rows)
    print("wrote", report.write_report(args.out, rep)[0])
  return 0


if __name__ == "__main__":
  sys.exit(main())
