"""EASE and ItemKNN: closed forms against dense NumPy references, gradients, victims."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrec
from jaxrec import data, models, training
from jaxrec.models import _ease as ease


def _fit_ease(graph, *, reg=500.0, chunk_size=256):
  return models.ease(reg=reg, chunk_size=chunk_size).init(None, graph)


def _ease_scores(params, graph, users):
  return models.EASE().score_all(params, graph, users)


def _fit_itemknn(graph, *, num_neighbors=100, shrink=0.0, chunk_size=256):
  return models.itemknn(num_neighbors=num_neighbors, shrink=shrink,
                        chunk_size=chunk_size).init(None, graph)


def _itemknn_scores(params, graph, users):
  return models.ItemKNN().score_all(params, graph, users)

# A tiny weighted graph: 5 users, 6 items. Edge 2 is relaxed (weight 0.5); edge 9 is a zero-weight
# padding edge, the only edge of user 4 and of item 5 (both have no interaction).
USERS = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3, 4])
ITEMS = np.array([0, 1, 2, 1, 3, 0, 3, 2, 4, 5])
WEIGHTS = np.array([1.0, 1.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0])
NU, NI = 5, 6
REG = 2.0  # small, so that B is far from 0 on this tiny graph


def _graph(weights=WEIGHTS, users=USERS, items=ITEMS, dtype=jnp.float32, nu=NU, ni=NI):
  return data.Graph(users=jnp.asarray(users, jnp.int32), items=jnp.asarray(items, jnp.int32),
                    weights=jnp.asarray(weights, dtype), num_users=nu, num_items=ni)


def _dense(users=USERS, items=ITEMS, weights=WEIGHTS, nu=NU, ni=NI):
  """The ``(U, I)`` float64 user-item matrix, repeated edges summed."""
  x = np.zeros((nu, ni))
  np.add.at(x, (np.asarray(users), np.asarray(items)), np.asarray(weights, np.float64))
  return x


def _ease_reference(x, reg):
  """Steck (2019), Sec. 2: P = (X^T X + reg I)^-1, B = I - P diagMat(1 / diag P)."""
  p = np.linalg.inv(x.T @ x + reg * np.eye(x.shape[1]))
  b = np.eye(x.shape[1]) - p @ np.diag(1.0 / np.diag(p))
  np.fill_diagonal(b, 0.0)  # exactly 0 in the formula, up to rounding
  return b


def _knn_reference(x, k, shrink=0.0):
  """Cosine similarities (with shrink), zero diagonal, each column's k best (lower id on ties)."""
  g = x.T @ x
  n = np.sqrt(np.diag(g))
  denom = np.outer(n, n) + shrink
  s = np.where(denom > 0, g / np.where(denom > 0, denom, 1.0), 0.0)
  np.fill_diagonal(s, 0.0)
  out = np.zeros_like(s)
  for j in range(s.shape[1]):
    candidates = [i for i in range(s.shape[0]) if i != j]
    best = sorted(candidates, key=lambda i: (-s[i, j], i))[:k]
    out[best, j] = s[best, j]
  return out


def _index_dense(index):
  n = int(index.num_valid)
  return _dense(np.asarray(index.users)[:n], np.asarray(index.items)[:n], np.ones(n),
                index.num_users, index.num_items)


# ------------------------------------------------------------------------------------------------
# EASE


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 256])
def test_item_gram_is_dense_gram_for_any_chunking(chunk_size):
  gram = jax.jit(ease.item_gram, static_argnames="chunk_size")(_graph(), chunk_size=chunk_size)
  x = _dense()
  assert gram.shape == (NI, NI) and gram.dtype == jnp.float32
  np.testing.assert_allclose(gram, x.T @ x, rtol=1e-6, atol=1e-7)


