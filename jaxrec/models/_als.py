"""Implicit-differentiation surrogate for bilevel poisoning: weighted ALS at its fixed point.

A :class:`jaxrec.models.Model` whose ``init`` solves: the sweeps run from the LFM surrogate's
random start and the result is differentiable in the data by the implicit function theorem.

The inner problem of bilevel poisoning (:mod:`jaxrec.attacks._bilevel`) solved by weighted
alternating least squares instead of unrolled Adam, after Li, Wang, Singh, Vorobeychik, "Data
Poisoning Attacks on Factorization-Based Collaborative Filtering", NeurIPS 2016 (an
alternating-minimisation victim of a regularised squared loss; the attacker's gradient comes from
the optimality conditions of the learned factors). The surrogate minimises the same loss as the
unrolled LFM surrogate (:func:`jaxrec.models._lfm.weighted_mse`)::

  L(P, Q; X) = sum_{u, i} w_ui (y_ui - p_u . q_i)^2 + reg (|P|^2 + |Q|^2) + const(X),

with ``w = pos_weight`` on positives and 1 on zeros (``"indicator"``) or ``w = 1 + (pos_weight -
1) x`` and ``w y = pos_weight x`` (``"bernoulli"``). Each half-sweep is a batch of closed-form
ridge solves, for every user ``u`` (and symmetrically for every item)::

  p_u = (Q^T W_u Q + reg I)^-1 Q^T W_u y_u,     W_u = diag(w_u),

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
``reg = 0`` the loss is constant along these ``D^2`` directions. ``reg > 0`` removes every
direction but rotations: for fixed ``R`` the penalty is minimal only on balanced factors
(``P^T P = Q^T Q``), which ``A`` preserves only when it is orthogonal. Rotations
``(P, Q) -> (P O, Q O)`` leave both ``R`` and ``|P|^2 + |Q|^2`` unchanged, so even with
``reg > 0`` the Hessian at every stationary point has the null space ``{(P S, Q S): S = -S^T}``
(dimension ``D (D - 1) / 2``; exactly that many zero eigenvalues, checked in float64 on a 12 x 9
problem for ``D = 3, 4``): it is positive definite only on the complement, and "reg > 0 makes
the Hessian positive definite" holds modulo rotations only. The IFT system stays consistent and
its answer unique where it matters: the loss is rotation-invariant for all data, so ``d_X F`` is
orthogonal to the null space, and so is the outer gradient (the outer loss depends on ``R``
only); a null-space component of the solution is annihilated by ``d_X F^T``. Damped, the solve
is positive definite and its answer, like its right-hand side, is orthogonal to the null space;
undamped CG from zero stays in the range of ``H`` (the minimum-norm solution; with the
preconditioner null-space components may enter, harmlessly); the dense solver drops eigenvalues
below ``dense_rcond * max |eigenvalue|``.

The damping ``delta = 2 damping reg`` (a fraction ``damping`` of the curvature ``2 reg`` that the
penalty alone gives every direction; the solve is ``(H + delta I) lambda = g``) guards against
the small or negative eigenvalues of an inexact fixed point (after too few sweeps, undamped CG
run long enough blows up along them); its bias on an eigen-direction of ``H`` is the factor
``lambda / (lambda + delta)``. A small ``cg_maxiter`` regularises too (early-stopped CG). ``reg``
also bounds the factors and makes every ridge system positive definite, so ``reg > 0`` is
required.

The hypergradient is exact only at an exact stationary point: with too few sweeps it is the
IFT formula evaluated at an approximate one (compare :meth:`ALS.sweeps`' losses, or the inner
gradient norm, across ``num_sweeps``). On the RevAdv synthetic problem (1000 x 300, ``D = 16``,
``reg = 10``; float32) its cosine with a reference (400 sweeps, CG to ``1e-8``) is 0.99 after 50
sweeps, 0.996 after 100 (the defaults) and 0.9997 after 200; the unrolled gradient through 100
sweeps has cosine 0.993 with it. ``implicit=False`` differentiates through the unrolled sweeps
instead (memory linear in ``num_sweeps``; the reference of the tests).
"""

from __future__ import annotations

import functools
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct
from jax.flatten_util import ravel_pytree

from jaxrec import _checks
from jaxrec.models import _base
from jaxrec.models._lfm import RELAXATIONS, DenseFactors, init_factors, weighted_mse
from jaxrec.models._mf import MFParams
from jaxrec.typing import Array, PRNGKey

__all__ = ["ALS", "LINEAR_SOLVERS", "als", "als_sweep"]

LINEAR_SOLVERS = ("cg", "dense")


class Factors(NamedTuple):
  """The variables of the inner problem: ``user (N, D)`` and ``item (I, D)`` factors (the IFT
  runs over these only; the model's params add a zero item bias)."""

  user: Array
  item: Array


