"""APR eps x lambda grid (vmapped versus looped) and one full-gradient PGD step on ML-1M size.

Usage::

  python benchmarks/apr_grid.py [--epochs 40] [--repeats 5] [--out DIR]

1. Grid: BPR pre-training, then APR for the 9 settings eps {0.01, 0.1, 1.0} x lambda
   {0.01, 0.1, 1.0} plus the BPR lane, on the MovieLens-100K leave-one-out split
   (``../shared/data/loo-splits``), with ``jaxrec.defenses.fit_apr_grid``: all 10 lanes in one
   vmapped program, in groups of 2 lanes, and one lane at a time in a Python loop (the same
   jitted function). Compile time separately; medians are not taken (one grid run each).
2. One PGD step on the factors of a MovieLens-1M-size model (6,040 x 64 users, 3,706 x 64
   items) over 1,000,209 triples: the BPR loss, its gradient, per-row normalisation, step and
   projection (``jaxrec.attacks.perturb_embeddings`` with one step; the perturbation tables and
   triples as inputs), median of ``--repeats``, against the same step in PyTorch (2 threads;
   and on CUDA when available), as a ratio.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _baselines  # noqa: E402  pylint: disable=wrong-import-position

from jaxrec import attacks, data, defenses, models, report, training  # noqa: E402


def grid(root: Path, epochs: int, rows: list) -> None:
  folder = root / "loo-splits" / "movielens100k"
  if not folder.is_dir():
    print(f"grid: skipped ({folder} not found)")
    return
  ds = data.load_tsv_split(folder / "trainingset.tsv", folder / "testset.tsv")
  idx = data.index_interactions(ds.interactions)
  victim = training.bpr_mf_victim(dim=64, num_epochs=epochs, batch_size=4096, reg=0.0)
  fit = jax.jit(functools.partial(defenses.fit_apr_grid, victim=victim,
                                  pretrain_epochs=epochs // 2,
                                  adversarial_epochs=epochs - epochs // 2, reg=0.0))
  settings = [(0.0, 0.0)] + [(e, l) for e in (0.01, 0.1, 1.0) for l in (0.01, 0.1, 1.0)]
  eps = np.asarray([s[0] for s in settings], np.float32)
  lam = np.asarray([s[1] for s in settings], np.float32)
  print(f"grid: ML-100K, {len(settings)} lanes, {epochs // 2} BPR + {epochs - epochs // 2} APR "
        "epochs each")
  results = {}
  for lanes in (len(settings), 2, 1):
    compiled = fit.lower(idx, jax.random.key(0), eps=jnp.asarray(eps[:lanes]),
                         lam=jnp.asarray(lam[:lanes]))
    t = time.perf_counter()
    run = compiled.compile()
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    for start in range(0, len(settings), lanes):
      e, l = eps[start:start + lanes], lam[start:start + lanes]
      if len(e) < lanes:  # pad the last group (same shape, no recompile)
        e = np.concatenate([e, np.repeat(e[-1:], lanes - len(e))])
        l = np.concatenate([l, np.repeat(l[-1:], lanes - len(l))])
      jax.block_until_ready(run(idx, jax.random.key(0), eps=jnp.asarray(e),
                                lam=jnp.asarray(l)))
    results[lanes] = time.perf_counter() - t
    label = "loop" if lanes == 1 else f"vmap x{lanes}"
    print(f"  {label:9s} run {results[lanes]:7.1f} s  compile {compile_s:.1f} s")
    rows.append(report.make_row(model="bpr-mf", defense="apr", metric="grid_run_s",
                                value=results[lanes], lanes=lanes))
    rows.append(report.make_row(model="bpr-mf", defense="apr", metric="grid_compile_s",
                                value=compile_s, lanes=lanes))
  for lanes in (len(settings), 2):
    ratio = results[1] / results[lanes]
    print(f"  loop / vmap x{lanes} = {ratio:.2f}x")
    rows.append(report.make_row(model="bpr-mf", defense="apr", metric="loop_over_vmap_ratio",
                                value=ratio, lanes=lanes))


def pgd_step(repeats: int, rows: list) -> None:
  try:
    users, items, nu, ni = _baselines.load_ml1m()
  except FileNotFoundError as e:
    print(f"pgd step: skipped ({e})")
    return
  index = data.build_index(users, items, num_users=nu, num_items=ni)
  batch, w = attacks.attack_triples(jax.random.key(0), index)
  params = models.mf.init(jax.random.key(1), nu, ni, 64, stddev=0.1)

  def step(params, batch, w):
    return attacks.perturb_embeddings(jax.random.key(2), params, batch, w, eps=0.5,
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
  grid(root, args.epochs, rows)
  pgd_step(args.repeats, rows)
  if args.out:
    rep = report.build_report(dataset={"name": "ml-100k / ml-1m"},
                              config={"benchmark": "apr_grid", "epochs": args.epochs,
                                      "repeats": args.repeats}, rows=rows)
    print("wrote", report.write_report(args.out, rep)[0])
  return 0


if __name__ == "__main__":
  sys.exit(main())
