"""Adversarial training with a per-user perturbation radius: APR's triple form, VAT, PamaCF.

APR (:mod:`jaxrec.defenses._adversarial`) perturbs whole embedding tables, one radius for every
row. The recent defenses against poisoning give each *user* their own radius, which needs the
perturbation per training triple rather than per table row (an item row is shared by many
users). In the triple form the batch's rows are gathered, the BPR loss is differentiated with
respect to the gathered rows ``(p_u, q_i, q_j)`` of every triple ``b``, and each gradient row is
scaled to the triple's radius::

  Delta_b = eps * w_b * Gamma_b / ||Gamma_b||,   Gamma_b = dL_BPR / d(p_u, q_i, q_j)_b

(one unit vector each for ``p_u``, ``q_i`` and ``q_j``), treated as a constant
(stop-gradient), and the loss is ``L_BPR + lambda * L_BPR(rows + Delta)`` summed over the batch.
``w_b`` is the per-user weight of the triple's user:

* ``1``: APR's triple form (the APR baseline of Zhang et al.'s code);
* an array ``(U,)``: a fixed weight per user;
* VAT (Zhang, Cao, Wu, Sun, Shen, Cheng, RecSys 2024, "Improving the Shortest Plank:
  Vulnerability-Aware Adversarial Training for Robust Recommender System", Sec. 4: the
  vulnerability function ``g(L(u|Theta))`` and ``Delta^VAT = rho g(.) Gamma / ||Gamma||``,
  their ``rho`` being ``eps`` here):
  ``w_u = gamma * sigmoid((mean_v L_v - L_u) / L_u)`` with ``L_u`` the user's summed BPR loss in
  the batch and the mean over the batch's distinct users: users the model fits well (small
  loss) are the vulnerable ones and get the larger radius;
* PamaCF (Zhang, Cao, Wu, Sun, Shen, Cheng, NeurIPS 2024, "Understanding and Improving
  Adversarial Collaborative Filtering for Robust Recommendation", Sec. 4):
  ``w_u = gamma * sigmoid(||p_u||^2 / mean_b ||p_b||^2 - 1)`` over the batch's triples: the
  radius grows with the user embedding's scale.

``gamma`` is ``user_lambda`` here (``user_lmb`` in the authors' code, default 2), ``eps`` the
base radius in embedding units (absolute, per gathered row), ``lambda`` the adversarial weight.
The weights are computed from the current parameters and batch without gradient, as in the
authors' code (github.com/Kaike-Zhang/VAT, github.com/Kaike-Zhang/PamaCF, ``_get_user_eps``);
their code starts the adversarial term after ``begin_adv = 5`` of 30 epochs
(:attr:`jaxrec.training.Victim.warmup_epochs`). One difference: jaxrec sums the losses over the
batch (its BPR convention), the authors average them; with Adam the scale does not matter, with
Adagrad/SGD it is the learning rate's.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxrec import _checks, losses
from jaxrec.data._sampling import BPRBatch
from jaxrec.models._mf import MF, MFParams, rowdot
from jaxrec.training._victim import Victim
from jaxrec.typing import Array, ArrayLike

__all__ = ["pamacf", "pamacf_weights", "triple_delta", "user_apr", "user_apr_loss", "vat",
           "vat_weights"]

UserWeights = Callable[[MFParams, BPRBatch], Array]
"""``weights(params, batch) -> (B,)`` non-negative radius multipliers of the batch's triples."""


def _unit_rows(x: Array) -> Array:
  """Rows scaled to unit L2 norm; all-zero rows stay zero (``x / max(||x||, 1e-12)``)."""
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _margins(params: MFParams, batch: BPRBatch, rows=None) -> Array:
  """``(B,)`` BPR margins ``s(u, i) - s(u, j)`` from gathered rows (default: the params')."""
  u, i, j = batch[:3]
  pu, qi, qj = rows if rows is not None else (params.user_emb[u], params.item_emb[i],
                                              params.item_emb[j])
  return rowdot(pu, qi - qj) + params.item_bias[i] - params.item_bias[j]


