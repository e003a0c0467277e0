"""Measured ceilings of the device (matmul FLOP/s, memory bandwidth) and the one summary table.

Usage::

  python benchmarks/ceilings.py [--quick] [--out DIR]   # probe the default JAX device
  python benchmarks/ceilings.py --table DIR             # the table of benchmarks/gpu_check.sh

Probe (jitted JAX, the default device, compile apart, median of repeats):

* matmul: ``(n, n) @ (n, n)`` in float32 (JAX's default precision, i.e. what the benchmarks'
  float32 products run at; TF32 on recent NVIDIA GPUs) and in bfloat16, ``2 n^3`` FLOP per
  product, ``n = 8192`` on an accelerator, 2048 on CPU (512 with ``--quick``);
* memory bandwidth: a float32 copy ``y = x + 1`` (bytes read + written) and a sum (bytes read)
  over ``x`` of 1 GiB on an accelerator, 256 MiB on CPU (32 MiB with ``--quick``); the larger
  of the two rates.

``--table DIR`` reads ``DIR/ceilings/ceilings.json`` and the ``report.json`` files that
``benchmarks/gpu_check.sh`` writes (``DIR/bpr``, ``DIR/topk``, ``DIR/grid``) and prints one
row per benchmark: throughput, unit, the ceiling it is compared with and the fraction of it.

* BPR epoch (``bpr_epoch.py``, row-sparse SGD, the largest dataset run): triples/s, and as
  bytes/s under the minimal traffic of a triple, reading and writing one user row, two item rows
  and two biases (``2 x (3 D + 2) x 4`` bytes, ``D = 64``), against the bandwidth;
* top-k (``topk_scale.py``, each size): score FLOP/s (``2 D`` per user-item score) against the
  float32 matmul ceiling;
* poison grid (``poison_grid.py``, the vmapped mode): cells/s, and as bytes/s of the real
  training triples retrained (cells x epochs x training pairs of ML-100K, the fake profiles'
  left out) under the same minimal traffic, against the bandwidth.

The byte counts are lower bounds of the traffic (optimizer state, sampling and the dense
optimizers' whole-table updates come on top), so a fraction says how far a trainer is from the
memory roofline, not how busy the memory bus was.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

DIM = 64
TRIPLE_BYTES = 2 * (3 * DIM + 2) * 4
ML100K_TRAIN_PAIRS = 100_000 - 943  # leave-one-out: one held-out pair per user


def _median_time(fn, *args, repeats: int) -> float:
  jax.block_until_ready(fn(*args))  # compile and warm up, not timed
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t)
  return statistics.median(times)


def probe(quick: bool = False, repeats: int = 5) -> dict:
  """Measures the default device's ceilings (module docstring); returns a dict of rates."""
  accel = jax.default_backend() != "cpu"
  n = 8192 if accel else (512 if quick else 2048)
  nbytes = 2**30 if accel else (2**25 if quick else 2**28)
  out = {"backend": jax.default_backend(), "device": jax.devices()[0].device_kind,
         "matmul_n": n, "array_bytes": nbytes}
  key = jax.random.key(0)
  for dtype, name in ((jnp.float32, "matmul_f32_flops"), (jnp.bfloat16, "matmul_bf16_flops")):
    a = jax.random.normal(key, (n, n), dtype)
    b = jax.random.normal(jax.random.key(1), (n, n), dtype)
    t = _median_time(jax.jit(jnp.matmul), a, b, repeats=repeats)
    out[name] = 2 * n**3 / t
    del a, b
  x = jnp.zeros((nbytes // 4,), jnp.float32)
  copy_s = _median_time(jax.jit(lambda x: x + 1.0), x, repeats=repeats)
  sum_s = _median_time(jax.jit(jnp.sum), x, repeats=repeats)
  out["copy_bytes_per_s"] = 2 * nbytes / copy_s
  out["sum_bytes_per_s"] = nbytes / sum_s
  out["bandwidth_bytes_per_s"] = max(out["copy_bytes_per_s"], out["sum_bytes_per_s"])
  return out


def _rows(path: Path) -> list[dict]:
  if not path.is_file():
    return []
  return json.loads(path.read_text())["rows"]


def _config(path: Path) -> dict:
  return json.loads(path.read_text())["config"] if path.is_file() else {}


def _dataset_pairs(name: str) -> int | None:
  sys.path.insert(0, str(Path(__file__).resolve().parent))
  import _baselines  # pylint: disable=import-outside-toplevel
  loader = {"ml-100k": _baselines.load_ml100k, "ml-1m": _baselines.load_ml1m}.get(name)
  try:
    return len(loader()[0]) if loader else None
  except FileNotFoundError:
    return None


def table(out_dir: str | Path) -> list[tuple]:
  """The rows ``(benchmark, throughput, unit, ceiling, ceiling unit, fraction)`` of a
  ``gpu_check.sh`` output folder (missing reports give no rows)."""
  out_dir = Path(out_dir)
  ceil = json.loads((out_dir / "ceilings" / "ceilings.json").read_text())
  bw, f32 = ceil["bandwidth_bytes_per_s"], ceil["matmul_f32_flops"]
  rows = [("probe: matmul float32", f32 / 1e12, "TFLOP/s", f32 / 1e12, "TFLOP/s", 1.0),
          ("probe: matmul bfloat16", ceil["matmul_bf16_flops"] / 1e12, "TFLOP/s", f32 / 1e12,
           "TFLOP/s (f32)", ceil["matmul_bf16_flops"] / f32),
          ("probe: memory bandwidth", bw / 1e9, "GB/s", bw / 1e9, "GB/s", 1.0)]
  bpr = [r for r in _rows(out_dir / "bpr" / "report.json")
         if r["metric"] == "epoch_ms" and r["model"] == "jaxrec-sgd-b4096-row-sparse"]
  if bpr:
    r = max(bpr, key=lambda r: _dataset_pairs(r["dataset"]) or 0)
    pairs = _dataset_pairs(r["dataset"])
    if pairs:
      tps = pairs / (r["value"] / 1e3)
      rows.append((f"BPR-MF epoch, {r['dataset']}, row-sparse SGD", tps / 1e6, "M triples/s",
                   bw / 1e9, "GB/s", tps * TRIPLE_BYTES / bw))
  topk = _rows(out_dir / "topk" / "report.json")
  users_per_s = {r["dataset"]: r["value"] for r in topk if r["metric"] == "users_per_s"}
  for r in topk:
    if r["metric"] == "score_flops":
      timed = f"{r['timed_users']:,} users timed" + (", extrapolated" if r["extrapolated"] else "")
      rows.append((f"top-k, {r['dataset']}, {users_per_s[r['dataset']]:,.0f} users/s ({timed})",
                   r["value"] / 1e12, "score TFLOP/s", f32 / 1e12, "TFLOP/s", r["value"] / f32))
  grid_cfg = _config(out_dir / "grid" / "report.json")
  for r in _rows(out_dir / "grid" / "report.json"):
    if r["metric"] == "seconds_per_cell" and r.get("mode") == "vmap":
      cells_s = 1.0 / r["value"]
      tps = cells_s * grid_cfg.get("epochs", 0) * ML100K_TRAIN_PAIRS
      rows.append((f"poison grid, ml-100k, {r.get('lanes')} lanes, {grid_cfg.get('epochs')} "
                   "epochs", cells_s, "cells/s", bw / 1e9, "GB/s", tps * TRIPLE_BYTES / bw))
  return rows


def print_table(rows: list[tuple], device: str) -> None:
  print(f"\nSummary on {device} (fractions: throughput as bytes or FLOP / measured ceiling)")
  head = ("benchmark", "throughput", "unit", "ceiling", "unit", "fraction")
  print(f"| {head[0]:66s} | {head[1]:>10s} | {head[2]:13s} | {head[3]:>8s} | {head[4]:13s} | "
        f"{head[5]:>8s} |")
  print(f"|{'-' * 68}|{'-' * 12}|{'-' * 15}|{'-' * 10}|{'-' * 15}|{'-' * 10}|")
  for name, value, unit, ceiling, cunit, frac in rows:
    print(f"| {name:66s} | {value:10.4g} | {unit:13s} | {ceiling:8.4g} | {cunit:13s} | "
          f"{frac:8.3f} |")


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--quick", action="store_true", help="small probe sizes (a smoke test)")
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--out", default=None, help="write DIR/ceilings.json")
  p.add_argument("--table", default=None, metavar="DIR",
                 help="print the summary table of a gpu_check.sh output folder and exit")
  args = p.parse_args(argv)
  if args.table:
    ceil = json.loads((Path(args.table) / "ceilings" / "ceilings.json").read_text())
    print_table(table(args.table), f"{ceil['device']} ({ceil['backend']})")
    return 0
  c = probe(args.quick, args.repeats)
  print(f"jax {jax.__version__} on {c['backend']} ({c['device']}): matmul {c['matmul_n']}^2 "
        f"float32 {c['matmul_f32_flops'] / 1e12:.3f} TFLOP/s, bfloat16 "
        f"{c['matmul_bf16_flops'] / 1e12:.3f} TFLOP/s; {c['array_bytes'] / 2**20:.0f} MiB copy "
        f"{c['copy_bytes_per_s'] / 1e9:.1f} GB/s, sum {c['sum_bytes_per_s'] / 1e9:.1f} GB/s")
  if args.out:
    path = Path(args.out)
    path.mkdir(parents=True, exist_ok=True)
    (path / "ceilings.json").write_text(json.dumps(c, indent=1))
    print("wrote", path / "ceilings.json")
  return 0


if __name__ == "__main__":
  sys.exit(main())
