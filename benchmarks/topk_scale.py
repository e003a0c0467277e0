"""Scoring and top-k of a whole catalogue in bounded memory: throughput and peak memory.

Usage::

  python benchmarks/topk_scale.py [--sizes ml-1m synthetic] [--users N] [--k 100]
                                  [--chunk-size C] [--block-size B] [--repeats 3] [--out DIR]

Times :func:`jaxrec.metrics.top_k_dot` (the two-stage top-k: user chunks x item blocks, a
running top-k; ``docs/metrics.md``, "Ranking at scale") on random 64-factor vectors with an item
bias, at two sizes:

* ``ml-1m``: MovieLens-1M's 6040 users x 3706 items; the training positives of the ML-1M
  ratings in ``$JAXREC_SHARED_DATA`` are masked when the file is there (else nothing is);
* ``synthetic``: 1,000,000 users x 500,000 items, nothing masked. The item vectors (128 MB) are
  generated 65,536 rows at a time; only the users timed are generated. ``--users N`` times the
  first ``N`` users and extrapolates linearly to 1,000,000 (the work per user is the same for
  every user); the output says when it does. ``--users 1000000`` runs the full size.

For each size: the first call (compile + run) apart, then the median of ``--repeats`` calls,
as users/s, scores/s and score FLOP/s (``2 D`` per user-item score, the dot product's work;
the top-k selection comes on top), and the process's peak resident memory (``VmHWM`` of
/proc/self/status, reset before each size where the kernel allows it) next to the memory a
dense ``U x I`` float32 score matrix would need. Every call returns the ``(U, k)`` lists on the
host, so the peak includes them and the inputs.

With ``--out DIR`` the numbers are written as a tidy ``DIR/report.json`` (``metric`` =
``users_per_s`` / ``score_flops`` / ``median_s`` / ``first_call_s`` / ``peak_rss_mb`` /
``dense_scores_mb``, ``dataset`` = the size).
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

from jaxrec import data, metrics, report  # noqa: E402

DIM = 64
SIZES = {"ml-1m": (6040, 3706), "synthetic": (1_000_000, 500_000)}
GEN_ROWS = 65_536


def peak_rss_mb() -> float:
  """The process's peak resident memory (VmHWM) in MiB, NaN where /proc is absent."""
  try:
    with open("/proc/self/status", encoding="ascii") as f:
      for line in f:
        if line.startswith("VmHWM:"):
          return int(line.split()[1]) / 1024
  except OSError:
    pass
  return float("nan")


def reset_peak_rss() -> bool:
  """Resets VmHWM to the current resident size (Linux ``clear_refs`` 5); False if refused."""
  try:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
      f.write("5")
    return True
  except OSError:
    return False


def random_rows(rng: np.random.Generator, rows: int, dim: int, scale: float) -> np.ndarray:
  """``(rows, dim) float32`` N(0, scale^2), generated ``GEN_ROWS`` rows at a time (no float64
  temporaries of the whole matrix)."""
  out = np.empty((rows, dim), np.float32)
  for s in range(0, rows, GEN_ROWS):
    rng.standard_normal((min(GEN_ROWS, rows - s), dim), dtype=np.float32, out=out[s:s + GEN_ROWS])
  out *= np.float32(scale)
  return out


def ml1m_mask(num_users: int, num_items: int):
  """The ML-1M positives as a PositiveIndex, or None (with a note) when the file is absent."""
  try:
    users, items, nu, ni = _baselines.load_ml1m()
  except FileNotFoundError as e:
    print(f"  (no training mask: {e})")
    return None
  assert (nu, ni) == (num_users, num_items), (nu, ni)
  return data.build_index(users, items, num_users=nu, num_items=ni)


