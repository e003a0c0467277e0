"""Metrics against hand-computed values."""

import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import jaxrec
from jaxrec import metrics, models
from jaxrec.data import build_index, from_arrays

LOG2_3 = math.log2(3.0)


@struct.dataclass
class ScoreMatrix:
  """A :class:`jaxrec.models.Model` whose params are a dense ``(U, I)`` score matrix."""

  name: ClassVar[str] = "score-matrix"

  def init(self, key, data):
    del key
    return jnp.zeros((data.num_users, data.num_items))

  def loss(self, params, batch, data):
    del params, batch, data
    return jnp.zeros(())

  def score(self, params, data, users, items):
    del data
    return params[users, items]

  def score_all(self, params, data, users):
    del data
    return params[users]

  def scoring(self, params, data):
    del data
    return self, params


DENSE = ScoreMatrix()


def _index(pairs, num_users, num_items):
  pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
  return build_index(pairs[:, 0], pairs[:, 1], num_users=num_users, num_items=num_items)


class TestAccuracyAtK:

  hits = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], bool)
  num_relevant = np.array([2, 3, 0])

  @pytest.mark.parametrize("k", [0, -1, 2.5, True])
  def test_bad_k(self, k):
    with pytest.raises(ValueError, match="k must be an integer"):
      metrics.accuracy_at_k(self.hits, self.num_relevant, k)

  def test_k4(self):
    m = metrics.accuracy_at_k(self.hits, self.num_relevant, 4)
    idcg2 = 1 + 1 / LOG2_3
    idcg3 = 1 + 1 / LOG2_3 + 0.5
    np.testing.assert_allclose(m["hr"], [1, 1, 0])
    np.testing.assert_allclose(m["precision"], [0.5, 0.25, 0])
    np.testing.assert_allclose(m["recall"], [1.0, 1 / 3, 0], rtol=1e-6)
    np.testing.assert_allclose(m["ndcg"], [1.5 / idcg2, (1 / LOG2_3) / idcg3, 0], rtol=1e-6)
    np.testing.assert_allclose(m["mrr"], [1.0, 0.5, 0])

  def test_cutoff_applies_to_dcg_and_ideal_dcg(self):
    m = metrics.accuracy_at_k(self.hits, self.num_relevant, 2)
    # user 0: one hit in the first two; IDCG from min(2, 2) = 2 relevant items.
    # user 1: hit at rank 2; IDCG from min(3, 2) = 2 items, not 3.
    idcg2 = 1 + 1 / LOG2_3
    np.testing.assert_allclose(m["ndcg"], [1 / idcg2, (1 / LOG2_3) / idcg2, 0], rtol=1e-6)
    np.testing.assert_allclose(m["recall"], [0.5, 1 / 3, 0], rtol=1e-6)
    np.testing.assert_allclose(m["precision"], [0.5, 0.5, 0])

  def test_k1(self):
    m = metrics.accuracy_at_k(self.hits, self.num_relevant, 1)
    np.testing.assert_allclose(m["hr"], [1, 0, 0])
    np.testing.assert_allclose(m["ndcg"], [1, 0, 0])
    np.testing.assert_allclose(m["mrr"], [1, 0, 0])

  def test_list_shorter_than_k_is_an_error(self):
    with pytest.raises(ValueError, match="fewer than k"):
      metrics.accuracy_at_k(self.hits, self.num_relevant, 5)


def test_gini_hand_computed():
  np.testing.assert_allclose(metrics.gini([0, 0, 1, 1, 2]), 0.5, rtol=1e-6)
  np.testing.assert_allclose(metrics.gini([3, 3, 3]), 0.0, atol=1e-7)
  np.testing.assert_allclose(metrics.gini([0, 0, 0, 5]), 0.75, rtol=1e-6)
  np.testing.assert_allclose(metrics.gini([0, 0]), 0.0)
  # order does not matter
  np.testing.assert_allclose(metrics.gini([2, 0, 1, 0, 1]), 0.5, rtol=1e-6)


