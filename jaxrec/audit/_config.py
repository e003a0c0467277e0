"""The audit's typed configuration and the data preparation it starts from."""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxrec import _checks
from jaxrec.audit._registry import ATTACKS, MODELS, make_victim, model_defaults
from jaxrec.data import Dataset, Interactions, binarize, leave_one_out, random_holdout
from jaxrec.training import Victim

__all__ = ["AuditConfig", "attacker_view", "prepare_split"]

_TRAINING = ("dim", "epochs", "lr", "reg", "batch_size", "optimizer")
SPLITS = ("loo", "ratio")
TARGET_STRATEGIES = ("unpopular", "popular", "random")
DEFENSES = ("none", "apr")
DEFAULT_ATTACKS = ("random", "average", "bandwagon")
IMPLICIT_DEFAULT_ATTACKS = ("random", "bandwagon")  # average = random without a threshold


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
    defense: ``"none"`` or ``"apr"``: add the APR side-effects section (BPR pre-training for
      ``apr_pretrain_epochs``, default ``epochs // 2``, then APR for the rest of ``epochs``
      over the ``apr_eps`` x ``apr_lambda`` grid, next to BPR for ``epochs``).
    apr_eps: APR radii per embedding row (absolute embedding units).
    apr_lambda: APR adversarial weights.
    apr_pretrain_epochs: BPR epochs before the adversarial phase.
    robustness_eps: budgets of the test-time FGSM and PGD attacks on the factors (per-row L2).
    pgd_num_steps: PGD iterations of the robustness attacks.
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
  defense: str = "none"
  apr_eps: tuple[float, ...] = (0.01, 0.1, 1.0)
  apr_lambda: tuple[float, ...] = (0.01, 0.1, 1.0)
  apr_pretrain_epochs: int | None = None
  robustness_eps: tuple[float, ...] = (0.1, 0.5, 1.0)
  pgd_num_steps: int = 10

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
    _checks.choice("defense", self.defense, DEFENSES)
    if self.defense == "apr" and self.model != "bpr-mf":
      raise ValueError(f"the APR defense perturbs BPR-MF's factors; it needs model 'bpr-mf', "
                       f"got {self.model!r}")
    for name in ("apr_eps", "apr_lambda", "robustness_eps"):
      values = getattr(self, name)
      if not values:
        raise ValueError(f"{name} must name at least one value")
      for v in values:
        _checks.real(name, v)
    if self.apr_pretrain_epochs is not None:
      _checks.integer("apr_pretrain_epochs", self.apr_pretrain_epochs, low=0, high=self.epochs)
    _checks.integer("pgd_num_steps", self.pgd_num_steps, low=1)

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
