"""PORE: exact ensembles by enumeration, certificates against enumerated attacks, hand values."""

import dataclasses
import itertools
import math

import jax
import numpy as np
import pytest
from scipy import stats

from jaxrec.data import index_from_dense
from jaxrec.defenses._pore import (PoreEnsemble, pore_bound, pore_certified_accuracy,
                                   pore_certify, pore_ensemble, pore_recommend)

# ---------------------------------------------------------------------------------------------
# tiny problem: 6 users, 8 items, two taste groups (items 0-3 and 4-7) with a crossover user
# ---------------------------------------------------------------------------------------------
TINY = np.array([
    [1, 1, 0, 0, 0, 0, 0, 0],
    [1, 0, 1, 0, 0, 0, 0, 0],
    [0, 1, 1, 1, 0, 0, 0, 0],
    [0, 0, 0, 0, 1, 1, 0, 0],
    [0, 0, 0, 1, 1, 0, 1, 1],
    [0, 0, 0, 0, 0, 1, 1, 0],
], np.float32)
TINY_TEST = np.array([  # held-out items, disjoint from TINY
    [0, 0, 1, 1, 0, 0, 0, 0],
    [0, 1, 0, 0, 0, 0, 0, 0],
    [1, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 1, 1],
    [0, 0, 0, 0, 0, 1, 0, 0],
    [0, 0, 0, 0, 1, 0, 0, 1],
], np.float32)
S = 2


def _reference_top(x, samples, top_n_base):
  """NumPy float64 reference of the base recommender: ``(T, U, N')`` items per sample."""
  rows = x[samples]  # (T, s, I)
  gdiag = rows.sum(axis=1)  # (T, I)
  d = np.where(gdiag > 0, 1.0 / np.sqrt(np.maximum(gdiag, 1.0)), 0.0)
  a = np.einsum("ui,ti,tvi->tuv", x, d, rows)
  scores = np.einsum("tuv,tvj,tj->tuj", a, rows, d)
  scores = np.round(scores, 9)  # mathematically equal scores tie exactly
  scores = np.where(x[None] > 0, -np.inf, scores)
  order = np.argsort(-scores, axis=2, kind="stable")[:, :, :top_n_base]
  return order


def _all_samples(num_users, s=S):
  return np.array(list(itertools.product(range(num_users), repeat=s)), np.int32)


def _reference_counts(x, top_n_base, s=S):
  samples = _all_samples(x.shape[0], s)
  top = _reference_top(x.astype(np.float64), samples, top_n_base)
  counts = np.zeros(x.shape, np.int64)
  for t in range(top.shape[0]):
    for u in range(x.shape[0]):
      counts[u, top[t, u]] += 1
  return counts, samples.shape[0]


def _reference_top_n(counts, seen, n):
  score = np.where(seen, -1, counts)
  return np.argsort(-score, axis=1, kind="stable")[:, :n]


def _candidate_profiles(num_items, max_size=2):
  out = [np.zeros(num_items, np.float32)]
  for size in range(1, max_size + 1):
    for items in itertools.combinations(range(num_items), size):
      p = np.zeros(num_items, np.float32)
      p[list(items)] = 1.0
      out.append(p)
  return out


@pytest.fixture(scope="module")
def tiny_exact():
  return {n_base: pore_ensemble(index_from_dense(TINY), num_samples=S, top_n_base=n_base,
                                samples=_all_samples(TINY.shape[0]))
          for n_base in (1, 2)}


@pytest.mark.parametrize("top_n_base", [1, 2])
def test_exact_ensemble_matches_numpy_reference(tiny_exact, top_n_base):
  ens = tiny_exact[top_n_base]
  counts, t = _reference_counts(TINY, top_n_base)
  assert ens.num_models == t == 36
  np.testing.assert_array_equal(ens.counts, counts)
  np.testing.assert_array_equal(ens.counts.sum(axis=1), t * top_n_base)
  assert not ens.counts[TINY > 0].any()  # training items are never recommended
  np.testing.assert_array_equal(pore_recommend(ens, 3), _reference_top_n(counts, TINY > 0, 3))


