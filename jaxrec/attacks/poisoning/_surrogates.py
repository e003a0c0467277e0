"""The attacker's surrogates for bilevel poisoning, as victims (a model plus its recipe).

* :func:`lfm_surrogate`: the latent-factor model (:class:`jaxrec.models.LFM`) trained by
  ``num_steps`` full-batch Adam steps from a random start, one :func:`jaxrec.optim.run`; with
  ``remat`` the run is checkpointed at two levels (blocks of about ``sqrt(T)`` steps), so reverse
  mode stores the carry (factors and Adam moments, ``3 (N + I) D`` floats) at ``O(sqrt T)``
  points and recomputes the ``(N, I)`` residuals of each step during the backward pass; without
  it, every step's residuals are kept (memory linear in ``T``, 5-7x steeper).
* :func:`als_surrogate`: weighted ALS solved in ``init`` and differentiated implicitly
  (:class:`jaxrec.models.ALS`).
* :func:`default_surrogate`: the LFM setting jaxrec crafts MovieLens-100K-size profiles with.
"""

from __future__ import annotations

from typing import Any

import optax

from jaxrec import _checks
from jaxrec.models._als import als
from jaxrec.models._lfm import lfm
from jaxrec.training._loop import TrainState, fit
from jaxrec.training._victim import Victim
from jaxrec.typing import Array, PRNGKey

__all__ = ["als_surrogate", "default_surrogate", "fit_surrogate", "lfm_surrogate"]


def fit_surrogate(surrogate: Victim, data: Array, key: PRNGKey) -> Any:
  """The surrogate trained from scratch on a dense matrix: ``surrogate.model.init(key, data)``
  then :func:`jaxrec.training.fit` (pure, jittable, differentiable in ``data``).

  The start depends on ``key`` and the shapes only, and full-batch training draws no other
  randomness, so the inner problem of bilevel poisoning is a deterministic function of the data
  for a given key (RevAdv reseeds the surrogate at every outer step).

  Args:
    surrogate: a victim on dense matrices (:func:`lfm_surrogate`, :func:`als_surrogate`).
    data: ``(N, I)`` floating matrix, entries in ``[0, 1]``. key: the initialisation key.

  Returns:
    The trained parameters (:class:`jaxrec.models.MFParams` for both surrogates).

  Raises:
    ValueError: ``data`` not a 2-D floating matrix.

  Source:
    Tang, Wen, Wang, RecSys 2020, Algorithm 1 (the inner problem, trained from scratch).
  """
  params = surrogate.model.init(key, data)
  state = TrainState(params, None if surrogate.tx is None else surrogate.tx.init(params), key)
  return fit(surrogate, state, data)[0].params


def lfm_surrogate(*, dim: int = 16, num_steps: int = 100, learning_rate: float = 0.5,
                  pos_weight: float = 20.0, reg: float = 0.0, init_scale: float = 1.0,
                  relaxation: str = "indicator", remat: bool = True,
                  eps_root: float = 1e-12) -> Victim:
  """The unrolled LFM surrogate: :func:`jaxrec.models.lfm` trained by ``num_steps`` full-batch
  ``optax.adam(learning_rate, eps_root=eps_root)`` steps (betas 0.9, 0.999 and eps 1e-8,
  PyTorch's defaults, as in the reference notebook). The defaults are RevAdv's synthetic setting
  (dim 16, 100 Adam steps at 0.5, positive weight 20, ``N(0, 1)`` start, no L2).

  Args:
    dim, pos_weight, reg, init_scale, relaxation: the model (:func:`jaxrec.models.lfm`).
    num_steps: unrolled Adam steps ``T >= 0``. learning_rate: ``> 0``, a static (concrete
      Python, NumPy or JAX) number: the optimiser is part of the hashable Victim.
    remat: two-level checkpointing of the steps (module docstring).
    eps_root: ``>= 0``, added under Adam's square root, so that differentiating through a zero
      second moment gives no NaN.

  Returns:
    A :class:`jaxrec.training.Victim` on dense ``(N, I)`` matrices.

  Raises:
    ValueError: any setting out of range (see :func:`jaxrec.models.lfm`), ``num_steps < 0``, a
      non-positive or traced learning rate, a negative, non-finite or traced ``eps_root``.

  Source:
    Tang, Wen, Wang, "Revisiting Adversarially Learned Injection Attacks in Recommender
    Systems", RecSys 2020, Sec. 4 (inner problem, unrolled); the LFM of the reference notebook.
  """
  model = lfm(dim=dim, pos_weight=pos_weight, reg=reg, init_scale=init_scale,
              relaxation=relaxation)
  num_steps = _checks.integer("num_steps", num_steps, low=0)
  learning_rate = _checks.real("learning_rate", learning_rate, low=0.0, low_open=True)
  eps_root = _checks.real("eps_root", eps_root)
  for name, value in (("learning_rate", learning_rate), ("eps_root", eps_root)):
    if not _checks.is_concrete(value):
      raise ValueError(f"{name} must be a concrete number: it configures the surrogate's "
                       "optimiser, part of a static Victim (got a traced value)")
  # a Victim is a static, hashable configuration: concrete NumPy / JAX numbers become floats
  model = model.replace(**{name: float(getattr(model, name)) for name in ("pos_weight", "reg")
                           if _checks.is_concrete(getattr(model, name))})
  return Victim(model=model, tx=optax.adam(float(learning_rate), eps_root=float(eps_root)),
                num_epochs=1 if num_steps else 0, batch_size=None,
                steps_per_epoch=num_steps or None, remat=bool(remat))


def als_surrogate(**settings) -> Victim:
  """The implicit-differentiation surrogate: :func:`jaxrec.models.als` (``settings`` are its
  arguments), solved in ``init``, as a closed-form victim.

  Returns:
    A :class:`jaxrec.training.Victim` on dense ``(N, I)`` matrices.

  Raises:
    ValueError: as :func:`jaxrec.models.als`.

  Source:
    Li, Wang, Singh, Vorobeychik, "Data Poisoning Attacks on Factorization-Based Collaborative
    Filtering", NeurIPS 2016.
  """
  return Victim(model=als(**settings))


def default_surrogate(num_steps: int = 50) -> Victim:
  """The surrogate jaxrec crafts MovieLens-100K-size profiles with: 64 factors, ``num_steps``
  unrolled Adam steps at ``2 / num_steps``, ``N(0, 0.1^2)`` start, positive weight 5, L2 1.

  Chosen on MovieLens-100K's leave-latest-out split: it ranks the held-out items with HR@10
  0.14 (as BPR-MF), where RevAdv's synthetic setting (16 factors, N(0, 1) start, weight 20)
  reaches 0.125.

  Returns:
    A :class:`jaxrec.training.Victim` (:func:`lfm_surrogate`).

  Raises:
    ValueError: ``num_steps`` not an integer >= 1.

  Source:
    jaxrec (tuned as stated), on RevAdv's LFM.
  """
  num_steps = _checks.integer("num_steps", num_steps, low=1)
  return lfm_surrogate(dim=64, num_steps=num_steps, learning_rate=2.0 / num_steps,
                       pos_weight=5.0, reg=1.0, init_scale=0.1)
