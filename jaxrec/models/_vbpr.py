"""VBPR: BPR matrix factorisation with a visual term on item content features.

``s(u, i) = beta_i + gamma_u . gamma_i + theta_u . (E^T f_i) + beta' . f_i``

with ``f_i`` the item's ``(F,)`` visual feature (a CNN's penultimate layer, :mod:`jaxrec.models.
_cnn`), ``E`` an ``(F, K)`` learned projection, ``theta_u`` the user's ``(K,)`` visual
preference and ``beta'`` the ``(F,)`` visual bias. The global offset ``alpha`` and the user bias
``beta_u`` of the paper's Eq. (3) are left out: they cancel in every BPR difference and in every
ranking of one user.

Data: a :class:`ContentData` pytree ``(positives, features)``. The features are an argument of
every method, so an attack differentiates scores with respect to them, or through the extractor
with respect to the pixels they came from.

Reference:
  He, McAuley, "VBPR: Visual Bayesian Personalized Ranking from Implicit Feedback", AAAI 2016,
  Eq. (3) (predictor), Eq. (5)-(7) (BPR training, regularisers).
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from jaxrec import _checks, losses
from jaxrec.data._index import PositiveIndex
from jaxrec.data._sampling import BPRBatch
from jaxrec.models import _base
from jaxrec.models._mf import MF, MFParams, rowdot
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["ContentData", "VBPR", "VBPRParams", "content_data", "vbpr"]


@struct.dataclass
class ContentData:
  """The data of a content-aware model: training positives and item features (a pytree).

  Attributes:
    positives: the training :class:`jaxrec.data.PositiveIndex` (BPR sampling, sizes).
    features: ``(I, F) float`` item features (e.g. :meth:`jaxrec.models.Extractor.features` of
      the item images; units: the extractor's scaled feature units).
  """

  positives: PositiveIndex
  features: Array

  @property
  def num_users(self) -> int:
    """Users of the positives."""
    return self.positives.num_users

  @property
  def num_items(self) -> int:
    """Items of the positives (= rows of ``features``)."""
    return self.positives.num_items


def content_data(positives: PositiveIndex, features: ArrayLike) -> ContentData:
  """A checked :class:`ContentData`.

  Returns:
    A :class:`ContentData` (the features keep their floating dtype).

  Raises:
    ValueError: ``positives`` not a PositiveIndex; ``features`` not a finite ``(I, F)`` float
      matrix with one row per item of ``positives``.

  Source:
    jaxrec.
  """
  if not isinstance(positives, PositiveIndex):
    raise ValueError(f"positives must be a PositiveIndex, got {type(positives).__name__}")
  features = _checks.matrix("features", features)
  _checks.size_matches("features", features.shape[0], positives.num_items, "rows (items)")
  if _checks.is_concrete(features) and not bool(jnp.all(jnp.isfinite(features))):
    raise ValueError("features hold NaN or infinite values")
  return ContentData(positives, jnp.asarray(features))


@struct.dataclass
class VBPRParams:
  """VBPR parameters (float32).

  Attributes:
    user_emb: ``(U, D)`` latent user factors ``gamma_u``. item_emb: ``(I, D)`` ``gamma_i``.
    item_bias: ``(I,)`` ``beta_i``. user_visual: ``(U, K)`` visual preferences ``theta_u``.
    proj: ``(F, K)`` feature projection ``E``. visual_bias: ``(F,)`` ``beta'``.
  """

  user_emb: Array
  item_emb: Array
  item_bias: Array
  user_visual: Array
  proj: Array
  visual_bias: Array


@struct.dataclass(kw_only=True)
class VBPR:
  """VBPR as a :class:`jaxrec.models.Model` over :class:`ContentData` (module docstring).

  Methods follow the protocol of :mod:`jaxrec.models._base`: score methods raise ``ValueError``
  for concrete ids out of range (NaN rows under ``jit``) and for a catalogue that differs from
  the model's; ``loss`` and ``pair_scores`` take sampled in-range triples and check nothing.
  Source of every method: He and McAuley, AAAI 2016, Eq. (3) (predictor) and (5)-(7) (loss).

  Attributes:
    dim: static latent factors ``D``. visual_dim: static visual factors ``K``.
    reg: L2 coefficient of the rows a batch touches (``gamma_u``, ``theta_u``, ``gamma_i``,
      ``gamma_j``); reg_visual: L2 coefficient of ``E`` and ``beta'`` (the paper's
      ``lambda_E``), per batch. Both pytree leaves (traceable).
    stddev: static scale of the initial factors.
  """

  name: ClassVar[str] = "vbpr"
  dim: int = struct.field(pytree_node=False, default=32)
  visual_dim: int = struct.field(pytree_node=False, default=32)
  reg: Any = 0.0
  reg_visual: Any = 0.0
  stddev: float = struct.field(pytree_node=False, default=0.01)

  def init(self, key: PRNGKey, data: ContentData) -> VBPRParams:
    """Factors and ``E`` ~ N(0, stddev^2) truncated at 2 stddev, biases 0.

    Raises:
      ValueError: ``data`` without a ``features`` matrix.
    """
    num_users, num_items = _base.data_sizes(data)
    feats = getattr(data, "features", None)
    if feats is None or jnp.ndim(feats) != 2:
      raise ValueError(f"VBPR needs ContentData (positives, features), got "
                       f"{type(data).__name__}")
    f = feats.shape[1]
    ks = jax.random.split(key, 4)
    tn = _base.truncated_normal
    return VBPRParams(user_emb=tn(ks[0], (num_users, self.dim), self.stddev),
                      item_emb=tn(ks[1], (num_items, self.dim), self.stddev),
                      item_bias=jnp.zeros((num_items,), jnp.float32),
                      user_visual=tn(ks[2], (num_users, self.visual_dim), self.stddev),
                      proj=tn(ks[3], (f, self.visual_dim), self.stddev),
                      visual_bias=jnp.zeros((f,), jnp.float32))

  def pair_scores(self, params: VBPRParams, features: Array, batch: BPRBatch
                  ) -> tuple[Array, Array]:
    """``(s(u, i), s(u, j))`` of in-range triples with item features ``(I, F)`` (no checks)."""
    u, i, j = batch[:3]

    def s(items):
      f = features[items]
      return (rowdot(params.user_emb[u], params.item_emb[items]) + params.item_bias[items]
              + rowdot(params.user_visual[u], f @ params.proj) + f @ params.visual_bias)

    return s(i), s(j)

  def loss(self, params: VBPRParams, batch: BPRBatch, data: ContentData) -> Array:
    """BPR loss of a batch plus L2: ``sum -log sigma(s(u,i) - s(u,j)) + reg * 0.5 * (|gamma_u|^2
    + |theta_u|^2 + |gamma_i|^2 + |gamma_j|^2) + reg_visual * 0.5 * (|E|^2 + |beta'|^2)``.

    Source:
      He, McAuley, AAAI 2016, Eq. (5)-(7).
    """
    return self.loss_with_features(params, batch, data.features)

  def loss_with_features(self, params: VBPRParams, batch: BPRBatch, features: Array) -> Array:
    """:meth:`loss` with the item features given directly (AMR perturbs them)."""
    u, i, j = batch[:3]
    x_ui, x_uj = self.pair_scores(params, features, batch)
    return (losses.bpr(x_ui, x_uj, batch.weights)
            + self.reg * losses.l2(params.user_emb[u], params.user_visual[u],
                                   params.item_emb[i], params.item_emb[j],
                                   weights=batch.weights)
            + self.reg_visual * losses.l2(params.proj, params.visual_bias))

  def scoring(self, params: VBPRParams, data: ContentData) -> tuple[MF, MFParams]:
    """An equivalent BPR-MF for ranking: users ``[gamma_u, theta_u]``, items ``[gamma_i,
    E^T f_i]``, bias ``beta_i + beta' . f_i`` (the visual item side computed once)."""
    _base.check_items(params.item_emb.shape[0], data)
    f = data.features
    return MF(dim=self.dim + self.visual_dim), MFParams(
        user_emb=jnp.concatenate([params.user_emb, params.user_visual], axis=1),
        item_emb=jnp.concatenate([params.item_emb, f @ params.proj], axis=1),
        item_bias=params.item_bias + f @ params.visual_bias)

  def score(self, params: VBPRParams, data: ContentData, users: ArrayLike,
            items: ArrayLike) -> Array:
    """``(B,)`` scores of aligned ids (NaN for ids out of range; ``ValueError`` when
    concrete)."""
    model, p = self.scoring(params, data)
    return model.score(p, data, users, items)

  def score_all(self, params: VBPRParams, data: ContentData, users: ArrayLike) -> Array:
    """``(C, I)`` scores of every item (NaN rows for ids out of range)."""
    model, p = self.scoring(params, data)
    return model.score_all(p, data, users)


def vbpr(*, dim: int = 32, visual_dim: int = 32, reg: float = 0.0, reg_visual: float = 0.0,
         stddev: float = 0.01) -> VBPR:
  """A validated :class:`VBPR`.

  Args:
    dim: latent factors ``D >= 1``. visual_dim: visual factors ``K >= 1``.
    reg, reg_visual: L2 coefficients ``>= 0``. stddev: initial scale ``> 0``.

  Returns:
    A :class:`VBPR`.

  Raises:
    ValueError: a size out of range, a negative or non-finite coefficient.

  Source:
    He, McAuley, AAAI 2016.
  """
  return VBPR(dim=_base.positive_int("dim", dim),
              visual_dim=_base.positive_int("visual_dim", visual_dim),
              reg=_base.non_negative("reg", reg), reg_visual=_base.non_negative("reg_visual",
                                                                                 reg_visual),
              stddev=float(_base.positive("stddev", stddev)))