@pytest.mark.parametrize("top_n_base,top_n", [(1, 2), (1, 3), (2, 3)])
def test_certificate_survives_enumerated_attacks(tiny_exact, top_n_base, top_n):
  """Every certified item count holds against every fake-profile set tried (e = 1, 2)."""
  ens = tiny_exact[top_n_base]
  seen = TINY > 0
  clean_top = _reference_top_n(ens.counts, seen, top_n)
  test = index_from_dense(TINY_TEST)
  r_top = pore_certify(ens, [1, 2], top_n=top_n, exact=True)
  r_test = pore_certify(ens, [1, 2], top_n=top_n, exact=True, relevant=test)
  assert r_top[0].sum() > 0 and r_test[0].sum() > 0  # something is certified at e = 1
  assert np.all(r_top[1] <= r_top[0])
  profiles = _candidate_profiles(TINY.shape[1])
  worst_top = np.full(TINY.shape[0], top_n)
  worst_test = np.full(TINY.shape[0], top_n)
  for e, combos in ((1, [(p,) for p in profiles]),
                    (2, itertools.combinations_with_replacement(profiles, 2))):
    for fakes in combos:
      x = np.concatenate([TINY, np.stack(fakes)])
      counts, _ = _reference_counts(x, top_n_base)
      top = _reference_top_n(counts[:6], seen, top_n)
      kept = np.array([len(set(top[u]) & set(clean_top[u])) for u in range(6)])
      hits = np.array([TINY_TEST[u, top[u]].sum() for u in range(6)])
      assert np.all(kept >= r_top[e - 1]), (e, fakes, kept, r_top[e - 1])
      assert np.all(hits >= r_test[e - 1]), (e, fakes, hits, r_test[e - 1])
      if e == 1:
        worst_top = np.minimum(worst_top, kept)
        worst_test = np.minimum(worst_test, hits)
  # the search is a real attack: some user loses recommended items at e = 1
  assert np.any(worst_top < top_n)


def test_bound_by_hand():
  assert pore_bound(10, 1, 2) == pytest.approx(1 - (10 / 11) ** 2)  # 21/121
  assert pore_bound(10, 1, 2) == pytest.approx(21 / 121, rel=1e-12)
  assert pore_bound(943, 0, 200) == 0.0
  np.testing.assert_allclose(pore_bound(6, np.array([1, 2]), 2), [1 - 36 / 49, 1 - 36 / 64])
  assert pore_bound(100, 5, 1) == pytest.approx(5 / 105)  # one draw: a fake with prob e/(n+e)


def _hand_ensemble(counts, top_n_base=1, t=100, n=10, s=2):
  counts = np.asarray([counts], np.int32)
  return PoreEnsemble(counts=counts, seen=np.zeros(counts.shape, bool), num_models=t,
                      num_samples=s, num_users=n, top_n_base=top_n_base)


def test_certified_size_by_hand():
  # p = (.6, .3, .1, 0, 0), n = 10, s = 2, N = 2, N' = 1; Good = {0, 1}, Bad = {2, 3, 4}
  # e = 1: beta = 100/121. r = 2 needs c = 1 Bad item to reach beta*.3 = .2479: .1*beta + delta =
  #   .2562 >= .2479 and the mass .2479 - .0826 = .1653 <= delta = .1736 -> attackable, r = 1
  #   (r = 1: c = 2 Bad items must reach beta*.6 = .4959, the second best reaches only .1736).
  # e = 3: beta = 100/169 = .5917, delta = .4083; r = 1: both Bad items reach .3550 one by one
  #   (delta >= .3550), but together they need (.3550 - .0592) + .3550 = .6509 > 1 * delta -> r = 1.
  #   With N' = 2 a base model may push both: .6509 <= 2 * delta -> r = 0.
  # e = 5: beta = 4/9, delta = 5/9; (.2667 - .0444) + .2667 = .4889 <= delta -> r = 0.
  ens = _hand_ensemble([60, 30, 10, 0, 0])
  np.testing.assert_array_equal(pore_certify(ens, [0, 1, 2, 3, 5], top_n=2, exact=True)[:, 0],
                                [2, 1, 1, 1, 0])
  assert pore_certify(_hand_ensemble([60, 30, 10, 0, 0], top_n_base=2), 3, top_n=2,
                      exact=True)[0] == 0
  np.testing.assert_array_equal(pore_recommend(ens, 2), [[0, 1]])


def test_monte_carlo_bounds_are_clopper_pearson_and_conservative():
  ens = _hand_ensemble([60, 30, 10, 0, 0], t=100)
  level = 0.01 / (2 * 5)
  lo = stats.beta.ppf(level, 60, 41)
  hi = stats.beta.ppf(1 - level, 11, 90)
  assert lo < 0.6 and hi > 0.1
  # N = 1, e = 0: certified iff the lower bound of item 0 beats the upper bound of item 1
  hi1 = stats.beta.ppf(1 - level, 31, 70)
  assert pore_certify(ens, 0, top_n=1, alpha=0.01)[0] == int(lo > hi1)
  es = np.arange(0, 4)
  mc = pore_certify(ens, es, top_n=2, alpha=0.01)
  assert np.all(mc <= pore_certify(ens, es, top_n=2, exact=True))
  assert mc[0, 0] >= 1


