"""A latent-factor model fitted to a dense (possibly relaxed) interaction matrix by a weighted
squared error: the surrogate of bilevel poisoning.

``R = P Q^T`` (no biases; the params are :class:`jaxrec.models.MFParams` with a zero item bias,
which the loss never moves) fitted full-batch on a *dense* ``(N, I)`` matrix with entries in
``[0, 1]``, positives weighted ``pos_weight`` and zeros 1 (:func:`weighted_mse`). The data are the
dense matrix, passed as an argument, so the trained factors are a differentiable function of it:
``jax.grad`` through the training run (:func:`jaxrec.training.fit`, a :func:`jaxrec.optim.run` of
Adam steps) gives the *unrolled* hypergradient of bilevel poisoning (Tang, Wen, Wang, "Revisiting
Adversarially Learned Injection Attacks in Recommender Systems", RecSys 2020, Sec. 3-4,
Algorithm 1; reference notebook: ``synthetic_exp.ipynb`` of graytowne/revisit_adv_rec, "LFM").
The ALS surrogate (:mod:`jaxrec.models._als`) fits the same loss by alternating least squares and
differentiates it implicitly.

Dense matrices are intended: this is for synthetic and MovieLens-100K-size data (943 x 1682
float32 is 6 MB); a larger catalogue needs a sparse surrogate.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from jaxrec import _checks
from jaxrec.models import _base
from jaxrec.models._mf import MF, MFParams
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["DenseFactors", "LFM", "RELAXATIONS", "lfm", "weighted_mse"]

RELAXATIONS = ("indicator", "bernoulli")


def weighted_mse(user: Array, item: Array, data: Array, *, pos_weight, reg=0.0,
                 relaxation: str = "indicator") -> Array:
  """The weighted squared error of factors ``P`` (``user``) and ``Q`` (``item``) on a dense,
  possibly relaxed matrix; a scalar.

  With ``R = P Q^T`` and entries ``x`` of ``data``:

  * ``"indicator"`` (RevAdv's ``mse_loss``): ``sum w(x) (x - R)^2`` with ``w = pos_weight`` where
    ``x > 0`` and 1 elsewhere; the weight is a step function of ``x`` and carries no gradient.
  * ``"bernoulli"``: ``sum x pos_weight (1 - R)^2 + (1 - x) R^2``, the expected loss when each
    entry is an independent Bernoulli(``x``) interaction (jaxrec's relaxation: linear in ``x``).

  Both equal the binary loss on a 0/1 matrix. Sums, not means (as the reference notebook; Adam
  is invariant to the scale of the loss up to its epsilon). Plus ``reg (|P|^2 + |Q|^2)``.

  Args:
    user: ``(N, D)`` factors of the ``N`` rows of ``data``. item: ``(I, D)``.
    data: ``(N, I)`` float entries in ``[0, 1]``.
    pos_weight: weight of a positive. reg: L2 coefficient. relaxation: see above.

  Returns:
    A scalar of ``data``'s dtype.

  Raises:
    ValueError: an unknown ``relaxation``.

  Source:
    Tang, Wen, Wang, RecSys 2020, reference notebook (``mse_loss`` with positive weight);
    weighted squared loss of Hu, Koren, Volinsky, ICDM 2008, Eq. (3) for ``"bernoulli"``.
  """
  _checks.choice("relaxation", relaxation, RELAXATIONS)
  r = user @ item.T
  if relaxation == "indicator":
    w = jnp.where(jax.lax.stop_gradient(data) > 0, pos_weight, 1.0)
    loss = jnp.sum(w * (data - r) ** 2)
  else:
    loss = jnp.sum(data * pos_weight * (1.0 - r) ** 2 + (1.0 - data) * r**2)
  if isinstance(reg, (int, float)) and reg == 0:  # no penalty term at all (not even 0 * ...)
    return loss
  return loss + reg * (jnp.sum(user**2) + jnp.sum(item**2))


def init_factors(key: PRNGKey, data: Array, dim: int, init_scale: float) -> tuple[Array, Array]:
  """``(P, Q)`` ~ ``init_scale * N(0, 1)`` in the data's dtype (the notebook: ``torch.randn``).

  Two matrices of the same shape initialised with the same key start from the same factors
  (RevAdv reseeds the surrogate at every outer step: the inner problem then is a deterministic
  function of the data).
  """
  ku, ki = jax.random.split(key)
  return (init_scale * jax.random.normal(ku, (data.shape[0], dim), data.dtype),
          init_scale * jax.random.normal(ki, (data.shape[1], dim), data.dtype))


class DenseFactors:
  """What the LFM and ALS surrogates share: the loss :func:`weighted_mse` on a dense matrix and
  the scores ``P Q^T`` (a mixin; the subclasses hold ``dim``, ``pos_weight``, ``reg`` and
  ``relaxation``)."""

  def loss(self, params: MFParams, batch: Any, data: Array) -> Array:
    """:func:`weighted_mse` on the whole matrix (full batch: ``batch`` is unused)."""
    del batch
    return weighted_mse(params.user_emb, params.item_emb, data, pos_weight=self.pos_weight,
                        reg=self.reg, relaxation=self.relaxation)

  def score(self, params: MFParams, data: Any, users: ArrayLike, items: ArrayLike) -> Array:
    """``(B,)`` entries ``(P Q^T)_ui`` (NaN for ids out of range)."""
    return MF(dim=self.dim).score(params, data, users, items)

  def score_all(self, params: MFParams, data: Any, users: ArrayLike) -> Array:
    """``(C, I)`` rows ``P_u Q^T`` (NaN rows for ids out of range)."""
    return MF(dim=self.dim).score_all(params, data, users)

  def scoring(self, params: MFParams, data: Any) -> tuple[Any, MFParams]:
    """The identity."""
    return _base.identity_scoring(self, params, data)


@struct.dataclass(kw_only=True)
class LFM(DenseFactors):
  """The latent-factor surrogate as a :class:`jaxrec.models.Model` on a dense ``(N, I)``
  matrix (module docstring); train it with a full-batch recipe
  (:func:`jaxrec.attacks.poisoning.lfm_surrogate`). Build it with :func:`lfm` (validated).

  Attributes:
    dim: static factors ``D``.
    pos_weight: weight of a positive entry (zeros weigh 1); a leaf.
    reg: coefficient of ``|P|^2 + |Q|^2`` (summed squares); a leaf.
    init_scale: static; factors start as ``init_scale * N(0, 1)``.
    relaxation: static, how a fractional entry enters the loss (:func:`weighted_mse`).
  """

  name: ClassVar[str] = "lfm"
  dim: int = struct.field(pytree_node=False, default=16)
  pos_weight: Any = 20.0
  reg: Any = 0.0
  init_scale: float = struct.field(pytree_node=False, default=1.0)
  relaxation: str = struct.field(pytree_node=False, default="indicator")

  def init(self, key: PRNGKey, data: Array) -> MFParams:
    """Random factors for the matrix's rows and columns, a zero item bias.

    Raises:
      ValueError: ``data`` not a 2-D floating matrix.
    """
    data = _checks.matrix("data", data)
    user, item = init_factors(key, data, self.dim, self.init_scale)
    return MFParams(user_emb=user, item_emb=item,
                    item_bias=jnp.zeros((data.shape[1],), data.dtype))


def lfm(*, dim: int = 16, pos_weight: float = 20.0, reg: float = 0.0, init_scale: float = 1.0,
        relaxation: str = "indicator") -> LFM:
  """A validated :class:`LFM`; the defaults are RevAdv's synthetic setting (dim 16, positive
  weight 20, ``N(0, 1)`` start, no L2).

  Returns:
    An :class:`LFM`.

  Raises:
    ValueError: ``dim < 1``; a non-positive or non-finite ``pos_weight`` or ``init_scale``; a
      negative or non-finite ``reg``; an unknown relaxation.

  Source:
    Tang, Wen, Wang, RecSys 2020 (the notebook's LFM).
  """
  return LFM(dim=_base.positive_int("dim", dim), pos_weight=_base.positive("pos_weight",
                                                                            pos_weight),
             reg=_base.non_negative("reg", reg),
             init_scale=float(_base.positive("init_scale", init_scale)),
             relaxation=_checks.choice("relaxation", relaxation, RELAXATIONS))
