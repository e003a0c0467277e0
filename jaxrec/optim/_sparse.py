"""Row-sparse gradients and the optimisers that step on them without touching whole tables.

A minibatch of BPR triples touches a few thousand rows of embedding tables with hundreds of
thousands. Reverse-mode autodiff of a gather returns a *dense* gradient (a zero table with the
rows scatter-added into it), and an optax optimiser then passes over every row of every table
each step. :class:`Rows` holds the gradient of the touched rows only (``index``, ``values``:
duplicates allowed, they add), and :func:`sparse_sgd` / :func:`sparse_adagrad` step on it
directly: each step costs ``O(rows touched)`` instead of ``O(table)``. Both are ordinary optax
``GradientTransformation`` s (dense leaves get exactly :func:`optax.sgd` / :func:`optax.adagrad`),
so they can train any model; :func:`jaxrec.training.epoch` hands them row gradients when the
model offers them (``touched_rows`` / ``loss_on_rows``, e.g. :class:`jaxrec.models.MF`).
:func:`apply_updates` adds updates of either kind.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrec import _checks
from jaxrec.typing import Array, ArrayLike

__all__ = ["RowSparseTransformation", "Rows", "apply_updates", "is_rows", "sparse_adagrad",
           "sparse_sgd"]


@struct.dataclass
class Rows:
  """A row-sparse array: ``values[k]`` belongs to row ``index[k]`` of a ``(R, ...)`` table.

  Rows may repeat; repeated rows add (the gradient of a batch that gathers a row twice).

  Attributes:
    index: ``(K,) int32`` row ids in ``[0, R)`` (not checked: produced under jit from sampled
      ids).
    values: ``(K, ...) float`` one slice per id, shaped like the table's rows.
  """

  index: Array
  values: Array


def is_rows(x: Any) -> bool:
  """Whether ``x`` is a :class:`Rows` (the ``is_leaf`` of the tree maps here).

  Raises:
    Nothing.

  Source:
    jaxrec.
  """
  return isinstance(x, Rows)


class RowSparseTransformation(optax.GradientTransformation):
  """An optax ``GradientTransformation`` that also accepts :class:`Rows` gradient leaves and
  returns :class:`Rows` updates for them (apply with :func:`apply_updates`). Dense leaves are
  treated as by the dense optimiser it is named after.

  Training takes the row-sparse path only when the victim's optimiser *is* one of these: a
  wrapper (``optax.chain``, ``optax.inject_hyperparams``, ``optax.masked`` ...) is an ordinary
  ``GradientTransformation`` and trains on the dense path (same arithmetic for SGD; see
  :func:`sparse_adagrad` for Adagrad). A learning-rate schedule is given to the optimiser
  itself (``sparse_sgd(optax.exponential_decay(...))``), as with optax's own optimisers."""


class ScheduleState(NamedTuple):
  """``count``: the number of updates so far (``int32``), the argument of a learning-rate
  schedule (as optax's ``ScaleByScheduleState``)."""

  count: Array


def _check_learning_rate(learning_rate) -> None:
  if callable(learning_rate):
    return  # an optax schedule: count -> step size
  _checks.real("learning_rate", learning_rate, low=0.0, low_open=True)


def _step_size(learning_rate, count):
  return learning_rate(count) if callable(learning_rate) else learning_rate


def sparse_sgd(learning_rate: ArrayLike | optax.Schedule) -> RowSparseTransformation:
  """Stochastic gradient descent, ``x <- x - lr * g``, on dense or row-sparse gradients.

  On a :class:`Rows` gradient the update is the :class:`Rows` ``-lr * values`` at the same ids,
  which :func:`apply_updates` scatter-adds: exactly the dense SGD step of the summed gradient
  (up to the floating-point order in which repeated rows add).

  Args:
    learning_rate: step size ``> 0`` (float or traced scalar), in the loss's units per unit of
      gradient (jaxrec's BPR losses are summed over a batch: a per-triple step); or an optax
      schedule ``count -> step size`` (``count`` = updates so far, from 0).

  Returns:
    A :class:`RowSparseTransformation`; its state is :class:`ScheduleState` (the update count).

  Raises:
    ValueError: a non-positive or non-finite concrete ``learning_rate`` (a schedule's values
      are not checked).

  Source:
    Robbins and Monro, 1951; the row-sparse ("lazy") form of embedding updates as in
    ``torch.optim.SparseAdam`` / TensorFlow's ``IndexedSlices`` gradients.
  """
  _check_learning_rate(learning_rate)

  def init(params):
    del params
    return ScheduleState(jnp.zeros((), jnp.int32))

  def update(grads, state, params=None):
    del params
    lr = _step_size(learning_rate, state.count)
    return jax.tree.map(
        lambda g: Rows(g.index, -lr * g.values) if is_rows(g) else -lr * g,
        grads, is_leaf=is_rows), ScheduleState(optax.safe_int32_increment(state.count))

  return RowSparseTransformation(init, update)


