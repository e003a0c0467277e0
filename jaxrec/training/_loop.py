"""Training: an epoch is one :func:`jaxrec.optim.run`; ``fit`` scans over epochs.

Everything here is a pure function of its arguments, so a grid of seeds, learning rates or
regularisation weights trains as one program under ``jax.vmap``::

  victim = training.Victim(models.mf(dim=64, reg=0.01), optax.adagrad(0.05), num_epochs=50,
                           batch_size=1024)
  params, curves = jax.jit(jax.vmap(lambda k: training.fit_victim(victim, index, k)))(
      jax.random.split(jax.random.key(0), 5))

Randomness: :func:`init_state` splits the key into an initialisation key and a training key; the
training key is the running key of :func:`jaxrec.optim.run` (each step splits it and samples its
batch with the second half), carried from epoch to epoch in :class:`TrainState`. Same key, same
run; :func:`fit` and the host-side :func:`train` give the same result.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec import _checks
from jaxrec.data._index import PositiveIndex
from jaxrec.data._sampling import check_sampleable
from jaxrec.models._base import RowSparseModel, gather_rows
from jaxrec.optim._run import run
from jaxrec.optim._sparse import Rows, RowSparseTransformation
from jaxrec.training._victim import Victim, positives_of
from jaxrec.typing import Array, Params, PRNGKey

__all__ = ["TrainState", "epoch", "fit", "fit_victim", "init_state", "train"]


class TrainState(NamedTuple):
  """Everything a training run carries from step to step.

  Attributes:
    params: the model parameters (pytree).
    opt_state: the optimiser state (``None`` for a victim without optimiser).
    key: the running training key (advanced every step; same key, same run).
  """

  params: Params
  opt_state: Any
  key: PRNGKey


def init_state(victim: Victim, data: Any, key: PRNGKey) -> TrainState:
  """Fresh parameters (``victim.model.init``), optimiser state and training key from ``key``:
  ``k_init, k_train = split(key)``.

  Returns:
    A :class:`TrainState`.

  Raises:
    ValueError: from the model's ``init`` (data of the wrong kind or size).

  Source:
    jaxrec.
  """
  k_init, k_train = jax.random.split(key)
  params = victim.model.init(k_init, data)
  return TrainState(params, None if victim.tx is None else victim.tx.init(params), k_train)


def epoch(victim: Victim, state: TrainState, data: Any, *, num_steps: int | None = None
          ) -> tuple[TrainState, Array]:
  """One epoch: ``num_steps`` steps of :func:`jaxrec.optim.run` on freshly drawn batches (pure,
  jittable).

  Args:
    victim: the model and its recipe (needs an optimiser).
    state: the current :class:`TrainState`.
    data: the training data (a PositiveIndex for BPR sampling).
    num_steps: static steps; default ``victim.steps(data)``.

  Returns:
    ``(new_state, losses)`` with ``losses`` the ``(num_steps,)`` loss of each step's batch
    (before the step).

  Raises:
    ValueError: a victim without optimiser, ``num_steps < 1``.

  Source:
    jaxrec.
  """
  if victim.tx is None:
    raise ValueError(f"victim {victim.name!r} has no optimiser: it does not train")
  num_steps = victim.steps(data) if num_steps is None else _checks.integer(
      "num_steps", num_steps, low=1)

  def loss(params, data, key):
    return victim.objective(params, victim.sample(key, data), data)

  result = run(victim.tx, loss, state.params, data, num_steps=num_steps, key=state.key,
               opt_state=state.opt_state, remat=victim.remat,
               value_and_grad=_row_sparse_oracle(victim))
  return TrainState(result.x, result.opt_state, result.key), result.values


def _row_sparse_oracle(victim: Victim) -> Callable[..., Any] | None:
  """The row-sparse ``value_and_grad`` of a step, or ``None`` for autodiff's dense one.

  Row-sparse when the victim trains with its model's own loss (no defense objective), the model
  has the row-sparse protocol (:class:`jaxrec.models.RowSparseModel`), the optimiser accepts
  :class:`jaxrec.optim.Rows` (:class:`jaxrec.optim.RowSparseTransformation`) and reverse mode
  does not run through training (``remat``: unrolled bilevel problems want dense gradients).
  The gradient of :meth:`loss_on_rows` with respect to the gathered rows (the model's closed
  form ``value_and_grad_on_rows`` where it has one, else autodiff), paired with their ids, *is*
  the loss's gradient; the optimiser then never touches untouched rows.
  """
  model = victim.model
  if (victim.loss is not None or victim.remat or not isinstance(model, RowSparseModel)
      or not isinstance(victim.tx, RowSparseTransformation)
      or _owner(model, "loss") is not _owner(model, "loss_on_rows")):
    return None  # (a subclass that overrides loss keeps its loss: the dense path)

  on_rows = getattr(model, "value_and_grad_on_rows", None) or jax.value_and_grad(
      model.loss_on_rows)

  def value_and_grad(params, data, key):
    batch = victim.sample(key, data)
    index = model.touched_rows(batch)
    value, grads = on_rows(gather_rows(params, index), batch, data)
    return value, jax.tree.map(Rows, index, grads)

  return value_and_grad


def _owner(obj: Any, name: str) -> type | None:
  """The class in ``type(obj)``'s MRO that defines ``name``."""
  return next((k for k in type(obj).__mro__ if name in vars(k)), None)


