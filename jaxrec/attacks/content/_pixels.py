"""Test-time attacks on item content: pixels of item images and the visual features of VBPR.

Threat model: the attacker is a seller who uploads a perturbed image of their own item(s). The
recommender is *not retrained*: the item's features are re-extracted from the perturbed image by
the same CNN and the trained model ranks with them (white box: the attacker differentiates
through CNN and recommender). Pixel budgets are L-infinity in /255 units (``eps=8`` allows
every 8-bit channel value to move by 8 levels) inside the valid box ``[0, 1]``; PGD steps the
sign of the gradient (Madry et al., ICLR 2018) through :func:`jaxrec.optim.run`.

Attack losses (to *minimise*, one per goal):

* :func:`category_loss`: targeted misclassification, the CNN predicts ``target``
  (TAaMR: Di Noia, Malitesta, Merra, DSN-W 2020);
* :func:`score_push_loss`: raise the mean predicted score of the attacked items over a set of
  users, back-propagating through the recommender and the CNN jointly ("double
  back-propagation", in the spirit of AIP: Liu and Larson, "Adversarial Item Promotion",
  WWW 2021); :func:`top_k_push_loss`: the same path, aimed at HR@k (a smooth count of the
  users whose top-k lists the items enter);
* :func:`feature_bpr_loss`: AMR's threat model in feature space (maximise the BPR loss of the
  training triples over perturbed item features; Tang et al., TKDE 2019).

Drivers: :func:`perturb_images` (pixel PGD/FGSM) and :func:`perturb_features` (feature PGD).
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec import _checks, losses
from jaxrec.attacks.evasion._recipes import pgd
from jaxrec.optim import random_start, run
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["category_loss", "check_pixels", "feature_bpr_loss", "kth_scores",
           "perturb_features", "perturb_images", "pixel_eps", "replace_features",
           "score_push_loss", "top_k_push_loss"]


def pixel_eps(eps: ArrayLike) -> ArrayLike:
  """``eps / 255``: a pixel budget given in /255 steps as an absolute distance in ``[0, 1]``.

  Args:
    eps: budget in 8-bit levels, ``0 <= eps <= 255`` (a scalar or array; may be a tracer).

  Returns:
    ``eps / 255`` (same kind as ``eps``).

  Raises:
    ValueError: a concrete ``eps`` outside ``[0, 255]``, NaN or infinite (traced: under
      :func:`jaxrec.checked`).

  Warns:
    UserWarning: a concrete ``eps`` in ``(0, 0.5)``, most likely a budget already divided by
      255 (``8 / 255`` instead of ``8``).

  Source:
    The /255 convention of image attacks (Madry et al., ICLR 2018, Sec. 4: eps = 8 on 0-255
    CIFAR-10 pixels).
  """
  _checks.real("eps (in /255 pixel steps)", eps, low=0.0, high=255.0, array=True)
  if _checks.is_concrete(eps) and np.any((np.asarray(eps) > 0) & (np.asarray(eps) < 0.5)):
    warnings.warn(f"eps={eps} is in /255 pixel steps, i.e. {np.max(eps) / 255:.2g} in pixel "
                  "units; for 8/255 pass eps=8", UserWarning, stacklevel=3)
  return eps / 255.0


def check_pixels(images: Any, name: str = "images") -> Array:
  """Checked ``(N, H, W, C)`` floating images with values in ``[0, 1]``.

  Args:
    images: pixels; name: the argument's name for the message.

  Returns:
    ``images`` as a JAX array (a tracer is returned as it is, after the static checks).

  Raises:
    ValueError: not 4-D, not floating, NaN, or a value outside ``[0, 1]`` (concrete images;
      the message gives the range found).

  Source:
    jaxrec (the input check of every pixel attack).
  """
  if isinstance(images, jax.core.Tracer):
    if images.ndim != 4 or not jnp.issubdtype(images.dtype, jnp.floating):
      raise ValueError(f"{name} must be (N, H, W, C) floating pixels, got "
                       f"{images.dtype}{tuple(images.shape)}")
    return images
  x = np.asarray(images)
  if x.ndim != 4 or x.dtype.kind != "f":
    raise ValueError(f"{name} must be (N, H, W, C) floating pixels in [0, 1], got "
                     f"{x.dtype}{tuple(x.shape)}")
  if x.size and (np.isnan(x).any() or x.min() < 0.0 or x.max() > 1.0):
    raise ValueError(f"{name} must hold pixels in [0, 1] (divide 8-bit images by 255), found "
                     f"values in [{np.nanmin(x):.4g}, {np.nanmax(x):.4g}]"
                     + (" and NaN" if np.isnan(x).any() else ""))
  return jnp.asarray(images)


def perturb_images(attack_loss: Callable[[Array, Any], Array], images: ArrayLike, args: Any, *,
                   eps: ArrayLike, num_steps: int = 10, step_size: ArrayLike | None = None,
                   key: PRNGKey | None = None) -> tuple[Array, Array]:
  """L-infinity FGSM / PGD on pixels: ``min_delta attack_loss(images + delta, args)`` subject
  to ``|delta| <= eps / 255`` element-wise and ``images + delta`` in ``[0, 1]``.

  FGSM: ``num_steps=1`` without ``key`` (step = eps). PGD: more steps, step ``2.5 * eps /
  num_steps`` by default (Madry et al.'s rule), a uniform random start in the ball with ``key``.
  Each image's perturbation is its own: a loss that is a sum over images gives every image its
  own attack in one program.

  Args:
    attack_loss: ``attack_loss(perturbed (N, H, W, C), args) -> ()`` to minimise (e.g.
      :func:`category_loss`, :func:`score_push_loss` with arguments bound).
    images: ``(N, H, W, C)`` clean pixels in ``[0, 1]``.
    args: whatever the loss reads (model and CNN parameters, data): passed, not closed over.
    eps: budget in /255 steps, ``0 <= eps <= 255`` (``8`` means 8/255); a scalar, or an array
      broadcastable to the images (e.g. ``(N, 1, 1, 1)``: one budget per image).
    num_steps: static steps ``>= 1``. step_size: step in /255 steps (default above).
    key: random start (PGD); ``None`` starts at the clean image.

  Returns:
    ``(perturbed, delta)``, both ``(N, H, W, C)``; ``perturbed`` in ``[0, 1]``.

  Raises:
    ValueError: pixels outside ``[0, 1]`` or not ``(N, H, W, C)``; ``eps`` or ``step_size``
      outside ``[0, 255]`` or not broadcastable to the images; ``num_steps < 1``.

  Source:
    Goodfellow, Shlens, Szegedy, ICLR 2015 (FGSM); Madry, Makelov, Schmidt, Tsipras, Vladu,
    ICLR 2018 (PGD, the box projection after the ball's).
  """
  images = check_pixels(images)
  num_steps = _checks.integer("num_steps", num_steps, low=1)
  for name, value in (("eps", eps), ("step_size", step_size)):
    try:
      fits = np.ndim(value) in (0, images.ndim) and np.broadcast_shapes(
          np.shape(value), images.shape) == images.shape
    except ValueError:
      fits = False
    if not fits:
      raise ValueError(f"{name} of shape {np.shape(value)} does not broadcast against the "
                       f"images {images.shape}: give a scalar or, per image, shape "
                       f"(N, 1, 1, 1)")
  radius = pixel_eps(eps)
  if step_size is None:
    step = radius if num_steps == 1 else 2.5 * radius / num_steps
  else:
    step = pixel_eps(step_size)
  delta0 = jnp.zeros_like(images)
  if key is not None:
    delta0 = random_start(key, delta0, radius, norm="linf")
  tx = pgd(radius, step, norm="linf", box=(0.0, 1.0), center=images)
  delta = run(tx, lambda d, a: attack_loss(images + d, a), delta0, args,
              num_steps=num_steps).x
  return jnp.clip(images + delta, 0.0, 1.0), delta


def category_loss(perturbed: Array, args: tuple) -> Array:
  """Targeted misclassification: summed softmax cross-entropy of the target category.

  ``args = (extractor, cnn_params, target)`` with ``target`` an int or ``(N,)`` ints. Minimising
  it moves each image towards being classified as ``target`` (the arg-max logit; for
  multi-label extractors the top genre).

  Returns:
    A scalar (summed over images, so every image gets its own full gradient).

  Raises:
    ValueError: a target outside ``[0, C)`` (concrete; traced: under :func:`jaxrec.checked`).

  Source:
    Di Noia, Malitesta, Merra, "TAaMR: Targeted Adversarial Attack against Multimedia
    Recommender Systems", DSN-W 2020, Eq. (2) (targeted FGSM/PGD on the product image).
  """
  ext, cnn_params, target = args
  logp = jax.nn.log_softmax(ext.logits(cnn_params, perturbed))
  target = _checks.ids("target", jnp.broadcast_to(jnp.asarray(target, jnp.int32),
                                                  logp.shape[:1]), logp.shape[1])
  return -jnp.sum(jnp.take_along_axis(logp, target[:, None], axis=1))


def replace_features(data: Any, items: Array, features: Array) -> Any:
  """``data`` (a :class:`jaxrec.models.ContentData`) with the feature rows of ``items``
  replaced by ``features (len(items), F)`` (the re-extracted features of perturbed images).

  Raises:
    Nothing (jittable; ids are the caller's in-range item ids: JAX would clamp others).

  Source:
    jaxrec (test-time semantics: the recommender is not retrained).
  """
  return data.replace(features=data.features.at[items].set(features))


def score_push_loss(perturbed: Array, args: tuple) -> Array:
  """Minus the mean predicted score of the attacked items over ``users``, with the items'
  features re-extracted from ``perturbed`` (the recommender is not retrained).

  ``args = (model, params, data, extractor, cnn_params, items, users)``: a content model (e.g.
  VBPR) and its parameters, its :class:`jaxrec.models.ContentData`, the extractor and its
  parameters, ``(N,)`` attacked item ids (the images' items, in order) and ``(C,)`` users (all
  users, or a segment). Gradients run from the scores through the model and the CNN to the
  pixels.

  Returns:
    A scalar: ``-sum_n mean_u s(u, items[n])``.

  Raises:
    Nothing (jittable; ``items`` and ``users`` are the caller's in-range ids, ``perturbed`` is
    ``(len(items), H, W, C)``).

  Source:
    jaxrec, after Liu, Larson, "Adversarial Item Promotion: Vulnerabilities at the Core of
    Top-N Recommenders that Use Images to Address Cold Start", WWW 2021 (score-raising pixel
    perturbations through the CNN and the recommender).
  """
  model, params, data, ext, cnn_params, items, users = args
  data = replace_features(data, items, ext.features(cnn_params, perturbed))
  scoring_model, scoring_params = model.scoring(params, data)
  scores = scoring_model.score_all(scoring_params, data, users)
  return -jnp.sum(jnp.mean(jnp.take(scores, items, axis=1), axis=0))


def top_k_push_loss(perturbed: Array, args: tuple) -> Array:
  """Minus a smooth count of the users whose top-k lists the attacked items enter, with the
  items' features re-extracted from ``perturbed`` (the recommender is not retrained).

  ``-sum_n mean_u sigmoid((s(u, items[n]) - tau_u) / temperature)``, ``tau_u`` the user's
  ``k``-th highest clean score among the items they have not interacted with (a constant:
  :func:`kth_scores`). Each user's weight peaks where the item is about to enter (or leave) the
  list, so the budget goes where HR@k moves; raising the *mean* score instead
  (:func:`score_push_loss`) can lower HR@k, e.g. by making an item look less like the category
  its current fans prefer (measured on Fashion-MNIST, docs/visual.md).

  ``args = (model, params, data, extractor, cnn_params, items, users, tau, temperature)``: as
  :func:`score_push_loss`, plus ``tau (C,)`` and a ``temperature > 0`` in score units.

  Returns:
    A scalar.

  Raises:
    Nothing (jittable; ids as :func:`score_push_loss`, ``tau`` ``(len(users),)`` float).

  Source:
    jaxrec: a sigmoid relaxation of the hit indicator ``[s(u, t) >= tau_u]`` of HR@k (the
    margin over the k-th score as in Carlini and Wagner's margin loss, IEEE S&P 2017), pushed
    through the CNN as in AIP (Liu and Larson, WWW 2021).
  """
  model, params, data, ext, cnn_params, items, users, tau, temperature = args
  data = replace_features(data, items, ext.features(cnn_params, perturbed))
  scoring_model, scoring_params = model.scoring(params, data)
  scores = jnp.take(scoring_model.score_all(scoring_params, data, users), items, axis=1)
  return -jnp.sum(jnp.mean(jax.nn.sigmoid((scores - tau[:, None]) / temperature), axis=0))


def kth_scores(model: Any, params: Any, data: Any, train: Any, k: int) -> Array:
  """``(U,)`` every user's ``k``-th highest score among the items they have not interacted with
  in ``train`` (the top-k threshold ``tau_u`` of :func:`top_k_push_loss`; ties as in
  :func:`jaxrec.metrics.recommend`).

  Args:
    model, params, data: a model, its parameters and its data. train: the positives masked
      from the lists. k: the cut-off, ``1 <= k <= I``.

  Returns:
    ``(U,)`` float32 scores.

  Raises:
    ValueError: as :func:`jaxrec.metrics.recommend`.

  Source:
    jaxrec (the one tie policy of :mod:`jaxrec.metrics._topk`).
  """
  from jaxrec.metrics import recommend  # pylint: disable=import-outside-toplevel
  lists, _ = recommend(model, params, train, k, data=data)
  users = jnp.arange(lists.shape[0], dtype=jnp.int32)
  return model.score(params, data, users, jnp.asarray(lists[:, k - 1]))


def feature_bpr_loss(features: Array, args: tuple) -> Array:
  """Minus the summed BPR loss of ``batch`` with item features ``features``: AMR's adversary
  maximises the model's training loss (``args = (model, params, batch, weights)``; the model
  must offer ``pair_scores(params, features, batch)``, as :class:`jaxrec.models.VBPR`).
  ``features`` is ``(I, F)`` float, ``batch`` ``(B,)`` in-range triples, ``weights`` ``(B,)`` or
  ``None``; returns a scalar.

  Raises:
    Nothing (jittable).

  Source:
    Tang, He, Du, Yuan, Feng, Chua, "Adversarial Training Towards Robust Multimedia Recommender
    System", IEEE TKDE 2019, Eq. (6).
  """
  model, params, batch, weights = args
  x_ui, x_uj = model.pair_scores(params, features, batch)
  return -losses.bpr(x_ui, x_uj, weights)


def perturb_features(attack_loss: Callable[[Array, Any], Array], features: ArrayLike,
                     args: Any, *, eps: ArrayLike, num_steps: int = 1,
                     step_size: ArrayLike | None = None, rows: ArrayLike | None = None
                     ) -> tuple[Array, Array]:
  """FGSM / PGD on item features, an L2 ball of radius ``eps`` per item row.

  ``min_delta attack_loss(features + delta, args)``, ``||delta_i||_2 <= eps``; one step is He et
  al.'s / AMR's normalised-gradient rule (``delta = eps * Gamma / ||Gamma||`` per row), more are
  PGD from 0 with step ``2.5 * eps / num_steps``. ``rows`` limits the attack to some items (the
  others' rows stay 0).

  Units: ``eps`` is an absolute radius in feature units; features from
  :meth:`jaxrec.models.Extractor.features` are scaled so that the catalogue's mean clean norm is
  1, so ``eps = 0.1`` is 10 % of an average feature vector.

  Returns:
    ``(perturbed features (I, F), delta (I, F))``.

  Raises:
    ValueError: ``eps`` or ``step_size`` negative or not finite; ``num_steps < 1``.

  Source:
    Tang et al., TKDE 2019, Eq. (6) (AMR's adversary on features); Madry et al., ICLR 2018.
  """
  num_steps = _checks.integer("num_steps", num_steps, low=1)
  features = jnp.asarray(features)
  if step_size is None:
    step_size = eps if num_steps == 1 else 2.5 * eps / num_steps
  mask = None
  if rows is not None:
    rows = _checks.ids("rows", rows, features.shape[0])
    mask = jnp.zeros((features.shape[0], 1), features.dtype).at[rows].set(1.0)

  def loss(d, a):
    return attack_loss(features + (d if mask is None else d * mask), a)

  delta = run(pgd(eps, step_size, norm="l2", axis=-1), loss, jnp.zeros_like(features), args,
              num_steps=num_steps).x
  if mask is not None:
    delta = delta * mask
  return features + delta, delta