class TestEvaluate:
  """U=3, I=5. Train u0:{0}, u1:{1,2}; test u0:{3}, u1:{0}; u2 has no test item."""

  scores = jnp.array([
      [9.0, 1.0, 5.0, 4.0, 3.0],  # unseen ranking: 2, 3, 4, 1
      [1.0, 9.0, 9.0, 2.0, 3.0],  # unseen ranking: 4, 3, 0
      [0.0, 1.0, 2.0, 3.0, 4.0],  # no test item: excluded
  ])
  train = _index([[0, 0], [1, 1], [1, 2], [2, 0]], 3, 5)
  test = _index([[0, 3], [1, 0]], 3, 5)

  def _evaluate(self, **kw):
    return metrics.evaluate(DENSE, self.scores, self.train, self.test, **kw)

  def test_accuracy(self):
    r = self._evaluate(ks=(2,))
    assert r["users"][0] == 2  # u2 excluded
    assert r["hr"][2] == pytest.approx(0.5)
    assert r["ndcg"][2] == pytest.approx((1 / LOG2_3) / 2, rel=1e-6)
    assert r["precision"][2] == pytest.approx(0.25)
    assert r["recall"][2] == pytest.approx(0.5)
    assert r["mrr"][2] == pytest.approx(0.25)

  def test_beyond_accuracy(self):
    r = self._evaluate(ks=(2,))
    # lists of the evaluated users: u0 [2, 3], u1 [4, 3] -> counts [0, 0, 1, 2, 1]
    assert r["coverage"][2] == pytest.approx(3 / 5)
    assert r["gini"][2] == pytest.approx(0.5, rel=1e-6)
    # train popularity (users per item): [2, 1, 1, 0, 0]; short head = floor(0.2*5) = item 0
    assert r["arp"][2] == pytest.approx(((1 + 0) / 2 + (0 + 0) / 2) / 2)
    assert r["aplt"][2] == pytest.approx(1.0)
    assert r["novelty"][2] == pytest.approx(math.log2(3.0), rel=1e-6)

  def test_several_cutoffs_and_chunk_sizes_agree(self):
    ref = self._evaluate(ks=(1, 2, 3))
    for chunk in (1, 2, 7):
      r = self._evaluate(ks=(3, 1, 2), chunk_size=chunk)
      for m in ("hr", "ndcg", "coverage", "gini", "arp"):
        for k in (1, 2, 3):
          assert r[m][k] == pytest.approx(ref[m][k], abs=1e-6), (m, k, chunk)
    # k=3: u0 [2,3,4] hit at 2; u1 [4,3,0] hit at 3
    assert ref["hr"][3] == pytest.approx(1.0)
    assert ref["mrr"][3] == pytest.approx((0.5 + 1 / 3) / 2)

  def test_training_items_never_recommended(self):
    items, valid = metrics.recommend(DENSE, self.scores, self.train, 4)
    np.testing.assert_array_equal(items[0][valid[0]], [2, 3, 4, 1])
    np.testing.assert_array_equal(items[1][valid[1]], [4, 3, 0])  # only 3 unseen items
    assert valid[1].tolist() == [True, True, True, False]
    np.testing.assert_array_equal(items[2], [4, 3, 2, 1])

  def test_bad_k(self):
    with pytest.raises(ValueError, match="larger than the catalogue"):
      self._evaluate(ks=(6,))
    with pytest.raises(ValueError, match="k must be an integer >= 1, got 0"):
      self._evaluate(ks=(0,))

  def test_no_test_users(self):
    empty = _index(np.zeros((0, 2)), 3, 5)
    with pytest.raises(ValueError, match="no user has a test item"):
      metrics.evaluate(DENSE, self.scores, self.train, empty, ks=(2,))

  def test_mismatched_id_spaces(self):
    other = _index([[0, 3]], 3, 6)
    with pytest.raises(ValueError, match="differ"):
      metrics.evaluate(DENSE, self.scores, self.train, other, ks=(2,))


