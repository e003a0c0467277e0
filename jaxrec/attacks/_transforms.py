"""Perturbation transforms, composable like optax: step directions, projections, random starts.

An attack is an ``optax.GradientTransformation`` acting on a perturbation ``delta`` (any pytree:
embedding tables, image features, pixels) and the gradient of the user's ``attack_loss`` with
respect to it; everything *minimises* (optax's convention), so an attack that increases a
victim's loss minimises ``-loss``. This module adds what optax lacks: per-row normalisation and
sign directions, projections onto L2 / L-infinity balls (per row or whole array) intersected with
an optional box, and random starts. ``optax.scale`` / ``optax.chain`` do the rest.

Granularity (``axis``): ``-1`` = per row (each embedding vector has its own budget), ``None`` =
the whole array (one budget for the array). Norms use a floor inside the square root, so a zero
row gives a zero direction and no NaN gradient.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = [
    "NORMS", "normalize", "project", "project_box", "project_l2_ball", "project_linf_ball",
    "random_start", "sign", "tree_norms",
]

NORMS = ("l2", "linf")
_TINY = 1e-30  # inside sqrt: sqrt(1e-30) = 1e-15, far below any meaningful gradient norm


def _check_norm(norm: str) -> None:
  if norm not in NORMS:
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def _safe_l2(x: Array, axis: int | None) -> Array:
  return jnp.sqrt(jnp.maximum(jnp.sum(jnp.square(x), axis=axis, keepdims=True), _TINY))


def normalize(axis: int | None = -1) -> optax.GradientTransformation:
  """Direction ``g / ||g||_2`` per row (``axis=-1``) or over each whole array (``axis=None``).

  Rows whose gradient is zero get a zero direction (the norm is floored inside the square root:
  no division by zero, no NaN). This is the step of He et al.'s FGSM on embeddings
  (SIGIR 2018, Eq. 6, normalised per embedding row in the authors' code).
  """

  def update(updates, state, params=None):
    del params
    return jax.tree.map(lambda g: g / _safe_l2(g, axis), updates), state

  return optax.GradientTransformation(optax.init_empty_state, update)


def sign() -> optax.GradientTransformation:
  """Direction ``sign(g)`` (the L-infinity steepest-ascent step of FGSM/PGD, Goodfellow et al.,
  ICLR 2015; Madry et al., ICLR 2018). Zero gradients give zero."""

  def update(updates, state, params=None):
    del params
    return jax.tree.map(jnp.sign, updates), state

  return optax.GradientTransformation(optax.init_empty_state, update)


def project(fn: Callable[[Array], Array]) -> optax.GradientTransformation:
  """Turns a projection of the perturbation into a transform: the update becomes
  ``fn(delta + update) - delta``, so ``optax.apply_updates`` lands on the projected point.

  ``fn`` maps a perturbation pytree to its projection (e.g. ``lambda d: project_l2_ball(d,
  eps)``). The transform needs ``params`` (the current perturbation) in ``update``.
  """

  def update(updates, state, params=None):
    if params is None:
      raise ValueError("project(...) needs the current perturbation: call update(g, s, delta)")
    new = fn(optax.apply_updates(params, updates))
    return jax.tree.map(jnp.subtract, new, params), state

  return optax.GradientTransformation(optax.init_empty_state, update)


def project_l2_ball(delta, radius: ArrayLike, axis: int | None = -1):
  """Projection onto ``{d : ||d||_2 <= radius}`` per row (``axis=-1``) or per array (``None``).

  Rows inside the ball are unchanged; rows outside are scaled onto its surface. ``radius`` may be
  a tracer (an eps grid compiles once) and must be >= 0 (not checked under tracing).
  """

  def one(d):
    norm = _safe_l2(d, axis)
    return d * jnp.minimum(1.0, radius / norm)

  return jax.tree.map(one, delta)


def project_linf_ball(delta, radius: ArrayLike):
  """Projection onto ``{d : max |d| <= radius}``: element-wise clipping to ``[-radius, radius]``.

  Note the budget this implies per row of ``D`` elements: an L2 norm up to ``radius * sqrt(D)``
  (Anelli et al.'s multi-step attacks clip per element; He et al.'s FGSM bounds the row L2 norm).
  """
  return jax.tree.map(lambda d: jnp.clip(d, -radius, radius), delta)


def project_box(delta, center, lower: ArrayLike, upper: ArrayLike):
  """Keeps ``center + delta`` inside ``[lower, upper]`` (e.g. pixels in ``[0, 1]``): clips
  ``delta`` to ``[lower - center, upper - center]`` element-wise."""
  return jax.tree.map(lambda d, c: jnp.clip(d, lower - c, upper - c), delta, center)


def tree_norms(delta, norm: str = "l2", axis: int | None = -1):
  """The norm of each row (``axis=-1``) or array (``None``) of a perturbation pytree.

  Returns:
    A pytree of arrays (the reduced axes kept with size 1); exact (no floor), for checking
    budgets.
  """
  _check_norm(norm)
  if norm == "l2":
    return jax.tree.map(lambda d: jnp.sqrt(jnp.sum(jnp.square(d), axis=axis, keepdims=True)),
                        delta)
  return jax.tree.map(lambda d: jnp.max(jnp.abs(d), axis=axis, keepdims=True), delta)


def random_start(key: PRNGKey, like, eps: ArrayLike, *, norm: str = "l2", axis: int | None = -1):
  """A uniformly random point of the budget ball, shaped like ``like`` (PGD's random start,
  Madry et al., ICLR 2018).

  L-infinity: each element uniform in ``[-eps, eps]``. L2: uniform in the ball of radius
  ``eps`` per row (``axis=-1``) or per array (``None``): a Gaussian direction scaled by
  ``eps * u^(1/n)``, ``u`` uniform and ``n`` the dimension of the ball.

  Args:
    key: PRNG key.
    like: pytree of arrays giving shapes and dtypes.
    eps: radius (may be a tracer).
    norm: ``"l2"`` or ``"linf"``.
    axis: granularity of the L2 ball.

  Returns:
    A pytree shaped like ``like``.

  Raises:
    ValueError: an unknown ``norm``.
  """
  _check_norm(norm)
  leaves, treedef = jax.tree.flatten(like)
  keys = jax.random.split(key, len(leaves))
  out = []
  for k, leaf in zip(keys, leaves):
    shape, dtype = jnp.shape(leaf), jnp.result_type(leaf)
    if norm == "linf":
      out.append(jax.random.uniform(k, shape, dtype, -1.0, 1.0) * eps)
      continue
    k_dir, k_rad = jax.random.split(k)
    g = jax.random.normal(k_dir, shape, dtype)
    direction = g / _safe_l2(g, axis)
    n = shape[-1] if axis == -1 else max(1, int(jnp.size(leaf)))
    rad_shape = shape[:-1] + (1,) if axis == -1 else (1,) * len(shape)
    r = jax.random.uniform(k_rad, rad_shape, dtype) ** (1.0 / n)
    out.append(direction * r * eps)
  return jax.tree.unflatten(treedef, out)
