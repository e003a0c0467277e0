"""The perturbation engine: one contract test over every recipe, FGSM/PGD equivalences, APR, the
driver (start projection, key chain, remat), bad budgets and gradients through attacks."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxrec
from jaxrec import data, defenses, models, optim, training
from jaxrec.attacks import evasion
from jaxrec.attacks.evasion import EmbeddingDelta

U, I, D = 7, 9, 4
MODEL = models.mf(dim=D, reg=0.01, stddev=0.5)
IDX = data.build_index([0, 0, 1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5, 6, 7], num_users=U,
                       num_items=I)


def _problem():
  params = MODEL.init(jax.random.key(0), IDX)
  params = params.replace(item_bias=jnp.linspace(-0.2, 0.2, I))
  # users 5, 6 and items 7, 8 never occur: their rows get zero gradient
  batch = data.BPRBatch(jnp.array([0, 1, 2, 3, 4, 0, 2]), jnp.array([0, 1, 2, 3, 4, 5, 6]),
                        jnp.array([6, 5, 4, 3, 2, 1, 0]))
  return params, batch


PARAMS, BATCH = _problem()
ARGS = (PARAMS, BATCH, jnp.ones((7,)))
ZERO = EmbeddingDelta(jnp.zeros((U, D)), jnp.zeros((I, D)))


def attack_loss(delta, args):
  return -evasion.bpr_of_perturbed(delta, *args)


# name -> (factory(eps) -> transform, num_steps, norm, axis, random start)
CASES = {
    "fgsm_l2_row": (lambda e: evasion.fgsm(e), 1, "l2", -1, False),
    "fgsm_linf": (lambda e: evasion.fgsm(e, norm="linf"), 1, "linf", None, False),
    "bim_l2_row": (lambda e: evasion.bim(e, e / 4), 8, "l2", -1, False),
    "pgd_l2_row": (lambda e: evasion.pgd(e, e / 4), 8, "l2", -1, True),
    "pgd_l2_global": (lambda e: evasion.pgd(e, e / 4, axis=None), 8, "l2", None, True),
    "pgd_linf_sign": (lambda e: evasion.pgd(e, e / 4, norm="linf"), 8, "linf", None, True),
    "pgd_linf_l2_steps": (lambda e: evasion.pgd(e, e / 4, norm="linf", direction="l2"), 8,
                          "linf", None, False),
}


def _attack(name, eps, key=jax.random.key(1)):
  factory, steps, norm, axis, rand = CASES[name]
  delta0 = optim.random_start(key, ZERO, eps, norm=norm, axis=axis) if rand else ZERO
  return optim.run(factory(eps), attack_loss, delta0, ARGS, num_steps=steps)


@pytest.mark.parametrize("name", list(CASES))
class TestContract:

  def test_budget_holds_per_stated_norm(self, name):
    _, _, norm, axis, _ = CASES[name]
    for eps in (0.05, 0.3, 2.0):
      delta = _attack(name, eps).x
      for n in jax.tree.leaves(optim.tree_norms(delta, norm, axis)):
        assert float(jnp.max(n)) <= eps * (1 + 1e-5) + 1e-7, (name, eps)

  def test_attack_does_not_increase_its_loss(self, name):
    result = _attack(name, 0.3)
    assert attack_loss(result.x, ARGS) <= attack_loss(ZERO, ARGS) + 1e-6
    assert result.values.shape == (CASES[name][1],)

  def test_jit_equals_eager(self, name):
    jitted = jax.jit(lambda e: _attack(name, e))(0.3).x
    with jax.disable_jit():
      eager = _attack(name, 0.3).x
    for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager)):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

  def test_vmap_over_eps_equals_loop_without_recompiling(self, name):
    traces = []

    def f(eps):
      traces.append(1)
      return _attack(name, eps).x

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
    delta = _attack(name, 0.3).x
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(delta))
    np.testing.assert_array_equal(delta.user[5:], 0.0)
    np.testing.assert_array_equal(delta.item[7:], 0.0)
    grads = jax.grad(lambda e: jax.tree.leaves(_attack(name, e).x)[0].sum())(0.3)
    assert np.isfinite(grads)

  def test_same_key_same_perturbation(self, name):
    a = _attack(name, 0.3, jax.random.key(5)).x
    b = _attack(name, 0.3, jax.random.key(5)).x
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
      np.testing.assert_array_equal(x, y)


def test_one_step_pgd_equals_fgsm():
  for norm in ("l2", "linf"):
    a = optim.run(evasion.fgsm(0.4, norm=norm), attack_loss, ZERO, ARGS, num_steps=1).x
    b = optim.run(evasion.pgd(0.4, 0.4, norm=norm), attack_loss, ZERO, ARGS, num_steps=1).x
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
      np.testing.assert_array_equal(x, y)


def test_fgsm_is_he_et_al_rule():
  """delta = eps * g / ||g|| per row, g the gradient of the BPR loss w.r.t. the factors."""
  eps = 0.4
  delta = optim.run(evasion.fgsm(eps), attack_loss, ZERO, ARGS, num_steps=1).x
  g = jax.grad(lambda d: evasion.bpr_of_perturbed(d, *ARGS))(ZERO)
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
  tx = evasion.pgd(8 / 255, 2 / 255, norm="linf", box=(0.0, 1.0), center=x)
  delta = optim.run(tx, loss, jnp.zeros_like(x), w, num_steps=10).x
  adv = x + delta
  assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
  assert float(jnp.abs(delta).max()) <= 8 / 255 + 1e-7
  np.testing.assert_allclose(adv[0, 2], 1.0)  # already at the top of the box


def test_validation():
  with pytest.raises(ValueError, match="norm"):
    evasion.pgd(0.1, 0.1, norm="l1")
  with pytest.raises(ValueError, match="axis"):
    evasion.pgd(0.1, 0.1, axis=0)
  with pytest.raises(ValueError, match="eps"):
    evasion.fgsm(-0.1)
  with pytest.raises(ValueError, match="num_steps"):
    optim.run(evasion.fgsm(0.1), attack_loss, ZERO, ARGS, num_steps=-1)
  with pytest.raises(ValueError, match="box must be"):
    evasion.pgd(0.1, 0.1, box=(jnp.zeros(3), 0.0, 1.0))  # the 0.1 form (center, lower, upper)


# ---------------------------------------------------------------------------------------------
# APR
# ---------------------------------------------------------------------------------------------
def test_apr_with_lambda_zero_is_bpr():
  obj = functools.partial(defenses.apr_loss, data=None, model=MODEL, eps=0.5, lambda_=0.0)
  bpr = functools.partial(MODEL.loss, data=None)
  v1, g1 = jax.value_and_grad(obj)(PARAMS, BATCH)
  v2, g2 = jax.value_and_grad(bpr)(PARAMS, BATCH)
  np.testing.assert_allclose(v1, v2, rtol=1e-6)
  for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)
  # and a whole training run, from the same parameters, optimiser state and key
  tx = optax.adagrad(0.05)
  victim = training.Victim(MODEL, tx, num_epochs=3, batch_size=4)
  outs = []
  for v in (defenses.apr(victim, eps=0.5, lambda_=0.0), victim):
    state = training.TrainState(PARAMS, tx.init(PARAMS), jax.random.key(3))
    state, _ = training.fit(v, state, IDX)
    outs.append(state.params)
  for a, b in zip(jax.tree.leaves(outs[0]), jax.tree.leaves(outs[1])):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


def test_apr_adversarial_term_and_eps_zero():
  model0 = models.mf(dim=D, reg=0.0)
  # eps = 0: the adversarial term is the clean BPR term, the objective (1 + lambda_) BPR + L2
  v0 = defenses.apr_loss(PARAMS, BATCH, None, model=model0, eps=0.0, lambda_=2.0)
  bpr = model0.loss(PARAMS, BATCH, None)
  np.testing.assert_allclose(v0, 3.0 * bpr, rtol=1e-6)
  # the adversarial BPR term is larger than the clean one (the perturbation hurts)
  delta = defenses.adversarial_delta(PARAMS, BATCH, eps=0.5)
  assert evasion.bpr_of_perturbed(delta, PARAMS, BATCH) > bpr
  # PGD inside finds a perturbation at least as harmful as FGSM, in the same ball
  pgd_delta = defenses.adversarial_delta(PARAMS, BATCH, eps=0.5, num_steps=10)
  assert evasion.bpr_of_perturbed(pgd_delta, PARAMS, BATCH) >= evasion.bpr_of_perturbed(
      delta, PARAMS, BATCH) - 1e-5
  # no gradient flows through the perturbation: the gradient is that of the clean loss plus
  # the adversarial term at a constant delta
  grads = jax.grad(lambda p: defenses.apr_loss(p, BATCH, model=MODEL, eps=0.5,
                                               lambda_=1.0))(PARAMS)
  assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(grads))
  fixed = defenses.adversarial_delta(PARAMS, BATCH, eps=0.5)
  want = jax.grad(lambda p: MODEL.loss(p, BATCH, None)
                  + evasion.bpr_of_perturbed(fixed, p, BATCH))(PARAMS)
  for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_perturb_embeddings_lowers_accuracy_proxy():
  batch, w = evasion.attack_triples(jax.random.key(0), IDX)
  assert int(w.sum()) == 8
  clean = evasion.bpr_of_perturbed(EmbeddingDelta(jnp.zeros((U, D)), jnp.zeros((I, D))),
                                   PARAMS, batch, w)
  for steps, rand in ((1, False), (10, True)):
    p, delta = evasion.perturb_embeddings(jax.random.key(1), PARAMS, batch, w, eps=0.3,
                                          num_steps=steps, random_init=rand)
    assert evasion.bpr_of_perturbed(delta, PARAMS, batch, w) > clean
    np.testing.assert_allclose(p.user_emb, PARAMS.user_emb + delta.user)
    assert float(jnp.linalg.norm(delta.user, axis=1).max()) <= 0.3 * (1 + 1e-5)


def test_apr_grid_lambda_zero_lane_is_bpr_and_grid_equals_loop():
  idx = data.build_index([0, 0, 1, 2, 3, 4, 5, 6, 1, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 0],
                         num_users=U, num_items=I)
  victim = training.Victim(models.mf(dim=D, reg=0.01),
                           optax.adagrad(0.05, initial_accumulator_value=0.1), num_epochs=4,
                           batch_size=4)
  fit = functools.partial(defenses.fit_apr_grid, victim=victim, pretrain_epochs=2,
                          adversarial_epochs=2)
  eps, lam = np.array([0.0, 0.5, 0.5]), np.array([0.0, 1.0, 0.1])
  params, curves = fit(idx, jax.random.key(0), eps=eps, lambda_=lam)
  assert curves.shape == (3, 2)
  assert isinstance(curves, np.ndarray) and isinstance(params.user_emb, np.ndarray)
  bpr, _ = jax.jit(training.fit_victim, static_argnums=0)(victim, idx, jax.random.key(0))
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(bpr)):
    np.testing.assert_allclose(a[0], b, rtol=1e-5, atol=1e-7)
  for g in (1, 2):  # one setting at a time gives the same models
    single, _ = fit(idx, jax.random.key(0), eps=eps[g:g + 1], lambda_=lam[g:g + 1])
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(single)):
      np.testing.assert_allclose(a[g], b[0], rtol=1e-5, atol=1e-7)
  assert not np.allclose(params.user_emb[1], params.user_emb[0])


# ---------------------------------------------------------------------------------------------
# the driver: start projection, key chain, remat
# ---------------------------------------------------------------------------------------------
def _box_loss(x, w):
  return jnp.sum(w * jnp.square(x - 0.3)) + jnp.sum(x)


def test_run_projects_the_start():
  """A start outside the box lands inside it before step 0: values[0] is the loss there."""
  w = jnp.linspace(0.5, 2.0, 12).reshape(3, 4)
  x0 = 3.0 * jax.random.normal(jax.random.key(0), (3, 4))  # far outside [0, 1]
  assert float(x0.min()) < 0.0 and float(x0.max()) > 1.0
  box = functools.partial(optim.project_box, lower=0.0, upper=1.0)
  tx = optax.chain(optax.sgd(0.1), optim.project(box))
  result = optim.run(tx, _box_loss, x0, w, num_steps=3)
  start = jnp.clip(x0, 0.0, 1.0)
  np.testing.assert_allclose(result.values[0], _box_loss(start, w), rtol=1e-6)
  assert result.values[0] != pytest.approx(float(_box_loss(x0, w)))
  # step 0 then starts from the projected point
  np.testing.assert_allclose(result.values[1], _box_loss(
      jnp.clip(start - 0.1 * jax.grad(_box_loss)(start, w), 0.0, 1.0), w), rtol=1e-6)
  # zero steps: the projected start itself
  zero = optim.run(tx, _box_loss, x0, w, num_steps=0)
  assert zero.values.shape == (0,)
  np.testing.assert_array_equal(zero.x, start)
  # a PGD random start in a large ball plus a box: inside both before the first step
  images = jnp.array([[0.0, 0.5, 1.0, 0.2], [0.9, 0.1, 0.4, 0.6], [0.3, 0.3, 0.99, 0.01]])
  delta0 = optim.random_start(jax.random.key(2), images, 0.5, norm="linf")
  assert float((images + delta0).min()) < 0.0 or float((images + delta0).max()) > 1.0
  tx = evasion.pgd(0.25, 0.01, norm="linf", box=(0.0, 1.0), center=images)
  loss = lambda d, w: _box_loss(images + d, w)  # noqa: E731
  result = optim.run(tx, loss, delta0, w, num_steps=2)
  projected = jnp.clip(jnp.clip(delta0, -0.25, 0.25), -images, 1.0 - images)
  np.testing.assert_allclose(result.values[0], loss(projected, w), rtol=1e-6)
  assert float(jnp.abs(result.x).max()) <= 0.25 + 1e-7
  assert 0.0 <= float((images + result.x).min()) and float((images + result.x).max()) <= 1.0
  # an opt_state given: continuing, no projection of the start
  cont = optim.run(tx, loss, delta0, w, num_steps=1, opt_state=tx.init(delta0))
  np.testing.assert_allclose(cont.values[0], loss(delta0, w), rtol=1e-6)


def test_run_key_schedule_is_the_split_chain():
  """Step t's key is the second half of splitting the running key; the final running key is
  returned."""
  key = jax.random.key(42)

  def loss(x, args, key_t):
    return jnp.sum(jnp.square(x - args)), jax.random.key_data(key_t)

  result = optim.run(optax.sgd(0.1), loss, jnp.zeros(3), jnp.ones(3), num_steps=5, key=key,
                     has_aux=True)
  running = key
  for t in range(5):
    running, key_t = jax.random.split(running)
    np.testing.assert_array_equal(result.aux[t], jax.random.key_data(key_t))
  np.testing.assert_array_equal(jax.random.key_data(result.key), jax.random.key_data(running))
  # continuing from the returned key and state is the same run as one long run
  first = optim.run(optax.sgd(0.1), loss, jnp.zeros(3), jnp.ones(3), num_steps=2, key=key,
                    has_aux=True)
  rest = optim.run(optax.sgd(0.1), loss, first.x, jnp.ones(3), num_steps=3, key=first.key,
                   opt_state=first.opt_state, has_aux=True)
  np.testing.assert_array_equal(jnp.concatenate([first.aux, rest.aux]), result.aux)
  np.testing.assert_array_equal(rest.x, result.x)
  assert optim.run(optax.sgd(0.1), lambda x, a: jnp.sum(x), jnp.zeros(3), None,
                   num_steps=2).key is None


@pytest.mark.parametrize("num_steps", [4, 10, 16])
def test_remat_gives_the_same_result_and_gradient(num_steps):
  """Two-level checkpointing changes memory, not numbers (10 steps: blocks of 4 plus a tail
  of 2; 16: four full blocks)."""
  w0 = jnp.linspace(0.5, 2.0, 12).reshape(3, 4)
  tx = optax.chain(optax.adam(0.05), optim.project(
      functools.partial(optim.project_box, lower=-1.0, upper=1.0)))

  def loss(x, w, key_t):
    noise = 0.1 * jax.random.normal(key_t, x.shape)
    value = jnp.sum(w * jnp.square(jnp.sin(x) - 0.3 + noise))
    return value, jnp.sum(noise)

  def outcome(w, remat):
    r = optim.run(tx, loss, jnp.full((3, 4), 2.0), w, num_steps=num_steps,
                  key=jax.random.key(1), has_aux=True, remat=remat)
    return jnp.sum(jnp.square(r.x)) + jnp.sum(r.values), r

  plain, r_plain = outcome(w0, False)
  checkpointed, r_remat = outcome(w0, True)
  np.testing.assert_allclose(checkpointed, plain, rtol=1e-6)
  for a, b in zip(jax.tree.leaves((r_remat.x, r_remat.values, r_remat.aux)),
                  jax.tree.leaves((r_plain.x, r_plain.values, r_plain.aux))):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  assert r_remat.values.shape == r_plain.aux.shape == (num_steps,)
  np.testing.assert_array_equal(jax.random.key_data(r_remat.key),
                                jax.random.key_data(r_plain.key))
  g_plain = jax.grad(lambda w: outcome(w, False)[0])(w0)
  g_remat = jax.grad(lambda w: outcome(w, True)[0])(w0)
  assert float(jnp.max(jnp.abs(g_plain))) > 0
  np.testing.assert_allclose(g_remat, g_plain, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# bad budgets: eps / step_size / radius / lambda_ as NumPy or JAX scalars or arrays
# ---------------------------------------------------------------------------------------------
ROWS = jnp.zeros((3, D))  # a plain (rows, D) perturbation: per-row budgets are (3, 1) arrays
ROW_W = jnp.arange(12.0).reshape(3, D) - 5.0


def _row_loss(d, w):
  return -jnp.sum(w * d)


def _scalar(kind, value):
  return {"numpy32": np.float32, "numpy64": np.float64, "jax": jnp.float32,
          "python": float}[kind](value)


def _array(kind, value, shape):
  """An array budget with one bad entry (a per-row budget for ``shape == (3, 1)``)."""
  full = np.full(shape, 0.2, np.float32)
  full.flat[full.size // 2] = value
  return full if kind == "numpy" else jnp.asarray(full)


APR_VICTIM = training.Victim(MODEL, optax.adagrad(0.05), num_epochs=1, batch_size=4)

# name -> (argument named in the error, f(value) -> arrays, shape of an array budget or None
# when only scalars are accepted)
BUDGETS = {
    "pgd_eps": ("eps", lambda v: optim.run(evasion.pgd(v, 0.05), _row_loss, ROWS, ROW_W,
                                           num_steps=2).x, (3, 1)),
    "pgd_step_size": ("step_size", lambda v: optim.run(evasion.pgd(0.3, v), _row_loss, ROWS,
                                                       ROW_W, num_steps=2).x, (3, 1)),
    "pgd_linf_eps": ("eps", lambda v: optim.run(evasion.pgd(v, 0.05, norm="linf"), _row_loss,
                                                ROWS, ROW_W, num_steps=2).x, (3, 1)),
    "fgsm_eps": ("eps", lambda v: optim.run(evasion.fgsm(v), _row_loss, ROWS, ROW_W,
                                            num_steps=1).x, (3, 1)),
    "random_start_eps": ("eps", lambda v: optim.random_start(jax.random.key(0), ROWS, v),
                         (3, 1)),
    "project_l2_ball_radius": ("radius", lambda v: optim.project_l2_ball(ROW_W, v), (3, 1)),
    "perturb_embeddings_eps": ("eps", lambda v: evasion.perturb_embeddings(
        jax.random.key(0), PARAMS, BATCH, jnp.ones(7), eps=v)[1], (1, 1)),
    "perturb_embeddings_random_eps": ("eps", lambda v: evasion.perturb_embeddings(
        jax.random.key(0), PARAMS, BATCH, jnp.ones(7), eps=v, num_steps=2,
        random_init=True)[1], (1, 1)),
    "perturb_embeddings_step_size": ("step_size", lambda v: evasion.perturb_embeddings(
        jax.random.key(0), PARAMS, BATCH, jnp.ones(7), eps=0.3, num_steps=2,
        step_size=v)[1], (1, 1)),
    "apr_eps": ("eps", lambda v: defenses.apr(APR_VICTIM, eps=v).objective(
        PARAMS, BATCH, None), (1, 1)),
    "apr_lambda": ("lambda_", lambda v: defenses.apr(APR_VICTIM, lambda_=v).objective(
        PARAMS, BATCH, None), None),
    "apr_loss_lambda": ("lambda_", lambda v: defenses.apr_loss(
        PARAMS, BATCH, model=MODEL, lambda_=v), None),
}
BAD = [-1.0, np.nan, np.inf]


@pytest.mark.parametrize("value", BAD, ids=["negative", "nan", "inf"])
@pytest.mark.parametrize("name", list(BUDGETS))
def test_bad_scalar_budget_is_an_error_eagerly_and_under_checked_jit(name, value):
  arg, fn, _ = BUDGETS[name]
  for kind in ("python", "numpy32", "numpy64", "jax"):
    with pytest.raises(ValueError, match=rf"{arg} must be finite and >= 0"):
      fn(_scalar(kind, value))
  # traced: the same ValueError under jaxrec.checked(jax.jit(f))
  with pytest.raises(ValueError, match=rf"{arg} must be finite and >= 0"):
    jaxrec.checked(jax.jit(fn))(jnp.float32(value))


@pytest.mark.parametrize("value", BAD, ids=["negative", "nan", "inf"])
@pytest.mark.parametrize("name", list(BUDGETS))
def test_bad_array_budget_is_an_error_eagerly_and_under_checked_jit(name, value):
  arg, fn, shape = BUDGETS[name]
  if shape is None:  # a scalar-only argument: any array is rejected, even under plain jit
    for bad in (np.array([0.2, value]), jnp.array([0.2, value]), np.array([0.2, 0.3])):
      with pytest.raises(ValueError, match=rf"{arg} must be a scalar"):
        fn(bad)
      with pytest.raises(ValueError, match=rf"{arg} must be a scalar"):
        jax.jit(fn)(bad)
    return
  for kind in ("numpy", "jax"):
    with pytest.raises(ValueError, match=rf"{arg} must be finite and >= 0"):
      fn(_array(kind, value, shape))
  with pytest.raises(ValueError, match=rf"{arg} must be finite and >= 0"):
    jaxrec.checked(jax.jit(fn))(_array("jax", value, shape))


@pytest.mark.parametrize("name", list(BUDGETS))
def test_valid_budgets_of_every_kind_agree(name):
  """NumPy and JAX numbers (and traced ones under checked jit) are accepted and give the
  Python float's result; a valid per-row array equals the scalar when constant."""
  _, fn, shape = BUDGETS[name]
  want = fn(0.2)
  for got in [fn(_scalar(k, 0.2)) for k in ("numpy32", "numpy64", "jax")] + [
      jaxrec.checked(jax.jit(fn))(jnp.float32(0.2))]:
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  if shape is not None:
    got = jaxrec.checked(jax.jit(fn))(jnp.full(shape, 0.2))
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_fit_apr_grid_rejects_bad_grids():
  fit = functools.partial(defenses.fit_apr_grid, IDX, jax.random.key(0), victim=APR_VICTIM,
                          pretrain_epochs=1, adversarial_epochs=1)
  for bad in (-1.0, np.nan, np.inf):
    with pytest.raises(ValueError, match="eps must be finite and >= 0"):
      fit(eps=np.array([0.1, bad]), lambda_=np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="lambda_ must be finite and >= 0"):
      fit(eps=jnp.array([0.1, 0.1]), lambda_=jnp.array([1.0, bad]))
  with pytest.raises(ValueError, match="one non-zero length"):
    fit(eps=np.array([0.1, 0.2]), lambda_=np.array([1.0]))
  with pytest.raises(ValueError, match="one non-zero length"):
    fit(eps=np.array([]), lambda_=np.array([]))


