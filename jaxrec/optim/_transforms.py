"""Step transforms, composable like optax: directions, the projection link, random starts.

An attack or a training run is an ``optax.GradientTransformation`` acting on an iterate ``x``
(a perturbation ``delta`` of embeddings, features or pixels; relaxed fake profiles; model
parameters) and the gradient of the loss the driver minimises (:func:`jaxrec.optim.run`);
everything *minimises* (optax's convention), so an attack that increases a victim's loss
minimises ``-loss``. This module adds what optax lacks: per-row normalisation and sign
directions, :func:`project` (any projection of :mod:`jaxrec.optim._projections` as the last link
of a chain: budgets live there), and random starts. ``optax.scale`` / ``optax.chain`` do the
rest.

Granularity (``axis``): ``-1`` = per row (each embedding vector has its own budget), ``None`` =
the whole array (one budget for the array).

Numerics at zero gradients: a row whose gradient is exactly zero gets a zero direction, and the
*derivative* of the direction there is zero too (a double ``where`` around the norm), so
differentiating *through* an attack (bilevel problems, second-order defenses) stays finite and
small at rows the attack does not touch, instead of ``1 / floor`` (``1e15``) of a floored norm.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxrec import _checks
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["NORMS", "TrajectoryParams", "normalize", "project", "random_start", "sign",
           "trajectory_snapshots", "tree_norms"]

NORMS = ("l2", "linf")
_TINY = 1e-30  # squared norms at or below this are treated as zero


def safe_l2(x: Array, axis: int | None, *, keepdims: bool = True) -> tuple[Array, Array]:
  """``(norm, nonzero)``: the L2 norm over ``axis`` with a zero value *and* a zero derivative
  where the squared norm is ``<= 1e-30`` (``nonzero`` is False there; the norm reads 1 so that
  dividing by it is safe)."""
  sq = jnp.sum(jnp.square(x), axis=axis, keepdims=keepdims)
  nonzero = sq > _TINY
  return jnp.sqrt(jnp.where(nonzero, sq, 1.0)), nonzero


def normalize(axis: int | None = -1) -> optax.GradientTransformation:
  """Direction ``g / ||g||_2`` per row (``axis=-1``) or over each whole array (``axis=None``).

  Rows whose gradient is zero get a zero direction with a zero derivative (module docstring).
  This is the step of He et al.'s FGSM on embeddings (SIGIR 2018, Eq. 6, normalised per
  embedding row in the authors' code).

  Returns:
    An ``optax.GradientTransformation`` (stateless).

  Raises:
    ValueError: ``axis`` other than -1 or None.

  Source:
    He, He, Du, Chua, "Adversarial Personalized Ranking for Recommendation", SIGIR 2018, Eq. (6).
  """
  _checks.choice("axis", axis, (-1, None))

  def one(g):
    norm, nonzero = safe_l2(g, axis)
    return jnp.where(nonzero, g / norm, 0.0)

  def update(updates, state, params=None):
    del params
    return jax.tree.map(one, updates), state

  return optax.GradientTransformation(optax.init_empty_state, update)


def sign() -> optax.GradientTransformation:
  """Direction ``sign(g)``, the L-infinity steepest-descent step; zero gradients give zero.

  Returns:
    An ``optax.GradientTransformation`` (stateless).

  Raises:
    Nothing.

  Source:
    Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015,
    Eq. (3); Madry et al., ICLR 2018, Eq. (2.2).
  """

  def update(updates, state, params=None):
    del params
    return jax.tree.map(jnp.sign, updates), state

  return optax.GradientTransformation(optax.init_empty_state, update)


def project(fn: Callable) -> optax.GradientTransformation:
  """Turns a projection of the iterate into the last link of a chain: the update becomes
  ``fn(x + update) - x``, so ``optax.apply_updates`` lands on the projected point.

  ``fn`` maps an iterate pytree to its projection, e.g. ``lambda d: project_l2_ball(d, eps)``
  or ``functools.partial(project_top_m, filler_size=m, targets=t)``. The driver also projects
  the start through it (:func:`jaxrec.optim.run`).

  Returns:
    An ``optax.GradientTransformation`` (stateless) that needs ``params`` (the iterate).

  Raises:
    ValueError: (from ``update``) called without ``params``.

  Source:
    jaxrec (optax's ``projections`` applied as a transform).
  """

  def update(updates, state, params=None):
    if params is None:
      raise ValueError("project(...) needs the current iterate: call update(g, s, x)")
    new = fn(optax.apply_updates(params, updates))
    return jax.tree.map(jnp.subtract, new, params), state

  return optax.GradientTransformation(optax.init_empty_state, update)


def tree_norms(delta, norm: str = "l2", axis: int | None = -1):
  """The norm of each row (``axis=-1``) or array (``None``) of a perturbation pytree.

  Args:
    delta: pytree of arrays.
    norm: ``"l2"`` or ``"linf"``. axis: ``-1`` or ``None``.

  Returns:
    A pytree of arrays (the reduced axes kept with size 1); exact (no floor), for checking
    budgets.

  Raises:
    ValueError: an unknown ``norm`` or ``axis``.

  Source:
    jaxrec.
  """
  _checks.choice("norm", norm, NORMS)
  _checks.choice("axis", axis, (-1, None))
  if norm == "l2":
    return jax.tree.map(lambda d: jnp.sqrt(jnp.sum(jnp.square(d), axis=axis, keepdims=True)),
                        delta)
  return jax.tree.map(lambda d: jnp.max(jnp.abs(d), axis=axis, keepdims=True), delta)


def random_start(key: PRNGKey, like, eps: ArrayLike, *, norm: str = "l2",
                 axis: int | None = -1):
  """A uniformly random point of the budget ball, shaped like ``like`` (PGD's random start).

  L-infinity: each element uniform in ``[-eps, eps]``. L2: uniform in the ball of radius
  ``eps`` per row (``axis=-1``) or per array (``None``): a Gaussian direction scaled by
  ``eps * u^(1/n)``, ``u`` uniform and ``n`` the dimension of the ball. A box (pixels in
  ``[0, 1]``) is enforced by the driver, which projects the start (:func:`jaxrec.optim.run`).

  Args:
    key: PRNG key.
    like: pytree of arrays giving shapes and dtypes.
    eps: radius (absolute units of the perturbed space), ``>= 0``; a scalar or an array
      broadcastable to the rows (per-row budgets, ``(..., 1)``); may be a tracer.
    norm: ``"l2"`` or ``"linf"``.
    axis: granularity of the L2 ball.

  Returns:
    A pytree shaped like ``like``.

  Raises:
    ValueError: an unknown ``norm`` or ``axis``; a concrete ``eps`` that is negative or not
      finite.

  Source:
    Madry, Makelov, Schmidt, Tsipras, Vladu, "Towards Deep Learning Models Resistant to
    Adversarial Attacks", ICLR 2018, Sec. 3 (random restarts); uniform sampling in the L2 ball:
    Muller, "A note on a method for generating points uniformly on n-dimensional spheres",
    Comm. ACM 1959.
  """
  _checks.choice("norm", norm, NORMS)
  _checks.choice("axis", axis, (-1, None))
  _checks.real("eps", eps, array=True)
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
    norm_g, nonzero = safe_l2(g, axis)
    direction = jnp.where(nonzero, g / norm_g, 0.0)
    n = shape[-1] if axis == -1 else max(1, int(jnp.size(leaf)))
    rad_shape = shape[:-1] + (1,) if axis == -1 else (1,) * len(shape)
    r = jax.random.uniform(k_rad, rad_shape, dtype) ** (1.0 / n)
    out.append(direction * r * eps)
  return jax.tree.unflatten(treedef, out)


class TrajectoryParams(NamedTuple):
  """A model's parameters with their recent past.

  Attributes:
    params: the trained parameters (the wrapped model's pytree).
    snapshots: the same pytree with a leading ``(T,)`` axis: the parameters at the end of the
      last ``T`` epochs, oldest first (all equal to the initial parameters before epoch ``T``).
  """

  params: Any
  snapshots: Any


class _SnapshotState(NamedTuple):
  inner: Any
  count: Array


def trajectory_snapshots(tx: optax.GradientTransformation, steps_per_epoch: int
                         ) -> optax.GradientTransformation:
  """Wraps an optimiser of a model's parameters for :class:`TrajectoryParams`.

  ``tx`` updates ``params.params`` from their gradients; after the last step of every epoch
  (every ``steps_per_epoch`` steps) the snapshots roll: the oldest is dropped and the
  just-updated parameters are appended (as an additive update, so equal to them up to the last
  float32 bit). The snapshots get no gradient step.

  Args:
    tx: the optimiser of the wrapped model (any optax transformation).
    steps_per_epoch: static steps per epoch ``>= 1``.

  Returns:
    An ``optax.GradientTransformation`` over :class:`TrajectoryParams` (``params`` is required
    by its ``update``).

  Raises:
    ValueError: ``steps_per_epoch < 1``; (at ``update``) ``params`` not given.

  Source:
    jaxrec (the anchor of Chen et al.'s trajectory loss, RecSys 2023;
    :func:`jaxrec.defenses.sharpcf`).
  """
  steps_per_epoch = _checks.integer("steps_per_epoch", steps_per_epoch, low=1)

  def init(params: TrajectoryParams):
    return _SnapshotState(tx.init(params.params), jnp.zeros((), jnp.int32))

  def update(grads: TrajectoryParams, state: _SnapshotState, params=None):
    if params is None:
      raise ValueError("trajectory_snapshots needs the parameters in update(...)")
    updates, inner = tx.update(grads.params, state.inner, params.params)
    end = (state.count + 1) % steps_per_epoch == 0
    new = optax.apply_updates(params.params, updates)

    def roll(snap, now):
      rolled = jnp.concatenate([snap[1:], now[None].astype(snap.dtype)])
      return jnp.where(end, rolled, snap) - snap

    snap_updates = jax.tree.map(roll, params.snapshots, new)
    return TrajectoryParams(updates, snap_updates), _SnapshotState(inner, state.count + 1)

  return optax.GradientTransformation(init, update)
