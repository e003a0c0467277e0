"""The perturbation engine: one contract test over every recipe, FGSM/PGD equivalences, APR."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrec import attacks, data, defenses, models, training
from jaxrec.attacks import EmbeddingDelta

U, I, D = 7, 9, 4


def _problem():
  params = models.mf.init(jax.random.key(0), U, I, D, stddev=0.5)
  params = params.replace(item_bias=jnp.linspace(-0.2, 0.2, I))
  # users 5, 6 and items 7, 8 never occur: their rows get zero gradient
  batch = data.BPRBatch(jnp.array([0, 1, 2, 3, 4, 0, 2]), jnp.array([0, 1, 2, 3, 4, 5, 6]),
                        jnp.array([6, 5, 4, 3, 2, 1, 0]))
  return params, batch


PARAMS, BATCH = _problem()
ARGS = (PARAMS, BATCH, jnp.ones((7,)))
ZERO = EmbeddingDelta(jnp.zeros((U, D)), jnp.zeros((I, D)))


def attack_loss(delta, args):
  return -attacks.bpr_of_perturbed(delta, *args)


# name -> (factory(eps) -> transform, num_steps, norm, axis, random start)
CASES = {
    "fgsm_l2_row": (lambda e: attacks.fgsm(e), 1, "l2", -1, False),
    "fgsm_linf": (lambda e: attacks.fgsm(e, norm="linf"), 1, "linf", None, False),
    "bim_l2_row": (lambda e: attacks.bim(e, e / 4), 8, "l2", -1, False),
    "pgd_l2_row": (lambda e: attacks.pgd(e, e / 4), 8, "l2", -1, True),
    "pgd_l2_global": (lambda e: attacks.pgd(e, e / 4, axis=None), 8, "l2", None, True),
    "pgd_linf_sign": (lambda e: attacks.pgd(e, e / 4, norm="linf"), 8, "linf", None, True),
    "pgd_linf_l2_steps": (lambda e: attacks.pgd(e, e / 4, norm="linf", direction="l2"), 8,
                          "linf", None, False),
}


def _attack(name, eps, key=jax.random.key(1)):
  factory, steps, norm, axis, rand = CASES[name]
  delta0 = attacks.random_start(key, ZERO, eps, norm=norm, axis=axis) if rand else ZERO
  return attacks.run(factory(eps), attack_loss, delta0, ARGS, num_steps=steps)


@pytest.mark.parametrize("name", list(CASES))
class TestContract:

  def test_budget_holds_per_stated_norm(self, name):
    _, _, norm, axis, _ = CASES[name]
    for eps in (0.05, 0.3, 2.0):
      delta, _ = _attack(name, eps)
      for n in jax.tree.leaves(attacks.tree_norms(delta, norm, axis)):
        assert float(jnp.max(n)) <= eps * (1 + 1e-5) + 1e-7, (name, eps)

  def test_attack_does_not_increase_its_loss(self, name):
    delta, values = _attack(name, 0.3)
    assert attack_loss(delta, ARGS) <= attack_loss(ZERO, ARGS) + 1e-6
    assert values.shape == (CASES[name][1],)

  def test_jit_equals_eager(self, name):
    jitted, _ = jax.jit(lambda e: _attack(name, e))(0.3)
    with jax.disable_jit():
      eager, _ = _attack(name, 0.3)
    for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager)):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

  def test_vmap_over_eps_equals_loop_without_recompiling(self, name):
    traces = []

    def f(eps):
      traces.append(1)
      return _attack(name, eps)[0]

    grid = jnp.array([0.0, 0.1, 0.5, 1.5])
    batched = jax.jit(jax.vmap(f))(grid)
    single = jax.jit(f)
    for n, eps in enumerate(grid):
      looped = single(eps)
      for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(looped)):
        np.testing.assert_allclose(a[n], b, rtol=1e-5, atol=1e-6)
    assert len(traces) == 2  # one for the vmapped grid, one for the scalar function

  def test_zero_gradient_rows_stay_zero_without_nan(self, name):
    _, _, _, axis, rand = CASES[name]
    if rand or axis is None:
      pytest.skip("a random start or a whole-array budget moves every row by design")
    delta, _ = _attack(name, 0.3)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(delta))
    np.testing.assert_array_equal(delta.user[5:], 0.0)
    np.testing.assert_array_equal(delta.item[7:], 0.0)
    grads = jax.grad(lambda e: jax.tree.leaves(_attack(name, e)[0])[0].sum())(0.3)
    assert np.isfinite(grads)

  def test_same_key_same_perturbation(self, name):
    a, _ = _attack(name, 0.3, jax.random.key(5))
    b, _ = _attack(name, 0.3, jax.random.key(5))
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
      np.testing.assert_array_equal(x, y)


def test_one_step_pgd_equals_fgsm():
  for norm in ("l2", "linf"):
    a, _ = attacks.run(attacks.fgsm(0.4, norm=norm), attack_loss, ZERO, ARGS, num_steps=1)
    b, _ = attacks.run(attacks.pgd(0.4, 0.4, norm=norm), attack_loss, ZERO, ARGS, num_steps=1)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
      np.testing.assert_array_equal(x, y)


def test_fgsm_is_he_et_al_rule():
  """delta = eps * g / ||g|| per row, g the gradient of the BPR loss w.r.t. the factors."""
  eps = 0.4
  delta, _ = attacks.run(attacks.fgsm(eps), attack_loss, ZERO, ARGS, num_steps=1)
  g = jax.grad(lambda d: attacks.bpr_of_perturbed(d, *ARGS))(ZERO)
  for d, gr in zip(delta, g):
    gr = np.asarray(gr)
    norms = np.linalg.norm(gr, axis=1, keepdims=True)
    expected = np.where(norms > 0, eps * gr / np.where(norms > 0, norms, 1), 0)
    np.testing.assert_allclose(d, expected, rtol=1e-5, atol=1e-7)
  # user 3's only triple has i == j: zero gradient, zero perturbation
  np.testing.assert_allclose(np.linalg.norm(np.asarray(delta.user)[[0, 1, 2, 4]], axis=1), eps,
                             rtol=1e-5)


def test_box_projection_keeps_pixels_valid():
  x = jnp.array([[0.0, 0.5, 1.0], [0.2, 0.98, 0.01]])
  loss = lambda d, w: -jnp.sum(w * (x + d))  # noqa: E731  (push every pixel up)
  w = jnp.array([[1.0, -1.0, 1.0], [1.0, 1.0, -1.0]])
  tx = attacks.pgd(8 / 255, 2 / 255, norm="linf", box=(x, 0.0, 1.0))
  delta, _ = attacks.run(tx, loss, jnp.zeros_like(x), w, num_steps=10)
  adv = x + delta
  assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
  assert float(jnp.abs(delta).max()) <= 8 / 255 + 1e-7
  np.testing.assert_allclose(adv[0, 2], 1.0)  # already at the top of the box


def test_validation():
  with pytest.raises(ValueError, match="norm"):
    attacks.pgd(0.1, 0.1, norm="l1")
  with pytest.raises(ValueError, match="axis"):
    attacks.pgd(0.1, 0.1, axis=0)
  with pytest.raises(ValueError, match="eps"):
    attacks.fgsm(-0.1)
  with pytest.raises(ValueError, match="num_steps"):
    attacks.run(attacks.fgsm(0.1), attack_loss, ZERO, ARGS, num_steps=-1)


def test_apr_with_lambda_zero_is_bpr():
  obj = functools.partial(defenses.apr_objective, reg=0.01, eps=0.5, lam=0.0)
  bpr = functools.partial(models.mf_bpr_objective, reg=0.01)
  v1, g1 = jax.value_and_grad(obj)(PARAMS, BATCH)
  v2, g2 = jax.value_and_grad(bpr)(PARAMS, BATCH)
  np.testing.assert_allclose(v1, v2, rtol=1e-6)
  for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)
  # and a whole training run
  idx = data.build_index([0, 0, 1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5, 6, 7], num_users=U,
                         num_items=I)
  tx = optax.adagrad(0.05)
  outs = []
  for objective in (obj, bpr):
    state = training.init_state(PARAMS, tx, jax.random.key(3))
    state, _ = training.fit(state, idx, objective=objective, tx=tx, batch_size=4, num_epochs=3)
    outs.append(state.params)
  for a, b in zip(jax.tree.leaves(outs[0]), jax.tree.leaves(outs[1])):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


def test_apr_adversarial_term_and_eps_zero():
  # eps = 0: the adversarial term is the clean BPR term, the objective (1 + lam) BPR + L2
  v0 = defenses.apr_objective(PARAMS, BATCH, reg=0.0, eps=0.0, lam=2.0)
  bpr = models.mf_bpr_objective(PARAMS, BATCH, reg=0.0)
  np.testing.assert_allclose(v0, 3.0 * bpr, rtol=1e-6)
  # the adversarial BPR term is larger than the clean one (the perturbation hurts)
  delta = defenses.adversarial_delta(PARAMS, BATCH, eps=0.5)
  assert attacks.bpr_of_perturbed(delta, PARAMS, BATCH) > bpr
  # PGD inside finds a perturbation at least as harmful as FGSM, in the same ball
  pgd_delta = defenses.adversarial_delta(PARAMS, BATCH, eps=0.5, num_steps=10)
  assert attacks.bpr_of_perturbed(pgd_delta, PARAMS, BATCH) >= attacks.bpr_of_perturbed(
      delta, PARAMS, BATCH) - 1e-5
  # no gradient flows through the perturbation
  grads = jax.grad(lambda p: defenses.apr_objective(p, BATCH, eps=0.5, lam=1.0))(PARAMS)
  assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(grads))


def test_perturb_embeddings_lowers_accuracy_proxy():
  idx = data.build_index([0, 0, 1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5, 6, 7], num_users=U,
                         num_items=I)
  batch, w = attacks.attack_triples(jax.random.key(0), idx)
  assert int(w.sum()) == 8
  clean = attacks.bpr_of_perturbed(EmbeddingDelta(jnp.zeros((U, D)), jnp.zeros((I, D))),
                                   PARAMS, batch, w)
  for steps, rand in ((1, False), (10, True)):
    p, delta = attacks.perturb_embeddings(jax.random.key(1), PARAMS, batch, w, eps=0.3,
                                          num_steps=steps, random_init=rand)
    assert attacks.bpr_of_perturbed(delta, PARAMS, batch, w) > clean
    np.testing.assert_allclose(p.user_emb, PARAMS.user_emb + delta.user)
    assert float(jnp.linalg.norm(delta.user, axis=1).max()) <= 0.3 * (1 + 1e-5)


def test_apr_grid_lambda_zero_lane_is_bpr_and_grid_equals_loop():
  idx = data.build_index([0, 0, 1, 2, 3, 4, 5, 6, 1, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 0],
                         num_users=U, num_items=I)
  victim = training.bpr_mf_victim(dim=D, num_epochs=4, batch_size=4, reg=0.01)
  fit = jax.jit(functools.partial(defenses.fit_apr_grid, victim=victim, pretrain_epochs=2,
                                  adversarial_epochs=2, reg=0.01))
  eps, lam = jnp.array([0.0, 0.5, 0.5]), jnp.array([0.0, 1.0, 0.1])
  params, curves = fit(idx, jax.random.key(0), eps=eps, lam=lam)
  assert curves.shape == (3, 2)
  bpr, _ = jax.jit(training.fit_victim, static_argnums=0)(victim, idx, jax.random.key(0))
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(bpr)):
    np.testing.assert_allclose(a[0], b, rtol=1e-5, atol=1e-7)
  for g in (1, 2):  # one lane at a time gives the same models
    single, _ = fit(idx, jax.random.key(0), eps=eps[g:g + 1], lam=lam[g:g + 1])
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(single)):
      np.testing.assert_allclose(a[g], b[0], rtol=1e-5, atol=1e-7)
  assert not np.allclose(params.user_emb[1], params.user_emb[0])