# ---------------------------------------------------------------------------------------------
# gradients through an attack at zero-gradient rows
# ---------------------------------------------------------------------------------------------
def _zero_row_problem():
  """PARAMS with user 5's factors set to 0 and one more triple (5, 7, 8).

  Rows with zero attack gradient at delta = 0: user 3 and item 3 (their triple has i == j),
  user 6 (no triple), and items 7 and 8, whose gradient ``-sigma(.) * p_5`` vanishes only because
  ``p_5 = 0``: its derivative with respect to ``p_5`` is not zero. A floored normalisation
  ``g / max(||g||, 1e-15)`` would turn that derivative into ~1e15 (the 0.1 bug).
  """
  params = PARAMS.replace(user_emb=PARAMS.user_emb.at[5].set(0.0))
  batch = data.BPRBatch(*(jnp.concatenate([x, jnp.array([v])]) for x, v in
                          zip(BATCH, (5, 7, 8))))
  return params, batch, jnp.ones((8,))


def _fgsm_delta(params, batch, w, eps):
  return optim.run(evasion.fgsm(eps), attack_loss, ZERO, (params, batch, w), num_steps=1).x


# fixed generic weights: F = sum(C * delta). (A plain sum would hide a bad derivative at items
# 7 and 8: their gradients are +-sigma(.) p_5, so their contributions cancel exactly.)
C = EmbeddingDelta(jax.random.uniform(jax.random.key(7), (U, D), minval=0.5, maxval=1.5),
                   jax.random.uniform(jax.random.key(8), (I, D), minval=-1.5, maxval=-0.5))


