"""A victim: a model plus its training recipe.

The poisoning pipeline retrains a victim from scratch on poisoned data with the same recipe and
seed as the clean model; bundling the recipe with the model makes that a guarantee. The training
data are an argument of every function (never stored), because graph and neighbourhood models
read them: poisoning them changes the model, and gradients reach them.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import optax

from jaxrec import _checks
from jaxrec.data._index import PositiveIndex
from jaxrec.data._sampling import sample_bpr_triples
from jaxrec.models._base import Model
from jaxrec.typing import Array, PRNGKey

__all__ = ["Victim", "steps_per_epoch"]


def steps_per_epoch(num_rows: int, batch_size: int) -> int:
  """``ceil(num_rows / batch_size)`` (at least 1): the batches in one epoch (each row once in
  expectation).

  Raises:
    ValueError: a non-positive ``batch_size``.

  Source:
    jaxrec.
  """
  batch_size = _checks.integer("batch_size", batch_size, low=1)
  return max(1, math.ceil(int(num_rows) / batch_size))


def positives_of(data: Any) -> Any:
  """The training positives of ``data``: ``data.positives`` for content data
  (:class:`jaxrec.models.ContentData`), else ``data`` itself."""
  return getattr(data, "positives", data)


@dataclasses.dataclass(frozen=True)
class Victim:
  """A model and how it is trained (a static, hashable configuration).

  Training runs ``num_epochs`` epochs of ``steps_per_epoch`` steps of ``tx``
  (:func:`jaxrec.training.fit`); each step minimises ``loss(params, batch, data)`` on a batch
  drawn by ``sampler`` (BPR triples by default) or on the whole data (``batch_size=None``).
  A closed-form model (EASE, ItemKNN, the ALS surrogate, most-popular) has ``tx=None`` and
  ``num_epochs=0``: its ``init`` solves.

  Attributes:
    model: a :class:`jaxrec.models.Model`.
    tx: the optax optimiser (``None``: no training).
    num_epochs: static epochs ``>= 0``.
    batch_size: static triples per step, or ``None`` for full-batch steps (``batch=None``).
    steps_per_epoch: static steps per epoch; default ``ceil(N / batch_size)`` for the ``N``
      rows (capacity) of a :class:`jaxrec.data.PositiveIndex`, 1 for full batches.
    remat: checkpoint the steps (reverse mode through training stores ``O(sqrt T)`` iterates;
      :func:`jaxrec.optim.run`), for unrolled bilevel problems.
    loss: the training loss ``loss(params, batch, data)``; default ``model.loss`` (a defense
      such as APR replaces it).
    sampler: ``sampler(key, data, batch_size) -> batch``; default uniform BPR triples from a
      PositiveIndex (:func:`jaxrec.data.sample_bpr_triples`).
    warmup_epochs: static epochs, counted from the start of every training run, that train with
      the model's own loss before :attr:`loss` takes over (the BPR pre-training of adversarial
      training: ``begin_adv`` in Zhang et al.'s VAT and PamaCF code); the optimiser state
      carries on across the switch. 0 (default): :attr:`loss` from the first step.

  Raises:
    ValueError: (at construction) a model without the protocol's methods, a count out of range,
      training epochs without an optimiser.
  """

  model: Model
  tx: optax.GradientTransformation | None = None
  num_epochs: int = 0
  batch_size: int | None = None
  steps_per_epoch: int | None = None
  remat: bool = False
  loss: Callable[[Any, Any, Any], Array] | None = None
  sampler: Callable[[PRNGKey, Any, int], Any] | None = None
  warmup_epochs: int = 0

  def __post_init__(self):
    if not isinstance(self.model, Model):
      raise ValueError(f"model must implement jaxrec.models.Model (init, loss, score, "
                       f"score_all, scoring, name), got {type(self.model).__name__}")
    _checks.integer("num_epochs", self.num_epochs, low=0)
    _checks.integer("warmup_epochs", self.warmup_epochs, low=0, high=self.num_epochs)
    if self.batch_size is not None:
      _checks.integer("batch_size", self.batch_size, low=1)
    if self.steps_per_epoch is not None:
      _checks.integer("steps_per_epoch", self.steps_per_epoch, low=1)
    if self.num_epochs and self.tx is None:
      raise ValueError(f"a victim that trains ({self.num_epochs} epochs) needs an optimiser tx")

  @property
  def name(self) -> str:
    """The model's short name (reports)."""
    return self.model.name

  def warmup(self) -> "Victim | None":
    """The victim of the warm-up epochs (the model's own loss), or ``None`` without warm-up."""
    if not self.warmup_epochs or self.loss is None:
      return None
    return dataclasses.replace(self, loss=None, warmup_epochs=0)

  def objective(self, params, batch, data) -> Array:
    """The training loss: :attr:`loss`, or the model's."""
    return (self.loss or self.model.loss)(params, batch, data)

  def sample(self, key: PRNGKey, data: Any):
    """One batch for a step (``None`` for full-batch training).

    Raises:
      ValueError: BPR sampling from data that are not a PositiveIndex (give a ``sampler``).
    """
    if self.batch_size is None:
      return None
    if self.sampler is not None:
      return self.sampler(key, data, self.batch_size)
    data = positives_of(data)
    if not isinstance(data, PositiveIndex):
      raise ValueError(f"BPR sampling needs a PositiveIndex as training data, got "
                       f"{type(data).__name__}; give the victim a sampler")
    return sample_bpr_triples(key, data, self.batch_size)

  def steps(self, data: Any) -> int:
    """Static steps per epoch on ``data`` (see :attr:`steps_per_epoch`).

    Raises:
      ValueError: minibatches over data that are not a PositiveIndex without
        ``steps_per_epoch``.
    """
    if self.steps_per_epoch is not None:
      return self.steps_per_epoch
    if self.batch_size is None:
      return 1
    data = positives_of(data)
    if not isinstance(data, PositiveIndex):
      raise ValueError("give steps_per_epoch for minibatches over data that are not a "
                       "PositiveIndex")
    return steps_per_epoch(data.capacity, self.batch_size)

  def replace(self, **changes) -> "Victim":
    """A copy with some attributes changed (validated again)."""
    return dataclasses.replace(self, **changes)