def triple_delta(params: MFParams, batch: BPRBatch, radius: ArrayLike
                 ) -> tuple[Array, Array, Array]:
  """The worst-case perturbation of every triple's gathered rows (FGSM, per triple).

  Args:
    params: BPR-MF parameters (``(U, D)`` and ``(I, D)`` float32 factors, ``(I,)`` biases).
    batch: ``(B,)`` in-range triples (ids are not checked: jittable).
    radius: ``(B,)`` or scalar float radius per triple, absolute embedding units, ``>= 0``.

  Returns:
    ``(delta_user, delta_pos, delta_neg)``, each ``(B, D)`` float32: ``radius_b`` times the unit
    gradient of the summed BPR loss with respect to the triple's user, positive-item and
    negative-item rows (zero where that gradient is zero), wrapped in ``stop_gradient``.

  Raises:
    Nothing (jittable).

  Source:
    He, He, Du, Chua, SIGIR 2018, Eq. (6) (FGSM with L2 normalisation), applied per triple as in
    Zhang et al.'s VAT / PamaCF code.
  """
  u, i, j = batch[:3]
  rows = jax.lax.stop_gradient((params.user_emb[u], params.item_emb[i], params.item_emb[j]))
  params = jax.lax.stop_gradient(params)
  grads = jax.grad(lambda r: losses.bpr(_margins(params, batch, r), 0.0, batch.weights))(rows)
  r = jnp.broadcast_to(jnp.asarray(radius, jnp.float32), u.shape)[:, None]
  return tuple(jax.lax.stop_gradient(r * _unit_rows(g)) for g in grads)


def vat_weights(params: MFParams, batch: BPRBatch, *, user_lambda: ArrayLike = 2.0) -> Array:
  """VAT's vulnerability weight of every triple's user (Zhang et al., RecSys 2024, Sec. 4).

  ``w_u = user_lambda * sigmoid(mean_L / L_u - 1)`` where ``L_u`` is user ``u``'s summed BPR
  loss over the batch's triples and ``mean_L`` the mean of ``L_u`` over the distinct users in
  the batch (``(mean_L - L_u) / L_u`` in the paper's notation; ``1e-9`` is added to ``L_u``).

  Args:
    params: BPR-MF parameters. batch: ``(B,)`` in-range triples.
    user_lambda: ``gamma``, the largest weight (a float ``>= 0``; the authors use 2).

  Returns:
    ``(B,)`` float32 weights in ``[0, user_lambda]``, without gradient.

  Raises:
    Nothing (jittable).

  Source:
    Zhang, Cao, Wu, Sun, Shen, Cheng, RecSys 2024, Sec. 4 (``g``); github.com/Kaike-Zhang/VAT
    (``VATCFTrainer._get_user_eps``).
  """
  params = jax.lax.stop_gradient(params)
  u = batch.users
  num_users = params.user_emb.shape[0]
  w = jnp.ones(u.shape, jnp.float32) if batch.weights is None else batch.weights
  per_triple = -jax.nn.log_sigmoid(_margins(params, batch)) * w
  per_user = jax.ops.segment_sum(per_triple, u, num_segments=num_users)
  present = jax.ops.segment_sum(w, u, num_segments=num_users) > 0
  mean = jnp.sum(jnp.where(present, per_user, 0.0)) / jnp.maximum(jnp.sum(present), 1)
  return jax.lax.stop_gradient(
      user_lambda * jax.nn.sigmoid(mean / (per_user[u] + 1e-9) - 1.0))


