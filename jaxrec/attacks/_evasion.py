"""Gradient attacks on a perturbation: FGSM, BIM and PGD, as optax transforms for :func:`run`.

Conventions: the attack *minimises* its ``attack_loss``; a step moves ``delta`` against the
gradient. Budgets are explicit in norm and granularity:

* ``norm="l2", axis=-1``: every row (e.g. each user or item embedding) has its own Euclidean
  budget ``||delta_row||_2 <= eps``; steps follow the row-normalised gradient. This is He et
  al.'s FGSM on embeddings (SIGIR 2018) and jaxrec's default.
* ``norm="l2", axis=None``: one Euclidean budget for each whole array.
* ``norm="linf"``: every element has the budget ``|delta_ij| <= eps`` (a row of ``D`` elements
  may then reach an L2 norm of ``eps * sqrt(D)``). Steps follow ``sign(g)`` (Madry et al.) or,
  with ``direction="l2"``, the row-normalised gradient clipped per element as in Anelli et al.'s
  multi-step attacks (FLAIRS 2021) - a different budget from their FGSM's.

Units: ``eps`` and ``step_size`` are absolute distances in the perturbed space (embedding units
for embeddings; for images in [0, 1], pass ``8 / 255`` for eight 8-bit levels). Both may be
tracers, so a whole eps grid compiles once.
"""

from __future__ import annotations

import optax

from jaxrec.attacks._transforms import (
    NORMS, normalize, project, project_box, project_l2_ball, project_linf_ball, sign)
from jaxrec.typing import ArrayLike

__all__ = ["bim", "fgsm", "pgd"]

DIRECTIONS = ("sign", "l2")


def _numeric_check(eps, step_size=None) -> None:
  for name, v in (("eps", eps), ("step_size", step_size)):
    if isinstance(v, (int, float)) and v < 0:
      raise ValueError(f"{name} must be >= 0, got {v}")


def pgd(eps: ArrayLike, step_size: ArrayLike, *, norm: str = "l2", axis: int | None = -1,
        direction: str | None = None, box: tuple | None = None) -> optax.GradientTransformation:
  """Projected gradient descent on a perturbation (Madry et al., ICLR 2018).

  Threat model: white-box, the attacker differentiates ``attack_loss`` with respect to
  ``delta``. Each step: ``delta <- Proj(delta - step_size * direction(grad))``, the projection
  onto the ``eps`` ball of ``norm`` around 0 (per row for ``axis=-1``), then onto the box when
  ``box=(center, lower, upper)`` keeps ``center + delta`` in ``[lower, upper]`` (pixels). Use
  with :func:`jaxrec.attacks.run` and, for PGD proper, a random start
  (:func:`jaxrec.attacks.random_start`); from ``delta0 = 0`` it is BIM (:func:`bim`).

  Args:
    eps: ball radius (absolute units of the perturbed space); scalar, may be a tracer.
    step_size: step length (same units); may be a tracer.
    norm: ``"l2"`` or ``"linf"``.
    axis: L2 granularity: ``-1`` per row, ``None`` whole array (ignored for ``"linf"``).
    direction: ``"l2"`` (row-normalised gradient) or ``"sign"``; default ``"l2"`` for the L2
      ball and ``"sign"`` for L-infinity.
    box: optional ``(center, lower, upper)``.

  Returns:
    An ``optax.GradientTransformation`` for :func:`jaxrec.attacks.run`.

  Raises:
    ValueError: unknown ``norm``/``direction``, ``axis`` other than -1/None, negative
      concrete ``eps``/``step_size``.

  References:
    Madry, Makelov, Schmidt, Tsipras, Vladu, "Towards Deep Learning Models Resistant to
    Adversarial Attacks", ICLR 2018; Anelli, Bellogin, Deldjoo, Di Noia, Merra, "Multi-Step
    Adversarial Perturbations on Recommender Systems Embeddings", FLAIRS 2021.
  """
  if norm not in NORMS:
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
  if axis not in (-1, None):
    raise ValueError(f"axis must be -1 (per row) or None (whole array), got {axis!r}")
  direction = direction or ("l2" if norm == "l2" else "sign")
  if direction not in DIRECTIONS:
    raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
  _numeric_check(eps, step_size)

  def proj(delta):
    delta = project_l2_ball(delta, eps, axis) if norm == "l2" else project_linf_ball(delta, eps)
    if box is not None:
      delta = project_box(delta, *box)
    return delta

  step = normalize(axis) if direction == "l2" else sign()
  return optax.chain(step, optax.scale(-step_size), project(proj))


def bim(eps: ArrayLike, step_size: ArrayLike, *, norm: str = "l2", axis: int | None = -1,
        direction: str | None = None, box: tuple | None = None) -> optax.GradientTransformation:
  """Basic iterative method: :func:`pgd` started from ``delta0 = 0`` (Kurakin, Goodfellow,
  Bengio, "Adversarial examples in the physical world", ICLR 2017 workshop). The same transform
  as :func:`pgd`; the name records the zero start. Arguments as :func:`pgd`."""
  return pgd(eps, step_size, norm=norm, axis=axis, direction=direction, box=box)


def fgsm(eps: ArrayLike, *, norm: str = "l2", axis: int | None = -1,
         box: tuple | None = None) -> optax.GradientTransformation:
  """Fast gradient (sign) method: exactly one :func:`pgd` step with ``step_size = eps`` from
  ``delta0 = 0`` (run it with ``num_steps=1``).

  Default: He et al.'s FGSM on embeddings, ``delta = -eps * g / ||g||_2`` per row (SIGIR 2018,
  Eq. 6; ``g`` the gradient of the attack loss, so ``delta`` ascends the victim's loss).
  ``norm="linf"`` gives Goodfellow et al.'s ``-eps * sign(g)`` (ICLR 2015).

  Args:
    eps: budget (absolute units; per row for ``norm="l2", axis=-1``); may be a tracer.
    norm, axis, box: as :func:`pgd`.

  Returns:
    An ``optax.GradientTransformation`` for :func:`jaxrec.attacks.run` with ``num_steps=1``.

  References:
    He, He, Du, Chua, "Adversarial Personalized Ranking for Recommendation", SIGIR 2018;
    Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015.
  """
  return pgd(eps, eps, norm=norm, axis=axis, box=box)