def _random_index(num_users=30, num_items=20, seed=0):
  rng = np.random.default_rng(seed)
  x = (rng.random((num_users, num_items)) < 0.25).astype(np.float32)
  x[np.arange(num_users), rng.integers(0, num_items, num_users)] = 1.0
  return index_from_dense(x), x


def test_vmapped_equals_looped_and_seeded():
  train, _ = _random_index()
  kw = dict(num_models=7, num_samples=5, top_n_base=3)
  t = {}
  a = pore_ensemble(train, jax.random.key(3), lanes=2, timings=t, **kw)
  assert t["cells"] == 7 and t["programs"] == 1
  b = pore_ensemble(train, jax.random.key(3), vectorize=False, **kw)
  c = pore_ensemble(train, jax.random.key(3), lanes=4, **kw)
  d = pore_ensemble(train, jax.random.key(4), lanes=2, **kw)
  np.testing.assert_array_equal(a.counts, b.counts)
  np.testing.assert_array_equal(a.counts, c.counts)
  assert not np.array_equal(a.counts, d.counts)
  np.testing.assert_array_equal(a.counts.sum(axis=1), 7 * 3)
  np.testing.assert_array_equal(pore_certify(a, [0, 1], top_n=4),
                                pore_certify(b, [0, 1], top_n=4))


def test_certified_accuracy_averages_certified_sizes(tiny_exact):
  ens = tiny_exact[1]
  test = index_from_dense(TINY_TEST)
  out = pore_certified_accuracy(ens, test, [0, 1, 2], top_n=2, exact=True)
  r = pore_certify(ens, [0, 1, 2], top_n=2, relevant=test, exact=True)
  assert out["users"] == 6
  np.testing.assert_allclose(out["precision"], r.mean(axis=1) / 2)
  np.testing.assert_allclose(out["recall"], (r / TINY_TEST.sum(axis=1)).mean(axis=1))
  assert np.all(np.diff(out["precision"]) <= 0)


def test_bad_inputs_raise_value_errors():
  train, _ = _random_index()
  key = jax.random.key(0)
  with pytest.raises(ValueError, match="num_samples"):
    pore_ensemble(train, key, num_models=2, num_samples=0)
  with pytest.raises(ValueError, match="num_models"):
    pore_ensemble(train, key, num_models=0, num_samples=2)
  with pytest.raises(ValueError, match="top_n_base"):
    pore_ensemble(train, key, num_models=2, num_samples=2, top_n_base=21)
  with pytest.raises(ValueError, match="samples must lie in"):
    pore_ensemble(train, num_samples=2, samples=[[0, 30]])
  with pytest.raises(ValueError, match="num_samples=2 columns"):
    pore_ensemble(train, num_samples=2, samples=[[0, 1, 2]])
  with pytest.raises(ValueError, match="exactly one of key"):
    pore_ensemble(train, num_samples=2)
  with pytest.raises(ValueError, match="PositiveIndex"):
    pore_ensemble(np.zeros((3, 3)), key, num_models=2, num_samples=2)
  ens = pore_ensemble(train, key, num_models=3, num_samples=4)
  with pytest.raises(ValueError, match="top_n"):
    pore_certify(ens, 1, top_n=21)
  with pytest.raises(ValueError, match="top_n"):
    pore_recommend(ens, 0)
  for alpha in (0.0, 1.0, -0.5, float("nan")):
    with pytest.raises(ValueError, match="alpha"):
      pore_certify(ens, 1, top_n=5, alpha=alpha)
  with pytest.raises(ValueError, match="fake_users"):
    pore_certify(ens, -1, top_n=5)
  with pytest.raises(ValueError, match="fake_users"):
    pore_certify(ens, 1.5, top_n=5)
  with pytest.raises(ValueError, match="num_users"):
    pore_bound(0, 1, 2)
  small, _ = _random_index(num_users=29)
  with pytest.raises(ValueError, match="relevant covers 29 users"):
    pore_certify(ens, 1, top_n=5, relevant=small)
  with pytest.raises(ValueError, match="counts must lie in"):
    pore_certify(dataclasses.replace(ens, counts=ens.counts + 10), 1, top_n=5)


def test_exact_probabilities_sum_to_top_n_base(tiny_exact):
  for n_base, ens in tiny_exact.items():
    np.testing.assert_allclose(ens.probabilities.sum(axis=1), n_base)
    assert math.isclose(float(ens.probabilities.max()), ens.counts.max() / 36)
