"""Learned fake-profile generator against heuristic and RevAdv profiles on RevAdv's synthetic data.

Compares, at one budget (100 fake users, ``m`` fillers + the target each, ``m`` = the mean
length of the 100 extra synthetic users minus one, 36 for seed 0):

* ``random``: uniformly random fillers plus the target (a heuristic shilling profile);
* ``revadv``: RevAdv's unrolled bilevel optimisation of the 100 profiles as free variables
  (Tang, Wen, Wang, RecSys 2020), initialised from the extra synthetic users and projected to
  exactly ``m`` fillers + the target after every outer step (``project_top_m``): SGD 1.0 with
  momentum 0.99, 50 steps, cross-entropy summed over all real users (the setting of
  ``experiments/revadv_synthetic.py --projection topm``);
* ``generator``: :func:`jaxrec.attacks.poisoning.train_generator`, a linear template+noise
  generator trained through the same unrolled surrogate (straight-through estimator, Adam 0.01,
  100 steps, cross-entropy averaged over all real users, no discriminator term);
* ``generator-d``: the same with ``disc_weight`` 0.3 (non-saturating GAN term against an MLP
  discriminator with an R1 penalty of 1), after AUSH (Lin et al., CIKM 2020).

Also recorded for the generator (grid key ``variant``): its initial profiles (``init``: 0 steps,
template copies) and the relaxed estimator (``relaxed``: the surrogate trains on the sigmoid
output instead of the projected binary profile); and its training curve every 10 steps
(``curve_attack_loss``, ``curve_disc_loss``, ``curve_gen_adv_loss``, grid key ``step``).

Data: ``synthetic(seed)`` imported from ``experiments/revadv_synthetic.py`` (900 real users, 300
items, rank-20 preferences thresholded at 5, one held-out positive per real user; target item 0).
Victim: the surrogate (LFM dim 16, 100 full-batch Adam steps at 0.5, positive weight 20)
retrained from scratch on the real rows plus the binary fake rows, from the attacks' own
initialisation (``victim_init="surrogate"``, as RevAdv evaluates) and from ``--victim-seeds``
other initialisations (``fresh<i>``). Target HR@10 is over the real users who have not seen the
target; test HR@10 of the held-out items over all real users.

Stealth: the unsupervised detectors of :mod:`jaxrec.defenses` run on the poisoned data (real +
fake users), flagging as many users as were injected, exactly as ``jaxrec audit``'s attack
section does (``jaxrec/audit/_attack_section.py``, ``_detection_rows``): ``pca_suspicion``
(``defense="pca-detector"``) and ``profile_suspicion``'s combined score
(``"profile-detector"``); precision, recall, F1, survival and a random flagger's precision.
Also: a classifier two-sample test (``c2st_accuracy``: 5-fold logistic regression telling 100
random real rows from the 100 fakes, target column hidden; 0.5 = indistinguishable) and the
fakes' mean pairwise Jaccard similarity (``fake_jaccard``; real users: ``attack="none"``).

  python experiments/generator_synthetic.py --out runs/generator_synthetic [--seed 0]

The settings are ``experiments/configs/generator_synthetic.toml`` (:class:`GeneratorConfig`;
``--config FILE`` runs another; ``--seed``, ``--gen-steps``, ``--gen-lr``, ``--disc-weight``,
``--r1-weight``, ``--revadv-steps``, ``--victim-seeds`` and ``--no-relaxed`` override one
setting). Writes ``DIR/report.json`` and ``DIR/report.md`` (model ``lfm``, budget 100;
``config``: the settings, ``config_hash``, ``config_file``, the filler size and the runtime).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cli  # noqa: E402  (experiments/_cli.py, beside this script)
from revadv_synthetic import (NUM_ITEMS, indices, synthetic,  # noqa: E402  (shared with RevAdv)
                              victim_hr)

from jaxrec import _checks, defenses, optim  # noqa: E402
from jaxrec import report as rpt  # noqa: E402
from jaxrec.attacks import poisoning  # noqa: E402
from jaxrec.data import from_arrays  # noqa: E402

K = 10


def detection(real: np.ndarray, fake: np.ndarray) -> dict[str, dict[str, float]]:
  """Detector metrics of the fake rows among all users, as the audit's ``_detection_rows``."""
  x = np.concatenate([real, fake])
  users, items = np.nonzero(x)
  poisoned = from_arrays(users, items, num_users=x.shape[0], num_items=x.shape[1])
  is_fake = np.arange(x.shape[0]) >= real.shape[0]
  n_fake = int(is_fake.sum())
  present = np.bincount(users, minlength=x.shape[0]) > 0  # empty users cannot be injected
  neighbors = max(1, min(10, int(present.sum()) - 1))
  out = {}
  for name, scores in (
      ("pca-detector", defenses.pca_suspicion(poisoned)),
      ("profile-detector",
       defenses.profile_suspicion(poisoned, num_neighbors=neighbors)["score"])):
    scores = np.where(present, np.asarray(scores, np.float64), -np.inf)
    out[name] = defenses.detection_metrics(defenses.flag_top(scores, n_fake), is_fake)
  return out


