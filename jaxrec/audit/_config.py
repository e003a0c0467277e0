"""The audit's typed configuration and the data preparation it starts from."""

from __future__ import annotations

import dataclasses

import optax

from jaxrec.data import Dataset, Interactions, binarize, leave_one_out, random_holdout

__all__ = ["AuditConfig", "make_optimizer", "prepare_split"]

OPTIMIZERS = ("adagrad", "sgd", "adam")
SPLITS = ("loo", "ratio")


@dataclasses.dataclass(frozen=True)
class AuditConfig:
  """Hyper-parameters of ``jaxrec audit``.

  Defaults follow Anelli, Di Noia, Merra (RecSys 2021) for BPR-MF on MovieLens-100K: 64 factors,
  200 epochs, learning rate 0.05, Adagrad; jaxrec uses batches of 4096 triples instead of their
  512 (fewer, larger steps run faster on CPU and reach the same accuracy) and L2 0.01 (their grid
  searched it; 0.01 is at least as accurate on MovieLens-100K and clearly better on the bundled
  MovieTweetings set). See docs/training.md for the measurements.

  Attributes:
    dim: number of factors ``D``.
    epochs: training epochs (an epoch draws as many triples as there are training rows).
    lr: learning rate of ``optimizer`` (per-triple step: the BPR loss is summed over a batch).
    reg: L2 coefficient on the factors of each triple.
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
  """

  dim: int = 64
  epochs: int = 200
  lr: float = 0.05
  reg: float = 0.01
  batch_size: int = 4096
  optimizer: str = "adagrad"
  seed: int = 0
  ks: tuple[int, ...] = (10, 50, 100)
  chunk_size: int = 256
  split: str = "loo"
  test_ratio: float = 0.2
  threshold: float | None = None

  def __post_init__(self):
    for name in ("dim", "batch_size", "chunk_size"):
      if int(getattr(self, name)) <= 0:
        raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
    if self.epochs < 0:
      raise ValueError(f"epochs must be >= 0, got {self.epochs}")
    if not self.lr > 0:
      raise ValueError(f"lr must be positive, got {self.lr}")
    if self.reg < 0:
      raise ValueError(f"reg must be >= 0, got {self.reg}")
    if self.optimizer not in OPTIMIZERS:
      raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
    if self.split not in SPLITS:
      raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
    if not self.ks or any(int(k) <= 0 for k in self.ks):
      raise ValueError(f"ks must be positive integers, got {self.ks}")
    object.__setattr__(self, "ks", tuple(sorted({int(k) for k in self.ks})))


def make_optimizer(name: str, lr: float) -> optax.GradientTransformation:
  """The optax optimiser named in :class:`AuditConfig`."""
  if name == "adagrad":
    return optax.adagrad(lr, initial_accumulator_value=0.1)
  if name == "sgd":
    return optax.sgd(lr)
  if name == "adam":
    return optax.adam(lr)
  raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def prepare_split(dataset: Dataset, config: AuditConfig) -> tuple[Interactions, Interactions, str]:
  """Applies the threshold and the split of ``config``.

  Returns:
    ``(train, test, description)``; ``description`` says which split was used.

  Raises:
    ValueError: a threshold on data without ratings, or a split that leaves no test user.
  """
  inter, test = dataset.interactions, dataset.test
  if config.threshold is not None:
    inter = binarize(inter, config.threshold)
    test = None if test is None else binarize(test, config.threshold)
  if test is not None:
    return inter, test, "predefined train/test files"
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
  return train, test, desc
