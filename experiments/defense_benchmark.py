"""Every defense against every push attack, the 2024 setup: robustness beside side effects.

The common setup of Zhang et al. (VAT, RecSys 2024; PamaCF, NeurIPS 2024): fake users of 1% of
the real users push 5 target items together (unpopular ones, drawn with the seed), the victim
BPR-MF is retrained from scratch with each defense, target HR@k and NDCG@k at k = 10 and 50,
5 seeds. jaxrec's defenses: none, APR (triple form), VAT, PamaCF, SharpCF, detect-then-retrain
(PCA-VarSelect told the attack's size); push attacks: random, bandwagon, power user, and the
learned RevAdv (bilevel) and generator attacks (crafted once, against an undefended surrogate).
Nuke attacks are left out (the benchmark pushes). On MovieLens-1M::

  python experiments/defense_benchmark.py --data ../shared/data/movielens-1m --out runs/defenses

(about an hour on 2 CPU cores; ``--quick`` runs 2 seeds, 2 attacks, 10 epochs on
MovieLens-100K, a few minutes). The settings are ``experiments/configs/defense_benchmark.toml``
(:class:`BenchmarkConfig`; ``--quick``: ``defense_benchmark_quick.toml``; ``--config FILE`` runs
another; ``--dataset``, ``--seeds``, ``--epochs``, ``--attacks``, ``--defenses``, ``--adv-eps``,
``--pore-models`` and ``--pore-sample-fraction`` override one setting; ``--data`` defaults to
the shared copy of the config's dataset). PORE uses ``--pore-models`` base models of
``--pore-sample-fraction`` of the users each (50 and 2% by default: the authors' far larger
ensembles only tighten its certificate; its recommendations are the votes of these). MovieLens-1M here has no timestamps, so the split is a seeded
per-user 20% hold-out (the same for every seed); every interaction counts as positive feedback
(no threshold), so the average attack equals random and is left out.

Writes ``DIR/report.json`` (the tidy schema of ``jaxrec audit``: rows with ``section =
"defenses"``, ``defense``, ``attack``, ``budget``, ``seed``, ``metric``, ``k``, ``value``),
``DIR/report.md`` (``config``: the settings, ``config_hash``, ``config_file``, ``seconds``),
and ``DIR/table.md``: defense x attack with the target HR@50 (clean and
attacked, mean +- std over seeds), nDCG@50, coverage@50 and ARP@50 of the clean model, printed
too.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from pathlib import Path

import _cli  # experiments/_cli.py, beside this script

from jaxrec import _checks, data, report
from jaxrec.audit import AuditConfig
from jaxrec.audit._config import prepare_split
from jaxrec.audit._defense_benchmark import DefenseSettings, defense_benchmark
from jaxrec.data import characteristics, concatenate, deduplicate, index_interactions
from jaxrec.metrics import relevant_index

PUSH_ATTACKS = ("random", "bandwagon", "power_user", "revadv", "generator")
DEFENSES = ("apr", "vat", "pamacf", "sharpcf", "detect", "pore")
FOLDERS = {"ml-1m": "movielens-1m", "ml-100k": "movielens-100k"}  # in ../shared/data


def table(rows: list[dict], k: int = 50) -> list[str]:
  """The markdown table of the benchmark rows: one line per (defense, attack)."""
  def vals(defense, attack, metric):
    return [r["value"] for r in rows if r["defense"] == defense and r["attack"] == attack
            and r["metric"] == metric and r["k"] == k]

  def cell(v, digits=4):
    if not v:
      return "-"
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    return f"{statistics.mean(v):.{digits}f} ± {sd:.{digits}f}"

  defenses = list(dict.fromkeys(r["defense"] for r in rows))
  attacks = [a for a in dict.fromkeys(r["attack"] for r in rows) if a != "none"]
  out = [f"| defense | attack | target HR@{k} clean | target HR@{k} attacked | "
         f"target NDCG@{k} attacked | nDCG@{k} (clean model) | coverage@{k} | ARP@{k} |",
         "|---|---|---|---|---|---|---|---|"]
  for d in defenses:
    clean = [cell(vals(d, "none", m), 4 if m != "arp" else 1)
             for m in ("target_hr", "ndcg", "coverage", "arp")]
    for a in attacks:
      out.append(f"| {d} | {a} | {clean[0]} | {cell(vals(d, a, 'target_hr'))} | "
                 f"{cell(vals(d, a, 'target_ndcg'))} | {clean[1]} | {clean[2]} | {clean[3]} |")
  return out


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
  """Settings of the benchmark.

  Attributes:
    dataset: ``"ml-1m"`` or ``"ml-100k"`` (the loader of the ``--data`` folder).
    audit: the split, victim and attack setting (:class:`jaxrec.audit.AuditConfig`); its
      ``attacks`` are push attacks of :data:`PUSH_ATTACKS`, its ``defense`` names defenses of
      :data:`DEFENSES` (no defense is always the benchmark's reference).
    defense_settings: the defenses' hyper-parameters
      (:class:`jaxrec.audit._defense_benchmark.DefenseSettings`).
  """

  dataset: str = "ml-1m"
  audit: AuditConfig = dataclasses.field(default_factory=lambda: AuditConfig(
      model="bpr-mf", epochs=30, split="ratio", test_ratio=0.2, ks=(10, 50),
      attacks=PUSH_ATTACKS, budgets=(0.01,), num_targets=5, target_strategy="unpopular",
      defense=DEFENSES, num_seeds=5))
  defense_settings: DefenseSettings = dataclasses.field(
      default_factory=lambda: DefenseSettings(pore_models=50, pore_sample_fraction=0.02))

  def __post_init__(self):
    _checks.choice("dataset", self.dataset, tuple(FOLDERS))
    for a in self.audit.attacks:
      _checks.choice("attack (the benchmark pushes)", a, PUSH_ATTACKS)
    if not self.audit.attacks:
      raise ValueError("audit.attacks must name at least one push attack")
    for d in self.audit.defense:
      _checks.choice("defense", d, DEFENSES)


def main(argv=None) -> int:
  p = _cli.parser(__file__, __doc__)
  p.add_argument("--data", default=None,
                 help="MovieLens-1M folder (ratings.dat), or MovieLens-100K with --dataset "
                      "ml-100k (default: the shared copy of the config's dataset)")
  p.add_argument("--overwrite", action="store_true")
  p.add_argument("--quick", action="store_true",
                 help="experiments/configs/defense_benchmark_quick.toml: MovieLens-100K, 2 "
                      "seeds, random and bandwagon, 10 epochs")
  _cli.override(p, "--dataset", "dataset", choices=tuple(FOLDERS))
  _cli.override(p, "--seeds", "audit.num_seeds", type=int)
  _cli.override(p, "--epochs", "audit.epochs", type=int)
  _cli.override(p, "--attacks", "audit.attacks", nargs="+", choices=PUSH_ATTACKS)
  _cli.override(p, "--defenses", "audit.defense", nargs="+", choices=DEFENSES)
  _cli.override(p, "--adv-eps", "defense_settings.apr_eps", "defense_settings.vat_eps",
                "defense_settings.pamacf_eps", type=float,
                help="radius of APR, VAT and PamaCF (absolute, embedding units)")
  _cli.override(p, "--pore-models", "defense_settings.pore_models", type=int,
                help="PORE's base models per ensemble")
  _cli.override(p, "--pore-sample-fraction", "defense_settings.pore_sample_fraction",
                type=float, help="PORE's sampled users per base model, as a share of the users")
  args = p.parse_args(argv)
  if args.quick:
    if args.config != p.get_default("config"):
      p.error("--quick is a config of its own (defense_benchmark_quick.toml); give --config or "
              "--quick, not both")
    args.config = str(_cli.default_config(__file__, "_quick"))
  bench = _cli.load(args, BenchmarkConfig)
  config, settings = bench.audit, bench.defense_settings
  data_path = Path(args.data) if args.data else _cli.SHARED_DATA / FOLDERS[bench.dataset]
  if not data_path.exists():
    print(f"{data_path} not found: this experiment needs MovieLens (see ../shared/data/README.md)")
    return 2
  out = Path(args.out)
  if (out / "report.json").exists() and not args.overwrite:
    print(f"{out}/report.json exists; pass --overwrite to replace it")
    return 2
  if bench.dataset == "ml-1m" and Path(data_path, "ratings_user_itemidx_rating.csv.gz").exists():
    # the shared partial copy (no timestamps, items re-indexed; see its PROVENANCE.md)
    dataset = dataclasses.replace(data.load_delimited(
        Path(data_path, "ratings_user_itemidx_rating.csv.gz"), sep=",", user_col="user_id",
        item_col="item_idx", rating_col="rating", header=True), name="ml-1m")
  else:
    dataset = data.load_dataset(bench.dataset, path=str(data_path))
  train, test, split, notes = prepare_split(dataset, config)
  train_idx, test_idx = index_interactions(train), relevant_index(test)
  t0 = time.perf_counter()
  rows: list[dict] = []
  status, error = "complete", None
  try:
    for row in defense_benchmark(dataset, train, test, train_idx, test_idx, config,
                                 settings=settings, echo=print, progress=False):
      rows.append(row)
  except Exception as e:  # keep what was computed: a partial report, then re-raise
    status, error = "partial", f"{type(e).__name__}: {e}"
  everything, _ = deduplicate(concatenate([train.replace(timestamps=None),
                                           test.replace(timestamps=None)]))
  config_section = _cli.config_section(bench, args.config,
                                       seconds=round(time.perf_counter() - t0, 1))
  rep = report.build_report(
      dataset={"name": dataset.name, **characteristics(everything), "split": split,
               "notes": list(dataset.notes) + notes},
      config=config_section, rows=rows, status=status, error=error)
  out.mkdir(parents=True, exist_ok=True)
  report.write_report(out, rep)
  if error is not None:
    print(f"failed after {len(rows)} rows ({error}); partial report written to {out}")
    return 1
  lines = table(rows)
  (out / "table.md").write_text("\n".join(lines) + "\n")
  print("\n".join(lines))
  print(f"\n{len(rows)} rows in {config_section['seconds']} s; report written to {out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