def test_item_gram_vmaps_over_weights():
  ws = np.stack([WEIGHTS, np.linspace(0.1, 1.0, WEIGHTS.size), np.zeros_like(WEIGHTS)])
  grams = jax.vmap(lambda w: ease.item_gram(_graph(w), chunk_size=2))(jnp.asarray(ws, jnp.float32))
  for w, gram in zip(ws, grams):
    x = _dense(weights=w)
    np.testing.assert_allclose(gram, x.T @ x, rtol=1e-6, atol=1e-7)


def test_fit_ease_matches_steck_closed_form():
  ref = _ease_reference(_dense(), REG)
  assert np.abs(ref).max() > 0.1  # a non-trivial B
  params = jax.jit(_fit_ease, static_argnames="chunk_size")(_graph(), reg=REG, chunk_size=2)
  assert params.weights.shape == (NI, NI) and params.weights.dtype == jnp.float32
  np.testing.assert_allclose(params.weights, ref, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(np.diag(params.weights), np.zeros(NI))
  # the item without interactions has a zero row and a zero column
  np.testing.assert_array_equal(params.weights[5], np.zeros(NI))
  np.testing.assert_array_equal(params.weights[:, 5], np.zeros(NI))
  # reg may be a tracer
  traced = jax.jit(lambda r: _fit_ease(_graph(), reg=r).weights)(jnp.float32(REG))
  np.testing.assert_allclose(traced, ref, rtol=1e-5, atol=1e-6)


def test_fit_ease_in_float64_is_exact():
  with jax.enable_x64(True):
    params = _fit_ease(_graph(dtype=jnp.float64), reg=REG, chunk_size=3)
    assert params.weights.dtype == jnp.float64
    np.testing.assert_allclose(params.weights, _ease_reference(_dense(), REG), rtol=1e-12,
                               atol=1e-14)


def test_user_rows_fill_every_repeated_position():
  users = jnp.array([4, 1, 1, 0, 1, 3, 3])
  rows = jax.jit(data.user_rows)(_graph(), users)
  x = _dense()
  np.testing.assert_array_equal(rows, x[np.asarray(users)])
  # the evaluation pattern: a last chunk clamped to the last user
  clamped = jnp.minimum(jnp.arange(3, 8), NU - 1)
  np.testing.assert_array_equal(data.user_rows(_graph(), clamped), x[np.asarray(clamped)])
  # ids outside the range read zeros (no wrap-around, no clamping); score functions check them
  np.testing.assert_array_equal(data.user_rows(_graph(), jnp.array([-1, NU])), 0.0)


def test_ease_scores_are_rows_times_b():
  graph = _graph()
  params = _fit_ease(graph, reg=REG)
  users = jnp.array([0, 3, 4, 2, 2, 1])
  scores = jax.jit(_ease_scores)(params, graph, users)
  x, b = _dense(), _ease_reference(_dense(), REG)
  np.testing.assert_allclose(scores, x[np.asarray(users)] @ b, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(scores, data.user_rows(graph, users) @ params.weights, rtol=1e-6,
                             atol=1e-7)


def test_ease_gradient_matches_finite_differences():
  with jax.enable_x64(True):
    c = jax.random.normal(jax.random.key(1), (NU, NI), jnp.float64)

    def f(w, reg):
      graph = _graph(w, dtype=jnp.float64)
      params = _fit_ease(graph, reg=reg, chunk_size=2)
      return jnp.sum(jnp.sin(3.0 * _ease_scores(params, graph, jnp.arange(NU))) * c)

    f = jax.jit(f)
    w = jnp.asarray(WEIGHTS, jnp.float64)
    reg = jnp.float64(REG)
    g_w, g_reg = jax.jit(jax.grad(f, argnums=(0, 1)))(w, reg)
    h = 1e-6
    fd = np.array([(f(w.at[e].add(h), reg) - f(w.at[e].add(-h), reg)) / (2 * h)
                   for e in range(w.shape[0])])
    live = WEIGHTS > 0
    assert np.all(np.abs(fd[live]) > 1e-4)  # every interaction matters: not a vacuous check
    np.testing.assert_allclose(g_w[live], fd[live], rtol=1e-5)
    # the padding edge touches only an isolated user and item: to first order it changes nothing
    assert abs(fd[~live][0]) < 1e-8 and abs(g_w[~live][0]) < 1e-12
    fd_reg = (f(w, reg + h) - f(w, reg - h)) / (2 * h)
    assert abs(fd_reg) > 1e-4
    np.testing.assert_allclose(g_reg, fd_reg, rtol=1e-5)
    # forward mode through the custom JVP agrees with reverse mode
    v = jax.random.normal(jax.random.key(2), w.shape, jnp.float64)
    _, tangent = jax.jvp(lambda w: f(w, reg), (w,), (v,))
    np.testing.assert_allclose(tangent, jnp.dot(g_w, v), rtol=1e-10)


def test_duplicate_interactions_do_not_change_ease():
  users = np.array([0, 0, 1, 1, 2, 2, 3])
  items = np.array([0, 1, 1, 2, 0, 3, 4])
  clean = data.index_interactions(data.from_arrays(users, items, num_users=NU, num_items=NI))
  repeated = data.index_interactions(data.from_arrays(
      np.concatenate([users, [0, 0, 2, 1, 3]]), np.concatenate([items, [1, 1, 3, 2, 4]]),
      num_users=NU, num_items=NI))
  g_clean, g_rep = data.graph_from_index(clean), data.graph_from_index(repeated)
  # the repeats become zero-weight padding edges with the sentinel ids (the padding rule)
  assert repeated.capacity == clean.capacity + 5
  assert set(np.unique(np.asarray(g_rep.weights))) == {0.0, 1.0}
  assert float(jnp.sum(g_rep.weights)) == float(jnp.sum(g_clean.weights)) == 7.0
  pad = np.asarray(g_rep.weights) == 0
  np.testing.assert_array_equal(np.asarray(g_rep.users)[pad], NU)
  np.testing.assert_array_equal(np.asarray(g_rep.items)[pad], NI)
  x = _dense(users, items, np.ones(7))
  for g in (g_clean, g_rep):
    live = np.asarray(g.weights) > 0
    np.testing.assert_array_equal(
        _dense(np.asarray(g.users)[live], np.asarray(g.items)[live],
               np.asarray(g.weights)[live]), x)
  b_clean = _fit_ease(g_clean, reg=REG).weights
  b_rep = _fit_ease(g_rep, reg=REG).weights
  np.testing.assert_array_equal(b_clean, b_rep)
  np.testing.assert_allclose(b_rep, _ease_reference(x, REG), rtol=1e-5, atol=1e-6)
  # in a hand-built Graph repeated edges do add up: two half edges are one full edge
  halves = _graph(np.array([0.5, 0.5, 1.0]), np.array([0, 0, 1]), np.array([1, 1, 2]))
  whole = _graph(np.array([1.0, 1.0]), np.array([0, 1]), np.array([1, 2]))
  np.testing.assert_allclose(_fit_ease(halves, reg=REG).weights,
                             _fit_ease(whole, reg=REG).weights, rtol=1e-6, atol=1e-7)


def test_isolated_user_and_item_give_finite_scores_and_gradients():
  graph = _graph()
  params = _fit_ease(graph, reg=REG)
  scores = _ease_scores(params, graph, jnp.arange(NU))
  assert np.all(np.isfinite(scores))
  np.testing.assert_array_equal(scores[4], np.zeros(NI))  # user 4: no interaction
  np.testing.assert_array_equal(scores[:, 5], np.zeros(NU))  # item 5: nobody's neighbour
  c = jax.random.normal(jax.random.key(0), (NU, NI))

  def f(w, reg):
    g = _graph(w)
    return jnp.sum(_ease_scores(_fit_ease(g, reg=reg), g, jnp.arange(NU)) * c)

  grad = jax.jit(jax.grad(f, argnums=(0, 1)))
  for w in (graph.weights, jnp.zeros_like(graph.weights)):
    g_w, g_reg = grad(w, jnp.float32(REG))
    assert np.all(np.isfinite(g_w)) and np.isfinite(g_reg)
  assert np.any(grad(graph.weights, jnp.float32(REG))[0] != 0)


def test_ease_bad_arguments_raise():
  with pytest.raises(ValueError, match="reg"):
    _fit_ease(_graph(), reg=0.0)
  with pytest.raises(ValueError, match="reg"):
    _fit_ease(_graph(), reg=-1)
  with pytest.raises(ValueError, match="chunk_size"):
    _fit_ease(_graph(), chunk_size=0)
  with pytest.raises(ValueError, match="chunk_size"):
    ease.item_gram(_graph(), chunk_size=-3)
  with pytest.raises(ValueError, match="chunk_size"):
    ease.item_gram(_graph(), chunk_size=True)
  for bad in (np.float32(0.0), jnp.float32(-1.0), np.float64(np.nan), jnp.float32(np.inf)):
    with pytest.raises(ValueError, match="reg"):
      models.ease(reg=bad)


# ------------------------------------------------------------------------------------------------
# ItemKNN


@pytest.mark.parametrize("shrink", [0.0, 1.5])
@pytest.mark.parametrize("num_neighbors", [1, 2, 3, 5, 100])
def test_itemknn_matches_pruned_cosine_reference(num_neighbors, shrink):
  fit = jax.jit(_fit_itemknn, static_argnames=("num_neighbors", "chunk_size"))
  sim = fit(_graph(), num_neighbors=num_neighbors, shrink=shrink, chunk_size=2).similarity
  assert sim.shape == (NI, NI) and sim.dtype == jnp.float32
  ref = _knn_reference(_dense(), num_neighbors, shrink)
  np.testing.assert_allclose(sim, ref, rtol=1e-6, atol=1e-7)
  np.testing.assert_array_equal(np.diag(sim), np.zeros(NI))
  kept = np.count_nonzero(np.asarray(sim), axis=0)
  assert np.all(kept <= num_neighbors)


def test_itemknn_tie_breaking_and_full_neighbourhood():
  x = _dense()
  # item 1's column: items 0 and 3 tie at 1 / sqrt(2 * 2) = 0.5, item 2 has 0.5 / sqrt(2 * 1.25)
  sim1 = _fit_itemknn(_graph(), num_neighbors=1).similarity
  full = _knn_reference(x, NI - 1)
  np.testing.assert_allclose(full[[0, 3], 1], [0.5, 0.5], rtol=1e-12)
  np.testing.assert_allclose(sim1[:, 1], [0.5, 0, 0, 0, 0, 0], rtol=1e-6)  # lower id wins
  # num_neighbors >= I - 1 keeps every similarity
  for k in (NI - 1, NI, 1000):
    sim = _fit_itemknn(_graph(), num_neighbors=k).similarity
    np.testing.assert_allclose(sim, full, rtol=1e-6, atol=1e-7)
  g = x.T @ x
  n = np.sqrt(np.diag(g))
  unpruned = np.divide(g, np.outer(n, n), out=np.zeros_like(g), where=np.outer(n, n) > 0)
  np.fill_diagonal(unpruned, 0.0)
  np.testing.assert_allclose(full, unpruned, rtol=1e-12)


def test_itemknn_single_item_catalogue():
  graph = _graph(np.ones(2), np.array([0, 1]), np.array([0, 0]), nu=2, ni=1)
  sim = _fit_itemknn(graph, num_neighbors=3).similarity
  np.testing.assert_array_equal(sim, np.zeros((1, 1)))


def test_itemknn_scores_are_rows_times_s():
  graph = _graph()
  params = _fit_itemknn(graph, num_neighbors=2, shrink=0.5)
  users = jnp.array([1, 4, 0, 0, 3, 2])
  scores = jax.jit(_itemknn_scores)(params, graph, users)
  ref = _dense()[np.asarray(users)] @ _knn_reference(_dense(), 2, 0.5)
  np.testing.assert_allclose(scores, ref, rtol=1e-6, atol=1e-7)
  np.testing.assert_array_equal(scores[1], np.zeros(NI))


def test_itemknn_isolated_item_is_zero_with_finite_gradients():
  graph = _graph()
  c = jax.random.normal(jax.random.key(0), (NU, NI))

  @jax.jit
  def sim_and_grad(w, shrink):
    def f(w, shrink):
      g = _graph(w)
      params = _fit_itemknn(g, num_neighbors=3, shrink=shrink)
      return jnp.sum(_itemknn_scores(params, g, jnp.arange(NU)) * c)

    sim = _fit_itemknn(_graph(w), num_neighbors=3, shrink=shrink).similarity
    return sim, f(w, shrink), jax.grad(f, argnums=(0, 1))(w, shrink)

  for shrink in (0.0, 0.7):
    for w in (graph.weights, jnp.zeros_like(graph.weights)):
      sim, value, (g_w, g_shrink) = sim_and_grad(w, jnp.float32(shrink))
      np.testing.assert_array_equal(sim[5], np.zeros(NI))
      np.testing.assert_array_equal(sim[:, 5], np.zeros(NI))
      assert np.isfinite(value) and np.all(np.isfinite(g_w)) and np.isfinite(g_shrink)
      # at all-zero weights both X and S vanish, and so does the first-order change of X S
      assert np.any(g_w != 0) == (w is graph.weights)


def test_itemknn_gradient_matches_finite_differences():
  # a full neighbourhood, so that no neighbour selection flips under the perturbation
  with jax.enable_x64(True):
    c = jax.random.normal(jax.random.key(1), (NU, NI), jnp.float64)

    def f(w, shrink):
      graph = _graph(w, dtype=jnp.float64)
      params = _fit_itemknn(graph, num_neighbors=NI - 1, shrink=shrink, chunk_size=3)
      assert params.similarity.dtype == jnp.float64
      return jnp.sum(jnp.sin(3.0 * _itemknn_scores(params, graph, jnp.arange(NU)))
                     * c)

    f = jax.jit(f)
    w, shrink = jnp.asarray(WEIGHTS, jnp.float64), jnp.float64(0.5)
    g_w, g_shrink = jax.jit(jax.grad(f, argnums=(0, 1)))(w, shrink)
    h = 1e-6
    fd = np.array([(f(w.at[e].add(h), shrink) - f(w.at[e].add(-h), shrink)) / (2 * h)
                   for e in range(w.shape[0])])
    live = WEIGHTS > 0
    assert np.all(np.abs(fd[live]) > 1e-4)
    np.testing.assert_allclose(g_w, fd, rtol=1e-5, atol=1e-9)
    fd_shrink = (f(w, shrink + h) - f(w, shrink - h)) / (2 * h)
    np.testing.assert_allclose(g_shrink, fd_shrink, rtol=1e-5)


def test_itemknn_bad_arguments_raise():
  for k in (0, -1, True):
    with pytest.raises(ValueError, match="num_neighbors"):
      _fit_itemknn(_graph(), num_neighbors=k)
    with pytest.raises(ValueError, match="num_neighbors"):
      models.itemknn(num_neighbors=k)
  with pytest.raises(ValueError, match="shrink"):
    _fit_itemknn(_graph(), shrink=-0.1)
  for bad in (np.float32(-1.0), jnp.float32(np.nan), np.inf):
    with pytest.raises(ValueError, match="shrink"):
      models.itemknn(shrink=bad)
  with pytest.raises(ValueError, match="chunk_size"):
    _fit_itemknn(_graph(), chunk_size=0)


# ------------------------------------------------------------------------------------------------
# Victims


# Module-level victims and one jitted fit_victim, so that the victim tests share compilations.
_VICTIMS = {"ease": training.Victim(models.ease(reg=3.0)),
            "itemknn": training.Victim(models.itemknn(num_neighbors=4, shrink=1.0))}
_FIT = jax.jit(training.fit_victim, static_argnums=0)


@pytest.mark.parametrize("which", ["ease", "itemknn"])
def test_closed_form_victims_match_the_models(which, toy_index):
  idx = toy_index()
  graph = data.graph_from_index(idx)
  victim = _VICTIMS[which]
  if which == "ease":
    direct = _ease_scores, _fit_ease(graph, reg=3.0)
    ref = _ease_reference(_index_dense(idx), 3.0)
  else:
    direct = _itemknn_scores, _fit_itemknn(graph, num_neighbors=4, shrink=1.0)
    ref = _knn_reference(_index_dense(idx), 4, 1.0)
  assert victim.name == which and victim.num_epochs == 0
  params, curve = _FIT(victim, idx, jax.random.key(0))
  assert curve.shape == (0,)
  users = jnp.arange(idx.num_users)
  scores = victim.model.score_all(params, idx, users)  # the index's rows, as the graph's
  np.testing.assert_allclose(scores, direct[0](direct[1], graph, users), rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(victim.model.score(params, idx, jnp.array([0, 5]),
                                                jnp.array([3, 12])),
                             np.asarray(scores)[[0, 5], [3, 12]], rtol=1e-5, atol=1e-6)
  # ids out of range: ValueError when concrete, NaN rows under jit (never a clamped row)
  with pytest.raises(ValueError, match=r"users must lie in \[0, 30\)"):
    victim.model.score_all(params, idx, jnp.array([30]))
  out = jax.jit(lambda u: victim.model.score_all(params, idx, u))(jnp.array([30, -1, 0]))
  assert np.isnan(np.asarray(out[:2])).all()
  np.testing.assert_allclose(out[2], scores[0], rtol=1e-6)
  with pytest.raises(ValueError, match="users must lie"):
    jaxrec.checked(jax.jit(lambda u: victim.model.score_all(params, idx, u)))(jnp.array([30]))
  with pytest.raises(ValueError, match="catalogue"):  # another catalogue: static, always
    other = data.build_index(np.zeros(1, int), np.zeros(1, int), num_users=30, num_items=21)
    victim.model.score_all(params, other, users)
  np.testing.assert_allclose(scores, _index_dense(idx) @ ref, rtol=1e-5, atol=1e-5)
  # the two taste groups: each user scores their own group's items higher
  s = np.asarray(scores)
  assert np.all(s[0::2, :10].mean(1) > s[0::2, 10:].mean(1))
  assert np.all(s[1::2, 10:].mean(1) > s[1::2, :10].mean(1))
  # no training: the key changes nothing
  again, _ = _FIT(victim, idx, jax.random.key(7))
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(again)):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("which", ["ease", "itemknn"])
def test_closed_form_victims_jit_and_vmap_over_indices(which, toy_index):
  victim = _VICTIMS[which]
  key = jax.random.key(0)
  idx = toy_index()
  params = jax.jit(lambda index: training.fit_victim(victim, index, key)[0])(idx)
  graph = data.graph_from_index(idx)
  direct = (_fit_ease(graph, reg=3.0).weights if which == "ease"
            else _fit_itemknn(graph, num_neighbors=4, shrink=1.0).similarity)
  np.testing.assert_allclose(jax.tree.leaves(params)[0], direct, rtol=1e-5, atol=1e-6)
  # two indices of the same capacity (the second drops some rows), fitted in one vmapped program
  other = toy_index(seed=1)
  valid = np.arange(other.capacity) % 3 != 0
  other = data.build_index(other.users, other.items, num_users=30, num_items=20, valid=valid)
  stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), idx, other)
  batched = jax.jit(jax.vmap(lambda index: training.fit_victim(victim, index, key)[0]))(stacked)
  for n, index in enumerate((idx, other)):
    single, _ = _FIT(victim, index, key)
    for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(single)):
      np.testing.assert_allclose(a[n], b, rtol=1e-5, atol=1e-6)
  assert not np.allclose(jax.tree.leaves(batched)[0][0], jax.tree.leaves(batched)[0][1])