@struct.dataclass(kw_only=True)
class ALS(DenseFactors):
  """Weighted ALS as a :class:`jaxrec.models.Model` on a dense ``(N, I)`` matrix: ``init``
  solves (module docstring), ``loss`` is the fitted loss (:func:`jaxrec.models.weighted_mse`),
  scores are ``P Q^T``. Every attribute is static (the custom VJP keys on them). Build it with
  :func:`als` (validated).

  Attributes:
    dim: factors ``D``. num_sweeps: ALS sweeps (users then items) from the random start.
    pos_weight: weight of a positive entry (zeros weigh 1), as :func:`weighted_mse`.
    reg: coefficient of ``|P|^2 + |Q|^2`` (summed squares), > 0 (see the module docstring).
    init_scale: the start is ``init_scale * N(0, 1)``, drawn as the LFM surrogate's (the user
      factors of the start are unused: the first half-sweep solves for them).
    relaxation: ``"indicator"`` or ``"bernoulli"`` (see :func:`weighted_mse`).
    implicit: hypergradient by the implicit function theorem (``True``) or by differentiating
      the unrolled sweeps (``False``: memory linear in ``num_sweeps``; a reference).
    linear_solver: ``"cg"`` (conjugate gradients on Hessian-vector products) or ``"dense"``
      (materialise the ``(N + I) D`` square Hessian and eigendecompose it; tiny problems).
    cg_maxiter: CG iterations at most. cg_tol: CG's relative residual tolerance.
    damping: >= 0; ``2 damping reg`` is added to the Hessian's diagonal (a fraction of the
      penalty's own curvature ``2 reg``).
    dense_rcond: the dense solver ignores eigenvalues below ``dense_rcond * max |eigenvalue|``.
    precondition: block-Jacobi preconditioning of CG (the per-user and per-item ``D x D``
      blocks of the damped Hessian, factorised once per backward pass).
  """

  name: ClassVar[str] = "als"
  dim: int = struct.field(pytree_node=False, default=16)
  num_sweeps: int = struct.field(pytree_node=False, default=100)
  pos_weight: float = struct.field(pytree_node=False, default=20.0)
  reg: float = struct.field(pytree_node=False, default=10.0)
  init_scale: float = struct.field(pytree_node=False, default=1.0)
  relaxation: str = struct.field(pytree_node=False, default="indicator")
  implicit: bool = struct.field(pytree_node=False, default=True)
  linear_solver: str = struct.field(pytree_node=False, default="cg")
  cg_maxiter: int = struct.field(pytree_node=False, default=50)
  cg_tol: float = struct.field(pytree_node=False, default=1e-5)
  damping: float = struct.field(pytree_node=False, default=0.05)
  dense_rcond: float = struct.field(pytree_node=False, default=1e-9)
  precondition: bool = struct.field(pytree_node=False, default=True)

  def init(self, key: PRNGKey, data: Array) -> MFParams:
    """Fits ALS from scratch on ``data`` (pure, jittable, differentiable in ``data``).

    Starts from the LFM surrogate's initialisation for ``key`` (the same factors for the same
    key, ``dim`` and ``init_scale``), runs ``num_sweeps`` sweeps of :func:`als_sweep`. With
    ``implicit`` the result's reverse-mode derivative in ``data`` is the implicit one at the
    final factors (a ``jax.custom_vjp``; forward mode is not defined), otherwise that of the
    unrolled sweeps. The training losses are :func:`sweep_losses`.

    Args:
      key: PRNG key of the initial factors.
      data: ``(N, I)`` floating matrix with entries in ``[0, 1]``.

    Returns:
      :class:`jaxrec.models.MFParams`: ``user_emb (N, D)``, ``item_emb (I, D)``, a zero
      ``item_bias``, in ``data``'s dtype.

    Raises:
      ValueError: ``data`` not a 2-D floating matrix.

    Source:
      Li, Wang, Singh, Vorobeychik, "Data Poisoning Attacks on Factorization-Based
      Collaborative Filtering", NeurIPS 2016, Sec. 3-4; implicit function theorem at the fixed
      point (module docstring).
    """
    factors, _ = self.sweeps(key, data)
    return MFParams(user_emb=factors.user, item_emb=factors.item,
                    item_bias=jnp.zeros((factors.item.shape[0],), factors.item.dtype))

  def sweeps(self, key: PRNGKey, data: Array) -> tuple[Factors, Array]:
    """``(factors, losses)``: :meth:`init`'s factors and the ``(num_sweeps,)`` training loss
    (:func:`weighted_mse`) *after* each sweep, non-increasing up to rounding (no gradient).

    Raises:
      ValueError: ``data`` not a 2-D floating matrix.
    """
    data = _checks.matrix("data", data)
    params0 = Factors(*init_factors(key, data, self.dim, self.init_scale))
    if self.implicit:
      factors, losses = _fixed_point(self, data, params0)
    else:
      factors, losses = _sweeps(self, params0, data)
    return factors, jax.lax.stop_gradient(losses)