def mean_jaccard(rows: np.ndarray) -> float:
  """Mean pairwise Jaccard similarity of the rows' item sets (empty pairs count 0)."""
  inter = rows @ rows.T
  n = rows.sum(1)
  union = n[:, None] + n[None, :] - inter
  jac = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
  off = ~np.eye(rows.shape[0], dtype=bool)
  return float(jac[off].mean())


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
  """Settings of the comparison (module docstring).

  Attributes:
    seed: seed of the data, the surrogate's initialisation and every attack.
    target: the pushed item (an item of the 300).
    surrogate_dim, surrogate_steps, surrogate_lr, pos_weight: the LFM surrogate (and victim):
      factors, full-batch Adam steps and their learning rate, weight of the positives.
    revadv_steps, revadv_lr, revadv_momentum: RevAdv's outer SGD.
    gen_steps, gen_lr: the generator's Adam steps and learning rate.
    disc_weight: the GAN term's weight of ``generator-d``. r1_weight: the discriminator's R1
      penalty.
    victim_seeds: fresh victim initialisations besides the attacks' own.
    relaxed: also train the generator with the relaxed estimator.
  """

  seed: int = 0
  target: int = 0
  surrogate_dim: int = 16
  surrogate_steps: int = 100
  surrogate_lr: float = 0.5
  pos_weight: float = 20.0
  revadv_steps: int = 50
  revadv_lr: float = 1.0
  revadv_momentum: float = 0.99
  gen_steps: int = 100
  gen_lr: float = 1e-2
  disc_weight: float = 0.3
  r1_weight: float = 1.0
  victim_seeds: int = 3
  relaxed: bool = True

  def __post_init__(self):
    _checks.integer("seed", self.seed, low=0, high=2**32 - 1)
    _checks.integer("target", self.target, low=0, high=NUM_ITEMS - 1)
    for name in ("surrogate_dim", "surrogate_steps", "revadv_steps", "gen_steps"):
      _checks.integer(name, getattr(self, name), low=1)
    _checks.integer("victim_seeds", self.victim_seeds, low=0)
    for name in ("surrogate_lr", "pos_weight", "revadv_lr", "gen_lr"):
      _checks.real(name, getattr(self, name), low_open=True)
    for name in ("revadv_momentum", "disc_weight", "r1_weight"):
      _checks.real(name, getattr(self, name))


