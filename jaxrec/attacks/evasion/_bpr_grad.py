"""The summed BPR loss of BPR-MF over many triples, with a closed-form gradient.

``L = sum_t w_t * softplus(-x_t)``, ``x_t = p_u . (q_i - q_j) + b_i - b_j`` (He et al., SIGIR
2018, Eq. 6, on the perturbed factors). With ``g_t = dL/dx_t = -w_t * sigmoid(-x_t)`` the
gradient is a per-row sum over the triples:

* ``dL/dp_u = sum_{t: u_t = u} g_t (q_i - q_j)``,
* ``dL/dq_k = sum_{t: i_t = k} g_t p_u - sum_{t: j_t = k} g_t p_u``,
* ``dL/db_k = sum_{t: i_t = k} g_t - sum_{t: j_t = k} g_t``, ``dL/dw_t = softplus(-x_t)``.

Written that way, XLA:CPU computes it several times faster than reverse-mode autodiff of the
per-triple formula. Autodiff materialises every per-triple row (``p_u``, ``q_i``, ``q_j`` and
their cotangents: about 1 GB for MovieLens-1M's 10^6 triples at 64 factors), and on a 2-core
CPU most of its time goes to page faults on those fresh buffers (measured with ``perf``).
Two layouts avoid them:

* ``"sparse"``: a ``lax.scan`` over fixed chunks of triples (about 2 MiB of rows each, so
  they stay in cache). Each chunk gathers its rows, forms ``x_t`` and ``g_t``, and scatter-adds
  the three sums into the ``(U, D)``, ``(I, D)`` and ``(I,)`` accumulators. Work
  ``O(N D)``, memory ``O((U + I) D)`` besides the triples.
* ``"dense"``: the scores ``S = P Q^T + b`` (one matmul), ``x_t = S[u, i] - S[u, j]`` by scalar
  gathers, the coefficients ``C`` (``+g_t`` at ``(u, i)``, ``-g_t`` at ``(u, j)``) by scalar
  scatter-adds into a ``(U, I)`` buffer, then ``dL/dP = C Q`` and ``dL/dQ = C^T P`` (two
  matmuls). Work ``O(U I D)``, memory one ``(U, I)`` float32 buffer besides the scores.

``"auto"`` picks dense when the ``(U, I)`` buffer is at most :data:`DENSE_MAX_CELLS` cells and
the triples cover at least :data:`DENSE_MIN_DENSITY` of them, sparse otherwise. The density
bound is a crossover measured on the 2-core CPU with ``benchmarks/pgd_step.py`` (one whole
PGD step, layouts timed in turn on a shared machine, so roughly): at MovieLens-1M size
(6,040 x 3,706, density 4.5%, 10^6 triples) dense took 186-209 ms against 248-297 ms for
sparse and 680-720 ms for autodiff, with other processes using half the machine; sparse costs
about 0.25 us per triple there and dense about 190 ms whatever the triples, so they cross near
density 1/32. At MovieLens-100K size (943 x 1,682, 6.3%) dense won too; for the mini-batches of
APR (4,096 triples) dense is hopeless (it computes every score). Under heavier load (other
processes using 75-80% of the machine) sparse won at MovieLens-1M size: the rule is a rough
one. The cell bound caps the dense layout's memory; under ``vmap`` its buffers are per lane.

The loss is a ``jax.custom_jvp``: its value and every derivative (with respect to the factors,
the biases and the weights; forward and reverse mode; higher orders through the rule's own
derivative) equal those of the plain formula (``layout="autodiff"``, kept as the reference) up
to float32 rounding of a different summation order.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxrec import _checks
from jaxrec.models._mf import rowdot
from jaxrec.typing import Array, ArrayLike

__all__ = ["DENSE_MAX_CELLS", "DENSE_MIN_DENSITY", "LAYOUTS", "bpr_sum", "choose_layout"]

LAYOUTS = ("auto", "sparse", "dense", "autodiff")
DENSE_MAX_CELLS = 2 ** 25  # a (U, I) float32 buffer of at most 128 MiB
DENSE_MIN_DENSITY = 1 / 32  # triples per (user, item) cell
_CHUNK_ELEMENTS = 2 ** 19  # rows gathered per chunk of the sparse layout: 2 MiB of float32
_MIN_CHUNK = 256  # triples per chunk at least (wide factors)


def choose_layout(num_users: int, num_items: int, num_triples: int) -> str:
  """The layout ``"auto"`` uses: ``"dense"`` or ``"sparse"`` (static sizes, Python ints).

  Dense when ``num_users * num_items <= DENSE_MAX_CELLS`` and ``num_triples >=
  DENSE_MIN_DENSITY * num_users * num_items``; sparse otherwise (module docstring).

  Raises:
    Nothing.

  Source:
    jaxrec (the crossover measured on a 2-core CPU: module docstring).
  """
  cells = num_users * num_items
  dense = 0 < cells <= DENSE_MAX_CELLS and num_triples >= DENSE_MIN_DENSITY * cells
  return "dense" if dense else "sparse"


def bpr_sum(user_emb: ArrayLike, item_emb: ArrayLike, item_bias: ArrayLike, users: ArrayLike,
            pos_items: ArrayLike, neg_items: ArrayLike, weights: ArrayLike | None = None, *,
            layout: str = "auto") -> Array:
  """Summed weighted BPR loss of BPR-MF scores, ``sum_t w_t * softplus(-x_t)``.

  ``x_t = <user_emb[u_t], item_emb[i_t] - item_emb[j_t]> + item_bias[i_t] - item_bias[j_t]``.
  Differentiable in the factors, biases and weights, with the closed-form gradient of the
  module docstring (``layout`` picks how it is computed; every layout gives the same value and
  derivatives up to float32 rounding).

  Args:
    user_emb: ``(U, D) float32`` user factors. item_emb: ``(I, D) float32`` item factors.
    item_bias: ``(I,) float32`` item biases.
    users, pos_items, neg_items: ``(N,) int32`` triples; ids must be in range (out-of-range
      ids give unspecified values, as JAX indexing does not check them).
    weights: optional ``(N,) float32`` weights (0 for padding triples; their ids must still be
      in range); default all ones.
    layout: ``"auto"`` (:func:`choose_layout`), ``"sparse"``, ``"dense"`` or ``"autodiff"``
      (the per-triple formula differentiated by JAX: the reference, and the 0.2 behaviour).

  Returns:
    A scalar float32 (no regulariser; unitless log-loss summed over triples).

  Raises:
    ValueError: an unknown ``layout``.

  Source:
    He, He, Du, Chua, "Adversarial Personalized Ranking for Recommendation", SIGIR 2018,
    Eq. (6); Rendle et al., UAI 2009, Eq. (5) (BPR-Opt). The chunked and dense gradients are
    jaxrec's.
  """
  _checks.choice("layout", layout, LAYOUTS)
  p, q, b = (jnp.asarray(x) for x in (user_emb, item_emb, item_bias))
  u, i, j = (jnp.asarray(x) for x in (users, pos_items, neg_items))
  w = jnp.ones(u.shape, p.dtype) if weights is None else jnp.asarray(weights, p.dtype)
  if layout == "autodiff":
    return _plain(p, q, b, u, i, j, w)
  if layout == "auto":
    layout = choose_layout(p.shape[0], q.shape[0], u.shape[0])
  return _bpr_sum(layout, p, q, b, u, i, j, w)


def _plain(p, q, b, u, i, j, w):
  x = rowdot(p[u], q[i] - q[j]) + b[i] - b[j]
  return jnp.sum(-jax.nn.log_sigmoid(x) * w)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _bpr_sum(layout, p, q, b, u, i, j, w):
  return _terms(layout, p, q, b, u, i, j, w, grads=False)[0]


@_bpr_sum.defjvp
def _bpr_sum_jvp(layout, primals, tangents):
  dp, dq, db, _, _, _, dw = tangents
  value, losses, (gp, gq, gb) = _terms(layout, *primals, grads=True)
  tangent = (jnp.sum(gp * dp) + jnp.sum(gq * dq) + jnp.sum(gb * db)
             + jnp.sum(losses * dw))
  return value, tangent


def _terms(layout, p, q, b, u, i, j, w, *, grads):
  """``(value, per-triple losses (N,), (dL/dP, dL/dQ, dL/db) or None)``."""
  if u.shape[0] == 0:
    zero = jnp.zeros((), p.dtype)
    return zero, jnp.zeros((0,), p.dtype), (jnp.zeros_like(p), jnp.zeros_like(q),
                                            jnp.zeros_like(b))
  if layout == "dense":
    return _dense(p, q, b, u, i, j, w, grads)
  return _sparse(p, q, b, u, i, j, w, grads)


def _sparse(p, q, b, u, i, j, w, grads):
  n = u.shape[0]
  size = min(n, max(_MIN_CHUNK, _CHUNK_ELEMENTS // max(p.shape[1], 1)))
  chunks = -(-n // size)
  pad = chunks * size - n  # padding triples: ids 0, weight 0
  xs = tuple(jnp.pad(a, (0, pad)).reshape(chunks, size) for a in (u, i, j, w))

  def chunk(acc, xs):
    uc, ic, jc, wc = xs
    pu, dq = p[uc], q[ic] - q[jc]
    x = rowdot(pu, dq) + b[ic] - b[jc]
    losses = -jax.nn.log_sigmoid(x)
    value, gp, gq, gb = acc
    value = value + jnp.sum(losses * wc)
    if grads:
      g = -wc * jax.nn.sigmoid(-x)
      gp = gp.at[uc].add(g[:, None] * dq)
      gpu = g[:, None] * pu
      gq = gq.at[ic].add(gpu).at[jc].add(-gpu)
      gb = gb.at[ic].add(g).at[jc].add(-g)
    return (value, gp, gq, gb), losses

  acc0 = (jnp.zeros((), p.dtype), jnp.zeros_like(p), jnp.zeros_like(q), jnp.zeros_like(b))
  (value, gp, gq, gb), losses = jax.lax.scan(chunk, acc0, xs)
  return value, losses.reshape(-1)[:n], (gp, gq, gb)


def _dense(p, q, b, u, i, j, w, grads):
  num_items = q.shape[0]
  scores = (p @ q.T + b[None, :]).reshape(-1)  # (U * I,)
  fi, fj = u * num_items + i, u * num_items + j
  x = scores[fi] - scores[fj]
  losses = -jax.nn.log_sigmoid(x)
  value = jnp.sum(losses * w)
  if not grads:
    return value, losses, None
  g = -w * jax.nn.sigmoid(-x)
  # Zeros that depend on g: XLA then schedules the (U, I) buffer after the last read of the
  # scores and reuses their memory (one (U, I) temporary instead of two). A NaN g[0] still
  # gives 0 here, as does an infinite one.
  g0 = g[0]
  zero = jnp.where(jnp.isfinite(g0), g0 * 0.0, 0.0).astype(p.dtype)
  coef = jnp.broadcast_to(zero, scores.shape).at[fi].add(g).at[fj].add(-g)
  coef = coef.reshape(p.shape[0], num_items)
  gb = jnp.zeros_like(b).at[i].add(g).at[j].add(-g)
  return value, losses, (coef @ q, coef.T @ p, gb)
