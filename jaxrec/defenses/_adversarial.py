"""Adversarial training of BPR-MF: APR (adversarial personalized ranking).

Reference:
  He, He, Du, Chua, "Adversarial Personalized Ranking for Recommendation", SIGIR 2018:
  ``L_APR(theta) = L_BPR(theta) + lambda * L_BPR(theta + Delta_adv)`` (Eq. 8), with
  ``Delta_adv = eps * Gamma / ||Gamma||``, ``Gamma = dL_BPR(theta + Delta) / dDelta`` (Eq. 6),
  normalised per embedding row in the authors' code, treated as a constant when differentiating
  (the minimax's inner max is solved first; stop-gradient). Pre-train with BPR, then train with
  ``L_APR``.
Reference code:
  github.com/hexiangnan/adversarial_personalized_ranking (TensorFlow); Anelli, Di Noia, Merra's
  study code (sisinflab, RecSys 2021), which jaxrec's defaults follow (Adagrad, lr 0.05).
"""

from __future__ import annotations


import functools

import jax
import jax.numpy as jnp

from jaxrec.attacks._embedding import EmbeddingDelta, bpr_of_perturbed
from jaxrec.attacks._evasion import pgd
from jaxrec.attacks._run import run
from jaxrec.data._sampling import BPRBatch
from jaxrec.models._mf import MFParams, mf_bpr_objective
from jaxrec.training._loop import fit
from jaxrec.typing import Array, ArrayLike

__all__ = ["adversarial_delta", "apr_objective", "fit_apr_grid"]


def adversarial_delta(params: MFParams, batch: BPRBatch, *, eps: ArrayLike, num_steps: int = 1,
                      step_size: ArrayLike | None = None, norm: str = "l2",
                      axis: int | None = -1) -> EmbeddingDelta:
  """The worst-case perturbation of the factors for ``batch`` (APR's inner maximisation).

  ``num_steps=1`` is He et al.'s FGSM rule: the gradient of the batch's summed BPR loss with
  respect to the full factor tables (rows of users and items outside the batch have zero
  gradient and get zero perturbation), normalised per row and scaled by ``eps``. More steps run
  PGD from 0 (step ``2.5 * eps / num_steps`` by default) inside the same ball. The result is
  wrapped in ``stop_gradient``.

  Args:
    params: the model. batch: ``(B,)`` triples.
    eps: radius per embedding row (absolute, embedding units); may be a tracer.
    num_steps: static inner steps. step_size: inner step (default as above).
    norm, axis: budget, as :func:`jaxrec.attacks.pgd`.

  Returns:
    An :class:`jaxrec.attacks.EmbeddingDelta` (constant for differentiation).
  """
  if step_size is None:
    step_size = eps if num_steps == 1 else 2.5 * eps / num_steps
  zeros = EmbeddingDelta(jnp.zeros_like(params.user_emb), jnp.zeros_like(params.item_emb))
  loss = lambda d, args: -bpr_of_perturbed(d, *args)  # noqa: E731
  delta, _ = run(pgd(eps, step_size, norm=norm, axis=axis), loss, zeros,
                 (jax.lax.stop_gradient(params), batch), num_steps=num_steps)
  return jax.lax.stop_gradient(delta)


def apr_objective(params: MFParams, batch: BPRBatch, *, reg: ArrayLike = 0.0,
                  eps: ArrayLike = 0.5, lam: ArrayLike = 1.0, num_steps: int = 1,
                  step_size: ArrayLike | None = None, norm: str = "l2",
                  axis: int | None = -1) -> Array:
  """APR's training objective for BPR-MF (He et al., SIGIR 2018, Eq. 8).

  ``mf_bpr_objective(params, batch, reg) + lam * BPR(params + Delta_adv)``, ``Delta_adv`` from
  :func:`adversarial_delta` (FGSM for ``num_steps=1``, PGD for more). With ``lam = 0`` the value
  and gradient are exactly BPR's. With ``eps = 0`` the adversarial term equals the BPR term, so
  the objective is ``(1 + lam)`` times BPR's loss (plus the L2 term): the same minimiser, but not
  the same updates. ``eps`` and ``lam`` are traceable, so a grid trains as one ``vmap``-ed
  program. Published defaults: ``eps = 0.5``, ``lam = 1``.

  Args:
    params: the model. batch: ``(B,)`` triples.
    reg: L2 coefficient of the clean term (:func:`jaxrec.models.mf_bpr_objective`).
    eps: adversarial radius per embedding row (absolute embedding units).
    lam: weight of the adversarial term.
    num_steps, step_size, norm, axis: the inner attack (:func:`adversarial_delta`).

  Returns:
    A scalar float32 to minimise.
  """
  clean = mf_bpr_objective(params, batch, reg=reg)
  delta = adversarial_delta(params, batch, eps=eps, num_steps=num_steps, step_size=step_size,
                            norm=norm, axis=axis)
  return clean + lam * bpr_of_perturbed(delta, params, batch)


def fit_apr_grid(index, key, *, eps, lam, victim, pretrain_epochs: int,
                 adversarial_epochs: int, reg: ArrayLike = 0.0, num_steps: int = 1):
  """BPR pre-training once, then APR for every ``(eps, lam)`` pair, as one vmapped program.

  The schedule of He et al.: ``pretrain_epochs`` of BPR (shared by every setting), then
  ``adversarial_epochs`` of :func:`apr_objective` continuing from the pre-trained parameters and
  optimiser state. A pair with ``lam = 0`` is plain BPR for ``pretrain_epochs +
  adversarial_epochs`` epochs (the baseline, in the same program). Pure and jittable.

  Args:
    index: training positives.
    key: PRNG key of initialisation and sampling (every setting continues the same stream).
    eps, lam: ``(G,)`` arrays of adversarial radii and weights.
    victim: BPR-MF and its recipe (:func:`jaxrec.training.bpr_mf_victim`): initialisation,
      optimiser and batch size; its objective is the pre-training objective.
    pretrain_epochs, adversarial_epochs: static epoch counts.
    reg: L2 coefficient of APR's clean term (use the victim's).
    num_steps: inner attack steps (1 = FGSM, as He et al.).

  Returns:
    ``(params, curves)``: :class:`jaxrec.models.MFParams` with a leading ``(G,)`` axis and the
    ``(G, adversarial_epochs)`` mean losses of the adversarial phase.
  """
  state = victim.init(index, key)
  state, _ = fit(state, index, objective=functools.partial(victim.objective, index=index),
                 tx=victim.tx,
                 batch_size=victim.batch_size, num_epochs=pretrain_epochs)

  def adversarial(e, l):
    objective = functools.partial(apr_objective, reg=reg, eps=e, lam=l, num_steps=num_steps)
    final, curve = fit(state, index, objective=objective, tx=victim.tx,
                       batch_size=victim.batch_size, num_epochs=adversarial_epochs)
    return final.params, curve

  return jax.vmap(adversarial)(jnp.asarray(eps, jnp.float32), jnp.asarray(lam, jnp.float32))
