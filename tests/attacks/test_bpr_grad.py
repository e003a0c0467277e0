"""The closed-form gradient of the summed BPR loss (evasion/_bpr_grad.py): every layout gives
the value and derivatives of reverse-mode autodiff of the per-triple formula, padding triples
of weight 0 change nothing, and perturb_embeddings is unchanged."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxrec import data, models
from jaxrec.attacks import evasion
from jaxrec.attacks.evasion import _bpr_grad
from jaxrec.attacks.evasion._bpr_grad import bpr_sum, choose_layout

U, I, D, N = 6, 8, 5, 50
LAYOUTS = ("sparse", "dense")


def _problem(seed=0, n=N):
  k = jax.random.split(jax.random.key(seed), 7)
  p = jax.random.normal(k[0], (U, D))
  q = jax.random.normal(k[1], (I, D))
  b = jax.random.normal(k[2], (I,))
  # repeated users, items and whole triples, i == j triples: every scatter has collisions
  u = jax.random.randint(k[3], (n,), 0, U)
  i = jax.random.randint(k[4], (n,), 0, I)
  j = jax.random.randint(k[5], (n,), 0, I).at[:3].set(i[:3])
  w = jax.random.uniform(k[6], (n,), minval=0.1, maxval=2.0)
  return p, q, b, u, i, j, w


def _loss(layout, u, i, j):
  return lambda p, q, b, w: bpr_sum(p, q, b, u, i, j, w, layout=layout)


@pytest.fixture(params=["one_chunk", "padded_chunks"])
def chunks(request, monkeypatch):
  """The sparse layout in one chunk, or in chunks of 16 triples (50 = 3 x 16 + 2: padding)."""
  if request.param == "padded_chunks":
    monkeypatch.setattr(_bpr_grad, "_CHUNK_ELEMENTS", 16 * D)
    monkeypatch.setattr(_bpr_grad, "_MIN_CHUNK", 1)
  return request.param


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("transform", [lambda f: f, jax.jit], ids=["eager", "jit"])
def test_value_and_gradient_equal_autodiff(layout, transform, chunks):
  p, q, b, u, i, j, w = _problem()
  want = jax.value_and_grad(_loss("autodiff", u, i, j), argnums=(0, 1, 2, 3))(p, q, b, w)
  got = transform(jax.value_and_grad(_loss(layout, u, i, j), argnums=(0, 1, 2, 3)))(p, q, b, w)
  for a, r in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, r, rtol=2e-5, atol=2e-5)
  # a NumPy float64 reference of the closed form (not JAX's autodiff)
  p64, q64, b64, w64 = (np.asarray(x, np.float64) for x in (p, q, b, w))
  un, iN, jn = (np.asarray(x) for x in (u, i, j))
  x = np.sum(p64[un] * (q64[iN] - q64[jn]), 1) + b64[iN] - b64[jn]
  g = -w64 / (1 + np.exp(x))
  gp = np.zeros((U, D))
  np.add.at(gp, un, g[:, None] * (q64[iN] - q64[jn]))
  gq = np.zeros((I, D))
  np.add.at(gq, iN, g[:, None] * p64[un])
  np.add.at(gq, jn, -g[:, None] * p64[un])
  np.testing.assert_allclose(got[0], np.sum(w64 * np.logaddexp(0, -x)), rtol=1e-5)
  np.testing.assert_allclose(got[1][0], gp, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(got[1][1], gq, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_finite_differences_first_and_second_order(layout, chunks):
  p, q, b, u, i, j, w = _problem(1, n=20)
  check_grads(jax.jit(_loss(layout, u, i, j)), (0.3 * p, 0.3 * q, b, w), order=2,
              modes=("fwd", "rev"), atol=1e-2, rtol=1e-2)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_zero_weight_triples_change_nothing(layout, chunks):
  p, q, b, u, i, j, w = _problem(2)
  pad = 14  # padding as attack_triples writes it (user 0, item 0) and arbitrary in-range ids
  u2 = jnp.concatenate([u, jnp.zeros(7, jnp.int32), jnp.arange(7) % U])
  i2 = jnp.concatenate([i, jnp.zeros(7, jnp.int32), jnp.arange(7) % I])
  j2 = jnp.concatenate([j, jnp.zeros(7, jnp.int32), (jnp.arange(7) + 3) % I])
  w2 = jnp.concatenate([w, jnp.zeros(pad)])
  grad = lambda uu, ii, jj, ww: jax.value_and_grad(  # noqa: E731
      _loss(layout, uu, ii, jj), argnums=(0, 1, 2))(p, q, b, ww)
  for a, r in zip(jax.tree.leaves(grad(u2, i2, j2, w2)), jax.tree.leaves(grad(u, i, j, w))):
    np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-6)
  # the weights' derivative is each triple's loss, padding included
  dw = jax.grad(_loss(layout, u2, i2, j2), argnums=3)(p, q, b, w2)
  x = jnp.einsum("nd,nd->n", p[u2], q[i2] - q[j2]) + b[i2] - b[j2]
  np.testing.assert_allclose(dw, -jax.nn.log_sigmoid(x), rtol=1e-5, atol=1e-6)


def test_vmap_over_factors_equals_loop():
  p, q, b, u, i, j, w = _problem(3)
  ps = jnp.stack([p, 0.5 * p, -p])
  for layout in LAYOUTS:
    g = jax.vmap(jax.grad(_loss(layout, u, i, j)), in_axes=(0, None, None, None))(ps, q, b, w)
    for n in range(3):
      want = jax.grad(_loss("autodiff", u, i, j))(ps[n], q, b, w)
      np.testing.assert_allclose(g[n], want, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_perturb_embeddings_unchanged(layout, chunks):
  idx = data.build_index(np.arange(40) % U, (np.arange(40) * 3) % I, num_users=U, num_items=I)
  params = models.mf(dim=D, stddev=0.5).init(jax.random.key(4), idx)
  params = params.replace(item_bias=jnp.linspace(-0.3, 0.3, I))
  batch, w = evasion.attack_triples(jax.random.key(5), idx)
  for kw in (dict(num_steps=1), dict(num_steps=4, random_init=True, norm="linf")):
    want = evasion.perturb_embeddings(jax.random.key(6), params, batch, w, eps=0.4,
                                      layout="autodiff", **kw)
    got = evasion.perturb_embeddings(jax.random.key(6), params, batch, w, eps=0.4,
                                     layout=layout, **kw)
    for a, r in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-5)


def test_auto_layout_rule():
  assert choose_layout(6040, 3706, 1_000_209) == "dense"  # MovieLens-1M: density 4.5%
  assert choose_layout(6040, 3706, 500_000) == "sparse"  # 2.2%
  assert choose_layout(943, 1682, 100_000) == "dense"  # MovieLens-100K: 6.3%
  assert choose_layout(943, 1682, 4096) == "sparse"  # an APR mini-batch
  assert choose_layout(20_000, 20_000, 10 ** 8) == "sparse"  # (U, I) over the memory bound
  assert choose_layout(0, 10, 5) == "sparse"


def test_bad_layout_is_an_error():
  p, q, b, u, i, j, w = _problem()
  with pytest.raises(ValueError, match="layout"):
    bpr_sum(p, q, b, u, i, j, w, layout="csr")
  with pytest.raises(ValueError, match="layout"):
    evasion.perturb_embeddings(jax.random.key(0), models.MFParams(p, q, b),
                               data.BPRBatch(u, i, j), w, eps=0.1, layout="csr")


def test_empty_batch():
  p, q, b, *_ = _problem()
  e = jnp.zeros((0,), jnp.int32)
  for layout in LAYOUTS:
    v, g = jax.value_and_grad(lambda p: bpr_sum(p, q, b, e, e, e, layout=layout))(p)
    assert float(v) == 0.0 and not np.any(np.asarray(g))
