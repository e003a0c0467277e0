"""Reproduce the synthetic controlled experiment of RevAdv (Tang, Wen, Wang, RecSys 2020).

"Revisiting Adversarially Learned Injection Attacks in Recommender Systems" learns fake profiles
by differentiating through the unrolled training of a latent-factor surrogate. Its public
notebook (``synthetic_exp.ipynb``, graytowne/revisit_adv_rec) reports, on a synthetic low-rank
data set, target HR@10 rising from 0.039 to 0.639 in 50 outer steps while the real users' test
HR@10 stays about 0.47. This script runs the same setting with jaxrec's bilevel pieces
(:func:`jaxrec.attacks.poisoning.bilevel_loss` stepped by :func:`jaxrec.optim.run`, in segments
of ``--eval-every`` steps that continue the optimiser state):

  python experiments/revadv_synthetic.py --out runs/revadv_synthetic [--seed 0]
  python experiments/revadv_synthetic.py --out runs/revadv_als --surrogate als

The settings are ``experiments/configs/revadv_synthetic.toml`` (:class:`RevAdvConfig`;
``--config FILE`` runs another; each of its fields also has a flag, ``--outer-steps`` for
``outer_steps``, ``--no-remat`` for ``remat = false``, that overrides it).

Setting (the notebook's): 1000 users (900 real + 100 fake), 300 items, preferences ``mu nu^T``
with ``mu (1000, 20)``, ``nu (300, 20)`` ~ N(0, 1), interactions where the preference exceeds 5;
one random positive per real user held out as its test item; the fake profiles start as rows
900..999 of the same matrix; target item 0. Surrogate: latent factors of dimension 16 from
N(0, 1), 100 full-batch Adam steps at 0.5 on the squared error with positives weighted 20,
reseeded identically at every outer step, all 100 steps unrolled. Outer: softmax cross-entropy
toward the target summed over all real users, SGD at 1.0 with momentum 0.99, 50 steps, the fake
rows projected to ``x > 0.2`` after every step. jaxrec's choices: NumPy's generator for the data
(the notebook uses PyTorch's, unseeded for the data), and a held-out user with no positive (none
for seed 0) gets a fresh preference vector.

Evaluation: the victim is the surrogate retrained from scratch on the real rows plus the
(binary) fake rows, from the attack's initialisation (``victim_init="surrogate"``, as the
notebook) and from ``--victim-seeds`` other initialisations (``fresh<i>``: does the attack
transfer beyond the initialisation it was optimised against?). Target HR@10
(:func:`jaxrec.metrics.target_exposure`, ties in random order) is over the real users who have
not interacted with the target (``population="eligible"``, jaxrec's convention) and over all
real users (``"all_real"``, the notebook's denominator); test HR@10 is
:func:`jaxrec.metrics.evaluate`'s. "clean" is the model
before optimisation (real users + the initial fake rows), as the notebook compares; the model of
the real users alone is reported as stage ``real_only``.

``--surrogate als`` attacks a weighted-ALS surrogate instead (:class:`jaxrec.models.ALS`:
dimension 16, ``--inner-steps`` sweeps, L2 ``--als-reg``, positives weighted 20, the same start,
hypergradient by the implicit function theorem at the ALS fixed point); the victims are the ALS
model retrained from each initialisation (model ``als-16``) and, for transfer, the default LFM
surrogate retrained from the same initialisations (model ``lfm-16``).

Writes ``DIR/report.json`` and ``DIR/report.md`` (tidy rows: model ``lfm-16``, defense
``none``, attack ``revadv`` or ``none``, budget 100 fake users, metric ``target_hr`` (stages
``before``/``after``/``real_only``/``curve``), ``test_hr`` (``clean``/``attacked``/
``real_only``/``curve``), ``outer_loss`` and ``profile_size``, grid keys ``seed``, ``stage``,
``outer_step``, ``victim_init``, ``population``; ``config``: the settings, ``config_hash``,
``config_file``, the inner and outer optimisers in words, the timings and the done criteria).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import _cli  # experiments/_cli.py, beside this script

from jaxrec import _checks, data, metrics, optim
from jaxrec import report as rpt
from jaxrec.attacks import poisoning

NUM_USERS, NUM_FAKE, NUM_ITEMS, RANK, THRESHOLD, K = 1000, 100, 300, 20, 5.0, 10


def synthetic(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """``(real (900, 300) float32, fake0 (100, 300) float32, test_items (900,) int64)``."""
  rng = np.random.default_rng(seed)
  mu = rng.standard_normal((NUM_USERS, RANK))
  nu = rng.standard_normal((NUM_ITEMS, RANK))
  x = (mu @ nu.T > THRESHOLD)
  empty = np.flatnonzero(~x.any(axis=1))
  while empty.size:  # a user needs a positive to hold out; none for seed 0
    mu[empty] = rng.standard_normal((empty.size, RANK))
    x[empty] = mu[empty] @ nu.T > THRESHOLD
    empty = np.flatnonzero(~x.any(axis=1))
  x = x.astype(np.float32)
  n_real = NUM_USERS - NUM_FAKE
  test = np.empty(n_real, np.int64)
  for u in range(n_real):
    test[u] = rng.choice(np.flatnonzero(x[u]))
    x[u, test[u]] = 0.0
  return x[:n_real], x[n_real:], test


def indices(real: np.ndarray, test: np.ndarray):
  """``(train, test)`` PositiveIndex of the real users' rows and their held-out items."""
  n_real, num_items = real.shape
  return (data.index_from_dense(real),
          data.build_index(np.arange(n_real), test, num_users=n_real, num_items=num_items))


