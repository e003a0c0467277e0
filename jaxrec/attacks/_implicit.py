"""Implicit-differentiation surrogate for bilevel poisoning: weighted ALS at its fixed point.

The inner problem of :mod:`jaxrec.attacks._bilevel` solved by weighted alternating least squares
instead of unrolled Adam, after Li, Wang, Singh, Vorobeychik, "Data Poisoning Attacks on
Factorization-Based Collaborative Filtering", NeurIPS 2016 (an alternating-minimisation victim
of a regularised squared loss; the attacker's gradient comes from the optimality conditions of
the learned factors). The surrogate minimises the same loss as the unrolled LFM surrogate
(:func:`jaxrec.attacks._surrogate.weighted_mse`)::

  L(P, Q; X) = sum_{u, i} w_ui (y_ui - p_u . q_i)^2 + l2 (|P|^2 + |Q|^2) + const(X),

with ``w = pos_weight`` on positives and 1 on zeros (``"indicator"``) or ``w = 1 + (pos_weight -
1) x`` and ``w y = pos_weight x`` (``"bernoulli"``). Each half-sweep is a batch of closed-form
ridge solves, for every user ``u`` (and symmetrically for every item)::

  p_u = (Q^T W_u Q + l2 I)^-1 Q^T W_u y_u,     W_u = diag(w_u),

so a sweep never increases ``L``. The sweeps are not differentiated: the derivative of the
factors ``theta* = (P*, Q*)`` with respect to the data comes from the implicit function theorem
applied to the stationarity condition ``F(theta, X) = grad_theta L(theta, X) = 0``::

  d theta* / dX = -H^-1 d_X F,     H = grad^2_theta L(theta*, X),

in reverse mode: ``X``'s cotangent is ``-(d_X F)^T lambda`` with ``H lambda = theta*``'s cotangent
(``H`` is symmetric), one vector-Jacobian product of ``F`` in ``X``. The linear system is solved by
conjugate gradients on Hessian-vector products (``jax.scipy.sparse.linalg.cg``,
``linear_solver="cg"``), preconditioned by the block diagonal of ``H`` (the ALS systems, one ``D
x D`` block per user and per item), or, for tiny problems, by an eigendecomposition of the
materialised Hessian (``"dense"``). It is a ``jax.custom_vjp`` (reverse mode only):
``jax.lax.custom_root`` expresses the same rule in forward mode, but transposing it with an
iterative tangent solver fails in JAX (``NotImplementedError`` in ``custom_linear_solve``'s
transpose rule; jax-ml/jax issues 5552 and 33872). Memory does not grow with the number of
sweeps: the backward pass keeps the solution and the data only, and recomputes one ``(N, I)``
residual per Hessian-vector product (``cg_maxiter`` of them at most).

Curvature and gauge freedom. The loss is not convex in ``(P, Q)``: ``H`` is positive
semi-definite only at a local minimum (ALS reaches a stationary point, in practice a local
minimum, not always a good one: on a 15 x 10 test problem one start of ten ends at twice the
loss of the others; at a saddle or far from convergence ``H`` may be indefinite and CG may
break down).
``R = P Q^T`` is invariant under ``(P, Q) -> (P A, Q A^-T)`` for any invertible ``A``; with
``l2 = 0`` the loss is constant along these ``D^2`` directions. ``l2 > 0`` removes every
direction but rotations: for fixed ``R`` the penalty is minimal only on balanced factors
(``P^T P = Q^T Q``), which ``A`` preserves only when it is orthogonal. Rotations
``(P, Q) -> (P O, Q O)`` leave both ``R`` and ``|P|^2 + |Q|^2`` unchanged, so even with
``l2 > 0`` the Hessian at every stationary point has the null space ``{(P S, Q S): S = -S^T}``
(dimension ``D (D - 1) / 2``; exactly that many zero eigenvalues, checked in float64 on a 12 x 9
problem for ``D = 3, 4``): it is positive definite only on the complement, and "l2 > 0 makes
the Hessian positive definite" holds modulo rotations only. The IFT system stays consistent and
its answer unique where it matters: the loss is rotation-invariant for all data, so ``d_X F`` is
orthogonal to the null space, and so is the outer gradient (the outer loss depends on ``R``
only); a null-space component of the solution is annihilated by ``d_X F^T``. Damped, the solve
is positive definite and its answer, like its right-hand side, is orthogonal to the null space;
undamped CG from zero stays in the range of ``H`` (the minimum-norm solution; with the
preconditioner null-space components may enter, harmlessly); the dense solver drops eigenvalues
below ``dense_rcond * max |eigenvalue|``.

The damping ``delta = 2 damping l2`` (a fraction ``damping`` of the curvature ``2 l2`` that the
penalty alone gives every direction; the solve is ``(H + delta I) lambda = g``) guards against
the small or negative eigenvalues of an inexact fixed point (after too few sweeps, undamped CG
run long enough blows up along them); its bias on an eigen-direction of ``H`` is the factor
``lambda / (lambda + delta)``. A small ``cg_maxiter`` regularises too (early-stopped CG). ``l2``
also bounds the factors and makes every ridge system positive definite, so ``l2 > 0`` is
required.

The hypergradient is exact only at an exact stationary point: with too few sweeps it is the
IFT formula evaluated at an approximate one (compare :func:`fit_als`'s losses, or the inner
gradient norm, across ``num_sweeps``). On the RevAdv synthetic problem (1000 x 300, ``D = 16``,
``l2 = 10``; float32) its cosine with a reference (400 sweeps, CG to ``1e-8``) is 0.99 after 50
sweeps, 0.996 after 100 (the defaults) and 0.9997 after 200; the unrolled gradient through 100
sweeps has cosine 0.993 with it. ``implicit=False`` differentiates through the unrolled sweeps
instead (memory linear in ``num_sweeps``; the reference of the tests).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import struct
from jax.flatten_util import ravel_pytree

from jaxrec.attacks._surrogate import RELAXATIONS, LFMParams, _init, lfm_scores, weighted_mse
from jaxrec.typing import Array, PRNGKey

__all__ = ["ALSSurrogate", "LINEAR_SOLVERS", "als_surrogate", "als_sweep", "fit_als"]

LINEAR_SOLVERS = ("cg", "dense")


@struct.dataclass(kw_only=True)
class ALSSurrogate:
  """Static configuration of the ALS surrogate (no array leaves: usable as a static jit argument).

  Implements the bilevel engine's surrogate protocol (:class:`jaxrec.attacks._surrogate.
  Surrogate`): :meth:`fit` and :meth:`scores`. Build it with :func:`als_surrogate` (validated).

  Attributes:
    dim: factors ``D``. num_sweeps: ALS sweeps (users then items) from the random start.
    pos_weight: weight of a positive entry (zeros weigh 1), as :func:`weighted_mse`.
    l2: coefficient of ``|P|^2 + |Q|^2`` (summed squares), > 0 (see the module docstring).
    init_scale: the start is ``init_scale * N(0, 1)``, drawn as the LFM surrogate's (the user
      factors of the start are unused: the first half-sweep solves for them).
    relaxation: ``"indicator"`` or ``"bernoulli"`` (see :func:`weighted_mse`).
    implicit: hypergradient by the implicit function theorem (``True``) or by differentiating
      the unrolled sweeps (``False``: memory linear in ``num_sweeps``; a reference).
    linear_solver: ``"cg"`` (conjugate gradients on Hessian-vector products) or ``"dense"``
      (materialise the ``(N + I) D`` square Hessian and eigendecompose it; tiny problems).
    cg_maxiter: CG iterations at most. cg_tol: CG's relative residual tolerance.
    damping: >= 0; ``2 damping l2`` is added to the Hessian's diagonal (a fraction of the
      penalty's own curvature ``2 l2``).
    dense_rcond: the dense solver ignores eigenvalues below ``dense_rcond * max |eigenvalue|``.
    precondition: block-Jacobi preconditioning of CG (the per-user and per-item ``D x D``
      blocks of the damped Hessian, factorised once per backward pass).
  """

  dim: int = struct.field(pytree_node=False, default=16)
  num_sweeps: int = struct.field(pytree_node=False, default=100)
  pos_weight: float = struct.field(pytree_node=False, default=20.0)
  l2: float = struct.field(pytree_node=False, default=10.0)
  init_scale: float = struct.field(pytree_node=False, default=1.0)
  relaxation: str = struct.field(pytree_node=False, default="indicator")
  implicit: bool = struct.field(pytree_node=False, default=True)
  linear_solver: str = struct.field(pytree_node=False, default="cg")
  cg_maxiter: int = struct.field(pytree_node=False, default=50)
  cg_tol: float = struct.field(pytree_node=False, default=1e-5)
  damping: float = struct.field(pytree_node=False, default=0.05)
  dense_rcond: float = struct.field(pytree_node=False, default=1e-9)
  precondition: bool = struct.field(pytree_node=False, default=True)

  def fit(self, data: Array, key: PRNGKey) -> LFMParams:
    """The factors after :attr:`num_sweeps` sweeps (:func:`fit_als` without the losses)."""
    return fit_als(self, data, key)[0]

  def scores(self, params: LFMParams) -> Array:
    """Dense scores ``P Q^T``: ``(N, I)``."""
    return lfm_scores(params)


def _positive_int(name: str, value, minimum: int) -> int:
  if isinstance(value, bool) or int(value) != value or value < minimum:
    raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
  return int(value)


def als_surrogate(*, dim: int = 16, num_sweeps: int = 100, pos_weight: float = 20.0,
                  l2: float = 10.0, init_scale: float = 1.0, relaxation: str = "indicator",
                  implicit: bool = True, linear_solver: str = "cg", cg_maxiter: int = 50,
                  cg_tol: float = 1e-5, damping: float = 0.05, dense_rcond: float = 1e-9,
                  precondition: bool = True) -> ALSSurrogate:
  """A validated :class:`ALSSurrogate` (attributes documented there).

  The defaults were chosen on the RevAdv synthetic setting (``experiments/revadv_synthetic.py``:
  1000 x 300, dim 16, positives weighted 20, float32): with ``l2 = 10`` the inner gradient norm
  falls from about 3e3 after 5 sweeps to 2e1 after 100 and 1 after 200 (with ``l2 = 1``: 2e2
  after 100), and 100 sweeps, 50 preconditioned CG iterations and ``damping = 0.05`` give a
  hypergradient with cosine 0.996 to the converged one (module docstring), about 0.25 s per
  outer step on 2 CPU cores. Undamped, 50 sweeps and long CG runs can blow up (cosine 0.44);
  ``damping = 0.5`` biases the gradient's norm by about 9%. On a 35 x 20 problem (``l2 = 1``,
  150 sweeps) the default damping gives cosine 0.999 with the exact hypergradient, ``damping =
  0.5`` only 0.95.

  Raises:
    ValueError: ``dim < 1``, ``num_sweeps < 1``, ``cg_maxiter < 1``, a non-positive
      ``pos_weight``, ``l2``, ``init_scale`` or ``cg_tol``, a negative ``damping``, a
      ``dense_rcond`` outside ``[0, 1)``, an unknown relaxation or linear solver.
  """
  dim = _positive_int("dim", dim, 1)
  num_sweeps = _positive_int("num_sweeps", num_sweeps, 1)
  cg_maxiter = _positive_int("cg_maxiter", cg_maxiter, 1)
  if not (pos_weight > 0 and init_scale > 0 and cg_tol > 0):
    raise ValueError("pos_weight, init_scale and cg_tol must be positive, got "
                     f"{pos_weight}, {init_scale}, {cg_tol}")
  if not l2 > 0:
    raise ValueError(f"l2 must be positive (it makes the ridge systems and, up to rotations, the "
                     f"Hessian at a local minimum positive definite), got {l2}")
  if not damping >= 0:
    raise ValueError(f"damping must be >= 0, got {damping}")
  if not 0 <= dense_rcond < 1:
    raise ValueError(f"dense_rcond must lie in [0, 1), got {dense_rcond}")
  if relaxation not in RELAXATIONS:
    raise ValueError(f"relaxation must be one of {RELAXATIONS}, got {relaxation!r}")
  if linear_solver not in LINEAR_SOLVERS:
    raise ValueError(f"linear_solver must be one of {LINEAR_SOLVERS}, got {linear_solver!r}")
  return ALSSurrogate(dim=dim, num_sweeps=num_sweeps, pos_weight=float(pos_weight),
                      l2=float(l2), init_scale=float(init_scale), relaxation=relaxation,
                      implicit=bool(implicit), linear_solver=linear_solver,
                      cg_maxiter=cg_maxiter, cg_tol=float(cg_tol), damping=float(damping),
                      dense_rcond=float(dense_rcond), precondition=bool(precondition))


def _quadratic(data: Array, pos_weight: float, relaxation: str) -> tuple[Array, Array]:
  """``(w, w y)``, both ``(N, I)``: :func:`weighted_mse` is ``sum w r^2 - 2 (w y) r`` plus terms
  free of ``r = P Q^T`` (and the L2 penalty); the ridge systems' weights and right-hand sides."""
  if relaxation == "indicator":
    w = jnp.where(jax.lax.stop_gradient(data) > 0, pos_weight, 1.0).astype(data.dtype)
    return w, w * data
  if relaxation == "bernoulli":
    return 1.0 + (pos_weight - 1.0) * data, pos_weight * data
  raise ValueError(f"relaxation must be one of {RELAXATIONS}, got {relaxation!r}")


def _gram(w: Array, other: Array) -> Array:
  """``(R, D, D)`` weighted Gram matrices ``O^T diag(w_r) O`` from one ``(R, C) @ (C, D^2)``
  product; ``w``: ``(R, C)``, ``other`` ``O``: ``(C, D)``."""
  num_cols, d = other.shape
  outer = (other[:, :, None] * other[:, None, :]).reshape(num_cols, d * d)
  return (w @ outer).reshape(w.shape[0], d, d)


def _ridge_rows(w: Array, wy: Array, other: Array, l2: float) -> Array:
  """Row ``r`` of the result solves ``(O^T diag(w_r) O + l2 I) z = O^T wy_r``: ``(R, D)``,
  by a batched Cholesky factorisation. ``w, wy``: ``(R, C)``; ``other`` ``O``: ``(C, D)``."""
  eye = jnp.eye(other.shape[1], dtype=other.dtype)[None]
  chol = jnp.linalg.cholesky(_gram(w, other) + l2 * eye)
  return jax.scipy.linalg.cho_solve((chol, True), (wy @ other)[:, :, None])[:, :, 0]


def als_sweep(surrogate: ALSSurrogate, params: LFMParams, data: Array) -> LFMParams:
  """One ALS sweep: every user's ridge solve given the items, then every item's given the users.

  Differentiable (through the Cholesky solves) and jittable; :func:`fit_als` does not
  differentiate it when ``surrogate.implicit``.

  Args:
    surrogate: the configuration (``pos_weight``, ``l2``, ``relaxation`` are used).
    params: the current factors (only ``params.item`` enters the first half-sweep).
    data: ``(N, I)`` floating matrix, entries in ``[0, 1]``.

  Returns:
    The new :class:`LFMParams`: ``user (N, D)``, ``item (I, D)``, ``data``'s dtype.

  Raises:
    Nothing is validated (jittable); :func:`fit_als` validates.

  Source:
    Li, Wang, Singh, Vorobeychik, NeurIPS 2016, Sec. 3 (alternating minimisation); the
    per-row ridge solve of Hu, Koren, Volinsky, ICDM 2008, Eq. (4).
  """
  w, wy = _quadratic(data, surrogate.pos_weight, surrogate.relaxation)
  user = _ridge_rows(w, wy, params.item, surrogate.l2)
  item = _ridge_rows(w.T, wy.T, user, surrogate.l2)
  return LFMParams(user=user, item=item)


def _sweeps(surrogate: ALSSurrogate, params: LFMParams, data: Array,
            loss_fn) -> tuple[LFMParams, Array]:
  def body(p, _):
    p = als_sweep(surrogate, p, data)
    return p, loss_fn(p, data)
  return jax.lax.scan(body, params, length=surrogate.num_sweeps)


def _loss_fn(surrogate: ALSSurrogate):
  return functools.partial(weighted_mse, pos_weight=surrogate.pos_weight, l2=surrogate.l2,
                           relaxation=surrogate.relaxation)


def _tree_axpy(a: float, x, y):
  return jax.tree.map(lambda xx, yy: a * xx + yy, x, y)


def _block_jacobi(surrogate: ALSSurrogate, params: LFMParams, data: Array):
  """``v -> M^-1 v`` with ``M`` the block diagonal of ``H + delta I``: ``2 (Q^T W_u Q + l2 I)``
  per user and ``2 (P^T W_i P + l2 I)`` per item (the ALS systems; the user-user and item-item
  blocks of ``H`` are exactly block diagonal), plus ``delta = 2 damping l2``. Positive
  definite.

  The ``N + I`` blocks are factorised by *one* batched Cholesky call: two independent batched
  LAPACK factorisations in one program may run concurrently on XLA:CPU, which deadlocked (jaxlib
  0.10.2, ``lapack_spotrf_ffi`` in both, all threads waiting).
  """
  w, _ = _quadratic(data, surrogate.pos_weight, surrogate.relaxation)
  num_rows, d = params.user.shape
  eye = jnp.eye(d, dtype=params.user.dtype)[None]
  blocks = jnp.concatenate([_gram(w, params.item), _gram(w.T, params.user)], axis=0)
  chol = jnp.linalg.cholesky(2.0 * blocks + 2.0 * surrogate.l2 * (1.0 + surrogate.damping) * eye)

  def apply(v):
    z = jnp.concatenate([v.user, v.item], axis=0)[:, :, None]
    z = jax.scipy.linalg.cho_solve((chol, True), z)[:, :, 0]
    return LFMParams(user=z[:num_rows], item=z[num_rows:])

  return apply


def _adjoint(surrogate: ALSSurrogate, params: LFMParams, data: Array, cotangent: LFMParams):
  """``lambda`` solving ``(H + delta I) lambda = cotangent``, ``H`` the inner Hessian at
  ``params`` (symmetric, so this is also the transposed system of the IFT)."""
  grad_fn = jax.grad(_loss_fn(surrogate))
  hvp = lambda v: jax.jvp(lambda p: grad_fn(p, data), (params,), (v,))[1]
  damping = 2.0 * surrogate.damping * surrogate.l2  # delta
  if surrogate.linear_solver == "cg":
    matvec = lambda v: _tree_axpy(damping, v, hvp(v))
    precond = _block_jacobi(surrogate, params, data) if surrogate.precondition else None
    lam, _ = jax.scipy.sparse.linalg.cg(matvec, cotangent, tol=surrogate.cg_tol, atol=0.0,
                                        maxiter=surrogate.cg_maxiter, M=precond)
    return lam
  flat, unravel = ravel_pytree(cotangent)
  h = jax.vmap(lambda e: ravel_pytree(hvp(unravel(e)))[0])(jnp.eye(flat.shape[0],
                                                                   dtype=flat.dtype))
  evals, evecs = jnp.linalg.eigh(0.5 * (h + h.T))
  keep = jnp.abs(evals) > surrogate.dense_rcond * jnp.max(jnp.abs(evals))
  inv = jnp.where(keep, 1.0 / jnp.where(keep, evals + damping, 1.0), 0.0)
  return unravel(evecs @ (inv * (evecs.T @ flat)))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _fixed_point(surrogate: ALSSurrogate, data: Array, params0: LFMParams):
  return _sweeps(surrogate, params0, data, _loss_fn(surrogate))


def _fixed_point_fwd(surrogate, data, params0):
  params, losses = _sweeps(surrogate, params0, data, _loss_fn(surrogate))
  return (params, losses), (params, data, params0)


def _fixed_point_bwd(surrogate, residuals, cotangents):
  # IFT: F(theta*(X), X) = 0 with F = grad_theta L, so d theta* = -H^-1 d_X F dX and the
  # data's cotangent is -(d_X F)^T lambda with H lambda = theta*'s cotangent. The losses carry
  # no gradient; the fixed point does not depend on the start.
  params, data, params0 = residuals
  lam = _adjoint(surrogate, params, data, cotangents[0])
  grad_fn = jax.grad(_loss_fn(surrogate))
  _, vjp_data = jax.vjp(lambda x: grad_fn(params, x), data)
  (g_data,) = vjp_data(lam)
  return -g_data, jax.tree.map(jnp.zeros_like, params0)


_fixed_point.defvjp(_fixed_point_fwd, _fixed_point_bwd)


def fit_als(surrogate: ALSSurrogate, data: Array, key: PRNGKey) -> tuple[LFMParams, Array]:
  """Fits the ALS surrogate from scratch on ``data`` (pure, jittable, differentiable in ``data``).

  Starts from the LFM surrogate's initialisation for ``key`` (:func:`jaxrec.attacks._surrogate.
  fit_surrogate` draws the same factors for the same key, ``dim`` and ``init_scale``), runs
  ``num_sweeps`` sweeps of :func:`als_sweep`. With ``surrogate.implicit`` the result's
  reverse-mode derivative in ``data`` is the implicit one at the final factors (a
  ``jax.custom_vjp``; forward mode is not defined), otherwise that of the unrolled sweeps.

  Args:
    surrogate: the configuration (:func:`als_surrogate`).
    data: ``(N, I)`` floating matrix with entries in ``[0, 1]`` (not checked here).
    key: PRNG key of the initial factors.

  Returns:
    ``(params, losses)``: the factors (``user (N, D)``, ``item (I, D)``) and the ``(num_sweeps,)``
    training loss (:func:`weighted_mse`) *after* each sweep, non-increasing up to rounding. The
    losses carry no gradient.

  Raises:
    ValueError: ``data`` not a 2-D floating array.

  Source:
    Li, Wang, Singh, Vorobeychik, "Data Poisoning Attacks on Factorization-Based
    Collaborative Filtering", NeurIPS 2016, Sec. 3-4; implicit function theorem at the fixed
    point (module docstring).
  """
  data = jnp.asarray(data)
  if data.ndim != 2 or not jnp.issubdtype(data.dtype, jnp.floating):
    raise ValueError(f"data must be a 2-D floating (N, I) matrix, got {data.dtype}{data.shape}")
  params0 = _init(key, data.shape[0], data.shape[1], surrogate, data.dtype)
  if surrogate.implicit:
    params, losses = _fixed_point(surrogate, data, params0)
  else:
    params, losses = _sweeps(surrogate, params0, data, _loss_fn(surrogate))
  return params, jax.lax.stop_gradient(losses)
