"""Row-sparse training: Rows gradients, sparse SGD/Adagrad, MF's closed-form row gradient, and the
training step that uses them."""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrec import audit, data, models, optim, training


def _index(seed=0, num_users=30, num_items=40, n=300):
  rng = np.random.default_rng(seed)
  return data.build_index(rng.integers(0, num_users, n), rng.integers(0, num_items, n),
                          num_users=num_users, num_items=num_items)


def _batch(idx, seed=0, size=256):
  return data.sample_bpr_triples(jax.random.key(seed), idx, size, negatives="rejection")


def test_mf_loss_weights_zero_out_rejected_triples():
  idx = _index()
  model = models.mf(dim=5, reg=0.3)
  params = model.init(jax.random.key(1), idx)
  params = params.replace(item_bias=jax.random.normal(jax.random.key(2), (40,)))
  b = _batch(idx)
  assert 0 < int(jnp.sum(b.weights == 0)) < 256  # some triples rejected
  keep = np.asarray(b.weights) > 0
  kept = data.BPRBatch(*(jnp.asarray(np.asarray(x)[keep]) for x in b))
  # the weighted loss: the accepted triples' loss terms times their weights, by hand
  u, i, j = (np.asarray(x) for x in kept[:3])
  wt = np.asarray(kept.weights, np.float64)
  p, q, bias = (np.asarray(x, np.float64) for x in (params.user_emb, params.item_emb,
                                                    params.item_bias))
  x = np.sum(p[u] * (q[i] - q[j]), 1) + bias[i] - bias[j]
  hand = np.sum(wt * (np.log1p(np.exp(-x))
                      + 0.3 * 0.5 * np.sum(p[u] ** 2 + q[i] ** 2 + q[j] ** 2, axis=1)))
  np.testing.assert_allclose(model.loss(params, b), hand, rtol=1e-5)
  np.testing.assert_allclose(model.loss(params, kept), hand, rtol=1e-5)


def test_mf_closed_form_row_gradient_equals_autodiff_and_finite_differences():
  idx = _index(1)
  model = models.mf(dim=4, reg=0.2)
  params = model.init(jax.random.key(3), idx)
  params = params.replace(user_emb=params.user_emb * 30, item_emb=params.item_emb * 30,
                          item_bias=jax.random.normal(jax.random.key(4), (40,)))
  for b in (_batch(idx, 5), _batch(idx, 5)._replace(weights=None)):
    rows = models.gather_rows(params, model.touched_rows(b))
    v, g = model.value_and_grad_on_rows(rows, b)
    v_ad, g_ad = jax.value_and_grad(model.loss_on_rows)(rows, b)
    np.testing.assert_allclose(v, v_ad, rtol=1e-6)
    for a, e in zip(jax.tree.leaves(g), jax.tree.leaves(g_ad)):
      np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)
    # central finite differences on a few coordinates of the gathered rows (float64 by hand)
    flat, unravel = jax.flatten_util.ravel_pytree(rows)
    gflat, _ = jax.flatten_util.ravel_pytree(g)
    f = lambda z: model.loss_on_rows(unravel(z), b)  # noqa: E731
    for k in (0, 7, flat.size // 2, flat.size - 1):
      e = jnp.zeros_like(flat).at[k].set(1e-2)
      fd = (f(flat + e) - f(flat - e)) / 2e-2
      np.testing.assert_allclose(fd, gflat[k], rtol=2e-2, atol=2e-3)


def test_rows_gradient_scattered_is_the_dense_gradient():
  idx = _index(2)
  model = models.mf(dim=6, reg=0.1)
  params = model.init(jax.random.key(0), idx)
  b = _batch(idx, 1, 128)  # repeated users and items in the batch
  index = model.touched_rows(b)
  _, g = model.value_and_grad_on_rows(models.gather_rows(params, index), b)
  zeros = jax.tree.map(jnp.zeros_like, params)
  scattered = optim.apply_updates(zeros, jax.tree.map(optim.Rows, index, g))
  dense = jax.grad(model.loss)(params, b)
  for a, e in zip(jax.tree.leaves(scattered), jax.tree.leaves(dense)):
    np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)


def test_sparse_optimisers_on_dense_leaves_are_optax():
  params = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)}
  grads = {"w": jnp.full((2, 3), 0.5), "b": jnp.array([1.0, -2.0, 0.0])}
  sched = optax.exponential_decay(0.1, transition_steps=1, decay_rate=0.5)
  for sparse, dense in ((optim.sparse_sgd(0.1), optax.sgd(0.1)),
                        (optim.sparse_adagrad(0.1), optax.adagrad(0.1)),
                        (optim.sparse_sgd(sched), optax.sgd(sched)),  # schedules as optax
                        (optim.sparse_adagrad(sched), optax.adagrad(sched))):
    s_state, d_state = sparse.init(params), dense.init(params)
    for _ in range(3):
      su, s_state = sparse.update(grads, s_state, params)
      du, d_state = dense.update(grads, d_state, params)
      for a, e in zip(jax.tree.leaves(su), jax.tree.leaves(du)):
        np.testing.assert_allclose(a, e, rtol=1e-6)


