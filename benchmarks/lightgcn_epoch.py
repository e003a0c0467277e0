"""LightGCN epoch time: jaxrec versus a PyTorch LightGCN written the reference way, as ratios.

Usage::

  python benchmarks/lightgcn_epoch.py [--repeats 3] [--datasets ml-100k ml-1m]
      [--batch-size 2048] [--max-steps 50] [--methods csr scatter] [--out DIR]

For each dataset (MovieLens-100K and the MovieLens-1M ratings in ../shared/data), 3 layers and 64
factors, times one training epoch (``N`` = number of interactions triples, ``ceil(N /
batch_size)`` steps, sampling included) of

* jaxrec: ``training.epoch`` jitted for a :func:`jaxrec.models.lightgcn` victim (Adam 1e-3, L2
  1e-4, the index an argument of the jitted function), once per propagation ``--methods``:
  ``csr`` (the default, sparse-dense products) and ``scatter`` (the chunked gather/scatter-add it
  replaced); compile time measured separately (``jit(...).lower(...).compile()``);
* torch: :func:`_baselines.torch_lightgcn_epoch_times`, the reference implementation's way
  (gusye1234/LightGCN-PyTorch: ``torch.sparse.mm`` with the coalesced normalised adjacency, all
  layers every step, BPR + L2 on the layer-0 embeddings, Adam), 2 threads, same process;

with the same batch size (default 2048, the reference's) and number of triples, and prints
medians over ``--repeats`` epochs after one warm-up epoch with the ratio ``jaxrec / torch``
(below 1: jaxrec is faster).

Every step propagates the whole graph, so steps cost the same: when an epoch has more than
``--max-steps`` steps (ML-1M: 489 at batch 2048), both sides time that many steps and report
``seconds * steps_per_epoch / steps_timed`` (labelled "extrapolated"; jaxrec compiles a program
of that many steps, whose trip count does not change what XLA compiles). ``--max-steps 0`` times
whole epochs. The "floor" column is the time of the step's 12 sparse-dense products (3 layers,
two directions, forward and backward) at the machine's measured float32 matmul peak (163
GFLOP/s, ../shared/PERF-NOTES.md), a bound no sparse kernel reaches.

These 2-core machines change speed over time and are shared: the jaxrec block runs before and
after torch, and the CPU time other processes used during each block is printed (``uptime``
load too).

With ``--out DIR`` the numbers are also written as a tidy ``DIR/report.json`` (and
``report.md``) via :mod:`jaxrec.report`: ``metric`` ``epoch_s``, ``step_ms``, ``compile_s``,
``ratio_vs_torch``, ``floor_epoch_s``, ``other_cpu_fraction``; grid keys ``dataset``,
``batch_size``, ``steps_per_epoch``, ``steps_timed``, ``extrapolated``, ``repeats``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import jax
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
# pylint: disable=wrong-import-position
import _baselines  # noqa: E402
from bpr_epoch import OtherLoad  # noqa: E402

from jaxrec import data, models, report, training  # noqa: E402
from jaxrec.models._lightgcn import METHODS  # noqa: E402
# pylint: enable=wrong-import-position

DIM, LAYERS, LR, REG = 64, 3, 1e-3, 1e-4
LOADERS = {"ml-100k": _baselines.load_ml100k, "ml-1m": _baselines.load_ml1m}
MATMUL_FLOPS = 163e9  # float32 matmul peak of these machines (../shared/PERF-NOTES.md)


def time_jaxrec(index, *, method: str, batch_size: int, repeats: int, max_steps: int | None):
  """Median epoch seconds of a jitted LightGCN ``training.epoch`` (extrapolated from
  ``max_steps`` steps when the epoch is longer) and its compile time."""
  victim = training.Victim(models.lightgcn(dim=DIM, num_layers=LAYERS, reg=REG, method=method),
                           optax.adam(LR), num_epochs=1, batch_size=batch_size)
  full = training.steps_per_epoch(index.capacity, batch_size)
  steps = full if max_steps is None else max(1, min(full, max_steps))
  state = jax.block_until_ready(training.init_state(victim, index, jax.random.key(0)))
  t = time.perf_counter()
  compiled = jax.jit(lambda s, ix: training.epoch(victim, s, ix, num_steps=steps)).lower(
      state, index).compile()
  compile_s = time.perf_counter() - t
  times, losses = [], None
  for e in range(1 + repeats):
    t = time.perf_counter()
    state, losses = jax.block_until_ready(compiled(state, index))
    if e:
      times.append(time.perf_counter() - t)
  med = statistics.median(times)
  return {"epoch_s": med * full / steps, "step_s": med / steps, "compile_s": compile_s,
          "steps_per_epoch": full, "steps_timed": steps,
          "train_loss": float(losses[-1]) / batch_size}


def _floor_s(num_edges: int, steps: int) -> float:
  return steps * 12 * 2 * num_edges * DIM / MATMUL_FLOPS


def _fmt(s: float) -> str:
  return f"{1e3 * s:.1f} ms" if s < 1 else f"{s:.2f} s"


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
  p.add_argument("--datasets", nargs="+", default=list(LOADERS), choices=list(LOADERS))
  p.add_argument("--repeats", type=int, default=3, help="timed epochs (after one warm-up)")
  p.add_argument("--batch-size", type=int, default=2048,
                 help="triples per step, both sides (2048: the reference implementation's)")
  p.add_argument("--max-steps", type=int, default=50,
                 help="steps timed per epoch before extrapolating (0: whole epochs)")
  p.add_argument("--methods", nargs="+", default=["csr", "scatter"], choices=METHODS,
                 help="jaxrec propagation methods to time")
  p.add_argument("--out", default=None, metavar="DIR", help="write DIR/report.json")
  args = p.parse_args(argv)
  if args.repeats < 1 or args.batch_size < 1 or args.max_steps < 0:
    p.error("--repeats and --batch-size must be positive, --max-steps non-negative")
  max_steps = args.max_steps or None
  print(f"jax {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} CPUs, load "
        f"{os.getloadavg()[0]:.2f}; LightGCN {LAYERS} layers, {DIM} factors, batch "
        f"{args.batch_size}; medians of {args.repeats} epochs after 1 warm-up")
  rows = []
  for name in args.datasets:
    users, items, nu, ni = LOADERS[name]()
    index = data.build_index(users, items, num_users=nu, num_items=ni)
    num_edges = int(index.num_valid)
    print(f"\n{name}: {nu} users, {ni} items, {num_edges} unique pairs")
    runs = {}
    with OtherLoad() as load1:
      for m in args.methods:
        runs[(m, 1)] = time_jaxrec(index, method=m, batch_size=args.batch_size,
                                   repeats=args.repeats, max_steps=max_steps)
    with OtherLoad() as load2:
      torch_run = _baselines.torch_lightgcn_epoch_times(
          users, items, nu, ni, dim=DIM, num_layers=LAYERS, batch_size=args.batch_size, lr=LR,
          reg=REG, repeats=args.repeats, max_steps=max_steps, threads=2)
    with OtherLoad() as load3:
      for m in args.methods:
        runs[(m, 2)] = time_jaxrec(index, method=m, batch_size=args.batch_size,
                                   repeats=args.repeats, max_steps=max_steps)
    print(f"  CPU used by other processes: {load1.fraction:.0%} / {load2.fraction:.0%} / "
          f"{load3.fraction:.0%} (jaxrec / torch / jaxrec); load {os.getloadavg()[0]:.2f}")
    first = runs[(args.methods[0], 1)]
    steps_per_epoch, steps_timed = first["steps_per_epoch"], first["steps_timed"]
    extrapolated = steps_timed < steps_per_epoch
    floor = _floor_s(num_edges, steps_per_epoch)
    keys = dict(dataset=name, batch_size=args.batch_size, steps_per_epoch=steps_per_epoch,
                steps_timed=steps_timed, extrapolated=extrapolated, repeats=args.repeats)
    note = f" (EXTRAPOLATED from {steps_timed} of {steps_per_epoch} steps)" if extrapolated else ""
    print(f"  {'':24s} {'epoch':>9s} {'per step':>9s} {'compile':>8s} {'/ torch':>8s} "
          f"{'/ floor':>8s}{note}")
    table = {}
    if torch_run is not None:
      table["torch (sparse.mm, COO)"] = (torch_run["median_s"], torch_run["step_s"], None)
    for m in args.methods:
      a, b = runs[(m, 1)], runs[(m, 2)]
      table[f"jaxrec ({m})"] = (statistics.median([a["epoch_s"], b["epoch_s"]]),
                                statistics.median([a["step_s"], b["step_s"]]),
                                a["compile_s"])
    for label, (epoch_s, step_s, compile_s) in table.items():
      ratio = epoch_s / torch_run["median_s"] if torch_run is not None else float("nan")
      comp = f"{compile_s:6.2f} s" if compile_s is not None else f"{'':8s}"
      print(f"  {label:24s} {_fmt(epoch_s):>9s} {1e3 * step_s:6.1f} ms {comp} {ratio:7.2f}x "
            f"{epoch_s / floor:7.1f}x")
      model = label.split(" ")[0] if label.startswith("torch") else label.replace(" ", "-")
      model = model.replace("(", "").replace(")", "")
      rows.append(report.make_row(model=model, metric="epoch_s", value=epoch_s, **keys))
      rows.append(report.make_row(model=model, metric="step_ms", value=1e3 * step_s, **keys))
      if compile_s is not None:
        rows.append(report.make_row(model=model, metric="compile_s", value=compile_s, **keys))
      if torch_run is not None and not label.startswith("torch"):
        rows.append(report.make_row(model=model, metric="ratio_vs_torch", value=ratio, **keys))
    for m in args.methods:
      print(f"  jaxrec ({m}) epochs before / after torch: {_fmt(runs[(m, 1)]['epoch_s'])} / "
            f"{_fmt(runs[(m, 2)]['epoch_s'])}; last batch loss {runs[(m, 2)]['train_loss']:.4f}")
    if torch_run is not None:
      print(f"  torch: graph built in {_fmt(torch_run['setup_s'])} (once, not timed); last "
            f"epoch's mean BPR term {torch_run['train_loss']:.4f}")
    print(f"  floor (12 products per step at {MATMUL_FLOPS / 1e9:.0f} GFLOP/s): {_fmt(floor)}")
    rows.append(report.make_row(model="all", metric="floor_epoch_s", value=floor, **keys))
    for label, frac in (("jaxrec-before", load1), ("torch", load2), ("jaxrec-after", load3)):
      rows.append(report.make_row(model=label, metric="other_cpu_fraction", value=frac.fraction,
                                  dataset=name))
  if args.out:
    rep = report.build_report(
        dataset={"name": ",".join(args.datasets)},
        config={"benchmark": "lightgcn_epoch", "repeats": args.repeats,
                "batch_size": args.batch_size, "max_steps": args.max_steps,
                "methods": args.methods, "dim": DIM, "num_layers": LAYERS}, rows=rows)
    print("wrote", report.write_report(args.out, rep)[0])
  return 0


if __name__ == "__main__":
  sys.exit(main())
