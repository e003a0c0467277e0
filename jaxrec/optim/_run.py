"""The one optimisation driver: ``run(tx, loss, x0, args, num_steps=...)``.

Every optimisation in jaxrec is this function: test-time attacks (FGSM, BIM, PGD), the
training of every model (BPR epochs, the unrolled surrogate of bilevel poisoning), the outer
loop of bilevel poisoning, the generator's training and the logistic regression of the
two-sample test. A loop of its own anywhere else is a bug (``tests/test_architecture.py`` greps
the package for one).
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxrec import _checks
from jaxrec.optim._sparse import apply_updates
from jaxrec.typing import Array, PRNGKey

__all__ = ["RunResult", "run"]


class RunResult(NamedTuple):
  """What :func:`run` returns.

  Attributes:
    x: the final iterate (a pytree shaped like ``x0``).
    values: ``(num_steps,)`` the loss *before* each step (``values[0]`` at the projected start).
    opt_state: the optimiser state after the last step (pass it back as ``opt_state`` to
      continue, e.g. training epoch by epoch).
    key: the running key after the last step (pass it back as ``key`` to continue the same
      random stream); ``None`` without a key.
    aux: with ``has_aux``, the loss's auxiliary output of every step stacked on a leading
      ``(num_steps,)`` axis; else ``None``.
  """

  x: Any
  values: Array
  opt_state: Any
  key: Any
  aux: Any


def run(tx: optax.GradientTransformation, loss: Callable[..., Any], x0: Any, args: Any, *,
        num_steps: int, key: PRNGKey | None = None, opt_state: Any = None,
        has_aux: bool = False, remat: bool = False,
        value_and_grad: Callable[..., Any] | None = None) -> RunResult:
  """Minimises ``loss`` over ``x`` by ``num_steps`` steps of the optax transform ``tx``.

  One ``lax.scan`` with a static number of steps: jittable, vmappable (build ``tx`` inside the
  traced function to vmap over its ``eps`` or learning rate) and reverse-mode differentiable
  (the hypergradient of unrolled bilevel problems). Each step evaluates ``loss`` and its
  gradient at the current ``x``, then applies ``tx`` (which receives ``x`` as ``params``, as
  projections need): ``x <- x + tx.update(grad, state, x)``.

  The start is made feasible: when ``opt_state`` is not given, ``tx`` is first applied to a zero
  gradient (its state discarded) and ``x0`` moves to the result. Every jaxrec transform and
  optax's gradient optimisers (sgd, momentum, adagrad, adam, without weight decay) map a zero
  gradient to a zero step, so this is exactly the projection of ``x0`` onto the budget of the
  ``project(...)`` links in ``tx`` (a random start lands inside the ball *and* the box), and
  ``x0`` itself when ``tx`` projects nothing. (A transform that moves ``x`` without a gradient,
  e.g. ``optax.add_decayed_weights``, would move the start too.)

  Args:
    tx: the step, e.g. :func:`jaxrec.attacks.evasion.pgd` or ``optax.adam(0.01)``.
    loss: ``loss(x, args) -> scalar`` to *minimise* (an attack minimises ``-victim_loss``); with
      ``key``, ``loss(x, args, key_t)``; with ``has_aux``, it returns ``(scalar, aux)``.
    x0: the start (pytree of arrays: a perturbation, fake profiles, model parameters).
    args: everything else the loss reads (parameters, data): passed, not closed over, so it is
      not baked into the compiled program as a constant and gradients can reach it.
    num_steps: static number of steps ``>= 0``.
    key: optional PRNG key, the start of a running key: each step splits it,
      ``key, key_t = split(key)``, and calls ``loss`` with ``key_t`` (minibatch sampling,
      stochastic losses, random restarts); the final running key is returned.
    opt_state: continue from this optimiser state (no start projection); default
      ``tx.init(x0)``.
    has_aux: ``loss`` returns ``(value, aux)``; ``aux`` is stacked over steps.
    remat: two-level checkpointing for reverse mode through the run: blocks of about
      ``sqrt(num_steps)`` steps, each block and each step rematerialised, so ``jax.grad``
      through the run stores ``O(sqrt(num_steps))`` iterates instead of every step's
      intermediates, for about one extra forward pass (Griewank and Walther, "Evaluating
      Derivatives", 2nd ed., SIAM 2008, Ch. 12).
    value_and_grad: optional gradient oracle called as ``loss`` is (``(x, args[, key_t])``),
      returning ``(value, grads)`` (``((value, aux), grads)`` with ``has_aux``) in place of
      ``jax.value_and_grad(loss)``: e.g. row-sparse gradients (:class:`jaxrec.optim.Rows`
      leaves) for a :func:`jaxrec.optim.sparse_adagrad` step, which :func:`jaxrec.optim.
      apply_updates` scatter-adds. It must be the gradient of ``loss`` (``loss`` is still used
      for nothing else; the caller vouches for the pair).

  Returns:
    A :class:`RunResult` ``(x, values, opt_state, key, aux)``.

  Raises:
    ValueError: ``num_steps`` not an integer ``>= 0``.

  Source:
    jaxrec; the ``fn(y, args)`` convention of optimistix (Rader, Lyons, Kidger, 2024) and the
    ``init``/``update`` transforms of optax (DeepMind, 2020).
  """
  num_steps = _checks.integer("num_steps", num_steps, low=0)
  if opt_state is None:
    zero = jax.tree.map(jnp.zeros_like, x0)
    start, _ = tx.update(zero, tx.init(x0), x0)
    x0 = apply_updates(x0, start)
    opt_state = tx.init(x0)
  if value_and_grad is None:
    value_and_grad = jax.value_and_grad(loss, has_aux=has_aux)

  def step(carry, _):
    x, state, k = carry
    extra = ()
    if k is not None:
      k, k_step = jax.random.split(k)
      extra = (k_step,)
    out, grads = value_and_grad(x, args, *extra)
    updates, state = tx.update(grads, state, x)
    value, aux = out if has_aux else (out, None)
    return (apply_updates(x, updates), state, k), (value, aux)

  def steps(carry, length):
    return jax.lax.scan(step, carry, length=length)

  if not remat or num_steps < 4:
    (x, state, k), (values, aux) = steps((x0, opt_state, key), num_steps)
    return RunResult(x, values, state, k, aux)
  # Two-level ("sqrt") checkpointing: reverse mode stores the carry at every block boundary
  # and, while one block is differentiated, at every step of that block. Inside scan, CSE
  # across iterations cannot undo the rematerialisation: prevent_cse=False.
  step = jax.checkpoint(step, prevent_cse=False)
  block = math.isqrt(num_steps - 1) + 1
  num_blocks, rest = divmod(num_steps, block)
  one_block = jax.checkpoint(lambda c, _: steps(c, block), prevent_cse=False)
  carry, (head_v, head_a) = jax.lax.scan(one_block, (x0, opt_state, key), length=num_blocks)
  (x, state, k), (tail_v, tail_a) = steps(carry, rest)
  values = jnp.concatenate([head_v.reshape(-1), tail_v])
  aux = jax.tree.map(lambda h, t: jnp.concatenate([h.reshape((-1,) + h.shape[2:]), t]),
                     head_a, tail_a)
  return RunResult(x, values, state, k, aux)
