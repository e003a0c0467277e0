"""Pairwise ranking losses and regularisers (log-sigmoid based, numerically safe)."""

import jax
import jax.numpy as jnp

from jaxrec.typing import Array, ArrayLike

__all__ = ["bpr", "l2"]


def bpr(pos_scores: ArrayLike, neg_scores: ArrayLike, weights: ArrayLike | None = None) -> Array:
  """Bayesian Personalized Ranking loss, summed over the batch.

  ``sum_b w_b * -log sigma(pos_b - neg_b)``, computed as ``-log_sigmoid`` (never
  ``log(sigmoid(x))``, which underflows to ``-inf`` for large negative margins).

  The loss is *summed*, not averaged, so that a learning rate means a per-triple step, as in
  LearnBPR's stochastic gradient descent (Rendle et al. 2009, Fig. 4) and the APR reference code;
  divide by the batch size for a mean.

  Args:
    pos_scores: ``(B,) float`` scores ``s(u, i)`` of the positive items.
    neg_scores: ``(B,) float`` scores ``s(u, j)`` of the sampled negative items.
    weights: optional ``(B,) float`` per-triple weights (e.g. a validity mask).

  Returns:
    A scalar float.

  References:
    Rendle, Freudenthaler, Gantner, Schmidt-Thieme, "BPR: Bayesian Personalized Ranking from
    Implicit Feedback", UAI 2009, Eq. (5) (BPR-Opt, without the prior term).
  """
  losses = -jax.nn.log_sigmoid(jnp.asarray(pos_scores) - jnp.asarray(neg_scores))
  if weights is not None:
    losses = losses * jnp.asarray(weights)
  return jnp.sum(losses)


def l2(*arrays: ArrayLike, weights: ArrayLike | None = None) -> Array:
  """Half the squared L2 norm of all arrays together: ``0.5 * sum(x ** 2)``.

  With a coefficient ``reg`` the gradient is ``reg * x``, the weight-decay step of LearnBPR
  (``lambda_Theta * Theta``, Rendle et al. 2009, Fig. 4) and of ``tf.nn.l2_loss``.

  Args:
    *arrays: arrays of any shape; with ``weights``, each ``(B, ...)``: the rows a batch of
      ``B`` triples touches.
    weights: optional ``(B,) float`` per-row weights (a batch's triple weights,
      :class:`jaxrec.data.BPRBatch`): ``0.5 * sum_b w_b * sum(x_b ** 2)``.

  Returns:
    A scalar float (0.0 for no arrays).
  """
  if weights is None:
    return sum((0.5 * jnp.sum(jnp.square(jnp.asarray(a))) for a in arrays), jnp.float32(0.0))
  w = jnp.asarray(weights)
  return sum((0.5 * jnp.sum(w.reshape(w.shape + (1,) * (jnp.ndim(a) - 1)) * jnp.square(a))
              for a in arrays), jnp.float32(0.0))
