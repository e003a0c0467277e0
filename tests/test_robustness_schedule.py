"""Each vmapped sub-dataset trains its own epochs (jaxrec.robustness._schedule.own_epochs)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrec import data, metrics, models, training
from jaxrec.robustness._schedule import own_epochs
from jaxrec.robustness._study import _padded_index


def _victim(tx):
  return training.Victim(models.mf(dim=4, reg=0.01), tx, num_epochs=3, batch_size=16)


@pytest.mark.parametrize("tx", [optax.adagrad(0.1, initial_accumulator_value=0.1),
                                optax.adam(0.05)], ids=["adagrad", "adam"])
def test_a_lane_that_trains_every_step_trains_as_the_plain_victim(toy_index, tx):
  index = toy_index()  # 150 rows
  plain = _victim(tx)
  steps = training.steps_per_epoch(index.capacity, plain.batch_size)  # 10 steps of 16 = 160
  key = jax.random.key(3)
  want, _ = training.fit_victim(plain, index, key, num_steps=steps)
  got, _ = training.fit_victim(own_epochs(plain, index.capacity), index, key, num_steps=steps)
  for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)  # rounding


def test_skipped_steps_leave_parameters_and_adam_state_alone(toy_index):
  index = toy_index()
  victim = own_epochs(_victim(optax.adam(0.05)), rows_per_epoch=10**9)  # p = 150 / 1e9
  key = jax.random.key(0)
  start = training.init_state(victim, index, key)
  end, _ = training.fit(victim, start, index, num_steps=10)
  for a, b in zip(jax.tree.leaves((start.params, start.opt_state)),
                  jax.tree.leaves((end.params, end.opt_state))):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_steps_train_with_probability_rows_over_schedule(toy_index):
  index = toy_index()  # 150 valid rows
  victim = own_epochs(_victim(optax.sgd(0.1)), rows_per_epoch=500)  # p = 0.3
  keys = jax.random.split(jax.random.key(1), 4000)
  active = jax.vmap(lambda k: victim.sample(k, index).active)(keys)
  # binomial(4000, 0.3): standard deviation 0.0072 of the share
  assert float(jnp.mean(active)) == pytest.approx(0.3, abs=0.025)
  again = jax.vmap(lambda k: victim.sample(k, index).active)(keys)
  np.testing.assert_array_equal(np.asarray(active), np.asarray(again))  # same key, same steps


def test_fewer_rows_train_fewer_steps_under_one_schedule(toy_index):
  # the same 150-row data padded into a 3x larger capacity: with the plain victim it takes 3x the
  # passes; with own_epochs it moves about as far from the start as when trained alone
  index = toy_index()
  victim = _victim(optax.sgd(0.05))
  key = jax.random.key(2)
  alone, _ = training.fit_victim(victim, index, key)  # 10 steps per epoch
  start = training.init_state(victim, index, key).params
  padded_steps = 3 * training.steps_per_epoch(index.capacity, victim.batch_size)
  tripled, _ = training.fit_victim(victim, index, key, num_steps=padded_steps)
  scheduled, _ = training.fit_victim(own_epochs(victim, padded_steps * victim.batch_size),
                                     index, key, num_steps=padded_steps)
  moved = lambda p: float(jnp.linalg.norm(p.item_emb - start.item_emb))  # noqa: E731
  assert moved(tripled) > 1.5 * moved(alone)
  assert moved(scheduled) == pytest.approx(moved(alone), rel=0.3)


def test_own_epochs_rejects_victims_without_minibatches():
  with pytest.raises(ValueError, match="trains by minibatches"):
    own_epochs(training.Victim(models.ease(reg=10.0)), 100)
  with pytest.raises(ValueError, match="rows_per_epoch"):
    own_epochs(_victim(optax.sgd(0.1)), 0)


def test_padding_rows_are_never_trained_on_or_counted():
  # a sub-dataset's index padded to its shape group's capacity: BPR draws only valid rows, and
  # the target exposure (eligible users, masked training items) is that of the unpadded index
  x = data.from_arrays([0, 0, 1, 2, 3, 3, 4], [0, 1, 1, 2, 0, 3, 4], num_users=6, num_items=6)
  tight, padded = _padded_index(x, len(x)), _padded_index(x, 3 * len(x))
  assert padded.capacity == 21 and int(padded.num_valid) == 7
  batch = data.sample_bpr_triples(jax.random.key(0), padded, 4096)
  assert int(jnp.max(batch.users)) < 6  # the sentinel user of padding rows is never drawn
  pairs = set(zip(np.asarray(batch.users).tolist(), np.asarray(batch.pos_items).tolist()))
  assert pairs == {(0, 0), (0, 1), (1, 1), (2, 2), (3, 0), (3, 3), (4, 4)}
  model = models.mf(dim=4, reg=0.01)
  params = model.init(jax.random.key(1), tight)
  targets = jnp.array([2, 5], jnp.int32)
  a = metrics.make_target_evaluator(tight, ks=(1, 3))
  b = metrics.make_target_evaluator(padded, ks=(1, 3))
  for ra, rb in zip(a.summarize(a.raw(model, params, targets)),
                    b.summarize(b.raw(model, params, targets))):
    for name in ("target_hr", "target_score"):
      for k in ra[name]:
        assert ra[name][k] == pytest.approx(rb[name][k], abs=1e-6)
