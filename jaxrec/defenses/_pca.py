"""PCA-VarSelect shilling detection (Mehta and Nejdl, 2009) by randomized subspace iteration.

Users are the variables and items the observations: each user's profile is z-scored, the top
principal components of the user-user covariance are taken, and users whose loadings on those
components are smallest are the suspicious ones (fake profiles correlate little with the real
population's main directions of variation, and their loadings are small).

Reference:
  Mehta, Nejdl, "Unsupervised strategies for shilling detection and robust collaborative
  filtering", User Modeling and User-Adapted Interaction 19(1-2), 65-97, 2009.
  Halko, Martinsson, Tropp, "Finding structure with randomness: probabilistic algorithms for
  constructing approximate matrix decompositions", SIAM Review 53(2), 217-288, 2011.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxrec import _checks
from jaxrec.data._interactions import Interactions
from jaxrec.defenses._detection import _prepare, _Rows
from jaxrec.typing import Array, PRNGKey

__all__ = ["pca_suspicion"]

_HIGHEST = jax.lax.Precision.HIGHEST


def _zscore_operator(rows: _Rows, num_users: int, num_items: int, explicit: bool, zscore: str):
  """The z-scored matrix ``Z = S - c 1^T`` as a sparse part ``S`` and a rank-one shift ``c``.

  Returns ``(vals (N,), shift (U,), ok (U,) bool)``: ``S`` holds ``vals`` at the unique rows;
  ``ok`` is False for users with no interactions or zero variance (their row of ``Z`` is 0).
  """
  u, w = rows.users, rows.valid
  uc = jnp.minimum(u, num_users - 1)
  count = jax.ops.segment_sum(w, u, num_segments=num_users)
  if explicit and zscore == "rated":
    # Mehta's convention: z-scores over the rated items only, unrated entries 0. Population std.
    r = rows.values
    mean = jax.ops.segment_sum(w * r, u, num_segments=num_users) / jnp.maximum(count, 1.0)
    d = (r - mean[uc]) * w
    var = jax.ops.segment_sum(d * d, u, num_segments=num_users) / jnp.maximum(count, 1.0)
    # relative floor: float ratings that are equal up to rounding count as constant
    ok = (count > 0) & (var > (1e-6 * (jnp.abs(mean) + 1.0)) ** 2)
    inv_sd = jnp.where(ok, jax.lax.rsqrt(jnp.where(ok, var, 1.0)), 0.0)
    vals = d * inv_sd[uc]
    shift = jnp.zeros((num_users,), jnp.float32)
  else:
    # The full row over the catalogue (ratings, 0 where unrated; 1/0 for implicit data) is
    # z-scored: mean m = sum_i x_ui / I, variance sum_i x_ui^2 / I - m^2;
    # Z = diag(1 / std) X - (m / std) 1^T.
    r = rows.values * w
    m = jax.ops.segment_sum(r, u, num_segments=num_users) / num_items
    msq = jax.ops.segment_sum(r * r, u, num_segments=num_users) / num_items
    var = msq - m * m
    # relative floor: E[x^2] - m^2 cancels to float32 noise for a constant row
    ok = (count > 0) & (var > 1e-6 * msq)
    inv_sd = jnp.where(ok, jax.lax.rsqrt(jnp.where(ok, var, 1.0)), 0.0)
    vals = r * inv_sd[uc]
    shift = m * inv_sd
  return vals, shift, ok


def _householder_qr(a: Array) -> Array:
  """Orthonormal ``Q (n, p)`` with ``a = Q R``, by Householder reflections (``p <= n``).

  Written in JAX rather than calling LAPACK (``jnp.linalg.qr``): the results agree, but on CPU
  LAPACK's multithreaded ``geqrf`` stalls when the cores are shared (measured on 2 busy cores for
  ``(990, 15)``: 30-130 ms per call, against 0.25 ms here), and subspace iteration calls it
  ``2 num_iters + 1`` times. Rank-deficient input is fine: a zero column gets the identity
  reflector, so ``Q`` stays orthonormal.
  """
  n, p = a.shape
  rows = jnp.arange(n)

  def reflect(v, x):  # (I - 2 v v^T) x
    return x - 2.0 * v[:, None] * jnp.dot(v, x, precision=_HIGHEST)[None, :]

  def step(k, carry):
    r, vs = carry
    x = jnp.where(rows >= k, r[:, k], 0.0)
    alpha = -jnp.where(x[k] >= 0, 1.0, -1.0) * jnp.sqrt(jnp.sum(x * x))
    v = x - jnp.where(rows == k, alpha, 0.0)
    norm = jnp.sqrt(jnp.sum(v * v))
    v = jnp.where(norm > 0, v / jnp.where(norm > 0, norm, 1.0), 0.0)
    return reflect(v, r), vs.at[:, k].set(v)

  _, vs = jax.lax.fori_loop(0, p, step, (a, jnp.zeros_like(a)))
  # Q = H_0 H_1 ... H_{p-1} applied to the first p columns of the identity
  return jax.lax.fori_loop(
      0, p, lambda j, q: reflect(vs[:, p - 1 - j], q), jnp.eye(n, p, dtype=a.dtype))


@functools.partial(
    jax.jit,
    static_argnames=("num_users", "num_items", "explicit", "zscore", "num_components", "rank",
                     "num_iters"))
def _pca_loadings(rows: _Rows, key: PRNGKey, *, num_users: int, num_items: int, explicit: bool,
                  zscore: str, num_components: int, rank: int, num_iters: int
                  ) -> tuple[Array, Array]:
  """Top left singular vectors of ``Z`` (the covariance eigenvectors) and singular values.

  Returns:
    ``(loadings (U, num_components) float32, singular_values (num_components,) float32)``;
    loadings of users with an all-zero ``Z`` row are exactly 0.
  """
  vals, shift, ok = _zscore_operator(rows, num_users, num_items, explicit, zscore)
  u = rows.users
  uc = jnp.minimum(u, num_users - 1)
  i = rows.items

  def z_mul(v):  # (I, r) -> (U, r): Z v
    sv = jax.ops.segment_sum(vals[:, None] * v[i], u, num_segments=num_users)
    return sv - shift[:, None] * jnp.sum(v, axis=0)[None, :]

  def zt_mul(y):  # (U, r) -> (I, r): Z^T y
    sy = jax.ops.segment_sum(vals[:, None] * y[uc], i, num_segments=num_items)
    return sy - jnp.dot(shift, y, precision=_HIGHEST)[None, :]

  orth = _householder_qr
  omega = jax.random.normal(key, (num_items, rank), jnp.float32)
  q = orth(z_mul(omega))
  q = jax.lax.fori_loop(0, num_iters, lambda _, q: orth(z_mul(orth(zt_mul(q)))), q)
  # Z ~ Q Q^T Z = Q B with B^T = Z^T Q = W S Vh, so B = Vh^T S W^T and Z's left vectors ~ Q Vh^T.
  _, s, vh = jnp.linalg.svd(zt_mul(q), full_matrices=False)
  loadings = jnp.dot(q, vh.T[:, :num_components], precision=_HIGHEST)
  return jnp.where(ok[:, None], loadings, 0.0), s[:num_components]


def pca_suspicion(
    interactions: Interactions,
    *,
    num_components: int = 3,
    num_iters: int = 30,
    key: PRNGKey | None = None,
    oversample: int = 10,
    zscore: str = "catalogue",
) -> Array:
  """PCA-VarSelect suspicion score of every user (Mehta and Nejdl, 2009).

  Threat model: unsupervised detection of injected profiles in the (poisoned) training data; the
  detector sees only the interactions, not which users are fake.

  Z-scoring (``zscore``). ``"catalogue"`` (default): each user's full row over the whole
  catalogue (the ratings, 0 where unrated; 1/0 for implicit data) is z-scored with its mean and
  population std over all ``I`` items. ``"rated"`` (explicit data only): Mehta's convention,
  each user's ratings z-scored over the items they rated, unrated entries 0. jaxrec defaults to
  the catalogue-wide variant because it detects far better on MovieLens-100K (below). Either
  way every z-scored row has mean 0 over the items, so the user-user covariance is
  ``Z Z^T / (I - 1)`` and its top eigenvectors are the top left singular vectors of ``Z``.

  The dense ``(U, I)`` matrix is never built: the singular vectors come from randomized
  subspace iteration (Halko et al., 2011, Alg. 4.4) with ``num_components + oversample``
  vectors, products with ``Z`` as segment sums over the unique interaction rows (the implicit
  mean shift is a rank-one correction), and a QR after every product.

  The score of user ``u`` is ``-sum_k V[u, k]^2`` over the top ``num_components`` unit-norm
  eigenvectors ``V``: the *negative* sum of squared loadings, so higher = more suspicious. It is
  the diagonal of the projector onto the top components, so it does not depend on signs or on
  the basis chosen within that subspace. Users with no interactions or zero variance (a
  constant-rating profile; a user who has every item, in the implicit case) have an all-zero
  z-scored row, loadings 0 and hence the maximal score 0: the method ranks them most suspicious.

  Measured (``tests/defenses``, MovieLens-100K plus 47 average-attack profiles with 50 random
  fillers, 47 users flagged, random flagger 0.047), 3 components: precision 0.98 on implicit
  data; on explicit data about 0.9 with ``zscore="catalogue"`` but only chance level (0.0-0.11
  over attack seeds) with ``"rated"``, where short genuine profiles have the smallest loadings.

  Args:
    interactions: the poisoned training data over ``U`` users and ``I`` items; ``ratings`` may
      be ``None`` (implicit). Duplicated (user, item) rows count once (explicit: last row wins).
    num_components: number of top principal components, in ``[1, min(U, I)]``; Mehta and Nejdl
      keep the first few; 3 by default.
    num_iters: subspace (power) iterations, each one product with ``Z^T`` and ``Z``; the error
      in the subspace decays roughly like ``(s_{r+1} / s_k)^(2 num_iters)``, ``r`` the subspace
      size.
    key: PRNG key of the random start; default ``jax.random.key(0)``. Results are deterministic
      given the key and, once converged, essentially independent of it.
    oversample: extra vectors in the subspace (Halko et al. suggest 5 to 10); the subspace size
      is ``min(num_components + oversample, U, I)``.
    zscore: ``"catalogue"`` or ``"rated"`` (see above).

  Returns:
    ``(U,) float32`` suspicion scores in ``[-1, 0]``, higher = more suspicious.

  Raises:
    TypeError: ``interactions`` is not an ``Interactions``.
    ValueError: invalid interactions (see :func:`jaxrec.data.from_arrays`), ``num_components``
      outside ``[1, min(U, I)]``, negative ``num_iters`` or ``oversample``, an unknown
      ``zscore``.
  """
  if zscore not in ("catalogue", "rated"):
    raise ValueError(f"zscore must be 'catalogue' or 'rated', got {zscore!r}")
  rows, explicit = _prepare(interactions)
  nu, ni = interactions.num_users, interactions.num_items
  num_components = _checks.integer("num_components", num_components, low=1, high=min(nu, ni))
  num_iters = _checks.integer("num_iters", num_iters, low=0)
  oversample = _checks.integer("oversample", oversample, low=0)
  key = jax.random.key(0) if key is None else key
  loadings, _ = _pca_loadings(
      rows, key, num_users=nu, num_items=ni, explicit=explicit, zscore=zscore,
      num_components=num_components,
      rank=min(num_components + oversample, nu, ni), num_iters=num_iters)
  return -jnp.sum(loadings * loadings, axis=1)
