"""BPR-MF model, loss and training loops."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrec import data, losses, models, training


def test_bpr_loss_matches_formula_and_is_stable():
  pos = jnp.array([2.0, -1.0, 0.0])
  neg = jnp.array([0.5, 1.0, 0.0])
  expected = np.sum(np.log1p(np.exp(-(np.array([2.0, -1.0, 0.0]) - [0.5, 1.0, 0.0]))))
  np.testing.assert_allclose(losses.bpr(pos, neg), expected, rtol=1e-6)
  big = losses.bpr(jnp.array([-200.0]), jnp.array([200.0]))
  assert np.isfinite(big) and big == pytest.approx(400.0)
  np.testing.assert_allclose(losses.l2(jnp.ones((2, 3)), jnp.full((1,), 2.0)), 0.5 * (6 + 4))


def test_mf_scores_match_numpy():
  params = models.mf.init(jax.random.key(0), 4, 5, 3)
  params = params.replace(item_bias=jnp.arange(5.0))
  p, q, b = map(np.asarray, (params.user_emb, params.item_emb, params.item_bias))
  full = p @ q.T + b
  np.testing.assert_allclose(models.mf.score_all(params, jnp.array([2, 0])), full[[2, 0]],
                             rtol=1e-6)
  np.testing.assert_allclose(models.mf.score(params, jnp.array([1, 3]), jnp.array([4, 0])),
                             full[[1, 3], [4, 0]], rtol=1e-6)
  with pytest.raises(ValueError, match="dim"):
    models.mf.init(jax.random.key(0), 4, 5, 0)


def test_objective_gradient_matches_finite_differences():
  with jax.enable_x64(True):
    params = models.mf.init(jax.random.key(0), 3, 4, 2, stddev=0.5)
    params = jax.tree.map(lambda x: x.astype(jnp.float64), params)
    params = params.replace(item_bias=jnp.array([0.1, -0.2, 0.3, 0.0]))
    batch = data.BPRBatch(jnp.array([0, 2, 0]), jnp.array([1, 3, 1]), jnp.array([2, 0, 3]))
    obj = functools.partial(models.mf_bpr_objective, reg=0.1)
    grads = jax.grad(obj)(params, batch)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    g_flat, _ = jax.flatten_util.ravel_pytree(grads)
    h = 1e-6
    fd = np.array([
        (obj(unravel(flat.at[n].add(h)), batch) - obj(unravel(flat.at[n].add(-h)), batch))
        / (2 * h) for n in range(flat.shape[0])])
    np.testing.assert_allclose(g_flat, fd, rtol=1e-6, atol=1e-9)


def _setup(tx, idx, seed=0, dim=8):
  k_init, k_train = jax.random.split(jax.random.key(seed))
  state = training.init_state(models.mf.init(k_init, idx.num_users, idx.num_items, dim), tx,
                              k_train)
  return idx, state


OBJ = functools.partial(models.mf_bpr_objective, reg=0.01)


def test_training_decreases_the_loss_and_ranks_the_groups(toy_index):
  tx = optax.adagrad(0.1)
  idx, state = _setup(tx, toy_index())
  state, curve = training.train(state, idx, objective=OBJ, tx=tx, batch_size=32, num_epochs=60)
  assert curve.shape == (60,)
  assert curve[-1] < 0.5 * curve[0]
  # even users now prefer unseen low items over high items
  s = np.asarray(models.mf.score_all(state.params, jnp.arange(30)))
  assert np.mean(s[0::2, :10].mean(1) > s[0::2, 10:].mean(1)) > 0.9


def test_same_seed_same_result(toy_index):
  tx = optax.sgd(0.05)
  outs = []
  for _ in range(2):
    idx, state = _setup(tx, toy_index(), seed=3)
    state, curve = training.train(state, idx, objective=OBJ, tx=tx, batch_size=16, num_epochs=3)
    outs.append((state.params, curve))
  for a, b in zip(jax.tree.leaves(outs[0][0]), jax.tree.leaves(outs[1][0])):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(outs[0][1], outs[1][1])


def test_jit_equals_eager(toy_index):
  tx = optax.adam(0.01)
  idx, state = _setup(tx, toy_index())
  step = functools.partial(training.epoch, objective=OBJ, tx=tx, batch_size=16, num_steps=4)
  jitted, jl = jax.jit(step)(state, idx)
  with jax.disable_jit():
    eager, el = step(state, idx)
  np.testing.assert_allclose(jl, el, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(jitted.params), jax.tree.leaves(eager.params)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_fit_equals_train_and_vmap_over_seeds_equals_loop(toy_index):
  tx = optax.adagrad(0.05)
  idx = toy_index()

  def run(key):
    k_init, k_train = jax.random.split(key)
    state = training.init_state(models.mf.init(k_init, 30, 20, 4), tx, k_train)
    return training.fit(state, idx, objective=OBJ, tx=tx, batch_size=16, num_epochs=3)

  keys = jax.random.split(jax.random.key(0), 3)
  states, curves = jax.jit(jax.vmap(run))(keys)
  for s, key in enumerate(keys):
    single, curve = jax.jit(run)(key)
    np.testing.assert_allclose(curves[s], curve, rtol=1e-5)
    np.testing.assert_allclose(states.params.user_emb[s], single.params.user_emb, rtol=1e-5,
                               atol=1e-7)
  # the host driver runs the same epochs
  k_init, k_train = jax.random.split(keys[1])
  state = training.init_state(models.mf.init(k_init, 30, 20, 4), tx, k_train)
  trained, curve = training.train(state, idx, objective=OBJ, tx=tx, batch_size=16,
                                  num_epochs=3)
  np.testing.assert_allclose(curve, curves[1], rtol=1e-5)
  np.testing.assert_allclose(trained.params.item_emb, states.params.item_emb[1], rtol=1e-5,
                             atol=1e-7)


def test_train_rejects_bad_input(toy_index):
  tx = optax.sgd(0.1)
  idx, state = _setup(tx, toy_index())
  with pytest.raises(ValueError, match="batch_size"):
    training.train(state, idx, objective=OBJ, tx=tx, batch_size=0, num_epochs=1)
  with pytest.raises(ValueError, match="num_epochs"):
    training.train(state, idx, objective=OBJ, tx=tx, batch_size=4, num_epochs=-1)
  empty = data.build_index(np.zeros(0, int), np.zeros(0, int), num_users=30, num_items=20)
  with pytest.raises(ValueError, match="empty"):
    training.train(state, empty, objective=OBJ, tx=tx, batch_size=4, num_epochs=1)
