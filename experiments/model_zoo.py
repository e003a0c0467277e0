"""Every victim model of jaxrec on one split, next to BPR-MF and a most-popular baseline.

Trains each model of :data:`jaxrec.audit.MODELS` with its default recipe
(:func:`jaxrec.audit.model_defaults`, the same one ``jaxrec audit --model NAME`` uses) and
evaluates it with the audit's metrics (all-item ranking, training items masked, random
tie-breaking)::

  python experiments/model_zoo.py \\
      --train ../shared/data/loo-splits/movielens100k/trainingset.tsv \\
      --test ../shared/data/loo-splits/movielens100k/testset.tsv --out runs/model_zoo

Writes ``DIR/report.json`` and ``DIR/report.md`` (the tidy schema of ``jaxrec audit``: one row
per model, metric and k, ``attack="none"``, ``defense="none"``, plus ``train_seconds``) and
prints HR@10 and nDCG@10 per model, and whether each model beats the popularity baseline.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from jaxrec import audit, data, metrics, report


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--train", required=True, help="training TSV (user item score timestamp)")
  p.add_argument("--test", required=True, help="test TSV")
  p.add_argument("--out", required=True, help="output folder")
  p.add_argument("--models", nargs="+", choices=audit.MODELS, default=list(audit.MODELS))
  p.add_argument("--k", type=int, nargs="+", default=[10, 50, 100])
  p.add_argument("--seed", type=int, default=0)
  args = p.parse_args(argv)
  dataset = data.load_tsv_split(args.train, args.test)
  rows: list[dict] = []
  configs = []
  for n, name in enumerate(args.models):
    config = audit.AuditConfig(model=name, seed=args.seed, ks=tuple(args.k), attacks=())
    configs.append(config)
    train, test, _, _ = audit.prepare_split(dataset, config)
    train_idx, test_idx = data.index_interactions(train), metrics.relevant_index(test)
    t0 = time.perf_counter()
    new = list(audit.clean_section(train_idx, test_idx, config, echo=_quiet))
    seconds = time.perf_counter() - t0
    rows.extend(r for r in new if n == 0 or r["model"] != "most-pop")
    rows.append(report.make_row(model=name, metric="train_seconds", value=seconds))
    print(f"{name}: trained and evaluated in {seconds:.1f} s", flush=True)
  recipes = {c.model: {f.name: getattr(c, f.name) for f in dataclasses.fields(c)
                       if f.name in ("dim", "epochs", "lr", "reg", "batch_size", "optimizer")}
             for c in configs}
  out = report.build_report(
      dataset={"name": dataset.name, "train": args.train, "test": args.test},
      config={"seed": args.seed, "ks": args.k, "recipes": recipes}, rows=rows)
  json_path, _ = report.write_report(args.out, out)

  def value(model, metric, k=10):
    return next(r["value"] for r in rows if r["model"] == model and r["metric"] == metric
                and r["k"] == k)

  base = value("most-pop", "hr")
  print(f"\n{'model':>9s} {'HR@10':>7s} {'nDCG@10':>8s}  recipe")
  for model in ["most-pop", *args.models]:
    recipe = "" if model == "most-pop" else ", ".join(
        f"{k} {v}" for k, v in recipes[model].items() if v is not None)
    print(f"{model:>9s} {value(model, 'hr'):7.4f} {value(model, 'ndcg'):8.4f}  {recipe}")
  below = [m for m in args.models
           if value(m, "hr") <= base or value(m, "ndcg") <= value("most-pop", "ndcg")]
  print("every model beats most-pop on HR@10 and nDCG@10" if not below
        else f"NOT above most-pop: {below}")
  print(f"report: {json_path}")
  return 0


def _quiet(line: str) -> None:
  del line


if __name__ == "__main__":
  sys.exit(main())