def main(argv=None) -> int:
  p = _cli.parser(__file__, __doc__)
  _cli.override(p, "--seed", "seed", type=int, help="data, surrogate and attack seed")
  _cli.override(p, "--gen-steps", "gen_steps", type=int, help="generator training steps")
  _cli.override(p, "--gen-lr", "gen_lr", type=float)
  _cli.override(p, "--disc-weight", "disc_weight", type=float, help="GAN weight of generator-d")
  _cli.override(p, "--r1-weight", "r1_weight", type=float)
  _cli.override(p, "--revadv-steps", "revadv_steps", type=int)
  _cli.override(p, "--victim-seeds", "victim_seeds", type=int,
                help="fresh victim initialisations")
  _cli.override(p, "--no-relaxed", "relaxed", action="store_const", const=False,
                help="skip the relaxed-estimator run")
  args = p.parse_args(argv)
  cfg = _cli.load(args, GeneratorConfig)
  t_start = time.perf_counter()

  real_np, extra_np, test_np = synthetic(cfg.seed)
  real = jnp.asarray(real_np)
  n_real, num_items = real_np.shape
  num_fake = extra_np.shape[0]
  target = cfg.target
  targets = jnp.asarray([target], jnp.int32)
  m = int(round(float(extra_np.sum(1).mean()))) - 1
  eligible = int(n_real - real_np[:, target].sum())
  print(f"data: {n_real} real users x {num_items} items; {num_fake} fake users of {m} fillers + "
        f"target {target} ({n_real - eligible} real users have it)")

  surrogate = poisoning.lfm_surrogate(dim=cfg.surrogate_dim, num_steps=cfg.surrogate_steps,
                                      learning_rate=cfg.surrogate_lr, pos_weight=cfg.pos_weight)
  key = jax.random.key(cfg.seed)  # the surrogate's initialisation in every attack
  victim_keys = [("surrogate", key)] + [
      (f"fresh{i}", jax.random.fold_in(key, 1000 + i)) for i in range(cfg.victim_seeds)]

  train_index, test_index = indices(real_np, test_np)

  def evaluate(matrix, k):
    return victim_hr(surrogate, matrix, k, train_index, test_index, targets)

  rows, common = [], {"model": "lfm", "seed": cfg.seed}
  results = {}
  c2st_idx = np.random.default_rng(cfg.seed).choice(n_real, num_fake, replace=False)
  c2st_key = jax.random.fold_in(key, 7)

  def record(attack, fake, seconds, **grid):
    data = real if fake is None else jnp.concatenate([real, jnp.asarray(fake)])
    budget = None if fake is None else num_fake
    res = {n: [float(v) for v in evaluate(data, k)] for n, k in victim_keys}
    for n, (thr, tst) in res.items():
      rows.append(rpt.make_row(metric="target_hr", value=thr, k=K, attack=attack, budget=budget,
                               victim_init=n, **grid, **common))
      rows.append(rpt.make_row(metric="test_hr", value=tst, k=K, attack=attack, budget=budget,
                               victim_init=n, **grid, **common))
    summary = {"target_hr": res["surrogate"][0], "test_hr": res["surrogate"][1],
               "target_hr_fresh": float(np.mean([v[0] for n, v in res.items()
                                                 if n != "surrogate"] or [np.nan]))}
    if fake is None:
      summary["jaccard"] = mean_jaccard(real_np[c2st_idx])
      rows.append(rpt.make_row(metric="fake_jaccard", value=summary["jaccard"], attack=attack,
                               budget=budget, **grid, **common))
      results[(attack, grid.get("variant"))] = summary
      return
    fake = np.asarray(fake)
    assert (fake.sum(1) == m + 1).all() and (fake[:, target] == 1).all()
    for name, met in detection(real_np, fake).items():
      summary[name] = met["precision"]
      for metric, value in (("detection_precision", met["precision"]),
                            ("detection_recall", met["recall"]), ("detection_f1", met["f1"]),
                            ("fake_survival", met["survival"]),
                            ("random_flagger_precision", met["random_precision"])):
        rows.append(rpt.make_row(metric=metric, value=value, defense=name, attack=attack,
                                 budget=budget, **grid, **common))
    summary["c2st"] = poisoning.two_sample_accuracy(real_np[c2st_idx], fake, c2st_key,
                                                    targets=[target])
    summary["jaccard"] = mean_jaccard(fake)
    for metric in ("c2st", "jaccard"):
      rows.append(rpt.make_row(metric={"c2st": "c2st_accuracy", "jaccard": "fake_jaccard"}[metric],
                               value=summary[metric], attack=attack, budget=budget, **grid,
                               **common))
    rows.append(rpt.make_row(metric="runtime_s", value=seconds, attack=attack, budget=budget,
                             **grid, **common))
    summary["seconds"] = seconds
    results[(attack, grid.get("variant"))] = summary
    print(f"{attack:12s} {grid.get('variant', ''):8s} target HR@10 {summary['target_hr']:.3f} "
          f"(fresh victims {summary['target_hr_fresh']:.3f}) test HR@10 {summary['test_hr']:.3f}"
          f" | PCA prec {summary['pca-detector']:.2f} profile prec "
          f"{summary['profile-detector']:.2f} C2ST {summary['c2st']:.3f} Jaccard "
          f"{summary['jaccard']:.3f} | {seconds:.1f}s", flush=True)

  record("none", None, 0.0)
  print(f"clean: target HR@10 {results[('none', None)]['target_hr']:.3f} test HR@10 "
        f"{results[('none', None)]['test_hr']:.3f}; real users' mean Jaccard "
        f"{results[('none', None)]['jaccard']:.3f}")

  # (a) random fillers + target
  rng = np.random.default_rng(cfg.seed)
  rand = np.zeros((num_fake, num_items), np.float32)
  others = np.setdiff1d(np.arange(num_items), [target])
  for f in range(num_fake):
    rand[f, rng.choice(others, m, replace=False)] = 1.0
  rand[:, target] = 1.0
  record("random", rand, 0.0)

  # (b) RevAdv, exact budget after every step
  project = functools.partial(optim.project_top_m, filler_size=m, targets=targets)
  t = time.perf_counter()
  fake_rev, _ = poisoning.bilevel_attack(
      real, project(jnp.asarray(extra_np)), targets, key, surrogate=surrogate,
      loss=functools.partial(poisoning.ce_loss, eligible_only=False),
      tx=optax.sgd(cfg.revadv_lr, momentum=cfg.revadv_momentum), num_steps=cfg.revadv_steps, projection=project)
  fake_rev = jax.block_until_ready(fake_rev)
  record("revadv", fake_rev, time.perf_counter() - t)

  # (c, d) the generator
  attack_loss = functools.partial(poisoning.ce_loss, eligible_only=False, reduction="mean")
  gen_key = jax.random.fold_in(key, 1)
  common_gen = dict(surrogate=surrogate, loss=attack_loss, num_fake=num_fake, filler_size=m,
                    gen_lr=cfg.gen_lr, r1_weight=cfg.r1_weight, surrogate_key=key)
  runs = [("generator", "init", dict(num_steps=0, disc_weight=0.0)),
          ("generator", "st", dict(num_steps=cfg.gen_steps, disc_weight=0.0)),
          ("generator-d", "st", dict(num_steps=cfg.gen_steps, disc_weight=cfg.disc_weight))]
  if cfg.relaxed:
    runs.append(("generator", "relaxed", dict(num_steps=cfg.gen_steps, disc_weight=0.0,
                                              estimator="relaxed")))
  for attack, variant, kw in runs:
    t = time.perf_counter()
    res = poisoning.train_generator(gen_key, real, targets, **common_gen, **kw)
    fake = jax.block_until_ready(res.fake)
    seconds = time.perf_counter() - t
    grid = {"variant": variant}
    if kw.get("disc_weight"):
      grid["disc_weight"] = kw["disc_weight"]
    curve = {k: np.asarray(v) for k, v in res.curve.items()}
    for j in range(0, kw["num_steps"], 10):
      for name in ("attack_loss", "disc_loss", "gen_adv_loss"):
        rows.append(rpt.make_row(metric=f"curve_{name}", value=float(curve[name][j]),
                                 attack=attack, budget=num_fake, step=j, **grid, **common))
    record(attack, fake, seconds, **grid)
    if kw["num_steps"]:
      last = slice(-10, None)
      print(f"    curve: attack loss {curve['attack_loss'][0]:.3f} -> "
            f"{curve['attack_loss'][last].mean():.3f}, discriminator cross-entropy "
            f"{curve['disc_loss'][0]:.3f} -> {curve['disc_loss'][last].mean():.3f}, "
            f"adversarial loss {curve['gen_adv_loss'][0]:.3f} -> "
            f"{curve['gen_adv_loss'][last].mean():.3f}")

  total_s = time.perf_counter() - t_start
  print("\n| attack | variant | target HR@10 | fresh victims | test HR@10 | PCA prec | "
        "profile prec | C2ST acc | Jaccard |")
  print("|---|---|---|---|---|---|---|---|---|")
  for (attack, variant), s in results.items():
    if attack == "none":
      print(f"| none (clean) | | {s['target_hr']:.3f} | {s['target_hr_fresh']:.3f} | "
            f"{s['test_hr']:.3f} | | | | {s['jaccard']:.3f} |")
      continue
    print(f"| {attack} | {variant or ''} | {s['target_hr']:.3f} | {s['target_hr_fresh']:.3f} | "
          f"{s['test_hr']:.3f} | {s['pca-detector']:.2f} | {s['profile-detector']:.2f} | "
          f"{s['c2st']:.3f} | {s['jaccard']:.3f} |")
  print(f"runtime: {total_s:.1f}s")
  config = _cli.config_section(cfg, args.config, filler_size=m, runtime_s=round(total_s, 1))
  dataset = {"name": "revadv-synthetic", "users": n_real, "fake_users": num_fake,
             "items": num_items, "notes": [
                 "victim = the surrogate retrained on real + binary fake rows",
                 "detectors flag as many users as were injected (audit's _detection_rows)",
                 "c2st_accuracy: 5-fold logistic regression, 100 real vs 100 fake rows"]}
  rpt.write_report(args.out, rpt.build_report(dataset=dataset, config=config, rows=rows))
  print(f"report: {args.out}/report.json")
  return 0


if __name__ == "__main__":
  sys.exit(main())