def _delta_sum(delta):
  return jnp.sum(C.user * delta.user) + jnp.sum(C.item * delta.item)


def test_gradient_through_fgsm_is_finite_and_bounded_at_zero_gradient_rows():
  """F(theta) = sum(C * FGSM delta). Per row r with gradient g_r != 0, delta_r = eps g_r /
  ||g_r|| (up to sign) has Jacobian eps (I - u u^T) / ||g_r|| with respect to g_r, so

      |dF / dtheta_k| <= sum_{r : g_r != 0} eps ||C_r|| ||dg_r / dtheta_k|| / ||g_r||

  (|C_r^T (I - u u^T) v| <= ||C_r|| ||v||); rows with g_r = 0 are not perturbed and contribute
  nothing. The bound is computed from jax.jacobian of the attack gradient alone (no
  normalisation involved) and checked element by element."""
  params, batch, w = _zero_row_problem()
  eps = 0.3

  def attack_grad(theta):
    return jax.grad(attack_loss)(ZERO, (theta, batch, w))

  g = attack_grad(params)
  norms = [np.linalg.norm(np.asarray(x), axis=1) for x in g]
  assert np.flatnonzero(norms[0] == 0).tolist() == [3, 6]
  assert np.flatnonzero(norms[1] == 0).tolist() == [3, 7, 8]
  jac = jax.jacobian(attack_grad)(params)  # EmbeddingDelta of MFParams of Jacobians
  # the trap is armed: items 7, 8 have zero gradient but a derivative of order 1 in p_5
  assert float(jnp.abs(jac.item.user_emb[7:9, :, 5, :]).max()) > 0.1

  bound = jax.tree.map(lambda p: np.zeros(p.shape), params)
  for out_norms, out_jac, c in zip(norms, jac, C):  # the user rows, then the item rows
    inv = np.where(out_norms > 0, 1.0 / np.where(out_norms > 0, out_norms, 1.0), 0.0)
    inv = inv * np.linalg.norm(np.asarray(c, np.float64), axis=1)
    bound = jax.tree.map(
        lambda b, j: b + eps * np.tensordot(
            inv, np.linalg.norm(np.asarray(j, np.float64), axis=1), axes=(0, 0)),
        bound, out_jac)

  grads = jax.grad(lambda theta: _delta_sum(_fgsm_delta(theta, batch, w, eps)))(params)
  for name, gr, b in zip(("user_emb", "item_emb", "item_bias"), jax.tree.leaves(grads),
                         jax.tree.leaves(bound)):
    gr = np.asarray(gr)
    assert np.isfinite(gr).all(), name
    assert np.all(np.abs(gr) <= b * (1 + 1e-4) + 1e-6), (name, np.max(np.abs(gr) - b))
  # modest: the bound is at most 3.3 here (measured); the 0.1 floored norm gave ~6e13
  assert max(float(np.max(b)) for b in jax.tree.leaves(bound)) < 10.0
  # dF/dp_5 = 0: items 7, 8 (zero gradient) are not perturbed and carry no derivative, and p_5
  # changes user 5's gradient sigma(-x) (q_8 - q_7) only in length, which the normalisation
  # removes (zero up to float32 rounding; a floored norm would put ~1e14 here)
  np.testing.assert_allclose(grads.user_emb[5], 0.0, atol=1e-6)


