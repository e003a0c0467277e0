"""Each vmapped victim trains as many steps as its own data call for, under one static schedule.

Sub-datasets of one shape run as one ``jit(vmap)`` program whose trip count is static: every
lane runs ``S = ceil(R / B)`` steps per epoch for the group's largest (poisoned) row count ``R``.
Left alone, a lane with ``N < R`` rows would take ``R / N`` passes over its data per epoch, and
since ``N`` is what sets a sub-dataset's density, training effort would be almost collinear with
density (correlation -0.96 between ``log_density`` and ``log(R / N)`` over the 108 default
sub-datasets of MovieLens-100K): the density coefficient would measure training, not data.

:func:`own_epochs` makes every step of a lane run with probability ``N / (S B)`` (its index's
``num_valid`` over the rows the schedule can draw per epoch): in expectation ``N / B`` steps per
epoch, one pass over the lane's own rows, as an unpadded run of ``fit_victim`` would take. A
skipped step has a zero loss, and the optimiser neither moves the parameters nor advances its
state (exact for stateful optimisers such as Adam too). The draws come from the step's own key,
so a lane is reproducible and independent of its group, and a lane that trains every step
(``N >= S B``) trains exactly as the plain victim.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxrec import _checks
from jaxrec.training._victim import Victim
from jaxrec.typing import Array, PRNGKey

__all__ = ["own_epochs"]


class _MaskedBatch(NamedTuple):
  batch: Any  # the inner sampler's batch
  active: Array  # () bool: whether this step trains


def _sample(key: PRNGKey, data: Any, batch_size: int, *, rows_per_epoch: int,
            inner: Callable[[PRNGKey, Any], Any]) -> _MaskedBatch:
  del batch_size  # the inner victim's own
  # the inner batch from the step's key itself: a lane that trains every step (num_valid >=
  # rows_per_epoch) trains exactly as the inner victim does
  active = jax.random.uniform(jax.random.fold_in(key, 1)) * rows_per_epoch < data.num_valid
  return _MaskedBatch(inner(key, data), active)


def _loss(params, batch: _MaskedBatch, data, *, objective):
  return jnp.where(batch.active, objective(params, batch.batch, data), 0.0)


def _all_zero(grads, gradient_step, params):
  del gradient_step, params
  live = jnp.any(jnp.stack([jnp.any(g != 0) for g in jax.tree.leaves(grads)]))
  return jnp.logical_not(live), ()


def _skip_zero_steps(tx: optax.GradientTransformation) -> optax.GradientTransformation:
  """``tx``, except that an all-zero gradient (a skipped step) leaves the parameters and the
  optimiser state as they are (optax's ``MultiSteps`` skip rule, one step per update)."""
  return optax.MultiSteps(tx, every_k_schedule=1,
                          should_skip_update_fn=_all_zero).gradient_transformation()


def own_epochs(victim: Victim, rows_per_epoch: int) -> Victim:
  """``victim`` trained for its own data's epochs inside a schedule of ``rows_per_epoch`` rows.

  Use with ``fit_victim(..., num_steps=S)`` and ``rows_per_epoch = S * victim.batch_size``, where
  ``S`` is shared by every lane of a vmapped group (module docstring).

  Args:
    victim: a minibatch victim (an optimiser and a ``batch_size``) training on a
      :class:`jaxrec.data.PositiveIndex` (or on data with a ``num_valid`` row count).
    rows_per_epoch: static rows the schedule draws per epoch, ``S * batch_size``; a lane with
      ``num_valid >= rows_per_epoch`` trains every step.

  Returns:
    A :class:`jaxrec.training.Victim` with the same model; its sampler draws the inner batch and
    a step flag (``() bool``, true with probability ``min(1, num_valid / rows_per_epoch)``), its
    loss is zero on skipped steps, and its optimiser skips them.

  Raises:
    ValueError: a victim that does not train by minibatches, a non-positive ``rows_per_epoch``.

  Source:
    jaxrec. One pass over the data per epoch in expectation is LearnBPR's bootstrap schedule
    (Rendle et al., UAI 2009, Sec. 4.2), kept per sub-dataset as Deldjoo, Di Noia, Di Sciascio,
    Merra (SIGIR 2020) train every sub-dataset alike.
  """
  if victim.tx is None or victim.batch_size is None or victim.num_epochs == 0:
    raise ValueError(f"own_epochs needs a victim that trains by minibatches; {victim.name!r} "
                     f"has tx={victim.tx!r}, batch_size={victim.batch_size}, "
                     f"num_epochs={victim.num_epochs}")
  rows_per_epoch = _checks.integer("rows_per_epoch", rows_per_epoch, low=1)
  return victim.replace(
      sampler=functools.partial(_sample, rows_per_epoch=rows_per_epoch, inner=victim.sample),
      loss=functools.partial(_loss, objective=victim.objective),
      tx=_skip_zero_steps(victim.tx))
