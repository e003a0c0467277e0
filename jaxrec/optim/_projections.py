"""Projections: where budgets live. Each maps an iterate to the nearest feasible point (or, for
the combinatorial budgets of fake profiles, to a feasible point by a documented rule); use one as
the last link of a chain with :func:`jaxrec.optim.project`.

* norm balls around 0: :func:`project_l2_ball` (per row or whole array), :func:`project_linf_ball`;
* boxes: :func:`project_box` (pixels in ``[0, 1]``, relaxed profiles in ``[0, 1]``);
* fake-profile budgets: :func:`project_top_m` (exactly ``filler_size`` fillers plus the targets),
  :func:`project_threshold` (RevAdv's ``x > 0.2``); :func:`straight_through` turns either into a
  straight-through estimator.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec import _checks
from jaxrec.optim._transforms import safe_l2
from jaxrec.typing import Array, ArrayLike

__all__ = ["project_box", "project_l2_ball", "project_linf_ball", "project_threshold",
           "project_top_m", "straight_through"]


def project_l2_ball(delta, radius: ArrayLike, axis: int | None = -1):
  """Projection onto ``{d : ||d||_2 <= radius}`` per row (``axis=-1``) or per array (``None``).

  Rows inside the ball are unchanged; rows outside are scaled onto its surface; a zero row stays
  zero with a finite derivative.

  Args:
    delta: pytree of arrays.
    radius: ``>= 0`` (absolute units); may be a tracer.
    axis: ``-1`` or ``None``.

  Returns:
    A pytree shaped like ``delta``.

  Raises:
    ValueError: an unknown ``axis``; a concrete ``radius`` that is negative or not finite.

  Source:
    Parikh and Boyd, "Proximal Algorithms", Found. Trends Optim. 2014, Sec. 6.5.1.
  """
  _checks.choice("axis", axis, (-1, None))
  _checks.real("radius", radius, array=True)

  def one(d):
    norm, nonzero = safe_l2(d, axis)
    return d * jnp.where(nonzero, jnp.minimum(1.0, radius / norm), 1.0)

  return jax.tree.map(one, delta)


def project_linf_ball(delta, radius: ArrayLike):
  """Projection onto ``{d : max |d| <= radius}``: element-wise clipping to ``[-radius, radius]``.

  Note the budget this implies per row of ``D`` elements: an L2 norm up to ``radius * sqrt(D)``
  (Anelli et al.'s multi-step attacks clip per element; He et al.'s FGSM bounds the row L2 norm).

  Args:
    delta: pytree of arrays.
    radius: ``>= 0``; may be a tracer.

  Returns:
    A pytree shaped like ``delta``.

  Raises:
    ValueError: a concrete ``radius`` that is negative or not finite.

  Source:
    Madry et al., ICLR 2018, Sec. 2 (the L-infinity threat model).
  """
  _checks.real("radius", radius, array=True)
  return jax.tree.map(lambda d: jnp.clip(d, -radius, radius), delta)


def project_box(delta, lower: ArrayLike, upper: ArrayLike, *, center=None):
  """Keeps ``center + delta`` inside ``[lower, upper]`` element-wise (``center`` default 0).

  Pixels: ``project_box(delta, 0.0, 1.0, center=images)`` keeps ``images + delta`` in
  ``[0, 1]``; relaxed fake profiles: ``project_box(x, 0.0, 1.0)``.

  Args:
    delta: pytree of arrays.
    lower, upper: bounds (scalars or broadcastable arrays), ``lower <= upper``.
    center: optional pytree shaped like ``delta``.

  Returns:
    A pytree shaped like ``delta``.

  Raises:
    ValueError: concrete bounds that are not finite or with ``lower > upper``.

  Source:
    jaxrec (the box constraint of image and profile attacks).
  """
  _checks.real("lower", lower, low=None, array=True)
  _checks.real("upper", upper, low=None, array=True)
  if _checks.is_concrete((lower, upper)) and np.any(np.asarray(lower) > np.asarray(upper)):
    raise ValueError(f"lower must not exceed upper, got {lower} > {upper}")
  if center is None:
    return jax.tree.map(lambda d: jnp.clip(d, lower, upper), delta)
  return jax.tree.map(lambda d, c: jnp.clip(d, lower - c, upper - c), delta, center)


def project_top_m(x: Array, filler_size: int, targets: ArrayLike) -> Array:
  """Binary profiles under an exact budget: the targets plus the ``filler_size`` largest other
  entries of each row.

  Deterministic: among equal values the lower item id wins (``lax.top_k``'s order). A NaN entry
  is an error when ``x`` is concrete and is never picked under ``jit``. Jittable (``filler_size``
  static).

  Args:
    x: ``(F, I)`` floating relaxed profiles (scores; any real values).
    filler_size: static number of fillers per profile ``m``, ``0 <= m <= I - T``.
    targets: ``(T,)`` distinct item ids in ``[0, I)``, ``T >= 1``, set to 1 in every profile.

  Returns:
    ``(F, I)`` of ``x``'s dtype with exactly ``m + T`` ones per row, the targets among them.

  Raises:
    ValueError: a non-matrix ``x`` or one holding NaN; targets empty, out of range or repeated
      (concrete; under ``jit`` see :func:`jaxrec.checked`); ``filler_size`` out of range.

  Source:
    jaxrec: the exact filler budget of shilling profiles (filler size as in Mobasher, Burke,
    Bhaumik, Williams, ACM TOIT 2007, Sec. 3) imposed on RevAdv's relaxed profiles.
  """
  x = _checks.matrix("x", x)
  f, num_items = x.shape
  targets = _checks.ids("targets", targets, num_items, distinct=True, nonempty=True)
  m = _checks.integer("filler_size", filler_size, low=0, high=num_items - targets.shape[0])
  out = jnp.zeros_like(x).at[:, targets].set(1.0)
  if m == 0:
    return out
  is_target = jnp.zeros((num_items,), bool).at[targets].set(True)
  scores = jnp.where(is_target[None, :] | jnp.isnan(x), -jnp.inf, x)
  _, idx = jax.lax.top_k(scores, m)
  return out.at[jnp.arange(f)[:, None], idx].set(1.0)


def project_threshold(x: Array, threshold: float = 0.2, targets: ArrayLike | None = None
                      ) -> Array:
  """RevAdv's projection: ``1`` where ``x > threshold`` (strictly), else ``0``.

  The reference notebook applies it with ``threshold = 0.2`` after every outer step, so the
  variable is binary whenever the surrogate is trained; the profile length is *not* fixed.

  Args:
    x: ``(F, I)`` floating relaxed profiles. threshold: a finite number.
    targets: optional ``(T,)`` distinct ids set to 1 in every row.

  Returns:
    A binary matrix of ``x``'s shape and dtype.

  Raises:
    ValueError: ``x`` not a 2-D floating matrix, a non-finite threshold, bad targets.

  Source:
    Tang, Wen, Wang, "Revisiting Adversarially Learned Injection Attacks in Recommender
    Systems", RecSys 2020, reference notebook ``synthetic_exp.ipynb`` (threshold 0.2).
  """
  x = _checks.matrix("x", x)
  _checks.real("threshold", threshold, low=None)
  out = (x > threshold).astype(x.dtype)
  if targets is not None:
    out = out.at[:, _checks.ids("targets", targets, x.shape[1], distinct=True)].set(1.0)
  return out


def straight_through(x: Array, projection: Callable[[Array], Array]) -> Array:
  """``projection(x)`` in the forward pass, the identity's derivative in the backward pass.

  ``straight_through(z, partial(project_top_m, filler_size=m, targets=t))`` is the exact-budget
  binary profile a surrogate trains on, while the hypergradient accumulates in the continuous
  scores ``z``.

  Args:
    x: any array. projection: a function of ``x`` (e.g. :func:`project_top_m` with its
      arguments bound).

  Returns:
    ``projection(x)`` in value, ``x``'s gradient path.

  Raises:
    Whatever ``projection`` raises.

  Source:
    Bengio, Leonard, Courville, "Estimating or Propagating Gradients Through Stochastic Neurons
    for Conditional Computation", arXiv:1308.3432, 2013.
  """
  return x + jax.lax.stop_gradient(projection(x) - x)
