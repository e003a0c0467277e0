"""LightGCN: propagation against a dense NumPy reference, gradients, training."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxrec
from jaxrec import data, losses, models, training
from jaxrec.models import _lightgcn as lightgcn

# A tiny weighted graph: 4 users, 5 items. User 3 and item 4 have no edge of positive weight
# (edge 6 is a zero-weight padding edge touching both); edge 2 is relaxed (weight 0.5).
USERS = np.array([0, 0, 1, 1, 2, 2, 3])
ITEMS = np.array([0, 1, 1, 2, 0, 3, 4])
WEIGHTS = np.array([1.0, 1.0, 0.5, 1.0, 1.0, 1.0, 0.0])
NU, NI = 4, 5


def _graph(weights=WEIGHTS, users=USERS, items=ITEMS, dtype=jnp.float32):
  return data.Graph(users=jnp.asarray(users, jnp.int32), items=jnp.asarray(items, jnp.int32),
                    weights=jnp.asarray(weights, dtype), num_users=NU, num_items=NI)


def _params(dim=3, seed=0, dtype=jnp.float32):
  p = models.lightgcn(dim=dim, stddev=0.5).init(jax.random.key(seed), _graph())
  return jax.tree.map(lambda x: x.astype(dtype), p)


def _to_mf(params, graph, num_layers):
  return models.lightgcn(num_layers=num_layers).scoring(params, graph)[1]


def _mf_scores(params, users):
  return models.MF(dim=params.user_emb.shape[1]).score_all(params, None, users)


def _objective(params, batch, graph, *, num_layers, reg):
  return models.lightgcn(num_layers=num_layers, reg=reg).loss(params, batch, graph)


def _victim(*, dim=64, num_layers=3, num_epochs=200, batch_size=4096, reg=0.0,
            tx=optax.adam(0.01)):
  return training.Victim(models.lightgcn(dim=dim, num_layers=num_layers, reg=reg), tx,
                         num_epochs=num_epochs, batch_size=batch_size)


def _dense_reference(params, users, items, weights, num_layers):
  """Mean of layers 0..L of (D^-1/2 A D^-1/2)^l E, A the dense (U+I) x (U+I) adjacency."""
  a = np.zeros((NU + NI, NU + NI))
  for u, i, w in zip(users, items, weights):
    a[u, NU + i] += w
    a[NU + i, u] += w
  deg = a.sum(1)
  inv = np.where(deg > 0, 1.0 / np.sqrt(np.where(deg > 0, deg, 1.0)), 0.0)
  norm = inv[:, None] * a * inv[None, :]
  e = np.concatenate([np.asarray(params.user_emb, np.float64),
                      np.asarray(params.item_emb, np.float64)])
  layers = [e]
  for _ in range(num_layers):
    layers.append(norm @ layers[-1])
  final = np.mean(layers, axis=0)
  return final[:NU], final[NU:]


def test_zero_layers_is_matrix_factorisation():
  params, graph = _params(), _graph()
  users, items = lightgcn.propagate(params, graph, 0)
  np.testing.assert_array_equal(users, params.user_emb)
  np.testing.assert_array_equal(items, params.item_emb)
  as_mf = _to_mf(params, graph, 0)
  np.testing.assert_array_equal(as_mf.item_bias, np.zeros(NI))
  mf_params = models.MFParams(params.user_emb, params.item_emb, jnp.zeros((NI,)))
  all_users = jnp.arange(NU)
  np.testing.assert_allclose(_mf_scores(as_mf, all_users),
                             _mf_scores(mf_params, all_users), rtol=1e-6)
  p, q = np.asarray(params.user_emb), np.asarray(params.item_emb)
  np.testing.assert_allclose(_mf_scores(as_mf, all_users), p @ q.T, rtol=1e-5,
                             atol=1e-6)


@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("method,chunk_size", [("scatter", 1), ("scatter", 3),
                                               ("scatter", 8192), ("csr", 8192)])
def test_propagation_matches_dense_numpy(num_layers, method, chunk_size):
  params, graph = _params(), _graph()
  users, items = jax.jit(lightgcn.propagate, static_argnums=(2,),
                         static_argnames=("chunk_size", "method"))(
                             params, graph, num_layers, chunk_size=chunk_size, method=method)
  ref_u, ref_i = _dense_reference(params, USERS, ITEMS, WEIGHTS, num_layers)
  np.testing.assert_allclose(users, ref_u, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(items, ref_i, rtol=1e-5, atol=1e-6)
  # the model scores with the propagated embeddings' dot products (Eq. 5), no bias
  scores = _mf_scores(_to_mf(params, graph, num_layers), jnp.arange(NU))
  np.testing.assert_allclose(scores, ref_u @ ref_i.T, rtol=1e-5, atol=1e-6)


def test_edge_norms_are_symmetric_normalisation():
  norms = np.asarray(lightgcn.edge_norms(_graph()))
  deg_u = np.bincount(USERS, WEIGHTS, NU)
  deg_i = np.bincount(ITEMS, WEIGHTS, NI)
  expected = np.zeros_like(WEIGHTS)
  live = WEIGHTS > 0
  expected[live] = WEIGHTS[live] / np.sqrt(deg_u[USERS[live]] * deg_i[ITEMS[live]])
  np.testing.assert_allclose(norms, expected, rtol=1e-6)


@pytest.mark.parametrize("method", ["scatter", "csr"])
def test_gradient_wrt_edge_weights_matches_finite_differences(method):
  with jax.enable_x64(True):
    params = _params(dtype=jnp.float64)
    # every node with positive degree (the normalisation is smooth there); user 3 gets a second
    # edge, since a lone edge between two otherwise isolated nodes has norm w / sqrt(w w) = 1
    fd_users, fd_items = np.append(USERS, 3), np.append(ITEMS, 0)
    weights = np.array([1.0, 0.7, 0.5, 1.2, 0.9, 1.0, 0.3, 0.8])
    cu = jax.random.normal(jax.random.key(1), (NU, 3), jnp.float64)
    ci = jax.random.normal(jax.random.key(2), (NI, 3), jnp.float64)

    def f(w):
      users, items = lightgcn.propagate(params, _graph(w, fd_users, fd_items, jnp.float64), 2,
                                         chunk_size=3, method=method)
      return jnp.sum(jnp.sin(users) * cu) + jnp.sum(jnp.cos(items) * ci)

    f = jax.jit(f)
    w = jnp.asarray(weights, jnp.float64)
    grad = jax.jit(jax.grad(f))(w)
    h = 1e-6
    fd = np.array([(f(w.at[e].add(h)) - f(w.at[e].add(-h))) / (2 * h)
                   for e in range(w.shape[0])])
    assert np.all(np.abs(fd) > 1e-4)  # every edge matters, so the comparison is not vacuous
    np.testing.assert_allclose(grad, fd, rtol=1e-5)


def test_duplicate_interactions_do_not_add_weight():
  users = np.array([0, 0, 1, 1, 2, 2])
  items = np.array([0, 1, 1, 2, 0, 3])
  clean = data.build_index(users, items, num_users=NU, num_items=NI)
  repeated = data.build_index(np.concatenate([users, [0, 0, 2, 1]]),
                              np.concatenate([items, [1, 1, 3, 2]]), num_users=NU, num_items=NI)
  params = _params()
  for num_layers in (1, 3):
    a = lightgcn.propagate(params, data.graph_from_index(clean), num_layers)
    b = lightgcn.propagate(params, data.graph_from_index(repeated), num_layers)
    ref_u, ref_i = _dense_reference(params, users, items, np.ones(6), num_layers)
    for x, y, ref in zip(a, b, (ref_u, ref_i)):
      np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
      np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


def test_isolated_nodes_give_finite_scores_and_gradients():
  params, graph = _params(), _graph()
  num_layers = 2
  users, items = lightgcn.propagate(params, graph, num_layers)
  # an isolated node keeps only its layer-0 term: e^(0) / (L + 1)
  np.testing.assert_allclose(users[3], params.user_emb[3] / 3, rtol=1e-6)
  np.testing.assert_allclose(items[4], params.item_emb[4] / 3, rtol=1e-6)
  scores = _mf_scores(_to_mf(params, graph, num_layers), jnp.arange(NU))
  assert np.all(np.isfinite(scores))
  batch = data.BPRBatch(jnp.array([3, 0, 1]), jnp.array([4, 1, 2]), jnp.array([0, 4, 3]))

  def objective(params, weights):
    return _objective(params, batch, _graph(weights),
                                           num_layers=num_layers, reg=0.1)

  g_params, g_weights = jax.grad(objective, argnums=(0, 1))(params, graph.weights)
  for leaf in (*jax.tree.leaves(g_params), g_weights):
    assert np.all(np.isfinite(leaf))
  assert np.any(g_weights != 0)
  # the whole graph at weight 0 (every node isolated) is plain MF scaled by 1 / (L + 1)
  zero = jnp.zeros_like(graph.weights)
  g_zero = jax.grad(objective, argnums=1)(params, zero)
  assert np.all(np.isfinite(g_zero))
  zu, zi = lightgcn.propagate(params, _graph(zero), num_layers)
  np.testing.assert_allclose(zu, params.user_emb / 3, rtol=1e-6)
  np.testing.assert_allclose(zi, params.item_emb / 3, rtol=1e-6)


def test_objective_is_bpr_on_propagated_plus_l2_on_ego_embeddings():
  params, graph = _params(), _graph()
  batch = data.BPRBatch(jnp.array([0, 2, 1]), jnp.array([1, 3, 2]), jnp.array([4, 1, 0]))
  ref_u, ref_i = _dense_reference(params, USERS, ITEMS, WEIGHTS, 2)
  u, i, j = map(np.asarray, batch[:3])
  margin = np.sum(ref_u[u] * ref_i[i], 1) - np.sum(ref_u[u] * ref_i[j], 1)
  p, q = np.asarray(params.user_emb, np.float64), np.asarray(params.item_emb, np.float64)
  l2 = 0.5 * (np.sum(p[u] ** 2) + np.sum(q[i] ** 2) + np.sum(q[j] ** 2))
  expected = np.sum(np.log1p(np.exp(-margin))) + 0.3 * l2
  got = _objective(params, batch, graph, num_layers=2, reg=0.3)
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  np.testing.assert_allclose(
      _objective(params, batch, graph, num_layers=2, reg=0.0),
      losses.bpr(jnp.asarray(margin), jnp.zeros(3)), rtol=1e-5)
  if "weights" in data.BPRBatch._fields:  # weighted triples (0: a rejected negative)
    weighted = data.BPRBatch(*batch[:3], weights=jnp.array([1.0, 0.0, 0.5]))
    w = np.array([1.0, 0.0, 0.5])
    l2_rows = 0.5 * (np.sum(p[u] ** 2, 1) + np.sum(q[i] ** 2, 1) + np.sum(q[j] ** 2, 1))
    np.testing.assert_allclose(
        _objective(params, weighted, graph, num_layers=2, reg=0.3),
        np.sum(w * (np.log1p(np.exp(-margin)) + 0.3 * l2_rows)), rtol=1e-5)


def test_bad_arguments_raise():
  with pytest.raises(ValueError, match="dim"):
    models.lightgcn(dim=0)
  with pytest.raises(ValueError, match="num_layers"):
    lightgcn.propagate(_params(), _graph(), -1)
  with pytest.raises(ValueError, match="chunk_size"):
    lightgcn.propagate(_params(), _graph(), 1, chunk_size=0)
  with pytest.raises(ValueError, match="method"):
    lightgcn.propagate(_params(), _graph(), 1, method="dense")
  with pytest.raises(ValueError, match="method"):
    models.lightgcn(method="bcoo")
  bigger = data.Graph(users=jnp.zeros(1, jnp.int32), items=jnp.zeros(1, jnp.int32),
                      weights=jnp.ones(1), num_users=NU + 1, num_items=NI)
  with pytest.raises(ValueError, match="graph"):
    lightgcn.propagate(models.lightgcn(dim=3).init(jax.random.key(0), bigger), _graph(), 1)
  with pytest.raises(ValueError, match="num_layers"):
    models.lightgcn(num_layers=-1)
  for bad in (-1.0, np.float32(np.nan), jnp.float32(np.inf)):
    with pytest.raises(ValueError, match="reg"):
      models.lightgcn(reg=bad)


BAD_GRAPHS = {
    "user out of range": dict(users=np.array([0, 5]), items=np.array([0, 1]),
                              weights=np.ones(2), match="graph users must lie"),
    "negative item": dict(users=np.array([0, 1]), items=np.array([0, -1]), weights=np.ones(2),
                          match="graph items must lie"),
    "NaN weight": dict(users=np.array([0, 1]), items=np.array([0, 1]),
                       weights=np.array([1.0, np.nan]), match="graph weights must be finite"),
    "negative weight": dict(users=np.array([0, 1]), items=np.array([0, 1]),
                            weights=np.array([1.0, -0.5]), match="graph weights"),
    "weighted padding": dict(users=np.array([0, NU]), items=np.array([0, NI]),
                             weights=np.array([1.0, 1.0]), match="padding id"),
    "negative user": dict(users=np.array([-1, 1]), items=np.array([0, 1]), weights=np.ones(2),
                          match="graph users must lie"),
    "item out of range": dict(users=np.array([0, 1]), items=np.array([0, NI + 1]),
                              weights=np.ones(2), match="graph items must lie"),
    "infinite weight": dict(users=np.array([0, 1]), items=np.array([0, 1]),
                            weights=np.array([np.inf, 1.0]), match="graph weights must be finite"),
    "weighted padding user": dict(users=np.array([0, NU]), items=np.array([0, 2]),
                                  weights=np.array([1.0, 0.5]), match="padding id"),
    "weighted padding item": dict(users=np.array([0, 1]), items=np.array([0, NI]),
                                  weights=np.array([1.0, 0.5]), match="padding id"),
}


@functools.cache
def _graph_entries():
  """Every way a graph enters a model, as functions of the graph (built once, so that the cases
  below share their compilations): LightGCN's scores, loss and scoring view; the item-item models'
  init and scores (fitted on the valid graph); most-popular's init."""
  model = models.lightgcn(dim=3, num_layers=2)
  params = _params()
  batch = data.BPRBatch(jnp.array([0, 1]), jnp.array([0, 1]), jnp.array([2, 3]))
  entries = {
      "lightgcn score_all": lambda g: model.score_all(params, g, jnp.arange(NU)),
      "lightgcn score": lambda g: model.score(params, g, jnp.array([0, 1]), jnp.array([1, 2])),
      "lightgcn loss": lambda g: model.loss(params, batch, g),
      "lightgcn scoring": lambda g: model.scoring(params, g)[1].user_emb,
      "most-pop init": lambda g: models.popularity().init(None, g).counts,
  }
  for m in (models.ease(reg=1.0), models.itemknn(num_neighbors=2)):
    fitted = m.init(None, _graph())
    entries[f"{m.name} init"] = lambda g, m=m: jax.tree.leaves(m.init(None, g))[0]
    entries[f"{m.name} score_all"] = lambda g, m=m, p=fitted: m.score_all(p, g, jnp.arange(NU))
    entries[f"{m.name} score"] = lambda g, m=m, p=fitted: m.score(p, g, jnp.array([0]),
                                                                 jnp.array([1]))
  return {where: (entry, jaxrec.checked(jax.jit(entry))) for where, entry in entries.items()}


