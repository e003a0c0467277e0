"""Unrolled bilevel poisoning: fake profiles learned through the surrogate's training.

After Tang, Wen, Wang, "Revisiting Adversarially Learned Injection Attacks in Recommender
Systems" (RevAdv), RecSys 2020, Eq. (1)-(2) and Algorithm 1::

  min_{X_fake} L_adv(R_{theta*}[real users]),
  theta* = argmin_theta L_train(concat(X_real, X_fake), theta),

with ``theta*`` the surrogate *victim* trained from scratch on the dense matrix ``[real; fake]``
(:func:`jaxrec.training.fit`: ``T`` unrolled Adam steps of the LFM surrogate, whose ``jax.grad``
is the exact hypergradient of the unrolled problem; or the ALS surrogate, differentiated
implicitly at its fixed point). The adversarial variable is a dense relaxed ``(F, I)`` matrix
appended under the real users' binary ``(U, I)`` matrix (fake user ``f`` is row ``U + f``, as
:func:`jaxrec.attacks.poisoning.inject` numbers them). The outer loop is one
:func:`jaxrec.optim.run` of an optax optimiser chained with a projection (the box ``[0, 1]``,
RevAdv's threshold, or an exact filler budget: :mod:`jaxrec.optim`).

Attack losses (to minimise) on the real users' scores ``(U, I)``: :func:`ce_loss` (RevAdv's
softmax cross-entropy toward the targets) and :func:`margin_loss` (the target's score against the
k-th best candidate). Evaluate crafted profiles with :func:`jaxrec.metrics.target_exposure`.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from jaxrec import _checks
from jaxrec.attacks.poisoning._surrogates import fit_surrogate
from jaxrec.optim import project, project_box, run
from jaxrec.training._victim import Victim
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["TargetLoss", "bilevel_attack", "bilevel_loss", "ce_loss", "margin_loss"]

TargetLoss = Callable[[Array, Array, Array], Array]
"""``loss(scores (U, I), seen (U, I) bool, targets (T,) int32) -> scalar`` to minimise: what a
promotion attacker wants of the real users' scores, e.g.
``functools.partial(margin_loss, k=10)``."""


def _check_scores(scores, seen, targets) -> tuple[Array, Array, Array]:
  """An attack loss's inputs: ``scores (U, I)`` floating, ``seen (U, I)`` bool, ``targets (T,)``
  distinct ids (values checked when concrete and under :func:`jaxrec.checked`)."""
  scores = _checks.matrix("scores", scores)
  seen = jnp.asarray(seen)
  if seen.shape != scores.shape or seen.dtype != jnp.bool_:
    raise ValueError(f"seen must be a bool matrix of the scores' shape {scores.shape}, got "
                     f"{seen.dtype}{seen.shape}")
  return scores, seen, _checks.ids("targets", targets, scores.shape[1], distinct=True,
                                   nonempty=True)


def _pair_weights(train: Array, targets: Array, eligible_only: bool, dtype) -> Array:
  """``(U, T)`` 1 for the (user, target) pairs that count: all, or the user has not seen it."""
  seen = jnp.take(train, targets, axis=1)
  return (~seen if eligible_only else jnp.ones_like(seen)).astype(dtype)


def _reduce(values: Array, weights: Array, reduction: str) -> Array:
  total = jnp.sum(values * weights)
  if _checks.choice("reduction", reduction, ("sum", "mean")) == "sum":
    return total
  return total / jnp.maximum(jnp.sum(weights), 1.0)


def ce_loss(scores: Array, train: Array, targets: Array, *, eligible_only: bool = True,
            reduction: str = "sum") -> Array:
  """Softmax cross-entropy of each real user's score row toward each target (RevAdv Eq. 4).

  ``sum_{u, t} -log softmax(scores_u)_t`` over all items (as RevAdv: seen items stay in the
  softmax), over the users who have not interacted with ``t`` (``eligible_only``, jaxrec's
  target population) or over all users (the reference notebook).

  Args:
    scores: ``(U, I)`` floating scores of the real users. train: ``(U, I) bool`` seen items.
    targets: ``(T,) int32`` items to promote. eligible_only: see above.
    reduction: ``"sum"`` (RevAdv; learning rates are tuned for it) or ``"mean"`` over pairs.

  Returns:
    A scalar.

  Raises:
    ValueError: bad shapes or dtypes; targets empty, out of range or repeated (values when
      concrete, or under :func:`jaxrec.checked`).

  Source:
    Tang, Wen, Wang, "Revisiting Adversarially Learned Injection Attacks in Recommender
    Systems", RecSys 2020, Eq. (4).
  """
  scores, train, targets = _check_scores(scores, train, targets)
  logp = jax.nn.log_softmax(scores, axis=1)
  return _reduce(-jnp.take(logp, targets, axis=1),
                 _pair_weights(train, targets, eligible_only, scores.dtype), reduction)


def margin_loss(scores: Array, train: Array, targets: Array, *, k: int = 10,
                kind: str = "logsigmoid", margin: float = 0.0, reduction: str = "sum",
                top_fraction: float | None = None) -> Array:
  """Target score against the ``k``-th best candidate, over eligible (user, target) pairs.

  ``d = s(u, t) - kth_u``, where ``kth_u`` is the ``k``-th largest score among ``u``'s
  candidates that are not targets (unseen items); ``t`` enters the top-``k`` when ``d > 0``
  (ties aside). ``kind="logsigmoid"`` minimises ``-log sigmoid(d)``, ``"hinge"`` minimises
  ``max(0, margin - d)`` (a CW-style loss, Carlini and Wagner, IEEE S&P 2017, Eq. for f_6).

  ``top_fraction`` (jaxrec's choice) keeps, for each target, only that fraction of its eligible
  users with the largest ``d`` (those closest to a hit; the selection carries no gradient). Far
  below the cut-off ``-log sigmoid(d)`` is linear, so over all users the loss raises the
  target's score evenly, i.e. its mean rank, not its hits; on MovieLens-100K (5 unpopular
  targets, 47 fake users, BPR-MF victim) ``top_fraction=0.05`` gave a 5x higher target HR@10
  than all users (0.0074 against 0.0013; :func:`jaxrec.attacks.poisoning.bilevel_crafter`).

  Args:
    scores: ``(U, I)``. train: ``(U, I) bool``. targets: ``(T,) int32``.
    k: static cut-off, ``1 <= k <= I - T``. kind, margin, reduction: see above.
    top_fraction: ``None`` (every eligible user) or a static fraction in ``(0, 1]``.

  Returns:
    A scalar.

  Raises:
    ValueError: a bad ``k``, ``kind`` or ``top_fraction``; a negative or non-finite ``margin``;
      bad shapes or dtypes; targets empty,
      out of range or repeated (values when concrete, or under :func:`jaxrec.checked`).

  Source:
    jaxrec; the margin of Carlini and Wagner, "Towards Evaluating the Robustness of Neural
    Networks", IEEE S&P 2017, Sec. V-A (``f_6``), applied to top-k membership.
  """
  if top_fraction is not None:
    _checks.real("top_fraction", top_fraction, low=0.0, low_open=True, high=1.0)
  _checks.choice("kind", kind, ("logsigmoid", "hinge"))
  _checks.real("margin", margin)
  scores, train, targets = _check_scores(scores, train, targets)
  num_items = scores.shape[1]
  k = _checks.integer("k", k, low=1, high=num_items - targets.shape[0])
  is_target = jnp.zeros((num_items,), bool).at[targets].set(True)
  cand = ~train & ~is_target[None, :]
  kth = jax.lax.top_k(jnp.where(cand, scores, -jnp.inf), int(k))[0][:, -1]
  kth = jnp.where(jnp.isfinite(kth), kth, jnp.min(scores))  # fewer than k candidates
  d = jnp.take(scores, targets, axis=1) - kth[:, None]
  if kind == "logsigmoid":
    values = -jax.nn.log_sigmoid(d)
  else:
    values = jax.nn.relu(margin - d)
  weights = _pair_weights(train, targets, True, scores.dtype)
  if top_fraction is not None:
    eligible = weights > 0
    num = jnp.maximum(1, jnp.ceil(top_fraction * jnp.sum(eligible, axis=0))).astype(jnp.int32)
    ranked = jnp.where(eligible, jax.lax.stop_gradient(d), -jnp.inf)
    order = jnp.argsort(-ranked, axis=0)  # (U, T): users by decreasing margin, per target
    position = jnp.zeros_like(order).at[order, jnp.arange(d.shape[1])[None, :]].set(
        jnp.arange(d.shape[0])[:, None])
    weights = weights * (position < num[None, :]).astype(scores.dtype)
  return _reduce(values, weights, reduction)


# ---------------------------------------------------------------------------------------------
# the bilevel problem


def bilevel_loss(fake: Array, real: Array, targets: Array, key: PRNGKey, *, surrogate: Victim,
                 loss: TargetLoss) -> Array:
  """The outer loss of fake profiles: train the surrogate from scratch on ``[real; fake]``,
  score the real users, apply ``loss``. Differentiable in ``fake`` (the surrogate's
  hypergradient: unrolled for the LFM surrogate, implicit for the ALS surrogate).

  The surrogate is trained by :func:`jaxrec.attacks.poisoning.fit_surrogate` (from
  ``surrogate.model.init(key, data)``; full-batch: no randomness beyond the start), so the inner
  problem is a deterministic function of the data for a given key (RevAdv reseeds it at every
  step).

  Args:
    fake: ``(F, I)`` floating (relaxed) fake profiles.
    real: ``(U, I)`` binary real users' training matrix, of ``fake``'s dtype.
    targets: ``(T,) int32``. key: surrogate initialisation key.
    surrogate: the inner problem, a :class:`jaxrec.training.Victim` on dense matrices
      (:func:`jaxrec.attacks.poisoning.lfm_surrogate`, :func:`jaxrec.attacks.poisoning.
      als_surrogate`).
    loss: the attack loss (:data:`TargetLoss`).

  Returns:
    A scalar.

  Raises:
    ValueError: shape and dtype problems (static); values are validated by
      :func:`bilevel_attack` and :func:`jaxrec.attacks.poisoning.craft_bilevel`.

  Source:
    Tang, Wen, Wang, "Revisiting Adversarially Learned Injection Attacks in Recommender
    Systems", RecSys 2020, Eq. (1)-(2): the outer loss through the unrolled inner training.
  """
  data = jnp.concatenate([real, fake], axis=0)
  params = fit_surrogate(surrogate, data, key)
  scores = surrogate.model.score_all(params, data, jnp.arange(real.shape[0]))
  return loss(scores, real > 0, targets)


def bilevel_attack(real: ArrayLike, fake0: ArrayLike, targets: ArrayLike, key: PRNGKey, *,
                   surrogate: Victim, loss: TargetLoss, tx: optax.GradientTransformation,
                   num_steps: int, projection: Callable[[Array], Array] | None = None,
                   relax: Callable[[Array], Array] | None = None,
                   resample_init: bool = False) -> tuple[Array, Array]:
  """Learns fake profiles by ``num_steps`` outer steps: one :func:`jaxrec.optim.run` of
  ``optax.chain(tx, project(projection))`` on :func:`bilevel_loss`.

  RevAdv's synthetic setting: ``tx = optax.sgd(1.0, momentum=0.99)``, 50 steps, ``projection =
  functools.partial(jaxrec.optim.project_threshold, threshold=0.2)``, ``loss =
  functools.partial(ce_loss, eligible_only=False)``. With ``relax``, the surrogate trains on
  ``relax(x)`` instead of the variable ``x`` itself (e.g. a straight-through exact-budget
  projection, :func:`jaxrec.attacks.poisoning.craft_bilevel`). Discretise the result with
  :func:`jaxrec.optim.project_top_m` (or :func:`jaxrec.optim.project_threshold`) before
  injecting it. Jittable (pass ``tx``, ``loss`` and the callables from outside the trace).

  Args:
    real: ``(U, I)`` binary floating matrix of the real users' training interactions.
    fake0: ``(F, I)`` initial fake profiles in ``[0, 1]``, same dtype (projected at the start).
    targets: ``(T,)`` distinct item ids, ``T >= 1``. key: surrogate initialisation key.
    surrogate: the inner problem (:func:`bilevel_loss`). loss: the attack loss.
    tx: outer optax optimiser. num_steps: static outer steps (>= 0).
    projection: applied after every step and at the start; default the box ``[0, 1]``.
    relax: what the surrogate trains on, as a function of the variable; default the variable.
    resample_init: the surrogate starts from a fresh key at every step (the running key of
      :func:`jaxrec.optim.run`, from ``key``), a stochastic estimate over initialisations.

  Returns:
    ``(fake, losses)``: the final (projected) variable ``(F, I)`` and the ``(num_steps,)`` outer
    losses before each step.

  Raises:
    ValueError: non-matrix or non-binary ``real``; ``fake0`` with other items or dtype, or
      outside ``[0, 1]``; targets empty, out of range or repeated; a negative ``num_steps``; a
      surrogate that is not a :class:`jaxrec.training.Victim`.

  Source:
    Tang, Wen, Wang, "Revisiting Adversarially Learned Injection Attacks in Recommender
    Systems", RecSys 2020, Algorithm 1 (outer loop) and Eq. (1)-(2).
  """
  if not isinstance(surrogate, Victim):
    raise ValueError(f"surrogate must be a jaxrec.training.Victim (e.g. lfm_surrogate()), got "
                     f"{type(surrogate).__name__}")
  real = _checks.matrix("real", real, binary=True)
  fake0 = _checks.matrix("fake0", fake0, num_cols=real.shape[1], unit=True)
  if fake0.dtype != real.dtype:
    raise ValueError(f"real and fake0 must share a dtype, got {real.dtype} and {fake0.dtype}")
  targets = _checks.ids("targets", targets, real.shape[1], distinct=True, nonempty=True)
  num_steps = _checks.integer("num_steps", num_steps, low=0)
  projection = projection or functools.partial(project_box, lower=0.0, upper=1.0)
  relax = relax or (lambda x: x)

  def outer(x, args, step_key=None):
    real, targets, key = args
    return bilevel_loss(relax(x), real, targets, key if step_key is None else step_key,
                        surrogate=surrogate, loss=loss)

  result = run(optax.chain(tx, project(projection)), outer, fake0, (real, targets, key),
               num_steps=num_steps, key=key if resample_init else None)
  return result.x, result.values
