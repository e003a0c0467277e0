"""One full-gradient PGD step on BPR-MF's factors at MovieLens-1M size: every gradient layout of
``jaxrec.attacks.evasion.perturb_embeddings`` against autodiff (0.2's path) and PyTorch.

Usage::

  python benchmarks/pgd_step.py [--repeats 7] [--synthetic] [--out DIR]

The step: ``perturb_embeddings(key, params, batch, weights, eps=0.5, num_steps=1,
step_size=0.125, layout=...)`` jitted with the parameters and triples as inputs: the BPR loss
of every training triple (one uniform negative per positive, ``evasion.attack_triples``), its
gradient with respect to both factor tables, per-row normalisation, step and projection onto
the per-row L2 ball. Data: the MovieLens-1M ratings in ``../shared/data`` (6,040 users, 3,706
items, 1,000,209 pairs) or, with ``--synthetic``, 1,000,209 distinct random pairs of the same
shape. 64 factors, N(0, 0.1^2) factors and item biases.

Layouts (``jaxrec.attacks.evasion._bpr_grad``): ``sparse`` (closed-form per-row sums over chunks
of triples), ``dense`` (scores and coefficients as ``(U, I)`` matrices, three matmuls),
``auto`` (the size rule: dense at this density), ``autodiff`` (reverse-mode autodiff of the
per-triple formula: the 0.2 step, the baseline). Each is compiled first (``compile_s``, apart),
run once to warm up, then the layouts are timed in turn, ``--repeats`` rounds (interleaved, so
a change of machine load hits every layout alike); medians. ``auto`` compiles to the same
program as the layout it picks, yet it has measured up to 1.3x slower than its twin: it runs
first in each round, right after autodiff's 1 GB of temporaries (the likely cause, untested).
Every layout's perturbation is checked against autodiff's (allclose). The PyTorch baseline is
``_baselines.torch_pgd_step_times`` (2 threads; the same triples, no biases), skipped without
PyTorch.

Floors at the machine's 163 GFLOP/s float32 matmul rate (``../shared/PERF-NOTES.md``): the
arithmetic of the sparse formulation, about ``10 N D`` flops (``N`` triples), and the three
``2 U I D`` matmuls of the dense one. The CPU time other processes used during the run and the
load average are printed: these 2-core machines are shared, so compare ratios within a run.

With ``--out DIR`` the numbers go to a tidy ``DIR/report.json`` (``metric="step_ms"``,
``"compile_s"``, ``"temp_mib"``, ``"ratio_vs_autodiff"``, ``"ratio_vs_torch-cpu"``,
``"floor_ms"``, ``"other_cpu_fraction"``, ``"load_avg_1min"``).
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

from jaxrec import data, models, report  # noqa: E402
from jaxrec.attacks import evasion  # noqa: E402
from jaxrec.attacks.evasion import _bpr_grad  # noqa: E402

DIM = 64
GFLOPS = 163.0  # float32 matmul, measured on these machines (PERF-NOTES)
LAYOUTS = ("auto", "sparse", "dense", "autodiff")


def synthetic_ml1m(seed: int = 0):
  """1,000,209 distinct random (user, item) pairs over 6,040 x 3,706: MovieLens-1M's shape."""
  nu, ni, n = 6040, 3706, 1_000_209
  flat = np.random.default_rng(seed).choice(nu * ni, n, replace=False)
  return (flat // ni).astype(np.int32), (flat % ni).astype(np.int32), nu, ni


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--repeats", type=int, default=7, help="timed rounds (after one warm-up)")
  p.add_argument("--synthetic", action="store_true", help="random data of ML-1M's shape")
  p.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=LAYOUTS)
  p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
  p.add_argument("--out", default=None, help="write DIR/report.json")
  args = p.parse_args(argv)
  if args.synthetic:
    users, items, nu, ni = synthetic_ml1m()
    name = "synthetic (ML-1M shape)"
  else:
    users, items, nu, ni = _baselines.load_ml1m()
    name = "ml-1m"
  print(f"jax {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} CPUs; {name}: "
        f"{nu} users x {ni} items, {len(users)} pairs, {DIM} factors; load average "
        f"{os.getloadavg()[0]:.2f}")
  index = data.build_index(users, items, num_users=nu, num_items=ni)
  batch, w = evasion.attack_triples(jax.random.key(0), index)
  params = models.mf(dim=DIM, stddev=0.1).init(jax.random.key(1), index)
  params = params.replace(item_bias=0.1 * jax.random.normal(jax.random.key(3), (ni,)))
  n = int(w.sum())
  print(f"auto picks {_bpr_grad.choose_layout(nu, ni, len(w))!r} (density {n / nu / ni:.3f})")

  rows, compiled, results, times = [], {}, {}, {}
  with OtherLoad() as load:
    for layout in args.layouts:
      def step(params, batch, w, layout=layout):
        return evasion.perturb_embeddings(jax.random.key(2), params, batch, w, eps=0.5,
                                          num_steps=1, step_size=0.125, layout=layout)[1]
      t = time.perf_counter()
      compiled[layout] = jax.jit(step).lower(params, batch, w).compile()
      compile_s = time.perf_counter() - t
      results[layout] = jax.block_until_ready(compiled[layout](params, batch, w))  # warm-up
      temp = compiled[layout].memory_analysis().temp_size_in_bytes / 2 ** 20
      times[layout] = []
      rows.append(report.make_row(model="bpr-mf", attack="pgd", metric="compile_s",
                                  value=compile_s, impl=f"jaxrec-{layout}"))
      rows.append(report.make_row(model="bpr-mf", attack="pgd", metric="temp_mib", value=temp,
                                  impl=f"jaxrec-{layout}"))
      print(f"  {layout:9s} compile {compile_s:.2f} s, XLA temporaries {temp:7.1f} MiB")
    for _ in range(args.repeats):
      for layout in args.layouts:
        t = time.perf_counter()
        jax.block_until_ready(compiled[layout](params, batch, w))
        times[layout].append(time.perf_counter() - t)
  med = {k: statistics.median(v) for k, v in times.items()}
  if "autodiff" in results:
    for layout, delta in results.items():
      for a, b in zip(jax.tree.leaves(delta), jax.tree.leaves(results["autodiff"])):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)

  base = None
  if not args.no_torch:
    with OtherLoad() as load_torch:
      base = _baselines.torch_pgd_step_times(
          *(np.asarray(x)[:n] for x in batch[:3]), nu, ni, dim=DIM, repeats=args.repeats)
    if base:
      print(f"  torch-cpu (2 threads) {1e3 * base['median_s']:8.1f} ms (other processes used "
            f"{load_torch.fraction:.0%} of the machine)")
      rows.append(report.make_row(model="bpr-mf", attack="pgd", metric="step_ms",
                                  value=1e3 * base["median_s"], impl="torch-cpu"))
  floors = {"sparse": 10 * n * DIM / (GFLOPS * 1e9),
            "dense": 3 * 2 * nu * ni * DIM / (GFLOPS * 1e9)}
  for kind, s in floors.items():
    rows.append(report.make_row(model="bpr-mf", attack="pgd", metric="floor_ms", value=1e3 * s,
                                impl=f"{kind}-arithmetic"))
  print(f"  floors at {GFLOPS:.0f} GFLOP/s: sparse arithmetic (10 N D flops) "
        f"{1e3 * floors['sparse']:.1f} ms, dense (3 matmuls of 2 U I D) "
        f"{1e3 * floors['dense']:.1f} ms")
  for layout in args.layouts:
    line = (f"  jaxrec {layout:9s} {1e3 * med[layout]:8.1f} ms (min "
            f"{1e3 * min(times[layout]):.1f}, max {1e3 * max(times[layout]):.1f})")
    rows.append(report.make_row(model="bpr-mf", attack="pgd", metric="step_ms",
                                value=1e3 * med[layout], impl=f"jaxrec-{layout}"))
    if "autodiff" in med:
      r = med[layout] / med["autodiff"]
      line += f"  {r:5.2f}x autodiff"
      rows.append(report.make_row(model="bpr-mf", attack="pgd", metric="ratio_vs_autodiff",
                                  value=r, impl=f"jaxrec-{layout}"))
    if base:
      r = med[layout] / base["median_s"]
      line += f"  {r:5.2f}x torch"
      rows.append(report.make_row(model="bpr-mf", attack="pgd", metric="ratio_vs_torch-cpu",
                                  value=r, impl=f"jaxrec-{layout}"))
    kind = _bpr_grad.choose_layout(nu, ni, len(w)) if layout == "auto" else layout
    kind = "dense" if kind == "dense" else "sparse"
    line += f"  {med[layout] / floors[kind]:6.1f}x its floor"
    print(line)
  print(f"  CPU used by other processes while jaxrec ran: {load.fraction:.0%} of the machine; "
        f"load average now {os.getloadavg()[0]:.2f}")
  rows.append(report.make_row(model="all", metric="other_cpu_fraction", value=load.fraction))
  rows.append(report.make_row(model="all", metric="load_avg_1min", value=os.getloadavg()[0]))
  if args.out:
    rep = report.build_report(dataset={"name": name},
                              config={"benchmark": "pgd_step", "dim": DIM,
                                      "repeats": args.repeats, "layouts": list(args.layouts)},
                              rows=rows)
    print("wrote", report.write_report(args.out, rep)[0])
  return 0


if __name__ == "__main__":
  sys.exit(main())
