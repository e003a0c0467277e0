"""Test-time attacks on the embeddings of a trained matrix-factorisation model.

The perturbation is a pair of tables ``(delta_user (U, D), delta_item (I, D))`` added to the
user and item factors (not to the biases); the attacker maximises the BPR loss of the training
triples (He et al., SIGIR 2018, Sec. 3.1), i.e. minimises its negative. This is the white-box
worst case a defence such as APR must survive.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from jaxrec import _checks
from jaxrec.attacks.evasion._bpr_grad import LAYOUTS, bpr_sum
from jaxrec.attacks.evasion._recipes import pgd
from jaxrec.data._index import PositiveIndex
from jaxrec.data._sampling import BPRBatch, sample_negatives
from jaxrec.models._mf import MFParams
from jaxrec.optim import random_start, run
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["EmbeddingDelta", "attack_triples", "bpr_of_perturbed", "perturb", "perturb_embeddings"]


class EmbeddingDelta(NamedTuple):
  """A perturbation of BPR-MF's factors: ``user (U, D) float32``, ``item (I, D) float32``."""

  user: Array
  item: Array


def perturb(params: MFParams, delta: EmbeddingDelta) -> MFParams:
  """``params`` with ``delta`` added to the user and item factors (biases unchanged).

  Raises:
    Nothing (jittable; shapes must match).

  Source:
    He et al., SIGIR 2018, Sec. 3.1 (``Theta + Delta``).
  """
  return params.replace(user_emb=params.user_emb + delta.user,
                        item_emb=params.item_emb + delta.item)


def bpr_of_perturbed(delta: EmbeddingDelta, params: MFParams, batch: BPRBatch,
                     weights: ArrayLike | None = None, *, layout: str = "auto") -> Array:
  """BPR loss (summed, no regulariser) of the perturbed model on ``batch``: the quantity the
  adversary of He et al. (SIGIR 2018, Eq. 6) maximises.

  Its gradient (with respect to ``delta``, ``params`` and ``weights``) is the closed-form
  per-row sum of :mod:`jaxrec.attacks.evasion._bpr_grad`, which never materialises the
  per-triple embedding rows that reverse-mode autodiff of the per-triple formula keeps; value
  and derivatives equal that formula's up to float32 rounding. ``layout`` picks the
  computation: ``"auto"`` (dense scores and a ``(U, I)`` coefficient matrix when the triples
  are dense enough and ``U * I <= 2**25``, else chunked segment sums), ``"sparse"``,
  ``"dense"``, or ``"autodiff"`` (the per-triple formula differentiated by JAX, as in 0.2).

  Args:
    delta: the perturbation, ``user (U, D)``, ``item (I, D)`` float32.
    params: the model (``user_emb (U, D)``, ``item_emb (I, D)``, ``item_bias (I,)`` float32).
    batch: ``(N,) int32`` in-range triples (``users, pos_items, neg_items``), and a
      :class:`~jaxrec.data.BPRBatch`'s ``weights`` when ``weights`` is not given.
    weights: optional ``(N,)`` float weights (0 for padding triples); default the batch's own
      (e.g. the importance weights of ``sample_bpr_triples(negatives="rejection")``), else 1.
    layout: ``"auto"``, ``"sparse"``, ``"dense"`` or ``"autodiff"`` (static).

  Returns:
    A scalar float32.

  Raises:
    ValueError: an unknown ``layout``; ``weights`` given while the batch carries other weights.

  Source:
    He, He, Du, Chua, "Adversarial Personalized Ranking for Recommendation", SIGIR 2018, Eq. (6).
  """
  own = getattr(batch, "weights", None)
  if weights is None:
    weights = own
  elif own is not None and own is not weights:
    raise ValueError("weights given twice: as an argument and as batch.weights; pass one")
  p = perturb(params, delta)
  return bpr_sum(p.user_emb, p.item_emb, p.item_bias, batch[0], batch[1], batch[2], weights,
                 layout=layout)


