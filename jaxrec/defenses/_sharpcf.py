"""SharpCF: adversarial collaborative filtering as sharpness-aware training, at BPR's cost.

Chen, Li, Lai, Yeh, Fan, Zheng, Das, Yang, "Adversarial Collaborative Filtering for Free",
RecSys 2023 (arXiv 2308.13541). APR's min-max (a worst-case perturbation per step) seeks flat
minima, as sharpness-aware minimisation (SAM) does; SharpCF replaces the inner maximisation by a
*trajectory loss* that keeps the current predictions close to those of the model ``T`` epochs
earlier::

  L_SharpCF(Theta_t) = L_BPR(Theta_t) + lambda * sum_{(u, i) in B} (s_ui(Theta_t) - s_ui(Theta_{t-T}))^2

over the batch's observed pairs ``(u, i)``, the past model held fixed (no gradient). The paper
caches the past epoch's predictions per batch (its batches repeat every epoch); jaxrec samples
triples at random, so it keeps the past parameters instead and scores the batch's pairs with
them (one extra forward pass, no extra backward pass: the same value). ``lambda = 0`` is BPR
exactly (the SAM radius ``rho`` that the trajectory loss replaces is 0).

The past parameters travel with the model's: :class:`TrajectoryParams` holds the trained
parameters and a ring of the last ``T`` end-of-epoch snapshots, and
:func:`jaxrec.optim.trajectory_snapshots` wraps the optimiser so that it rolls the ring at the end of every epoch (the snapshots receive
no gradient step). :class:`TrajectoryModel` implements the model protocol by delegating to the
wrapped model, so every evaluator and attack scores a SharpCF victim as the plain model.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from jaxrec import _checks
from jaxrec.models._base import Model
from jaxrec.optim._transforms import TrajectoryParams, trajectory_snapshots
from jaxrec.training._victim import Victim
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["TrajectoryModel", "sharpcf", "sharpcf_loss"]


@struct.dataclass(kw_only=True)
class TrajectoryModel:
  """A model whose parameters carry ``lag`` past snapshots (:class:`TrajectoryParams`).

  Every protocol method delegates to ``base`` with ``params.params``; ``loss`` is the base
  model's (the trajectory term is :func:`sharpcf_loss`, the victim's loss).

  Attributes:
    base: the wrapped model. lag: static ``T >= 1``, epochs between the model and its anchor.
  """

  name: ClassVar[str] = "sharpcf"
  base: Any = struct.field(pytree_node=True, default=None)
  lag: int = struct.field(pytree_node=False, default=1)

  def init(self, key: PRNGKey, data: Any) -> TrajectoryParams:
    """The base model's initialisation, copied into every snapshot."""
    p = self.base.init(key, data)
    return TrajectoryParams(p, jax.tree.map(
        lambda x: jnp.broadcast_to(x, (self.lag,) + x.shape), p))

  def loss(self, params: TrajectoryParams, batch: Any, data: Any) -> Array:
    """The base model's loss (warm-up epochs train with it)."""
    return self.base.loss(params.params, batch, data)

  def score(self, params: TrajectoryParams, data: Any, users: ArrayLike,
            items: ArrayLike) -> Array:
    """The base model's ``score``."""
    return self.base.score(params.params, data, users, items)

  def score_all(self, params: TrajectoryParams, data: Any, users: ArrayLike) -> Array:
    """The base model's ``score_all``."""
    return self.base.score_all(params.params, data, users)

  def scoring(self, params: TrajectoryParams, data: Any) -> tuple[Any, Any]:
    """The base model's ``scoring`` (evaluators then rank with the plain model)."""
    return self.base.scoring(params.params, data)


