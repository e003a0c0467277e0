"""The content surface: a CNN extractor and VBPR on item images, attacked through the pixels.

One run (:func:`content_section`) for every defense in ``settings.defenses``:

* ``"none"``: the extractor (a small CNN trained on the item categories) and VBPR on its
  features, trained for ``vbpr_epochs + amr_epochs`` epochs;
* ``"amr"``: the same extractor; VBPR pre-trained ``vbpr_epochs`` epochs, then ``amr_epochs``
  epochs of AMR (Tang et al., TKDE 2019) with ``amr_eps`` (feature units: features are scaled to
  mean clean norm 1) and ``amr_lambda``;
* ``"robust-extractor"``: a CNN trained with PGD adversarial training (Madry et al., ICLR 2018;
  ``robust_eps`` /255, ``robust_steps`` steps), VBPR on its features as for ``"none"``.

Attacks (test time: the attacked items' features are re-extracted from the perturbed images; the
recommender is not retrained), each at every pixel budget ``eps`` of ``settings.eps`` (/255):

* ``"taamr"``: targeted PGD so the CNN predicts the *target* category for the items of the
  *source* category (categories as the clean CNN predicts them, as TAaMR does; when it predicts
  fewer than two categories with 5 items, the given categories, the first of several; rows say
  ``categories="predicted"`` or ``"given"``; source = the category with the lowest clean CHR@k
  among those with at least 5 items with an image, target = the one with the highest; at most
  ``max_attacked`` items). Rows: ``attacked_items``, ``success_rate`` (share of attacked items
  now predicted as the target), ``chr_source`` / ``chr_target`` @k (category hit ratio,
  normalised by ``k * users``; membership by the same categories, fixed before the attack),
  ``ndcg`` @k of the real users,
  ``psnr`` / ``psnr_min`` (over the images the attack changed; ``unchanged_images`` counts the
  others, e.g. at eps 0) and ``ssim`` of the perturbed images.
* ``"score-push"``: PGD on the images of ``num_push_items`` long-tail items (drawn among the
  items with an image and at least one training interaction, outside the 20 % most popular;
  seeded) raising their scores above each user's clean k-th best score for the *first* cut-off
  ``ks[0]`` (the one summaries report; rows say ``push_k``), a smooth count of the users whose
  lists they enter (:func:`jaxrec.attacks.content.top_k_push_loss`), through VBPR and the CNN
  jointly. Rows: ``attacked_items``,
  ``target_hr`` / ``target_ndcg`` @k (mean over the pushed items), ``prediction_shift``,
  ``ndcg`` @k, ``psnr`` / ``psnr_min`` / ``ssim``.
* ``"feature-pgd"``: PGD on every item's feature vector (L2 per item, ``settings.feature_eps``
  in feature units) raising the BPR loss of the training pairs (AMR's threat model). Rows:
  ``ndcg``, ``hr`` @k and ``delta_ndcg``.

``attack="none"`` rows per defense: accuracy and beyond-accuracy (``hr``, ``ndcg``, ``recall``,
``coverage``, ``arp``, ``aplt``, ``gini`` @k), ``chr_source`` / ``chr_target`` @k, the pushed
items' clean ``target_hr`` / ``target_ndcg`` @k and ``target_score``, and the extractor's
``extractor_accuracy`` (top-1 category accuracy on the items with an image; for genres, the share
whose top predicted genre is one of the item's genres). Every row has ``surface="content"``,
``eps`` and ``eps_unit`` (``"/255"``, ``"feature"`` or ``None``), ``retrained=False`` and the
caller's keys (``interactions="synthetic"`` for generated interactions).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrec import _checks, defenses, metrics, models, training
from jaxrec.attacks import content, evasion
from jaxrec.audit._progress import bar
from jaxrec.data import PositiveIndex
from jaxrec.experiment import execute
from jaxrec.report import make_row

__all__ = ["CONTENT_ATTACKS", "CONTENT_DEFENSES", "ContentSettings", "check_image_size",
           "content_section"]

CONTENT_ATTACKS = ("taamr", "score-push", "feature-pgd")
CONTENT_DEFENSES = ("none", "amr", "robust-extractor")
ACCURACY = ("hr", "ndcg", "recall", "coverage", "arp", "aplt", "gini")


@dataclasses.dataclass(frozen=True)
class ContentSettings:
  """Settings of the content section (module docstring); every field has a default.

  Attributes:
    eps: pixel budgets in /255 steps, each in ``[0, 255]``.
    feature_eps: feature-space budgets (L2 per item, feature units: mean clean norm 1).
    num_steps: PGD steps of the pixel and feature attacks (step ``2.5 eps / num_steps``).
    num_push_items: long-tail items attacked by ``score-push``.
    push_temperature: the score-push loss's temperature (score units,
      :func:`jaxrec.attacks.content.top_k_push_loss`).
    max_attacked: at most this many source-category items attacked by ``taamr`` (seeded draw).
    ks: cut-offs.
    widths, feature_dim, extractor_epochs, extractor_batch, extractor_lr: the CNN.
    dim, visual_dim, vbpr_epochs, amr_epochs, batch_size, lr, reg: VBPR (Adam).
    amr_eps, amr_lambda: AMR. robust_eps, robust_steps: the adversarially trained CNN.
    defenses: subset of :data:`CONTENT_DEFENSES`. attacks: subset of :data:`CONTENT_ATTACKS`.
    seed: every random choice (initialisations, batches, random starts, item draws).
  """

  eps: tuple[float, ...] = (4.0, 8.0, 16.0, 32.0)
  feature_eps: tuple[float, ...] = (0.25, 0.5, 1.0)
  num_steps: int = 10
  num_push_items: int = 20
  push_temperature: float = 0.1
  max_attacked: int = 100
  ks: tuple[int, ...] = (10,)
  widths: tuple[int, ...] = (8, 16, 32)
  feature_dim: int = 32
  extractor_epochs: int = 10
  extractor_batch: int = 64
  extractor_lr: float = 2e-3
  dim: int = 32
  visual_dim: int = 32
  vbpr_epochs: int = 30
  amr_epochs: int = 10
  batch_size: int = 512
  lr: float = 5e-3
  reg: float = 1e-4
  amr_eps: float = 0.1
  amr_lambda: float = 1.0
  robust_eps: float = 8.0
  robust_steps: int = 2
  defenses: tuple[str, ...] = CONTENT_DEFENSES
  attacks: tuple[str, ...] = CONTENT_ATTACKS
  seed: int = 0

  def __post_init__(self):
    for e in self.eps:
      content.pixel_eps(e)
    _checks.real("robust_eps (in /255 pixel steps)", self.robust_eps, high=255.0)
    _checks.real("push_temperature", self.push_temperature, low=0.0, low_open=True)
    for e in self.feature_eps:
      _checks.real("feature_eps", e)
    for name in ("num_steps", "num_push_items", "max_attacked", "extractor_epochs",
                 "extractor_batch", "dim", "visual_dim", "batch_size", "robust_steps",
                 "feature_dim"):
      _checks.integer(name, getattr(self, name), low=1)
    for name in ("vbpr_epochs", "amr_epochs", "seed"):
      _checks.integer(name, getattr(self, name), low=0)
    for d in self.defenses:
      _checks.choice("defense", d, CONTENT_DEFENSES)
    for a in self.attacks:
      _checks.choice("content attack", a, CONTENT_ATTACKS)


def check_image_size(size: tuple[int, int], settings: ContentSettings) -> None:
  """Images of ``size = (H, W)`` suit the section: at least 11 pixels a side (SSIM's 11x11
  window) and at least ``2 ** len(settings.widths)`` (one 2x2 pooling per conv block).

  Raises:
    ValueError: a smaller image, with the limit.

  Source:
    jaxrec; the window of Wang et al., IEEE TIP 2004 (SSIM).
  """
  low = max(11, 2 ** len(settings.widths))
  if min(size) < low:
    raise ValueError(f"images of {size[0]}x{size[1]} pixels are too small for the content "
                     f"section: it needs at least {low}x{low} (SSIM's 11x11 window and "
                     f"{len(settings.widths)} pooling blocks); resize them (--image-size)")


def _extractor_accuracy(pred: np.ndarray, labels: np.ndarray, has_image: np.ndarray) -> float:
  """Top-1 accuracy of the predicted categories ``pred (I,)`` on the items with an image (for
  multi-hot labels: the share whose predicted genre is one of the item's)."""
  pred = pred[has_image]
  lab = np.asarray(labels)[has_image]
  if lab.ndim == 2:
    return float(np.mean(lab[np.arange(len(pred)), pred] > 0))
  return float(np.mean(pred == lab))


def _train_vbpr(settings: ContentSettings, cd, key, *, amr: bool):
  victim = training.Victim(
      models.vbpr(dim=settings.dim, visual_dim=settings.visual_dim, reg=settings.reg,
                  reg_visual=settings.reg),
      optax.adam(settings.lr), num_epochs=settings.vbpr_epochs + settings.amr_epochs,
      batch_size=settings.batch_size)
  state = training.init_state(victim, cd, key)
  if not amr:
    state, _ = training.train(victim, state, cd)
    return victim.model, state.params
  state, _ = training.train(victim, state, cd, num_epochs=settings.vbpr_epochs)
  adv = defenses.amr(victim, eps=settings.amr_eps, lambda_=settings.amr_lambda)
  state, _ = training.train(adv, state, cd, num_epochs=settings.amr_epochs)
  return victim.model, state.params


def _attack_cell(eps, shared, *, ext, model, num_steps, attacks, temperature):
  """The pixel attacks at one budget (a cell of the executor): perturbed images."""
  params, cd, cnn, src_images, target_cat, push_images, push_items, users, tau, key = shared
  k1, k2 = jax.random.split(key)
  out = {}
  if "taamr" in attacks:
    out["taamr"] = content.perturb_images(content.category_loss, src_images,
                                          (ext, cnn, target_cat), eps=eps,
                                          num_steps=num_steps, key=k1)[0]
  if "score-push" in attacks:
    out["score-push"] = content.perturb_images(
        content.top_k_push_loss, push_images,
        (model, params, cd, ext, cnn, push_items, users, tau, temperature), eps=eps,
        num_steps=num_steps, key=k2)[0]
  return out


def content_section(*, train: PositiveIndex, test: PositiveIndex, images: np.ndarray,
                    labels: np.ndarray, has_image: np.ndarray, settings: ContentSettings,
                    progress: bool = False, echo: Callable[[str], None] = print,
                    artifacts: dict | None = None, category_names=None,
                    **keys: Any) -> list[dict]:
  """Runs the content surface (module docstring) and returns its tidy rows.

  Args:
    train, test: interactions of the real users (a leave-one-out or holdout split).
    images: ``(I, H, W, C) float32`` in ``[0, 1]``, one per item (items without an image filled,
      e.g. by :func:`jaxrec.data.load_image_folder`).
    labels: ``(I,) int`` categories, or ``(I, C)`` multi-hot genres.
    has_image: ``(I,) bool``; items without an image never train the CNN nor are attacked
      (and are reported in a row ``items_without_image``).
    settings: :class:`ContentSettings`.
    progress: progress bars. echo: one-line messages.
    artifacts: if a dict, filled with ``figure_images`` (``{"clean", "perturbed", "items",
      "eps", "attack"}`` of the first pushed items at the first budget >= 8) for the figure.
    category_names: optional names of the categories (the TAaMR rows' ``source_category`` and
      ``target_category`` then hold names instead of indices).
    keys: extra grid keys on every row (e.g. ``dataset="ml-100k"``,
      ``interactions="synthetic"``).

  Returns:
    The rows (:func:`jaxrec.report.make_row` dicts).

  Raises:
    ValueError: shapes that do not match the catalogue, pixels outside ``[0, 1]``, images too
      small (:func:`check_image_size`), fewer than two categories with 5 items, too few
      long-tail items with an image.

  Source:
    jaxrec; methods as cited in the module docstring.
  """
  images = np.asarray(content.check_pixels(images))
  labels, has_image = np.asarray(labels), np.asarray(has_image, bool)
  ni = train.num_items
  if images.shape[0] != ni or labels.shape[0] != ni or has_image.shape != (ni,):
    raise ValueError(f"images ({images.shape[0]}), labels ({labels.shape[0]}) and has_image "
                     f"({has_image.shape[0]}) must have one row per item ({ni})")
  check_image_size(images.shape[1:3], settings)
  multi = labels.ndim == 2
  num_classes = labels.shape[1] if multi else int(labels.max()) + 1
  rng = np.random.default_rng(settings.seed)
  key = jax.random.key(settings.seed)
  k_cnn, k_rob, k_vbpr, k_attack, k_feat = jax.random.split(key, 5)
  base = dict(surface="content", retrained=False, **keys)
  rows: list[dict] = [make_row(model="vbpr", metric="items_without_image",
                               value=float((~has_image).sum()), eps=None, eps_unit=None,
                               **base)]
  ks = tuple(settings.ks)
  kmax = max(ks)
  evaluator = functools.partial(metrics.evaluate, train=train, test=test, ks=ks)
  ext = models.extractor(num_classes=num_classes, widths=settings.widths,
                         feature_dim=settings.feature_dim, multi_label=multi)
  train_cnn = functools.partial(
      training.train_extractor, ext=ext, images=images[has_image], labels=labels[has_image],
      num_epochs=settings.extractor_epochs, batch_size=settings.extractor_batch,
      tx=optax.adam(settings.extractor_lr), catalogue=images[has_image])

  # the pushed items: long-tail items with an image (seeded), the same for every defense
  degrees = np.asarray(train.item_degrees())
  tail = np.zeros(ni, bool)
  tail[np.asarray(metrics.long_tail_items(degrees))] = True
  candidates = np.flatnonzero(tail & has_image & (degrees > 0))
  if candidates.size < settings.num_push_items:
    raise ValueError(f"only {candidates.size} long-tail items with an image; score-push needs "
                     f"{settings.num_push_items}")
  push_items = np.sort(rng.choice(candidates, settings.num_push_items, replace=False))
  users = jnp.arange(train.num_users, dtype=jnp.int32)
  cnns: dict[str, Any] = {}
  figure_done = False
  for defense in settings.defenses:
    t0 = time.perf_counter()
    cnn_key = "robust" if defense == "robust-extractor" else "clean"
    if cnn_key not in cnns:
      adversary = (defenses.madry_adversary(ext, eps=settings.robust_eps,
                                            num_steps=settings.robust_steps)
                   if cnn_key == "robust" else None)
      cnns[cnn_key] = train_cnn(k_rob if adversary else k_cnn, adversary=adversary)[0]
    cnn = cnns[cnn_key]
    # one forward pass of the catalogue: the features and the predicted categories
    outs = [ext.apply(cnn, jnp.asarray(images[s:s + 512])) for s in range(0, ni, 512)]
    feats = np.concatenate([np.asarray(f) for f, _ in outs])
    pred = np.concatenate([np.asarray(jnp.argmax(g, axis=-1)) for _, g in outs])
    cd = models.content_data(train, feats)
    model, params = _train_vbpr(settings, cd, k_vbpr, amr=defense == "amr")
    echo(f"content: {defense}: CNN and VBPR trained in {time.perf_counter() - t0:.1f} s")
    row = functools.partial(make_row, model="vbpr", defense=defense, **base)
    rows.append(row(metric="extractor_accuracy", eps=None, eps_unit=None,
                    value=_extractor_accuracy(pred, labels, has_image)))
    clean_eval = evaluator(model, params, data=cd)
    for metric in ACCURACY:
      for k, v in clean_eval[metric].items():
        rows.append(row(metric=metric, k=k, value=v, eps=None, eps_unit=None))
    # categories as the clean CNN predicts them (TAaMR); source / target by clean CHR@kmax
    lists, valid = metrics.recommend(model, params, train, kmax, data=cd)
    cats, basis = pred, "predicted"
    if np.sum(np.bincount(cats[has_image], minlength=num_classes) >= 5) < 2:
      # a weak or collapsed CNN: fall back to the given categories (the first of several)
      cats, basis = (np.argmax(labels, axis=1) if multi else labels.astype(np.int64)), "given"
      echo(f"content: {defense}: the CNN predicts fewer than two categories with 5 items; "
           "TAaMR's source and target are chosen by the given categories")
    counts = np.bincount(cats[has_image], minlength=num_classes)
    eligible = np.flatnonzero(counts >= 5)
    if eligible.size < 2:
      raise ValueError("fewer than two categories have 5 items with an image: no source and "
                       "target category for the targeted attack")
    chr_by = {c: metrics.category_hit_ratio(lists, valid, cats == c) for c in eligible}
    source = min(eligible, key=lambda c: (chr_by[c], c))
    target = max(eligible, key=lambda c: (chr_by[c], -c))
    src_items = np.flatnonzero((cats == source) & has_image)
    if src_items.size > settings.max_attacked:
      src_items = np.sort(rng.choice(src_items, settings.max_attacked, replace=False))
    name = (lambda c: str(category_names[c])) if category_names is not None else int
    taamr_keys = dict(source_category=name(source), target_category=name(target),
                      categories=basis)

    def chr_rows(lists, valid, **kw):
      out = []
      for k in ks:
        for name, c in (("chr_source", source), ("chr_target", target)):
          out.append(row(metric=name, k=k, value=metrics.category_hit_ratio(
              lists[:, :k], valid[:, :k], cats == c), **taamr_keys, **kw))
      return out

    rows += chr_rows(lists, valid, eps=None, eps_unit=None)
    exposure = metrics.target_exposure(model, params, train, push_items, data=cd, ks=ks)
    clean_score = np.mean([e["target_score"][None] for e in exposure])
    for metric in ("target_hr", "target_ndcg"):
      for k in ks:
        rows.append(row(metric=metric, k=k, eps=None, eps_unit=None,
                        value=float(np.mean([e[metric][k] for e in exposure]))))
    rows.append(row(metric="target_score", value=float(clean_score), eps=None, eps_unit=None))

    # pixel attacks: one executor cell per budget
    pixel_attacks = tuple(a for a in settings.attacks if a != "feature-pgd")
    if pixel_attacks and settings.eps:
      tau = content.kth_scores(model, params, cd, train, ks[0])
      shared = (params, cd, cnn, jnp.asarray(images[src_items]), jnp.int32(target),
                jnp.asarray(images[push_items]), jnp.asarray(push_items), users, tau, k_attack)
      cell = functools.partial(_attack_cell, ext=ext, model=model,
                               num_steps=settings.num_steps, attacks=pixel_attacks,
                               temperature=settings.push_temperature)
      with bar(len(settings.eps), f"content attacks ({defense})", progress) as b:
        outs = execute(cell, [np.float32(e) for e in settings.eps], shared,
                       progress=b.update)
      for eps, out in zip(settings.eps, outs):
        kw = dict(budget=float(eps), eps=float(eps), eps_unit="/255")
        for attack, adv in out.items():
          items = src_items if attack == "taamr" else push_items
          clean = images[items]
          seen = metrics.perceptibility(clean, adv)
          arow = functools.partial(row, attack=attack, **kw)
          changed = np.isfinite(seen["psnr"])  # an unchanged image has infinite PSNR
          rows.append(arow(metric="attacked_items", value=float(len(items)),
                           **(dict(push_k=ks[0]) if attack == "score-push" else taamr_keys)))
          if not changed.all():
            rows.append(arow(metric="unchanged_images", value=float((~changed).sum())))
          if changed.any():
            rows.append(arow(metric="psnr", value=float(np.mean(seen["psnr"][changed]))))
            rows.append(arow(metric="psnr_min", value=float(np.min(seen["psnr"][changed]))))
          rows.append(arow(metric="ssim", value=float(np.mean(seen["ssim"]))))
          adv_feats, adv_logits = ext.apply(cnn, jnp.asarray(adv))  # re-extracted, once
          adv_cd = content.replace_features(cd, jnp.asarray(items), adv_feats)
          after = evaluator(model, params, data=adv_cd)
          for k, v in after["ndcg"].items():
            rows.append(arow(metric="ndcg", k=k, value=v))
          if attack == "taamr":
            now = np.asarray(jnp.argmax(adv_logits, axis=-1))
            rows.append(arow(metric="success_rate", value=float(np.mean(now == target)),
                             **taamr_keys))
            l2, v2 = metrics.recommend(model, params, train, kmax, data=adv_cd)
            rows += chr_rows(l2, v2, attack=attack, **kw)
          else:
            exp = metrics.target_exposure(model, params, train, push_items, data=adv_cd, ks=ks)
            for metric in ("target_hr", "target_ndcg"):
              for k in ks:
                rows.append(arow(metric=metric, k=k,
                                 value=float(np.mean([e[metric][k] for e in exp]))))
            rows.append(arow(metric="prediction_shift", value=float(
                np.mean([e["target_score"][None] for e in exp]) - clean_score)))
            if artifacts is not None and not figure_done and eps >= 8:
              artifacts["figure_images"] = {"clean": clean[:3], "perturbed": adv[:3],
                                            "items": push_items[:3], "eps": float(eps),
                                            "attack": attack, "defense": defense}
              figure_done = True

    if "feature-pgd" in settings.attacks:
      batch, weights = evasion.attack_triples(k_feat, train)
      for eps in settings.feature_eps:
        adv_feats, _ = _feature_attack(cd.features, (model, params, batch, weights),
                                       float(eps), settings.num_steps)
        after = evaluator(model, params, data=cd.replace(features=adv_feats))
        arow = functools.partial(row, attack="feature-pgd", budget=float(eps), eps=float(eps),
                                 eps_unit="feature")
        for k in ks:
          rows.append(arow(metric="ndcg", k=k, value=after["ndcg"][k]))
          rows.append(arow(metric="hr", k=k, value=after["hr"][k]))
          rows.append(arow(metric="delta_ndcg", k=k,
                           value=after["ndcg"][k] - clean_eval["ndcg"][k]))
    echo(f"content: {defense}: attacks done in {time.perf_counter() - t0:.1f} s")
  return rows


@functools.partial(jax.jit, static_argnames=("num_steps",))
def _feature_attack(features, args, eps, num_steps):
  return content.perturb_features(content.feature_bpr_loss, features, args, eps=eps,
                                  num_steps=num_steps)
