"""Unrolled bilevel poisoning: fake profiles learned through the surrogate's training.

After Tang, Wen, Wang, "Revisiting Adversarially Learned Injection Attacks in Recommender
Systems" (RevAdv), RecSys 2020, Eq. (1)-(2) and Algorithm 1::

  min_{X_fake} L_adv(R_{theta*}[real users]),
  theta* = argmin_theta L_train(concat(X_real, X_fake), theta),

with ``theta*`` replaced by ``T`` unrolled Adam steps (:func:`jaxrec.attacks._surrogate.
fit_surrogate`), so ``jax.grad`` gives the exact hypergradient of the unrolled problem. The
adversarial variable is a dense relaxed ``(F, I)`` matrix appended under the real users' binary
``(U, I)`` matrix (fake user ``f`` is row ``U + f``, as :func:`jaxrec.attacks.inject` numbers
them); only the fake rows are optimised. After each outer step of an optax optimiser the
variable is projected (:func:`clip_unit`, or RevAdv's :func:`project_threshold`); the final
profiles are discretised under an exact filler budget by :func:`project_top_m`. Any surrogate
with ``fit`` and ``scores`` (:class:`jaxrec.attacks._surrogate.Surrogate`) can stand in, e.g.
ALS differentiated at its fixed point (:mod:`jaxrec.attacks._implicit`).

Outer objectives (to minimise), over the real users' scores ``(U, I)``: :func:`ce_loss`
(RevAdv's softmax cross-entropy toward the targets) and :func:`margin_loss` (the target's score
against the k-th best candidate). Evaluation helpers are dense and small-scale:
:func:`target_hr_at_k`, :func:`heldout_hr_at_k`.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrec.attacks._surrogate import Surrogate
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["BilevelState", "Objective", "bilevel_attack", "bilevel_init", "bilevel_loss",
           "bilevel_step", "ce_loss", "clip_unit", "heldout_hr_at_k", "margin_loss",
           "project_threshold", "project_top_m", "target_hr_at_k"]

Objective = Callable[[Array, Array, Array], Array]
"""``objective(scores (U, I), train (U, I) bool, targets (T,) int32) -> scalar`` to minimise,
e.g. ``functools.partial(margin_loss, k=10)``."""


def _concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


def _check_targets(targets, num_items: int) -> Array:
  t = jnp.asarray(targets)
  if t.ndim != 1 or not jnp.issubdtype(t.dtype, jnp.integer):
    raise ValueError(f"targets must be a 1-D integer array of item ids, got {t.dtype}{t.shape}")
  if _concrete(t) and t.size:
    tn = np.asarray(t)
    if tn.min() < 0 or tn.max() >= num_items:
      raise ValueError(f"target ids must lie in [0, {num_items}), got {tn.tolist()}")
    if np.unique(tn).size != tn.size:
      raise ValueError(f"targets repeat an item: {tn.tolist()}")
  return t.astype(jnp.int32)


def _check_matrix(name: str, x, num_items: int | None = None, *, binary: bool = False) -> Array:
  x = jnp.asarray(x)
  if x.ndim != 2 or not jnp.issubdtype(x.dtype, jnp.floating):
    raise ValueError(f"{name} must be a 2-D floating matrix, got {x.dtype}{x.shape}")
  if num_items is not None and x.shape[1] != num_items:
    raise ValueError(f"{name} has {x.shape[1]} items, expected {num_items}")
  if binary and _concrete(x) and not np.isin(np.asarray(x), (0.0, 1.0)).all():
    raise ValueError(f"{name} must hold only 0 and 1")
  return x


# ---------------------------------------------------------------------------------------------
# outer objectives


def _check_objective(scores, train, targets) -> tuple[Array, Array, Array]:
  """Validates an outer objective's inputs (shapes and dtypes always, target ids when
  concrete): ``scores (U, I)`` floating, ``train (U, I)`` bool, ``targets (T,)`` integers."""
  scores, train = jnp.asarray(scores), jnp.asarray(train)
  if scores.ndim != 2 or not jnp.issubdtype(scores.dtype, jnp.floating):
    raise ValueError(f"scores must be a 2-D floating (U, I) matrix, got {scores.dtype}"
                     f"{scores.shape}")
  if train.shape != scores.shape or train.dtype != jnp.bool_:
    raise ValueError(f"train must be a bool matrix of the scores' shape {scores.shape}, got "
                     f"{train.dtype}{train.shape}")
  return scores, train, _check_targets(targets, scores.shape[1])


def _pair_weights(train: Array, targets: Array, eligible_only: bool, dtype) -> Array:
  """``(U, T)`` 1 for the (user, target) pairs that count: all, or the user has not seen it."""
  seen = jnp.take(train, targets, axis=1)
  return (~seen if eligible_only else jnp.ones_like(seen)).astype(dtype)


def _reduce(values: Array, weights: Array, reduction: str) -> Array:
  total = jnp.sum(values * weights)
  if reduction == "sum":
    return total
  if reduction == "mean":
    return total / jnp.maximum(jnp.sum(weights), 1.0)
  raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")


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
    ValueError: bad shapes or dtypes, targets out of range or repeated (when concrete).

  Source:
    Tang, Wen, Wang, "Revisiting Adversarially Learned Injection Attacks in Recommender
    Systems", RecSys 2020, Eq. (4).
  """
  scores, train, targets = _check_objective(scores, train, targets)
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
  than all users (0.0074 against 0.0013; :func:`jaxrec.attacks.bilevel_crafter`).

  Args:
    scores: ``(U, I)``. train: ``(U, I) bool``. targets: ``(T,) int32``.
    k: static cut-off, ``1 <= k <= I - T``. kind, margin, reduction: see above.
    top_fraction: ``None`` (every eligible user) or a static fraction in ``(0, 1]``.

  Returns:
    A scalar.

  Raises:
    ValueError: a bad ``k``, ``kind`` or ``top_fraction``; bad shapes or dtypes, targets out
      of range or repeated (when concrete).
  """
  if top_fraction is not None and not 0 < top_fraction <= 1:
    raise ValueError(f"top_fraction must lie in (0, 1], got {top_fraction!r}")
  scores, train, targets = _check_objective(scores, train, targets)
  num_items = scores.shape[1]
  if isinstance(k, bool) or int(k) != k or not 1 <= k <= num_items - targets.shape[0]:
    raise ValueError(f"k must be an integer in [1, {num_items - targets.shape[0]}], got {k!r}")
  is_target = jnp.zeros((num_items,), bool).at[targets].set(True)
  cand = ~train & ~is_target[None, :]
  kth = jax.lax.top_k(jnp.where(cand, scores, -jnp.inf), int(k))[0][:, -1]
  kth = jnp.where(jnp.isfinite(kth), kth, jnp.min(scores))  # fewer than k candidates
  d = jnp.take(scores, targets, axis=1) - kth[:, None]
  if kind == "logsigmoid":
    values = -jax.nn.log_sigmoid(d)
  elif kind == "hinge":
    values = jax.nn.relu(margin - d)
  else:
    raise ValueError(f"kind must be 'logsigmoid' or 'hinge', got {kind!r}")
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
# projections


def clip_unit(relaxed: Array) -> Array:
  """Box projection onto ``[0, 1]`` (the default after each outer step).

  Raises:
    Nothing (any shape).

  Source:
    jaxrec: the box constraint of relaxed profiles, ``[0, 1]^(F x I)``.
  """
  return jnp.clip(relaxed, 0.0, 1.0)


def project_threshold(relaxed: Array, threshold: float = 0.2,
                      targets: ArrayLike | None = None) -> Array:
  """RevAdv's projection: ``1`` where ``relaxed > threshold`` (strictly), else ``0``.

  The reference notebook applies it with ``threshold = 0.2`` after every outer step, so the
  variable is binary whenever the surrogate is trained; the profile length is *not* fixed.
  ``targets`` (optional ``(T,)`` ids) are set to 1 in every row.

  Returns:
    A binary matrix of ``relaxed``'s shape and dtype.

  Raises:
    ValueError: ``relaxed`` not a 2-D floating matrix, bad targets.

  Source:
    Tang, Wen, Wang, "Revisiting Adversarially Learned Injection Attacks in Recommender
    Systems", RecSys 2020, reference notebook ``synthetic_exp.ipynb`` (threshold 0.2).
  """
  relaxed = _check_matrix("relaxed", relaxed)
  out = (relaxed > threshold).astype(relaxed.dtype)
  if targets is not None:
    out = out.at[:, _check_targets(targets, relaxed.shape[1])].set(1.0)
  return out


def project_top_m(relaxed: Array, m: int, targets: ArrayLike) -> Array:
  """Binary profiles under an exact budget: the targets plus the ``m`` largest other entries.

  Deterministic: among equal values the lower item id wins (``lax.top_k``'s order). Jittable
  (``m`` static).

  Args:
    relaxed: ``(F, I)`` floating relaxed profiles (NaN-free).
    m: static number of fillers per profile, ``0 <= m <= I - T``.
    targets: ``(T,)`` distinct item ids, set to 1 in every profile.

  Returns:
    ``(F, I)`` of ``relaxed``'s dtype with exactly ``m + T`` ones per row, the targets among them.

  Raises:
    ValueError: a non-matrix, targets out of range or repeated, ``m`` out of range.

  Source:
    jaxrec: the exact filler budget of shilling profiles (filler size as in Mobasher et al.,
    ACM TOIT 2007, Sec. 3) imposed on RevAdv's relaxed profiles.
  """
  relaxed = _check_matrix("relaxed", relaxed)
  f, num_items = relaxed.shape
  targets = _check_targets(targets, num_items)
  if isinstance(m, bool) or int(m) != m or not 0 <= m <= num_items - targets.shape[0]:
    raise ValueError(f"m must be an integer in [0, {num_items - targets.shape[0]}] (items "
                     f"{num_items} minus {targets.shape[0]} targets), got {m!r}")
  is_target = jnp.zeros((num_items,), bool).at[targets].set(True)
  out = jnp.zeros_like(relaxed).at[:, targets].set(1.0)
  if m == 0:
    return out
  _, idx = jax.lax.top_k(jnp.where(is_target[None, :], -jnp.inf, relaxed), int(m))
  return out.at[jnp.arange(f)[:, None], idx].set(1.0)


# ---------------------------------------------------------------------------------------------
# the bilevel problem


def bilevel_loss(fake: Array, real: Array, targets: Array, key: PRNGKey, *,
                 surrogate: Surrogate, objective: Objective) -> Array:
  """The outer loss of fake profiles: train the surrogate on ``[real; fake]``, score the real
  users, apply ``objective``. Differentiable in ``fake`` (the surrogate's hypergradient:
  unrolled for :class:`LFMSurrogate`, implicit for an implicit ``ALSSurrogate``).

  Args:
    fake: ``(F, I)`` floating (relaxed) fake profiles.
    real: ``(U, I)`` binary real users' training matrix, of ``fake``'s dtype.
    targets: ``(T,) int32``. key: surrogate initialisation key.
    surrogate: inner problem (:class:`jaxrec.attacks._surrogate.Surrogate`: ``fit`` then
      ``scores``): :class:`LFMSurrogate` (unrolled hypergradient, :func:`fit_surrogate` and
      :func:`lfm_scores`) or :class:`jaxrec.attacks._implicit.ALSSurrogate` (implicit one).
    objective: outer loss (:data:`Objective`).

  Returns:
    A scalar.

  Raises:
    Nothing is validated here (it runs under ``jit``/``grad``); :func:`bilevel_attack`
    validates its inputs.

  Source:
    Tang, Wen, Wang, "Revisiting Adversarially Learned Injection Attacks in Recommender
    Systems", RecSys 2020, Eq. (1)-(2): the outer loss through the unrolled inner training.
  """
  params = surrogate.fit(jnp.concatenate([real, fake], axis=0), key)
  scores = surrogate.scores(params)[:real.shape[0]]
  return objective(scores, real > 0, targets)


@struct.dataclass
class BilevelState:
  """Outer-loop state: ``fake (F, I)`` profiles, the optimiser state, ``step () int32``."""

  fake: Array
  opt_state: optax.OptState
  step: Array


def bilevel_init(fake0: Array, tx: optax.GradientTransformation) -> BilevelState:
  """The state before the first outer step.

  Raises:
    ValueError: ``fake0`` not a 2-D floating matrix.

  Source:
    jaxrec (optax state for the outer loop of RevAdv's Algorithm 1).
  """
  fake0 = _check_matrix("fake0", fake0)
  return BilevelState(fake=fake0, opt_state=tx.init(fake0), step=jnp.zeros((), jnp.int32))


def bilevel_step(state: BilevelState, real: Array, targets: Array, key: PRNGKey, *,
                 surrogate: Surrogate, objective: Objective, tx: optax.GradientTransformation,
                 project: Callable[[Array], Array] = clip_unit,
                 resample_init: bool = False) -> tuple[BilevelState, Array]:
  """One outer step: hypergradient at ``state.fake``, ``tx`` update, ``project`` (jittable).

  The surrogate starts from ``key`` at every step (RevAdv's notebook reseeds it), or from
  ``fold_in(key, step)`` with ``resample_init`` (a stochastic estimate over initialisations).

  Args:
    state: :func:`bilevel_init` or a previous step's state. real: ``(U, I)`` binary matrix.
    targets: ``(T,) int32``. key: surrogate key. surrogate, objective: see
      :func:`bilevel_loss`. tx: outer optax optimiser (static). project: applied after the
      update, e.g. ``functools.partial(project_top_m, m=..., targets=...)`` (static).

  Returns:
    ``(new_state, loss)`` with the outer loss at ``state.fake`` (before the update).

  Raises:
    Nothing is validated here (jittable); see :func:`bilevel_attack`.

  Source:
    Tang, Wen, Wang, "Revisiting Adversarially Learned Injection Attacks in Recommender
    Systems", RecSys 2020, Algorithm 1, one outer iteration.
  """
  k = jax.random.fold_in(key, state.step) if resample_init else key
  loss, grad = jax.value_and_grad(bilevel_loss)(state.fake, real, targets, k,
                                                surrogate=surrogate, objective=objective)
  updates, opt_state = tx.update(grad, state.opt_state, state.fake)
  fake = project(optax.apply_updates(state.fake, updates))
  return BilevelState(fake=fake, opt_state=opt_state, step=state.step + 1), loss


@functools.partial(jax.jit, static_argnames=("surrogate", "objective", "tx", "project",
                                             "resample_init", "num_steps"))
def _scan(state, real, targets, key, *, surrogate, objective, tx, project, resample_init,
          num_steps):
  def body(s, _):
    return bilevel_step(s, real, targets, key, surrogate=surrogate, objective=objective, tx=tx,
                        project=project, resample_init=resample_init)
  return jax.lax.scan(body, state, length=num_steps)


def bilevel_attack(real: ArrayLike, fake0: ArrayLike, targets: ArrayLike, key: PRNGKey, *,
                   surrogate: Surrogate, objective: Objective,
                   tx: optax.GradientTransformation, num_steps: int,
                   project: Callable[[Array], Array] = clip_unit,
                   resample_init: bool = False) -> tuple[Array, Array]:
  """Learns fake profiles by ``num_steps`` outer steps (one jitted ``lax.scan``).

  Validates at the boundary, then runs :func:`bilevel_step` ``num_steps`` times. RevAdv's
  synthetic setting: ``tx = optax.sgd(1.0, momentum=0.99)``, 50 steps, ``project =
  functools.partial(project_threshold, threshold=0.2)``, ``objective = functools.partial(
  ce_loss, eligible_only=False)``. Discretise the result with :func:`project_top_m` (or
  :func:`project_threshold`) before injecting it. ``objective``, ``tx`` and ``project`` are
  static: pass the same objects to reuse the compiled program.

  Args:
    real: ``(U, I)`` binary floating matrix of the real users' training interactions.
    fake0: ``(F, I)`` initial fake profiles in ``[0, 1]``, same dtype.
    targets: ``(T,)`` distinct item ids. key: surrogate initialisation key.
    surrogate, objective, tx, project, resample_init: see :func:`bilevel_step`.
    num_steps: static number of outer steps (>= 0).

  Returns:
    ``(fake, losses)``: the final (projected) profiles ``(F, I)`` and the ``(num_steps,)`` outer
    losses before each step.

  Raises:
    ValueError: non-matrix or non-binary ``real``, mismatched items or dtypes, ``fake0``
      outside ``[0, 1]``, bad targets, a negative ``num_steps``.
    TypeError: a ``surrogate`` without ``fit`` and ``scores``.

  Source:
    Tang, Wen, Wang, "Revisiting Adversarially Learned Injection Attacks in Recommender
    Systems", RecSys 2020, Algorithm 1 (outer loop) and Eq. (1)-(2).
  """
  if not isinstance(surrogate, Surrogate):
    raise TypeError(f"surrogate must have fit(data, key) and scores(params) (e.g. an "
                    f"LFMSurrogate or ALSSurrogate), got {type(surrogate).__name__}")
  real = _check_matrix("real", real, binary=True)
  fake0 = _check_matrix("fake0", fake0, real.shape[1])
  if fake0.dtype != real.dtype:
    raise ValueError(f"real and fake0 must share a dtype, got {real.dtype} and {fake0.dtype}")
  if _concrete(fake0) and fake0.size and not 0 <= np.min(np.asarray(fake0)) <= np.max(
      np.asarray(fake0)) <= 1:
    raise ValueError("fake0 entries must lie in [0, 1]")
  targets = _check_targets(targets, real.shape[1])
  if isinstance(num_steps, bool) or int(num_steps) != num_steps or num_steps < 0:
    raise ValueError(f"num_steps must be an integer >= 0, got {num_steps!r}")
  state, losses = _scan(bilevel_init(fake0, tx), real, targets, key, surrogate=surrogate,
                        objective=objective, tx=tx, project=project,
                        resample_init=resample_init, num_steps=int(num_steps))
  return state.fake, losses


# ---------------------------------------------------------------------------------------------
# dense evaluation


def _ranks(scores: Array, train: Array, items: Array) -> Array:
  """``(U, C)`` 1-based rank of ``items[u, c]`` among ``u``'s unseen items; ties: lower id
  first (the order of ``lax.top_k``)."""
  s = jnp.where(train, -jnp.inf, scores)
  s_i = jnp.take_along_axis(s, items, axis=1)  # (U, C)
  ids = jnp.arange(scores.shape[1])
  above = (s[:, None, :] > s_i[:, :, None]) | ((s[:, None, :] == s_i[:, :, None])
                                                & (ids[None, None, :] < items[:, :, None]))
  return 1 + jnp.sum(above, axis=2)


def target_hr_at_k(scores: Array, train: Array, targets: ArrayLike, k: int) -> Array:
  """Target HR@k of each target: the share of the real users who have not interacted with it
  whose top-``k`` unseen items contain it (jaxrec's target population, Mobasher et al. 2007;
  RevAdv's notebook divides by all real users instead: multiply by ``eligible / U``).

  Args:
    scores: ``(U, I)`` real users' scores. train: ``(U, I) bool`` training items (masked).
    targets: ``(T,)`` item ids. k: cut-off.

  Returns:
    ``(T,) float32`` (0 for a target no user is eligible for).

  Raises:
    ValueError: bad targets, shapes or ``k``.
  """
  scores, train = _check_eval(scores, train, k), jnp.asarray(train, bool)
  targets = _check_targets(targets, scores.shape[1])
  eligible = ~jnp.take(train, targets, axis=1)
  ranks = _ranks(scores, train, jnp.broadcast_to(targets[None, :], eligible.shape))
  hits = jnp.sum((ranks <= k) & eligible, axis=0)
  return (hits / jnp.maximum(jnp.sum(eligible, axis=0), 1)).astype(jnp.float32)


def heldout_hr_at_k(scores: Array, train: Array, test_items: ArrayLike, k: int) -> Array:
  """HR@k of one held-out item per user (leave-one-out), over users with ``test_items >= 0``.

  Args:
    scores: ``(U, I)``. train: ``(U, I) bool`` (masked; must not contain the test item).
    test_items: ``(U,)`` integer item per user, ``-1`` for none. k: cut-off.

  Returns:
    ``() float32``.

  Raises:
    ValueError: bad shapes, ``k``, or test items out of range.

  Source:
    Leave-one-out HR@k as in He et al., "Neural Collaborative Filtering", WWW 2017, Sec. 4.1.
  """
  scores, train = _check_eval(scores, train, k), jnp.asarray(train, bool)
  t = jnp.asarray(test_items)
  if t.shape != (scores.shape[0],) or not jnp.issubdtype(t.dtype, jnp.integer):
    raise ValueError(f"test_items must be ({scores.shape[0]},) integers, got {t.dtype}{t.shape}")
  if _concrete(t) and t.size and not -1 <= np.min(np.asarray(t)) <= np.max(
      np.asarray(t)) < scores.shape[1]:
    raise ValueError(f"test items must lie in [-1, {scores.shape[1]})")
  has = t >= 0
  ranks = _ranks(scores, train, jnp.maximum(t, 0)[:, None])[:, 0]
  return (jnp.sum((ranks <= k) & has) / jnp.maximum(jnp.sum(has), 1)).astype(jnp.float32)


def _check_eval(scores, train, k) -> Array:
  scores = jnp.asarray(scores)
  if scores.ndim != 2 or jnp.shape(train) != scores.shape:
    raise ValueError(f"scores and train must be (U, I) of one shape, got {scores.shape} and "
                     f"{jnp.shape(train)}")
  if isinstance(k, bool) or int(k) != k or not 1 <= k <= scores.shape[1]:
    raise ValueError(f"k must be an integer in [1, {scores.shape[1]}], got {k!r}")
  return scores