def test_constant_scores_rank_like_random():
  """A model that scores every item equally must not beat a random ranking.

  Every user trained on item 0 and tests on item 1: lowest-id-first tie breaking would put
  item 1 first for everyone (HR@10 = 1). Random tie breaking gives about 10 / 99.
  """
  num_users, num_items, k = 3000, 100, 10
  users = np.arange(num_users)
  train = build_index(users, np.zeros(num_users, int), num_users=num_users, num_items=num_items)
  test = build_index(users, np.ones(num_users, int), num_users=num_users, num_items=num_items)
  constant = jnp.zeros((num_users, num_items))
  r = metrics.evaluate(DENSE, constant, train, test, ks=(k,))
  expected = k / (num_items - 1)
  sd = math.sqrt(expected * (1 - expected) / num_users)
  assert abs(r["hr"][k] - expected) < 4 * sd
  # and lists differ across users: coverage of the whole unseen catalogue
  assert r["coverage"][k] == pytest.approx(0.99)
  # a different tie key gives a different draw but the same expectation
  r2 = metrics.evaluate(DENSE, constant, train, test, ks=(k,), tie_key=jax.random.key(7))
  assert r2["hr"][k] != r["hr"][k]
  assert abs(r2["hr"][k] - expected) < 4 * sd


def test_popularity_metrics_per_user():
  items = np.array([[0, 1, 2], [3, 3, 3]])
  valid = np.array([[True, True, False], [True, True, True]])
  pop = np.array([8.0, 2.0, 0.0, 1.0])
  tail = np.array([False, True, True, True])
  m = metrics.popularity_at_k(items, valid, pop, tail, num_users=16, k=3)
  np.testing.assert_allclose(m["arp"], [5.0, 1.0])
  np.testing.assert_allclose(m["aplt"], [0.5, 1.0])
  np.testing.assert_allclose(m["novelty"], [(1 + 3) / 2, 4.0])


def test_long_tail_split():
  tail = metrics.long_tail_items(np.array([5, 1, 5, 0, 9, 2, 2, 2, 0, 3]), 0.2)
  np.testing.assert_array_equal(np.flatnonzero(~tail), [0, 4])  # 9, then 5 (lowest id of ties)
  with pytest.raises(ValueError):
    metrics.long_tail_items(np.ones(3), 1.5)


def test_partial_ties_are_broken_uniformly_per_user():
  """10 items tie at the top and 10 score lower: each tied item leads ~10% of the lists, and
  every ordered pair of tied items can occupy the first two slots."""
  num_users, num_items = 20000, 20
  scores = jnp.concatenate([jnp.ones((num_users, 10)), jnp.zeros((num_users, 10))], axis=1)
  train = build_index(np.zeros(0, int), np.zeros(0, int), num_users=num_users,
                      num_items=num_items)
  items, valid = metrics.recommend(DENSE, scores, train, 2, chunk_size=4096)
  assert valid.all() and (items < 10).all()
  share = np.bincount(items[:, 0], minlength=10) / num_users
  sd = math.sqrt(0.1 * 0.9 / num_users)
  assert np.all(np.abs(share - 0.1) < 5 * sd), share
  pairs = {(a, b) for a, b in items}
  assert len(pairs) == 90


def test_top_k_random_ties_orders_by_score_then_priority():
  scores = jnp.array([[1.0, 3.0, 3.0, 2.0, 3.0, -jnp.inf]])
  users, seed = jnp.array([4]), jnp.uint32(9)
  prio = np.asarray(metrics.tie_priority(seed, users, jnp.arange(6)[None, :]))[0]
  tied = sorted([1, 2, 4], key=lambda i: -prio[i])
  np.testing.assert_array_equal(metrics.top_k_random_ties(scores, users, seed, 4),
                                [tied + [3]])
  np.testing.assert_array_equal(metrics.top_k_random_ties(scores, users, seed, 2), [tied[:2]])
  # priorities depend on (seed, user, item) only
  again = metrics.tie_priority(seed, jnp.array([4, 0]), jnp.arange(6)[None, :])
  np.testing.assert_array_equal(again[0], prio)
  assert not np.array_equal(again[1], prio)


def test_nan_scores_are_an_error():
  train = _index([[0, 0]], 2, 4)
  test = _index([[0, 1], [1, 2]], 2, 4)
  bad = jnp.array([[0.1, jnp.nan, 0.3, 0.2], [0.0, 0.1, 0.2, 0.3]])
  with pytest.raises(ValueError, match="NaN for 1 user-item pairs"):
    metrics.evaluate(DENSE, bad, train, test, ks=(2,))
  with pytest.raises(ValueError, match="NaN"):
    metrics.recommend(DENSE, bad, train, 2)


def test_non_integer_k_is_an_error():
  train = _index([[0, 0]], 2, 4)
  with pytest.raises(ValueError, match="k must be an integer, got 2.5"):
    metrics.evaluate(DENSE, jnp.zeros((2, 4)), train, train, ks=(2.5,))


