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
tracers, so a whole eps grid compiles once. Run a recipe with :func:`jaxrec.optim.run`.
"""

from __future__ import annotations

import optax

from jaxrec import _checks
from jaxrec.optim import (
    NORMS, normalize, project, project_box, project_l2_ball, project_linf_ball, sign)
from jaxrec.typing import ArrayLike

__all__ = ["bim", "fgsm", "pgd"]

DIRECTIONS = ("sign", "l2")


def pgd(eps: ArrayLike, step_size: ArrayLike, *, norm: str = "l2", axis: int | None = -1,
        direction: str | None = None, box: tuple | None = None,
        center=None) -> optax.GradientTransformation:
  """Projected gradient descent on a perturbation (Madry et al., ICLR 2018).

  Threat model: white-box, the attacker differentiates ``attack_loss`` with respect to
  ``delta``. Each step: ``delta <- Proj(delta - step_size * direction(grad))``, the projection
  onto the ``eps`` ball of ``norm`` around 0 (per row for ``axis=-1``), then onto the box when
  ``box=(lower, upper)`` keeps ``center + delta`` in ``[lower, upper]`` (pixels). Use with
  :func:`jaxrec.optim.run` (which projects the start too) and, for PGD proper, a random start
  (:func:`jaxrec.optim.random_start`); from ``delta0 = 0`` it is BIM (:func:`bim`).

  Args:
    eps: ball radius (absolute units of the perturbed space), ``>= 0``; a scalar, or an array
      broadcastable to the rows (a per-row budget); may be a tracer.
    step_size: step length (same units), ``>= 0``; may be a tracer.
    norm: ``"l2"`` or ``"linf"``.
    axis: L2 granularity: ``-1`` per row, ``None`` whole array (ignored for ``"linf"``).
    direction: ``"l2"`` (row-normalised gradient) or ``"sign"``; default ``"l2"`` for the L2
      ball and ``"sign"`` for L-infinity.
    box: optional ``(lower, upper)`` bounds of ``center + delta``.
    center: the clean point the box applies to (pytree like ``delta``; default 0).

  Returns:
    An ``optax.GradientTransformation`` for :func:`jaxrec.optim.run`.

  Raises:
    ValueError: unknown ``norm``/``direction``, ``axis`` other than -1/None; an ``eps`` or
      ``step_size`` that is negative, NaN or infinite (Python, NumPy or concrete JAX numbers;
      traced ones under :func:`jaxrec.checked`); a ``box`` that is not two bounds.

  References:
    Madry, Makelov, Schmidt, Tsipras, Vladu, "Towards Deep Learning Models Resistant to
    Adversarial Attacks", ICLR 2018; Anelli, Bellogin, Deldjoo, Di Noia, Merra, "Multi-Step
    Adversarial Perturbations on Recommender Systems Embeddings", FLAIRS 2021.
  """
  _checks.choice("norm", norm, NORMS)
  _checks.choice("axis", axis, (-1, None))
  direction = _checks.choice("direction", direction or ("l2" if norm == "l2" else "sign"),
                             DIRECTIONS)
  _checks.real("eps", eps, array=True)
  _checks.real("step_size", step_size, array=True)
  if box is not None and len(box) != 2:
    raise ValueError(f"box must be (lower, upper), got {box!r}")

  def proj(delta):
    delta = project_l2_ball(delta, eps, axis) if norm == "l2" else project_linf_ball(delta, eps)
    if box is not None:
      delta = project_box(delta, *box, center=center)
    return delta

  step = normalize(axis) if direction == "l2" else sign()
  return optax.chain(step, optax.scale(-step_size), project(proj))


def bim(eps: ArrayLike, step_size: ArrayLike, *, norm: str = "l2", axis: int | None = -1,
        direction: str | None = None, box: tuple | None = None,
        center=None) -> optax.GradientTransformation:
  """Basic iterative method: :func:`pgd` started from ``delta0 = 0``. The same transform as
  :func:`pgd`; the name records the zero start. Arguments, units and errors as :func:`pgd`.

  Returns:
    An ``optax.GradientTransformation`` for :func:`jaxrec.optim.run`.

  Raises:
    ValueError: as :func:`pgd`.

  Source:
    Kurakin, Goodfellow, Bengio, "Adversarial examples in the physical world", ICLR 2017
    workshop, Sec. 2.1.
  """
  return pgd(eps, step_size, norm=norm, axis=axis, direction=direction, box=box, center=center)


def fgsm(eps: ArrayLike, *, norm: str = "l2", axis: int | None = -1,
         box: tuple | None = None, center=None) -> optax.GradientTransformation:
  """Fast gradient (sign) method: exactly one :func:`pgd` step with ``step_size = eps`` from
  ``delta0 = 0`` (run it with ``num_steps=1``).

  Default: He et al.'s FGSM on embeddings, ``delta = -eps * g / ||g||_2`` per row (SIGIR 2018,
  Eq. 6; ``g`` the gradient of the attack loss, so ``delta`` ascends the victim's loss).
  ``norm="linf"`` gives Goodfellow et al.'s ``-eps * sign(g)`` (ICLR 2015).

  Args:
    eps: budget (absolute units; per row for ``norm="l2", axis=-1``), ``>= 0``; may be a
      tracer.
    norm, axis, box, center: as :func:`pgd`.

  Returns:
    An ``optax.GradientTransformation`` for :func:`jaxrec.optim.run` with ``num_steps=1``.

  Raises:
    ValueError: as :func:`pgd`.

  References:
    He, He, Du, Chua, "Adversarial Personalized Ranking for Recommendation", SIGIR 2018;
    Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015.
  """
  return pgd(eps, eps, norm=norm, axis=axis, box=box, center=center)