def sharpcf_loss(params: TrajectoryParams, batch: Any, data: Any, *, model: TrajectoryModel,
                 lambda_: ArrayLike) -> Array:
  """SharpCF's training loss: the base model's loss plus ``lambda_`` times the trajectory loss.

  ``base.loss(params) + lambda_ * sum_b (s(u_b, i_b; params) - s(u_b, i_b; snapshot_0))^2``
  over the batch's users and positive items, the oldest snapshot (``T`` epochs back) held
  without gradient.

  Args:
    params: :class:`TrajectoryParams`. batch: BPR triples ``(users, pos_items, neg_items)``,
      each ``(B,)`` int32. data: the training data (passed to the base model).
    model: the :class:`TrajectoryModel`. lambda_: trajectory weight ``>= 0`` (traceable).

  Returns:
    A scalar float32.

  Raises:
    Nothing under tracing.

  Source:
    Chen et al., "Adversarial Collaborative Filtering for Free", RecSys 2023 (the trajectory
    loss, Sec. 4).
  """
  base = model.base
  clean = base.loss(params.params, batch, data)
  anchor = jax.lax.stop_gradient(jax.tree.map(lambda s: s[0], params.snapshots))
  u, i = batch[0], batch[1]
  gap = base.score(params.params, data, u, i) - base.score(anchor, data, u, i)
  w = 1.0 if batch.weights is None else batch.weights  # rejected triples: weight 0
  return clean + lambda_ * jnp.sum(w * gap * gap)


def sharpcf(victim: Victim, *, lambda_: ArrayLike = 1.0, lag: int = 1, steps_per_epoch: int,
            warmup_epochs: int = 0) -> Victim:
  """The SharpCF victim of a victim trained with BPR triples.

  Args:
    victim: a trained-by-steps victim (an optimiser and a batch size; any model with ``score``).
    lambda_: trajectory weight ``>= 0`` (0: BPR exactly). lag: ``T``, epochs back, ``>= 1``.
    steps_per_epoch: steps per epoch (e.g. ``victim.steps(data)``, or the clean data's count in
      poisoned retraining); the returned victim trains exactly this many per epoch, the
      period the snapshots roll at.
    warmup_epochs: epochs of the base loss first (the trajectory term's start epoch).

  Returns:
    A :class:`jaxrec.training.Victim` whose model is a :class:`TrajectoryModel` (params
    :class:`TrajectoryParams`; score and evaluate it as any victim).

  Raises:
    ValueError: a victim without optimiser or batch size; a bad ``lambda_``, ``lag``,
      ``steps_per_epoch`` (or one that differs from the victim's own) or ``warmup_epochs``.

  Warns:
    UserWarning: ``num_epochs <= lag`` (the anchor stays the initial parameters).

  Source:
    Chen, Li, Lai, Yeh, Fan, Zheng, Das, Yang, RecSys 2023 (arXiv 2308.13541).
  """
  if victim.tx is None or victim.batch_size is None:
    raise ValueError(f"SharpCF trains by minibatch steps; victim {victim.name!r} has no "
                     "optimiser or batch size")
  _checks.real("lambda_", lambda_, low=0.0)
  lag = _checks.integer("lag", lag, low=1)
  _checks.integer("warmup_epochs", warmup_epochs, low=0)
  if not isinstance(victim.model, Model):
    raise ValueError("victim.model must implement jaxrec.models.Model")
  steps_per_epoch = _checks.integer("steps_per_epoch", steps_per_epoch, low=1)
  if victim.steps_per_epoch is not None and victim.steps_per_epoch != steps_per_epoch:
    raise ValueError(f"steps_per_epoch={steps_per_epoch} differs from the victim's own "
                     f"{victim.steps_per_epoch}: the snapshots would not roll once per epoch")
  if victim.num_epochs <= lag:
    warnings.warn(f"SharpCF with lag {lag} over {victim.num_epochs} epochs: the trajectory "
                  "term pulls towards the initial parameters throughout (give more epochs "
                  "than the lag)", stacklevel=2)
  model = TrajectoryModel(base=victim.model, lag=lag)
  # the victim trains exactly steps_per_epoch steps per epoch: the period the snapshots roll at
  return victim.replace(
      model=model, tx=trajectory_snapshots(victim.tx, steps_per_epoch),
      loss=functools.partial(sharpcf_loss, model=model, lambda_=lambda_),
      steps_per_epoch=steps_per_epoch, warmup_epochs=warmup_epochs)