class TestTargetExposure:
  """Same toy problem as TestEvaluate: unseen rankings u0: 2,3,4,1; u1: 4,3,0; u2: 4,3,2,1,0."""

  def _exposure(self, targets, **kw):
    return metrics.target_exposure(DENSE, TestEvaluate.scores, TestEvaluate.train,
                                   targets, **kw)

  def test_population_excludes_users_who_have_the_target(self):
    # item 0: u0 and u2 trained on it -> only u1 is eligible (rank 3)
    r = self._exposure([0], ks=(2, 3))[0]
    assert r["eligible_users"][None] == 1
    assert r["target_hr"] == {2: 0.0, 3: 1.0}
    assert r["target_rank"][None] == 3.0
    assert r["target_ndcg"][3] == pytest.approx(0.5)
    assert r["target_score"][None] == pytest.approx(1.0)

  def test_hand_computed_ranks_and_ties(self):
    # item 3: eligible u0 (rank 2), u1 (rank 2), u2 (rank 2) -> hr@2 = 1, ndcg@2 = 1/log2(3)
    # item 1: u0 rank 4, u2 rank 4 (u1 trained on it)
    r3, r1 = self._exposure([3, 1], ks=(2,))
    assert r3["eligible_users"][None] == 3 and r3["target_rank"][None] == 2.0
    assert r3["target_ndcg"][2] == pytest.approx(1 / LOG2_3)
    assert r1["eligible_users"][None] == 2 and r1["target_hr"][2] == 0.0
    assert r1["target_rank"][None] == 4.0
    assert r1["target_score"][None] == pytest.approx((1.0 + 1.0) / 2)

  def test_rank_agrees_with_the_lists_under_ties(self):
    num_users, num_items = 500, 12
    scores = jnp.asarray(np.random.default_rng(0).integers(0, 3, (num_users, num_items)),
                         jnp.float32)  # many ties
    train = build_index(np.arange(num_users), np.arange(num_users) % num_items,
                        num_users=num_users, num_items=num_items)
    items, _ = metrics.recommend(DENSE, scores, train, 3)
    r = metrics.target_exposure(DENSE, scores, train, [5], ks=(3,))[0]
    eligible = (np.arange(num_users) % num_items) != 5
    expected = np.mean((items[eligible] == 5).any(axis=1))
    assert r["target_hr"][3] == pytest.approx(expected)

  def test_bad_targets(self):
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 5\), got ids from 5 to 5"):
      self._exposure([5])
    with pytest.raises(ValueError, match="integer"):
      self._exposure([1.5])


# ---------------------------------------------------------------------------------------------
# bad inputs: cut-offs, target lists, catalogue sizes (eager and under jit)
# ---------------------------------------------------------------------------------------------
BAD_K = [(0, r"k must be an integer >= 1, got 0"), (-2, r"k must be an integer >= 1, got -2"),
         (2.5, r"k must be an integer, got 2.5"), (np.float32(1.5), r"k must be an integer"),
         (True, r"k must be an integer, got True"), (6, r"k=6 is larger than the catalogue")]


def _cutoff_calls(k):
  """Every public metric that takes a cut-off, with the bad ``k``; ``params`` as argument."""
  e = TestEvaluate
  return {
      "evaluate": lambda p: metrics.evaluate(DENSE, p, e.train, e.test, ks=(k,)),
      "evaluate_int": lambda p: metrics.evaluate(DENSE, p, e.train, e.test, ks=k),
      "target_exposure": lambda p: metrics.target_exposure(DENSE, p, e.train, [3], ks=(k,)),
      "recommend": lambda p: metrics.recommend(DENSE, p, e.train, k),
  }


@pytest.mark.parametrize("call", ["evaluate", "evaluate_int", "target_exposure", "recommend"])
@pytest.mark.parametrize("k, message", BAD_K, ids=[repr(k) for k, _ in BAD_K])
def test_bad_cutoff_is_an_error_eagerly_and_at_trace_time(call, k, message):
  fn = _cutoff_calls(k)[call]
  with pytest.raises(ValueError, match=message):
    fn(TestEvaluate.scores)
  # k is static: the same error while tracing, even under plain jit
  with pytest.raises(ValueError, match=message):
    jax.jit(fn)(TestEvaluate.scores)
  with pytest.raises(ValueError, match=message):
    jaxrec.checked(jax.jit(fn))(TestEvaluate.scores)


