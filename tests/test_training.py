"""BPR-MF model, loss, victims and training loops."""

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


def _sizes(num_users, num_items):
  return data.build_index(np.zeros(1, int), np.zeros(1, int), num_users=num_users,
                          num_items=num_items)


def test_mf_scores_match_numpy():
  model = models.mf(dim=3)
  idx = _sizes(4, 5)
  params = model.init(jax.random.key(0), idx)
  params = params.replace(item_bias=jnp.arange(5.0))
  p, q, b = map(np.asarray, (params.user_emb, params.item_emb, params.item_bias))
  full = p @ q.T + b
  np.testing.assert_allclose(model.score_all(params, idx, jnp.array([2, 0])), full[[2, 0]],
                             rtol=1e-6)
  np.testing.assert_allclose(model.score(params, idx, jnp.array([1, 3]), jnp.array([4, 0])),
                             full[[1, 3], [4, 0]], rtol=1e-6)
  with pytest.raises(ValueError, match="dim"):
    models.mf(dim=0)


def test_mf_ids_out_of_range_eager_jit_and_checked_jit():
  model = models.mf(dim=3)
  idx = _sizes(4, 5)
  params = model.init(jax.random.key(0), idx)
  for bad in ([4], [-1]):
    with pytest.raises(ValueError, match=r"users must lie in \[0, 4\)"):
      model.score_all(params, idx, jnp.array(bad))
  out = jax.jit(lambda u: model.score_all(params, idx, u))(jnp.array([-1, 4, 1]))
  assert np.isnan(np.asarray(out[:2])).all()  # never a clamped or wrapped row
  np.testing.assert_allclose(out[2], model.score_all(params, idx, jnp.array([1]))[0],
                             rtol=1e-6)
  import jaxrec
  with pytest.raises(ValueError, match="users must lie"):
    jaxrec.checked(jax.jit(lambda u: model.score_all(params, idx, u)))(jnp.array([4]))
  with pytest.raises(ValueError, match="items must lie"):
    model.score(params, idx, jnp.array([0]), jnp.array([5]))
  with pytest.raises(ValueError, match="catalogue covers 5 items, but the data has 6"):
    model.score_all(params, _sizes(4, 6), jnp.array([0]))
  with pytest.raises(ValueError, match="catalogue"):  # static: also under jit
    jax.jit(lambda u: model.score_all(params, _sizes(4, 6), u))(jnp.array([0]))


@pytest.mark.parametrize("reg", [-0.1, np.float32(np.nan), jnp.float32(np.inf), True])
def test_mf_rejects_bad_reg_of_every_kind(reg):
  with pytest.raises(ValueError, match="reg"):
    models.mf(reg=reg)


def test_loss_gradient_matches_finite_differences():
  with jax.enable_x64(True):
    model = models.mf(dim=2, reg=0.1, stddev=0.5)
    params = model.init(jax.random.key(0), _sizes(3, 4))
    params = jax.tree.map(lambda x: x.astype(jnp.float64), params)
    params = params.replace(item_bias=jnp.array([0.1, -0.2, 0.3, 0.0]))
    batch = data.BPRBatch(jnp.array([0, 2, 0]), jnp.array([1, 3, 1]), jnp.array([2, 0, 3]))
    obj = lambda p, b: model.loss(p, b, None)  # noqa: E731
    grads = jax.grad(obj)(params, batch)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    g_flat, _ = jax.flatten_util.ravel_pytree(grads)
    h = 1e-6
    fd = np.array([
        (obj(unravel(flat.at[n].add(h)), batch) - obj(unravel(flat.at[n].add(-h)), batch))
        / (2 * h) for n in range(flat.shape[0])])
    np.testing.assert_allclose(g_flat, fd, rtol=1e-6, atol=1e-9)


def _victim(tx, dim=8, batch_size=16, num_epochs=3):
  return training.Victim(models.mf(dim=dim, reg=0.01), tx, num_epochs=num_epochs,
                         batch_size=batch_size)


def test_training_decreases_the_loss_and_ranks_the_groups(toy_index):
  victim = _victim(optax.adagrad(0.1), batch_size=32, num_epochs=60)
  idx = toy_index()
  state, curve = training.train(victim, training.init_state(victim, idx, jax.random.key(0)),
                                idx)
  assert curve.shape == (60,)
  assert curve[-1] < 0.5 * curve[0]
  # even users now prefer unseen low items over high items
  s = np.asarray(victim.model.score_all(state.params, idx, jnp.arange(30)))
  assert np.mean(s[0::2, :10].mean(1) > s[0::2, 10:].mean(1)) > 0.9


def test_same_seed_same_result(toy_index):
  victim = _victim(optax.sgd(0.05))
  outs = [training.fit_victim(victim, toy_index(), jax.random.key(3)) for _ in range(2)]
  for a, b in zip(jax.tree.leaves(outs[0]), jax.tree.leaves(outs[1])):
    np.testing.assert_array_equal(a, b)