@functools.lru_cache(maxsize=None)
def _fit(surrogate):
  return jax.jit(functools.partial(poisoning.fit_surrogate, surrogate))


def victim_hr(surrogate, matrix, key, train_index, test_index, targets) -> tuple[float, float]:
  """``(target HR@10, test HR@10)`` of the surrogate retrained from ``key`` on ``matrix`` (the
  real rows first): :func:`jaxrec.metrics.target_exposure` over the real users who have not
  seen the target, :func:`jaxrec.metrics.evaluate` over the held-out items."""
  params = _fit(surrogate)(matrix, key)
  target = metrics.target_exposure(surrogate.model, params, train_index, targets, data=matrix,
                                   ks=(K,))[0]["target_hr"][K]
  held = metrics.evaluate(surrogate.model, params, train_index, test_index, data=matrix,
                          ks=(K,))["hr"][K]
  return float(target), float(held)


@dataclasses.dataclass(frozen=True)
class RevAdvConfig:
  """Settings of the reproduction (module docstring).

  Attributes:
    seed: seed of the data and the surrogate's initialisation.
    outer_steps: outer (attack) steps. inner_steps: the surrogate's unrolled Adam steps (ALS:
      sweeps).
    eval_every: victim evaluation period, in outer steps.
    target: the pushed item (an item of the 300).
    victim_seeds: fresh victim initialisations besides the attack's own.
    eligible_only: the outer cross-entropy over the real users without the target only
      (``False``: all real users, RevAdv).
    projection: after each outer step, ``"threshold"`` (``x > 0.2``, RevAdv) or ``"topm"``
      (exactly ``m`` fillers + the target, ``m`` = the initial fake profiles' mean length).
    outer_lr, outer_momentum: the outer SGD.
    resample_init: a fresh surrogate initialisation at every outer step (``False``: RevAdv's
      fixed one).
    remat: checkpoint the inner steps.
    surrogate: ``"lfm"`` (unrolled Adam, RevAdv) or ``"als"`` (weighted ALS, implicit
      hypergradients; also evaluated on the LFM victim).
    als_reg: the ALS surrogate's L2 coefficient.
  """

  seed: int = 0
  outer_steps: int = 50
  inner_steps: int = 100
  eval_every: int = 5
  target: int = 0
  victim_seeds: int = 3
  eligible_only: bool = False
  projection: str = "threshold"
  outer_lr: float = 1.0
  outer_momentum: float = 0.99
  resample_init: bool = False
  remat: bool = True
  surrogate: str = "lfm"
  als_reg: float = 10.0

  def __post_init__(self):
    _checks.integer("seed", self.seed, low=0, high=2**32 - 1)
    _checks.integer("outer_steps", self.outer_steps, low=0)
    for name in ("inner_steps", "eval_every"):
      _checks.integer(name, getattr(self, name), low=1)
    _checks.integer("target", self.target, low=0, high=NUM_ITEMS - 1)
    _checks.integer("victim_seeds", self.victim_seeds, low=0)
    _checks.choice("projection", self.projection, ("threshold", "topm"))
    _checks.choice("surrogate", self.surrogate, ("lfm", "als"))
    _checks.real("outer_lr", self.outer_lr, low_open=True)
    _checks.real("outer_momentum", self.outer_momentum)
    _checks.real("als_reg", self.als_reg)


