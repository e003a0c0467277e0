"""EASE: a closed-form item-item linear autoencoder whose weights are a function of the data.

Reference:
  Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019 (Sec. 2, closed form
  ``P = (X^T X + lambda I)^-1``, ``B = I - P diagMat(1 / diag(P))``, i.e. ``B_ij = -P_ij / P_jj``
  for ``i != j`` and ``B_jj = 0``; scores ``X B``).
Reference code:
  The paper's own Python listing (Algorithm 1): the Gram matrix plus ``lambda`` on the diagonal,
  one dense inverse, column-wise division. jaxrec builds the Gram matrix chunk-wise from the
  weighted edges of a :class:`jaxrec.data.Graph` and differentiates through the inverse, so an
  attack can take gradients of EASE's scores with respect to the (relaxed) interactions.

EASE and ItemKNN (:mod:`jaxrec.models._itemknn`) are item-item models: ``init`` computes an
``(I, I)`` matrix ``W`` from the data and a user's scores are ``x_u W`` for the user's weighted
row ``x_u`` of the data (:func:`item_item_scores`).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from jaxrec import _checks
from jaxrec.data._graph import Graph, as_graph, user_rows
from jaxrec.models import _base
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["EASE", "EASEParams", "ease", "item_gram", "item_item_scores"]

_HIGHEST = jax.lax.Precision.HIGHEST  # no TF32 on GPUs: Gram counts and scores stay exact-ish


@struct.dataclass
class EASEParams:
  """EASE parameters.

  Attributes:
    weights: ``(I, I)`` item-item weights ``B`` (the graph weights' float dtype, ``float32`` for
      :func:`jaxrec.data.graph_from_index`), zero diagonal; the score of item ``j`` for a user
      with row ``x_u`` is ``x_u . B[:, j]``.
  """

  weights: Array


def _float_dtype(graph: Graph):
  return jnp.promote_types(graph.weights.dtype, jnp.float32)


def item_gram(graph: Graph, *, chunk_size: int = 256) -> Array:
  """Weighted item co-occurrence (Gram) matrix ``X^T X`` of the graph: ``(I, I)`` float.

  ``X`` is the ``(U, I)`` weighted user-item matrix (``X_ui`` = sum of the weights of the edges
  ``(u, i)``). It is never built whole: users are taken ``chunk_size`` at a time (contiguous
  ids), each chunk's dense rows are built from the edges in ``O(E)`` and ``X_c^T X_c`` is added up
  in a ``lax.scan``. Each chunk's rows are rematerialised in the backward pass
  (``jax.checkpoint``), so reverse mode does not store ``X`` either. Jittable, ``vmap``-able and
  differentiable with respect to ``graph.weights``.

  Args:
    graph: the interactions; ``weights`` ``(E,)`` float (float64 stays float64).
    chunk_size: static users per chunk (memory ``~ chunk_size * I`` floats per chunk).

  Returns:
    ``(I, I)`` symmetric matrix in the weights' float dtype (at least ``float32``).

  Raises:
    ValueError: a non-positive ``chunk_size``.

  Source:
    Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019, Sec. 2 (``X^T X``).
  """
  chunk_size = _checks.integer("chunk_size", chunk_size, low=1)
  nu, ni = graph.num_users, graph.num_items
  dtype = _float_dtype(graph)
  c = max(1, min(int(chunk_size), nu))
  num_chunks = math.ceil(nu / c)
  users, items = graph.users, graph.items

  @jax.checkpoint
  def chunk_gram(weights, start):
    local = users - start
    inside = (local >= 0) & (local < c)
    rows = jnp.zeros((c, ni), dtype).at[jnp.where(inside, local, c), items].add(
        weights.astype(dtype), mode="drop")
    return jnp.dot(rows.T, rows, precision=_HIGHEST)

  def body(gram, start):
    return gram + chunk_gram(graph.weights, start), None

  starts = jnp.arange(num_chunks, dtype=jnp.int32) * c
  gram, _ = jax.lax.scan(body, jnp.zeros((ni, ni), dtype), starts)
  return gram


@jax.custom_jvp
def _spd_inverse(gram: Array) -> Array:
  """Inverse of a symmetric positive-definite matrix via its Cholesky factor."""
  factor = jax.scipy.linalg.cho_factor(gram, lower=True)
  eye = jnp.eye(gram.shape[-1], dtype=gram.dtype)
  inv = jax.scipy.linalg.cho_solve(factor, eye)
  return 0.5 * (inv + inv.T)  # symmetric to rounding, exactly


@_spd_inverse.defjvp
def _spd_inverse_jvp(primals, tangents):
  (gram,), (dgram,) = primals, tangents
  inv = _spd_inverse(gram)
  dsym = 0.5 * (dgram + dgram.T)  # the forward pass reads a symmetric matrix
  return inv, -jnp.dot(jnp.dot(inv, dsym, precision=_HIGHEST), inv, precision=_HIGHEST)


def _fit(graph: Graph, reg, chunk_size: int) -> EASEParams:
  """EASE's closed form (see :meth:`EASE.init`)."""
  gram = item_gram(graph, chunk_size=chunk_size)
  n = gram.shape[0]
  gram = gram + jnp.asarray(reg, gram.dtype) * jnp.eye(n, dtype=gram.dtype)
  inv = _spd_inverse(gram)
  b = -inv / jnp.diagonal(inv)[None, :]
  b = jnp.where(jnp.eye(n, dtype=bool), jnp.zeros((), b.dtype), b)
  return EASEParams(weights=b)


