"""Training the image feature extractor (:class:`jaxrec.models.Extractor`) on item categories."""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from jaxrec import _checks
from jaxrec.models._cnn import Extractor
from jaxrec.optim import run
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["feature_scale", "train_extractor"]


def feature_scale(ext: Extractor, params: dict, images: ArrayLike, *, chunk: int = 512) -> Array:
  """The mean L2 norm of the raw (unscaled) features of ``images`` (chunked), the extractor's
  ``scale``: after it, the catalogue's clean features have mean norm 1.

  Args:
    ext: the extractor. params: its parameters (their ``scale`` is ignored here).
    images: ``(N, H, W, C) float32`` pixels in ``[0, 1]``. chunk: images per forward pass.

  Returns:
    A ``()`` float32 (1.0 when every feature vector is zero).

  Raises:
    Nothing beyond the extractor's own shape errors.

  Source:
    jaxrec (a fixed feature normalisation, so that feature-space budgets are relative to an
    average item; VBPR itself uses raw CNN features, He and McAuley, AAAI 2016).
  """
  raw = dict(params, scale=jnp.ones_like(params["scale"]))
  images = jnp.asarray(images)
  norms = [jnp.linalg.norm(ext.features(raw, images[s:s + chunk]), axis=1)
           for s in range(0, images.shape[0], chunk)]
  mean = jnp.mean(jnp.concatenate(norms))
  return jnp.where(mean > 0, mean, 1.0).astype(params["scale"].dtype)


def train_extractor(key: PRNGKey, ext: Extractor, images: ArrayLike, labels: ArrayLike, *,
                    num_epochs: int = 10, batch_size: int = 64,
                    tx: optax.GradientTransformation | None = None,
                    adversary: Callable[[dict, Array, Array, PRNGKey], Array] | None = None,
                    catalogue: ArrayLike | None = None) -> tuple[dict, Array]:
  """Trains the CNN to predict item categories; sets its feature ``scale`` on the catalogue.

  Minibatches are drawn uniformly with replacement, ``ceil(N / batch_size)`` steps per epoch,
  one :func:`jaxrec.optim.run` over all steps (same key, same weights). With ``adversary`` each
  batch is first replaced by ``adversary(params, images, labels, key)`` (adversarial training;
  :func:`jaxrec.defenses.madry_adversary`).

  Args:
    key: PRNG key (initialisation, batches, adversary).
    ext: the extractor. images: ``(N, H, W, C)`` float32 in ``[0, 1]``.
    labels: ``(N,) int`` categories in ``[0, C)``, or ``(N, C)`` multi-hot for a multi-label
      extractor.
    num_epochs, batch_size: schedule (static). tx: optimiser (default ``optax.adam(1e-3)``).
    adversary: optional batch transform (above).
    catalogue: the item images whose clean features define ``scale`` (default ``images``).

  Returns:
    ``(params, losses)``: the trained params (``scale`` set, :func:`feature_scale`) and the
    ``(steps,)`` training loss before each step.

  Raises:
    ValueError: pixels outside ``[0, 1]``; labels of the wrong shape or out of range; counts
      out of range.

  Source:
    jaxrec; Kingma, Ba, "Adam", ICLR 2015 (default optimiser).
  """
  from jaxrec.attacks.content._pixels import check_pixels  # pylint: disable=import-outside-toplevel
  images = check_pixels(images)
  n = images.shape[0]
  labels = jnp.asarray(labels)
  if ext.multi_label:
    if labels.shape != (n, ext.num_classes):
      raise ValueError(f"a multi-label extractor needs (N, {ext.num_classes}) multi-hot labels, "
                       f"got shape {labels.shape}")
  else:
    labels = _checks.ids("labels", labels, ext.num_classes)
    if labels.shape != (n,):
      raise ValueError(f"labels must be ({n},) category ids, got shape {labels.shape}")
  num_epochs = _checks.integer("num_epochs", num_epochs, low=0)
  batch_size = _checks.integer("batch_size", batch_size, low=1)
  tx = optax.adam(1e-3) if tx is None else tx
  k_init, k_train = jax.random.split(key)
  params = ext.init(k_init, images.shape[1:])
  steps = num_epochs * math.ceil(n / batch_size)
  params, values = _fit(ext, tx, adversary, params, (images, labels), k_train, steps,
                        batch_size)
  params = dict(params, scale=feature_scale(ext, params,
                                            images if catalogue is None else catalogue))
  return params, values


def _fit(ext, tx, adversary, params, data, key, steps, batch_size):
  @jax.jit
  def go(params, data, key):
    def loss(p, data, k):
      p = dict(p, scale=jax.lax.stop_gradient(p["scale"]))  # not trained: zero gradient
      x, y = data
      k_batch, k_adv = jax.random.split(k)
      idx = jax.random.randint(k_batch, (batch_size,), 0, x.shape[0])
      xb, yb = x[idx], y[idx]
      if adversary is not None:
        xb = jax.lax.stop_gradient(adversary(p, xb, yb, k_adv))
      return ext.loss(p, xb, yb)

    result = run(tx, loss, params, data, num_steps=steps, key=key)
    return result.x, result.values

  return go(params, data, key)