def pamacf_weights(params: MFParams, batch: BPRBatch, *, user_lambda: ArrayLike = 2.0) -> Array:
  """PamaCF's personalised magnitude of every triple's user (Zhang et al., NeurIPS 2024).

  ``w_b = user_lambda * sigmoid(||p_u||^2 / mean_b' ||p_u'||^2 - 1)``, the mean over the
  batch's triples (``1e-9`` added to it): users with larger embeddings get larger radii.

  Args:
    params: BPR-MF parameters. batch: ``(B,)`` in-range triples.
    user_lambda: the largest weight (a float ``>= 0``; the authors use 2).

  Returns:
    ``(B,)`` float32 weights in ``[0, user_lambda]``, without gradient.

  Raises:
    Nothing (jittable).

  Source:
    Zhang, Cao, Wu, Sun, Shen, Cheng, NeurIPS 2024, Sec. 4 (personalised magnitude);
    github.com/Kaike-Zhang/PamaCF (``PamaCFCFTrainer._get_user_eps``).
  """
  p = jax.lax.stop_gradient(params.user_emb[batch.users])
  w = jnp.sum(p * p, axis=-1)
  mean = (jnp.mean(w) if batch.weights is None else
          jnp.sum(batch.weights * w) / jnp.maximum(jnp.sum(batch.weights), 1.0))
  return jax.lax.stop_gradient(user_lambda * jax.nn.sigmoid(w / (mean + 1e-9) - 1.0))


def _weights_of(user_eps, params: MFParams, batch: BPRBatch) -> Array:
  if user_eps is None:
    return jnp.ones(batch.users.shape, jnp.float32)
  if callable(user_eps):
    return user_eps(params, batch)
  w = jnp.asarray(user_eps, jnp.float32)
  num_users = params.user_emb.shape[0]
  if w.shape != (num_users,):  # static: a shorter array would be gathered clamped
    raise ValueError(f"user_eps must hold one weight per user of the model, shape "
                     f"({num_users},), got {w.shape}")
  return w[batch.users]


def user_apr_loss(params: MFParams, batch: BPRBatch, data: Any = None, *, model: MF,
                  eps: ArrayLike = 0.5, lambda_: ArrayLike = 1.0,
                  user_eps: ArrayLike | UserWeights | None = None) -> Array:
  """APR's loss with a per-user radius, perturbing every triple's rows (module docstring).

  ``model.loss(params, batch) + lambda_ * BPR(rows + Delta)`` with ``Delta`` from
  :func:`triple_delta` at radius ``eps * w_b``. ``user_eps=None`` (``w = 1``) is APR's triple
  form; a ``(U,)`` array is a fixed weight per user (a constant array ``c`` equals ``user_eps=None``
  with ``eps * c``, exactly); :func:`vat_weights` and :func:`pamacf_weights` give VAT and PamaCF.
  With ``lambda_ = 0`` the value and gradient are BPR's.

  Args:
    params: BPR-MF parameters. batch: ``(B,)`` triples. data: passed to ``model.loss``.
    model: the BPR-MF model (its ``reg`` weighs the clean term's L2).
    eps: base radius (absolute embedding units, per gathered row), ``>= 0``; traceable.
    lambda_: weight of the adversarial term, ``>= 0``; traceable.
    user_eps: ``None``, a ``(U,)`` float array of weights ``>= 0``, or ``weights(params,
      batch) -> (B,)``.

  Returns:
    A scalar float32 to minimise.

  Raises:
    ValueError: a negative or non-finite ``eps`` or ``lambda_`` (when concrete); a ``user_eps``
      array whose length is not the model's number of users (fake users included).

  Source:
    He et al., SIGIR 2018, Eq. (8) (with per-triple perturbations); Zhang et al., RecSys 2024,
    Sec. 4 (VAT's per-user radius).
  """
  _checks.real("eps", eps, low=0.0)
  _checks.real("lambda_", lambda_, low=0.0)
  clean = model.loss(params, batch, data)
  du, di, dj = triple_delta(params, batch, eps * _weights_of(user_eps, params, batch))
  u, i, j = batch[:3]
  rows = (params.user_emb[u] + du, params.item_emb[i] + di, params.item_emb[j] + dj)
  return clean + lambda_ * losses.bpr(_margins(params, batch, rows), 0.0, batch.weights)


