"""ALS surrogate with implicit hypergradients: the solver, the IFT gradient, the bilevel loop."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from jaxrec import data as jdata
from jaxrec import metrics, models, training
from jaxrec.attacks.poisoning import (
    als_surrogate, bilevel_attack, bilevel_loss, ce_loss, fit_surrogate, lfm_surrogate,
    margin_loss)
from jaxrec.models._als import Factors
from jaxrec.optim import project_top_m


def _uv(params):
  """``(P, Q)`` of MFParams or ALS Factors."""
  return ((params.user_emb, params.item_emb) if hasattr(params, "user_emb")
          else (params.user, params.item))


def weighted_mse(params, data, **kw):
  return models.weighted_mse(*_uv(params), data, **kw)


def lfm_scores(params):
  p, q = _uv(params)
  return p @ q.T


def fit_als(s, data, key):
  """``(factors, losses)`` of the ALS surrogate victim ``s``."""
  return s.model.sweeps(key, data)


def als_sweep(s, params, data):
  return models.als_sweep(s.model, Factors(*_uv(params)), data)


def _tiny(dtype, users=8, items=6, fakes=2, seed=3):
  rng = np.random.default_rng(seed)
  real = (rng.random((users, items)) < 0.4).astype(dtype)
  real[0, 1] = 1.0
  fake = rng.uniform(0.2, 0.8, (fakes, items)).astype(dtype)  # away from 0: indicator weights fixed
  return jnp.asarray(real), jnp.asarray(fake), jnp.asarray([1], jnp.int32)


def _planted():
  rng = np.random.default_rng(0)
  x = (rng.standard_normal((100, 4)) @ rng.standard_normal((4, 30)) > 2.0).astype(np.float32)
  # target 25: 16 of 90 real users, HR@5 0.30 under ALS (item 15 of the LFM test is at 0.49)
  return jnp.asarray(x[:90]), jnp.asarray(x[90:]), jnp.asarray([25], jnp.int32)


def _grad_norm(params, data, s):
  m = s.model
  g = jax.grad(lambda f: weighted_mse(f, data, pos_weight=m.pos_weight, reg=m.reg,
                                      relaxation=m.relaxation))(Factors(*_uv(params)))
  return float(jnp.sqrt(jnp.sum(g.user**2) + jnp.sum(g.item**2)))


@pytest.mark.parametrize("relaxation", ["indicator", "bernoulli"])
def test_sweep_solves_the_ridge_systems_of_weighted_mse(relaxation):
  with jax.enable_x64(True):
    real, fake, _ = _tiny(np.float64)
    data = jnp.concatenate([real, fake])
    s = als_surrogate(dim=3, reg=0.7, pos_weight=5.0, relaxation=relaxation)
    rng = np.random.default_rng(1)
    params = Factors(user=jnp.asarray(rng.standard_normal((10, 3))),
                     item=jnp.asarray(rng.standard_normal((6, 3))))
    new = als_sweep(s, params, data)
    x, q = np.asarray(data), np.asarray(params.item)
    for u in (0, 9):  # p_u = (Q^T W_u Q + reg I)^-1 Q^T W_u y_u, from the loss's definition
      if relaxation == "indicator":
        w, wy = np.where(x[u] > 0, 5.0, 1.0), np.where(x[u] > 0, 5.0, 1.0) * x[u]
      else:
        w, wy = 1.0 + 4.0 * x[u], 5.0 * x[u]
      p_u = np.linalg.solve(q.T @ (w[:, None] * q) + 0.7 * np.eye(3), q.T @ wy)
      np.testing.assert_allclose(new.user[u], p_u, rtol=1e-10)
    g = jax.grad(weighted_mse)(new, data, pos_weight=5.0, reg=0.7, relaxation=relaxation)
    assert float(jnp.abs(g.item).max()) < 1e-9  # items solved last: their gradient vanishes
    assert float(weighted_mse(new, data, pos_weight=5.0, reg=0.7, relaxation=relaxation)) <= float(
        weighted_mse(params, data, pos_weight=5.0, reg=0.7, relaxation=relaxation))


def test_als_reaches_a_stationary_point_below_the_unrolled_adam_loss():
  with jax.enable_x64(True):
    rng = np.random.default_rng(0)
    data = jnp.asarray((rng.random((15, 10)) < 0.3).astype(np.float64))
    s = als_surrogate(dim=3, num_sweeps=400, reg=1.0)
    adam = lfm_surrogate(dim=3, num_steps=300, learning_rate=0.05, reg=1.0)
    fit, fit_adam = jax.jit(fit_als, static_argnums=0), jax.jit(fit_surrogate, static_argnums=0)
    start_victim = lfm_surrogate(dim=3, num_steps=0)
    als_losses, adam_losses = [], []
    for seed in range(4):
      key = jax.random.key(seed)
      params, losses = fit(s, data, key)
      losses = np.asarray(losses)
      assert losses.shape == (400,) and (np.diff(losses) <= 1e-9 * losses[0]).all()  # monotone
      start = fit_adam(start_victim, data, key)  # the same start
      assert _grad_norm(params, data, s) < 1e-7 * _grad_norm(start, data, s)
      again = als_sweep(s, params, data)  # a fixed point of the sweep
      np.testing.assert_allclose(lfm_scores(again), lfm_scores(params), atol=1e-8)
      als_losses.append(losses[-1])
      adam_params = fit_adam(adam, data, key)
      adam_losses.append(float(weighted_mse(adam_params, data, pos_weight=20.0, reg=1.0)))
    # non-convex: a start may stop in a worse local minimum (key 4 here: 119 against Adam's 56)
    assert np.mean(als_losses) < np.mean(adam_losses)
    # a local minimum whose Hessian is singular along the D (D - 1) / 2 rotations only
    flat, unravel = ravel_pytree(params)
    hess = jax.hessian(lambda f: weighted_mse(unravel(f), data, pos_weight=20.0, reg=1.0))(flat)
    evals = np.linalg.eigvalsh(np.asarray(hess))
    assert (np.abs(evals[:3]) < 1e-8 * evals[-1]).all() and evals[3] > 1e-3 * evals[-1]


@pytest.mark.parametrize("relaxation,solver,objective", [
    ("indicator", "cg", "ce"), ("bernoulli", "cg", "margin"), ("indicator", "dense", "ce")])
def test_implicit_hypergradient_matches_central_differences(relaxation, solver, objective):
  with jax.enable_x64(True):
    real, fake, targets = _tiny(np.float64)
    s = als_surrogate(dim=2, num_sweeps=600, reg=0.5, relaxation=relaxation, linear_solver=solver,
                      cg_maxiter=300, cg_tol=1e-13, damping=0.0)
    obj = ce_loss if objective == "ce" else functools.partial(margin_loss, k=2)
    f = jax.jit(functools.partial(bilevel_loss, real=real, targets=targets,
                                  key=jax.random.key(0), surrogate=s, loss=obj))
    grad = np.asarray(jax.grad(f)(fake))
    eps, fd = 1e-6, np.zeros(fake.shape)
    for idx in np.ndindex(*fake.shape):
      e = jnp.zeros_like(fake).at[idx].set(eps)
      fd[idx] = (float(f(fake + e)) - float(f(fake - e))) / (2 * eps)
    assert np.abs(fd).max() > 1e-4
    np.testing.assert_allclose(grad, fd, rtol=1e-3, atol=1e-4 * np.abs(fd).max())


def test_implicit_gradient_agrees_with_the_unrolled_one():
  with jax.enable_x64(True):
    rng = np.random.default_rng(0)
    real = jnp.asarray((rng.random((30, 20)) < 0.3).astype(np.float64))
    fake = jnp.asarray(rng.random((5, 20)))
    targets = jnp.asarray([2, 7], jnp.int32)
    grads = []
    for implicit in (True, False):  # the defaults (damped, early-stopped CG) against unrolling
      s = als_surrogate(dim=3, num_sweeps=150, reg=1.0, implicit=implicit)  # 35 x 20 data
      grads.append(np.asarray(jax.jit(jax.grad(functools.partial(
          bilevel_loss, surrogate=s, loss=ce_loss)))(fake, real, targets,
                                                     jax.random.key(2))).ravel())
    cos = grads[0] @ grads[1] / np.linalg.norm(grads[0]) / np.linalg.norm(grads[1])
    assert cos > 0.99, cos


def test_backward_memory_does_not_grow_with_sweeps():
  real, fake, targets = _tiny(np.float32, users=20, items=12, fakes=2)

  def temp_bytes(num_sweeps, implicit):
    s = als_surrogate(dim=3, num_sweeps=num_sweeps, implicit=implicit)
    g = jax.jit(jax.grad(functools.partial(bilevel_loss, surrogate=s, loss=ce_loss)))
    stats = g.lower(fake, real, targets, jax.random.key(0)).compile().memory_analysis()
    return stats.temp_size_in_bytes

  implicit = temp_bytes(200, True)
  assert implicit == temp_bytes(10, True)
  assert temp_bytes(200, False) > 5 * implicit  # the unrolled sweeps keep their residuals


def test_bilevel_attack_with_als_raises_target_hr():
  real, fake0, targets = _planted()
  s = als_surrogate(dim=4, num_sweeps=30, reg=1.0)
  assert isinstance(s, training.Victim) and isinstance(s.model, models.Model)
  assert s.tx is None and s.num_epochs == 0  # closed form: solved in init
  key = jax.random.key(0)
  project = functools.partial(project_top_m, filler_size=4, targets=targets)
  train = jdata.index_from_dense(real)

  def hr(fake):
    matrix = jnp.concatenate([real, fake])
    params = fit_surrogate(s, matrix, key)
    return metrics.target_exposure(s.model, params, train, targets, data=matrix,
                                   ks=(5,))[0]["target_hr"][5]

  init = project(fake0)
  fake, losses = bilevel_attack(real, init, targets, key, surrogate=s,
                                loss=functools.partial(margin_loss, k=5),
                                tx=optax.sgd(1.0, momentum=0.9), num_steps=8,
                                projection=project)
  assert losses.shape == (8,) and float(losses[-1]) < float(losses[0])
  np.testing.assert_array_equal(np.asarray(fake).sum(axis=1), 5)
  assert hr(fake) > hr(init) + 0.1


def test_vmap_over_fake_matrices_matches_a_loop():
  real, fake, targets = _tiny(np.float32)
  s = als_surrogate(dim=2, num_sweeps=20, reg=1.0)
  g = jax.grad(functools.partial(bilevel_loss, real=real, targets=targets, key=jax.random.key(0),
                                 surrogate=s, loss=ce_loss))
  fakes = jnp.stack([fake, fake[::-1]])
  loop = jnp.stack([jax.jit(g)(f) for f in fakes])
  np.testing.assert_allclose(jax.jit(jax.vmap(g))(fakes), loop, rtol=1e-4, atol=1e-5)


def test_bad_settings_raise():
  for kw, match in [({"dim": 0}, "dim"), ({"num_sweeps": 0}, "num_sweeps"),
                    ({"num_sweeps": 2.5}, "num_sweeps"), ({"reg": 0.0}, "reg"),
                    ({"reg": -1.0}, "reg"), ({"reg": np.float32(np.inf)}, "reg"),
                    ({"pos_weight": jnp.float32(np.nan)}, "pos_weight"),
                    ({"damping": -1e-3}, "damping"),
                    ({"cg_maxiter": 0}, "cg_maxiter"), ({"cg_tol": 0.0}, "cg_tol"),
                    ({"pos_weight": 0.0}, "pos_weight"), ({"dense_rcond": 1.0}, "dense_rcond"),
                    ({"relaxation": "sigmoid"}, "relaxation"),
                    ({"linear_solver": "lu"}, "linear_solver"),
                    ({"reg": jnp.float32(-1.0)}, "reg"), ({"reg": np.float64(np.nan)}, "reg"),
                    ({"pos_weight": np.float32(-5.0)}, "pos_weight"),
                    ({"pos_weight": jnp.float32(np.inf)}, "pos_weight"),
                    ({"damping": np.float32(np.nan)}, "damping"),
                    ({"damping": jnp.float32(np.inf)}, "damping"),
                    ({"init_scale": jnp.float32(np.nan)}, "init_scale"),
                    ({"cg_tol": np.float32(-1e-5)}, "cg_tol"),
                    ({"dense_rcond": jnp.float32(np.nan)}, "dense_rcond")]:
    with pytest.raises(ValueError, match=match):
      als_surrogate(**kw)
  with pytest.raises(ValueError, match="floating"):
    fit_als(als_surrogate(), jnp.zeros((3, 4), jnp.int32), jax.random.key(0))
  real, fake, targets = _tiny(np.float32)
  with pytest.raises(ValueError, match="surrogate"):
    bilevel_attack(real, fake, targets, jax.random.key(0), surrogate="als", loss=ce_loss,
                   tx=optax.sgd(0.1), num_steps=1)