def test_sparse_adagrad_on_rows_by_hand():
  table = jnp.zeros((4, 2))
  tx = optim.sparse_adagrad(0.5, initial_accumulator_value=0.1, eps=1e-30)
  state = tx.init(table)
  g = optim.Rows(jnp.array([1, 3, 1]), jnp.array([[1.0, 2.0], [0.0, -1.0], [3.0, 0.0]]))
  upd, state = tx.update(g, state)
  acc = np.full((4, 2), 0.1)
  acc[1] += [1.0 + 9.0, 4.0 + 0.0]  # each occurrence's square adds
  acc[3] += [0.0, 1.0]
  np.testing.assert_allclose(state.sum_of_squares, acc, rtol=1e-6)
  new = optim.apply_updates(table, upd)
  want = np.zeros((4, 2))
  want[1] = -0.5 * np.array([1.0 + 3.0, 2.0]) / np.sqrt(acc[1])
  want[3] = -0.5 * np.array([0.0, -1.0]) / np.sqrt(acc[3])
  np.testing.assert_allclose(new, want, rtol=1e-6)
  with pytest.raises(ValueError, match="learning_rate"):
    optim.sparse_adagrad(0.0)
  with pytest.raises(ValueError, match="eps"):
    optim.sparse_adagrad(0.1, eps=0.0)
  # a schedule steps by the update count: 0.5 then 0.25
  tx = optim.sparse_sgd(optax.exponential_decay(0.5, transition_steps=1, decay_rate=0.5))
  state = tx.init(table)
  g = optim.Rows(jnp.array([2]), jnp.array([[1.0, -2.0]]))
  (u1, state), = [tx.update(g, state)]
  u2, state = tx.update(g, state)
  np.testing.assert_allclose(u1.values, [[-0.5, 1.0]])
  np.testing.assert_allclose(u2.values, [[-0.25, 0.5]])
  assert int(state.count) == 2


@pytest.mark.parametrize("schedule", [False, True])
def test_row_sparse_sgd_training_equals_dense_sgd_training(schedule):
  idx = _index(4)
  model = models.mf(dim=8, reg=0.01)
  lr = optax.linear_schedule(0.08, 0.01, transition_steps=20) if schedule else 0.05
  sparse = training.Victim(model, optim.sparse_sgd(lr), num_epochs=4, batch_size=64)
  dense = training.Victim(model, optax.sgd(lr), num_epochs=4, batch_size=64)
  ps, cs = training.fit_victim(sparse, idx, jax.random.key(1))
  pd, cd = training.fit_victim(dense, idx, jax.random.key(1))
  np.testing.assert_allclose(cs, cd, rtol=1e-5)
  for a, e in zip(jax.tree.leaves(ps), jax.tree.leaves(pd)):
    np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-6)
  # same seed, same run
  again, _ = training.fit_victim(sparse, idx, jax.random.key(1))
  for a, e in zip(jax.tree.leaves(ps), jax.tree.leaves(again)):
    np.testing.assert_array_equal(a, e)


def test_row_sparse_step_is_used_and_touches_only_the_batch_rows():
  idx = _index(5, num_users=200, num_items=300, n=400)
  victim = audit.make_victim("bpr-mf", dim=4, epochs=1, batch_size=8).replace(
      tx=optim.sparse_adagrad(0.05))
  assert isinstance(audit.make_optimizer("sgd", 0.1), optim.RowSparseTransformation)
  assert not isinstance(audit.make_optimizer("adagrad", 0.1), optim.RowSparseTransformation)
  state = training.init_state(victim, idx, jax.random.key(0))
  new, _ = training.epoch(victim, state, idx, num_steps=1)
  batch = victim.sample(jax.random.split(state.key)[1], idx)
  moved_users = np.flatnonzero(np.any(np.asarray(new.params.user_emb)
                                      != np.asarray(state.params.user_emb), axis=1))
  assert set(moved_users) <= set(np.asarray(batch.users).tolist())
  acc = np.asarray(new.opt_state.sum_of_squares.item_emb)
  touched = set(np.asarray(batch.pos_items).tolist()) | set(np.asarray(batch.neg_items).tolist())
  assert set(np.flatnonzero(np.any(acc != 0.1, axis=1))) <= touched
  # a defense objective (victim.loss) takes the dense path and still trains
  defended = victim.replace(loss=lambda p, b, d: victim.model.loss(p, b, d))
  dnew, _ = training.epoch(defended, state, idx, num_steps=1)
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(dnew.params))


def test_a_subclass_that_overrides_loss_trains_with_its_own_loss():
  idx = _index(6)

  class BiasPenalty(models.MF):
    def loss(self, params, batch, data=None):
      return super().loss(params, batch, data) + 10.0 * jnp.sum(params.item_bias ** 2)

  model = BiasPenalty(dim=4, reg=0.01)
  sparse = training.Victim(model, optim.sparse_sgd(0.05), num_epochs=2, batch_size=32)
  dense = training.Victim(model, optax.sgd(0.05), num_epochs=2, batch_size=32)
  ps, cs = training.fit_victim(sparse, idx, jax.random.key(0))
  pd, cd = training.fit_victim(dense, idx, jax.random.key(0))
  np.testing.assert_allclose(cs, cd, rtol=1e-5)
  np.testing.assert_allclose(ps.item_bias, pd.item_bias, rtol=1e-4, atol=1e-6)