def user_apr(victim: Victim, *, eps: ArrayLike = 0.5, lambda_: ArrayLike = 1.0,
             user_eps: ArrayLike | UserWeights | None = None, warmup_epochs: int = 0
             ) -> Victim:
  """The victim trained with :func:`user_apr_loss` (same model and recipe).

  Args:
    victim: a BPR-MF victim.
    eps, lambda_, user_eps: :func:`user_apr_loss`. A ``(U,)`` array must cover the training
      data's users (fake users included when it trains on poisoned data).
    warmup_epochs: BPR epochs before the adversarial term starts
      (:attr:`jaxrec.training.Victim.warmup_epochs`; the authors' ``begin_adv``).

  Returns:
    A :class:`jaxrec.training.Victim`.

  Raises:
    ValueError: a victim whose model is not BPR-MF; a bad ``eps``, ``lambda_`` or
      ``warmup_epochs``; a ``user_eps`` array that is not 1-D, negative or non-finite.

  Source:
    He et al., SIGIR 2018 (APR); Zhang et al., RecSys 2024 and NeurIPS 2024 (per-user radii).
  """
  if not isinstance(victim.model, MF):
    raise ValueError(f"adversarial training of embeddings needs a BPR-MF victim; got a "
                     f"{victim.name!r} victim")
  _checks.real("eps", eps, low=0.0)
  _checks.real("lambda_", lambda_, low=0.0)
  if user_eps is not None and not callable(user_eps):
    arr = jnp.asarray(user_eps)
    if arr.ndim != 1:
      raise ValueError(f"user_eps must be a (U,) array of per-user weights, got shape "
                       f"{arr.shape}")
    _checks.real("user_eps", arr, low=0.0, array=True)
  _checks.integer("warmup_epochs", warmup_epochs, low=0)
  return victim.replace(loss=functools.partial(user_apr_loss, model=victim.model, eps=eps,
                                               lambda_=lambda_, user_eps=user_eps),
                        warmup_epochs=warmup_epochs)


def vat(victim: Victim, *, eps: ArrayLike = 0.5, lambda_: ArrayLike = 1.0,
        user_lambda: ArrayLike = 2.0, warmup_epochs: int = 0) -> Victim:
  """The VAT victim of a BPR-MF victim: per-user radius ``eps * vat_weights``.

  Args:
    victim: a BPR-MF victim.
    eps: base radius (absolute embedding units; the authors tune 0.3-0.6 for MF), ``>= 0``.
    lambda_: adversarial weight (authors: 1). user_lambda: :func:`vat_weights` (authors: 2).
    warmup_epochs: BPR epochs first (authors: 5 of 30).

  Returns:
    A :class:`jaxrec.training.Victim`.

  Raises:
    ValueError: as :func:`user_apr`; a negative or non-finite ``user_lambda``.

  Source:
    Zhang, Cao, Wu, Sun, Shen, Cheng, "Improving the Shortest Plank: Vulnerability-Aware
    Adversarial Training for Robust Recommender System", RecSys 2024, Sec. 4.
  """
  _checks.real("user_lambda", user_lambda, low=0.0)
  return user_apr(victim, eps=eps, lambda_=lambda_, warmup_epochs=warmup_epochs,
                  user_eps=functools.partial(vat_weights, user_lambda=user_lambda))


def pamacf(victim: Victim, *, eps: ArrayLike = 0.5, lambda_: ArrayLike = 1.0,
           user_lambda: ArrayLike = 2.0, warmup_epochs: int = 0) -> Victim:
  """The PamaCF victim of a BPR-MF victim: per-user radius ``eps * pamacf_weights``.

  Args:
    victim: a BPR-MF victim.
    eps: base radius (absolute embedding units; the authors tune 0.5-0.9 for MF), ``>= 0``.
    lambda_: adversarial weight (authors: 1). user_lambda: :func:`pamacf_weights` (authors: 2).
    warmup_epochs: BPR epochs first (authors: 5 of 30).

  Returns:
    A :class:`jaxrec.training.Victim`.

  Raises:
    ValueError: as :func:`user_apr`; a negative or non-finite ``user_lambda``.

  Source:
    Zhang, Cao, Wu, Sun, Shen, Cheng, "Understanding and Improving Adversarial Collaborative
    Filtering for Robust Recommendation", NeurIPS 2024, Sec. 4 (PamaCF).
  """
  _checks.real("user_lambda", user_lambda, low=0.0)
  return user_apr(victim, eps=eps, lambda_=lambda_, warmup_epochs=warmup_epochs,
                  user_eps=functools.partial(pamacf_weights, user_lambda=user_lambda))