def run_size(name: str, *, users: int | None, k: int, chunk_size: int, block_size: int,
             repeats: int, seed: int = 0) -> dict:
  """Times one size; returns its numbers (see the module docstring)."""
  full_users, num_items = SIZES[name]
  timed_users = full_users if users is None else min(users, full_users)
  reset = reset_peak_rss()
  rng = np.random.default_rng(seed)
  item_vectors = random_rows(rng, num_items, DIM, 0.1)
  item_bias = (0.01 * rng.standard_normal(num_items, dtype=np.float32)).astype(np.float32)
  user_vectors = random_rows(rng, timed_users, DIM, 0.1)
  train = ml1m_mask(full_users, num_items) if name == "ml-1m" else None
  if train is not None and timed_users < full_users:
    train = None
    print("  (a user prefix of ML-1M is timed without the training mask)")

  def call():
    t = time.perf_counter()
    items, valid = metrics.top_k_dot(user_vectors, item_vectors, k, item_bias=item_bias,
                                     train=train, chunk_size=chunk_size, block_size=block_size)
    return time.perf_counter() - t, items, valid

  first_s, items, valid = call()
  assert items.shape == (timed_users, k) and valid.any()
  times = [call()[0] for _ in range(repeats)]
  med = statistics.median(times)
  scale = full_users / timed_users
  out = {
      "size": name, "num_users": full_users, "num_items": num_items, "timed_users": timed_users,
      "extrapolated": timed_users < full_users, "first_call_s": first_s, "median_s": med,
      "times_s": times, "full_s": med * scale, "users_per_s": timed_users / med,
      "scores_per_s": timed_users * num_items / med,
      "score_flops": 2 * DIM * timed_users * num_items / med,
      "peak_rss_mb": peak_rss_mb(), "peak_reset": reset,
      "dense_scores_mb": full_users * num_items * 4 / 2**20, "masked": train is not None,
  }
  return out


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
  p.add_argument("--users", type=int, default=None,
                 help="time the first N users of the synthetic size and extrapolate (default: "
                      "2048 on CPU, 131072 on an accelerator); ML-1M always runs all users")
  p.add_argument("--k", type=int, default=100)
  p.add_argument("--chunk-size", type=int, default=None,
                 help="users per chunk (default 256 on CPU, 4096 on an accelerator)")
  p.add_argument("--block-size", type=int, default=65536)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--out", default=None, help="write DIR/report.json")
  args = p.parse_args(argv)
  cpu = jax.default_backend() == "cpu"
  chunk = args.chunk_size or (256 if cpu else 4096)
  users = args.users or (2048 if cpu else 131072)
  if min(users, args.k, chunk, args.block_size, args.repeats) < 1:
    p.error("--users, --k, --chunk-size, --block-size and --repeats must be at least 1")
  print(f"jax {jax.__version__} on {jax.default_backend()} ({jax.devices()[0].device_kind}), "
        f"{os.cpu_count()} CPUs; {DIM} factors + item bias, k={args.k}, chunk {chunk} users, "
        f"block {args.block_size} items; medians of {args.repeats} calls after a first call; "
        f"load {_baselines.load_average()}")
  rows = []
  for name in args.sizes:
    r = run_size(name, users=None if name == "ml-1m" else users, k=args.k, chunk_size=chunk,
                 block_size=args.block_size, repeats=args.repeats)
    what = (f"first {r['timed_users']:,} of {r['num_users']:,} users timed, extrapolated"
            if r["extrapolated"] else f"all {r['num_users']:,} users")
    print(f"\n{name}: {r['num_users']:,} users x {r['num_items']:,} items "
          f"({what}; training mask {'on' if r['masked'] else 'off'})")
    print(f"  median {r['median_s']:.3f} s per call (first call, compile included, "
          f"{r['first_call_s']:.2f} s); {r['users_per_s']:,.0f} users/s, "
          f"{r['scores_per_s'] / 1e9:.2f} G scores/s, {r['score_flops'] / 1e9:.1f} GFLOP/s")
    full = f"{r['full_s']:.0f} s ({r['full_s'] / 3600:.2f} h)"
    print(f"  all {r['num_users']:,} users: {full}{' (extrapolated)' if r['extrapolated'] else ''}")
    peak = "" if r["peak_reset"] else " (not reset: includes earlier sizes)"
    print(f"  peak resident memory {r['peak_rss_mb']:,.0f} MiB{peak}; a dense U x I float32 "
          f"score matrix: {r['dense_scores_mb']:,.0f} MiB")
    extra = dict(dataset=name, timed_users=r["timed_users"], extrapolated=r["extrapolated"],
                 k=args.k)
    for metric in ("users_per_s", "score_flops", "median_s", "first_call_s", "full_s",
                   "peak_rss_mb", "dense_scores_mb"):
      rows.append(report.make_row(model="top_k_dot", metric=metric, value=float(r[metric]),
                                  **extra))
  if args.out:
    rep = report.build_report(
        dataset={"name": ",".join(args.sizes)},
        config={"benchmark": "topk_scale", "dim": DIM, "k": args.k, "chunk_size": chunk,
                "block_size": args.block_size, "repeats": args.repeats, "users": users,
                "backend": jax.default_backend()}, rows=rows)
    print("wrote", report.write_report(args.out, rep)[0])
  return 0


if __name__ == "__main__":
  sys.exit(main())