@functools.cache
def _checked_make_graph():
  return jaxrec.checked(jax.jit(lambda u, i, w: data.make_graph(
      u, i, w, num_users=NU, num_items=NI).weights))


@pytest.mark.parametrize("case", list(BAD_GRAPHS))
def test_hand_built_graphs_are_checked_where_they_enter_a_model(case):
  spec = dict(BAD_GRAPHS[case])
  match = spec.pop("match")
  graph = data.Graph(users=jnp.asarray(spec["users"], jnp.int32),
                     items=jnp.asarray(spec["items"], jnp.int32),
                     weights=jnp.asarray(spec["weights"], jnp.float32), num_users=NU,
                     num_items=NI)
  with pytest.raises(ValueError, match=match):
    data.make_graph(spec["users"], spec["items"], spec["weights"], num_users=NU, num_items=NI)
  with pytest.raises(ValueError, match=match):  # make_graph traced: checked under jit too
    _checked_make_graph()(graph.users, graph.items, graph.weights)
  for where, (entry, checked_entry) in _graph_entries().items():
    with pytest.raises(ValueError, match=match):  # eager, where the graph enters the model
      entry(graph)
      pytest.fail(f"{where} accepted the graph eagerly")
    with pytest.raises(ValueError, match=match):  # under jit: a checkify check
      checked_entry(graph)
      pytest.fail(f"{where} accepted the graph under checked jit")


