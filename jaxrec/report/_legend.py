"""What each reported metric means: its definition, unit, which direction is better, where the
docs explain it, and the table group it belongs to.

One entry per metric name of the tidy rows; ``delta_<m>`` and ``<m>_drop`` are derived from
``<m>``'s entry. :func:`legend` feeds the legend of ``report.md``; :func:`group_of` orders its
tables.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

__all__ = ["GROUPS", "MetricInfo", "describe", "group_of", "legend"]


@dataclasses.dataclass(frozen=True)
class MetricInfo:
  """One metric of the report.

  Attributes:
    meaning: what it measures, in one line.
    unit: its unit or range.
    better: which direction is better *for the platform* (the defender).
    doc: where the docs define it.
    group: the report table it is shown in (one of :data:`GROUPS`).
  """
  meaning: str
  unit: str
  better: str
  doc: str
  group: str


# the order of the report's tables
GROUPS = ("accuracy", "beyond-accuracy", "target exposure", "attack side effects", "detection",
          "robustness to embedding attacks", "content surface (item images)", "training",
          "dataset", "regression", "other")

_M = "docs/metrics.md"
_A = "docs/attacks.md"
_D = "docs/defenses.md"
_C = "docs/characteristics.md"
_V = "docs/audit.md"
_CONTENT = "content surface (item images)"

_METRICS: dict[str, MetricInfo] = {
    "hr": MetricInfo("share of evaluated users with a test item in their top k", "0-1",
                     "higher", _M, "accuracy"),
    "precision": MetricInfo("test items in the top k / k, mean over users", "0-1", "higher",
                            _M, "accuracy"),
    "recall": MetricInfo("test items in the top k / the user's test items, mean over users",
                         "0-1", "higher", _M, "accuracy"),
    "ndcg": MetricInfo("normalised discounted cumulative gain of the top k (Jarvelin and "
                       "Kekalainen 2002)", "0-1", "higher", _M, "accuracy"),
    "mrr": MetricInfo("1 / rank of the first hit within k, mean over users", "0-1", "higher", _M,
                      "accuracy"),
    "users": MetricInfo("users evaluated (those with a relevant test item)", "count", "-", _M,
                        "accuracy"),
    "coverage": MetricInfo("share of the catalogue in at least one user's top k", "0-1",
                           "higher (less concentrated exposure)", _M, "beyond-accuracy"),
    "gini": MetricInfo("Gini coefficient of how often each item is recommended", "0-1",
                       "lower (exposure spread more evenly)", _M, "beyond-accuracy"),
    "arp": MetricInfo("average recommendation popularity: mean training users per listed item",
                      "users", "lower (less popularity bias)", _M, "beyond-accuracy"),
    "aplt": MetricInfo("share of listed items from the long tail (outside the 20% most popular)",
                       "0-1", "higher (less popularity bias)", _M, "beyond-accuracy"),
    "novelty": MetricInfo("mean self-information -log2(popularity / users) of listed items",
                          "bits", "higher", _M, "beyond-accuracy"),
    "target_hr": MetricInfo("share of eligible real users (not having the target) with the "
                            "target in their top k", "0-1",
                            "lower under a push (higher under a nuke: the attacker wants the "
                            "opposite)", _A, "target exposure"),
    "target_ndcg": MetricInfo("1 / log2(rank + 1) of the target when in the top k, mean over "
                              "eligible users", "0-1", "lower under a push", _A,
                              "target exposure"),
    "target_rank": MetricInfo("mean rank of the target among the eligible users' candidates "
                              "(1 = top)", "rank", "higher under a push", _A,
                              "target exposure"),
    "target_score": MetricInfo("mean model score of the target over eligible users",
                               "model score units", "-", _A, "target exposure"),
    "prediction_shift": MetricInfo("attacked minus clean mean target score over eligible users "
                                   "(Mobasher et al. 2007)", "model score units (not comparable "
                                   "across models)", "closer to 0", _A, "target exposure"),
    "num_fake": MetricInfo("fake users injected", "count", "-", _A, "target exposure"),
    "detection_precision": MetricInfo("share of the flagged users that are fake (as many flagged "
                                      "as were injected)", "0-1",
                                      "higher (the detector finds the attack)", _D, "detection"),
    "detection_recall": MetricInfo("share of the fake users that are flagged", "0-1", "higher",
                                   _D, "detection"),
    "detection_f1": MetricInfo("harmonic mean of detection precision and recall", "0-1",
                               "higher", _D, "detection"),
    "fake_survival": MetricInfo("share of the fake users not flagged (1 - recall)", "0-1",
                                "lower", _D, "detection"),
    "random_flagger_precision": MetricInfo("expected precision of flagging users at random "
                                           "(the chance level)", "0-1",
                                           "- (compare detection_precision to it)", _D,
                                           "detection"),
    "train_loss": MetricInfo("mean training loss of the last epoch", "loss units", "-",
                             "docs/training.md", "training"),
    "delta_target_hr": MetricInfo("target HR@k after the attack minus before (the attack's "
                                  "gain)", "0-1 difference", "lower", _C, "target exposure"),
    "target_hr_before": MetricInfo("target HR@k of the clean model", "0-1", "-", _C,
                                   "target exposure"),
    "target_hr_after": MetricInfo("target HR@k after the attack", "0-1", "lower", _C,
                                  "target exposure"),
    # the content surface (rows with surface="content")
    "items_without_image": MetricInfo("items with no image of their own (given the mean image; "
                                      "never used to train the CNN, never attacked)", "count",
                                      "-", _V, _CONTENT),
    "extractor_accuracy": MetricInfo("top-1 category accuracy of the CNN feature extractor on "
                                     "the items with an image, the images it was trained on "
                                     "(a training accuracy; genres: share whose top predicted "
                                     "genre is one of the item's)", "0-1", "higher", _V,
                                     _CONTENT),
    "attacked_items": MetricInfo("items whose images the attack perturbed (score-push: the "
                                 "pushed long-tail items; TAaMR: the source category's)",
                                 "count", "-", _V, _CONTENT),
    "unchanged_images": MetricInfo("attacked images the attack left unchanged (e.g. at eps 0; "
                                   "left out of psnr and psnr_min, whose value would be "
                                   "infinite)", "count", "-", _V, _CONTENT),
    "chr_source": MetricInfo("category hit ratio of TAaMR's source category: its items' share "
                             "of the top-k slots of all users (k x users; membership by the "
                             "clean CNN's prediction, or the given categories when rows say "
                             "categories=given)", "0-1",
                             "- (the targeted attack moves exposure from source to target)", _V,
                             _CONTENT),
    "chr_target": MetricInfo("category hit ratio of TAaMR's target category (as chr_source)",
                             "0-1", "closer to its clean value (the attacker raises it)", _V,
                             _CONTENT),
    "success_rate": MetricInfo("share of the attacked source-category items the CNN now "
                               "predicts as the target category (TAaMR)", "0-1", "lower", _V,
                               _CONTENT),
    "psnr": MetricInfo("peak signal-to-noise ratio of the perturbed images against the clean "
                       "ones, mean over the changed images (at least 20 log10(255 / eps) for "
                       "an L-infinity budget of eps/255)", "dB",
                       "- (higher = less visible perturbation)", _V, _CONTENT),
    "psnr_min": MetricInfo("the lowest PSNR among the perturbed images (the most visible "
                           "one)", "dB", "- (higher = less visible)", _V, _CONTENT),
    "ssim": MetricInfo("structural similarity of perturbed and clean images, mean", "0-1 (1 = "
                       "identical)", "- (higher = less visible)", _V, _CONTENT),
}

_DATASET = {
    "items": ("items in the catalogue", "count"), "interactions": ("interactions", "count"),
    "space": ("users x items", "count"), "shape": ("users / items", "ratio"),
    "density": ("interactions / (users x items)", "0-1"),
    "gini_user": ("Gini coefficient of the users' degrees", "0-1"),
    "gini_item": ("Gini coefficient of the items' degrees", "0-1"),
    "mean_user_degree": ("interactions per user", "count"),
    "mean_item_degree": ("interactions per item", "count"),
    "rating_mean": ("mean rating", "rating units"),
    "rating_std": ("standard deviation of the ratings", "rating units"),
}
_METRICS.update({name: MetricInfo(meaning, unit, "-", _C, "dataset")
                 for name, (meaning, unit) in _DATASET.items()})

_PREFIXES = {"ols_": ("ordinary least squares statistic of the characteristics regression",
                      "per standardised predictor", "-", _C, "regression"),
             "log_": ("dataset characteristic (log scale)", "log", "-", _C, "dataset")}


def describe(metric: str) -> MetricInfo | None:
  """The :class:`MetricInfo` of ``metric`` (derived for ``delta_<m>`` and ``<m>_drop``), or
  ``None`` for a metric the legend does not know (an experiment's own).

  Source: jaxrec (definitions and their papers: docs/metrics.md, docs/attacks.md,
  docs/defenses.md, docs/characteristics.md).
  """
  if metric in _METRICS:
    return _METRICS[metric]
  if metric.startswith("delta_") and metric[6:] in _METRICS:
    base = _METRICS[metric[6:]]
    return MetricInfo(f"change of {metric[6:]} against the clean model (attacked - clean)",
                      base.unit + " difference", f"closer to 0 ({metric[6:]}: {base.better})",
                      base.doc, "attack side effects")
  if metric.endswith("_drop") and metric[:-5] in _METRICS:
    return MetricInfo(f"relative drop of {metric[:-5]} under the embedding attack: (clean - "
                      "attacked) / clean", "fraction", "lower (more robust)", _D,
                      "robustness to embedding attacks")
  for prefix, info in _PREFIXES.items():
    if metric.startswith(prefix):
      return MetricInfo(*info)
  return None


def group_of(row: dict) -> str:
  """The table group of a tidy row: by its metric, except that accuracy and beyond-accuracy
  under an attack are side effects of that attack, ``hr``/``ndcg`` under an embedding attack
  (rows with APR's ``eps`` key) are robustness, and every row of the content surface (key
  ``surface="content"``) is in its own group."""
  if row["metric"] == "users" and row.get("model") == "none":  # a dataset characteristic
    return "dataset"
  if row.get("surface") == "content":
    return _CONTENT
  info = describe(row["metric"])
  group = info.group if info else "other"
  if group in ("accuracy", "beyond-accuracy") and row.get("attack", "none") != "none":
    return "robustness to embedding attacks" if "eps" in row else "attack side effects"
  return group


def legend(metrics: Iterable[str]) -> list[str]:
  """Markdown lines of a legend table for the given metric names (each once, in the order
  given; unknown ones are listed as defined by their script).

  Source: jaxrec.
  """
  lines = ["| metric | meaning | unit | better | docs |", "|---|---|---|---|---|"]
  for m in dict.fromkeys(metrics):
    info = describe(m)
    if info is None:
      lines.append(f"| {m} | (defined by the script that wrote the report) | | | |")
    else:
      lines.append(f"| {m} | {info.meaning} | {info.unit} | {info.better} | {info.doc} |")
  return lines
