"""BPR-MF epoch time: jaxrec versus a plain PyTorch loop and the implicit library, as ratios.

Usage::

  python benchmarks/bpr_epoch.py [--repeats 5] [--datasets ml-100k ml-1m] [--out DIR]

For each dataset (MovieLens-100K and the MovieLens-1M ratings in ../shared/data) and 64 factors,
times one epoch (as many sampled triples as training pairs, sampling included) of

* jaxrec: ``training.epoch`` jitted, with the audit's defaults (Adagrad, batch 4096) and with
  SGD, compile time measured separately (``jit(...).lower(...).compile()``), each in two forms:
  ``row-sparse`` (0.3's opt-in fast path: ``optim.sparse_adagrad`` / ``sparse_sgd`` on
  BPR-MF's closed-form row gradients, ``sample_bpr_triples(negatives="rejection")``) and
  ``dense`` (``optax.adagrad`` / ``optax.sgd`` on autodiff's dense table gradients, exact
  negatives by binary search: 0.2's path and still the default recipe's Adagrad);
* torch: a plain mini-batch PyTorch BPR (Adam, batch 4096, 2 threads), the typical research code;
* implicit: the multi-threaded C++ BPR of the ``implicit`` library (2 threads, its own sampler);

and prints medians over ``--repeats`` epochs after one warm-up epoch, with the ratio
``jaxrec / baseline`` (below 1 means jaxrec is faster). The baselines come from the optional
``bench`` extra and are skipped with a note when absent. These 2-core machines change speed over
time, so only ratios within one run mean anything: the jaxrec block runs twice (before and after
the baselines) and the CPU time other processes used during each block is reported.

With ``--out DIR`` the numbers are also written as a tidy ``DIR/report.json``
(``metric="epoch_ms"`` / ``"compile_s"`` / ``"ratio_vs_<baseline>"``).
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import jax
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _baselines  # noqa: E402  pylint: disable=wrong-import-position

from jaxrec import data, models, optim, report, training  # noqa: E402

DIM = 64
LOADERS = {"ml-100k": _baselines.load_ml100k, "ml-1m": _baselines.load_ml1m}


class OtherLoad:
  """CPU seconds used by *other* processes during a block (from /proc/stat), per core."""

  def __enter__(self):
    self.t0, self.busy0, self.own0 = time.perf_counter(), _busy_seconds(), _own_seconds()
    return self

  def __exit__(self, *exc):
    wall = time.perf_counter() - self.t0
    other = (_busy_seconds() - self.busy0) - (_own_seconds() - self.own0)
    self.fraction = max(0.0, other) / (wall * (os.cpu_count() or 1))
    return False


def _busy_seconds() -> float:
  try:
    with open("/proc/stat", encoding="ascii") as f:
      fields = [int(x) for x in f.readline().split()[1:]]
  except OSError:
    return 0.0
  idle = fields[3] + fields[4]
  return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
  r = resource.getrusage(resource.RUSAGE_SELF)
  return r.ru_utime + r.ru_stime


def _cuda_available() -> bool:
  try:
    import torch  # pylint: disable=import-outside-toplevel
    return torch.cuda.is_available()
  except ImportError:
    return False


def time_jaxrec(users, items, num_users, num_items, *, optimizer, batch_size, repeats,
                path="row-sparse"):
  """Median seconds of a jitted ``training.epoch`` and its compile time (``path``: "row-sparse"
  or "dense", see the module docstring)."""
  index = data.build_index(users, items, num_users=num_users, num_items=num_items)
  sampler = None
  if path == "dense":
    tx = (optax.adagrad(0.05, initial_accumulator_value=0.1) if optimizer == "adagrad"
          else optax.sgd(0.05))
  else:
    tx = (optim.sparse_adagrad(0.05, initial_accumulator_value=0.1) if optimizer == "adagrad"
          else optim.sparse_sgd(0.05))
    sampler = functools.partial(data.sample_bpr_triples, negatives="rejection")
  victim = training.Victim(models.mf(dim=DIM, reg=0.01), tx, num_epochs=1,
                           batch_size=batch_size, sampler=sampler)
  state = training.init_state(victim, index, jax.random.key(0))
  step = jax.jit(functools.partial(training.epoch, victim))
  t = time.perf_counter()
  compiled = step.lower(state, index).compile()
  compile_s = time.perf_counter() - t
  state, losses = compiled(state, index)  # warm-up epoch
  jax.block_until_ready(losses)
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    state, losses = compiled(state, index)
    jax.block_until_ready((state, losses))
    times.append(time.perf_counter() - t)
  return {"median_s": statistics.median(times), "epoch_s": times, "compile_s": compile_s}


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--datasets", nargs="+", default=list(LOADERS), choices=list(LOADERS))
  p.add_argument("--out", default=None, help="write DIR/report.json")
  args = p.parse_args(argv)
  print(f"jax {jax.__version__} on {jax.default_backend()} ({jax.devices()[0].device_kind}), "
        f"{os.cpu_count()} CPUs; {DIM} factors; medians of {args.repeats} epochs")
  rows = []
  for name in args.datasets:
    try:
      users, items, nu, ni = LOADERS[name]()
    except FileNotFoundError as e:
      print(f"{name}: skipped ({e})")
      continue
    print(f"\n{name}: {nu} users, {ni} items, {len(users)} pairs")
    jax_runs, base = {}, {}
    configs = [("adagrad", 4096, "row-sparse"), ("sgd", 4096, "row-sparse"),
               ("adagrad", 4096, "dense"), ("sgd", 4096, "dense")]
    with OtherLoad() as load1:
      for opt, bs, path in configs:
        jax_runs[(opt, bs, path, 1)] = time_jaxrec(users, items, nu, ni, optimizer=opt,
                                                   batch_size=bs, repeats=args.repeats,
                                                   path=path)
    with OtherLoad() as load2:
      base["implicit"] = _baselines.implicit_bpr_epoch_times(
          users, items, nu, ni, dim=DIM, repeats=args.repeats, threads=2)
      base["torch-adam"] = _baselines.torch_bpr_epoch_times(
          users, items, nu, ni, dim=DIM, batch_size=4096, repeats=args.repeats)
      if _cuda_available():
        base["torch-adam-cuda"] = _baselines.torch_bpr_epoch_times(
            users, items, nu, ni, dim=DIM, batch_size=4096, repeats=args.repeats,
            device="cuda")
    with OtherLoad() as load3:
      for opt, bs, path in configs:
        jax_runs[(opt, bs, path, 2)] = time_jaxrec(users, items, nu, ni, optimizer=opt,
                                                   batch_size=bs, repeats=args.repeats,
                                                   path=path)
    print(f"  CPU used by other processes: {load1.fraction:.0%} / {load2.fraction:.0%} / "
          f"{load3.fraction:.0%} of the machine during the jaxrec / baseline / jaxrec blocks")
    for b, r in base.items():
      if r is not None:
        print(f"  {b:26s} epoch {1e3 * r['median_s']:8.1f} ms")
        rows.append(report.make_row(model=b, metric="epoch_ms", value=1e3 * r["median_s"],
                                    dataset=name))
    medians = {}
    for opt, bs, path in configs:
      runs = [jax_runs[(opt, bs, path, 1)], jax_runs[(opt, bs, path, 2)]]
      med = medians[(opt, path)] = statistics.median(runs[0]["epoch_s"] + runs[1]["epoch_s"])
      label = f"jaxrec-{opt}-b{bs}-{path}"
      ratios = "  ".join(f"{med / r['median_s']:5.2f}x vs {b}" for b, r in base.items() if r)
      print(f"  {label:26s} epoch {1e3 * med:8.1f} ms  (blocks {1e3 * runs[0]['median_s']:.1f} "
            f"/ {1e3 * runs[1]['median_s']:.1f})  compile {runs[0]['compile_s']:.2f} s  {ratios}")
      rows.append(report.make_row(model=label, metric="epoch_ms", value=1e3 * med, dataset=name))
      rows.append(report.make_row(model=label, metric="compile_s", value=runs[0]["compile_s"],
                                  dataset=name))
      for b, r in base.items():
        if r:
          rows.append(report.make_row(model=label, metric=f"ratio_vs_{b}",
                                      value=med / r["median_s"], dataset=name))
    for opt in ("adagrad", "sgd"):
      r = medians[(opt, "row-sparse")] / medians[(opt, "dense")]
      print(f"  jaxrec-{opt} row-sparse / dense: {r:5.2f}x")
      rows.append(report.make_row(model=f"jaxrec-{opt}-b4096-row-sparse",
                                  metric="ratio_vs_dense", value=r, dataset=name))
  if args.out:
    rep = report.build_report(dataset={"name": ",".join(args.datasets)},
                              config={"benchmark": "bpr_epoch", "dim": DIM,
                                      "repeats": args.repeats}, rows=rows)
    print("wrote", report.write_report(args.out, rep)[0])
  return 0


if __name__ == "__main__":
  sys.exit(main())