def test_jit_equals_eager(toy_index):
  victim = _victim(optax.adam(0.01))
  idx = toy_index()
  state = training.init_state(victim, idx, jax.random.key(0))
  jitted, jl = jax.jit(lambda s, d: training.epoch(victim, s, d, num_steps=4))(state, idx)
  with jax.disable_jit():
    eager, el = training.epoch(victim, state, idx, num_steps=4)
  np.testing.assert_allclose(jl, el, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(jitted.params), jax.tree.leaves(eager.params)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_an_epoch_is_one_run_with_the_split_key_chain(toy_index):
  """The epoch's batches are drawn with the second half of splitting the running key (0.1's
  loop, so training is bit for bit that of 0.1), and the state carries the final key."""
  victim = _victim(optax.sgd(0.1))
  idx = toy_index()
  state = training.init_state(victim, idx, jax.random.key(0))
  new, losses_ = training.epoch(victim, state, idx, num_steps=3)
  key, params = state.key, state.params
  for t in range(3):
    key, k_batch = jax.random.split(key)
    batch = data.sample_bpr_triples(k_batch, idx, 16)
    value, grads = jax.value_and_grad(victim.model.loss)(params, batch, idx)
    np.testing.assert_allclose(losses_[t], value, rtol=1e-6)
    params = jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)
  np.testing.assert_allclose(new.params.user_emb, params.user_emb, rtol=1e-5, atol=1e-7)
  np.testing.assert_array_equal(jax.random.key_data(new.key), jax.random.key_data(key))


def test_fit_equals_train_and_vmap_over_seeds_equals_loop(toy_index):
  victim = _victim(optax.adagrad(0.05), dim=4)
  idx = toy_index()

  def run(key):
    return training.fit(victim, training.init_state(victim, idx, key), idx)

  keys = jax.random.split(jax.random.key(0), 3)
  states, curves = jax.jit(jax.vmap(run))(keys)
  for s, key in enumerate(keys):
    single, curve = jax.jit(run)(key)
    np.testing.assert_allclose(curves[s], curve, rtol=1e-5)
    np.testing.assert_allclose(states.params.user_emb[s], single.params.user_emb, rtol=1e-5,
                               atol=1e-7)
  # the host driver runs the same epochs
  trained, curve = training.train(victim, training.init_state(victim, idx, keys[1]), idx)
  np.testing.assert_allclose(curve, curves[1], rtol=1e-5)
  np.testing.assert_allclose(trained.params.item_emb, states.params.item_emb[1], rtol=1e-5,
                             atol=1e-7)


def test_a_grid_over_reg_compiles_once(toy_index):
  """reg is a pytree leaf of the model: vmapping over it is one program."""
  victim = _victim(optax.sgd(0.1), num_epochs=1)
  idx = toy_index()
  traces = []

  def run(reg):
    traces.append(1)
    v = victim.replace(model=victim.model.replace(reg=reg))
    return training.fit_victim(v, idx, jax.random.key(0))[1]

  curves = jax.jit(jax.vmap(run))(jnp.array([0.0, 0.5, 5.0]))
  assert len(traces) == 1
  assert curves[0, 0] < curves[1, 0] < curves[2, 0]  # the L2 term adds to the mean loss


def test_victim_and_train_reject_bad_input(toy_index):
  idx = toy_index()
  with pytest.raises(ValueError, match="batch_size"):
    _victim(optax.sgd(0.1), batch_size=0)
  with pytest.raises(ValueError, match="num_epochs"):
    _victim(optax.sgd(0.1), num_epochs=-1)
  with pytest.raises(ValueError, match="needs an optimiser"):
    training.Victim(models.mf(), None, num_epochs=1, batch_size=4)
  with pytest.raises(ValueError, match="implement jaxrec.models.Model"):
    training.Victim(object())
  victim = _victim(optax.sgd(0.1))
  state = training.init_state(victim, idx, jax.random.key(0))
  with pytest.raises(ValueError, match="num_epochs"):
    training.train(victim, state, idx, num_epochs=-1)
  with pytest.raises(ValueError, match="num_steps"):
    training.train(victim, state, idx, num_steps=0)
  empty = data.build_index(np.zeros(0, int), np.zeros(0, int), num_users=30, num_items=20)
  with pytest.raises(ValueError, match="empty"):
    training.train(victim, training.init_state(victim, empty, jax.random.key(0)), empty)
  graph = data.graph_from_index(idx)
  with pytest.raises(ValueError, match="steps_per_epoch"):
    training.fit_victim(victim, graph, jax.random.key(0))
  with pytest.raises(ValueError, match="BPR sampling needs a PositiveIndex"):
    training.fit_victim(victim.replace(steps_per_epoch=2), graph, jax.random.key(0))


def test_closed_form_victims_train_no_epoch(toy_index):
  idx = toy_index()
  victim = training.Victim(models.ease(reg=10.0))
  params, curve = training.fit_victim(victim, idx, jax.random.key(0))
  assert curve.shape == (0,)
  np.testing.assert_allclose(params.weights, victim.model.init(None, idx).weights)
  with pytest.raises(ValueError, match="no optimiser"):
    training.epoch(victim, training.init_state(victim, idx, jax.random.key(0)), idx)