def attack_triples(key: PRNGKey, index: PositiveIndex) -> tuple[BPRBatch, Array]:
  """Every training pair with one uniformly sampled negative: the triples the test-time attack
  differentiates (as Anelli et al.'s code does for its full-gradient FGSM).

  Returns:
    ``(batch, weights)``: ``(N,)`` triples over the index's capacity and ``(N,) float32``
    weights, 0 for padding rows.

  Raises:
    Nothing (jittable; check the index with :func:`jaxrec.data.check_sampleable`).

  Source:
    Anelli, Bellogin, Deldjoo, Di Noia, Merra, FLAIRS 2021 (full-gradient attack triples).
  """
  valid = jnp.arange(index.capacity) < index.num_valid
  users = jnp.where(valid, index.users, 0)
  neg = sample_negatives(key, index, users)
  return BPRBatch(users, jnp.where(valid, index.items, 0), neg), valid.astype(jnp.float32)


def perturb_embeddings(key: PRNGKey, params: MFParams, batch: BPRBatch, weights: ArrayLike, *,
                       eps: ArrayLike, num_steps: int = 1, step_size: ArrayLike | None = None,
                       norm: str = "l2", axis: int | None = -1, direction: str | None = None,
                       random_init: bool = False,
                       layout: str = "auto") -> tuple[MFParams, EmbeddingDelta]:
  """FGSM / BIM / PGD on BPR-MF's factors: the perturbed model and the perturbation.

  Threat model: white-box, test time (the model is not retrained). The attacker maximises the
  summed BPR loss of ``batch`` (:func:`attack_triples`) over ``delta`` in the budget ball.

  * FGSM (He et al., SIGIR 2018): ``num_steps=1``, ``step_size=None`` (= ``eps``), no random
    start: ``delta = eps * g / ||g||`` per row.
  * BIM / PGD (Anelli et al., FLAIRS 2021): ``num_steps > 1``; ``random_init=True`` for PGD.
    The default step is ``2.5 * eps / num_steps`` (Madry et al.'s rule: the iterates can cross
    the ball from any start).

  Units: ``eps`` is an absolute Euclidean radius per embedding row in embedding space
  (``norm="l2", axis=-1``), or per element with ``norm="linf"``; ``>= 0``.

  Args:
    key: PRNG key (random start only).
    params: the trained model.
    batch, weights: the triples and their weights.
    eps: budget (may be a tracer). num_steps: static steps.
    step_size: step length; default ``eps`` for one step, ``2.5 * eps / num_steps`` otherwise.
    norm, axis, direction: as :func:`jaxrec.attacks.pgd`.
    random_init: start from a uniform point of the ball (PGD) instead of 0 (FGSM/BIM).
    layout: how the loss's gradient is computed (:func:`bpr_of_perturbed`): ``"auto"``
      (default), ``"sparse"``, ``"dense"``, or ``"autodiff"`` (0.2's reverse-mode autodiff of
      the per-triple formula; the same result up to float32 rounding, several times slower:
      ``benchmarks/pgd_step.py``).

  Returns:
    ``(perturbed_params, delta)``.

  Raises:
    ValueError: ``num_steps < 1``; a negative or non-finite ``eps`` or ``step_size``; bad
      ``norm``, ``axis`` or ``direction`` (:func:`pgd`); an unknown ``layout``.

  Source:
    He et al., SIGIR 2018, Eq. (6) (FGSM); Anelli et al., FLAIRS 2021 (BIM/PGD on embeddings);
    Madry et al., ICLR 2018 (step rule, random start).
  """
  num_steps = _checks.integer("num_steps", num_steps, low=1)
  _checks.choice("layout", layout, LAYOUTS)
  if step_size is None:
    step_size = eps if num_steps == 1 else 2.5 * eps / num_steps
  zeros = EmbeddingDelta(jnp.zeros_like(params.user_emb), jnp.zeros_like(params.item_emb))
  delta0 = random_start(key, zeros, eps, norm=norm, axis=axis) if random_init else zeros
  tx = pgd(eps, step_size, norm=norm, axis=axis, direction=direction)
  loss = lambda d, args: -bpr_of_perturbed(d, *args, layout=layout)  # noqa: E731  (minimise -BPR)
  delta = run(tx, loss, delta0, (params, batch, weights), num_steps=num_steps).x
  return perturb(params, delta), delta