def test_empty_cutoff_list_and_valid_numpy_cutoffs():
  e = TestEvaluate
  with pytest.raises(ValueError, match="ks must name at least one cut-off"):
    metrics.evaluate(DENSE, e.scores, e.train, e.test, ks=())
  with pytest.raises(ValueError, match="ks must name at least one cut-off"):
    metrics.target_exposure(DENSE, e.scores, e.train, [3], ks=())
  # integral NumPy numbers are valid cut-offs and give the same numbers as Python ints
  ref = metrics.evaluate(DENSE, e.scores, e.train, e.test, ks=(2,))
  got = metrics.evaluate(DENSE, e.scores, e.train, e.test, ks=(np.int64(2),))
  assert got["hr"][2] == ref["hr"][2] and got["ndcg"][2] == ref["ndcg"][2]
  items, _ = metrics.recommend(DENSE, e.scores, e.train, np.int32(4))
  np.testing.assert_array_equal(items, metrics.recommend(DENSE, e.scores, e.train, 4)[0])


@pytest.mark.parametrize("empty", [[], np.zeros(0, np.int32), jnp.zeros(0, jnp.int32), ()],
                         ids=["list", "numpy", "jax", "tuple"])
def test_empty_target_list_is_an_error(empty):
  e = TestEvaluate
  with pytest.raises(ValueError, match="targets must not be empty"):
    metrics.target_exposure(DENSE, e.scores, e.train, empty)
  # static (the length is a shape): raised while tracing, even under plain jit
  with pytest.raises(ValueError, match="targets must not be empty"):
    jax.jit(lambda p: metrics.target_exposure(DENSE, p, e.train, empty))(e.scores)
  ev = metrics.make_target_evaluator(e.train, ks=(2,))
  with pytest.raises(ValueError, match="targets must not be empty"):
    jax.jit(lambda p, t: ev.raw(DENSE, p, t))(e.scores, jnp.asarray(empty, jnp.int32))


def test_traced_target_values_are_checked_under_checked_jit():
  e = TestEvaluate
  ev = metrics.make_target_evaluator(e.train, ks=(2,))
  raw = jaxrec.checked(jax.jit(lambda p, t: ev.raw(DENSE, p, t)))
  with pytest.raises(ValueError, match=r"targets must lie in \[0, 5\), got ids from 3 to 7"):
    raw(e.scores, jnp.array([3, 7]))
  with pytest.raises(ValueError, match="targets repeats an id"):
    raw(e.scores, jnp.array([3, 3]))
  # valid traced targets: the same numbers as the host-side function
  got = ev.summarize(raw(e.scores, jnp.array([3, 1])))
  want = metrics.target_exposure(DENSE, e.scores, e.train, [3, 1], ks=(2,))
  assert got == want


@pytest.mark.parametrize("model_items", [4, 6])
def test_model_catalogue_must_match_the_evaluation(model_items):
  """A model over another catalogue than the evaluation's train index is a ValueError (static:
  also at trace time), for a model that checks its data (BPR-MF) and one that does not."""
  e = TestEvaluate  # 3 users, 5 items
  mf = models.mf(dim=2)
  mf_params = mf.init(jax.random.key(0), build_index([0], [0], num_users=3,
                                                      num_items=model_items))
  wide = jnp.zeros((3, model_items))
  mf_message = f"the model's catalogue covers {model_items} items, but the data has 5"
  dense_message = f"the model scores {model_items} items, but the evaluation's catalogue has 5"
  ev = metrics.make_evaluator(e.train, e.test, ks=(2,))
  target_ev = metrics.make_target_evaluator(e.train, ks=(2,))
  for model, params, message in ((mf, mf_params, mf_message), (DENSE, wide, dense_message)):
    with pytest.raises(ValueError, match=message):
      metrics.evaluate(model, params, e.train, e.test, ks=(2,))
    with pytest.raises(ValueError, match=message):
      metrics.target_exposure(model, params, e.train, [3], ks=(2,))
    with pytest.raises(ValueError, match=message):
      metrics.recommend(model, params, e.train, 2)
    # the traceable evaluators inside jit: a shape, so raised while tracing
    with pytest.raises(ValueError, match=message):
      jax.jit(lambda p: ev.raw(model, p))(params)
    with pytest.raises(ValueError, match=message):
      jax.jit(lambda p: target_ev.raw(model, p, jnp.array([3])))(params)
  # the model's own data passed explicitly: BPR-MF's check passes, the evaluation still rejects
  # the catalogue it would rank
  other = build_index([0], [0], num_users=3, num_items=model_items)
  for fn in (lambda: metrics.evaluate(mf, mf_params, e.train, e.test, data=other, ks=(2,)),
             lambda: metrics.target_exposure(mf, mf_params, e.train, [3], data=other, ks=(2,)),
             lambda: metrics.recommend(mf, mf_params, e.train, 2, data=other)):
    with pytest.raises(ValueError, match=dense_message):
      fn()


