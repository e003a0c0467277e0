"""NeuMF: scores against a concatenated-first-layer reference, objective, training, victim."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxrec
from jaxrec import data, losses, models, training

NU, NI = 20, 9


def _sizes(num_users, num_items):
  return data.build_index(np.zeros(1, int), np.zeros(1, int), num_users=num_users,
                          num_items=num_items)


def _init(key, num_users, num_items, *, gmf_dim=32, mlp_dims=(64, 32, 16), stddev=0.01):
  model = models.neumf(gmf_dim=gmf_dim, mlp_dims=mlp_dims, stddev=stddev)
  return model.init(key, _sizes(num_users, num_items))


def _model(params, reg=0.0):
  return models.NeuMF(gmf_dim=params.gmf_user.shape[1], mlp_dims=params.mlp_dims, reg=reg)


def _score(params, users, items):
  return _model(params).score(params, None, users, items)


def _score_all(params, users):
  return _model(params).score_all(params, None, users)


def _objective(params, batch, reg=0.0):
  return _model(params, reg).loss(params, batch, None)


def _neumf_victim(*, gmf_dim=32, mlp_dims=(64, 32, 16), num_epochs=50, batch_size=1024,
                  reg=0.0, tx=optax.adam(1e-3)):
  return training.Victim(models.neumf(gmf_dim=gmf_dim, mlp_dims=mlp_dims, reg=reg), tx,
                         num_epochs=num_epochs, batch_size=batch_size)


@functools.partial(jax.jit, static_argnames=("gmf_dim", "mlp_dims"))
def _random_params(key, *, gmf_dim, mlp_dims, scale=0.7):
  params = _init(key, NU, NI, gmf_dim=gmf_dim, mlp_dims=mlp_dims)
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.fold_in(key, 1), len(leaves))
  return jax.tree.unflatten(treedef, [scale * jax.random.normal(k, x.shape, x.dtype)
                                      for k, x in zip(keys, leaves)])


def _params(seed=0, gmf_dim=4, mlp_dims=(6, 5, 3)):
  """``(NU, NI)`` parameters with every leaf redrawn from N(0, 0.7^2): non-zero biases, and
  embeddings large enough that the ReLUs are partly active, so the reference is not trivial."""
  return _random_params(jax.random.key(seed), gmf_dim=gmf_dim, mlp_dims=mlp_dims)


def _f64(a):
  return np.asarray(a, np.float64)


def _reference_scores(params, users, items):
  """He et al. (2017), Eq. 11-12 in float64 NumPy, with ONE first layer on [p'_u ; q'_i].

  The model stores the first layer as two halves (``in_user`` acting on ``p'_u``, ``in_item`` on
  ``q'_i``, one bias); stacking their kernels gives the ``(2 D_M, H_1)`` kernel of the single
  layer, which this reference applies to the concatenation.
  """
  tower = params.tower
  kernel = np.concatenate([_f64(tower["in_user"]["kernel"]), _f64(tower["in_item"]["kernel"])], 0)
  assert "bias" not in tower["in_item"]  # one bias for the one layer
  x = np.concatenate([_f64(params.mlp_user)[users], _f64(params.mlp_item)[items]], 1)
  x = np.maximum(x @ kernel + _f64(tower["in_user"]["bias"]), 0.0)
  for n in range(1, len(params.mlp_dims) - 1):
    layer = tower[f"dense_{n}"]
    x = np.maximum(x @ _f64(layer["kernel"]) + _f64(layer["bias"]), 0.0)
  gmf = _f64(params.gmf_user)[users] * _f64(params.gmf_item)[items]
  return np.concatenate([gmf, x], 1) @ _f64(params.out), x


@jax.jit
def _concatenated_flax_scores(params, users, items):
  """The scores with the first layer as one ``flax.linen.Dense`` on ``[p'_u ; q'_i]``."""
  tower, dims = params.tower, params.mlp_dims
  first = {"kernel": jnp.concatenate([tower["in_user"]["kernel"], tower["in_item"]["kernel"]]),
           "bias": tower["in_user"]["bias"]}
  x = jnp.concatenate([params.mlp_user[users], params.mlp_item[items]], axis=1)
  x = nn.relu(nn.Dense(dims[1]).apply({"params": first}, x))
  for n, width in enumerate(dims[2:], start=1):
    x = nn.relu(nn.Dense(width).apply({"params": tower[f"dense_{n}"]}, x))
  d_g = params.gmf_user.shape[1]
  return (jnp.sum(params.gmf_user[users] * params.gmf_item[items] * params.out[None, :d_g], 1)
          + x @ params.out[d_g:])


def test_init_shapes_dtypes_and_ranges():
  init = jax.jit(functools.partial(_init, num_users=7, num_items=11, gmf_dim=4,
                                   mlp_dims=(6, 5, 3), stddev=0.02))
  params = init(jax.random.key(0))
  assert params.mlp_dims == (6, 5, 3)
  shapes = {"gmf_user": (7, 4), "gmf_item": (11, 4), "mlp_user": (7, 3), "mlp_item": (11, 3),
            "out": (4 + 3,)}
  for name, shape in shapes.items():
    leaf = getattr(params, name)
    assert leaf.shape == shape and leaf.dtype == jnp.float32, name
  for name in ("gmf_user", "gmf_item", "mlp_user", "mlp_item"):  # truncated at 2 stddev
    leaf = np.asarray(getattr(params, name))
    assert np.all(np.abs(leaf) <= 2 * 0.02 + 1e-7) and np.std(leaf) > 0.005, name
  tower = jax.tree.map(lambda x: (x.shape, x.dtype), params.tower)
  assert tower == {
      "in_user": {"kernel": ((3, 5), jnp.float32), "bias": ((5,), jnp.float32)},
      "in_item": {"kernel": ((3, 5), jnp.float32)},
      "dense_1": {"kernel": ((5, 3), jnp.float32), "bias": ((3,), jnp.float32)},
  }
  np.testing.assert_array_equal(params.tower["in_user"]["bias"], np.zeros(5))
  np.testing.assert_array_equal(params.tower["dense_1"]["bias"], np.zeros(3))
  # static sizes are not leaves; the same key gives the same model, another key another one
  assert len(jax.tree.leaves(params)) == 5 + 5
  again, other = init(jax.random.key(0)), init(jax.random.key(1))
  for a, b, c in zip(jax.tree.leaves(params), jax.tree.leaves(again), jax.tree.leaves(other)):
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) or not np.any(a)  # (zero biases are the same)


def test_split_first_layer_has_the_single_layers_initialisation():
  # Each half has fan-in D_M and variance 0.5 / D_M = 1 / (2 D_M): LeCun-normal of one Dense on
  # the 2 D_M concatenation. Compare the empirical variances (16384 weights each, ~1% noise).
  d_m, width = 128, 128
  params = _init(jax.random.key(3), 4, 4, gmf_dim=16, mlp_dims=(2 * d_m, width))
  single = nn.Dense(width).init(jax.random.key(4), jnp.zeros((1, 2 * d_m)))["params"]["kernel"]
  target = 1.0 / (2 * d_m)
  for kernel in (params.tower["in_user"]["kernel"], params.tower["in_item"]["kernel"], single):
    assert abs(float(jnp.var(kernel)) / target - 1.0) < 0.06
  assert abs(float(jnp.var(params.out)) * (16 + width) - 1.0) < 0.5  # lecun, fan-in D_G + H_L


@pytest.mark.parametrize("mlp_dims", [(6, 5, 3), (4, 7), (8, 6, 4, 2)])
def test_score_matches_concatenated_first_layer_reference(mlp_dims):
  params = _params(mlp_dims=mlp_dims)
  rng = np.random.default_rng(0)
  users, items = rng.integers(0, NU, 40), rng.integers(0, NI, 40)
  got = jax.jit(_score)(params, jnp.asarray(users), jnp.asarray(items))
  ref, hidden = _reference_scores(params, users, items)
  assert got.shape == (40,) and got.dtype == jnp.float32
  assert 0 < np.mean(hidden > 0) < 1  # the ReLUs are partly active: the check is not vacuous
  np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
  # the same with one flax Dense on the concatenation, in float32
  plain = _concatenated_flax_scores(params, jnp.asarray(users), jnp.asarray(items))
  np.testing.assert_allclose(got, plain, rtol=1e-5, atol=1e-6)


def test_score_all_matches_score_on_all_pairs():
  params = _params()
  # 23 users (not a multiple of the 16 users per tower step), with repeats
  users = jnp.concatenate([jnp.arange(NU), jnp.array([3, 3, NU - 1])])
  got = jax.jit(_score_all)(params, users)
  assert got.shape == (23, NI) and got.dtype == jnp.float32
  uu, ii = jnp.meshgrid(users, jnp.arange(NI), indexing="ij")
  pairs = _score(params, uu.ravel(), ii.ravel()).reshape(23, NI)
  np.testing.assert_allclose(got, pairs, rtol=1e-5, atol=1e-5)
  ref, _ = _reference_scores(params, np.asarray(uu).ravel(), np.asarray(ii).ravel())
  np.testing.assert_allclose(got, ref.reshape(23, NI), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(_score_all(params, users[:5]), got[:5], rtol=1e-5, atol=1e-7)


def test_ids_out_of_range_give_errors_or_nan_never_a_clamped_row():
  params = _params()
  with pytest.raises(ValueError, match=rf"users must lie in \[0, {NU}\)"):
    _score_all(params, jnp.array([NU]))
  with pytest.raises(ValueError, match=rf"items must lie in \[0, {NI}\)"):
    _score(params, jnp.array([0]), jnp.array([-1]))
  out = jax.jit(_score_all)(params, jnp.array([NU, -1, 2]))
  assert np.isnan(np.asarray(out[:2])).all() and np.isfinite(np.asarray(out[2])).all()
  pairs = jax.jit(_score)(params, jnp.array([0, NU, 1]), jnp.array([NI, 0, 1]))
  assert np.isnan(np.asarray(pairs[:2])).all() and np.isfinite(float(pairs[2]))
  with pytest.raises(ValueError, match="users must lie"):
    jaxrec.checked(jax.jit(_score_all))(params, jnp.array([NU]))
  with pytest.raises(ValueError, match="catalogue"):
    _model(params).score_all(params, _sizes(NU, NI + 1), jnp.array([0]))


def test_objective_is_bpr_plus_l2_on_the_batch_rows():
  params = _params()
  # user 2 and item 1 appear twice: their rows are regularised once per triple
  batch = data.BPRBatch(jnp.array([2, 0, 2, 5]), jnp.array([1, 4, 3, 1]),
                        jnp.array([0, 8, 6, 7]))
  u, i, j = map(np.asarray, batch[:3])
  pos, _ = _reference_scores(params, u, i)
  neg, _ = _reference_scores(params, u, j)
  l2 = 0.5 * sum(np.sum(_f64(table)[rows] ** 2) for table, rows in (
      (params.gmf_user, u), (params.gmf_item, i), (params.gmf_item, j),
      (params.mlp_user, u), (params.mlp_item, i), (params.mlp_item, j)))
  expected = np.sum(np.log1p(np.exp(-(pos - neg))))
  objective = jax.jit(_objective)
  np.testing.assert_allclose(objective(params, batch, reg=0.0), expected, rtol=1e-5)
  np.testing.assert_allclose(objective(params, batch, reg=0.3), expected + 0.3 * l2, rtol=1e-5)
  np.testing.assert_allclose(
      objective(params, batch, reg=0.3),
      losses.bpr(_score(params, batch.users, batch.pos_items),
                 _score(params, batch.users, batch.neg_items)) + 0.3 * l2, rtol=1e-6)
  # the L2 term reaches the embedding rows only, once per occurrence; tower and output are free
  grad = jax.jit(jax.grad(_objective))
  g0, g1 = grad(params, batch, reg=0.0), grad(params, batch, reg=0.3)
  for a, b in zip(jax.tree.leaves((g0.tower, g0.out)), jax.tree.leaves((g1.tower, g1.out))):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  count_u = np.bincount(u, minlength=NU)[:, None]
  np.testing.assert_allclose(g1.gmf_user - g0.gmf_user, 0.3 * count_u * params.gmf_user,
                             rtol=1e-4, atol=1e-6)
  count_i = np.bincount(np.concatenate([i, j]), minlength=NI)[:, None]
  np.testing.assert_allclose(g1.mlp_item - g0.mlp_item, 0.3 * count_i * params.mlp_item,
                             rtol=1e-4, atol=1e-6)


# One training recipe for the three victim tests, so that they share one compiled fit_victim.
_VICTIM = _neumf_victim(gmf_dim=8, mlp_dims=(16, 8), num_epochs=60, batch_size=32, reg=1e-3,
                        tx=optax.adam(0.01))
_FIT = jax.jit(training.fit_victim, static_argnums=0)


def test_training_decreases_the_loss_and_ranks_the_positives(toy_index):
  idx = toy_index()
  assert training.steps_per_epoch(idx.capacity, 32) * 60 == 300  # a few hundred Adam steps
  params, curve = _FIT(_VICTIM, idx, jax.random.key(0))
  assert curve.shape == (60,) and np.all(np.isfinite(curve))
  assert abs(curve[0] - np.log(2.0)) < 0.1  # near-zero initial scores: BPR loss ~ log 2
  assert curve[-1] < 0.1 * curve[0]
  s = np.asarray(_VICTIM.model.score_all(params, idx, jnp.arange(30)))
  positive = np.zeros((30, 20), bool)
  n = int(idx.num_valid)
  positive[np.asarray(idx.users)[:n], np.asarray(idx.items)[:n]] = True
  # held-in positives rank above the user's other items
  auc = [np.mean(s[u, positive[u]][:, None] > s[u, ~positive[u]][None, :]) for u in range(30)]
  assert np.mean(auc) > 0.95 and np.min(auc) > 0.8
  # the taste groups generalise to the group's unseen items
  assert np.mean(s[0::2, :10].mean(1) > s[0::2, 10:].mean(1)) > 0.9
  assert np.mean(s[1::2, 10:].mean(1) > s[1::2, :10].mean(1)) > 0.9


def test_victim_matches_the_model_functions(toy_index):
  idx = toy_index()
  assert _VICTIM.name == "neumf" and _VICTIM.num_epochs == 60 and _VICTIM.batch_size == 32
  key = jax.random.key(5)
  # init: the model's init on the first half of the key, the second half for training
  k_init, k_train = jax.random.split(key)
  state = training.init_state(_VICTIM, idx, key)
  fresh = _init(k_init, 30, 20, gmf_dim=8, mlp_dims=(16, 8))
  assert state.params.mlp_dims == (16, 8)
  for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(fresh)):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(jax.random.key_data(state.key), jax.random.key_data(k_train))
  # the objective is the model's (with the recipe's reg), whatever the index
  batch = data.BPRBatch(jnp.array([0, 1, 0]), jnp.array([3, 4, 5]), jnp.array([5, 6, 7]))
  for index in (idx, toy_index(seed=1)):
    np.testing.assert_allclose(_VICTIM.objective(fresh, batch, index),
                               _objective(fresh, batch, reg=1e-3), rtol=1e-6)
  # the trained model scores through the model's score_all
  params, _ = _FIT(_VICTIM, idx, key)
  assert not np.allclose(params.gmf_user, fresh.gmf_user)  # it trained
  users = jnp.arange(30)
  got = _VICTIM.model.score_all(params, idx, users)
  np.testing.assert_array_equal(got, _score_all(params, users))
  ref, _ = _reference_scores(params, np.repeat(np.arange(30), 20), np.tile(np.arange(20), 30))
  np.testing.assert_allclose(got, ref.reshape(30, 20), rtol=1e-5, atol=1e-5)


def test_victim_fit_jits_and_vmaps_over_keys(toy_index):
  idx = toy_index()
  keys = jax.random.split(jax.random.key(0), 2)
  batched, curves = jax.jit(jax.vmap(lambda k: training.fit_victim(_VICTIM, idx, k)))(keys)
  assert curves.shape == (2, 60)
  assert batched.gmf_user.shape == (2, 30, 8) and batched.mlp_dims == (16, 8)
  for n in range(2):
    single, curve = _FIT(_VICTIM, idx, keys[n])
    for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(single)):
      np.testing.assert_allclose(a[n], b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(curves[n], curve, rtol=1e-5, atol=1e-7)
  assert not np.allclose(batched.gmf_user[0], batched.gmf_user[1])


def test_model_protocol():
  model = models.neumf()
  assert model.name == "neumf" and isinstance(model, models.Model)
  params = _params()
  scoring_model, scoring_params = model.scoring(params, None)
  assert scoring_model is model and scoring_params is params


def test_bad_arguments_raise():
  key = jax.random.key(0)
  for kwargs in ({"gmf_dim": 0}, {"mlp_dims": (5, 4)}, {"mlp_dims": (8,)}, {"mlp_dims": (8, 0)},
                 {"mlp_dims": (0, 4)}, {"mlp_dims": ()}):
    with pytest.raises(ValueError):
      models.neumf(**kwargs)
    with pytest.raises(ValueError):
      _neumf_victim(**kwargs)
  for (num_users, num_items), name in (((0, 4), "num_users"), ((3, -1), "num_items")):
    with pytest.raises(ValueError, match=name):
      models.neumf().init(key, data.Graph(users=jnp.zeros(0, jnp.int32),
                                          items=jnp.zeros(0, jnp.int32), weights=jnp.zeros(0),
                                          num_users=num_users, num_items=num_items))
  with pytest.raises(ValueError, match="mlp_dims"):
    models.neumf(mlp_dims=(7, 4))
  for kwargs in ({"batch_size": 0}, {"num_epochs": -1}, {"reg": -0.1},
                 {"reg": np.float32(np.nan)}, {"reg": jnp.float32(np.inf)}):
    with pytest.raises(ValueError):
      _neumf_victim(**kwargs)
  assert _neumf_victim(num_epochs=0).num_epochs == 0  # zero epochs is allowed
