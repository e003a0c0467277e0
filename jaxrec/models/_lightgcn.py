"""LightGCN: linear propagation of ID embeddings on the user-item graph.

Reference:
  He, Deng, Wang, Li, Zhang, Wang, "LightGCN: Simplifying and Powering Graph Convolution Network
  for Recommendation", SIGIR 2020 (Eq. 3 light graph convolution, Eq. 4 layer combination with
  ``alpha_k = 1 / (K + 1)``, Eq. 5 inner-product score, Eq. 15 BPR loss with L2 on the layer-0
  embeddings only).
Reference code:
  gusye1234/LightGCN-PyTorch (``code/model.py``, the authors' PyTorch port): embeddings start from
  N(0, 0.1^2) ("random normal init seems to be a better choice" than the paper's Xavier init,
  since the model has no non-linearity); the normalised adjacency sets ``d^-1/2 = 0`` for
  degree-0 nodes; ``reg_loss = 1/2 (|e_u^0|^2 + |e_i^0|^2 + |e_j^0|^2) / B`` next to a mean BPR
  loss, i.e. the summed form used here.

The interaction graph is an *argument* (:class:`jaxrec.data.Graph`, weighted edges), never
stored: propagation is a differentiable function of ``graph.weights``, so a relaxed (fractional)
fake interaction receives a gradient through both the messages it carries and the degrees it
changes. No dense users x items adjacency is built: each layer is a gather and a scatter-add over
the ``E`` edges (``O(E D)`` time, ``O((U + I) D)`` memory beyond the graph, see :func:`propagate`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxrec import losses
from jaxrec.data._graph import Graph, graph_degrees
from jaxrec.data._sampling import BPRBatch
from jaxrec.models._mf import MFParams, _rowdot
from jaxrec.typing import Array, PRNGKey

__all__ = ["LightGCNParams", "edge_norms", "init", "lightgcn_bpr_objective", "propagate",
           "to_mf"]


@struct.dataclass
class LightGCNParams:
  """LightGCN parameters: the layer-0 ("ego") embeddings, the model's only parameters.

  Attributes:
    user_emb: ``(U, D) float32`` user embeddings ``e_u^(0)``.
    item_emb: ``(I, D) float32`` item embeddings ``e_i^(0)``.
  """

  user_emb: Array
  item_emb: Array


def init(key: PRNGKey, num_users: int, num_items: int, dim: int = 64, *,
         stddev: float = 0.1) -> LightGCNParams:
  """Embeddings ~ N(0, stddev^2), no bias (the paper's model has none).

  Args:
    key: a PRNG key.
    num_users: ``U``. num_items: ``I``. dim: embedding size ``D`` (64 in the paper).
    stddev: standard deviation (0.1, as the authors' PyTorch code; the paper's TensorFlow code
      used Xavier initialisation).

  Returns:
    :class:`LightGCNParams` with ``float32`` arrays.

  Raises:
    ValueError: a non-positive size.

  Source:
    He et al., "LightGCN", SIGIR 2020, Sec. 3.1 (layer-0 embeddings are the only parameters).
  """
  for name, v in (("num_users", num_users), ("num_items", num_items), ("dim", dim)):
    if int(v) <= 0:
      raise ValueError(f"{name} must be positive, got {v}")
  ku, ki = jax.random.split(key)
  return LightGCNParams(
      user_emb=stddev * jax.random.normal(ku, (num_users, dim), jnp.float32),
      item_emb=stddev * jax.random.normal(ki, (num_items, dim), jnp.float32))


def _inv_sqrt(d: Array) -> Array:
  """``d^-1/2`` where ``d > 0``, else 0 (the ``where`` sits before the ``rsqrt``, so neither
  the value nor the gradient of a degree-0 node is inf or NaN)."""
  pos = d > 0
  return jnp.where(pos, jax.lax.rsqrt(jnp.where(pos, d, jnp.ones_like(d))), jnp.zeros_like(d))


def edge_norms(graph: Graph) -> Array:
  """Symmetrically normalised edge weights ``w_e / sqrt(d_u d_i)`` (Eq. 3's ``1/sqrt(|N_u||N_i|)``).

  Degrees are the weighted degrees of :func:`jaxrec.data.graph_degrees` (a unit-weight graph
  gives the paper's neighbour counts). A node of degree 0 gets ``d^-1/2 = 0`` (as the reference
  code), so padding edges and isolated nodes contribute 0, never NaN.

  Args:
    graph: the interactions; weights must be non-negative.

  Returns:
    ``(E,) float`` per-edge coefficients, differentiable with respect to ``graph.weights``.
    Where a node's degree is exactly 0 the derivative with respect to its edges' weights is 0
    (the one-sided derivative of ``w / sqrt(w)`` is infinite there): start relaxed fake
    interactions from a positive weight.
  """
  deg_u, deg_i = graph_degrees(graph)
  return graph.weights * _inv_sqrt(deg_u)[graph.users] * _inv_sqrt(deg_i)[graph.items]


def propagate(params: LightGCNParams, graph: Graph, num_layers: int, *,
              chunk_size: int = 8192) -> tuple[Array, Array]:
  """Final embeddings: the mean of the layer-0 .. layer-L embeddings (Eq. 3 and 4).

  ``e_u^(l+1) = sum_{i in N_u} w_ui / sqrt(d_u d_i) e_i^(l)`` and symmetrically for items; the
  final embedding is ``1/(L+1) sum_{l=0}^{L} e^(l)`` (``alpha_l = 1/(L+1)``, the paper's choice).
  With ``num_layers = 0`` the result is ``(params.user_emb, params.item_emb)``: plain MF.

  Each layer is a gather of neighbour rows and a scatter-add (``segment_sum``) over the edges,
  taken ``chunk_size`` edges at a time in a ``lax.scan``: one pass over all ``E`` edges would
  materialise two ``(E, D)`` message arrays per layer (50 MB on MovieLens-100K), and on XLA:CPU
  their allocation and memory traffic made a layer 5-15x slower than the chunked form (measured
  with jax 0.10.2, 2 cores: 2.5 ms against 14-44 ms per layer). Results do not depend on
  ``chunk_size`` beyond float rounding.

  Args:
    params: layer-0 embeddings ``(U, D)`` and ``(I, D)``.
    graph: weighted edges over ``U`` users and ``I`` items (an argument, so ``jax.grad`` with
      respect to ``graph.weights`` works).
    num_layers: static number of propagation layers ``L >= 0`` (3 in the paper).
    chunk_size: static number of edges per scan step (the last chunk is padded with
      zero-weight edges).

  Returns:
    ``(user_final (U, D), item_final (I, D))`` in the dtype of the embeddings.

  Raises:
    ValueError: a negative ``num_layers``, a non-positive ``chunk_size``, or embedding tables
      whose row counts differ from the graph's id spaces.

  Source:
    He, Deng, Wang, Li, Zhang, Wang, "LightGCN", SIGIR 2020, Eq. (3)-(4).
  """
  if num_layers < 0:
    raise ValueError(f"num_layers must be >= 0, got {num_layers}")
  if chunk_size <= 0:
    raise ValueError(f"chunk_size must be positive, got {chunk_size}")
  nu, ni = params.user_emb.shape[0], params.item_emb.shape[0]
  if (nu, ni) != (graph.num_users, graph.num_items):
    raise ValueError(f"embeddings cover ({nu}, {ni}) users/items but the graph "
                     f"({graph.num_users}, {graph.num_items})")
  eu, ei = params.user_emb, params.item_emb
  if num_layers == 0:
    return eu, ei
  num_edges = graph.weights.shape[0]
  chunk = max(1, min(chunk_size, num_edges))
  pad = (-num_edges) % chunk

  def chunked(x):  # (E,) -> (E / chunk, chunk), padding edges: node 0 with weight 0
    return jnp.pad(x, (0, pad)).reshape(-1, chunk)

  edges = (chunked(graph.users), chunked(graph.items),
           chunked(edge_norms(graph).astype(eu.dtype)))

  def layer(eu, ei):
    def body(acc, edge):
      au, ai = acc
      u, i, w = edge
      w = w[:, None]
      return (au.at[u].add(w * ei[i], mode="drop"), ai.at[i].add(w * eu[u], mode="drop")), None

    (au, ai), _ = jax.lax.scan(body, (jnp.zeros_like(eu), jnp.zeros_like(ei)), edges)
    return au, ai

  sum_u, sum_i = eu, ei
  for _ in range(num_layers):
    eu, ei = layer(eu, ei)
    sum_u, sum_i = sum_u + eu, sum_i + ei
  scale = 1.0 / (num_layers + 1)
  return sum_u * scale, sum_i * scale


def lightgcn_bpr_objective(params: LightGCNParams, batch: BPRBatch, graph: Graph, *,
                           num_layers: int, reg: float | Array = 0.0) -> Array:
  """BPR loss on the propagated embeddings plus L2 on the batch's layer-0 embeddings (Eq. 15).

  ``sum_b -log sigma(e_u . e_i - e_u . e_j) + reg * 0.5 * (|e_u^0|^2 + |e_i^0|^2 + |e_j^0|^2)``
  summed over the batch (jaxrec's convention, :func:`jaxrec.losses.bpr`): the reference code's
  ``mean BPR + reg * sum(l2) / B`` times ``B``, so ``reg`` means the same as the paper's
  ``lambda`` (1e-4 there). The whole graph is propagated once per call.

  Args:
    params: the model.
    batch: ``(B,)`` triples.
    graph: the training interactions (:func:`jaxrec.data.graph_from_index`).
    num_layers: static ``L``.
    reg: L2 coefficient ``lambda`` (traceable).

  Returns:
    A scalar float32.

  Raises:
    ValueError: as :func:`propagate`.

  Source:
    He et al., SIGIR 2020, Eq. (15).
  """
  u, i, j = batch
  users, items = propagate(params, graph, num_layers)
  eu, ei, ej = users[u], items[i], items[j]
  ego = (params.user_emb[u], params.item_emb[i], params.item_emb[j])
  return losses.bpr(_rowdot(eu, ei), _rowdot(eu, ej)) + reg * losses.l2(*ego)


def to_mf(params: LightGCNParams, graph: Graph, num_layers: int) -> MFParams:
  """The propagated model as :class:`jaxrec.models.MFParams` (zero item bias), so that
  ``jaxrec.models.mf.score_all`` ranks with LightGCN's inner product (Eq. 5).

  Args:
    params: the model. graph: the interactions to propagate over. num_layers: static ``L``.

  Returns:
    ``MFParams(user_emb (U, D), item_emb (I, D), item_bias (I,) zeros)``.

  Raises:
    ValueError: as :func:`propagate`.

  Source:
    He et al., SIGIR 2020, Eq. (5).
  """
  users, items = propagate(params, graph, num_layers)
  return MFParams(user_emb=users, item_emb=items,
                  item_bias=jnp.zeros((items.shape[0],), items.dtype))
