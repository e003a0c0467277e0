"""Unrolled bilevel poisoning (RevAdv): hypergradients, projections, the outer loop, validation."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxrec
from jaxrec import data, metrics, models, optim
from jaxrec.attacks.poisoning import (
    bilevel_attack, bilevel_loss, ce_loss, fit_surrogate, lfm_surrogate, margin_loss)
from jaxrec.optim import project_threshold, project_top_m


def _tiny(dtype):
  rng = np.random.default_rng(3)
  real = (rng.random((6, 5)) < 0.4).astype(dtype)
  real[0, 1] = 1.0  # user 0 has seen target 1: not eligible
  fake = rng.uniform(0.2, 0.8, (2, 5)).astype(dtype)  # away from 0: indicator weights constant
  return jnp.asarray(real), jnp.asarray(fake), jnp.asarray([1], jnp.int32)


def _planted():
  rng = np.random.default_rng(0)
  x = (rng.standard_normal((100, 4)) @ rng.standard_normal((4, 30)) > 2.0).astype(np.float32)
  return jnp.asarray(x[:90]), jnp.asarray(x[90:]), jnp.asarray([15], jnp.int32)


@pytest.mark.parametrize("relaxation", ["indicator", "bernoulli"])
@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_hypergradient_matches_central_differences(relaxation, loss):
  with jax.enable_x64(True):
    real, fake, targets = _tiny(np.float64)
    surrogate = lfm_surrogate(dim=2, num_steps=3, learning_rate=0.1, relaxation=relaxation,
                              reg=0.01)
    objective = (functools.partial(ce_loss, eligible_only=True) if loss == "ce"
                 else functools.partial(margin_loss, k=2))
    f = jax.jit(functools.partial(bilevel_loss, real=real, targets=targets,
                                  key=jax.random.key(0), surrogate=surrogate, loss=objective))
    grad = np.asarray(jax.grad(f)(fake))
    eps, fd = 1e-6, np.zeros(fake.shape)
    for idx in np.ndindex(*fake.shape):
      e = jnp.zeros_like(fake).at[idx].set(eps)
      fd[idx] = (float(f(fake + e)) - float(f(fake - e))) / (2 * eps)
    assert np.abs(grad).max() > 1e-6  # the fake rows do move the outer loss
    np.testing.assert_allclose(grad, fd, rtol=1e-3, atol=1e-8 * np.abs(fd).max())


def test_relaxations_agree_on_binary_data():
  real, _, _ = _tiny(np.float32)
  params = fit_surrogate(lfm_surrogate(dim=2, num_steps=0), real, jax.random.key(1))
  kw = {"pos_weight": 20.0, "reg": 0.1}
  p, q = params.user_emb, params.item_emb
  np.testing.assert_allclose(models.weighted_mse(p, q, real, relaxation="indicator", **kw),
                             models.weighted_mse(p, q, real, relaxation="bernoulli", **kw),
                             rtol=1e-6)
  # and equal the binary weighted squared error written out
  r = np.asarray(p) @ np.asarray(q).T
  x = np.asarray(real)
  expected = np.sum(np.where(x > 0, 20.0, 1.0) * (x - r) ** 2) + 0.1 * (
      np.sum(np.asarray(p) ** 2) + np.sum(np.asarray(q) ** 2))
  np.testing.assert_allclose(models.weighted_mse(p, q, real, **kw), expected, rtol=1e-5)


def test_checkpointed_and_plain_unrolls_give_the_same_gradient():
  with jax.enable_x64(True):
    rng = np.random.default_rng(0)
    real = jnp.asarray((rng.random((20, 15)) < 0.3).astype(np.float64))
    fake = jnp.asarray(rng.random((4, 15)))
    targets = jnp.asarray([2, 7], jnp.int32)
    grads = []
    for remat in (True, False):
      surrogate = lfm_surrogate(dim=3, num_steps=10, learning_rate=0.1, remat=remat)
      grads.append(jax.jit(jax.grad(functools.partial(
          bilevel_loss, surrogate=surrogate, loss=ce_loss)))(fake, real, targets,
                                                             jax.random.key(2)))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-10, atol=1e-12)


def test_project_top_m_respects_the_budget_exactly():
  rng = np.random.default_rng(0)
  relaxed = jnp.asarray(np.round(rng.random((7, 20)), 1), jnp.float32)  # many ties
  targets = jnp.asarray([3, 11], jnp.int32)
  for m in (0, 5, 18):
    out = np.asarray(jax.jit(project_top_m, static_argnums=1)(relaxed, m, targets))
    assert set(np.unique(out)) <= {0.0, 1.0}
    np.testing.assert_array_equal(out.sum(axis=1), m + 2)
    assert (out[:, [3, 11]] == 1).all()
  out = np.asarray(project_top_m(relaxed, 5, targets))
  r = np.asarray(relaxed).copy()
  r[:, [3, 11]] = -np.inf
  for row in range(7):  # the 5 largest non-targets; among equal values the lower id
    expected = sorted(np.lexsort((np.arange(20), -r[row]))[:5])
    assert sorted(set(np.flatnonzero(out[row])) - {3, 11}) == expected


def test_project_threshold_is_strict_and_sets_targets():
  x = jnp.asarray([[0.2, 0.21, 0.0, 1.0], [0.1, 0.5, 0.2, 0.0]])
  np.testing.assert_array_equal(project_threshold(x, 0.2), [[0, 1, 0, 1], [0, 1, 0, 0]])
  np.testing.assert_array_equal(project_threshold(x, 0.2, targets=jnp.asarray([2])),
                                [[0, 1, 1, 1], [0, 1, 1, 0]])


def test_outer_loss_decreases_and_target_hr_rises():
  real, fake0, targets = _planted()
  surrogate = lfm_surrogate(dim=4, num_steps=30, learning_rate=0.1)
  key = jax.random.key(0)
  project = functools.partial(project_top_m, filler_size=4, targets=targets)
  train = data.index_from_dense(real)

  def hr(fake):
    matrix = jnp.concatenate([real, fake])
    params = fit_surrogate(surrogate, matrix, key)
    return metrics.target_exposure(surrogate.model, params, train, targets, data=matrix,
                                   ks=(5,))[0]["target_hr"][5]

  init = project(fake0)
  fake, losses = bilevel_attack(real, init, targets, key, surrogate=surrogate,
                                loss=functools.partial(margin_loss, k=5),
                                tx=optax.sgd(1.0, momentum=0.9), num_steps=8,
                                projection=project)
  assert losses.shape == (8,) and float(losses[-1]) < float(losses[0])
  np.testing.assert_array_equal(np.asarray(fake).sum(axis=1), 5)
  assert hr(fake) > hr(init) + 0.1


def test_attack_is_one_run_and_equals_a_hand_written_step_loop():
  """bilevel_attack = optim.run of chain(tx, project(box)) on bilevel_loss: the same as stepping
  by hand (gradient, optimiser update, projection), and continuing a run in segments (opt_state)
  equals one run."""
  real, fake0, targets = _tiny(np.float32)
  surrogate = lfm_surrogate(dim=2, num_steps=3, learning_rate=0.1)
  tx, key = optax.sgd(0.5, momentum=0.9), jax.random.key(0)
  fake, losses = bilevel_attack(real, fake0, targets, key, surrogate=surrogate, loss=ce_loss,
                                tx=tx, num_steps=3)
  loss_fn = jax.jit(jax.value_and_grad(functools.partial(
      bilevel_loss, real=real, targets=targets, key=key, surrogate=surrogate, loss=ce_loss)))
  x, state = fake0, tx.init(fake0)
  for j in range(3):
    value, grad = loss_fn(x)
    np.testing.assert_allclose(value, losses[j], rtol=1e-5)
    updates, state = tx.update(grad, state, x)
    x = jnp.clip(x + updates, 0.0, 1.0)
  np.testing.assert_allclose(x, fake, rtol=1e-5, atol=1e-6)
  assert 0 <= float(fake.min()) and float(fake.max()) <= 1  # the box [0, 1] by default
  outer = lambda f, a: bilevel_loss(f, *a, surrogate=surrogate, loss=ce_loss)  # noqa: E731
  chain = optax.chain(tx, optim.project(functools.partial(optim.project_box, lower=0.0,
                                                          upper=1.0)))
  first = optim.run(chain, outer, fake0, (real, targets, key), num_steps=2)
  rest = optim.run(chain, outer, first.x, (real, targets, key), num_steps=1,
                   opt_state=first.opt_state)
  np.testing.assert_allclose(rest.x, fake, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(jnp.concatenate([first.values, rest.values]), losses, rtol=1e-5)


def test_relax_and_resample_init_equal_a_hand_written_step_loop():
  """relax: the surrogate trains on relax(x) (here the straight-through exact budget) while the
  optimiser steps x; resample_init: the surrogate starts from the run's running key, split at
  every step (key, key_t = split(key))."""
  real, fake0, targets = _tiny(np.float32)
  surrogate = lfm_surrogate(dim=2, num_steps=3, learning_rate=0.1)
  tx, key = optax.sgd(0.5, momentum=0.9), jax.random.key(4)
  exact = functools.partial(project_top_m, filler_size=2, targets=targets)
  relax = functools.partial(optim.straight_through, projection=exact)
  fake, losses = bilevel_attack(real, fake0, targets, key, surrogate=surrogate, loss=ce_loss,
                                tx=tx, num_steps=3, relax=relax, resample_init=True)
  loss_fn = jax.jit(jax.value_and_grad(lambda x, k: bilevel_loss(
      relax(x), real, targets, k, surrogate=surrogate, loss=ce_loss)))
  x, state, k = fake0, tx.init(fake0), key
  for j in range(3):
    k, k_step = jax.random.split(k)
    value, grad = loss_fn(x, k_step)
    np.testing.assert_allclose(value, losses[j], rtol=1e-5)
    updates, state = tx.update(grad, state, x)
    x = jnp.clip(x + updates, 0.0, 1.0)
  np.testing.assert_allclose(x, fake, rtol=1e-5, atol=1e-6)
  # the surrogate saw exact profiles: the loss equals the loss at the projected start
  np.testing.assert_allclose(losses[0], bilevel_loss(exact(fake0), real, targets,
                                                     jax.random.split(key)[1],
                                                     surrogate=surrogate, loss=ce_loss),
                             rtol=1e-6)
  # without resample_init every step starts the surrogate from key itself
  _, fixed = bilevel_attack(real, fake0, targets, key, surrogate=surrogate, loss=ce_loss,
                            tx=tx, num_steps=1, relax=relax)
  np.testing.assert_allclose(fixed[0], bilevel_loss(exact(fake0), real, targets, key,
                                                    surrogate=surrogate, loss=ce_loss),
                             rtol=1e-6)


def test_bilevel_experiments_measure_with_the_one_target_metric():
  """The surrogate's dense scores through metrics.target_exposure (random ties, one policy):
  on a hand-made example without ties, the hit ratios of target 2 and of held-out items."""
  scores = np.asarray([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0], [1.0, 1.5, 1.0, 1.2]],
                      np.float32)
  seen = np.asarray([[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], np.float32)
  train = data.index_from_dense(seen)
  # the scores as an LFM: user factors = the score rows, item factors = the identity
  model = models.lfm(dim=4)
  params = models.MFParams(user_emb=jnp.asarray(scores),
                           item_emb=jnp.eye(4), item_bias=jnp.zeros(4))
  # target 2: user 0 ranks it 2nd of its unseen items, user 1 1st (3 is seen), user 2 has seen it
  def hr(k):
    return metrics.target_exposure(model, params, train, [2], data=jnp.asarray(seen),
                                   ks=(k,))[0]["target_hr"][k]

  assert hr(1) == pytest.approx(0.5) and hr(2) == pytest.approx(1.0)
  test = data.build_index(np.arange(3), np.array([1, 1, 1]), num_users=3, num_items=4)
  ev = metrics.evaluate(model, params, train, test, data=jnp.asarray(seen), ks=(1, 2))
  # item 1 ranks 1st for users 0 and 2 (2 beats 1.2 and 1.0) and 2nd for user 1
  assert ev["hr"][1] == pytest.approx(2 / 3) and ev["hr"][2] == pytest.approx(1.0)
  # a user without a held-out item (user 2 here) is not counted: 1 hit of 2 users at k = 1
  test = data.build_index(np.arange(2), np.array([1, 1]), num_users=3, num_items=4)
  ev = metrics.evaluate(model, params, train, test, data=jnp.asarray(seen), ks=(1,))
  assert ev["hr"][1] == pytest.approx(0.5)


def test_bad_inputs_raise():
  real, fake, targets = _tiny(np.float32)
  kw = {"surrogate": lfm_surrogate(dim=2, num_steps=1), "loss": ce_loss,
        "tx": optax.sgd(0.1), "num_steps": 1}
  with pytest.raises(ValueError, match="filler_size must be"):
    project_top_m(fake, 5, targets)  # 5 items, 1 target: at most 4 fillers
  with pytest.raises(ValueError, match="filler_size must be"):
    project_top_m(fake, -1, targets)
  with pytest.raises(ValueError, match=r"targets must lie in \[0, 5\)"):
    project_top_m(fake, 2, jnp.asarray([5]))
  with pytest.raises(ValueError, match="repeat"):
    project_top_m(fake, 2, jnp.asarray([1, 1]))
  with pytest.raises(ValueError, match="targets must not be empty"):
    project_top_m(fake, 2, jnp.zeros((0,), jnp.int32))
  with pytest.raises(ValueError, match="2-D"):
    project_top_m(fake[0], 2, targets)
  with pytest.raises(ValueError, match="1-D array of ids"):
    project_top_m(fake, 2, jnp.asarray([[1]]))
  with pytest.raises(ValueError, match="no NaN"):
    project_top_m(fake.at[0, 0].set(jnp.nan), 2, targets)
  # under jit: NaN is never picked, bad ids fail under jaxrec.checked
  top = jax.jit(project_top_m, static_argnums=1)
  nan_row = fake.at[0, 0].set(jnp.nan).at[0, 2].set(-5.0)
  out = np.asarray(top(nan_row, 4, targets))  # every non-target picked
  assert out[0].sum() == 5
  out = np.asarray(top(nan_row, 3, targets))
  assert out[0, 0] == 0 and out[0].sum() == 4  # the NaN entry is never picked
  with pytest.raises(ValueError, match=r"targets must lie in \[0, 5\)"):
    jaxrec.checked(top)(fake, 2, jnp.asarray([7]))
  with pytest.raises(ValueError, match=r"targets must lie in \[0, 5\)"):
    bilevel_attack(real, fake, jnp.asarray([-1]), jax.random.key(0), **kw)
  with pytest.raises(ValueError, match="targets must not be empty"):
    bilevel_attack(real, fake, jnp.zeros((0,), jnp.int32), jax.random.key(0), **kw)
  with pytest.raises(ValueError, match="items"):
    bilevel_attack(real, fake[:, :4], targets, jax.random.key(0), **kw)
  with pytest.raises(ValueError, match="0 and 1"):
    bilevel_attack(real * 0.5, fake, targets, jax.random.key(0), **kw)
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    bilevel_attack(real, fake + 1.0, targets, jax.random.key(0), **kw)
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    bilevel_attack(real, fake - 1.0, targets, jax.random.key(0), **kw)
  with pytest.raises(ValueError, match="targets repeats an id"):
    bilevel_attack(real, fake, jnp.asarray([1, 1]), jax.random.key(0), **kw)
  with pytest.raises(ValueError, match="dtype"):
    bilevel_attack(real, fake.astype(jnp.float16), targets, jax.random.key(0), **kw)
  with pytest.raises(ValueError, match="num_steps"):
    bilevel_attack(real, fake, targets, jax.random.key(0), **{**kw, "num_steps": -1})
  with pytest.raises(ValueError, match="k must be"):
    margin_loss(real, real > 0, targets, k=5)
  with pytest.raises(ValueError, match="kind"):
    margin_loss(real, real > 0, targets, k=2, kind="cw")
  with pytest.raises(ValueError, match="seen must be a bool matrix"):
    margin_loss(real, (real > 0)[:3], targets, k=2)
  with pytest.raises(ValueError, match="targets must not be empty"):
    ce_loss(real, real > 0, jnp.zeros((0,), jnp.int32))
  with pytest.raises(ValueError, match="top_fraction"):
    margin_loss(real, real > 0, targets, k=2, top_fraction=np.float32(1.5))
  with pytest.raises(ValueError, match="relaxation"):
    lfm_surrogate(relaxation="sigmoid")
  with pytest.raises(ValueError, match="dim"):
    lfm_surrogate(dim=0)
  for bad in (np.float32(-0.1), jnp.float32(np.nan), np.inf, jnp.float32(np.inf), 0.0):
    with pytest.raises(ValueError, match="learning_rate"):
      lfm_surrogate(learning_rate=bad)
  for bad in (np.float32(-1.0), jnp.float32(np.inf), np.float64(np.nan), jnp.float32(np.nan)):
    with pytest.raises(ValueError, match="reg"):
      lfm_surrogate(reg=bad)
    with pytest.raises(ValueError, match="pos_weight"):
      lfm_surrogate(pos_weight=bad)
    with pytest.raises(ValueError, match="init_scale"):
      lfm_surrogate(init_scale=bad)
    with pytest.raises(ValueError, match="eps_root"):
      lfm_surrogate(eps_root=bad)
  with pytest.raises(ValueError, match="num_steps"):
    lfm_surrogate(num_steps=-1)
  with pytest.raises(ValueError, match="floating"):
    fit_surrogate(lfm_surrogate(), jnp.zeros((3, 4), jnp.int32), jax.random.key(0))
  with pytest.raises(ValueError, match="training.Victim"):
    bilevel_attack(real, fake, targets, jax.random.key(0), **{**kw, "surrogate": object()})
  # traced values under jit: jaxrec.checked raises the same errors
  attack = jax.jit(lambda r, f, t: bilevel_attack(r, f, t, jax.random.key(0), **kw)[0])
  with pytest.raises(ValueError, match="fake0 must hold entries"):
    jaxrec.checked(attack)(real, fake + 1.0, targets)
  with pytest.raises(ValueError, match="real must hold only 0 and 1"):
    jaxrec.checked(attack)(real * 0.5, fake, targets)
  with pytest.raises(ValueError, match="targets must lie"):
    jaxrec.checked(attack)(real, fake, jnp.asarray([9]))
  with pytest.raises(ValueError, match="fake0 must hold entries"):
    jaxrec.checked(attack)(real, fake - 1.0, targets)
  with pytest.raises(ValueError, match="targets repeats an id"):
    jaxrec.checked(attack)(real, fake, jnp.asarray([1, 1]))
  with pytest.raises(ValueError, match="targets must not be empty"):  # static: even plain jit
    attack(real, fake, jnp.zeros((0,), jnp.int32))


def test_checkpointed_unroll_memory_grows_sublinearly_in_the_unroll_length():
  """XLA's compiled temporaries of the hypergradient: with remat, 4x the steps cost well under
  2x the memory (O(sqrt T) stored carries); without, memory grows about linearly."""
  rng = np.random.default_rng(0)
  real = jnp.asarray((rng.random((200, 300)) < 0.1).astype(np.float32))
  fake = jnp.asarray((rng.random((10, 300)) < 0.1).astype(np.float32))
  objective = functools.partial(ce_loss, eligible_only=False)

  def temp_bytes(steps, remat):
    surrogate = lfm_surrogate(dim=8, num_steps=steps, learning_rate=0.1, remat=remat)
    grad = jax.jit(jax.grad(functools.partial(bilevel_loss, surrogate=surrogate,
                                              loss=objective)))
    analysis = grad.lower(fake, real, jnp.asarray([3]), jax.random.key(0)).compile()
    analysis = analysis.memory_analysis()
    if analysis is None:
      pytest.skip("this backend reports no memory analysis")
    return analysis.temp_size_in_bytes

  assert temp_bytes(64, True) < 2.0 * temp_bytes(16, True)
  assert temp_bytes(64, False) > 3.0 * temp_bytes(16, False)