class SparseAdagradState(NamedTuple):
  """``sum_of_squares``: a dense accumulator shaped like the parameters; ``count``: updates so
  far (``int32``, the argument of a learning-rate schedule)."""

  sum_of_squares: Any
  count: Array


def sparse_adagrad(learning_rate: ArrayLike | optax.Schedule,
                   initial_accumulator_value: float = 0.1,
                   eps: float = 1e-7) -> RowSparseTransformation:
  """Adagrad on dense or row-sparse gradients, touching only the rows a batch touches.

  Dense leaves: exactly :func:`optax.adagrad` (``acc += g^2``, ``x -= lr * g / sqrt(acc +
  eps)``). A :class:`Rows` leaf adds each occurrence's squared gradient to the accumulator's row
  (``acc[index] += values^2``, scatter-add), then steps each occurrence by
  ``-lr * values / sqrt(acc[index] + eps)`` with the row's updated accumulator. For a row that a
  batch touches once this is the dense step exactly; for a row touched ``m > 1`` times the
  accumulator grows by ``sum_k g_k^2`` where dense Adagrad adds ``(sum_k g_k)^2`` (the two agree
  in expectation for uncorrelated occurrences; the step direction is the same summed gradient).
  That is the price of never forming the per-row sum, which needs a sort per step.

  Args:
    learning_rate: step size ``> 0`` (float or traced scalar), or an optax schedule
      ``count -> step size``.
    initial_accumulator_value: start of the accumulator, ``>= 0`` (0.1, as optax and Keras).
    eps: added under the square root, ``> 0``.

  Returns:
    A :class:`RowSparseTransformation` whose state is :class:`SparseAdagradState`.

  Raises:
    ValueError: a non-positive or non-finite concrete ``learning_rate`` (a schedule's values
      are not checked), a negative ``initial_accumulator_value``, a non-positive ``eps``.

  Source:
    Duchi, Hazan, Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
    Optimization", JMLR 2011 (diagonal form); optax's ``scale_by_rss`` for the dense leaves.
  """
  _check_learning_rate(learning_rate)
  _checks.real("initial_accumulator_value", initial_accumulator_value, low=0.0)
  _checks.real("eps", eps, low=0.0, low_open=True)

  def init(params):
    return SparseAdagradState(jax.tree.map(
        lambda p: jnp.full_like(p, initial_accumulator_value), params),
                              jnp.zeros((), jnp.int32))

  def update(grads, state, params=None):
    del params
    learning_rate_now = _step_size(learning_rate, state.count)
    leaves, treedef = jax.tree.flatten(grads, is_leaf=is_rows)
    accs = treedef.flatten_up_to(state.sum_of_squares)
    new_updates, new_accs = [], []
    for g, acc in zip(leaves, accs):
      if is_rows(g):
        acc = acc.at[g.index].add(jnp.square(g.values))
        a = acc[g.index]
        new_updates.append(Rows(g.index, -learning_rate_now * g.values * _rsqrt(a, eps)))
      else:
        acc = acc + jnp.square(g)
        new_updates.append(-learning_rate_now * g * _rsqrt(acc, eps))
      new_accs.append(acc)
    return (jax.tree.unflatten(treedef, new_updates),
            SparseAdagradState(jax.tree.unflatten(treedef, new_accs),
                               optax.safe_int32_increment(state.count)))

  return RowSparseTransformation(init, update)


def _rsqrt(acc: Array, eps: float) -> Array:
  """optax's ``where(acc > 0, rsqrt(acc + eps), 0)``."""
  return jnp.where(acc > 0, jax.lax.rsqrt(acc + eps), 0.0)


def apply_updates(params: Any, updates: Any) -> Any:
  """``params + updates`` leaf by leaf; a :class:`Rows` update is scatter-added into its table
  (repeated rows add). Dense leaves: exactly :func:`optax.apply_updates` (result in the
  parameter's dtype).

  Raises:
    Nothing (jittable; the trees must match, Rows standing for whole leaves).

  Source:
    optax (DeepMind, 2020), ``apply_updates``.
  """
  def add(u, p):
    if is_rows(u):
      return p.at[u.index].add(u.values.astype(p.dtype))
    return jnp.asarray(p + u).astype(jnp.asarray(p).dtype)

  return jax.tree.map(add, updates, params, is_leaf=is_rows)