def test_gradient_through_fgsm_with_respect_to_eps():
  """delta = eps * (unit rows, independent of eps), so dF/deps = F / eps exactly and
  |dF/deps| <= sum of ||C_r|| over the perturbed rows (at most 1.5 sqrt(D) each)."""
  params, batch, w = _zero_row_problem()
  f = lambda e: _delta_sum(_fgsm_delta(params, batch, w, e))  # noqa: E731
  for eps in (0.0, 0.3, 2.0):
    value, grad = jax.value_and_grad(f)(eps)
    assert np.isfinite(grad)
    assert abs(float(grad)) <= (U + I - 5) * 1.5 * np.sqrt(D)  # 5 rows are never perturbed
    if eps:
      np.testing.assert_allclose(grad, value / eps, rtol=1e-5)
  # the same at eps = 0, where every row of delta is 0: the unit rows' sum
  np.testing.assert_allclose(jax.grad(f)(0.0), f(1.0), rtol=1e-5)


def _reference_pgd(params, batch, w, eps, step, num_steps, masks=None):
  """L2 per-row PGD from 0 with the set of active rows fixed (computed concretely when
  ``masks`` is None): gathered rows normalised by jnp.linalg.norm, no where-trick, no floor.
  Its derivative is the textbook derivative of the iteration on the piece where no row changes
  between zero and non-zero."""
  record = masks is None
  masks = [] if record else masks
  delta = ZERO
  for t in range(num_steps):
    g = jax.grad(attack_loss)(delta, (params, batch, w))
    if record:
      masks.append([np.flatnonzero(np.linalg.norm(np.asarray(x), axis=1) > 0) for x in g])
    moved = []
    for d, gr, rows in zip(delta, g, masks[t]):
      unit = gr[rows] / jnp.linalg.norm(gr[rows], axis=1, keepdims=True)
      moved.append(d.at[rows].add(-step * unit))
    if record:
      masks[t] = masks[t] + [np.flatnonzero(np.linalg.norm(np.asarray(x), axis=1) > 0)
                             for x in moved]
    projected = []
    for d, rows in zip(moved, masks[t][2:]):
      r = d[rows]
      projected.append(d.at[rows].set(
          r * jnp.minimum(1.0, eps / jnp.linalg.norm(r, axis=1, keepdims=True))))
    delta = EmbeddingDelta(*projected)
  return delta, masks