def item_item_scores(weights: Array, data: Any, users: ArrayLike) -> Array:
  """``x_u W``: ``(C, I)`` scores of an item-item model for ``(C,)`` users.

  ``x_u`` is the user's weighted row of the data (:func:`jaxrec.data.user_rows`; repeated users
  allowed), ``W`` the ``(I, I)`` item-item matrix. NaN rows for ids outside ``[0, U)``
  (``ValueError`` when concrete).

  Args:
    weights: ``(I, I)`` floating matrix. data: a PositiveIndex or Graph with ``I`` items.
    users: ``(C,)`` integer user ids.

  Raises:
    ValueError: a catalogue that differs from the data's; ids out of range (concrete).

  Source:
    Steck, WWW 2019, Sec. 2 (scores ``X B``); Deshpande and Karypis, ACM TOIS 2004, Sec. 4.
  """
  graph = as_graph(data)
  _base.check_items(weights.shape[0], graph)
  users = _checks.ids("users", users, graph.num_users)
  rows = user_rows(graph, users)
  scores = jnp.dot(rows, weights.astype(rows.dtype), precision=_HIGHEST)
  return _base.nan_outside(scores, users, graph.num_users)


def item_item_pair_scores(weights: Array, data: Any, users: ArrayLike, items: ArrayLike
                          ) -> Array:
  """``(B,)`` scores ``x_u . W[:, i]`` of aligned pairs (NaN for ids out of range)."""
  graph = as_graph(data)
  _base.check_items(weights.shape[0], graph)
  u, i = _base.pair_ids(users, items, graph.num_users, graph.num_items)
  rows = user_rows(graph, u)
  cols = _base.take_rows(weights.T.astype(rows.dtype), i)  # (B, I): W[:, i] as rows
  s = jnp.einsum("bi,bi->b", rows, cols, precision=_HIGHEST)
  return _base.pair_nan_outside(s, u, i, graph.num_users, graph.num_items)


