"""Item-content attacks on a visual recommender (VBPR on a CNN's features), end to end in JAX.

Two catalogues, the same study (:func:`jaxrec.audit.content_section`):

* MovieLens-100K with one poster per movie (``DATA/movielens-posters``, ``DATA/movielens-100k``;
  1,643 of 1,682 items have a poster, the rest get the mean poster and are never attacked),
  posters at 72x48 RGB, the CNN trained on the 19 u.item genres (multi-label), leave-one-out
  split (latest interaction per user);
* Fashion-MNIST (MIT; ``DATA/fashion-mnist``, else the subset bundled with jaxrec) as a product
  catalogue of ``--fmnist-per-class`` images per class at 28x28 grey, with SYNTHETIC
  interactions (:func:`jaxrec.data.synthetic_category_interactions`: ``--fmnist-users`` users,
  20 interactions each, two preferred categories, preference 0.8; every row says
  ``interactions="synthetic"``), leave-one-out split (random, seeded).

For each catalogue and each defense (none, AMR, an adversarially trained CNN) the study trains
the CNN and VBPR, then attacks at test time (features re-extracted from the perturbed images,
the recommender not retrained) at eps = 4, 8, 16, 32 /255: TAaMR's targeted misclassification,
the score push through VBPR and the CNN, and feature-space PGD (AMR's threat model). It writes

* ``DIR/report.json`` and ``DIR/report.md`` (the tidy schema of ``jaxrec audit``, one row per
  number, with ``dataset``, ``surface="content"``, ``eps``, ``eps_unit``, ``attack``,
  ``defense``, ``interactions``),
* ``DIR/<dataset>-perturbation.png`` (clean / perturbed / amplified difference of pushed items),
* ``DIR/<dataset>-effects.png`` (target HR@10 of the pushed items, TAaMR success and PSNR
  versus eps, one line per defense),

then prints the key numbers. Run::

  python experiments/visual_attacks.py --out runs/visual [--data ../shared/data]

About 10-15 minutes on 2 CPU cores (``--quick``: one budget, small catalogues, about 2 minutes).
The settings are ``experiments/configs/visual_attacks.toml`` (:class:`VisualConfig`;
``--quick``: ``visual_attacks_quick.toml``; ``--config FILE`` runs another; ``--datasets``,
``--fmnist-per-class``, ``--fmnist-users`` and ``--seed`` override one setting); the report's
``config`` records them, ``config_hash`` and ``config_file``.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

import _cli  # experiments/_cli.py, beside this script

from jaxrec import _checks, data
from jaxrec.audit import ContentSettings, content_section
from jaxrec.report import build_report, perturbation_figure, plot_content_effects, write_report


DATASETS = ("ml-100k-posters", "fashion-mnist")


def _posters(root: Path):
  ds = data.load_movielens_100k(root / "movielens-100k" / "u.data")
  images, genres, names = data.load_movielens_posters(root)
  train, test = data.leave_one_out(ds.interactions)
  return train, test, images, genres, names, {"interactions": "observed"}


def _fashion(root: Path, per_class: int, num_users: int, seed: int):
  folder = root / "fashion-mnist"
  if folder.is_dir():
    x, y = data.load_fashion_mnist(folder, per_class=per_class)
    source = str(folder)
  else:
    x, y = data.bundled_fashion_mnist()
    source = "bundled subset"
  inter = data.synthetic_category_interactions(y, num_users=num_users, interactions_per_user=20,
                                               seed=seed)
  train, test = data.leave_one_out(inter, seed=seed)
  images = data.ItemImages(images=x, has_image=np.ones(len(y), bool),
                           files=("",) * len(y), missing=(), source=source)
  return train, test, images, y, data.FASHION_MNIST_CLASSES, {"interactions": "synthetic"}


@dataclasses.dataclass(frozen=True)
class VisualConfig:
  """Settings of the study (module docstring).

  Attributes:
    datasets: catalogues, of ``"ml-100k-posters"`` and ``"fashion-mnist"``.
    fmnist_per_class: Fashion-MNIST images per class (the catalogue: 10 classes).
    fmnist_users: synthetic users of the Fashion-MNIST catalogue.
    content: the study's settings (:class:`jaxrec.audit.ContentSettings`); ``content.seed``
      also seeds the synthetic interactions and their split.
  """

  datasets: tuple[str, ...] = DATASETS
  fmnist_per_class: int = 100
  fmnist_users: int = 500
  content: ContentSettings = dataclasses.field(default_factory=ContentSettings)

  def __post_init__(self):
    if not self.datasets:
      raise ValueError(f"datasets must name at least one of {DATASETS}")
    for name in self.datasets:
      _checks.choice("dataset", name, DATASETS)
    _checks.integer("fmnist_per_class", self.fmnist_per_class, low=1)
    _checks.integer("fmnist_users", self.fmnist_users, low=1)


def main(argv=None) -> int:
  p = _cli.parser(__file__, __doc__)
  p.add_argument("--data", default=str(_cli.SHARED_DATA), help="folder holding the datasets")
  p.add_argument("--quick", action="store_true",
                 help="experiments/configs/visual_attacks_quick.toml: one budget (8/255), "
                      "small catalogues")
  _cli.override(p, "--datasets", "datasets", nargs="+", choices=DATASETS)
  _cli.override(p, "--fmnist-per-class", "fmnist_per_class", type=int)
  _cli.override(p, "--fmnist-users", "fmnist_users", type=int)
  _cli.override(p, "--seed", "content.seed", type=int)
  args = p.parse_args(argv)
  if args.quick:
    if args.config != p.get_default("config"):
      p.error("--quick is a config of its own (visual_attacks_quick.toml); give --config or "
              "--quick, not both")
    args.config = str(_cli.default_config(__file__, "_quick"))
  cfg = _cli.load(args, VisualConfig)
  settings = cfg.content
  root = Path(args.data)
  out = Path(args.out)
  rows, timings = [], {}
  for name in cfg.datasets:
    t0 = time.perf_counter()
    if name == "ml-100k-posters":
      if not (root / "movielens-posters").is_dir():
        print(f"skipping {name}: {root / 'movielens-posters'} not found (pass --data)")
        continue
      train, test, images, labels, names, keys = _posters(root)
    else:
      train, test, images, labels, names, keys = _fashion(root, cfg.fmnist_per_class,
                                                          cfg.fmnist_users, settings.seed)
    print(f"{name}: {images.summary()}; {len(train)} train / {len(test)} test interactions "
          f"({keys['interactions']})")
    art: dict = {}
    rows += content_section(
        train=data.index_interactions(train), test=data.index_interactions(test),
        images=images.images, labels=labels, has_image=images.has_image, settings=settings,
        artifacts=art, category_names=names, dataset=name, **keys)
    fig = art.get("figure_images")
    if fig is not None:
      perturbation_figure(fig["clean"], fig["perturbed"], out / f"{name}-perturbation.png",
                          titles=[f"item {i}" for i in fig["items"]])
    plot_content_effects([r for r in rows if r.get("dataset") == name],
                         out / f"{name}-effects.png", k=settings.ks[0])
    timings[name] = round(time.perf_counter() - t0, 1)
    print(f"{name}: done in {timings[name]} s")
  config = _cli.config_section(
      cfg, args.config, seconds=timings, threat_model="test time: features re-extracted from "
      "perturbed images, recommender not retrained; eps in /255 (pixels) or feature units")
  report = build_report(dataset={"name": " + ".join(timings)}, config=config, rows=rows)
  json_path, _ = write_report(out, report)
  _print_key_numbers(rows, settings)
  print(f"report: {json_path}")
  return 0


def _print_key_numbers(rows, settings) -> None:
  k = settings.ks[0]

  def get(dataset, defense, attack, metric, eps=None, kk=None):
    hit = [r["value"] for r in rows if r.get("dataset") == dataset and r["defense"] == defense
           and r["attack"] == attack and r["metric"] == metric and r["eps"] == eps
           and r["k"] == kk]
    return hit[0] if hit else float("nan")

  for dataset in sorted({r.get("dataset") for r in rows}):
    print(f"\n{dataset} (k={k})")
    print(f"{'defense':>17s} {'eps':>4s} {'HR@k push':>10s} {'clean':>7s} {'TAaMR succ':>10s} "
          f"{'PSNR':>6s} {'SSIM':>6s} {'nDCG@k':>7s}")
    for defense in settings.defenses:
      clean_hr = get(dataset, defense, "none", "target_hr", kk=k)
      for eps in settings.eps:
        pushed = get(dataset, defense, "score-push", "target_hr", eps, k)
        print(f"{defense:>17s} {eps:4g} {pushed:10.4f} "
              f"{clean_hr:7.4f} {get(dataset, defense, 'taamr', 'success_rate', eps):10.3f} "
              f"{get(dataset, defense, 'score-push', 'psnr', eps):6.2f} "
              f"{get(dataset, defense, 'score-push', 'ssim', eps):6.3f} "
              f"{get(dataset, defense, 'none', 'ndcg', kk=k):7.4f}")


if __name__ == "__main__":
  sys.exit(main())