def test_valid_graphs_pass_every_entry_point():
  """The entry points of the test above accept a valid graph (with a padding edge), eagerly and
  under checked jit, with the same result."""
  good = _graph()
  for where, (entry, checked_entry) in _graph_entries().items():
    eager = entry(good)
    assert np.all(np.isfinite(np.asarray(eager))), where
    np.testing.assert_allclose(checked_entry(good), eager, rtol=1e-5, atol=1e-6, err_msg=where)
  np.testing.assert_array_equal(_checked_make_graph()(jnp.asarray(USERS), jnp.asarray(ITEMS),
                                                      jnp.asarray(WEIGHTS, jnp.float32)),
                                WEIGHTS.astype(np.float32))


def test_padding_edges_contribute_nothing():
  """The padding rule: an edge with the sentinel ids and weight 0 changes no output."""
  graph = _graph()
  padded = data.make_graph(np.append(USERS, NU), np.append(ITEMS, NI), np.append(WEIGHTS, 0.0),
                           num_users=NU, num_items=NI)
  params = _params()
  for a, b in zip(lightgcn.propagate(params, graph, 2), lightgcn.propagate(params, padded, 2)):
    np.testing.assert_allclose(a, b, rtol=1e-6)
  np.testing.assert_allclose(models.ease(reg=1.0).init(None, graph).weights,
                             models.ease(reg=1.0).init(None, padded).weights, rtol=1e-6)


