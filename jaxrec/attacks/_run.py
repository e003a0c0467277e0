"""The one attack driver: ``run(tx, attack_loss, delta0, args, num_steps=...)``."""

from __future__ import annotations

from typing import Any, Callable

import jax
import optax

from jaxrec.typing import Array

__all__ = ["run"]


def run(tx: optax.GradientTransformation, attack_loss: Callable[[Any, Any], Array], delta0,
        args, *, num_steps: int) -> tuple[Any, Array]:
  """Minimises ``attack_loss(delta, args)`` over ``delta`` with ``num_steps`` steps of ``tx``.

  One ``lax.scan`` with a static number of steps, so it is jittable, vmappable (e.g. over an eps
  grid: build ``tx`` inside the traced function) and reverse-mode differentiable. Each step
  evaluates the loss and gradient at the current ``delta``, then applies ``tx`` (which receives
  ``delta`` as ``params``, as projections need).

  Args:
    tx: the attack, e.g. :func:`jaxrec.attacks.pgd`.
    attack_loss: ``attack_loss(delta, args) -> scalar`` to *minimise* (``-victim_loss`` for an
      untargeted attack, ``-target_exposure`` for a promotion).
    delta0: initial perturbation pytree (zeros, or :func:`jaxrec.attacks.random_start`).
    args: everything else the loss needs (model parameters, data): passed, not closed over,
      so it is not baked into the compiled program as a constant.
    num_steps: static number of steps (>= 0).

  Returns:
    ``(delta, values)``: the final perturbation and the ``(num_steps,)`` loss values *before*
    each step (``values[0]`` is the loss at ``delta0``).

  Raises:
    ValueError: a negative ``num_steps``.
  """
  if num_steps < 0:
    raise ValueError(f"num_steps must be >= 0, got {num_steps}")

  def step(carry, _):
    delta, state = carry
    value, grads = jax.value_and_grad(attack_loss)(delta, args)
    updates, state = tx.update(grads, state, delta)
    return (optax.apply_updates(delta, updates), state), value

  (delta, _), values = jax.lax.scan(step, (delta0, tx.init(delta0)), length=num_steps)
  return delta, values