@pytest.mark.parametrize("num_steps", [1, 4])
def test_gradient_through_pgd_matches_the_fixed_active_set_reference(num_steps):
  """jax.grad through jaxrec's PGD (L2 per row, from 0) at zero-gradient rows equals the
  derivative of the same iteration with the zero rows held at zero (a reference written
  without the library's safe norm); so it is finite and bounded by that reference's size."""
  params, batch, w = _zero_row_problem()
  eps, step = 0.3, 0.3 / 2
  _, masks = _reference_pgd(params, batch, w, eps, step, num_steps)
  assert 7 not in masks[0][1] and 8 not in masks[0][1]  # items 7, 8: zero gradient at step 0

  def lib(theta):
    return _delta_sum(optim.run(evasion.pgd(eps, step), attack_loss, ZERO, (theta, batch, w),
                                num_steps=num_steps).x)

  def ref(theta):
    return _delta_sum(_reference_pgd(theta, batch, w, eps, step, num_steps, masks)[0])

  np.testing.assert_allclose(lib(params), ref(params), rtol=1e-5, atol=1e-6)
  g_lib, g_ref = jax.grad(lib)(params), jax.grad(ref)(params)
  biggest = max(float(jnp.max(jnp.abs(x))) for x in jax.tree.leaves(g_ref))
  assert 0 < biggest < 10.0  # modest: 0.30 (1 step), 0.43 (4 steps); the 0.1 norm gave ~3e13
  for a, b in zip(jax.tree.leaves(g_lib), jax.tree.leaves(g_ref)):
    assert bool(jnp.all(jnp.isfinite(a)))
    assert float(jnp.max(jnp.abs(a))) <= biggest * (1 + 1e-4) + 1e-6
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  # and with respect to eps (traced budget)
  ge = jax.grad(lambda e: _delta_sum(optim.run(evasion.pgd(e, e / 2), attack_loss, ZERO,
                                               (params, batch, w), num_steps=num_steps).x))(eps)
  ge_ref = jax.grad(lambda e: _delta_sum(_reference_pgd(params, batch, w, e, e / 2, num_steps,
                                                        masks)[0]))(eps)
  assert np.isfinite(ge)
  np.testing.assert_allclose(ge, ge_ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("setting, match", [
    (dict(step_size=-0.1), "step_size"), (dict(step_size=float("nan")), "step_size"),
    (dict(num_steps=0), "num_steps"), (dict(norm="l1"), "norm"), (dict(axis=0), "axis"),
    (dict(eps=-1.0), "eps"), (dict(lambda_=float("inf")), "lambda_")])
def test_apr_checks_every_setting_at_the_call(setting, match):
  victim = training.Victim(models.mf(dim=4), optax.sgd(0.1), num_epochs=1, batch_size=8)
  with pytest.raises(ValueError, match=match):
    defenses.apr(victim, **setting)


def test_bpr_of_perturbed_reads_the_batchs_own_weights():
  """A BPRBatch's weights (e.g. rejection sampling's) count without being passed again."""
  w = jnp.array([1.0, 0.0, 2.0, 1.0, 0.5, 0.0, 1.0])
  weighted = data.BPRBatch(*BATCH[:3], w)
  want = evasion.bpr_of_perturbed(ZERO, PARAMS, BATCH, w)
  assert float(evasion.bpr_of_perturbed(ZERO, PARAMS, weighted)) == pytest.approx(float(want))
  assert float(want) != pytest.approx(float(evasion.bpr_of_perturbed(ZERO, PARAMS, BATCH)))
  assert float(evasion.bpr_of_perturbed(ZERO, PARAMS, weighted, w)) == pytest.approx(float(want))
  with pytest.raises(ValueError, match="weights given twice"):
    evasion.bpr_of_perturbed(ZERO, PARAMS, weighted, jnp.ones((7,)))
