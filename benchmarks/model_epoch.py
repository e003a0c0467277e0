"""Epoch time of every victim model, as a ratio to BPR-MF's epoch measured in the same process.

Usage::

  python benchmarks/model_epoch.py [--dataset {ml-100k,ml-1m,both}] [--models M ...]
      [--repeats 5] [--budget-s 60] [--max-steps N] [--synthetic] [--out DIR]

For MovieLens-100K and/or MovieLens-1M (read from ``$JAXREC_SHARED_DATA``, default
``<repo>/../shared/data``; with ``--synthetic``, or when the files are absent, uniformly random
unique pairs of the same shape: 943 x 1,682 with 100,000 pairs, 6,040 x 3,706 with 1,000,209)
and each victim with its default recipe (``jaxrec.audit.make_victim(name)``, the audit's):

* trainable models (``bpr-mf``, ``lightgcn``, ``neumf``): one epoch, i.e. the jitted
  ``training.epoch(victim, state, index)`` (the index is an argument of the jitted function,
  not a constant; the victim's loss reads it), its optimiser and batch size,
  ``ceil(N / batch_size)`` steps with sampling included. Epochs run back to back from
  ``training.init_state(victim, index, key)``; one warm-up epoch, then the median of
  ``--repeats``.
* closed-form models (``ease``, ``itemknn``): the fit, i.e. the jitted
  ``victim.model.init(key, index)`` (Gram matrix and solve or top-k), reported as "fit" instead
  of an epoch.

Compile time (``jit(...).lower(...).compile()``) is reported separately and never included.
Ratios are ``time / BPR-MF epoch``: BPR-MF is timed first and again last on every dataset (the
two blocks show how much the machine's speed drifted) and the ratios use the median of both
blocks' epochs. "training (est.)" is epoch x the victim's default ``num_epochs`` (200 for BPR-MF
and LightGCN, 50 for NeuMF), an estimate for comparing with a closed-form fit.

Slow epochs are extrapolated, and labelled so: a probe of a few steps estimates the epoch; when
warm-up plus repeats would exceed ``--budget-s`` seconds (or the epoch has more steps than
``--max-steps``), a program of ``k`` steps is timed instead and the epoch reported as
``median * steps_per_epoch / k`` (steps inside a ``lax.scan`` do identical work, so this is
linear up to the per-call overhead of well under a millisecond). Compile time is then that of
the ``k``-step program (a scan's trip count does not change what XLA compiles).

For LightGCN the script also times one full-graph propagation (``jaxrec.models.propagate``,
forward, and forward plus backward): its loss propagates the whole graph once per step, so one
epoch runs ``steps_per_epoch`` propagations.

These 2-core machines change speed over time and are shared: the CPU time other processes used
during each dataset's block is printed, and every time is given twice, as wall time and as this
process's CPU time (all threads). CPU time moves less when other processes take the cores, but
it charges multi-threaded work for every thread, so its ratios favour single-threaded models.
Compare ratios, not seconds across runs.

With ``--out DIR`` the numbers are also written as one tidy report
(``jaxrec.report.write_report``: ``DIR/report.json`` and ``DIR/report.md``; rows with
``metric`` ``epoch_s`` / ``fit_s`` (wall), ``epoch_cpu_s`` / ``fit_cpu_s``, ``compile_s``,
``step_ms``, ``ratio_vs_bpr-mf_epoch``, ``cpu_ratio_vs_bpr-mf_epoch``, ``training_s_est``,
LightGCN's ``propagate_fwd_ms`` / ``propagate_fwd_bwd_ms`` / ``propagations_per_epoch``,
BPR-MF's ``epoch_s_before`` / ``epoch_s_after`` and ``other_cpu_fraction``; grid keys
``dataset``, ``synthetic``, ``steps_per_epoch``, ``steps_timed``, ``extrapolated``,
``repeats``).

``--dataset ml-100k --repeats 1 --max-steps 4 --budget-s 5`` is a quick smoke run (about a
minute on 2 cores).
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
# pylint: disable=wrong-import-position
import _baselines  # noqa: E402
from bpr_epoch import OtherLoad  # noqa: E402

from jaxrec import audit, data, models, report, training  # noqa: E402
from jaxrec.training import Victim  # noqa: E402
# pylint: enable=wrong-import-position

BASELINE = "bpr-mf"
# Every model of the registry with its default recipe (``jaxrec.audit.make_victim(name)``).
VICTIMS: dict[str, Callable[[], Victim]] = {
    name: functools.partial(audit.make_victim, name) for name in audit.MODELS}
# (num_users, num_items, interactions) of the real files, for the synthetic stand-ins.
SHAPES = {"ml-100k": (943, 1682, 100_000), "ml-1m": (6040, 3706, 1_000_209)}
PROBE_STEPS = 8


# ---------------------------------------------------------------------------------------------
# Data


def _load_real(name: str) -> data.Interactions:
  """The shared MovieLens copy through ``jaxrec.data``'s loaders (dense 0-based ids).

  Raises:
    FileNotFoundError: the file is absent.
  """
  root = _baselines._data_dir()  # pylint: disable=protected-access
  if name == "ml-100k":
    return data.load_movielens_100k(root / "movielens-100k").interactions
  folder = root / "movielens-1m"
  for dat in ("ratings.dat", "ratings.dat.gz"):  # the original file, when a copy has it
    if (folder / dat).is_file():
      return data.load_movielens_1m(folder / dat).interactions
  csv = folder / "ratings_user_itemidx_rating.csv.gz"  # the shared partial copy (no timestamps)
  if not csv.is_file():
    raise FileNotFoundError(f"neither {folder / 'ratings.dat'} nor {csv} exists (set "
                            "JAXREC_SHARED_DATA to the folder holding movielens-1m/)")
  return data.load_delimited(csv, sep=",", user_col="user_id", item_col="item_idx",
                             header=True, name="ml-1m").interactions


def _synthetic(name: str, seed: int = 0) -> data.Interactions:
  """Uniformly random unique (user, item) pairs of the real dataset's shape."""
  nu, ni, n = SHAPES[name]
  keys = np.random.default_rng(seed).choice(nu * ni, size=n, replace=False)
  return data.from_arrays(keys // ni, keys % ni, num_users=nu, num_items=ni)


def load(name: str, synthetic: bool) -> tuple[data.PositiveIndex, bool]:
  """``(index, is_synthetic)``; falls back to synthetic data (with a note) when files are absent."""
  inter = None
  if not synthetic:
    try:
      inter = _load_real(name)
    except FileNotFoundError as e:
      print(f"{name}: {e}; using synthetic data of the same shape")
  if inter is None:
    inter, synthetic = _synthetic(name), True
  index = data.index_interactions(inter)
  data.check_sampleable(index)
  return index, synthetic


# ---------------------------------------------------------------------------------------------
# Timing


def _compile(fn, *args) -> tuple[Any, float]:
  t = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  return compiled, time.perf_counter() - t


def _epoch_program(victim: Victim, num_steps: int):
  """``(state, index) -> (state, losses)``: ``num_steps`` steps of ``victim``'s training."""
  return functools.partial(training.epoch, victim, num_steps=num_steps)


def _timed(call: Callable[[], Any]) -> tuple[Any, float, float]:
  """``(result, wall seconds, CPU seconds of this process)`` of ``call()``, blocked until ready.

  CPU time covers all of the process's threads (XLA's pool included); on a shared machine it
  moves less than wall time when other processes take cores away.
  """
  t, c = time.perf_counter(), time.process_time()
  out = jax.block_until_ready(call())
  return out, time.perf_counter() - t, time.process_time() - c


def _run_epochs(compiled, state, index, count: int):
  """Runs ``count`` epochs back to back: ``(state, wall seconds, CPU seconds)``, per epoch."""
  walls, cpus = [], []
  for _ in range(count):
    (state, _), wall, cpu = _timed(lambda s=state: compiled(s, index))
    walls.append(wall)
    cpus.append(cpu)
  return state, walls, cpus


def _summary(kind: str, walls: list[float], cpus: list[float], *, scale: float = 1.0,
             **extra) -> dict[str, Any]:
  out = {"kind": kind, "time_s": statistics.median(walls) * scale,
         "cpu_s": statistics.median(cpus) * scale, "times_s": [t * scale for t in walls],
         "cpu_times_s": [t * scale for t in cpus], "repeats": len(walls)}
  out.update(extra)
  return out


def time_epoch(victim: Victim, index: data.PositiveIndex, *, repeats: int, budget_s: float,
               max_steps: int | None, seed: int = 0) -> dict[str, Any]:
  """Median epoch seconds of a trainable victim (extrapolated when slow, see the module doc)."""
  full = training.steps_per_epoch(index.capacity, victim.batch_size)
  state = jax.block_until_ready(training.init_state(victim, index, jax.random.key(seed)))
  steps = full
  probe = min(PROBE_STEPS, full)
  if probe < full:
    compiled, compile_s = _compile(_epoch_program(victim, probe), state, index)
    state, _, _ = _run_epochs(compiled, state, index, 1)  # warm-up
    _, (probe_s,), _ = _run_epochs(compiled, state, index, 1)
    per_step = probe_s / probe
    if (repeats + 1) * per_step * full > budget_s:
      steps = max(probe, min(full, math.floor(budget_s / ((repeats + 1) * per_step))))
    if max_steps is not None:
      steps = max(1, min(steps, max_steps))
  if steps != probe or probe == full:
    compiled, compile_s = _compile(_epoch_program(victim, steps), state, index)
  state, _, _ = _run_epochs(compiled, state, index, 1)  # warm-up
  _, walls, cpus = _run_epochs(compiled, state, index, repeats)
  return _summary("epoch", walls, cpus, scale=full / steps, compile_s=compile_s,
                  steps_per_epoch=full, steps_timed=steps, extrapolated=steps < full,
                  batch_size=victim.batch_size, num_epochs=victim.num_epochs,
                  step_ms=1e3 * statistics.median(walls) / steps)


def time_fit(victim: Victim, index: data.PositiveIndex, *, repeats: int, budget_s: float,
             seed: int = 0) -> dict[str, Any]:
  """Median seconds of a closed-form victim's jitted ``init`` (its whole fit).

  When the warm-up fit shows that ``repeats`` fits would exceed ``budget_s``, fewer are timed
  (at least one; ``repeats`` in the result says how many).
  """
  key = jax.random.key(seed)
  compiled, compile_s = _compile(victim.model.init, key, index)
  _, warm_s, _ = _timed(lambda: compiled(key, index))
  repeats = max(1, min(repeats, math.floor(budget_s / max(warm_s, 1e-9))))
  runs = [_timed(lambda: compiled(key, index))[1:] for _ in range(repeats)]
  return _summary("fit", [w for w, _ in runs], [c for _, c in runs], compile_s=compile_s,
                  extrapolated=False)


def time_propagation(victim: Victim, index: data.PositiveIndex, *,
                     repeats: int) -> dict[str, float]:
  """Median ms of one LightGCN full-graph propagation: forward, and forward plus backward."""
  model = victim.model
  num_layers = model.num_layers
  params = model.init(jax.random.key(0), index)

  def fwd(params, index):
    return models.propagate(params, data.graph_from_index(index), num_layers,
                            chunk_size=model.chunk_size)

  def fwd_bwd(params, index):  # the VJP of a random-ish cotangent, as the objective's gradient
    return jax.grad(lambda p: sum(jnp.sum(jnp.sin(x)) for x in fwd(p, index)))(params)

  out = {"num_layers": num_layers}
  for label, fn in (("fwd_ms", fwd), ("fwd_bwd_ms", fwd_bwd)):
    compiled, _ = _compile(fn, params, index)
    _timed(lambda c=compiled: c(params, index))  # warm-up
    out[label] = 1e3 * statistics.median(
        _timed(lambda c=compiled: c(params, index))[1] for _ in range(repeats))
  return out


# ---------------------------------------------------------------------------------------------
# Reporting


def _row_label(name: str, r: dict[str, Any]) -> str:
  if r["kind"] == "fit":
    return name
  return f"{name} (b{r['batch_size']}, {r['steps_per_epoch']} steps)"


def print_table(results: dict[str, dict[str, Any]], base: dict[str, Any]) -> None:
  """One line per model; ratios are to ``base`` (BPR-MF's epoch), in wall and in CPU time."""
  head = (f"  {'model':32s} {'what':5s} {'median':>9s} {'CPU':>9s} {'per step':>9s} "
          f"{'compile':>8s} {'/BPR wall':>9s} {'/BPR CPU':>8s} {'training (est.)':>15s}  note")
  print(head)
  print("  " + "-" * (len(head) - 2))
  for name, r in results.items():
    per_step = f"{r['step_ms']:.2f} ms" if r["kind"] == "epoch" else ""
    train = (_fmt_s(r["time_s"] * r["num_epochs"]) if r["kind"] == "epoch" else "(the fit)")
    notes = []
    if r.get("extrapolated"):
      notes.append(f"EXTRAPOLATED from {r['steps_timed']} of {r['steps_per_epoch']} steps")
    notes.append(f"{r['repeats']} repeats")
    print(f"  {_row_label(name, r):32s} {r['kind']:5s} {_fmt_s(r['time_s']):>9s} "
          f"{_fmt_s(r['cpu_s']):>9s} {per_step:>9s} {r['compile_s']:6.2f} s "
          f"{r['time_s'] / base['time_s']:8.2f}x {r['cpu_s'] / base['cpu_s']:7.2f}x "
          f"{train:>15s}  {'; '.join(notes)}")


def _fmt_s(s: float) -> str:
  return f"{1e3 * s:.1f} ms" if s < 1 else f"{s:.2f} s"


def rows_for(name: str, r: dict[str, Any], base: dict[str, Any],
             keys: dict[str, Any]) -> list[dict]:
  """Tidy report rows of one model's result ``r`` (``base``: BPR-MF's epoch result)."""
  grid = dict(keys, extrapolated=bool(r["extrapolated"]), repeats=r["repeats"])
  if r["kind"] == "epoch":
    grid.update(steps_per_epoch=r["steps_per_epoch"], steps_timed=r["steps_timed"],
                batch_size=r["batch_size"])
  values = {f"{r['kind']}_s": r["time_s"], f"{r['kind']}_cpu_s": r["cpu_s"],
            "compile_s": r["compile_s"],
            f"ratio_vs_{BASELINE}_epoch": r["time_s"] / base["time_s"],
            f"cpu_ratio_vs_{BASELINE}_epoch": r["cpu_s"] / base["cpu_s"]}
  if r["kind"] == "epoch":
    values["step_ms"] = r["step_ms"]
  rows = [report.make_row(model=name, metric=m, value=v, **grid) for m, v in values.items()]
  if r["kind"] == "epoch":
    rows.append(report.make_row(model=name, metric="training_s_est",
                                value=r["time_s"] * r["num_epochs"], num_epochs=r["num_epochs"],
                                **grid))
  return rows


# ---------------------------------------------------------------------------------------------


def run_dataset(name: str, args) -> list[dict]:
  """Times every requested model on one dataset, prints the table and returns report rows."""
  index, synthetic = load(name, args.synthetic)
  tag = " (SYNTHETIC: random pairs of the same shape)" if synthetic else ""
  print(f"\n{name}{tag}: {index.num_users} users, {index.num_items} items, "
        f"{int(index.num_valid)} unique pairs")
  timed = dict(repeats=args.repeats, budget_s=args.budget_s)
  results, prop = {}, None
  with OtherLoad() as load_frac:
    base1 = time_epoch(VICTIMS[BASELINE](), index, max_steps=None, **timed)
    for model in args.models:
      if model == BASELINE:
        continue
      victim = VICTIMS[model]()
      t0 = time.perf_counter()
      if victim.num_epochs == 0:  # closed form: "training" is the solve in init
        results[model] = time_fit(victim, index, **timed)
      else:
        results[model] = time_epoch(victim, index, max_steps=args.max_steps, **timed)
      if model == "lightgcn":
        prop = time_propagation(victim, index, repeats=max(args.repeats, 10))
      print(f"  ... {model} timed in {time.perf_counter() - t0:.1f} s", flush=True)
    base2 = time_epoch(VICTIMS[BASELINE](), index, max_steps=None, **timed)
  base = dict(base1)  # both blocks pooled
  base.update(_summary("epoch", base1["times_s"] + base2["times_s"],
                       base1["cpu_times_s"] + base2["cpu_times_s"]))
  base["step_ms"] = 1e3 * base["time_s"] / base["steps_per_epoch"]
  results = {BASELINE: base, **results}
  print(f"  CPU used by other processes during this block: {load_frac.fraction:.0%} of the machine")
  print(f"  {BASELINE} epoch (baseline): {_fmt_s(base1['time_s'])} before, "
        f"{_fmt_s(base2['time_s'])} after the other models; ratios use "
        f"{_fmt_s(base['time_s'])} (median of both; CPU {_fmt_s(base['cpu_s'])})")
  print_table(results, base)
  keys = {"dataset": name, "synthetic": synthetic}
  rows = []
  for model, r in results.items():
    rows += rows_for(model, r, base, keys)
  rows.append(report.make_row(model=BASELINE, metric="epoch_s_before", value=base1["time_s"],
                              **keys))
  rows.append(report.make_row(model=BASELINE, metric="epoch_s_after", value=base2["time_s"],
                              **keys))
  rows.append(report.make_row(model="all", metric="other_cpu_fraction",
                              value=load_frac.fraction, **keys))
  if prop is not None:
    r = results["lightgcn"]
    total = 1e-3 * prop["fwd_bwd_ms"] * r["steps_per_epoch"]
    print(f"  lightgcn: one full-graph propagation ({prop['num_layers']} layers over "
          f"{int(index.num_valid)} edges): {prop['fwd_ms']:.1f} ms forward, "
          f"{prop['fwd_bwd_ms']:.1f} ms forward+backward (timed separately).\n"
          f"    The loss propagates the whole graph once per step: {r['steps_per_epoch']} "
          f"propagations per epoch, {_fmt_s(total)} against the {_fmt_s(r['time_s'])} epoch "
          f"({total / r['time_s']:.0%}, two separate noisy timings);\n    the rest of a step "
          f"(sampling, gathers, the optimiser) does what a BPR-MF step does ({base['step_ms']:.2f}"
          f" ms), so propagation is about {1 - base['step_ms'] / r['step_ms']:.0%} of LightGCN's "
          f"{r['step_ms']:.2f} ms step.")
    for metric in ("fwd_ms", "fwd_bwd_ms"):
      rows.append(report.make_row(model="lightgcn", metric=f"propagate_{metric}",
                                  value=prop[metric], num_layers=prop["num_layers"], **keys))
    rows.append(report.make_row(model="lightgcn", metric="propagations_per_epoch",
                                value=r["steps_per_epoch"], **keys))
  return rows


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
  p.add_argument("--dataset", choices=["ml-100k", "ml-1m", "both"], default="both")
  p.add_argument("--models", nargs="+", choices=list(VICTIMS), default=list(VICTIMS))
  p.add_argument("--repeats", type=int, default=5, help="timed epochs or fits (median)")
  p.add_argument("--budget-s", type=float, default=60.0,
                 help="seconds of timed runs (warm-up + repeats) per model before an epoch is "
                      "extrapolated from fewer steps (or a fit repeated fewer times)")
  p.add_argument("--max-steps", type=int, default=None,
                 help="time at most this many steps of an epoch and extrapolate (not BPR-MF)")
  p.add_argument("--synthetic", action="store_true",
                 help="random interactions of the datasets' shapes instead of the real files")
  p.add_argument("--out", default=None, metavar="DIR",
                 help="write the tidy report DIR/report.json (and report.md)")
  args = p.parse_args(argv)
  if args.repeats < 1:
    p.error("--repeats must be at least 1")
  if args.max_steps is not None and args.max_steps < 1:
    p.error("--max-steps must be at least 1")
  datasets = ["ml-100k", "ml-1m"] if args.dataset == "both" else [args.dataset]
  print(f"jax {jax.__version__} on {jax.default_backend()} ({jax.devices()[0].device_kind}), "
        f"{os.cpu_count()} CPUs; medians of {args.repeats} (BPR-MF: 2 x {args.repeats}); "
        f"victims with their default recipes (audit.make_victim)")
  rows = []
  for name in datasets:
    t0 = time.perf_counter()
    rows += run_dataset(name, args)
    print(f"  ({name} took {time.perf_counter() - t0:.0f} s in all)")
  if args.out:
    rep = report.build_report(
        dataset={"name": ",".join(datasets)},
        config={"benchmark": "model_epoch", "models": args.models, "repeats": args.repeats,
                "budget_s": args.budget_s, "max_steps": args.max_steps,
                "synthetic": args.synthetic}, rows=rows)
    print("wrote", report.write_report(args.out, rep)[0])
  return 0


if __name__ == "__main__":
  sys.exit(main())