def als(*, dim: int = 16, num_sweeps: int = 100, pos_weight: float = 20.0, reg: float = 10.0,
        init_scale: float = 1.0, relaxation: str = "indicator", implicit: bool = True,
        linear_solver: str = "cg", cg_maxiter: int = 50, cg_tol: float = 1e-5,
        damping: float = 0.05, dense_rcond: float = 1e-9, precondition: bool = True) -> ALS:
  """A validated :class:`ALS` (attributes documented there).

  The defaults were chosen on the RevAdv synthetic setting (``experiments/revadv_synthetic.py``:
  1000 x 300, dim 16, positives weighted 20, float32): with ``reg = 10`` the inner gradient norm
  falls from about 3e3 after 5 sweeps to 2e1 after 100 and 1 after 200 (with ``reg = 1``: 2e2
  after 100), and 100 sweeps, 50 preconditioned CG iterations and ``damping = 0.05`` give a
  hypergradient with cosine 0.996 to the converged one (module docstring), about 0.25 s per
  outer step on 2 CPU cores. Undamped, 50 sweeps and long CG runs can blow up (cosine 0.44);
  ``damping = 0.5`` biases the gradient's norm by about 9%. On a 35 x 20 problem (``reg = 1``,
  150 sweeps) the default damping gives cosine 0.999 with the exact hypergradient, ``damping =
  0.5`` only 0.95.

  Returns:
    An :class:`ALS`.

  Raises:
    ValueError: ``dim < 1``, ``num_sweeps < 1``, ``cg_maxiter < 1``; a non-positive or
      non-finite ``pos_weight``, ``reg``, ``init_scale`` or ``cg_tol``; a negative or
      non-finite ``damping``; a ``dense_rcond`` outside ``[0, 1)``; an unknown relaxation or
      linear solver.

  Source:
    Li, Wang, Singh, Vorobeychik, NeurIPS 2016.
  """
  return ALS(dim=_base.positive_int("dim", dim),
             num_sweeps=_base.positive_int("num_sweeps", num_sweeps),
             pos_weight=float(_base.positive("pos_weight", pos_weight)),
             reg=float(_base.positive("reg", reg)),
             init_scale=float(_base.positive("init_scale", init_scale)),
             relaxation=_checks.choice("relaxation", relaxation, RELAXATIONS),
             implicit=bool(implicit),
             linear_solver=_checks.choice("linear_solver", linear_solver, LINEAR_SOLVERS),
             cg_maxiter=_base.positive_int("cg_maxiter", cg_maxiter),
             cg_tol=float(_base.positive("cg_tol", cg_tol)),
             damping=float(_base.non_negative("damping", damping)),
             dense_rcond=float(_checks.real("dense_rcond", dense_rcond, high=1.0 - 1e-12)),
             precondition=bool(precondition))


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


def _ridge_rows(w: Array, wy: Array, other: Array, reg: float) -> Array:
  """Row ``r`` of the result solves ``(O^T diag(w_r) O + reg I) z = O^T wy_r``: ``(R, D)``,
  by a batched Cholesky factorisation. ``w, wy``: ``(R, C)``; ``other`` ``O``: ``(C, D)``."""
  eye = jnp.eye(other.shape[1], dtype=other.dtype)[None]
  chol = jnp.linalg.cholesky(_gram(w, other) + reg * eye)
  return jax.scipy.linalg.cho_solve((chol, True), (wy @ other)[:, :, None])[:, :, 0]


def als_sweep(model: ALS, params: Factors, data: Array) -> Factors:
  """One ALS sweep: every user's ridge solve given the items, then every item's given the users.

  Differentiable (through the Cholesky solves) and jittable; :meth:`ALS.init` does not
  differentiate it when ``model.implicit``.

  Args:
    model: the configuration (``pos_weight``, ``reg``, ``relaxation`` are used).
    params: the current factors (only ``params.item`` enters the first half-sweep).
    data: ``(N, I)`` floating matrix, entries in ``[0, 1]``.

  Returns:
    The new :class:`Factors`: ``user (N, D)``, ``item (I, D)``, ``data``'s dtype.

  Raises:
    Nothing is validated (jittable); :meth:`ALS.init` validates.

  Source:
    Li, Wang, Singh, Vorobeychik, NeurIPS 2016, Sec. 3 (alternating minimisation); the
    per-row ridge solve of Hu, Koren, Volinsky, ICDM 2008, Eq. (4).
  """
  w, wy = _quadratic(data, model.pos_weight, model.relaxation)
  user = _ridge_rows(w, wy, params.item, model.reg)
  item = _ridge_rows(w.T, wy.T, user, model.reg)
  return Factors(user=user, item=item)


