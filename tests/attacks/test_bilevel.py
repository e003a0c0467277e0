"""Unrolled bilevel poisoning (RevAdv): hypergradients, projections, the outer loop, validation."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrec.attacks._bilevel import (
    bilevel_attack, bilevel_init, bilevel_loss, bilevel_step, ce_loss, margin_loss,
    project_threshold, project_top_m, target_hr_at_k, heldout_hr_at_k)
from jaxrec.attacks._surrogate import fit_surrogate, lfm_scores, lfm_surrogate, weighted_mse


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
                              l2=0.01)
    objective = (functools.partial(ce_loss, eligible_only=True) if loss == "ce"
                 else functools.partial(margin_loss, k=2))
    f = jax.jit(functools.partial(bilevel_loss, real=real, targets=targets,
                                  key=jax.random.key(0), surrogate=surrogate,
                                  objective=objective))
    grad = np.asarray(jax.grad(f)(fake))
    eps, fd = 1e-6, np.zeros(fake.shape)
    for idx in np.ndindex(*fake.shape):
      e = jnp.zeros_like(fake).at[idx].set(eps)
      fd[idx] = (float(f(fake + e)) - float(f(fake - e))) / (2 * eps)
    assert np.abs(grad).max() > 1e-6  # the fake rows do move the outer loss
    np.testing.assert_allclose(grad, fd, rtol=1e-3, atol=1e-8 * np.abs(fd).max())


def test_relaxations_agree_on_binary_data():
  real, _, _ = _tiny(np.float32)
  params, _ = fit_surrogate(lfm_surrogate(dim=2, num_steps=0), real, jax.random.key(1))
  kw = {"pos_weight": 20.0, "l2": 0.1}
  np.testing.assert_allclose(weighted_mse(params, real, relaxation="indicator", **kw),
                             weighted_mse(params, real, relaxation="bernoulli", **kw), rtol=1e-6)


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
          bilevel_loss, surrogate=surrogate, objective=ce_loss)))(fake, real, targets,
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
  project = functools.partial(project_top_m, m=4, targets=targets)

  def hr(fake):
    params, _ = fit_surrogate(surrogate, jnp.concatenate([real, fake]), key)
    return float(target_hr_at_k(lfm_scores(params)[:90], real > 0, targets, 5)[0])

  init = project(fake0)
  fake, losses = bilevel_attack(real, init, targets, key, surrogate=surrogate,
                                objective=functools.partial(margin_loss, k=5),
                                tx=optax.sgd(1.0, momentum=0.9), num_steps=8, project=project)
  assert losses.shape == (8,) and float(losses[-1]) < float(losses[0])
  np.testing.assert_array_equal(np.asarray(fake).sum(axis=1), 5)
  assert hr(fake) > hr(init) + 0.1


def test_step_loop_equals_scan():
  real, fake0, targets = _tiny(np.float32)
  surrogate = lfm_surrogate(dim=2, num_steps=3, learning_rate=0.1)
  tx, key = optax.sgd(0.5, momentum=0.9), jax.random.key(0)
  kw = {"surrogate": surrogate, "objective": ce_loss, "tx": tx}
  fake, losses = bilevel_attack(real, fake0, targets, key, num_steps=3, **kw)
  state, step = bilevel_init(fake0, tx), jax.jit(functools.partial(bilevel_step, **kw))
  for j in range(3):
    state, loss = step(state, real, targets, key)
    np.testing.assert_allclose(loss, losses[j], rtol=1e-5)
  np.testing.assert_allclose(state.fake, fake, rtol=1e-5, atol=1e-6)
  assert 0 <= float(fake.min()) and float(fake.max()) <= 1  # clip_unit by default


def test_hit_ratios_on_a_hand_made_example():
  scores = jnp.asarray([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0]])
  train = jnp.asarray([[True, False, False, False], [False, False, False, True],
                       [False, False, True, False]])
  # target 2: user 0 ranks it 2nd of its unseen items, user 1 1st (3 is seen), user 2 has seen it
  np.testing.assert_allclose(target_hr_at_k(scores, train, jnp.asarray([2]), 1), [0.5])
  np.testing.assert_allclose(target_hr_at_k(scores, train, jnp.asarray([2]), 2), [1.0])
  # item 1 ranks 1st for user 0, 2nd for user 1 and, ties going to the lower id, 2nd for user 2
  np.testing.assert_allclose(heldout_hr_at_k(scores, train, jnp.asarray([1, 1, 1]), 2), 1.0)
  np.testing.assert_allclose(heldout_hr_at_k(scores, train, jnp.asarray([1, 1, 1]), 1), 1 / 3)
  np.testing.assert_allclose(heldout_hr_at_k(scores, train, jnp.asarray([1, -1, 1]), 1), 0.5)


def test_bad_inputs_raise():
  real, fake, targets = _tiny(np.float32)
  kw = {"surrogate": lfm_surrogate(dim=2, num_steps=1), "objective": ce_loss,
        "tx": optax.sgd(0.1), "num_steps": 1}
  with pytest.raises(ValueError, match="m must be"):
    project_top_m(fake, 5, targets)  # 5 items, 1 target: at most 4 fillers
  with pytest.raises(ValueError, match="m must be"):
    project_top_m(fake, -1, targets)
  with pytest.raises(ValueError, match="target ids"):
    project_top_m(fake, 2, jnp.asarray([5]))
  with pytest.raises(ValueError, match="repeat"):
    project_top_m(fake, 2, jnp.asarray([1, 1]))
  with pytest.raises(ValueError, match="2-D"):
    project_top_m(fake[0], 2, targets)
  with pytest.raises(ValueError, match="1-D integer"):
    project_top_m(fake, 2, jnp.asarray([[1]]))
  with pytest.raises(ValueError, match="target ids"):
    bilevel_attack(real, fake, jnp.asarray([-1]), jax.random.key(0), **kw)
  with pytest.raises(ValueError, match="items"):
    bilevel_attack(real, fake[:, :4], targets, jax.random.key(0), **kw)
  with pytest.raises(ValueError, match="0 and 1"):
    bilevel_attack(real * 0.5, fake, targets, jax.random.key(0), **kw)
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    bilevel_attack(real, fake + 1.0, targets, jax.random.key(0), **kw)
  with pytest.raises(ValueError, match="dtype"):
    bilevel_attack(real, fake.astype(jnp.float16), targets, jax.random.key(0), **kw)
  with pytest.raises(ValueError, match="num_steps"):
    bilevel_attack(real, fake, targets, jax.random.key(0), **{**kw, "num_steps": -1})
  with pytest.raises(ValueError, match="k must be"):
    margin_loss(real, real > 0, targets, k=5)
  with pytest.raises(ValueError, match="kind"):
    margin_loss(real, real > 0, targets, k=2, kind="cw")
  with pytest.raises(ValueError, match="one shape"):
    target_hr_at_k(real, (real > 0)[:3], targets, 2)
  with pytest.raises(ValueError, match="k must be"):
    target_hr_at_k(real, real > 0, targets, 0)
  with pytest.raises(ValueError, match="test items"):
    heldout_hr_at_k(real, real > 0, jnp.full((6,), 5), 2)
  with pytest.raises(ValueError, match="test_items"):
    heldout_hr_at_k(real, real > 0, jnp.zeros((5,), jnp.int32), 2)
  with pytest.raises(ValueError, match="relaxation"):
    lfm_surrogate(relaxation="sigmoid")
  with pytest.raises(ValueError, match="dim"):
    lfm_surrogate(dim=0)
  with pytest.raises(ValueError, match="floating"):
    fit_surrogate(lfm_surrogate(), jnp.zeros((3, 4), jnp.int32), jax.random.key(0))


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
                                              objective=objective)))
    analysis = grad.lower(fake, real, jnp.asarray([3]), jax.random.key(0)).compile()
    analysis = analysis.memory_analysis()
    if analysis is None:
      pytest.skip("this backend reports no memory analysis")
    return analysis.temp_size_in_bytes

  assert temp_bytes(64, True) < 2.0 * temp_bytes(16, True)
  assert temp_bytes(64, False) > 3.0 * temp_bytes(16, False)
