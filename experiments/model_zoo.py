"""Every victim model of jaxrec on one split, next to BPR-MF and a most-popular baseline.

Trains each model of :data:`jaxrec.audit.MODELS` with its default recipe
(:func:`jaxrec.audit.model_defaults`, the same one ``jaxrec audit --model NAME`` uses) and
evaluates it with the audit's metrics (all-item ranking, training items masked, random
tie-breaking). Settings: ``experiments/configs/model_zoo.toml`` (:class:`ZooConfig`; ``--config
FILE`` runs another, ``--models``, ``--k`` and ``--seed`` override one setting)::

  python experiments/model_zoo.py \\
      --train ../shared/data/loo-splits/movielens100k/trainingset.tsv \\
      --test ../shared/data/loo-splits/movielens100k/testset.tsv --out runs/model_zoo

Writes ``DIR/report.json`` and ``DIR/report.md`` (the tidy schema of ``jaxrec audit``: one row
per model, metric and k, ``attack="none"``, ``defense="none"``, plus ``train_seconds``; ``config``: the settings, ``config_hash``, ``config_file`` and each
model's recipe) and
prints HR@10 and nDCG@10 per model, and whether each model beats the popularity baseline.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import _cli  # experiments/_cli.py, beside this script

from jaxrec import audit, data, metrics, report


@dataclasses.dataclass(frozen=True)
class ZooConfig:
  """Settings of the model zoo.

  Attributes:
    models: victims (names in :data:`jaxrec.audit.MODELS`), each with its default recipe.
    ks: cut-offs of the ranking metrics.
    seed: seed of initialisation and sampling of every model.
  """

  models: tuple[str, ...] = audit.MODELS
  ks: tuple[int, ...] = (10, 50, 100)
  seed: int = 0

  def __post_init__(self):
    if not self.models:
      raise ValueError("models must name at least one model")
    self.audits()  # each model's settings are checked where its audit config is built

  def audits(self) -> list[audit.AuditConfig]:
    """One :class:`jaxrec.audit.AuditConfig` per model (its recipe, no attack).

    Raises:
      ValueError: an unknown model, a bad cut-off or seed.
    """
    return [audit.AuditConfig(model=name, seed=self.seed, ks=self.ks, attacks=())
            for name in self.models]


def main(argv=None) -> int:
  p = _cli.parser(__file__, __doc__)
  p.add_argument("--train", required=True, help="training TSV (user item score timestamp)")
  p.add_argument("--test", required=True, help="test TSV")
  _cli.override(p, "--models", "models", nargs="+", choices=audit.MODELS)
  _cli.override(p, "--k", "ks", type=int, nargs="+")
  _cli.override(p, "--seed", "seed", type=int)
  args = p.parse_args(argv)
  zoo = _cli.load(args, ZooConfig)
  dataset = data.load_tsv_split(args.train, args.test)
  rows: list[dict] = []
  configs = zoo.audits()
  for n, config in enumerate(configs):
    name = config.model
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
      config=_cli.config_section(zoo, args.config, recipes=recipes), rows=rows)
  json_path, _ = report.write_report(args.out, out)

  def value(model, metric, k=10):
    return next(r["value"] for r in rows if r["model"] == model and r["metric"] == metric
                and r["k"] == k)

  base = value("most-pop", "hr")
  print(f"\n{'model':>9s} {'HR@10':>7s} {'nDCG@10':>8s}  recipe")
  for model in ["most-pop", *zoo.models]:
    recipe = "" if model == "most-pop" else ", ".join(
        f"{k} {v}" for k, v in recipes[model].items() if v is not None)
    print(f"{model:>9s} {value(model, 'hr'):7.4f} {value(model, 'ndcg'):8.4f}  {recipe}")
  below = [m for m in zoo.models
           if value(m, "hr") <= base or value(m, "ndcg") <= value("most-pop", "ndcg")]
  print("every model beats most-pop on HR@10 and nDCG@10" if not below
        else f"NOT above most-pop: {below}")
  print(f"report: {json_path}")
  return 0


def _quiet(line: str) -> None:
  del line


if __name__ == "__main__":
  sys.exit(main())
