"""The positive index and BPR triple sampling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrec
from jaxrec import data


def test_index_csr_dedup_and_mask():
  users = [2, 0, 0, 0, 1, 1, 0, 2]
  items = [4, 3, 1, 3, 0, 6, 5, 1]
  valid = [True, True, True, True, True, True, True, False]  # drops (2, 1)
  idx = data.build_index(users, items, num_users=4, num_items=7, valid=valid)
  assert int(idx.num_valid) == 6  # the duplicate (0, 3) counts once
  n = int(idx.num_valid)
  np.testing.assert_array_equal(idx.users[:n], [0, 0, 0, 1, 1, 2])
  np.testing.assert_array_equal(idx.items[:n], [1, 3, 5, 0, 6, 4])
  np.testing.assert_array_equal(idx.indptr, [0, 3, 5, 6, 6])
  np.testing.assert_array_equal(idx.degrees(), [3, 2, 1, 0])
  np.testing.assert_array_equal(idx.item_degrees(), [1, 1, 0, 1, 1, 1, 1])
  # gaps: item - rank within row
  np.testing.assert_array_equal(idx.gaps[:n], [1, 2, 3, 0, 5, 4])
  assert idx.capacity == 8
  np.testing.assert_array_equal(idx.users[n:], [4, 4])  # padding sentinel


def test_index_interactions_validates_ids():
  inter = data.Interactions(users=np.array([0, 3]), items=np.array([1, 1]),
                            num_users=3, num_items=2)
  with pytest.raises(ValueError, match="user ids must lie"):
    data.index_interactions(inter)


def _positives(users, items):
  pos = {}
  for u, i in zip(users, items):
    pos.setdefault(int(u), set()).add(int(i))
  return pos


def test_negatives_are_never_positive_and_uniform():
  rng = np.random.default_rng(0)
  num_users, num_items = 6, 9
  users = rng.integers(0, num_users - 1, 30)  # the last user has no positives
  items = rng.integers(0, num_items, 30)
  idx = data.build_index(users, items, num_users=num_users, num_items=num_items)
  pos = _positives(users, items)
  draws = 9000
  query = jnp.repeat(jnp.arange(num_users, dtype=jnp.int32), draws)
  neg = np.asarray(jax.jit(data.sample_negatives)(jax.random.key(1), idx, query))
  for u in range(num_users):
    counts = np.bincount(neg[u * draws:(u + 1) * draws], minlength=num_items)
    allowed = [i for i in range(num_items) if i not in pos.get(u, set())]
    assert counts[list(pos.get(u, set()))].sum() == 0
    expected = draws / len(allowed)
    # each allowed item within 5 standard deviations of uniform
    sd = np.sqrt(expected * (1 - 1 / len(allowed)))
    assert np.all(np.abs(counts[allowed] - expected) < 5 * sd), (u, counts)


def test_triples_come_from_valid_rows():
  users = np.array([0, 0, 1, 2, 2, 2])
  items = np.array([0, 1, 2, 3, 0, 1])
  valid = np.array([True, True, True, True, True, False])
  idx = data.build_index(users, items, num_users=3, num_items=5, valid=valid)
  b = data.sample_bpr_triples(jax.random.key(0), idx, 4000, negatives="rejection")
  pairs = set(zip(np.asarray(b.users).tolist(), np.asarray(b.pos_items).tolist()))
  assert pairs == {(0, 0), (0, 1), (1, 2), (2, 3), (2, 0)}
  pos = _positives(users[valid], items[valid])
  w = np.asarray(b.weights)
  for u, j, wt in zip(np.asarray(b.users), np.asarray(b.neg_items), w):
    # with a bitmap a triple whose negative (after one redraw) is a positive is rejected:
    # weight 0; accepted ones carry 1 / (1 - (d_u / I)^2)
    d = len(pos[int(u)])
    assert 0 <= j < 5
    assert wt == pytest.approx(0.0 if j in pos[int(u)] else 1.0 / (1.0 - (d / 5) ** 2), rel=1e-6)
  # exact sampling (the default): every negative valid, no weights
  exact = data.sample_bpr_triples(jax.random.key(0), idx, 4000)
  assert exact.weights is None
  for u, j in zip(np.asarray(exact.users), np.asarray(exact.neg_items)):
    assert j not in pos[int(u)] and 0 <= j < 5


def test_bitmap_and_contains_match_the_positives():
  rng = np.random.default_rng(3)
  users, items = rng.integers(0, 7, 40), rng.integers(0, 70, 40)  # 70 items: 3 words a row
  valid = rng.random(40) < 0.8
  idx = data.build_index(users, items, num_users=7, num_items=70, valid=valid)
  dense = np.zeros((7, 70), bool)
  dense[users[valid], items[valid]] = True
  assert idx.bitmap.shape == (7 * 3,) and idx.bitmap.dtype == jnp.uint32
  uu = jnp.repeat(jnp.arange(7), 70)
  ii = jnp.tile(jnp.arange(70), 7)
  np.testing.assert_array_equal(np.asarray(idx.contains(uu, ii)).reshape(7, 70), dense)
  # the binary-search fallback (no bitmap) answers the same
  np.testing.assert_array_equal(
      np.asarray(idx.replace(bitmap=None).contains(uu, ii)).reshape(7, 70), dense)
  # above the size limit no bitmap is kept
  big = data.build_index([0], [0], num_users=1 << 15, num_items=1 << 14)
  assert big.bitmap is None and bool(big.contains(jnp.array([0]), jnp.array([0]))[0])


def test_a_batch_with_a_heavy_user_is_sampled_exactly():
  # user 0 holds 9 of 10 items (> MAX_REJECTION_SHARE): rejection weights would reach 5.3
  users = [0] * 9 + [1, 1]
  items = list(range(9)) + [0, 5]
  idx = data.build_index(users, items, num_users=2, num_items=10)
  b = data.sample_bpr_triples(jax.random.key(0), idx, 64, negatives="rejection")
  u, j, w = (np.asarray(x) for x in (b.users, b.neg_items, b.weights))
  assert (u == 0).any()
  np.testing.assert_array_equal(w, 1.0)  # exact: every triple kept, weight 1
  assert np.all(j[u == 0] == 9)
  assert not np.isin(j[u == 1], [0, 5]).any()
  # without the heavy user the same index shape samples by rejection
  light = data.build_index([0, 0, 1, 1], [1, 2, 0, 5], num_users=2, num_items=10)
  lw = np.asarray(data.sample_bpr_triples(jax.random.key(0), light, 256,
                                          negatives="rejection").weights)
  assert (lw == 0).any() and (lw > 1).any()


def test_rejection_sampling_is_uniform_over_non_positives():
  rng = np.random.default_rng(0)
  num_users, num_items = 4, 9
  users = rng.integers(0, num_users, 14)
  items = rng.integers(0, num_items, 14)
  idx = data.build_index(users, items, num_users=num_users, num_items=num_items)
  pos = _positives(users, items)
  b = jax.jit(data.sample_bpr_triples, static_argnums=2, static_argnames="negatives")(
      jax.random.key(5), idx, 200_000, negatives="rejection")
  with pytest.raises(ValueError, match="bitmap"):
    data.sample_bpr_triples(jax.random.key(5), idx.replace(bitmap=None), 4, negatives="rejection")
  with pytest.raises(ValueError, match="negatives must be"):
    data.sample_bpr_triples(jax.random.key(5), idx, 4, negatives="popular")
  u, j, w = (np.asarray(x) for x in (b.users, b.neg_items, b.weights))
  for user in range(num_users):
    mine = (u == user)
    allowed = [i for i in range(num_items) if i not in pos.get(user, set())]
    # rejected exactly when the negative is a positive
    np.testing.assert_array_equal(w[mine] == 0.0, np.isin(j[mine], list(pos.get(user, ()))))
    counts = np.bincount(j[mine & (w > 0)], minlength=num_items)[allowed]
    expected = counts.sum() / len(allowed)
    sd = np.sqrt(expected * (1 - 1 / len(allowed)))
    assert np.all(np.abs(counts - expected) < 5 * sd), (user, counts)
    # importance weights: a user's accepted weight adds up to its number of draws, as with exact
    # sampling (where every draw counts 1), within 5 standard errors
    share = len(pos.get(user, ())) / num_items
    r = share ** 2
    n = mine.sum()
    se = np.sqrt(n * r / (1 - r))  # sd of the sum of n weights 0 or 1 / (1 - r)
    assert abs(w[mine].sum() - n) < 5 * se + 1e-6, (user, w[mine].sum(), n)
  # the rejected share: each user rejected with probability (d_u / I)^2, users drawn by degree
  deg = np.asarray(idx.degrees())
  expected_rejected = np.sum(deg * (deg / num_items) ** 2) / deg.sum()
  assert abs((w == 0).mean() - expected_rejected) < 0.01


def test_same_key_same_triples():
  idx = data.build_index([0, 1, 1], [1, 0, 2], num_users=2, num_items=4)
  a = data.sample_bpr_triples(jax.random.key(3), idx, 64)
  b = data.sample_bpr_triples(jax.random.key(3), idx, 64)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)


def test_check_sampleable():
  full = data.build_index([0, 0, 1], [0, 1, 0], num_users=2, num_items=2)
  with pytest.raises(ValueError, match="all 2 items"):
    data.check_sampleable(full)
  empty = data.build_index(np.zeros(0, int), np.zeros(0, int), num_users=2, num_items=2)
  with pytest.raises(ValueError, match="empty"):
    data.check_sampleable(empty)


def test_graph_from_index_and_user_rows():
  idx = data.build_index([0, 0, 2, 2, 2], [1, 1, 0, 3, 3], num_users=3, num_items=4)
  g = data.graph_from_index(idx)
  assert float(g.weights.sum()) == 3.0  # duplicates count once
  du, di = data.graph_degrees(g)
  np.testing.assert_array_equal(du, [1, 0, 2])
  np.testing.assert_array_equal(di, [1, 1, 0, 1])
  rows = data.user_rows(g, jnp.array([2, 1, 0]))
  np.testing.assert_array_equal(rows, [[1, 0, 0, 1], [0, 0, 0, 0], [0, 1, 0, 0]])
  # differentiable in the weights
  grad = jax.grad(lambda w: jnp.sum(data.user_rows(g.replace(weights=w), jnp.array([2])) *
                                    jnp.arange(4.0)[None, :]))(g.weights)
  expected = np.zeros(idx.capacity)
  valid = np.arange(idx.capacity) < int(idx.num_valid)
  expected[valid & (np.asarray(idx.users) == 2)] = [0.0, 3.0]  # items 0 and 3 of user 2
  np.testing.assert_array_equal(grad, expected)



def test_make_graph_defaults_and_static_checks():
  g = data.make_graph(np.array([0, 2, 1]), np.array([1, 0, 3]), num_users=3, num_items=4)
  assert g.users.dtype == jnp.int32 and g.items.dtype == jnp.int32
  assert g.weights.dtype == jnp.float32 and (g.num_users, g.num_items) == (3, 4)
  np.testing.assert_array_equal(g.weights, [1.0, 1.0, 1.0])  # default: one unit edge each
  ints = data.make_graph([0, 1], [0, 1], [1, 2], num_users=2, num_items=2)
  assert ints.weights.dtype == jnp.float32
  np.testing.assert_array_equal(ints.weights, [1.0, 2.0])
  # a padding edge (sentinel ids, weight 0) is valid
  pad = data.make_graph([0, 2], [0, 2], [1.0, 0.0], num_users=2, num_items=2)
  np.testing.assert_array_equal(pad.users, [0, 2])
  # the sentinel with a non-zero (default) weight is not
  with pytest.raises(ValueError, match="padding id"):
    data.make_graph([0, 3], [1, 0], num_users=3, num_items=4)
  with pytest.raises(ValueError, match="num_users"):
    data.make_graph([0, 1], [0, 1], num_users=0, num_items=2)
  with pytest.raises(ValueError, match="aligned"):
    data.make_graph([0, 1], [0], num_users=2, num_items=2)
  with pytest.raises(ValueError, match="aligned"):  # static: also under plain jit
    jax.jit(lambda w: data.make_graph(jnp.array([0, 1]), jnp.array([0]), w, num_users=2,
                                      num_items=2).weights)(jnp.ones(2))
  with pytest.raises(ValueError, match="aligned"):
    data.check_graph(data.Graph(users=jnp.zeros((1, 1), jnp.int32),
                                items=jnp.zeros((1, 1), jnp.int32), weights=jnp.ones((1, 1)),
                                num_users=1, num_items=1))
  hand = data.Graph(users=jnp.array([0]), items=jnp.array([0]), weights=jnp.array([1]),
                    num_users=1, num_items=1)
  with pytest.raises(ValueError, match="graph weights must be floating"):
    data.check_graph(hand)
  with pytest.raises(ValueError, match="graph weights must be floating"):
    jax.jit(lambda g: data.check_graph(g).weights)(hand)
  with pytest.raises(ValueError, match="pass a PositiveIndex or a Graph"):
    data.as_graph(jnp.ones((2, 2)))
  with pytest.raises(ValueError, match="expected a jaxrec.data.Graph"):
    data.check_graph(jnp.ones((2, 2)))


@pytest.mark.parametrize("users, message", [
    (np.array([0, 2**32 + 1], np.int64), "graph users must lie in"),  # would wrap to 1 in int32
    (np.array([0, -2**40], np.int64), "graph users must lie in"),
    (np.array([True, False]), "graph users must be integer ids"),
    (np.array([0.0, 1.0]), "graph users must be integer ids"),
])
def test_make_graph_checks_host_ids_before_converting_them(users, message):
  with pytest.raises(ValueError, match=message):
    data.make_graph(users, np.array([0, 1]), num_users=3, num_items=2)


@pytest.mark.parametrize("weights", [np.array([True, False]), np.array([1 + 1j, 0j]),
                                     np.array(["1", "2"])])
def test_make_graph_rejects_boolean_complex_and_string_weights(weights):
  with pytest.raises(ValueError, match="graph weights must be real numbers"):
    data.make_graph([0, 1], [0, 1], weights, num_users=2, num_items=2)


def test_make_graph_under_jit_keeps_traced_ids():
  g = jax.jit(lambda u: data.make_graph(u, jnp.array([0, 1]), num_users=2, num_items=2))(
      jnp.array([1, 0]))
  np.testing.assert_array_equal(np.asarray(g.users), [1, 0])
  assert g.users.dtype == jnp.int32 and g.weights.dtype == jnp.float32


def test_make_graph_converts_integer_weights_on_the_host():
  # jnp.asarray would turn int64 2**40 into int32 0 (x64 off): converted to float32 first
  g = data.make_graph([0, 1], [0, 1], np.array([2**40, 1], np.int64), num_users=2, num_items=2)
  np.testing.assert_array_equal(g.weights, np.array([2**40, 1], np.float32))
  with pytest.raises(ValueError, match="graph weights must be finite"):  # overflows float32
    data.make_graph([0, 1], [0, 1], np.array([1e300, 1.0]), num_users=2, num_items=2)


@pytest.mark.parametrize("weights, message", [
    (np.array([np.nan, 1.0]), "graph weights must be finite"),
    (np.array([-1.0, 1.0]), "graph weights must be finite and >= 0"),
    (np.array([1e300, 1.0]), "graph weights must be finite"),
    (np.array([1.0, 1.0]), "padding id"),  # user 2 is the padding id: weight must be 0
    (None, "padding id"),
])
def test_make_graph_checks_host_values_also_inside_a_jit_trace(weights, message):
  # host (NumPy / list) inputs used inside jit are converted to tracers by jnp: they are checked
  # with NumPy before, so plain jit raises too (no jaxrec.checked needed)
  users = [0, 2] if message == "padding id" else [0, 1]
  with pytest.raises(ValueError, match=message):
    jax.jit(lambda: data.make_graph(users, [0, 1], weights, num_users=2, num_items=2).weights)()


def test_make_graph_with_traced_weights_and_host_ids_under_jit():
  f = jax.jit(lambda w: data.make_graph([0, 2], [0, 1], w, num_users=2, num_items=2).weights)
  np.testing.assert_array_equal(f(jnp.array([1.0, 0.0])), [1.0, 0.0])
  f(jnp.array([1.0, 1.0]))  # traced padding weight: a checkify check, dropped by plain jit
  with pytest.raises(ValueError, match="padding id"):
    jaxrec.checked(f)(jnp.array([1.0, 1.0]))
  with pytest.raises(ValueError, match="graph weights must be real numbers"):
    jax.jit(lambda w: data.make_graph([0, 1], [0, 1], w, num_users=2, num_items=2).weights)(
        jnp.array([True, False]))
