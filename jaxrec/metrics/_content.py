"""Metrics of content attacks: the category hit ratio of top-k lists and the perceptibility of
perturbed images (PSNR and SSIM, computed by dm-pix)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxrec.typing import ArrayLike

__all__ = ["category_hit_ratio", "perceptibility"]


def category_hit_ratio(items: ArrayLike, valid: ArrayLike, in_category: ArrayLike) -> float:
  """CHR@k: the mean over users of the share of their ``k`` top-k slots held by items of a
  category.

  ``CHR@k = (1 / (k * |U|)) * sum_u |{slots of u's list holding an item of the category}|``.
  Normalisation: by ``k * users``, as the TAaMR paper defines it and its code's docstring says;
  the published code divides by the number of users only (a value ``k`` times larger). A slot
  past a user's unseen items (``valid`` False) counts as empty.

  Args:
    items: ``(U, k) int`` top-k lists (:func:`jaxrec.metrics.recommend`).
    valid: ``(U, k) bool`` slots that hold an item.
    in_category: ``(I,) bool`` membership of every item in the category.

  Returns:
    A float in ``[0, 1]``.

  Raises:
    ValueError: ``items`` and ``valid`` of different shapes or kinds, ``k = 0``, no users, a
      mask that is not a 1-D bool array, or an item id outside ``in_category``.

  Source:
    Di Noia, Malitesta, Merra, "TAaMR", DSN-W 2020, Sec. 4 (category hit ratio).
  """
  items, valid = np.asarray(items), np.asarray(valid)
  member = np.asarray(in_category)
  if member.ndim != 1 or member.dtype != bool:
    raise ValueError(f"in_category must be an (I,) boolean mask, got {member.dtype}"
                     f"{member.shape}")
  if (items.ndim != 2 or items.shape != valid.shape or 0 in items.shape
      or items.dtype.kind not in "iu" or valid.dtype != bool):
    raise ValueError(f"items (integer ids) and valid (bool) must be (users, k) lists of one "
                     f"shape with at least one user and k >= 1, got {items.dtype}{items.shape} "
                     f"and {valid.dtype}{valid.shape}")
  if items.size and (items.min() < 0 or items.max() >= member.shape[0]):
    raise ValueError(f"item ids must lie in [0, {member.shape[0]}), got "
                     f"[{items.min()}, {items.max()}]")
  hits = member[items] & valid
  return float(hits.sum() / (items.shape[0] * items.shape[1]))


def perceptibility(clean: ArrayLike, perturbed: ArrayLike) -> dict[str, np.ndarray]:
  """Per-image PSNR (dB) and SSIM of perturbed images against the clean ones.

  PSNR ``= 10 log10(1 / MSE)`` for pixels in ``[0, 1]`` (infinite for an unchanged image); SSIM
  with an 11x11 Gaussian window (sigma 1.5), ``k1 = 0.01``, ``k2 = 0.03``, averaged over pixels
  and channels (dm-pix's defaults, after Wang et al.). A perturbation of at most ``eps / 255``
  per channel has ``PSNR >= 20 log10(255 / eps)`` (36.1 dB at ``eps = 4``).

  Args:
    clean, perturbed: ``(N, H, W, C)`` float pixels in ``[0, 1]``, ``H, W >= 11``.

  Returns:
    ``{"psnr": (N,) float64, "ssim": (N,) float64}``.

  Raises:
    ValueError: shapes that differ or are not ``(N, H, W, C)`` with ``N >= 1`` and
      ``H, W >= 11``; pixels outside ``[0, 1]`` or NaN.

  Source:
    Wang, Bovik, Sheikh, Simoncelli, "Image Quality Assessment: From Error Visibility to
    Structural Similarity", IEEE TIP 2004 (SSIM); computed with dm-pix (DeepMind).
  """
  import dm_pix  # pylint: disable=import-outside-toplevel
  from jaxrec.attacks.content._pixels import check_pixels  # pylint: disable=import-outside-toplevel
  a, b = jnp.asarray(clean, jnp.float32), jnp.asarray(perturbed, jnp.float32)
  if a.shape != b.shape or a.ndim != 4 or min(a.shape[1:3]) < 11 or a.shape[0] == 0:
    raise ValueError(f"clean and perturbed must be (N, H, W, C) images of one shape with "
                     f"N >= 1 and H, W >= 11, got {a.shape} and {b.shape}")
  check_pixels(a, "clean")
  check_pixels(b, "perturbed")
  return {"psnr": np.asarray(dm_pix.psnr(a, b), np.float64),
          "ssim": np.asarray(dm_pix.ssim(a, b), np.float64)}
