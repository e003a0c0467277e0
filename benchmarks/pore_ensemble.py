"""PORE's bagged base models: models per second, vmapped (executor lanes) versus a Python loop.

Usage::

  python benchmarks/pore_ensemble.py [--models 200] [--samples 200] [--repeats 3] [--quick]
                                     [--out DIR]

Data: MovieLens-100K (``../shared/data/movielens-100k/u.data``, or ``$JAXREC_SHARED_DATA``),
25% of each user's interactions held out at random (seed 0), as in the authors' release. Each
base model samples ``--samples`` users with replacement, computes cosine item-item similarities
from them (low rank) and recommends ``--top-n-base`` unseen items to all 943 users
(:func:`jaxrec.defenses._pore.pore_ensemble`).

Every mode calls the same function, once per repeat, with the same key: ``vectorize=True`` with
``--lanes`` models per vmapped program (default: the library's, 2 on CPU, and 8), and
``vectorize=False`` (the same jitted model in a loop). Compile time comes from the executor's
``timings`` and is reported apart; models per second = models / execution time, median over the
repeats. All modes must give the same counts (checked). Then the certified precision and recall
@10 of the vmapped ensemble (alpha 0.001) are printed for a few numbers of fake users.

``--quick`` (a smoke test, seconds): 20 models, 2 repeats.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import jax
import numpy as np

from jaxrec import data, experiment, report
from jaxrec.defenses._pore import pore_certified_accuracy, pore_ensemble

FAKE_USERS = [0, 1, 2, 3, 5, 10, 20]


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--models", type=int, default=200, help="T, base models per ensemble")
  p.add_argument("--samples", type=int, default=200, help="s, users sampled per model")
  p.add_argument("--top-n-base", type=int, default=1, help="N', items per base model")
  p.add_argument("--top-n", type=int, default=10, help="N, items of the ensemble")
  p.add_argument("--alpha", type=float, default=0.001)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--lanes", type=int, nargs="+", default=None,
                 help="models per vmapped program (default: the library's and 8)")
  p.add_argument("--quick", action="store_true", help="smoke test: 20 models, 2 repeats")
  p.add_argument("--out", default=None, help="write DIR/report.json")
  args = p.parse_args(argv)
  if args.quick:
    args.models, args.repeats = 20, 2
  if min(args.models, args.samples, args.repeats, args.top_n_base, args.top_n) < 1:
    p.error("--models, --samples, --repeats, --top-n-base and --top-n must be at least 1")
  root = Path(os.environ.get("JAXREC_SHARED_DATA",
                             Path(__file__).resolve().parents[2] / "shared" / "data"))
  path = root / "movielens-100k" / "u.data"
  if not path.is_file():
    print(f"skipped: {path} not found (set JAXREC_SHARED_DATA)")
    return 0
  ds = data.load_movielens_100k(path)
  train, test = data.random_holdout(ds.interactions, test_ratio=0.25, seed=0)
  tr, te = data.index_interactions(train), data.index_interactions(test)
  default = experiment.default_lanes() or args.models
  lanes = sorted(set(args.lanes or [default, 8]))
  print(f"jax {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} CPUs; ML-100K "
        f"{tr.num_users} users x {tr.num_items} items, {int(tr.num_valid)} training pairs; "
        f"T={args.models} models, s={args.samples}, N'={args.top_n_base}, "
        f"{args.repeats} repeats")
  key = jax.random.key(0)
  modes = [(f"vmap, {n} lanes", dict(vectorize=True, lanes=n)) for n in lanes]
  modes.append(("loop", dict(vectorize=False)))
  results, counts = {}, None
  for _ in range(args.repeats):  # modes interleaved, repeat by repeat
    for name, kw in modes:
      t = {}
      ens = pore_ensemble(tr, key, num_models=args.models, num_samples=args.samples,
                          top_n_base=args.top_n_base, timings=t, **kw)
      results.setdefault(name, []).append(t)
      if counts is None:
        counts, vmapped = ens.counts, ens
      np.testing.assert_array_equal(ens.counts, counts)
  rows, table = [], []
  print("\n| mode | models/s (median) | run s (median) [min-max] | compile s (median) |")
  print("|---|---|---|---|")
  for name, kw in modes:
    run = [t["run_s"] for t in results[name]]
    comp = [t["compile_s"] for t in results[name]]
    rate = args.models / statistics.median(run)
    print(f"| {name} | {rate:.1f} | {statistics.median(run):.2f} [{min(run):.2f}-{max(run):.2f}]"
          f" | {statistics.median(comp):.2f} |")
    grid = dict(mode="vmap" if kw["vectorize"] else "loop", lanes=kw.get("lanes", 1),
                models=args.models, samples=args.samples)
    rows += [report.make_row(model="pore-itemknn", metric="models_per_s", value=rate, **grid),
             report.make_row(model="pore-itemknn", metric="run_s",
                             value=statistics.median(run), **grid),
             report.make_row(model="pore-itemknn", metric="compile_s",
                             value=statistics.median(comp), **grid)]
    table.append((name, rate))
  loop_rate = table[-1][1]
  for name, rate in table[:-1]:
    print(f"{name}: {rate / loop_rate:.2f}x the loop's models per second")
  acc = pore_certified_accuracy(vmapped, te, FAKE_USERS, top_n=args.top_n, alpha=args.alpha)
  exact = pore_certified_accuracy(vmapped, te, [0], top_n=args.top_n, exact=True)
  print(f"\nPORE on ML-100K, T={args.models}, s={args.samples}, N'={args.top_n_base}, "
        f"N={args.top_n}, alpha={args.alpha} ({acc['users']} users with test items); "
        f"plain precision@{args.top_n} of the ensemble (e=0, no bound): "
        f"{exact['precision'][0]:.4f}, recall {exact['recall'][0]:.4f}")
  print(f"| e (fake users) | certified precision@{args.top_n} | certified recall@{args.top_n} |")
  print("|---|---|---|")
  for e, pr, rc in zip(acc["fake_users"], acc["precision"], acc["recall"]):
    print(f"| {e} | {pr:.4f} | {rc:.4f} |")
    cfg = dict(fake_users=int(e), models=args.models, samples=args.samples,
               top_n_base=args.top_n_base, alpha=args.alpha)
    rows += [report.make_row(model="pore-itemknn", defense="pore", metric="certified_precision",
                             k=args.top_n, value=pr, **cfg),
             report.make_row(model="pore-itemknn", defense="pore", metric="certified_recall",
                             k=args.top_n, value=rc, **cfg)]
  if args.out:
    rep = report.build_report(
        dataset={"name": "ml-100k", "users": tr.num_users, "items": tr.num_items},
        config={"benchmark": "pore_ensemble", "models": args.models, "samples": args.samples,
                "top_n_base": args.top_n_base, "top_n": args.top_n, "alpha": args.alpha,
                "repeats": args.repeats, "lanes": lanes, "quick": args.quick,
                "split": "random_holdout(test_ratio=0.25, seed=0)",
                "backend": jax.default_backend()}, rows=rows)
    print("wrote", report.write_report(args.out, rep)[0])
  return 0


if __name__ == "__main__":
  sys.exit(main())
