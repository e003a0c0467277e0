"""APR eps x lambda grid (vmapped versus looped) and one full-gradient PGD step on ML-1M size.

Usage::

  python benchmarks/apr_grid.py [--epochs 40] [--repeats 5] [--out DIR]

1. Grid: BPR pre-training, then APR for the 9 settings eps {0.01, 0.1, 1.0} x lambda
   {0.01, 0.1, 1.0} plus the BPR lane (lambda 0), on the MovieLens-100K leave-one-out split
   (``../shared/data/loo-splits``), with ``jaxrec.defenses.fit_apr_grid``: it pre-trains once
   (a jitted BPR fit shared by every setting), then runs the settings on the experiment executor
   (``jaxrec.experiment.execute``): all 10 lanes in one vmapped program, in groups of 2 lanes,
   and 1 lane per program (the same compiled one-setting program called once per setting in a
   Python loop). Reported per mode: the executor's compile and run seconds (``timings``), and
   the wall time of the whole call, whose remainder is the shared pre-training (its compile
   included). The three modes must give the same parameters (checked). One grid run each, no
   medians.
2. One PGD step on the factors of a MovieLens-1M-size model (6,040 x 64 users, 3,706 x 64
   items) over 1,000,209 triples: the BPR loss, its gradient, per-row normalisation, step and
   projection (``jaxrec.attacks.evasion.perturb_embeddings`` with one step; the parameters and
   triples as inputs), median of ``--repeats``, against the same step in PyTorch (2 threads;
   and on CUDA when available), as a ratio. PyTorch is optional (skipped with a note).

The CPU time other processes used during each part is printed (these 2-core machines are
shared): compare ratios, not seconds across runs.

``--epochs 4 --repeats 1`` is a quick smoke run (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _baselines  # noqa: E402  pylint: disable=wrong-import-position
from bpr_epoch import OtherLoad  # noqa: E402  pylint: disable=wrong-import-position

from jaxrec import audit, data, defenses, models, report  # noqa: E402
from jaxrec.attacks import evasion  # noqa: E402


def grid(root: Path, epochs: int, rows: list) -> None:
  folder = root / "loo-splits" / "movielens100k"
  if not folder.is_dir():
    print(f"grid: skipped ({folder} not found)")
    return
  ds = data.load_tsv_split(folder / "trainingset.tsv", folder / "testset.tsv")
  idx = data.index_interactions(ds.interactions)
  # the audit's BPR-MF recipe (64 factors, Adagrad 0.05, batch 4096) without L2
  victim = audit.make_victim("bpr-mf", epochs=epochs, reg=0.0)
  pretrain, adversarial = epochs // 2, epochs - epochs // 2
  settings = [(0.0, 0.0)] + [(e, l) for e in (0.01, 0.1, 1.0) for l in (0.01, 0.1, 1.0)]
  eps = np.asarray([s[0] for s in settings], np.float32)
  lam = np.asarray([s[1] for s in settings], np.float32)
  print(f"grid: ML-100K, {len(settings)} lanes, {pretrain} BPR + {adversarial} APR epochs each")
  results, params = {}, {}
  for lanes in (len(settings), 2, 1):
    timings: dict = {}
    t = time.perf_counter()
    params[lanes], _ = defenses.fit_apr_grid(
        idx, jax.random.key(0), eps=eps, lambda_=lam, victim=victim, pretrain_epochs=pretrain,
        adversarial_epochs=adversarial, lanes=lanes, timings=timings)
    wall = time.perf_counter() - t
    results[lanes] = timings["run_s"]
    other = wall - timings["compile_s"] - timings["run_s"]
    label = "loop" if lanes == 1 else f"vmap x{lanes}"
    print(f"  {label:9s} run {timings['run_s']:7.1f} s  compile {timings['compile_s']:.1f} s "
          f"({timings['programs']} program(s))  whole call {wall:.1f} s, of which pre-training "
          f"{other:.1f} s")
    grid_keys = dict(lanes=lanes, programs=timings["programs"])
    for metric, value in (("grid_run_s", timings["run_s"]),
                          ("grid_compile_s", timings["compile_s"]), ("wall_s", wall),
                          ("pretrain_s", other)):
      rows.append(report.make_row(model="bpr-mf", defense="apr", metric=metric, value=value,
                                  **grid_keys))
  for lanes in (len(settings), 2):  # every mode trains the same models
    for a, b in zip(jax.tree.leaves(params[lanes]), jax.tree.leaves(params[1])):
      np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
  for lanes in (len(settings), 2):
    ratio = results[1] / results[lanes]
    print(f"  loop / vmap x{lanes} = {ratio:.2f}x (executor run time)")
    rows.append(report.make_row(model="bpr-mf", defense="apr", metric="loop_over_vmap_ratio",
                                value=ratio, lanes=lanes))


def pgd_step(repeats: int, rows: list) -> None:
  try:
    users, items, nu, ni = _baselines.load_ml1m()
  except FileNotFoundError as e:
    print(f"pgd step: skipped ({e})")
    return
  index = data.build_index(users, items, num_users=nu, num_items=ni)
  batch, w = evasion.attack_triples(jax.random.key(0), index)
  params = models.mf(dim=64, stddev=0.1).init(jax.random.key(1), index)

  def step(params, batch, w):
    return evasion.perturb_embeddings(jax.random.key(2), params, batch, w, eps=0.5,
                                      num_steps=1, step_size=0.125)[1]

  f = jax.jit(step)
  t = time.perf_counter()
  compiled = f.lower(params, batch, w).compile()
  compile_s = time.perf_counter() - t
  jax.block_until_ready(compiled(params, batch, w))
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(compiled(params, batch, w))
    times.append(time.perf_counter() - t)
  med = statistics.median(times)
  print(f"pgd step: ML-1M size ({nu} x 64 + {ni} x 64 factors, {len(users)} triples): jaxrec "
        f"{1e3 * med:.1f} ms (compile {compile_s:.2f} s)")
  rows.append(report.make_row(model="bpr-mf", attack="pgd", metric="step_ms", value=1e3 * med,
                              impl="jaxrec"))
  negs = np.asarray(batch.neg_items)
  for device in ("cpu",) + (("cuda",) if _cuda() else ()):
    base = _baselines.torch_pgd_step_times(users, items, negs, nu, ni, repeats=repeats,
                                           device=device)
    if base:
      print(f"  torch ({device}) {1e3 * base['median_s']:.1f} ms; jaxrec / torch = "
            f"{med / base['median_s']:.2f}x")
      rows.append(report.make_row(model="bpr-mf", attack="pgd", metric="step_ms",
                                  value=1e3 * base["median_s"], impl=f"torch-{device}"))


def _cuda() -> bool:
  try:
    import torch  # pylint: disable=import-outside-toplevel
    return torch.cuda.is_available()
  except ImportError:
    return False


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--epochs", type=int, default=40)
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--out", default=None)
  args = p.parse_args(argv)
  root = Path(os.environ.get("JAXREC_SHARED_DATA",
                             Path(__file__).resolve().parents[2] / "shared" / "data"))
  print(f"jax {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} CPUs")
  rows: list = []
  for part, fn in (("grid", lambda: grid(root, args.epochs, rows)),
                   ("pgd_step", lambda: pgd_step(args.repeats, rows))):
    with OtherLoad() as load:
      fn()
    print(f"  CPU used by other processes during the {part}: {load.fraction:.0%} of the machine")
    rows.append(report.make_row(model="all", metric="other_cpu_fraction", value=load.fraction,
                                part=part))
  if args.out:
    rep = report.build_report(dataset={"name": "ml-100k / ml-1m"},
                              config={"benchmark": "apr_grid", "epochs": args.epochs,
                                      "repeats": args.repeats}, rows=rows)
    print("wrote", report.write_report(args.out, rep)[0])
  return 0


if __name__ == "__main__":
  sys.exit(main())
