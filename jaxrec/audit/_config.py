"""The audit's typed configuration and the data preparation it starts from."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from jaxrec import _checks
from jaxrec.audit._content_section import CONTENT_DEFENSES, ContentSettings
from jaxrec.audit._registry import ATTACKS, MODELS, make_victim, model_defaults
from jaxrec.data import (Dataset, Interactions, ItemImages, binarize, leave_one_out,
                         random_holdout)
from jaxrec.training import Victim

__all__ = ["AuditConfig", "ItemContent", "attacker_view", "item_content", "prepare_split"]

_TRAINING = ("dim", "epochs", "lr", "reg", "batch_size", "optimizer")
SPLITS = ("loo", "ratio")
TARGET_STRATEGIES = ("unpopular", "popular", "random")
DEFENSES = ("none", "apr", "vat", "pamacf", "sharpcf", "detect", "pore")
DEFAULT_ATTACKS = ("random", "average", "bandwagon")
IMPLICIT_DEFAULT_ATTACKS = ("random", "bandwagon")  # average = random without a threshold
DEFAULT_CONTENT_EPS = (4.0, 8.0, 16.0, 32.0)
# ContentSettings fields that AuditConfig sets itself (not through content_options)
_CONTENT_OWN = ("eps", "defenses", "seed", "ks")


@dataclasses.dataclass(frozen=True)
class AuditConfig:
  """Hyper-parameters of ``jaxrec audit``.

  The training settings (``dim`` to ``optimizer``) default to ``None``: the model's own recipe
  (:func:`jaxrec.audit.model_defaults`); after construction they hold the values used, and
  stay ``None`` where the model has no such setting (the closed-form EASE and ItemKNN). BPR-MF's
  recipe follows Anelli, Di Noia, Merra (RecSys 2021) on MovieLens-100K: 64 factors, 200 epochs,
  learning rate 0.05, Adagrad; jaxrec uses batches of 4096 triples instead of their 512 (fewer,
  larger steps run faster on CPU and reach the same accuracy) and L2 0.01 (their grid searched
  it; 0.01 is at least as accurate on MovieLens-100K and clearly better on the bundled
  MovieTweetings set). See docs/training.md for the measurements.

  Attributes:
    model: the victim, one of :data:`jaxrec.training.MODELS` (``"bpr-mf"``, ``"lightgcn"``,
      ``"neumf"``, ``"ease"``, ``"itemknn"``); the clean model, and the model retrained on
      poisoned data in the attack section. The APR section needs ``"bpr-mf"``.
    dim: number of factors ``D``.
    epochs: training epochs (an epoch draws as many triples as there are training rows).
    lr: learning rate of ``optimizer`` (per-triple step: the BPR loss is summed over a batch).
    reg: L2 coefficient on the factors of each triple (EASE: its ridge ``lambda``).
    batch_size: triples per step.
    optimizer: one of ``"adagrad"`` (initial accumulator 0.1, as Keras), ``"sgd"``, ``"adam"``.
    seed: seed of initialisation, sampling and the random split (same seed, same report).
    ks: cut-offs of the ranking metrics.
    chunk_size: users scored at once during evaluation.
    split: ``"loo"`` (leave the latest interaction of each user out) or ``"ratio"`` (per-user
      random hold-out); ignored when the dataset comes with its own test split.
    test_ratio: share of each user's interactions held out by the ``"ratio"`` split.
    threshold: explicit-to-implicit conversion: keep ratings ``>= threshold`` (drop the rest);
      ``None`` keeps every interaction as positive feedback.
    attacks: fake-profile attacks of the attack section (names in
      :data:`jaxrec.audit.ATTACKS`; empty = no attack section). ``None`` (the default):
      ``random``, ``average`` and ``bandwagon`` with a ``threshold``; ``random`` and
      ``bandwagon`` without one, where average would inject the same interactions as random
      (the report says so). Push attacks push the targets;
      ``love_hate`` and ``reverse_bandwagon`` nuke them; ``revadv`` crafts push profiles by
      unrolled bilevel optimisation through a surrogate
      (:func:`jaxrec.attacks.poisoning.bilevel_crafter`), ``generator`` by a generator network
      trained through it with a discriminator term
      (:func:`jaxrec.attacks.poisoning.generator_crafter`, ``disc_weight=0.3``); both hold dense
      matrices (MovieLens-100K-size data).
    budgets: attack sizes: fractions of the real users in ``(0, 1)`` (see
      :func:`jaxrec.attacks.poisoning.num_fake_users`) or integer counts of fake users.
    num_targets: target items, each attacked separately.
    target_strategy: how targets are drawn (:func:`jaxrec.attacks.poisoning.select_targets`).
    target_ids: explicit raw item ids to attack instead (overrides the two above): integers,
      or strings for a dataset with string item ids (a numeric string also names an integer
      id).
    filler_size: non-target items per fake profile; ``None`` = the mean real profile length.
    num_selected: popular (bandwagon) or disliked (reverse bandwagon) items per profile.
    defense: defenses (names in :data:`DEFENSES`; a single name is accepted): ``"none"``
      (default) or any of ``"apr"``, ``"vat"``, ``"pamacf"``, ``"sharpcf"``, ``"detect"``,
      ``"pore"``.
      With attacks, each named defense and no defense are compared against every attack
      (:mod:`jaxrec.audit._defense_benchmark`: the targets pushed together, ``num_seeds``
      seeds). ``"apr"`` also adds the APR side-effects section (BPR pre-training for
      ``apr_pretrain_epochs``, default ``epochs // 2``, then APR for the rest of ``epochs``
      over the ``apr_eps`` x ``apr_lambda`` grid, next to BPR for ``epochs``).
    num_seeds: seeds of the defense benchmark (``seed``, ``seed + 1``, ...).
    apr_eps: APR radii per embedding row (absolute embedding units).
    apr_lambda: APR adversarial weights.
    apr_pretrain_epochs: BPR epochs before the adversarial phase.
    robustness_eps: budgets of the test-time FGSM and PGD attacks on the factors (per-row L2).
    pgd_num_steps: PGD iterations of the robustness attacks.
    image_size: ``(height, width)`` the item images are resized to (the CNN extractor's input
      resolution; :func:`jaxrec.data.load_image_folder`); ``None`` keeps their own size, which
      must then be the same for all. Used only with item images (the content section).
    content_eps: pixel budgets of the content section's attacks in /255 steps (``8`` = 8/255
      per pixel, L-infinity), each in ``[0, 255]``.
    content_defenses: defenses of the content section, a subset of ``"none"``, ``"amr"``,
      ``"robust-extractor"`` (:mod:`jaxrec.audit._content_section`).
    content_options: other :class:`~jaxrec.audit._content_section.ContentSettings` fields by
      name (e.g. ``{"extractor_epochs": 5, "num_push_items": 4}``); the rest keep their
      defaults. ``eps``, ``defenses``, ``seed`` and ``ks`` come from the fields above. A run
      with item images records every setting it used here (report ``config``), so that
      ``--config`` reruns it with the same ones. The content section runs only when
      :func:`jaxrec.audit.run_audit` is given item images.
  """

  model: str = "bpr-mf"
  dim: int | None = None
  epochs: int | None = None
  lr: float | None = None
  reg: float | None = None
  batch_size: int | None = None
  optimizer: str | None = None
  seed: int = 0
  ks: tuple[int, ...] = (10, 50, 100)
  chunk_size: int = 256
  split: str = "loo"
  test_ratio: float = 0.2
  threshold: float | None = None
  attacks: tuple[str, ...] | None = None
  budgets: tuple[float, ...] = (0.01, 0.05)
  num_targets: int = 5
  target_strategy: str = "unpopular"
  target_ids: tuple[int | str, ...] | None = None
  filler_size: int | None = None
  num_selected: int = 1
  defense: tuple[str, ...] = ("none",)
  num_seeds: int = 1
  apr_eps: tuple[float, ...] = (0.01, 0.1, 1.0)
  apr_lambda: tuple[float, ...] = (0.01, 0.1, 1.0)
  apr_pretrain_epochs: int | None = None
  robustness_eps: tuple[float, ...] = (0.1, 0.5, 1.0)
  pgd_num_steps: int = 10
  image_size: tuple[int, int] | None = None
  content_eps: tuple[float, ...] = DEFAULT_CONTENT_EPS
  content_defenses: tuple[str, ...] = CONTENT_DEFENSES
  content_options: Mapping[str, Any] | None = None

  def __post_init__(self):
    if self.model not in MODELS:
      raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
    defaults = model_defaults(self.model)
    for name in _TRAINING:
      given, default = getattr(self, name), getattr(defaults, name)
      if given is not None and default is None:
        raise ValueError(f"model {self.model!r} has no {name} setting, got {name}={given!r}")
      if given is None:
        object.__setattr__(self, name, default)
    self.victim()  # the training settings are validated where the victim is built
    _checks.integer("chunk_size", self.chunk_size, low=1)
    _checks.integer("seed", self.seed, low=0, high=2**32 - 1)
    _checks.real("test_ratio", self.test_ratio, low=0.0, low_open=True, high=1.0 - 1e-12)
    if self.threshold is not None:
      _checks.real("threshold", self.threshold, low=None)
    _checks.choice("split", self.split, SPLITS)
    if not self.ks:
      raise ValueError("ks must name at least one cut-off")
    object.__setattr__(self, "ks", tuple(sorted({_checks.integer("k", k, low=1)
                                                 for k in self.ks})))
    if self.attacks is None:
      object.__setattr__(self, "attacks", DEFAULT_ATTACKS if self.threshold is not None
                         else IMPLICIT_DEFAULT_ATTACKS)
    object.__setattr__(self, "attacks", tuple(self.attacks))
    for a in self.attacks:
      _checks.choice("attack", a, ATTACKS)
    if len(set(self.attacks)) != len(self.attacks):
      raise ValueError(f"attacks repeat a name: {self.attacks}")
    if self.attacks and not self.budgets:
      raise ValueError("budgets must name at least one attack size")
    for b in self.budgets:
      _checks.num_fake_users(b, 1)
    _checks.integer("num_targets", self.num_targets, low=1)
    _checks.choice("target_strategy", self.target_strategy, TARGET_STRATEGIES)
    if self.filler_size is not None:
      _checks.integer("filler_size", self.filler_size, low=0)
    _checks.integer("num_selected", self.num_selected, low=0)
    named = (self.defense,) if isinstance(self.defense, str) else tuple(self.defense)
    if not named:
      raise ValueError("defense must name at least one of " + ", ".join(DEFENSES))
    for d in named:
      _checks.choice("defense", d, DEFENSES)
    if len(set(named)) != len(named):
      raise ValueError(f"defense repeats a name: {named}")
    if "none" in named and len(named) > 1:
      raise ValueError(f"defense 'none' cannot be combined with defenses (got {named}); no "
                       "defense is always the benchmark's reference")
    object.__setattr__(self, "defense", named)
    _checks.integer("num_seeds", self.num_seeds, low=1)
    trained = [d for d in named if d in ("apr", "vat", "pamacf")]
    if trained and self.model != "bpr-mf":
      raise ValueError(f"the {trained[0].upper()} defense perturbs BPR-MF's factors; it needs "
                       f"model 'bpr-mf', got {self.model!r}")
    if self.num_seeds > 1 and named == ("none",):
      raise ValueError(f"num_seeds={self.num_seeds} sets the seeds of the defense benchmark; "
                       "name the defenses to compare (--defense)")
    needs_attacks = [d for d in named if d not in ("none", "apr")]
    if needs_attacks and not self.attacks:
      raise ValueError(f"the {needs_attacks[0]} defense is measured against attacks (the "
                       "defense benchmark); name attacks to run it against (--attacks)")
    if "sharpcf" in named and not self.epochs:
      raise ValueError(f"the SharpCF defense trains by minibatch steps; model {self.model!r} "
                       "is closed-form or trains no epochs")
    for name in ("apr_eps", "apr_lambda", "robustness_eps"):
      values = getattr(self, name)
      if not values:
        raise ValueError(f"{name} must name at least one value")
      for v in values:
        _checks.real(name, v)
    if self.apr_pretrain_epochs is not None:
      _checks.integer("apr_pretrain_epochs", self.apr_pretrain_epochs, low=0, high=self.epochs)
    _checks.integer("pgd_num_steps", self.pgd_num_steps, low=1)
    self._check_content()

  def _check_content(self) -> None:
    if self.image_size is not None:
      size = tuple(self.image_size)
      if len(size) != 2:
        raise ValueError(f"image_size must be (height, width), got {self.image_size!r}")
      object.__setattr__(self, "image_size", tuple(
          _checks.integer(f"image_size {what}", v, low=1) for what, v in zip(("height", "width"),
                                                                             size)))
    eps = tuple(self.content_eps)
    if not eps:
      raise ValueError("content_eps must name at least one pixel budget")
    for e in eps:
      _checks.real("content_eps (pixel budgets in /255 steps: 8 means 8/255)", e, high=255.0)
    object.__setattr__(self, "content_eps", tuple(float(e) for e in eps))
    defenses = tuple(self.content_defenses)
    if not defenses:
      raise ValueError("content_defenses must name at least one of "
                       f"{', '.join(CONTENT_DEFENSES)}")
    for d in defenses:
      _checks.choice("content defense", d, CONTENT_DEFENSES)
    if len(set(defenses)) != len(defenses):
      raise ValueError(f"content_defenses repeat a name: {defenses}")
    object.__setattr__(self, "content_defenses", defenses)
    options = dict(self.content_options or {})
    known = {f.name for f in dataclasses.fields(ContentSettings)} - set(_CONTENT_OWN)
    own = sorted(set(options) & set(_CONTENT_OWN))
    if own:
      raise ValueError(f"content_options cannot set {own}: they come from content_eps, "
                       "content_defenses, seed and ks")
    unknown = sorted(set(options) - known)
    if unknown:
      raise ValueError(f"content_options has unknown settings {unknown}; known: "
                       f"{', '.join(sorted(known))}")
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    object.__setattr__(self, "content_options", options)
    self.content_settings()  # validated where the settings are built

  def content_settings(self, **overrides: Any) -> ContentSettings:
    """The content section's settings: ``content_options``, then ``overrides``, with ``eps``,
    ``defenses``, ``seed`` and ``ks`` from this config.

    Raises:
      ValueError: invalid settings.
    """
    return ContentSettings(**{**self.content_options, **overrides}, eps=self.content_eps,
                           defenses=self.content_defenses, seed=self.seed, ks=self.ks)

  def victim(self) -> Victim:
    """The configured model with its training recipe (:func:`jaxrec.audit.make_victim`).

    Raises:
      ValueError: invalid training settings.
    """
    return make_victim(self.model, **{name: getattr(self, name) for name in _TRAINING})


def prepare_split(dataset: Dataset, config: AuditConfig
                  ) -> tuple[Interactions, Interactions, str, list[str]]:
  """Applies the threshold and the split of ``config``.

  Returns:
    ``(train, test, description, notes)``; ``description`` says which split was used, ``notes``
    what a user should know about it (cold-start test users or items, test pairs that are also
    training pairs and therefore can never be hit).

  Raises:
    ValueError: a threshold on data without ratings or one that removes every interaction, or
      a split that leaves no test interaction.
  """
  inter, test = dataset.interactions, dataset.test
  if config.threshold is not None:
    n = len(inter)
    inter = binarize(inter, config.threshold)
    if len(inter) == 0:
      raise ValueError(f"threshold {config.threshold} removed all {n} interactions (ratings "
                       f"range from {_rating_range(dataset.interactions)})")
    test = None if test is None else binarize(test, config.threshold)
  if test is not None:
    if len(test) == 0:
      raise ValueError("the test split has no interaction (after the threshold)")
    return inter, test, "predefined train/test files", _split_notes(inter, test, dataset)
  if config.split == "loo":
    train, test = leave_one_out(inter, seed=config.seed)
    how = "latest by timestamp" if inter.timestamps is not None else "seeded random"
    desc = f"leave-one-out ({how}) per user"
  else:
    train, test = random_holdout(inter, test_ratio=config.test_ratio, seed=config.seed)
    desc = f"per-user random hold-out, test_ratio={config.test_ratio}, seed={config.seed}"
  if len(test) == 0:
    raise ValueError(f"the {config.split} split left no test interaction (every user has fewer "
                     "than 2 interactions?)")
  return train, test, desc, _split_notes(train, test, dataset)


@dataclasses.dataclass(frozen=True, eq=False)
class ItemContent:
  """Item images and categories checked and shaped for the content section
  (:func:`item_content`).

  Attributes:
    images: ``(I, H, W, C) float32`` in ``[0, 1]``, one per item (items without an image hold
      the fill of :class:`jaxrec.data.ItemImages`).
    labels: ``(I,) int32`` categories when every item with an image has exactly one category,
      else the ``(I, C) float32`` multi-hot genres.
    has_image: ``(I,) bool``.
    summary: one line (:meth:`jaxrec.data.ItemImages.summary`).
    category_names: the category names (column ``c`` of the multi-hot, or label ``c``), or
      ``None``.
  """

  images: np.ndarray
  labels: np.ndarray
  has_image: np.ndarray
  summary: str
  category_names: tuple[str, ...] | None = None

  @property
  def multi_label(self) -> bool:
    """Whether the labels are multi-hot (some item with an image has several categories)."""
    return self.labels.ndim == 2


def item_content(images: ItemImages, categories: Any, *, num_items: int,
                 item_ids: Any = None, category_names: Any = None) -> ItemContent:
  """Checks item images and categories against the catalogue and shapes the labels.

  Categories: a multi-hot ``(I, C)`` array (as :func:`jaxrec.data.read_categories` returns)
  becomes ``(I,)`` integer labels (its argmax) when every item with an image has exactly one
  category, and stays multi-hot (genres) otherwise; an ``(I,)`` integer array is used as it is.
  Items without an image need no category; they are kept (filled image, never attacked).

  Args:
    images: one image per item (:func:`jaxrec.data.load_image_folder`).
    categories: ``(I, C)`` multi-hot or ``(I,)`` integer categories.
    num_items: the catalogue's size ``I``.
    item_ids: raw id of each item (``Dataset.item_ids``), for messages.
    category_names: names of the categories, for the report.

  Returns:
    An :class:`ItemContent`.

  Raises:
    ValueError: a size that is not the catalogue's, no item with an image, an item with an
      image but no category (named by raw id), fewer than two categories with at least 5 items
      with an image (the targeted attack needs a source and a target category).

  Source: jaxrec.
  """
  if not isinstance(images, ItemImages):
    raise ValueError(f"images must be jaxrec.data.ItemImages, got {type(images).__name__}")
  if images.num_items != num_items:
    raise ValueError(f"the images cover {images.num_items} items, the interaction data "
                     f"{num_items}")
  has = np.asarray(images.has_image, bool)
  if not has.any():
    raise ValueError("no item has an image")
  labels = np.asarray(categories)
  if labels.ndim not in (1, 2) or labels.shape[0] != num_items:
    raise ValueError(f"categories must be (num_items,) or (num_items, C) with num_items="
                     f"{num_items}, got shape {labels.shape}")
  raw = (lambda i: i) if item_ids is None else (lambda i: np.asarray(item_ids)[i].item())
  if labels.ndim == 2:
    counts = (labels > 0).sum(axis=1)
    bare = np.flatnonzero(has & (counts == 0))
    if bare.size:
      shown = ", ".join(repr(raw(i)) for i in bare[:10]) + (", ..." if bare.size > 10 else "")
      raise ValueError(f"{bare.size} items with an image have no category (raw ids {shown}); "
                       "every item with an image needs one")
    if np.all(counts[has] == 1):
      labels = np.argmax(labels, axis=1).astype(np.int32)
    else:
      labels = (labels > 0).astype(np.float32)
  else:
    if labels.dtype.kind not in "iu" or (labels.size and labels.min() < 0):
      raise ValueError("(num_items,) categories must be integers >= 0")
    labels = labels.astype(np.int32)
  per_class = (np.bincount(labels[has]) if labels.ndim == 1
               else labels[has].sum(axis=0).astype(np.int64))
  if int(np.sum(per_class >= 5)) < 2:
    raise ValueError("the targeted attack (TAaMR) needs at least two categories with 5 or more "
                     "items with an image each; the categories have "
                     f"{sorted(per_class.tolist(), reverse=True)[:10]} items with an image")
  names = None if category_names is None else tuple(str(n) for n in category_names)
  return ItemContent(images=np.asarray(images.images, np.float32), labels=labels, has_image=has,
                     summary=images.summary(), category_names=names)


def attacker_view(dataset: Dataset, test: Interactions) -> Interactions:
  """The training interactions *with their original ratings* (before any threshold): what an
  attacker knows of the platform. Every raw row whose (user, item) pair is held out for testing
  is removed."""
  raw = dataset.interactions
  n = max(raw.num_items, 1)
  held = np.asarray(test.users, np.int64) * n + np.asarray(test.items)
  keep = ~np.isin(np.asarray(raw.users, np.int64) * n + np.asarray(raw.items), held)
  return raw.select(keep)


def _rating_range(inter: Interactions) -> str:
  if inter.ratings is None or len(inter) == 0:
    return "nowhere: no ratings"
  r = np.asarray(inter.ratings)
  return f"{r.min():g} to {r.max():g}"


def _split_notes(train: Interactions, test: Interactions, dataset: Dataset) -> list[str]:
  """What is unusual about a split: cold-start users/items, test pairs seen in training."""
  notes = []
  train_users = np.zeros(train.num_users, bool)
  train_users[np.asarray(train.users)] = True
  train_items = np.zeros(train.num_items, bool)
  train_items[np.asarray(train.items)] = True
  tu, ti = np.asarray(test.users), np.asarray(test.items)
  cold_users = np.unique(tu[~train_users[tu]])
  if cold_users.size:
    notes.append(f"{cold_users.size} test users have no training interaction; they are ranked "
                 "from their initial embeddings (raw ids e.g. "
                 f"{dataset.user_ids[cold_users[:3]].tolist()})")
  cold_items = np.unique(ti[~train_items[ti]])
  if cold_items.size:
    notes.append(f"{cold_items.size} test items never occur in training (raw ids e.g. "
                 f"{dataset.item_ids[cold_items[:4]].tolist()}); they stay in the catalogue")
  key = lambda u, i: np.asarray(u, np.int64) * max(train.num_items, 1) + i  # noqa: E731
  both = np.isin(key(tu, ti), key(train.users, train.items))
  if both.any():
    notes.append(f"{int(both.sum())} test pairs also occur in training; training items are "
                 "masked from the lists, so these can never be hit")
  return notes
