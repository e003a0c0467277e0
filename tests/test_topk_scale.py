"""Two-stage top-k (metrics.top_k_dot): hand-checked lists, a dense reference with planted ties
for several block and chunk sizes, masked items, recommend's equivalence, input checks, and a
catalogue split over 4 forced CPU devices (a subprocess) giving the one-device lists."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec import data, metrics, models, sharding

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _priorities(num_users, num_items, tie_key=None):
  return np.asarray(metrics.tie_priority(metrics.tie_seed(tie_key), jnp.arange(num_users),
                                         jnp.arange(num_items)[None, :]))


def _reference(uv, iv, bias, seen, k, tie_key=None):
  """Dense float64 scores, seen items last, then argsort by (score, priority, -id)."""
  s = uv.astype(np.float64) @ iv.T.astype(np.float64) + bias
  s[seen] = -np.inf
  p = _priorities(*s.shape, tie_key)
  ids = np.arange(s.shape[1])
  items = np.stack([np.lexsort((ids, -p[u], -s[u]))[:k] for u in range(s.shape[0])])
  return items, np.take_along_axis(s, items, axis=1) > -np.inf


def _tied_problem(num_users=29, num_items=203, dim=6, seed=0):
  """Small-integer vectors (exact float32 scores, so many exact ties), duplicated item rows, a
  user who has seen all but 4 items, and random training positives."""
  rng = np.random.default_rng(seed)
  uv = rng.integers(-2, 3, size=(num_users, dim)).astype(np.float32)
  iv = rng.integers(-2, 3, size=(num_items, dim)).astype(np.float32)
  bias = rng.integers(-1, 2, size=num_items).astype(np.float32)
  iv[100:140], bias[100:140] = iv[7], bias[7]  # 41 copies of item 7: ties across blocks
  users = np.concatenate([rng.integers(1, num_users, 600), np.zeros(num_items - 4, int)])
  items = np.concatenate([rng.integers(0, num_items, 600), np.arange(4, num_items)])
  seen = np.zeros((num_users, num_items), bool)
  seen[users, items] = True
  train = data.build_index(users, items, num_users=num_users, num_items=num_items)
  return uv, iv, bias, train, seen


def test_hand_checked_lists():
  # scores of user 0: [2, 3, 1, 3, 0] + bias [0, 0, 0, 0, 1] = [2, 3, 1, 3, 1]; user 1: -1 x
  uv = np.array([[1.0, 0.0], [-1.0, 0.0]], np.float32)
  iv = np.array([[2, 0], [3, 0], [1, 0], [3, 0], [0, 0]], np.float32)
  bias = np.array([0, 0, 0, 0, 1], np.float32)
  train = data.build_index([0, 1], [0, 4], num_users=2, num_items=5)
  items, valid = metrics.top_k_dot(uv, iv, 3, item_bias=bias, train=train, block_size=2)
  p = _priorities(2, 5)
  # user 0: items 1 and 3 tie at 3 (higher priority first); item 0 (score 2) is a training
  # item; then 2 and 4 tie at 1 for the last slot
  first = [1, 3] if p[0, 1] > p[0, 3] else [3, 1]
  third = 2 if p[0, 2] > p[0, 4] else 4
  assert items[0].tolist() == first + [third]
  # user 1: scores [-2, -3, -1, -3, 1]; item 4 is a training item
  assert items[1].tolist() == [2, 0, 1 if p[1, 1] > p[1, 3] else 3]
  assert valid.all()


@pytest.mark.parametrize("block_size,chunk_size", [(1, 7), (24, 29), (50, 4), (4096, 16)])
def test_equals_dense_reference_with_ties(block_size, chunk_size):
  uv, iv, bias, train, seen = _tied_problem()
  want, want_valid = _reference(uv, iv, bias, seen, 10)
  items, valid = metrics.top_k_dot(uv, iv, 10, item_bias=bias, train=train,
                                   block_size=block_size, chunk_size=chunk_size)
  np.testing.assert_array_equal(items, want)
  np.testing.assert_array_equal(valid, want_valid)
  assert valid[0].sum() == 4 and not valid[0, 4:].any()  # the user with 4 unseen items
  # no training item in a valid slot
  assert not seen[np.arange(len(items))[:, None], items][valid].any()
  assert items.dtype == np.int32 and valid.dtype == bool


def test_tie_key_and_no_bias_no_train():
  uv, iv, _, _, _ = _tied_problem(seed=1)
  key = jax.random.key(7)
  want, _ = _reference(uv, iv, 0.0, np.zeros((len(uv), len(iv)), bool), 5, tie_key=key)
  items, valid = metrics.top_k_dot(uv, iv, 5, tie_key=key, block_size=64)
  np.testing.assert_array_equal(items, want)
  assert valid.all()
  other, _ = metrics.top_k_dot(uv, iv, 5, block_size=64)
  assert (other != items).any()  # another tie key orders the tied copies of item 7 otherwise


def test_recommend_of_mf_equals_the_two_stage_path_and_lightgcn_vectors():
  rng = np.random.default_rng(3)
  num_users, num_items = 40, 300
  users, items = rng.integers(0, num_users, 900), rng.integers(0, num_items, 900)
  train = data.build_index(users, items, num_users=num_users, num_items=num_items)
  mf = models.mf(dim=8)
  params = mf.init(jax.random.key(0), train)
  params = params.replace(item_bias=jnp.asarray(rng.normal(size=num_items), jnp.float32) * 0.01)
  want, want_valid = metrics.recommend(mf, params, train, 20, chunk_size=16)
  got, got_valid = metrics.recommend(mf, params, train, 20, chunk_size=16, block_size=100)
  np.testing.assert_array_equal(got, want)
  np.testing.assert_array_equal(got_valid, want_valid)
  gcn = models.lightgcn(dim=8, num_layers=2)
  gp = gcn.init(jax.random.key(1), train)
  uvec, ivec, bias = gcn.dot_vectors(gp, train)
  assert bias is None and uvec.shape == (num_users, 8) and ivec.shape == (num_items, 8)
  np.testing.assert_allclose(uvec[:5] @ ivec.T, gcn.score_all(gp, train, jnp.arange(5)),
                             rtol=1e-5, atol=1e-6)


def test_input_checks():
  uv, iv, bias, train, _ = _tied_problem()
  with pytest.raises(ValueError, match="k=204 is larger"):
    metrics.top_k_dot(uv, iv, 204)
  with pytest.raises(ValueError, match="k must be an integer >= 1"):
    metrics.top_k_dot(uv, iv, 0)
  with pytest.raises(ValueError, match="chunk_size"):
    metrics.top_k_dot(uv, iv, 3, chunk_size=0)
  with pytest.raises(ValueError, match="block_size"):
    metrics.top_k_dot(uv, iv, 3, block_size=0)
  with pytest.raises(ValueError, match="dimension"):
    metrics.top_k_dot(uv, iv[:, :5], 3)
  with pytest.raises(ValueError, match="item_bias must have shape"):
    metrics.top_k_dot(uv, iv, 3, item_bias=bias[:-1])
  with pytest.raises(ValueError, match="item_bias must be finite"):
    metrics.top_k_dot(uv, iv, 3, item_bias=np.full_like(bias, np.inf))
  with pytest.raises(ValueError, match="user_vectors must hold no NaN"):
    metrics.top_k_dot(np.full_like(uv, np.nan), iv, 3)
  with pytest.raises(ValueError, match="train"):
    metrics.top_k_dot(uv[:-1], iv, 3, train=train)
  other = jax.make_mesh((1,), ("x",), axis_types=(jax.sharding.AxisType.Explicit,))
  with pytest.raises(ValueError, match="mesh must be"):
    metrics.top_k_dot(uv, iv, 3, mesh=other)
  pop = models.popularity()
  with pytest.raises(ValueError, match="dot_vectors"):
    metrics.recommend(pop, pop.init(jax.random.key(0), train), train, 3, block_size=8)
  # inf - inf: a NaN score is an error, as in recommend
  bad = uv.copy()
  bad[0] = np.inf
  iv2 = iv.copy()
  iv2[:, 0], iv2[:, 1] = 1.0, -1.0
  with pytest.raises(ValueError, match="NaN"):
    metrics.top_k_dot(bad, iv2, 3)


def test_mesh_of_one_device_gives_the_same_lists():
  uv, iv, bias, train, _ = _tied_problem()
  want, _ = metrics.top_k_dot(uv, iv, 10, item_bias=bias, train=train, block_size=48)
  got, _ = metrics.top_k_dot(uv, iv, 10, item_bias=bias, train=train, block_size=48,
                             mesh=sharding.make_mesh(1, 1))
  np.testing.assert_array_equal(got, want)


_FOUR_DEVICES = textwrap.dedent("""
    import json, sys
    import numpy as np, jax
    sys.path.insert(0, "tests")
    from test_topk_scale import _tied_problem
    from jaxrec import metrics, models, sharding
    assert len(jax.devices()) == 4
    uv, iv, bias, train, _ = _tied_problem(num_users=31, num_items=1001, dim=6, seed=2)
    iv[900:] = iv[3]; bias[900:] = bias[3]  # ties spread over the last two shards
    out = {}
    for name, mesh, block in (("one", None, 64), ("items4", sharding.make_mesh(1, 4), 64),
                              ("items4", sharding.make_mesh(1, 4), 4096),
                              ("cells2_items2", sharding.make_mesh(2, 2), 64)):
      items, valid = metrics.top_k_dot(uv, iv, 12, item_bias=bias, train=train, chunk_size=8,
                                       block_size=block, mesh=mesh)
      out[f"{name}/{block}"] = [items.tolist(), valid.tolist()]
    mf = models.mf(dim=6)  # random float factors
    params = mf.init(jax.random.key(0), train)
    out["mf/recommend"] = metrics.recommend(mf, params, train, 12, chunk_size=8)[0].tolist()
    out["mf/items4"] = metrics.recommend(mf, params, train, 12, chunk_size=8,
                                         mesh=sharding.make_mesh(1, 4))[0].tolist()
    print(json.dumps(out))
""")


def test_four_devices_row_sharded_catalogue_gives_the_one_device_lists():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
             JAX_PLATFORMS="cpu", PYTHONPATH=REPO)
  proc = subprocess.run([sys.executable, "-c", _FOUR_DEVICES], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  ref = out["one/64"]
  uv, iv, bias, train, seen = _tied_problem(num_users=31, num_items=1001, dim=6, seed=2)
  iv[900:], bias[900:] = iv[3], bias[3]
  want, want_valid = _reference(uv, iv, bias, seen, 12)
  np.testing.assert_array_equal(np.array(ref[0]), want)
  np.testing.assert_array_equal(np.array(ref[1]), want_valid)
  for name in ("items4/64", "items4/4096", "cells2_items2/64"):
    assert out[name] == ref, name
  assert out["mf/items4"] == out["mf/recommend"]