# ---------------------------------------------------------------------------------------------
# graded test relevance: rows rated <= 0 are never hits
# ---------------------------------------------------------------------------------------------
class TestGradedRelevance:
  """TestEvaluate's scores and train (unseen rankings u0: 2,3,4,1; u1: 4,3,0; u2: 4,3,2,1),
  test data with ratings:

    u0: item 3 rated 0 (rank 2), item 4 rated 2 (rank 3)
    u1: item 0 rated 5 (rank 3)
    u2: item 4 rated -1 (rank 1)

  Relevant: u0 {4}, u1 {0}; u2 has no relevant item and is not evaluated (2 users).
  k=2: u0 [2, 3] and u1 [4, 3] hold no relevant item: HR@2 = 0 (counting every row, u0 and u2
  would hit: 2/3). k=3: u0 [2, 3, 4] hit at rank 3, u1 [4, 3, 0] hit at rank 3: HR@3 = 1,
  precision@3 = 1/3, recall@3 = 1 (one relevant item each), nDCG@3 = 1/log2(4) = 0.5,
  MRR@3 = 1/3.
  """

  test = from_arrays([0, 0, 1, 2], [3, 4, 0, 4], num_users=3, num_items=5,
                     ratings=[0.0, 2.0, 5.0, -1.0])

  def test_zero_and_negative_ratings_are_never_hits(self):
    r = metrics.evaluate(DENSE, TestEvaluate.scores, TestEvaluate.train, self.test, ks=(2, 3))
    assert r["users"][0] == 2
    assert r["hr"][2] == 0.0
    assert r["precision"][2] == 0.0 and r["ndcg"][2] == 0.0 and r["mrr"][2] == 0.0
    assert r["hr"][3] == pytest.approx(1.0)
    assert r["precision"][3] == pytest.approx(1 / 3)
    assert r["recall"][3] == pytest.approx(1.0)
    assert r["ndcg"][3] == pytest.approx(0.5, rel=1e-6)
    assert r["mrr"][3] == pytest.approx(1 / 3)

  def test_relevant_index_is_the_rule(self):
    rel = metrics.relevant_index(self.test)
    assert (rel.num_users, rel.num_items) == (3, 5)
    n = int(rel.num_valid)
    pairs = sorted(zip(np.asarray(rel.users)[:n].tolist(), np.asarray(rel.items)[:n].tolist()))
    assert pairs == [(0, 4), (1, 0)]
    # evaluating the graded data equals evaluating its binary index
    a = metrics.evaluate(DENSE, TestEvaluate.scores, TestEvaluate.train, self.test, ks=(2, 3))
    b = metrics.evaluate(DENSE, TestEvaluate.scores, TestEvaluate.train, rel, ks=(2, 3))
    assert a == b
    # without ratings every row is relevant: u0 hits at k=2 (item 3), u2 too (item 4)
    unrated = self.test.replace(ratings=None)
    r = metrics.evaluate(DENSE, TestEvaluate.scores, TestEvaluate.train, unrated, ks=(2,))
    assert r["users"][0] == 3 and r["hr"][2] == pytest.approx(2 / 3)

  def test_only_non_positive_ratings_leave_nothing_to_evaluate(self):
    zero = from_arrays([0, 1], [3, 0], num_users=3, num_items=5, ratings=[0.0, -2.0])
    with pytest.raises(ValueError, match="no user has a test item"):
      metrics.evaluate(DENSE, TestEvaluate.scores, TestEvaluate.train, zero, ks=(2,))
