"""Unrolled bilevel attack: time and memory per outer step versus unroll length T, remat on/off.

Usage::

  python benchmarks/bilevel_unroll.py [--steps 10 25 50 100 200] [--repeats 5]
      [--sizes revadv ml-100k] [--synthetic] [--out DIR]

One outer step is one step of ``jaxrec.attacks.poisoning.bilevel_attack``, jitted: a
``jaxrec.optim.run`` of ``num_steps=1`` that continues from the previous step's optimiser state
(``opt_state=``), on the outer loss ``jaxrec.attacks.poisoning.bilevel_loss``: the surrogate
(``poisoning.lfm_surrogate``, a ``training.Victim`` of ``models.LFM`` trained by T unrolled
full-batch Adam steps from a fixed key on the dense matrix ``[real; fake]``), RevAdv's outer loss
(``poisoning.ce_loss`` over all real users toward one target), its hypergradient through the T
steps, an SGD-with-momentum update (1.0, 0.99) and RevAdv's threshold projection
(``optim.project_threshold``, 0.2, as the last link ``optim.project``). ``bilevel_attack`` runs
exactly this step ``num_steps`` times in one scan; one step at a time is what is timed here. For
each T, with the surrogate's ``remat=True`` (two-level checkpointing of the inner steps,
``optim.run(remat=True)``) and ``remat=False``:

* compile time: ``jit(step).lower(...).compile()``, measured separately from the run;
* run time: median over ``--repeats`` outer steps (``block_until_ready``) after one warm-up step,
  each step fed the previous step's state; the remat and plain steps of one T alternate, so both
  see the same load and their ratio means more than the seconds;
* memory: XLA's static buffer assignment of the compiled step, ``compiled.memory_analysis()``:
  temporaries (``temp_size_in_bytes``) and the peak ``arguments + outputs - aliased + temps``,
  in MiB. Exact and load-independent (an allocation plan, not a measurement); ``n/a`` where the
  backend does not provide it.

Printed per size: a table with the ratios remat / plain at each T, then the memory growth per
added inner step (least-squares slope of the peak over T) next to what each step must keep:
the scan carry ``3 (N + I) D`` floats (factors and Adam's two moments) with remat; without, the
slope is decomposed as one ``(N, I)`` residual plus a number of ``(N + I) D`` arrays.

Sizes: ``revadv``: RevAdv's synthetic problem (900 real + 100 fake users x 300 items, dim 16,
``x = mu nu^T > 5`` with rank 20, fake rows initialised from rows 900-999, the notebook's data
generator); ``ml-100k``: MovieLens-100K size (943 real + 47 fake users, 5%, x 1682 items, dim
64), the real ``u.data`` interactions when found (``_baselines.load_ml100k``), otherwise, or with
``--synthetic``, uniform random binary data of the same density (6.3%); the fake rows are random
rows of that density. Dense computations: time and memory do not depend on the values.

Guards: a configuration whose planned peak exceeds ``--max-mib`` is compiled (memory reported)
but not run; one whose warm-up step exceeds ``--max-step-s`` reports that single step (marked
``*``) instead of a median. With ``--out DIR`` the rows are written as a tidy jaxrec report
(``jaxrec.report.write_report``: ``DIR/report.json`` and ``DIR/report.md``; ``metric`` in
``step_ms``, ``compile_s``, ``temp_mib``, ``peak_mib``, ``ratio_*``, ``mib_per_step``; ``model``
``remat`` / ``plain``; grid keys ``dataset``, ``unroll=T``).

``--steps 10 25 --repeats 1 --synthetic`` is a quick smoke run (well under a minute on 2 cores).
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

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _baselines  # noqa: E402  pylint: disable=wrong-import-position
from bpr_epoch import OtherLoad  # noqa: E402  pylint: disable=wrong-import-position

from jaxrec import optim, report  # noqa: E402
from jaxrec.attacks import poisoning  # noqa: E402

MIB = 2.0**20
SIZES = {
    "revadv": {"real": 900, "fake": 100, "items": 300, "dim": 16,
               "label": "RevAdv synthetic (900 + 100 users x 300 items, dim 16)"},
    "ml-100k": {"real": 943, "fake": 47, "items": 1682, "dim": 64,
                "label": "MovieLens-100K size (943 + 47 users x 1682 items, dim 64)"},
}
ML100K_DENSITY = 100_000 / (943 * 1682)


def revadv_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
  """RevAdv's synthetic matrix (``mu nu^T > 5``, rank 20): ``(real (900, 300), fake0 (100,
  300), description)`` float32; the fake rows start as the last 100 generated users."""
  rng = np.random.default_rng(seed)
  mu = rng.standard_normal((1000, 20))
  nu = rng.standard_normal((300, 20))
  x = (mu @ nu.T > 5.0).astype(np.float32)
  return x[:900], x[900:], f"mu nu^T > 5, density {x.mean():.3f}"


def ml100k_data(synthetic: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
  """``(real (943, 1682), fake0 (47, 1682), description)`` float32 binary matrices: the real
  MovieLens-100K interactions unless ``synthetic`` or the file is absent, random otherwise."""
  rng = np.random.default_rng(seed)
  shape = (SIZES["ml-100k"]["real"], SIZES["ml-100k"]["items"])
  real, what = None, ""
  if not synthetic:
    try:
      users, items, nu, ni = _baselines.load_ml100k()
      if (nu, ni) == shape:
        real = np.zeros(shape, np.float32)
        real[users, items] = 1.0
        what = f"real u.data, density {real.mean():.4f}"
    except FileNotFoundError as e:
      what = f"({e}) "
  if real is None:
    real = (rng.random(shape) < ML100K_DENSITY).astype(np.float32)
    what += f"random, density {real.mean():.4f}"
  fake0 = (rng.random((SIZES["ml-100k"]["fake"], shape[1])) < ML100K_DENSITY).astype(np.float32)
  return real, fake0, what


def memory_mib(compiled) -> dict | None:
  """``{"temp", "args", "out", "peak"}`` in MiB from XLA's memory analysis, or ``None`` when the
  backend has none."""
  try:
    m = compiled.memory_analysis()
    temp, args = m.temp_size_in_bytes, m.argument_size_in_bytes
    out, alias = m.output_size_in_bytes, m.alias_size_in_bytes
  except (AttributeError, NotImplementedError, RuntimeError, TypeError,
          jax.errors.JaxRuntimeError):
    return None
  if m is None or temp is None or temp < 0:
    return None
  return {"temp": temp / MIB, "args": args / MIB, "out": out / MIB,
          "peak": (args + out - alias + temp) / MIB}


def outer_step(*, dim: int, unroll: int, remat: bool):
  """``(step, tx)``: one outer step of ``poisoning.bilevel_attack`` as a pure function
  ``step(fake, opt_state, real, targets, key) -> (fake, opt_state, loss)``, and its optax chain.

  The step is what ``bilevel_attack`` scans over: one :func:`jaxrec.optim.run` step of
  ``optax.chain(sgd(1.0, momentum=0.99), project(project_threshold(0.2)))`` on
  ``poisoning.bilevel_loss`` (the LFM surrogate trained on ``[real; fake]``), continuing from
  ``opt_state`` (so the momentum carries from step to step).
  """
  surrogate = poisoning.lfm_surrogate(dim=dim, num_steps=unroll, remat=remat)
  tx = optax.chain(optax.sgd(1.0, momentum=0.99),
                   optim.project(functools.partial(optim.project_threshold, threshold=0.2)))
  loss = functools.partial(poisoning.ce_loss, eligible_only=False)

  def outer(x, args):
    real, targets, key = args
    return poisoning.bilevel_loss(x, real, targets, key, surrogate=surrogate, loss=loss)

  def step(fake, opt_state, real, targets, key):
    r = optim.run(tx, outer, fake, (real, targets, key), num_steps=1, opt_state=opt_state)
    return r.x, r.opt_state, r.values[0]

  return step, tx


def compile_step(real, fake0, targets, *, dim: int, unroll: int, remat: bool):
  """The compiled outer step, its compile seconds, its memory (:func:`memory_mib`) and the
  initial state ``(fake, opt_state)`` (the start projected, as ``bilevel_attack`` does)."""
  step, tx = outer_step(dim=dim, unroll=unroll, remat=remat)
  fake = optim.project_threshold(fake0, threshold=0.2)
  state = (fake, tx.init(fake))
  lowered = jax.jit(step).lower(*state, real, targets, jax.random.key(0))
  t = time.perf_counter()
  compiled = lowered.compile()
  return compiled, time.perf_counter() - t, memory_mib(compiled), state


class Runner:
  """One compiled outer step and the state it is fed (the previous step's output)."""

  def __init__(self, compiled, state, real, targets):
    self.compiled, self.state, self.real, self.targets = compiled, state, real, targets
    self.key = jax.random.key(0)
    self.times: list[float] = []

  def __call__(self) -> float:
    t = time.perf_counter()
    fake, opt_state, loss = self.compiled(*self.state, self.real, self.targets, self.key)
    jax.block_until_ready((fake, opt_state, loss))
    dt = time.perf_counter() - t
    if not np.isfinite(float(loss)):
      raise FloatingPointError(f"outer loss {float(loss)}")
    self.state = (fake, opt_state)
    return dt


def slope(xs, ys) -> float:
  """Least-squares slope of ``ys`` over ``xs`` (NaN with fewer than two points)."""
  pts = [(x, y) for x, y in zip(xs, ys) if y is not None and np.isfinite(y)]
  if len(pts) < 2:
    return math.nan
  return float(np.polyfit([p[0] for p in pts], [p[1] for p in pts], 1)[0])


def bench_size(name: str, args, rows: list) -> None:
  """Measures one size over ``args.steps``; prints its table, appends tidy rows."""
  cfg = SIZES[name]
  if name == "revadv":
    real_np, fake_np, what = revadv_data()
  else:
    real_np, fake_np, what = ml100k_data(args.synthetic)
  real, fake0 = jnp.asarray(real_np), jnp.asarray(fake_np)
  targets = jnp.asarray([0], jnp.int32)
  n, items, dim = real.shape[0] + fake0.shape[0], real.shape[1], cfg["dim"]
  print(f"\n{cfg['label']}: data {what}")
  results, notes = {}, []
  with OtherLoad() as load:
    for unroll in args.steps:
      runners = {}
      for remat in (True, False):
        compiled, compile_s, mem, state = compile_step(real, fake0, targets, dim=dim,
                                                       unroll=unroll, remat=remat)
        res = {"compile_s": compile_s, "mem": mem, "times": [], "single": False}
        results[(unroll, remat)] = res
        if mem is not None and mem["peak"] > args.max_mib:
          notes.append(f"T={unroll} {'remat' if remat else 'plain'}: not run, planned peak "
                       f"{mem['peak']:.0f} MiB > --max-mib {args.max_mib:.0f}")
          continue
        runner = Runner(compiled, state, real, targets)
        warm = runner()
        if warm > args.max_step_s:
          res["times"], res["single"] = [warm], True
          notes.append(f"T={unroll} {'remat' if remat else 'plain'}: one step only (warm-up "
                       f"{warm:.1f} s > --max-step-s {args.max_step_s:.0f})")
          continue
        runners[remat] = runner
      for _ in range(args.repeats):  # alternate remat / plain: same load for both
        for remat, runner in runners.items():
          results[(unroll, remat)]["times"].append(runner())
      del runners
  print(f"  CPU used by other processes during this size: {load.fraction:.0%} of the machine")

  def cell(r, fmt, key):
    if key == "step":
      if not r["times"]:
        return "not run"
      return fmt.format(1e3 * statistics.median(r["times"])) + ("*" if r["single"] else "")
    return "n/a" if r["mem"] is None else fmt.format(r["mem"][key])

  def ratio(a, b):
    return f"{a / b:.2f}x" if a is not None and b is not None and b > 0 else "n/a"

  print("| T | compile remat / plain | step remat / plain | time ratio | temp MiB remat / plain"
        " | peak MiB remat / plain | peak ratio |")
  print("|---|---|---|---|---|---|---|")
  for unroll in args.steps:
    rm, pl = results[(unroll, True)], results[(unroll, False)]
    med = {k: statistics.median(r["times"]) if r["times"] else None
           for k, r in (("rm", rm), ("pl", pl))}
    peak = {k: r["mem"]["peak"] if r["mem"] else None for k, r in (("rm", rm), ("pl", pl))}
    print(f"| {unroll} | {rm['compile_s']:.2f} / {pl['compile_s']:.2f} s | "
          f"{cell(rm, '{:.1f}', 'step')} / {cell(pl, '{:.1f}', 'step')} ms | "
          f"{ratio(med['rm'], med['pl'])} | {cell(rm, '{:.1f}', 'temp')} / "
          f"{cell(pl, '{:.1f}', 'temp')} | {cell(rm, '{:.1f}', 'peak')} / "
          f"{cell(pl, '{:.1f}', 'peak')} | {ratio(peak['rm'], peak['pl'])} |")
    for remat, r in ((True, rm), (False, pl)):
      model = "remat" if remat else "plain"
      extra = {"dataset": name, "unroll": unroll}
      rows.append(report.make_row(model=model, metric="compile_s", value=r["compile_s"],
                                  **extra))
      if r["times"]:
        rows.append(report.make_row(model=model, metric="step_ms",
                                    value=1e3 * statistics.median(r["times"]),
                                    repeats=len(r["times"]), **extra))
      if r["mem"]:
        for key in ("temp", "peak"):
          rows.append(report.make_row(model=model, metric=f"{key}_mib", value=r["mem"][key],
                                      **extra))
    if med["rm"] and med["pl"]:
      rows.append(report.make_row(model="remat", metric="ratio_time_vs_plain",
                                  value=med["rm"] / med["pl"], dataset=name, unroll=unroll))
    if peak["rm"] and peak["pl"]:
      rows.append(report.make_row(model="remat", metric="ratio_peak_vs_plain",
                                  value=peak["rm"] / peak["pl"], dataset=name, unroll=unroll))
  for note in notes:
    print("  " + note)
  print("  * = a single step, not a median")
  carry = 3 * (n + items) * dim * 4 / MIB
  residual = n * items * 4 / MIB
  for remat in (True, False):
    peaks = [results[(t, remat)]["mem"]["peak"] if results[(t, remat)]["mem"] else None
             for t in args.steps]
    s = slope(args.steps, peaks)
    model = "remat" if remat else "plain"
    if remat:
      what = f"the carry, 3 (N + I) D floats, is {carry:.3f} MiB"
    else:
      what = (f"= one (N, I) matrix, {residual:.3f} MiB, + "
              f"{(s - residual) / (carry / 3):.1f} x (N + I) D floats")
    print(f"  memory growth, {model}: {s:.3f} MiB per added inner step ({what})")
    if np.isfinite(s):
      rows.append(report.make_row(model=model, metric="mib_per_step", value=s, dataset=name))


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--steps", type=int, nargs="+", default=[10, 25, 50, 100, 200],
                 help="unroll lengths T")
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
  p.add_argument("--synthetic", action="store_true",
                 help="random ML-100K-size data instead of the real u.data")
  p.add_argument("--max-mib", type=float, default=6144.0,
                 help="do not run a step whose planned peak exceeds this")
  p.add_argument("--max-step-s", type=float, default=30.0,
                 help="time a single step when the warm-up step takes longer")
  p.add_argument("--out", default=None, metavar="DIR",
                 help="write the tidy report DIR/report.json (and report.md)")
  args = p.parse_args(argv)
  if min(args.steps) < 1 or args.repeats < 1:
    p.error("--steps and --repeats must be positive")
  print(f"jax {jax.__version__} on {jax.default_backend()} ({jax.devices()[0].device_kind}), "
        f"{os.cpu_count()} CPUs; medians of {args.repeats} outer steps after one warm-up")
  t0, rows = time.perf_counter(), []
  for name in args.sizes:
    bench_size(name, args, rows)
  print(f"\ntotal {time.perf_counter() - t0:.0f} s")
  if args.out:
    rep = report.build_report(
        dataset={"name": ",".join(args.sizes), "synthetic": bool(args.synthetic)},
        config={"benchmark": "bilevel_unroll", "steps": list(args.steps),
                "repeats": args.repeats}, rows=rows)
    print("wrote", report.write_report(args.out, rep)[0])
  return 0


if __name__ == "__main__":
  sys.exit(main())
