"""Defences of the content surface: AMR (adversarial training on VBPR's item features) and an
adversarially trained feature extractor (PGD adversarial training of the CNN).

AMR:
  Tang, He, Du, Yuan, Feng, Chua, "Adversarial Training Towards Robust Multimedia Recommender
  System", IEEE TKDE 2019: ``L = L_BPR(Theta; f) + lambda * L_BPR(Theta; f + Delta_adv)`` (Eq. 8)
  with ``Delta_adv = eps * Gamma / ||Gamma||``, ``Gamma = dL_BPR / dDelta`` (Eq. 6), per item
  feature row, treated as a constant (stop-gradient). jaxrec applies ``eps`` and the
  normalisation explicitly; a widely used re-implementation adds the raw gradient without either,
  which makes the radius depend on the loss scale (``tests/test_visual.py`` shows that jaxrec's
  term makes every batch harder: its BPR loss rises).
Robust extractor:
  Madry, Makelov, Schmidt, Tsipras, Vladu, "Towards Deep Learning Models Resistant to
  Adversarial Attacks", ICLR 2018, Eq. (2.1): train the CNN on PGD adversarial examples of each
  batch (L-infinity, eps in /255 steps, random start).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax

from jaxrec import _checks, losses
from jaxrec.attacks.content._pixels import feature_bpr_loss, perturb_features, perturb_images
from jaxrec.data._sampling import BPRBatch
from jaxrec.models._cnn import Extractor
from jaxrec.models._vbpr import VBPR, VBPRParams
from jaxrec.training._victim import Victim
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["amr", "amr_loss", "madry_adversary"]


def amr_loss(params: VBPRParams, batch: BPRBatch, data: Any, *, model: VBPR,
             eps: ArrayLike = 0.5, lambda_: ArrayLike = 1.0, num_steps: int = 1) -> Array:
  """AMR's training loss for VBPR (Tang et al., TKDE 2019, Eq. 8).

  ``model.loss(params, batch, data) + lambda_ * BPR(params; features + Delta_adv)``, where
  ``Delta_adv`` (:func:`jaxrec.attacks.evasion.perturb_features` with :func:`jaxrec.attacks.
  evasion.feature_bpr_loss`) maximises the batch's BPR loss within an L2 ball of radius ``eps``
  per item feature row (rows of items outside the batch get zero gradient and stay 0); it is a
  constant for differentiation. ``lambda_ = 0`` is VBPR exactly.

  Args:
    params: VBPR parameters. batch: ``(B,)`` triples. data: :class:`jaxrec.models.ContentData`.
    model: the VBPR model. eps: radius per feature row, in feature units (the extractor scales
      features to mean norm 1, so ``eps`` is relative to an average item's feature norm),
      ``>= 0``. lambda_: weight ``>= 0``. num_steps: inner steps (1 = the paper's FGSM rule).

  Returns:
    A scalar float32.

  Raises:
    ValueError: a negative or non-finite ``eps`` / ``lambda_`` (concrete).

  Source:
    Tang et al., TKDE 2019, Eq. (6)-(8).
  """
  _checks.real("lambda_", lambda_)
  clean = model.loss(params, batch, data)
  frozen = jax.lax.stop_gradient(params)
  adv, _ = perturb_features(feature_bpr_loss, jax.lax.stop_gradient(data.features),
                            (model, frozen, batch, batch.weights), eps=eps, num_steps=num_steps)
  x_ui, x_uj = model.pair_scores(params, jax.lax.stop_gradient(adv), batch)
  return clean + lambda_ * losses.bpr(x_ui, x_uj, batch.weights)


def amr(victim: Victim, *, eps: ArrayLike = 0.5, lambda_: ArrayLike = 1.0,
        num_steps: int = 1) -> Victim:
  """The AMR victim of a VBPR victim: the same model and recipe, trained with
  :func:`amr_loss` (continue from a VBPR-trained state, as the paper pre-trains).

  Raises:
    ValueError: a victim whose model is not VBPR; bad ``eps``, ``lambda_`` or ``num_steps``.

  Source:
    Tang et al., TKDE 2019.
  """
  if not isinstance(victim.model, VBPR):
    raise ValueError(f"AMR perturbs VBPR's item features; got a {victim.name!r} victim")
  _checks.real("eps", eps)
  _checks.real("lambda_", lambda_)
  _checks.integer("num_steps", num_steps, low=1)
  return victim.replace(loss=functools.partial(amr_loss, model=victim.model, eps=eps,
                                               lambda_=lambda_, num_steps=num_steps))


def madry_adversary(ext: Extractor, *, eps: ArrayLike = 8.0, num_steps: int = 3
                    ) -> Callable[[dict, Array, Array, PRNGKey], Array]:
  """The batch transform of PGD adversarial training for :func:`jaxrec.training.
  train_extractor`: untargeted L-infinity PGD (random start) that maximises the extractor's
  classification loss of the batch.

  Args:
    ext: the extractor. eps: budget in /255 steps, ``[0, 255]``. num_steps: PGD steps ``>= 1``
      (step ``2.5 * eps / num_steps``).

  Returns:
    ``adversary(params, images, labels, key) -> adversarial images``.

  Raises:
    ValueError: ``eps`` outside ``[0, 255]``; ``num_steps < 1``.

  Source:
    Madry et al., ICLR 2018, Eq. (2.1) and Sec. 4.
  """
  _checks.real("eps (in /255 pixel steps)", eps, high=255.0)
  _checks.integer("num_steps", num_steps, low=1)

  def adversary(params, images, labels, key):
    loss = lambda x, a: -ext.loss(a[0], x, a[1]) * x.shape[0]  # noqa: E731 (sum over images)
    adv, _ = perturb_images(loss, images, (jax.lax.stop_gradient(params), labels), eps=eps,
                            num_steps=num_steps, key=key)
    return adv

  return adversary

