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

APR is a training loss: :func:`apr` turns a BPR-MF victim into its APR victim (the same model
and recipe, the loss replaced), so every pipeline that trains victims trains APR too.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec import _checks
from jaxrec.attacks.evasion._embedding import EmbeddingDelta, bpr_of_perturbed
from jaxrec.attacks.evasion._recipes import pgd
from jaxrec.data._sampling import BPRBatch
from jaxrec.experiment import execute
from jaxrec.models._mf import MF, MFParams
from jaxrec.optim import run
from jaxrec.training._loop import fit, init_state
from jaxrec.training._victim import Victim
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["adversarial_delta", "apr", "apr_loss", "fit_apr_grid"]


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
    eps: radius per embedding row (absolute, embedding units), ``>= 0``; may be a tracer.
    num_steps: static inner steps ``>= 1``. step_size: inner step (default as above).
    norm, axis: budget, as :func:`jaxrec.attacks.evasion.pgd`.

  Returns:
    An :class:`jaxrec.attacks.evasion.EmbeddingDelta` (constant for differentiation).

  Raises:
    ValueError: ``num_steps < 1``; a negative or non-finite ``eps`` / ``step_size``.

  Source:
    He, He, Du, Chua, SIGIR 2018, Eq. (6).
  """
  num_steps = _checks.integer("num_steps", num_steps, low=1)
  if step_size is None:
    step_size = eps if num_steps == 1 else 2.5 * eps / num_steps
  zeros = EmbeddingDelta(jnp.zeros_like(params.user_emb), jnp.zeros_like(params.item_emb))
  loss = lambda d, args: -bpr_of_perturbed(d, *args)  # noqa: E731
  delta = run(pgd(eps, step_size, norm=norm, axis=axis), loss, zeros,
              (jax.lax.stop_gradient(params), batch, batch.weights), num_steps=num_steps).x
  return jax.lax.stop_gradient(delta)


def apr_loss(params: MFParams, batch: BPRBatch, data: Any = None, *, model: MF,
             eps: ArrayLike = 0.5, lambda_: ArrayLike = 1.0, num_steps: int = 1,
             step_size: ArrayLike | None = None, norm: str = "l2",
             axis: int | None = -1) -> Array:
  """APR's training loss for BPR-MF (He et al., SIGIR 2018, Eq. 8).

  ``model.loss(params, batch) + lambda_ * BPR(params + Delta_adv)``, ``Delta_adv`` from
  :func:`adversarial_delta` (FGSM for ``num_steps=1``, PGD for more). With ``lambda_ = 0`` the
  value and gradient are exactly BPR's. With ``eps = 0`` the adversarial term equals the BPR
  term, so the loss is ``(1 + lambda_)`` times BPR's loss (plus the L2 term): the same
  minimiser, but not the same updates. ``eps`` and ``lambda_`` are traceable, so a grid trains
  as one ``vmap``-ed program. Published defaults: ``eps = 0.5``, ``lambda_ = 1``.

  Args:
    params: the model's parameters. batch: ``(B,)`` triples. data: unused (BPR-MF).
    model: the BPR-MF model (its ``reg`` weighs the clean term's L2).
    eps: adversarial radius per embedding row (absolute embedding units), ``>= 0``.
    lambda_: weight of the adversarial term, ``>= 0``.
    num_steps, step_size, norm, axis: the inner attack (:func:`adversarial_delta`).

  Returns:
    A scalar float32 to minimise.

  Raises:
    ValueError: as :func:`adversarial_delta`; a negative or non-finite ``lambda_``.

  Source:
    He, He, Du, Chua, SIGIR 2018, Eq. (8).
  """
  _checks.real("lambda_", lambda_)
  clean = model.loss(params, batch, data)
  delta = adversarial_delta(params, batch, eps=eps, num_steps=num_steps, step_size=step_size,
                            norm=norm, axis=axis)
  return clean + lambda_ * bpr_of_perturbed(delta, params, batch, batch.weights)


def apr(victim: Victim, *, eps: ArrayLike = 0.5, lambda_: ArrayLike = 1.0, num_steps: int = 1,
        step_size: ArrayLike | None = None, norm: str = "l2",
        axis: int | None = -1) -> Victim:
  """The APR victim of a BPR-MF victim: the same model and recipe, trained with
  :func:`apr_loss`.

  Args:
    victim: a BPR-MF victim (:class:`jaxrec.models.MF`).
    eps, lambda_, num_steps, step_size, norm, axis: :func:`apr_loss` (``eps`` and ``lambda_``
      may be tracers, e.g. inside a vmap over a grid).

  Returns:
    A :class:`jaxrec.training.Victim`.

  Raises:
    ValueError: a victim whose model is not BPR-MF; settings as :func:`apr_loss` (a bad
      ``eps``, ``lambda_``, ``num_steps``, ``step_size``, ``norm`` or ``axis``), at the call.

  Source:
    He, He, Du, Chua, SIGIR 2018 (APR for BPR-MF).
  """
  if not isinstance(victim.model, MF):
    raise ValueError(f"APR perturbs BPR-MF's factors; got a {victim.name!r} victim")
  _checks.real("lambda_", lambda_)
  _checks.integer("num_steps", num_steps, low=1)
  # the inner attack's own checks (eps, step_size, norm, axis), now rather than mid-training
  pgd(eps, eps if step_size is None else step_size, norm=norm, axis=axis)
  return victim.replace(loss=functools.partial(
      apr_loss, model=victim.model, eps=eps, lambda_=lambda_, num_steps=num_steps,
      step_size=step_size, norm=norm, axis=axis))


@functools.partial(jax.jit, static_argnames=("victim", "num_epochs"))
def _pretrain(key, data, *, victim, num_epochs):
  return fit(victim, init_state(victim, data, key), data, num_epochs=num_epochs)[0]


def fit_apr_grid(data, key: PRNGKey, *, eps: ArrayLike, lambda_: ArrayLike, victim: Victim,
                 pretrain_epochs: int, adversarial_epochs: int, num_steps: int = 1,
                 lanes: int | None = None, vectorize: bool = True,
                 timings: dict | None = None, progress: Callable[[int], None] | None = None):
  """BPR pre-training once, then APR for every ``(eps, lambda_)`` pair on the experiment
  executor (:func:`jaxrec.experiment.execute`: the settings vmapped in lane groups).

  The schedule of He et al.: ``pretrain_epochs`` of the victim's BPR (shared by every setting),
  then ``adversarial_epochs`` of :func:`apr` continuing from the pre-trained parameters and
  optimiser state. A pair with ``lambda_ = 0`` is plain BPR for ``pretrain_epochs +
  adversarial_epochs`` epochs (the baseline, in the same program).

  Args:
    data: training positives (a PositiveIndex).
    key: PRNG key of initialisation and sampling (every setting continues the same stream).
    eps, lambda_: ``(G,)`` adversarial radii and weights (``>= 0``).
    victim: BPR-MF and its recipe (initialisation, optimiser, batch size, L2).
    pretrain_epochs, adversarial_epochs: epoch counts ``>= 0``.
    num_steps: inner attack steps (1 = FGSM, as He et al.).
    lanes, vectorize, timings: :func:`jaxrec.experiment.execute`; ``timings`` also gets
      ``pretrain_s`` (the shared BPR pre-training, compilation included).
    progress: optional ``progress(n)`` after each program of the executor with its ``n``
      finished settings.

  Returns:
    ``(params, curves)``: :class:`jaxrec.models.MFParams` with a leading ``(G,)`` axis and the
    ``(G, adversarial_epochs)`` mean losses of the adversarial phase (NumPy arrays).

  Raises:
    ValueError: ``eps`` and ``lambda_`` of different lengths or empty, negative or non-finite
      values, epoch counts out of range, a victim that is not BPR-MF.

  Source:
    He, He, Du, Chua, SIGIR 2018, Sec. 4 (pre-train, then adversarial training).
  """
  eps = np.atleast_1d(np.asarray(eps, np.float32))
  lambda_ = np.atleast_1d(np.asarray(lambda_, np.float32))
  if eps.ndim != 1 or eps.shape != lambda_.shape or eps.size == 0:
    raise ValueError(f"eps and lambda_ must be 1-D arrays of one non-zero length, got shapes "
                     f"{eps.shape} and {lambda_.shape}")
  _checks.real("eps", eps, array=True)
  _checks.real("lambda_", lambda_, array=True)
  pretrain_epochs = _checks.integer("pretrain_epochs", pretrain_epochs, low=0)
  adversarial_epochs = _checks.integer("adversarial_epochs", adversarial_epochs, low=0)
  apr(victim)  # validates the victim
  t0 = time.perf_counter()
  state = jax.block_until_ready(_pretrain(key, data, victim=victim,
                                          num_epochs=pretrain_epochs))
  pretrain_s = time.perf_counter() - t0

  def setting(cell, shared):
    e, l = cell
    state, data = shared
    final, curve = fit(apr(victim, eps=e, lambda_=l, num_steps=num_steps), state, data,
                       num_epochs=adversarial_epochs)
    return final.params, curve

  outs = execute(setting, list(zip(eps, lambda_)), (state, data), lanes=lanes,
                 vectorize=vectorize, timings=timings, progress=progress)
  if timings is not None:
    timings["pretrain_s"] = pretrain_s
  return jax.tree.map(lambda *xs: np.stack(xs), *outs)