def test_training_decreases_the_loss_and_ranks_the_groups(toy_index):
  idx = toy_index()
  victim = _victim(dim=8, num_layers=2, num_epochs=40, batch_size=32, tx=optax.adam(0.01))
  fit = jax.jit(training.fit_victim, static_argnums=0)
  params, curve = fit(victim, idx, jax.random.key(0))
  assert curve.shape == (40,)
  assert curve[-1] < 0.5 * curve[0]
  s = np.asarray(victim.model.score_all(params, idx, jnp.arange(30)))
  assert np.mean(s[0::2, :10].mean(1) > s[0::2, 10:].mean(1)) > 0.9
  assert np.mean(s[1::2, 10:].mean(1) > s[1::2, :10].mean(1)) > 0.9
  # the victim's objective reads the data: the same triples score differently on another graph
  batch = data.BPRBatch(jnp.arange(4), idx.items[idx.indptr[:4]], jnp.zeros(4, jnp.int32))
  other = toy_index(seed=1)
  assert not np.isclose(victim.objective(params, batch, idx),
                        victim.objective(params, batch, other))
  # same key, same model
  again, _ = fit(victim, idx, jax.random.key(0))
  np.testing.assert_array_equal(again.user_emb, params.user_emb)


def test_victim_objective_and_scorer_match_the_model(toy_index):
  idx = toy_index()
  victim = _victim(dim=4, num_layers=2, reg=0.5)
  state = training.init_state(victim, idx, jax.random.key(0))
  assert victim.name == "lightgcn"
  assert state.params.user_emb.shape == (30, 4) and state.params.item_emb.shape == (20, 4)
  graph = data.graph_from_index(idx)
  batch = data.BPRBatch(jnp.array([0, 1]), jnp.array([idx.items[0], idx.items[5]]),
                        jnp.array([19, 0]))
  np.testing.assert_allclose(
      victim.objective(state.params, batch, idx),
      _objective(state.params, batch, graph, num_layers=2, reg=0.5),
      rtol=1e-6)
  users, items = lightgcn.propagate(state.params, graph, 2)
  expected = np.asarray(users) @ np.asarray(items).T
  np.testing.assert_allclose(victim.model.score_all(state.params, idx, jnp.arange(30)),
                             expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(victim.model.score(state.params, idx, jnp.array([3, 7]),
                                                jnp.array([1, 19])),
                             expected[[3, 7], [1, 19]], rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match="users must lie"):
    victim.model.score_all(state.params, idx, jnp.array([30]))
  out = jax.jit(lambda u: victim.model.score_all(state.params, idx, u))(jnp.array([30, -1]))
  assert np.isnan(np.asarray(out)).all()


# ---------------------------------------------------------------------------------------------
# The "csr" method against the "scatter" method (the implementation before it)

# A shuffled graph: unsorted edges, a duplicate edge (user 2, item 3 twice: weights add), relaxed
# weights, padding edges with one or both sentinel ids, user 3 isolated.
G_USERS = np.array([2, 0, 1, NU, 2, 0, 1, 2, 0, NU])
G_ITEMS = np.array([0, 1, 2, NI, 3, 0, 1, 3, 2, 1])
G_WEIGHTS = np.array([1.0, 0.3, 1.0, 0.0, 0.6, 1.0, 0.5, 0.9, 0.2, 0.0])


def _both(params, data, num_layers):
  run = lambda method: jax.jit(lightgcn.propagate, static_argnums=(2,),  # noqa: E731
                               static_argnames=("method",))(params, data, num_layers,
                                                            method=method)
  return run("scatter"), run("csr")


@pytest.mark.parametrize("num_layers", [1, 3])
def test_csr_equals_scatter_on_a_shuffled_weighted_graph(num_layers):
  params, graph = _params(dim=4), _graph(G_WEIGHTS, G_USERS, G_ITEMS)
  old, new = _both(params, graph, num_layers)
  ref_u, ref_i = _dense_reference(params, G_USERS[G_WEIGHTS > 0], G_ITEMS[G_WEIGHTS > 0],
                                  G_WEIGHTS[G_WEIGHTS > 0], num_layers)
  for a, b, ref in zip(old, new, (ref_u, ref_i)):
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(b, ref, rtol=1e-5, atol=1e-6)


def test_csr_equals_scatter_on_a_padded_index_and_its_graph():
  users = np.array([0, 0, 1, 1, 2, 2, 2])
  items = np.array([0, 1, 1, 2, 0, 3, 4])
  # rows 7.. are masked out (padding rows; the last two repeat edges that must not count)
  index = data.build_index(np.append(users, [3, 3, 0, 1, 2]), np.append(items, [0, 4, 1, 1, 0]),
                           num_users=NU, num_items=NI, valid=np.arange(12) < 7)
  assert index.capacity == 12 and int(index.num_valid) == 7  # 5 padding rows
  params = _params(dim=4)
  ref = _dense_reference(params, users, items, np.ones(7), 3)
  for d in (index, data.graph_from_index(index)):
    old, new = _both(params, d, 3)
    for a, b, r in zip(old, new, ref):
      np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
      np.testing.assert_allclose(b, r, rtol=1e-5, atol=1e-6)


def test_csr_gradients_equal_scatter_gradients():
  params, graph = _params(dim=4), _graph(G_WEIGHTS, G_USERS, G_ITEMS)
  cu = jax.random.normal(jax.random.key(3), (NU, 4))
  ci = jax.random.normal(jax.random.key(4), (NI, 4))

  def f(params, w, method):
    users, items = lightgcn.propagate(params, graph.replace(weights=w), 3, method=method)
    return jnp.sum(jnp.sin(users) * cu) + jnp.sum(jnp.cos(items) * ci)

  grad = jax.jit(jax.grad(f, argnums=(0, 1)), static_argnums=2)
  (gp_old, gw_old), (gp_new, gw_new) = (grad(params, graph.weights, m)
                                        for m in ("scatter", "csr"))
  assert np.all(np.abs(np.asarray(gw_new)[G_WEIGHTS > 0]) > 1e-4)  # not vacuous
  np.testing.assert_allclose(gw_new, gw_old, rtol=1e-5, atol=1e-6)
  for a, b in zip(jax.tree.leaves(gp_old), jax.tree.leaves(gp_new)):
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_csr_vmaps_over_graphs_and_over_embeddings():
  params, graph = _params(dim=4), _graph(G_WEIGHTS, G_USERS, G_ITEMS)
  scales = jnp.array([[1.0], [0.5], [0.0]])  # the last graph: every weight 0
  weights = scales * graph.weights[None, :]

  def f(params, w):
    users, items = lightgcn.propagate(params, graph.replace(weights=w), 2)
    return jnp.sum(jnp.sin(users)) + jnp.sum(jnp.cos(items))

  values, grads = jax.jit(jax.vmap(jax.value_and_grad(f, argnums=1), in_axes=(None, 0)))(
      params, weights)
  for k in range(3):
    v, g = jax.value_and_grad(f, argnums=1)(params, weights[k])
    np.testing.assert_allclose(values[k], v, rtol=1e-6)
    np.testing.assert_allclose(grads[k], g, rtol=1e-5, atol=1e-7)
  batched = jax.tree.map(lambda x: jnp.stack([x, 2 * x, -x]), params)
  out = jax.jit(jax.vmap(lambda p: lightgcn.propagate(p, graph, 3)))(batched)
  for k in range(3):
    one = lightgcn.propagate(jax.tree.map(lambda x, k=k: x[k], batched), graph, 3,
                             method="scatter")
    for a, b in zip(out, one):
      np.testing.assert_allclose(a[k], b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("num_rows", [NU, 2**30])  # packed single-key sort, argsort fallback
def test_layout_sort_is_stable(num_rows):
  keys = jnp.asarray(G_USERS, jnp.int32)
  perm, sorted_keys = lightgcn._sort_by(keys, num_rows)
  np.testing.assert_array_equal(perm, np.argsort(G_USERS, kind="stable"))
  np.testing.assert_array_equal(sorted_keys, np.sort(G_USERS))