@struct.dataclass(kw_only=True)
class EASE:
  """EASE as a :class:`jaxrec.models.Model`: ``init`` solves the closed form on the data (a
  PositiveIndex, or a Graph whose relaxed weights receive gradients through the solve). Build it
  with :func:`ease` (validated).

  Attributes:
    reg: L2 weight ``lambda`` (units: interactions; compare with item degrees), ``> 0``; a
      leaf (traceable). On MovieLens-100K's leave-one-out split HR@10 is 0.140, 0.146, 0.144,
      0.136 for 100, 250, 500, 1000.
    chunk_size: static users per Gram chunk (:func:`item_gram`).
  """

  name: ClassVar[str] = "ease"
  reg: Any = 500.0
  chunk_size: int = struct.field(pytree_node=False, default=256)

  def init(self, key: PRNGKey, data: Any) -> EASEParams:
    """EASE's closed form on the data (jittable, ``vmap``-able); ``key`` is unused.

    ``G = X^T X + reg * Id`` (:func:`item_gram`), ``P = G^-1``, ``B_ij = -P_ij / P_jj`` for
    ``i != j`` and ``B_jj = 0`` (Steck 2019). An item without interactions gets a zero column
    and a zero row in ``B``.

    The inverse is a Cholesky factorisation plus two triangular solves: ``G`` is symmetric with
    eigenvalues ``>= reg > 0`` for non-negative weights, so Cholesky needs no pivoting, is
    backward-stable and costs about half an LU (``jnp.linalg.inv``); a non-positive-definite
    ``G`` shows as NaN instead of a silently wrong inverse. Derivatives use ``dP = -P dG P`` (a
    ``custom_jvp``, so forward and reverse mode both work, through :func:`jax.grad` with respect
    to the graph's weights and ``reg``), two matrix products instead of differentiating the
    factorisation step by step.

    Cost: ``O(U I^2)`` for the Gram matrix, ``O(I^3)`` for the inverse, ``O(I^2)`` memory.

    Returns:
      :class:`EASEParams` with ``(I, I)`` weights in the graph weights' float dtype.

    Raises:
      ValueError: data that are not a PositiveIndex or a valid Graph.

    Source:
      Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019, Sec. 2.
    """
    del key
    return _fit(as_graph(data), self.reg, self.chunk_size)

  def loss(self, params: EASEParams, batch: Any, data: Any) -> Array:
    """EASE's training objective at ``params``: ``||X - X B||_F^2 + reg ||B||_F^2`` (Steck
    2019, Eq. 1; minimised in closed form by :meth:`init`), computed from the Gram matrix
    ``G = X^T X`` as ``tr(G) - 2 <B, G> + <B, G B> + reg ||B||^2``; ``batch`` is unused.

    Returns:
      A scalar in the weights' dtype.

    Source:
      Steck, WWW 2019, Eq. (1).
    """
    del batch
    gram = item_gram(as_graph(data), chunk_size=self.chunk_size)
    b = params.weights.astype(gram.dtype)
    gb = jnp.dot(gram, b, precision=_HIGHEST)
    return (jnp.trace(gram) - 2.0 * jnp.sum(b * gram) + jnp.sum(b * gb)
            + self.reg * jnp.sum(b * b))

  def score(self, params: EASEParams, data: Any, users: ArrayLike, items: ArrayLike) -> Array:
    """``(B,)`` scores ``x_u . B[:, i]`` (NaN for ids out of range)."""
    return item_item_pair_scores(params.weights, data, users, items)

  def score_all(self, params: EASEParams, data: Any, users: ArrayLike) -> Array:
    """``(C, I)`` scores ``x_u B`` (:func:`item_item_scores`); a user without interactions
    scores 0 everywhere."""
    return item_item_scores(params.weights, data, users)

  def scoring(self, params: EASEParams, data: Any) -> tuple["EASE", EASEParams]:
    """The identity (the user rows are read per chunk)."""
    return _base.identity_scoring(self, params, data)


def ease(*, reg: float = 500.0, chunk_size: int = 256) -> EASE:
  """A validated :class:`EASE`.

  Args:
    reg: ``> 0`` and finite (float, NumPy or JAX scalar); default 500, the paper's value for
      ML-20M-sized data. chunk_size: users per Gram chunk ``>= 1``.

  Returns:
    An :class:`EASE`.

  Raises:
    ValueError: a non-positive or non-finite ``reg``, a bad ``chunk_size``.

  Source:
    Steck, WWW 2019.
  """
  return EASE(reg=_base.positive("reg", reg),
              chunk_size=_base.positive_int("chunk_size", chunk_size))
