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
MovieLens-100K, a few minutes). PORE uses ``--pore-models`` base models of
``--pore-sample-fraction`` of the users each (50 and 2% by default: the authors' far larger
ensembles only tighten its certificate; its recommendations are the votes of these). MovieLens-1M here has no timestamps, so the split is a seeded
per-user 20% hold-out (the same for every seed); every interaction counts as positive feedback
(no threshold), so the average attack equals random and is left out.

Writes ``DIR/report.json`` (the tidy schema of ``jaxrec audit``: rows with ``section =
"defenses"``, ``defense``, ``attack``, ``budget``, ``seed``, ``metric``, ``k``, ``value``),
``DIR/report.md``, and ``DIR/table.md``: defense x attack with the target HR@50 (clean and
attacked, mean +- std over seeds), nDCG@50, coverage@50 and ARP@50 of the clean model, printed
too.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

from jaxrec import audit, data, report
from jaxrec.audit._config import prepare_split
from jaxrec.audit._defense_benchmark import DefenseSettings, defense_benchmark
from jaxrec.data import characteristics, concatenate, deduplicate, index_interactions
from jaxrec.metrics import relevant_index

PUSH_ATTACKS = ("random", "bandwagon", "power_user", "revadv", "generator")
DEFENSES = ("apr", "vat", "pamacf", "sharpcf", "detect", "pore")


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


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--data", default="../shared/data/movielens-1m",
                 help="MovieLens-1M folder (ratings.dat), or MovieLens-100K with --dataset")
  p.add_argument("--dataset", default="ml-1m", choices=("ml-1m", "ml-100k"))
  p.add_argument("--out", required=True, help="output folder")
  p.add_argument("--overwrite", action="store_true")
  p.add_argument("--seeds", type=int, default=5)
  p.add_argument("--epochs", type=int, default=30)
  p.add_argument("--attacks", nargs="+", default=list(PUSH_ATTACKS), choices=PUSH_ATTACKS)
  p.add_argument("--defenses", nargs="+", default=list(DEFENSES), choices=DEFENSES)
  p.add_argument("--adv-eps", type=float, default=None,
                 help="radius of APR, VAT and PamaCF (absolute, embedding units; default "
                      "DefenseSettings': 0.5)")
  p.add_argument("--pore-models", type=int, default=50,
                 help="PORE's base models per ensemble (default 50)")
  p.add_argument("--pore-sample-fraction", type=float, default=0.02,
                 help="PORE's sampled users per base model, as a share of the users (0.02)")
  p.add_argument("--quick", action="store_true",
                 help="MovieLens-100K, 2 seeds, random and bandwagon, 10 epochs")
  args = p.parse_args(argv)
  if args.quick:
    args.dataset, args.seeds, args.epochs = "ml-100k", 2, 10
    args.attacks = ["random", "bandwagon"]
    if args.data == p.get_default("data"):
      args.data = "../shared/data/movielens-100k"
  if not Path(args.data).exists():
    print(f"{args.data} not found: this experiment needs MovieLens (see ../shared/data/README.md)")
    return 2
  out = Path(args.out)
  if (out / "report.json").exists() and not args.overwrite:
    print(f"{out}/report.json exists; pass --overwrite to replace it")
    return 2
  if args.dataset == "ml-1m" and Path(args.data, "ratings_user_itemidx_rating.csv.gz").exists():
    # the shared partial copy (no timestamps, items re-indexed; see its PROVENANCE.md)
    dataset = dataclasses.replace(data.load_delimited(
        Path(args.data, "ratings_user_itemidx_rating.csv.gz"), sep=",", user_col="user_id",
        item_col="item_idx", rating_col="rating", header=True), name="ml-1m")
  else:
    dataset = data.load_dataset(args.dataset, path=args.data)
  config = audit.AuditConfig(
      model="bpr-mf", epochs=args.epochs, split="ratio", test_ratio=0.2, ks=(10, 50),
      attacks=tuple(args.attacks), budgets=(0.01,), num_targets=5,
      target_strategy="unpopular", defense=tuple(args.defenses), num_seeds=args.seeds)
  train, test, split, notes = prepare_split(dataset, config)
  train_idx, test_idx = index_interactions(train), relevant_index(test)
  eps = {} if args.adv_eps is None else dict(apr_eps=args.adv_eps, vat_eps=args.adv_eps,
                                             pamacf_eps=args.adv_eps)
  settings = DefenseSettings(pore_models=args.pore_models,
                             pore_sample_fraction=args.pore_sample_fraction, **eps)
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
  config_section = {key: list(v) if isinstance(v, tuple) else v
                    for key, v in dataclasses.asdict(config).items()}
  config_section["defense_settings"] = dataclasses.asdict(settings)
  config_section["seconds"] = round(time.perf_counter() - t0, 1)
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