def _sweeps(model: ALS, params: Factors, data: Array) -> tuple[Factors, Array]:
  """``num_sweeps`` sweeps (a fixed-point iteration of closed-form solves, not a gradient
  method) and the loss after each."""
  def body(p, _):
    p = als_sweep(model, p, data)
    return p, _loss(model, p, data)
  return jax.lax.scan(body, params, length=model.num_sweeps)


def _loss(model: ALS, params: Factors, data: Array) -> Array:
  return weighted_mse(params.user, params.item, data, pos_weight=model.pos_weight,
                      reg=model.reg, relaxation=model.relaxation)


def _tree_axpy(a: float, x, y):
  return jax.tree.map(lambda xx, yy: a * xx + yy, x, y)


def _block_jacobi(model: ALS, params: Factors, data: Array):
  """``v -> M^-1 v`` with ``M`` the block diagonal of ``H + delta I``: ``2 (Q^T W_u Q + reg I)``
  per user and ``2 (P^T W_i P + reg I)`` per item (the ALS systems; the user-user and item-item
  blocks of ``H`` are exactly block diagonal), plus ``delta = 2 damping reg``. Positive
  definite.

  The ``N + I`` blocks are factorised by *one* batched Cholesky call: two independent batched
  LAPACK factorisations in one program may run concurrently on XLA:CPU, which deadlocked (jaxlib
  0.10.2, ``lapack_spotrf_ffi`` in both, all threads waiting).
  """
  w, _ = _quadratic(data, model.pos_weight, model.relaxation)
  num_rows, d = params.user.shape
  eye = jnp.eye(d, dtype=params.user.dtype)[None]
  blocks = jnp.concatenate([_gram(w, params.item), _gram(w.T, params.user)], axis=0)
  chol = jnp.linalg.cholesky(2.0 * blocks + 2.0 * model.reg * (1.0 + model.damping) * eye)

  def apply(v):
    z = jnp.concatenate([v.user, v.item], axis=0)[:, :, None]
    z = jax.scipy.linalg.cho_solve((chol, True), z)[:, :, 0]
    return Factors(user=z[:num_rows], item=z[num_rows:])

  return apply


def _adjoint(model: ALS, params: Factors, data: Array, cotangent: Factors):
  """``lambda`` solving ``(H + delta I) lambda = cotangent``, ``H`` the inner Hessian at
  ``params`` (symmetric, so this is also the transposed system of the IFT)."""
  grad_fn = jax.grad(functools.partial(_loss, model))
  hvp = lambda v: jax.jvp(lambda p: grad_fn(p, data), (params,), (v,))[1]
  damping = 2.0 * model.damping * model.reg  # delta
  if model.linear_solver == "cg":
    matvec = lambda v: _tree_axpy(damping, v, hvp(v))
    precond = _block_jacobi(model, params, data) if model.precondition else None
    lam, _ = jax.scipy.sparse.linalg.cg(matvec, cotangent, tol=model.cg_tol, atol=0.0,
                                        maxiter=model.cg_maxiter, M=precond)
    return lam
  flat, unravel = ravel_pytree(cotangent)
  h = jax.vmap(lambda e: ravel_pytree(hvp(unravel(e)))[0])(jnp.eye(flat.shape[0],
                                                                   dtype=flat.dtype))
  evals, evecs = jnp.linalg.eigh(0.5 * (h + h.T))
  keep = jnp.abs(evals) > model.dense_rcond * jnp.max(jnp.abs(evals))
  inv = jnp.where(keep, 1.0 / jnp.where(keep, evals + damping, 1.0), 0.0)
  return unravel(evecs @ (inv * (evecs.T @ flat)))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _fixed_point(model: ALS, data: Array, params0: Factors):
  return _sweeps(model, params0, data)


def _fixed_point_fwd(model, data, params0):
  params, losses = _sweeps(model, params0, data)
  return (params, losses), (params, data, params0)


def _fixed_point_bwd(model, residuals, cotangents):
  # IFT: F(theta*(X), X) = 0 with F = grad_theta L, so d theta* = -H^-1 d_X F dX and the
  # data's cotangent is -(d_X F)^T lambda with H lambda = theta*'s cotangent. The losses carry
  # no gradient; the fixed point does not depend on the start.
  params, data, params0 = residuals
  lam = _adjoint(model, params, data, cotangents[0])
  grad_fn = jax.grad(functools.partial(_loss, model))
  _, vjp_data = jax.vjp(lambda x: grad_fn(params, x), data)
  (g_data,) = vjp_data(lam)
  return -g_data, jax.tree.map(jnp.zeros_like, params0)


_fixed_point.defvjp(_fixed_point_fwd, _fixed_point_bwd)