def _schedule(victim: Victim, data: Any, num_epochs, num_steps) -> tuple[int, int, int]:
  """``(epochs, steps per epoch, triples per epoch)``: the arguments or the victim's recipe."""
  num_epochs = victim.num_epochs if num_epochs is None else _checks.integer(
      "num_epochs", num_epochs, low=0)
  if num_epochs == 0:
    return 0, 0, 1
  num_steps = victim.steps(data) if num_steps is None else _checks.integer(
      "num_steps", num_steps, low=1)
  return num_epochs, num_steps, num_steps * (victim.batch_size or 1)


def fit(victim: Victim, state: TrainState, data: Any, *, num_epochs: int | None = None,
        num_steps: int | None = None) -> tuple[TrainState, Array]:
  """``num_epochs`` epochs as one ``lax.scan`` (pure, jittable, ``vmap``-able); the first
  ``victim.warmup_epochs`` of them with the model's own loss (:attr:`Victim.warmup_epochs`).

  Nothing is checked under tracing: validate a PositiveIndex first with
  :func:`jaxrec.data.check_sampleable` (a user whose positives cover the catalogue has no
  negative item, and sampling would return an out-of-range id); :func:`train` does this for you.

  Args:
    victim: the model and its recipe. state: the start (:func:`init_state`). data: training data.
    num_epochs: static epochs; default ``victim.num_epochs``.
    num_steps: static steps per epoch; default ``victim.steps(data)``. Poisoned retraining passes
      the clean data's count, so that capacity reserved for fake users does not change the
      schedule.

  Returns:
    ``(final_state, curve)``, ``curve`` the ``(num_epochs,)`` mean loss per triple (per step for
    full-batch training) of each epoch.

  Raises:
    ValueError: as :func:`epoch`.

  Source:
    jaxrec.
  """
  num_epochs, num_steps, per_step = _schedule(victim, data, num_epochs, num_steps)
  if num_epochs == 0:
    return state, jnp.zeros((0,), jnp.float32)

  def phase(v, state, length):
    def body(state, _):
      state, losses = epoch(v, state, data, num_steps=num_steps)
      return state, jnp.sum(losses) / per_step
    return jax.lax.scan(body, state, length=length)

  warm = victim.warmup()
  if warm is None:
    return phase(victim, state, num_epochs)
  first = min(victim.warmup_epochs, num_epochs)
  state, head = phase(warm, state, first)
  if first == num_epochs:
    return state, head
  state, tail = phase(victim, state, num_epochs - first)
  return state, jnp.concatenate([head, tail])


def fit_victim(victim: Victim, data: Any, key: PRNGKey, *, num_steps: int | None = None
               ) -> tuple[Params, Array]:
  """Trains ``victim`` from scratch on ``data``: :func:`init_state` then :func:`fit` (pure,
  jittable, ``vmap``-able).

  Returns:
    ``(params, curve)``, ``curve`` the ``(num_epochs,)`` mean loss per triple.

  Raises:
    ValueError: as :func:`init_state` and :func:`fit`.

  Source:
    jaxrec.
  """
  state, curve = fit(victim, init_state(victim, data, key), data, num_steps=num_steps)
  return state.params, curve


def train(victim: Victim, state: TrainState, data: Any, *, num_epochs: int | None = None,
          num_steps: int | None = None, progress: bool | str = False,
          callback: Callable[[int, TrainState, float], None] | None = None
          ) -> tuple[TrainState, np.ndarray]:
  """Host-side driver: checks the inputs, then runs the jitted :func:`epoch` epoch by epoch.

  Same results as :func:`fit` for the same arguments; this one shows a progress bar and can call
  ``callback(epoch_index, state, mean_loss)`` after every epoch.

  Args:
    victim, state, data, num_epochs, num_steps: as :func:`fit`.
    progress: show a tqdm progress bar; a string is used as its description.
    callback: called after every epoch.

  Returns:
    ``(final_state, curve)``, ``curve`` a ``(num_epochs,)`` NumPy array of mean loss per triple.

  Raises:
    ValueError: a negative ``num_epochs``, ``num_steps < 1``, an empty index, or a user whose
      positives cover the whole catalogue.

  Source:
    jaxrec.
  """
  num_epochs, num_steps, per_step = _schedule(victim, data, num_epochs, num_steps)
  if num_epochs == 0:
    return state, np.zeros((0,), np.float64)
  if victim.batch_size is not None and victim.sampler is None and isinstance(
      positives_of(data), PositiveIndex):
    check_sampleable(positives_of(data))
  run_epoch = jax.jit(functools.partial(epoch, victim, num_steps=num_steps))
  warm = victim.warmup()
  run_warm = None if warm is None else jax.jit(functools.partial(epoch, warm,
                                                                 num_steps=num_steps))
  curve = np.zeros((num_epochs,), np.float64)
  epochs = range(num_epochs)
  bar = None
  if progress:
    from tqdm.auto import tqdm  # pylint: disable=import-outside-toplevel
    bar = tqdm(epochs, desc=progress if isinstance(progress, str) else "train", unit="epoch",
               disable=None)  # None: no bar when the output is not a terminal
    epochs = bar
  for e in epochs:
    state, losses = (run_warm if run_warm is not None and e < victim.warmup_epochs
                     else run_epoch)(state, data)
    curve[e] = float(jnp.sum(losses)) / per_step
    if bar is not None:
      bar.set_postfix(loss=f"{curve[e]:.4f}", refresh=False)
    if callback is not None:
      callback(e, state, curve[e])
  return state, curve
