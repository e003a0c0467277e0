"""Pure training loops: one epoch is one ``lax.scan``; ``fit`` scans over epochs.

The objective is any ``objective(params, batch) -> scalar`` over a :class:`jaxrec.data.BPRBatch`
(e.g. :func:`jaxrec.models.mf_bpr_objective`, or an adversarial one); the optimiser is any
``optax.GradientTransformation``. Everything here is a pure function of its arguments, so a grid
of seeds, learning rates or regularisation weights trains as one program under ``jax.vmap``::

  def run(key):
    k_init, k_train = jax.random.split(key)
    state = training.init_state(models.mf.init(k_init, U, I, 64), tx, k_train)
    return training.fit(state, index, objective=obj, tx=tx, batch_size=1024, num_epochs=50)
  states, curves = jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(0), 5))

:func:`train` is the host-side driver of the same epoch function, with input checks and a
progress bar, for one model at a time.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrec.data._index import PositiveIndex
from jaxrec.data._sampling import BPRBatch, check_sampleable, sample_bpr_triples
from jaxrec.typing import Array, Params, PRNGKey

__all__ = ["Objective", "TrainState", "epoch", "fit", "init_state", "steps_per_epoch", "train"]

Objective = Callable[[Params, BPRBatch], Array]


class TrainState(NamedTuple):
  """Everything a training run carries from step to step."""

  params: Params
  opt_state: optax.OptState
  key: PRNGKey  # advanced every step; same key, same run


def init_state(params: Params, tx: optax.GradientTransformation, key: PRNGKey) -> TrainState:
  """Initial :class:`TrainState` (optimiser state from ``tx.init``)."""
  return TrainState(params=params, opt_state=tx.init(params), key=key)


def steps_per_epoch(num_rows: int, batch_size: int) -> int:
  """``ceil(num_rows / batch_size)``: the batches in one epoch (each row once in expectation)."""
  if batch_size <= 0:
    raise ValueError(f"batch_size must be positive, got {batch_size}")
  return max(1, math.ceil(num_rows / batch_size))


def epoch(
    state: TrainState,
    index: PositiveIndex,
    *,
    objective: Objective,
    tx: optax.GradientTransformation,
    batch_size: int,
    num_steps: int | None = None,
) -> tuple[TrainState, Array]:
  """One epoch of minibatch training with freshly sampled BPR triples (pure, jittable).

  Each step samples ``batch_size`` triples with :func:`jaxrec.data.sample_bpr_triples`, takes
  the gradient of ``objective`` and applies ``tx``. The step count is static.

  Args:
    state: the current :class:`TrainState`.
    index: training positives.
    objective: ``objective(params, batch) -> scalar`` to minimise.
    tx: an optax optimiser.
    batch_size: static triples per step ``B``.
    num_steps: static steps per epoch; default ``ceil(index.capacity / B)``.

  Returns:
    ``(new_state, losses)`` with ``losses`` the ``(num_steps,) float32`` objective values.
  """
  if num_steps is None:
    num_steps = steps_per_epoch(index.capacity, batch_size)

  def step(state: TrainState, _):
    key, k_batch = jax.random.split(state.key)
    batch = sample_bpr_triples(k_batch, index, batch_size)
    loss, grads = jax.value_and_grad(objective)(state.params, batch)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return TrainState(params, opt_state, key), loss

  return jax.lax.scan(step, state, length=num_steps)


def fit(
    state: TrainState,
    index: PositiveIndex,
    *,
    objective: Objective,
    tx: optax.GradientTransformation,
    batch_size: int,
    num_epochs: int,
    num_steps: int | None = None,
) -> tuple[TrainState, Array]:
  """``num_epochs`` epochs as one ``lax.scan`` (pure, jittable, ``vmap``-able).

  Nothing is checked under tracing: validate the index first with
  :func:`jaxrec.data.check_sampleable` (a user whose positives cover the catalogue has no
  negative item, and sampling would return an out-of-range id that JAX clamps silently);
  :func:`train` does this for you.

  Returns:
    ``(final_state, curve)``, ``curve`` the ``(num_epochs,) float32`` mean objective per triple of
    each epoch.
  """
  if num_steps is None:
    num_steps = steps_per_epoch(index.capacity, batch_size)
  one = functools.partial(
      epoch, index=index, objective=objective, tx=tx, batch_size=batch_size,
      num_steps=num_steps)

  def body(state, _):
    state, losses = one(state)
    return state, jnp.sum(losses) / (num_steps * batch_size)

  return jax.lax.scan(body, state, length=num_epochs)


def train(
    state: TrainState,
    index: PositiveIndex,
    *,
    objective: Objective,
    tx: optax.GradientTransformation,
    batch_size: int,
    num_epochs: int,
    num_steps: int | None = None,
    progress: bool | str = False,
    callback: Callable[[int, TrainState, float], None] | None = None,
) -> tuple[TrainState, np.ndarray]:
  """Host-side driver: checks the inputs, then runs the jitted :func:`epoch` ``num_epochs`` times.

  Same results as :func:`fit` for the same arguments (both run :func:`epoch`); this one shows a
  progress bar and can call ``callback(epoch_index, state, mean_loss)`` after every epoch.

  Args:
    progress: show a tqdm progress bar; a string is used as its description.

  Returns:
    ``(final_state, curve)``, ``curve`` a ``(num_epochs,)`` NumPy array of mean loss per triple.

  Raises:
    ValueError: non-positive batch size, negative epochs, an empty index, or a user whose
      positives cover the whole catalogue.
  """
  if num_epochs < 0:
    raise ValueError(f"num_epochs must be >= 0, got {num_epochs}")
  if num_steps is None:
    num_steps = steps_per_epoch(index.capacity, batch_size)
  elif num_steps <= 0:
    raise ValueError(f"num_steps must be positive, got {num_steps}")
  check_sampleable(index)
  run_epoch = jax.jit(functools.partial(
      epoch, objective=objective, tx=tx, batch_size=batch_size, num_steps=num_steps))
  curve = np.zeros((num_epochs,), np.float64)
  epochs = range(num_epochs)
  bar = None
  if progress:
    from tqdm.auto import tqdm  # pylint: disable=import-outside-toplevel
    bar = tqdm(epochs, desc=progress if isinstance(progress, str) else "train", unit="epoch",
               disable=None)  # None: no bar when the output is not a terminal
    epochs = bar
  for e in epochs:
    state, losses = run_epoch(state, index)
    curve[e] = float(jnp.sum(losses)) / (num_steps * batch_size)
    if bar is not None:
      bar.set_postfix(loss=f"{curve[e]:.4f}", refresh=False)
    if callback is not None:
      callback(e, state, curve[e])
  return state, curve
