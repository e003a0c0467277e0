"""The inner problem of bilevel poisoning: a latent-factor surrogate trained by unrolled Adam.

The attacker's surrogate is a latent-factor model ``R = P Q^T`` (no biases) fitted full-batch on
a *dense* ``(N, I)`` interaction matrix, real users first and fake users after, by a weighted
squared error (positives weighted ``pos_weight``, zeros 1) with ``num_steps`` Adam steps from a
random start. Training is a ``lax.scan`` with a static number of steps, so the trained factors
are a differentiable function of the matrix and ``jax.grad`` through it gives the *unrolled*
hypergradient of bilevel poisoning (Tang, Wen, Wang, "Revisiting Adversarially Learned Injection
Attacks in Recommender Systems", RecSys 2020, Sec. 3-4, Algorithm 1; reference notebook:
``synthetic_exp.ipynb`` of graytowne/revisit_adv_rec, "LFM").

Dense matrices are intended: this is for synthetic and MovieLens-100K-size data (943 x 1682
float32 is 6 MB); a larger catalogue needs a sparse surrogate. With ``remat=True`` training is
checkpointed at two levels (blocks of about ``sqrt(T)`` steps, and every step inside a block),
so reverse mode stores the scan carry (factors and Adam moments, ``3 (N + I) D`` floats) at
``O(sqrt T)`` points and recomputes the ``(N, I)`` residuals of each step during the backward
pass; without it, every step's residuals are kept (memory linear in ``T``, 5-7x steeper).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrec.typing import Array, PRNGKey

__all__ = ["LFMParams", "LFMSurrogate", "RELAXATIONS", "Surrogate", "fit_surrogate",
           "lfm_scores", "lfm_surrogate", "weighted_mse"]

RELAXATIONS = ("indicator", "bernoulli")


@runtime_checkable
class Surrogate(Protocol):
  """What the bilevel engine needs of an inner problem (:func:`jaxrec.attacks.bilevel_loss`).

  A hashable configuration (it is a static jit argument) with two pure, jittable methods:
  ``fit(data (N, I), key) -> params``, the inner solution trained from scratch, differentiable
  in ``data`` (the hypergradient), and ``scores(params) -> (N, I)``, every row's item scores.
  Implemented by :class:`LFMSurrogate` (unrolled Adam) and
  :class:`jaxrec.attacks._implicit.ALSSurrogate` (ALS, implicit differentiation).
  """

  def fit(self, data: Array, key: PRNGKey) -> Any:
    """The inner solution for ``data (N, I)`` from the start drawn with ``key``."""

  def scores(self, params: Any) -> Array:
    """``(N, I)`` scores of the fitted model."""


@struct.dataclass
class LFMParams:
  """Surrogate factors.

  Attributes:
    user: ``(N, D)`` user factors (real users first, then fake users).
    item: ``(I, D)`` item factors.
  """

  user: Array
  item: Array


@struct.dataclass(kw_only=True)
class LFMSurrogate:
  """Static configuration of the surrogate (no array leaves: usable as a static jit argument).

  Attributes:
    dim: factors ``D``. num_steps: unrolled full-batch Adam steps ``T``.
    learning_rate: Adam step size (betas 0.9, 0.999 and eps 1e-8, PyTorch's defaults, as in the
      reference notebook).
    pos_weight: weight of a positive entry in the squared error (zeros weigh 1).
    l2: coefficient of ``|P|^2 + |Q|^2`` (summed squares) added to the loss.
    init_scale: factors start as ``init_scale * N(0, 1)`` (the notebook: ``torch.randn``, 1).
    relaxation: how a fractional entry ``x`` in ``[0, 1]`` enters the loss (see
      :func:`weighted_mse`): ``"indicator"`` or ``"bernoulli"``.
    remat: two-level checkpointing (blocks of about ``sqrt(num_steps)`` steps, each block and
      each step rematerialised): reverse mode stores ``O(sqrt(num_steps))`` carries instead of
      every step's ``(N, I)`` residuals, for about one extra forward pass.
    eps_root: added under Adam's square root (optax), so that differentiating through a zero
      second moment gives no NaN.
  """

  dim: int = struct.field(pytree_node=False, default=16)
  num_steps: int = struct.field(pytree_node=False, default=100)
  learning_rate: float = struct.field(pytree_node=False, default=0.5)
  pos_weight: float = struct.field(pytree_node=False, default=20.0)
  l2: float = struct.field(pytree_node=False, default=0.0)
  init_scale: float = struct.field(pytree_node=False, default=1.0)
  relaxation: str = struct.field(pytree_node=False, default="indicator")
  remat: bool = struct.field(pytree_node=False, default=True)
  eps_root: float = struct.field(pytree_node=False, default=1e-12)

  def tx(self) -> optax.GradientTransformation:
    """The inner optimiser: ``optax.adam(learning_rate, eps_root=eps_root)``."""
    return optax.adam(self.learning_rate, eps_root=self.eps_root)

  def fit(self, data: Array, key: PRNGKey) -> LFMParams:
    """The factors after ``num_steps`` steps (:func:`fit_surrogate` without the losses)."""
    return fit_surrogate(self, data, key)[0]

  def scores(self, params: LFMParams) -> Array:
    """Dense scores ``P Q^T``: ``(N, I)`` (:func:`lfm_scores`)."""
    return lfm_scores(params)


def lfm_surrogate(*, dim: int = 16, num_steps: int = 100, learning_rate: float = 0.5,
                  pos_weight: float = 20.0, l2: float = 0.0, init_scale: float = 1.0,
                  relaxation: str = "indicator", remat: bool = True,
                  eps_root: float = 1e-12) -> LFMSurrogate:
  """A validated :class:`LFMSurrogate`; the defaults are RevAdv's synthetic setting (dim 16,
  100 Adam steps at 0.5, positive weight 20, ``N(0, 1)`` start, no L2).

  Raises:
    ValueError: ``dim < 1``, ``num_steps < 0``, a non-positive learning rate, positive weight or
      init scale, a negative ``l2`` or ``eps_root``, an unknown relaxation.
  """
  if isinstance(dim, bool) or int(dim) != dim or dim < 1:
    raise ValueError(f"dim must be a positive integer, got {dim!r}")
  if isinstance(num_steps, bool) or int(num_steps) != num_steps or num_steps < 0:
    raise ValueError(f"num_steps must be an integer >= 0, got {num_steps!r}")
  values = (learning_rate, pos_weight, init_scale, l2, eps_root)
  if not all(math.isfinite(v) for v in values):
    raise ValueError(f"learning_rate, pos_weight, init_scale, l2 and eps_root must be finite, "
                     f"got {values}")
  if not (learning_rate > 0 and pos_weight > 0 and init_scale > 0):
    raise ValueError("learning_rate, pos_weight and init_scale must be positive, got "
                     f"{learning_rate}, {pos_weight}, {init_scale}")
  if l2 < 0 or eps_root < 0:
    raise ValueError(f"l2 and eps_root must be >= 0, got {l2}, {eps_root}")
  if relaxation not in RELAXATIONS:
    raise ValueError(f"relaxation must be one of {RELAXATIONS}, got {relaxation!r}")
  return LFMSurrogate(dim=int(dim), num_steps=int(num_steps), learning_rate=float(learning_rate),
                      pos_weight=float(pos_weight), l2=float(l2), init_scale=float(init_scale),
                      relaxation=relaxation, remat=bool(remat), eps_root=float(eps_root))


def lfm_scores(params: LFMParams) -> Array:
  """Dense scores ``R = P Q^T``: ``(N, I)``.

  Raises:
    Nothing is validated (jittable).

  Source:
    Koren, Bell, Volinsky, "Matrix Factorization Techniques for Recommender Systems",
    IEEE Computer 2009, Eq. (1) without biases.
  """
  return params.user @ params.item.T


def weighted_mse(params: LFMParams, data: Array, *, pos_weight: float, l2: float = 0.0,
                 relaxation: str = "indicator") -> Array:
  """The surrogate's training loss on a dense (possibly relaxed) matrix; a scalar.

  With ``R = P Q^T`` and entries ``x`` of ``data``:

  * ``"indicator"`` (RevAdv's ``mse_loss``): ``sum w(x) (x - R)^2`` with ``w = pos_weight`` where
    ``x > 0`` and 1 elsewhere; the weight is a step function of ``x`` and carries no gradient.
  * ``"bernoulli"``: ``sum x pos_weight (1 - R)^2 + (1 - x) R^2``, the expected loss when each
    entry is an independent Bernoulli(``x``) interaction (jaxrec's relaxation: linear in ``x``).

  Both equal the binary loss on a 0/1 matrix. Sums, not means (as the reference notebook; Adam
  is invariant to the scale of the loss up to its epsilon). Plus ``l2 (|P|^2 + |Q|^2)``.

  Args:
    params: factors for the ``N`` rows of ``data``.
    data: ``(N, I)`` float entries in ``[0, 1]``.
    pos_weight: weight of a positive. l2: L2 coefficient. relaxation: see above.

  Returns:
    A scalar of ``data``'s dtype.

  Raises:
    ValueError: an unknown ``relaxation``.

  Source:
    Tang, Wen, Wang, "Revisiting Adversarially Learned Injection Attacks in Recommender
    Systems", RecSys 2020, reference notebook (``mse_loss`` with positive weight); weighted
    squared loss of
    Hu, Koren, Volinsky, ICDM 2008, Eq. (3) for ``"bernoulli"`` weights.
  """
  r = lfm_scores(params)
  if relaxation == "indicator":
    w = jnp.where(jax.lax.stop_gradient(data) > 0, pos_weight, 1.0)
    loss = jnp.sum(w * (data - r) ** 2)
  elif relaxation == "bernoulli":
    loss = jnp.sum(data * pos_weight * (1.0 - r) ** 2 + (1.0 - data) * r**2)
  else:
    raise ValueError(f"relaxation must be one of {RELAXATIONS}, got {relaxation!r}")
  if l2:
    loss = loss + l2 * (jnp.sum(params.user**2) + jnp.sum(params.item**2))
  return loss


def _init(key: PRNGKey, num_rows: int, num_items: int, surrogate: LFMSurrogate,
          dtype) -> LFMParams:
  ku, ki = jax.random.split(key)
  return LFMParams(
      user=surrogate.init_scale * jax.random.normal(ku, (num_rows, surrogate.dim), dtype),
      item=surrogate.init_scale * jax.random.normal(ki, (num_items, surrogate.dim), dtype))


def fit_surrogate(surrogate: LFMSurrogate, data: Array, key: PRNGKey) -> tuple[LFMParams, Array]:
  """Trains the surrogate from scratch on ``data`` (pure, jittable, differentiable in ``data``).

  The start depends on ``key`` and the shapes only, so two matrices of the same shape trained
  with the same key start from the same factors (RevAdv reseeds the surrogate at every outer
  step: the inner problem then is a deterministic function of the data).

  Args:
    surrogate: the configuration (:func:`lfm_surrogate`).
    data: ``(N, I)`` floating matrix with entries in ``[0, 1]`` (not checked here).
    key: PRNG key of the initial factors.

  Returns:
    ``(params, losses)``: the factors after ``num_steps`` Adam steps and the ``(num_steps,)``
    training loss before each step.

  Raises:
    ValueError: ``data`` not a 2-D floating array.

  Source:
    Tang, Wen, Wang, "Revisiting Adversarially Learned Injection Attacks in Recommender
    Systems", RecSys 2020, Sec. 4 (inner problem, unrolled); the LFM of the reference notebook.
  """
  data = jnp.asarray(data)
  if data.ndim != 2 or not jnp.issubdtype(data.dtype, jnp.floating):
    raise ValueError(f"data must be a 2-D floating (N, I) matrix, got {data.dtype}{data.shape}")
  tx = surrogate.tx()
  params = _init(key, data.shape[0], data.shape[1], surrogate, data.dtype)
  loss_fn = functools.partial(weighted_mse, pos_weight=surrogate.pos_weight, l2=surrogate.l2,
                              relaxation=surrogate.relaxation)

  def step(carry, x):
    params, opt_state = carry
    loss, grads = jax.value_and_grad(loss_fn)(params, x)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), loss

  def run(carry, num):  # ``num`` (static) steps
    return jax.lax.scan(lambda c, _: step(c, data), carry, length=num)

  carry = (params, tx.init(params))
  if not surrogate.remat:
    (params, _), losses = run(carry, surrogate.num_steps)
    return params, losses
  # Two-level ("sqrt") checkpointing: blocks of about sqrt(T) steps, each block and each step
  # inside it rematerialised. Reverse mode stores the carry at every block boundary plus, while
  # one block is differentiated, at every step of that block: O(sqrt T) carries, not O(T).
  # Inside scan, CSE across iterations cannot undo the rematerialisation: prevent_cse=False.
  step = jax.checkpoint(step, prevent_cse=False)
  block = max(1, math.isqrt(max(surrogate.num_steps - 1, 0)) + 1)
  num_blocks, rest = divmod(surrogate.num_steps, block)
  one_block = jax.checkpoint(lambda c, _: run(c, block), prevent_cse=False)
  carry, head = jax.lax.scan(one_block, carry, length=num_blocks)
  (params, _), tail = run(carry, rest)
  return params, jnp.concatenate([head.reshape(-1), tail])