def main(argv=None) -> int:
  p = _cli.parser(__file__, __doc__)
  _cli.override(p, "--seed", "seed", type=int, help="data and surrogate seed")
  _cli.override(p, "--outer-steps", "outer_steps", type=int)
  _cli.override(p, "--inner-steps", "inner_steps", type=int)
  _cli.override(p, "--eval-every", "eval_every", type=int, help="victim evaluation period")
  _cli.override(p, "--target", "target", type=int)
  _cli.override(p, "--victim-seeds", "victim_seeds", type=int,
                help="fresh victim initialisations")
  _cli.override(p, "--eligible-only", "eligible_only", action="store_const", const=True,
                help="outer CE over users without the target only (default: all real users)")
  _cli.override(p, "--projection", "projection", choices=("threshold", "topm"),
                help="after each outer step: x > 0.2 (RevAdv) or exactly m fillers + the "
                     "target, m = the initial fake profiles' mean length (jaxrec)")
  _cli.override(p, "--outer-lr", "outer_lr", type=float)
  _cli.override(p, "--outer-momentum", "outer_momentum", type=float)
  _cli.override(p, "--resample-init", "resample_init", action="store_const", const=True,
                help="a fresh surrogate initialisation at every outer step (default: RevAdv's "
                     "fixed one)")
  _cli.override(p, "--no-remat", "remat", action="store_const", const=False,
                help="do not checkpoint the inner steps")
  _cli.override(p, "--surrogate", "surrogate", choices=("lfm", "als"),
                help="inner model attacked: unrolled Adam LFM (RevAdv) or weighted ALS with "
                     "implicit hypergradients (also evaluated on the LFM victim)")
  _cli.override(p, "--als-reg", "als_reg", type=float, help="ALS surrogate's L2 coefficient")
  args = p.parse_args(argv)
  cfg = _cli.load(args, RevAdvConfig)
  t_start = time.perf_counter()

  real_np, fake_np, test_np = synthetic(cfg.seed)
  real, fake0 = jnp.asarray(real_np), jnp.asarray(fake_np)
  targets = jnp.asarray([cfg.target], jnp.int32)
  n_real = real.shape[0]
  popularity = int(real_np[:, cfg.target].sum())
  print(f"data: {n_real} real + {NUM_FAKE} fake users x {NUM_ITEMS} items, sparsity "
        f"{1 - np.concatenate([real_np, fake_np]).mean():.3f}; target {cfg.target}: "
        f"{popularity} real users ({popularity / n_real:.1%}), item popularity rank "
        f"{int((real_np.sum(0) > popularity).sum()) + 1} of {NUM_ITEMS}")

  lfm = poisoning.lfm_surrogate(dim=16, num_steps=cfg.inner_steps, learning_rate=0.5,
                                pos_weight=20.0, init_scale=1.0, relaxation="indicator",
                                remat=cfg.remat)
  if cfg.surrogate == "lfm":
    surrogate, model_name, models = lfm, "lfm-16", {"lfm-16": lfm}
  else:
    surrogate = poisoning.als_surrogate(dim=16, num_sweeps=cfg.inner_steps, reg=cfg.als_reg,
                                        pos_weight=20.0, init_scale=1.0,
                                        relaxation="indicator")
    model_name, models = "als-16", {"als-16": surrogate, "lfm-16": lfm}
  key = jax.random.key(cfg.seed)
  victim_keys = [("surrogate", key)] + [
      (f"fresh{i}", jax.random.fold_in(jax.random.key(cfg.seed), 1000 + i))
      for i in range(cfg.victim_seeds)]

  train_index, test_index = indices(real_np, test_np)

  def victims(fake, model=surrogate):
    matrix = real if fake is None else jnp.concatenate([real, fake])
    return {name: list(victim_hr(model, matrix, k, train_index, test_index, targets))
            for name, k in victim_keys}

  eligible = n_real - popularity
  rows, common = [], {"model": model_name, "defense": "none", "k": K, "seed": cfg.seed}

  def add_eval(res, stage_t, stage_test, attack, budget, model=model_name, **grid):
    for name, (thr, tst) in res.items():
      for pop, v in (("eligible", thr), ("all_real", thr * eligible / n_real)):
        rows.append(rpt.make_row(metric="target_hr", value=v, attack=attack, budget=budget,
                                 stage=stage_t, victim_init=name, population=pop,
                                 **grid, **{**common, "model": model}))
      rows.append(rpt.make_row(metric="test_hr", value=tst, attack=attack, budget=budget,
                               stage=stage_test, victim_init=name, **grid,
                               **{**common, "model": model}))

  def fmt(res):
    fresh = [v for n, v in res.items() if n != "surrogate"]
    out = f"target HR@10 {res['surrogate'][0]:.4f} test HR@10 {res['surrogate'][1]:.4f}"
    if fresh:
      out += (f" | fresh inits: target {np.mean([v[0] for v in fresh]):.4f} test "
              f"{np.mean([v[1] for v in fresh]):.4f}")
    return out

  def transfer(fake, stage_t, stage_test, attack, budget, label):
    """The other victims (the LFM for an ALS attack): evaluated at the start and the end."""
    for name, model in models.items():
      if name != model_name:
        res = victims(fake, model)
        add_eval(res, stage_t, stage_test, attack, budget, model=name)
        print(f"{label + ' on ' + name + ':':<24s}{fmt(res)}")

  real_only = victims(None)
  add_eval(real_only, "real_only", "real_only", "none", None)
  print(f"real users only:        {fmt(real_only)}")
  transfer(None, "real_only", "real_only", "none", None, "real users only")
  before = victims(fake0)
  add_eval(before, "before", "clean", "revadv", NUM_FAKE)
  print(f"before (initial fakes): {fmt(before)}")
  transfer(fake0, "before", "clean", "revadv", NUM_FAKE, "before")

  attack_loss = functools.partial(poisoning.ce_loss, eligible_only=cfg.eligible_only)
  budget_m = int(round(float(fake0.sum(1).mean())))
  if cfg.projection == "threshold":
    projection = functools.partial(optim.project_threshold, threshold=0.2)
  else:
    projection = functools.partial(optim.project_top_m, filler_size=budget_m - 1,
                                   targets=targets)
  tx = optax.chain(optax.sgd(cfg.outer_lr, momentum=cfg.outer_momentum),
                   optim.project(projection))

  def outer(fake, args_, step_key=None):
    real, targets, key = args_
    return poisoning.bilevel_loss(fake, real, targets, key if step_key is None else step_key,
                                  surrogate=surrogate, loss=attack_loss)

  # the outer loop in segments of eval_every steps; each continues the optimiser state (and,
  # with --resample-init, the running key), so the segments are one run
  segment = jax.jit(functools.partial(optim.run, tx, outer), static_argnames=("num_steps",))
  state = {"x": fake0, "opt_state": None, "key": key if cfg.resample_init else None}
  t_compile = time.perf_counter()
  first = optim.run(tx, outer, fake0, (real, targets, key), num_steps=0,
                    key=state["key"])  # projects the start, as every run does
  state.update(x=first.x, opt_state=first.opt_state)
  jax.block_until_ready(segment.lower(state["x"], (real, targets, key), num_steps=1,
                                      key=state["key"], opt_state=state["opt_state"]).compile())
  compile_s = time.perf_counter() - t_compile
  print(f"outer step compiled in {compile_s:.1f}s; projection {cfg.projection}"
        + (f" (m = {budget_m - 1} fillers + target)" if cfg.projection == "topm" else ""))
  print(f"{'step':>4s} {'outer loss':>11s} {'profile len':>11s}  victim")
  t_outer, eval_s, j = time.perf_counter(), 0.0, 0
  while j < cfg.outer_steps:
    n = min(cfg.eval_every, cfg.outer_steps - j)
    sizes = [float(state["x"].sum(1).mean())]
    result = segment(state["x"], (real, targets, key), num_steps=n, key=state["key"],
                     opt_state=state["opt_state"])
    state.update(x=result.x, opt_state=result.opt_state, key=result.key)
    for i, loss in enumerate(np.asarray(result.values)):
      rows.append(rpt.make_row(metric="outer_loss", value=float(loss), attack="revadv",
                               budget=NUM_FAKE, stage="curve", outer_step=j + i,
                               **{**common, "k": None}))
      print(f"{j + i:4d} {float(loss):11.2f}" + (f" {sizes[0]:11.2f}" if i == 0 else ""),
            flush=True)
    j += n
    if j < cfg.outer_steps:
      t = time.perf_counter()
      res = victims(state["x"])
      eval_s += time.perf_counter() - t
      add_eval(res, "curve", "curve", "revadv", NUM_FAKE, outer_step=j)
      print(f"     after step {j}: {fmt(res)}", flush=True)
  outer_s = time.perf_counter() - t_outer - eval_s
  fake = state["x"]
  after = victims(fake)
  add_eval(after, "after", "attacked", "revadv", NUM_FAKE)
  add_eval(after, "curve", "curve", "revadv", NUM_FAKE, outer_step=cfg.outer_steps)
  for stage, f in (("before", fake0), ("after", fake)):
    rows.append(rpt.make_row(metric="profile_size", value=float(f.sum(1).mean()),
                             attack="revadv", budget=NUM_FAKE, stage=stage,
                             **{**common, "k": None}))
  print(f"after {cfg.outer_steps} steps:         {fmt(after)}")
  transfer(fake, "after", "attacked", "revadv", NUM_FAKE, f"after {cfg.outer_steps} steps")
  print(f"fake profile length: {float(fake0.sum(1).mean()):.1f} -> {float(fake.sum(1).mean()):.1f}"
        f" items; target in {int(fake[:, cfg.target].sum())} of {NUM_FAKE} fake profiles")

  b, a = before["surrogate"], after["surrogate"]
  ok_target, ok_test = a[0] >= 0.5, abs(a[1] - b[1]) <= 0.03
  total_s = time.perf_counter() - t_start
  print(f"done criteria (victim = surrogate init, as RevAdv): target HR@10 {b[0]:.4f} -> "
        f"{a[0]:.4f} (>= 0.5: {ok_target}); test HR@10 clean {b[1]:.4f} attacked {a[1]:.4f} "
        f"(|diff| {abs(a[1] - b[1]):.4f} <= 0.03: {ok_test})")
  print(f"runtime: total {total_s:.1f}s, outer-step compile {compile_s:.1f}s, "
        f"{cfg.outer_steps} outer steps {outer_s:.1f}s ({outer_s / max(cfg.outer_steps, 1):.3f}"
        f" s/step), victim evaluations {eval_s:.1f}s")
  inner = ("lfm dim 16: adam 0.5, pos weight 20, init N(0,1)" if cfg.surrogate == "lfm" else
           f"als dim 16: {cfg.inner_steps} ALS sweeps, reg {cfg.als_reg}, pos weight 20, init "
           f"N(0,1); implicit hypergradient, {surrogate.model.cg_maxiter} block-Jacobi CG "
           f"iterations, damping {surrogate.model.damping}")
  config = _cli.config_section(
      cfg, args.config, inner=inner, outer=f"sgd {cfg.outer_lr} momentum {cfg.outer_momentum}",
      runtime_s=round(total_s, 1), compile_s=round(compile_s, 1), outer_s=round(outer_s, 1),
      done_target=bool(ok_target), done_test=bool(ok_test))
  dataset = {"name": "revadv-synthetic", "users": n_real, "fake_users": NUM_FAKE,
             "items": NUM_ITEMS, "rank": RANK, "threshold": THRESHOLD,
             "target_popularity": popularity,
             "notes": ["victim = the surrogate retrained on real + projected fake rows",
                       "clean = real users + the initial (generator) fake rows"]}
  rpt.write_report(args.out, rpt.build_report(dataset=dataset, config=config, rows=rows))
  print(f"report: {args.out}/report.json")
  return 0


if __name__ == "__main__":
  sys.exit(main())
