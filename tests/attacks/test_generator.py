"""Learned fake-profile generator: gradients, exact budget, determinism, training, stealth,
validation."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import jaxrec
from jaxrec import data, metrics
from jaxrec.attacks.poisoning import (
    bilevel_loss, ce_loss, fit_surrogate, lfm_surrogate, margin_loss, train_generator,
    two_sample_accuracy)
from jaxrec.attacks.poisoning._generator import (
    ProfileDiscriminator, ProfileGenerator, discriminator_loss, generate, generator_loss,
    sample_inputs)

# ---------------------------------------------------------------------------------------------
# a tiny problem for gradients, and a small planted one for training


def _tiny(dtype):
  rng = np.random.default_rng(3)
  real = (rng.random((8, 6)) < 0.4).astype(dtype)
  real[:, 2] = 1.0 - real[:, 2]  # no empty row
  real[0, 1] = 1.0
  return jnp.asarray(real), jnp.asarray([1], jnp.int32)


def _tiny_problem(dtype, estimator):
  real, targets = _tiny(dtype)
  generator, discriminator = ProfileGenerator(hidden=(3,)), ProfileDiscriminator(hidden=(4,))
  ids, template, noise = sample_inputs(jax.random.key(0), real, 2, 3)
  cast = functools.partial(jax.tree.map, lambda p: p.astype(dtype))
  gen_params = cast(generator.init(jax.random.key(1), template, noise)["params"])
  # a trained-looking generator: perturb the small output layer so that every parameter matters
  flat, unravel = ravel_pytree(gen_params)
  gen_params = unravel(flat + 0.3 * jax.random.normal(jax.random.key(2), flat.shape, dtype))
  disc_params = cast(discriminator.init(jax.random.key(3), template)["params"])
  surrogate = lfm_surrogate(dim=2, num_steps=3, learning_rate=0.1, reg=0.01)
  kw = dict(generator=generator, discriminator=discriminator, surrogate=surrogate,
            loss=ce_loss, filler_size=2, estimator=estimator, disc_weight=0.7,
            budget_weight=0.05)
  args = (disc_params, real, targets, template, noise, jax.random.key(4))
  return gen_params, args, kw


def test_generator_gradient_matches_central_differences():
  """Relaxed estimator: exact gradient of L_G (attack + GAN + budget terms) in float64."""
  with jax.enable_x64(True):
    gen_params, args, kw = _tiny_problem(np.float64, "relaxed")
    flat, unravel = ravel_pytree(gen_params)
    # one compiled program for the values and the gradient
    f = jax.jit(jax.value_and_grad(lambda v: generator_loss(unravel(v), *args, **kw)[0]))
    grad = np.asarray(f(flat)[1])
    assert np.abs(grad).max() > 1e-6
    rng = np.random.default_rng(0)
    eps = 1e-6
    for _ in range(4):
      v = rng.standard_normal(flat.shape)
      v /= np.linalg.norm(v)
      fd = (float(f(flat + eps * v)[0]) - float(f(flat - eps * v)[0])) / (2 * eps)
      np.testing.assert_allclose(grad @ v, fd, rtol=1e-3)


def test_straight_through_gradient_is_the_relaxed_chain_rule_at_the_binary_profile():
  """ST: forward on the exact-budget binary profile; backward = VJP of the relaxed map with the
  outer gradient taken at that binary profile."""
  with jax.enable_x64(True):
    gen_params, args, kw = _tiny_problem(np.float64, "straight_through")
    disc_params, real, targets, template, noise, key = args
    generator, discriminator = kw["generator"], kw["discriminator"]
    relaxed, profile = generate(gen_params, template, noise, targets, generator=generator,
                                filler_size=2)
    assert set(np.unique(np.asarray(profile))) <= {0.0, 1.0}
    np.testing.assert_array_equal(np.asarray(profile).sum(1), 3)

    def outer(p):  # attack + GAN terms as functions of the profile the surrogate sees
      logits = discriminator.apply({"params": disc_params}, p.at[:, targets].set(0.0))
      return (bilevel_loss(p, real, targets, key, surrogate=kw["surrogate"], loss=ce_loss)
              + kw["disc_weight"] * jnp.mean(jax.nn.softplus(-logits)))

    def budget(r):
      return kw["budget_weight"] * jnp.mean((jnp.sum(r, axis=1) - 1 - 2) ** 2)

    def relaxed_fn(params):
      return generate(params, template, noise, targets, generator=generator, filler_size=2,
                      estimator="relaxed")[0]

    cot = jax.grad(outer)(profile) + jax.grad(budget)(relaxed)
    expected = jax.vjp(relaxed_fn, gen_params)[1](cot)[0]
    got = jax.grad(lambda p: generator_loss(p, *args, **kw)[0])(gen_params)
    for g, e in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
      np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


def test_discriminator_loss_is_the_cross_entropy_plus_r1():
  real, targets = _tiny(np.float32)
  disc = ProfileDiscriminator(hidden=())
  params = {"out": {"kernel": jnp.full((6, 1), 0.5), "bias": jnp.asarray([-1.0])}}
  fake = real[:3]
  loss, ce = discriminator_loss(params, real, fake, targets, discriminator=disc, r1_weight=2.0)
  hide = np.asarray(real).copy()
  hide[:, 1] = 0.0
  z = hide @ np.full(6, 0.5) - 1.0
  expected_ce = np.mean(np.log1p(np.exp(-z))) + np.mean(np.log1p(np.exp(z[:3])))
  np.testing.assert_allclose(ce, expected_ce, rtol=1e-5)
  # linear D: |grad_x D|^2 = |w|^2 = 6 * 0.25, R1 term = 2 / 2 * 1.5
  np.testing.assert_allclose(loss - ce, 1.5, rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# training on a planted problem (one compiled program shared by the tests below)

_STEPS, _FAKE, _FILLER = 60, 15, 5


def _planted():
  rng = np.random.default_rng(0)
  x = (rng.standard_normal((150, 4)) @ rng.standard_normal((4, 40)) > 1.5).astype(np.float32)
  return jnp.asarray(x), jnp.asarray([0], jnp.int32)


_SURROGATE = lfm_surrogate(dim=4, num_steps=30, learning_rate=0.1)
_OBJECTIVE = functools.partial(margin_loss, k=5, reduction="mean")
_SURROGATE_KEY = jax.random.key(1)


def _train(seed=0, steps=_STEPS, **kw):
  real, targets = _planted()
  return train_generator(jax.random.key(seed), real, targets, surrogate=_SURROGATE,
                         loss=_OBJECTIVE, num_fake=_FAKE, filler_size=_FILLER,
                         num_steps=steps, gen_lr=0.03, surrogate_key=_SURROGATE_KEY, **kw)


@pytest.fixture(scope="module")
def trained():
  return {"init": _train(steps=0), "plain": _train(disc_weight=0.0),
          "disc": _train(disc_weight=0.3)}


@jax.jit
def _fit_and_loss(fake, real, targets):
  matrix = jnp.concatenate([real, fake])
  params = fit_surrogate(_SURROGATE, matrix, _SURROGATE_KEY)
  return params, bilevel_loss(fake, real, targets, _SURROGATE_KEY, surrogate=_SURROGATE,
                              loss=_OBJECTIVE)


def _hr_and_loss(fake):
  real, targets = _planted()
  params, loss = _fit_and_loss(fake, real, targets)
  hr = metrics.target_exposure(_SURROGATE.model, params, data.index_from_dense(real), targets,
                               data=jnp.concatenate([real, fake]), ks=(5,))[0]["target_hr"][5]
  return hr, float(loss)


def test_profiles_respect_the_budget_exactly(trained):
  for res in trained.values():
    fake = np.asarray(res.fake)
    assert fake.shape == (_FAKE, 40) and fake.dtype == np.float32
    assert set(np.unique(fake)) <= {0.0, 1.0}
    np.testing.assert_array_equal(fake.sum(axis=1), _FILLER + 1)
    assert (fake[:, 0] == 1).all()
    relaxed = np.asarray(res.relaxed)
    assert ((relaxed > 0) & (relaxed <= 1)).all() and (relaxed[:, 0] == 1).all()
    assert np.unique(np.asarray(res.template_ids)).size == _FAKE


def test_budget_on_tiny_data():
  """The relaxed estimator's final projection, no fillers, two targets, no noise."""
  real, _ = _tiny(np.float32)
  res = train_generator(jax.random.key(0), real, jnp.asarray([1, 4]), surrogate=_SURROGATE,
                        loss=ce_loss, num_fake=3, filler_size=0, num_steps=2,
                        estimator="relaxed", disc_hidden=(), noise_dim=0)
  fake = np.asarray(res.fake)
  np.testing.assert_array_equal(fake, np.zeros((3, 6)) + np.isin(np.arange(6), [1, 4]))
  assert all(v.shape == (2,) for v in res.curve.values())


def test_same_key_same_profiles(trained):
  again = _train(disc_weight=0.0)
  np.testing.assert_array_equal(again.fake, trained["plain"].fake)
  for name, v in trained["plain"].curve.items():
    np.testing.assert_array_equal(again.curve[name], v)
  other = _train(seed=5, disc_weight=0.0)
  assert not np.array_equal(other.fake, trained["plain"].fake)


def test_training_lowers_the_attack_loss_and_raises_target_hr(trained):
  hr0, loss0 = _hr_and_loss(trained["init"].fake)
  hr1, loss1 = _hr_and_loss(trained["plain"].fake)
  # measured with 0.2's simultaneous updates (seeds 0-2): HR@5 0.19-0.28 -> 0.58-0.62, outer
  # loss 0.84-0.93 -> 0.67-0.70
  assert loss1 < loss0 - 0.1
  assert hr1 > hr0 + 0.15
  curve = np.asarray(trained["plain"].curve["attack_loss"])
  assert curve.shape == (_STEPS,) and curve[-10:].mean() < curve[:10].mean() - 0.05


def test_discriminator_term_moves_profiles_toward_real_rows(trained):
  """With disc_weight 0.3 an independent logistic regression separates the generated rows from
  real ones less well, and the generator's own discriminator ends nearer chance (2 log 2).

  Measured over seeds 0-2 (0.2, simultaneous updates): two-sample accuracy 1.00 without the
  term, 0.70-0.80 with it; the discriminator's cross-entropy over the last 10 steps 0.95-0.97
  against 1.23-1.25.
  """
  real, _ = _planted()
  idx = np.random.default_rng(0).choice(150, _FAKE, replace=False)
  acc = {name: two_sample_accuracy(np.asarray(real)[idx], trained[name].fake,
                                   jax.random.key(0), targets=[0])
         for name in ("plain", "disc")}
  assert acc["disc"] < acc["plain"] - 0.15, acc
  ce = {name: float(np.mean(np.asarray(trained[name].curve["disc_loss"])[-10:]))
        for name in ("plain", "disc")}
  assert ce["disc"] > ce["plain"] + 0.15, ce


def test_two_sample_accuracy_separates_and_confuses():
  rng = np.random.default_rng(0)
  a = (rng.random((40, 12)) < 0.3).astype(np.float32)
  b = (rng.random((40, 12)) < 0.3).astype(np.float32)
  far = np.zeros((40, 12), np.float32)
  far[:, 9:] = 1.0
  key = jax.random.key(0)
  assert two_sample_accuracy(a, far, key) > 0.95
  assert two_sample_accuracy(a, b, key) < 0.75
  # hiding the only differing columns makes the samples identical to the classifier
  same = a.copy()
  same[:, 9:] = 1.0
  assert two_sample_accuracy(a, same, key, targets=[9, 10, 11]) < 0.75


# ---------------------------------------------------------------------------------------------
# validation


@pytest.mark.parametrize("change, match", [
    ({"real": np.array([[0.0, 2.0, 1.0, 0.0, 1.0, 0.0]], np.float32)}, "only 0 and 1"),
    ({"real": np.ones((3, 6), np.int32)}, "floating"),
    ({"real": np.ones(6, np.float32)}, "2-D"),
    ({"targets": [6]}, r"targets must lie in \[0, 6\)"),
    ({"targets": [1, 1]}, "repeats an id"),
    ({"targets": []}, "must not be empty"),
    ({"targets": [0.5]}, "integer"),
    ({"num_fake": 0}, "num_fake"),
    ({"num_fake": 9}, "num_fake"),
    ({"filler_size": 6}, "filler_size"),
    ({"filler_size": -1}, "filler_size"),
    ({"num_steps": -1}, "num_steps"),
    ({"num_steps": 1.5}, "num_steps"),
    ({"gen_lr": 0.0}, "gen_lr"),
    ({"gen_lr": np.float32(-0.1)}, "gen_lr"),
    ({"disc_lr": float("nan")}, "disc_lr"),
    ({"disc_lr": jnp.float32(np.nan)}, "disc_lr"),
    ({"disc_weight": -0.1}, "disc_weight"),
    ({"disc_weight": np.float64(-0.1)}, "disc_weight"),
    ({"budget_weight": float("inf")}, "budget_weight"),
    ({"r1_weight": -1.0}, "r1_weight"),
    ({"r1_weight": jnp.float32(np.inf)}, "r1_weight"),
    ({"r1_weight": np.float64(np.nan)}, "r1_weight"),
    ({"gen_lr": jnp.float32(np.inf)}, "gen_lr"),
    ({"gen_lr": np.float64(np.nan)}, "gen_lr"),
    ({"disc_lr": np.float32(-1e-3)}, "disc_lr"),
    ({"disc_lr": jnp.float32(0.0)}, "disc_lr"),
    ({"disc_weight": jnp.float32(np.inf)}, "disc_weight"),
    ({"disc_weight": np.float32(np.nan)}, "disc_weight"),
    ({"budget_weight": np.float32(-1.0)}, "budget_weight"),
    ({"budget_weight": jnp.float32(np.nan)}, "budget_weight"),
    ({"template_logit": jnp.float32(np.inf)}, "template_logit"),
    ({"real": np.full((3, 6), np.nan, np.float32)}, "only 0 and 1"),
    ({"real": np.zeros((0, 6), np.float32)}, "must not be empty"),
    ({"targets": [-1]}, r"targets must lie in \[0, 6\)"),
    ({"num_fake": 2.5}, "num_fake"),
    ({"disc_batch": 0}, "disc_batch"),
    ({"surrogate": "lfm"}, "training.Victim"),
    ({"noise_dim": -1}, "noise_dim"),
    ({"hidden": (0,)}, "hidden"),
    ({"disc_hidden": "64"}, "disc_hidden"),
    ({"estimator": "gumbel"}, "estimator"),
    ({"disc_batch": 9}, "disc_batch"),
    ({"template_logit": float("nan")}, "template_logit"),
])
def test_bad_inputs_raise(change, match):
  real, _ = _tiny(np.float32)
  kw = dict(real=real, targets=jnp.asarray([1]), surrogate=_SURROGATE, loss=ce_loss,
            num_fake=2, filler_size=2, num_steps=1)
  kw.update(change)
  with pytest.raises(ValueError, match=match):
    train_generator(jax.random.key(0), **kw)


_RATES = ("gen_lr", "disc_lr")
_WEIGHTS = ("disc_weight", "budget_weight", "r1_weight")


@pytest.mark.parametrize("name", _RATES + _WEIGHTS)
def test_bad_traced_rates_and_weights_raise_under_checked_jit(name):
  """Learning rates and weights are traced (one program for every value): under jit their
  checks are checkify checks, raised by jaxrec.checked with the eager message; negative, NaN and
  infinite NumPy / JAX scalars alike. NaN and inf are checked with num_steps=0, so that the bad
  value reaches no later check (NaN profiles would also fail project_top_m's, and which of two
  failed checks jaxrec.checked reports depends on the order their programs were first traced)."""
  real, targets = _tiny(np.float32)
  good = {"gen_lr": 0.01, "disc_lr": 1e-3, "disc_weight": 0.5, "budget_weight": 0.1,
          "r1_weight": 1.0}

  def make(num_steps):
    def f(values, real, targets):
      return train_generator(jax.random.key(0), real, targets, surrogate=_SURROGATE,
                             loss=ce_loss, num_fake=2, filler_size=2, num_steps=num_steps,
                             **values).fake
    return jax.jit(f)

  one, zero = make(1), make(0)
  np.testing.assert_array_equal(jaxrec.checked(one)(good, real, targets).sum(axis=1), 3)
  low = 0.0 if name in _RATES else -1e-3  # a rate must be > 0, a weight >= 0
  bound = "> 0" if name in _RATES else ">= 0"
  for bad, fn in ((np.float32(low), one), (jnp.float32(-1.0), one), (np.float64(np.nan), zero),
                  (jnp.float32(np.nan), zero), (jnp.float32(np.inf), zero),
                  (np.float32(-np.inf), zero)):
    with pytest.raises(ValueError, match=f"{name} must be finite and {bound}"):
      jaxrec.checked(fn)({**good, name: bad}, real, targets)
    with pytest.raises(ValueError, match=f"{name} must be finite and {bound}"):  # eager
      train_generator(jax.random.key(0), real, targets, surrogate=_SURROGATE, loss=ce_loss,
                      num_fake=2, filler_size=2, num_steps=1, **{**good, name: bad})


def test_bad_traced_data_raise_under_checked_jit():
  real, targets = _tiny(np.float32)
  f = jax.jit(lambda r, t: train_generator(jax.random.key(0), r, t, surrogate=_SURROGATE,
                                           loss=ce_loss, num_fake=2, filler_size=2,
                                           num_steps=1).fake)
  np.testing.assert_array_equal(jaxrec.checked(f)(real, targets).sum(axis=1), 3)
  for r, t, match in [(real, jnp.asarray([6]), r"targets must lie in \[0, 6\)"),
                      (real, jnp.asarray([-1]), r"targets must lie in \[0, 6\)"),
                      (real, jnp.asarray([1, 1]), "targets repeats an id"),
                      (real * 0.5, targets, "real must hold only 0 and 1")]:
    with pytest.raises(ValueError, match=match):
      jaxrec.checked(f)(r, t)
  with pytest.raises(ValueError, match="targets must not be empty"):  # static: even plain jit
    f(real, jnp.zeros((0,), jnp.int32))


def test_bad_inputs_raise_elsewhere():
  real, targets = _tiny(np.float32)
  with pytest.raises(ValueError, match="estimator"):
    generate({}, real, real[:, :0], targets, generator=ProfileGenerator(), filler_size=1,
             estimator="gumbel")
  with pytest.raises(ValueError, match="5 items"):
    two_sample_accuracy(real, real[:, :5], jax.random.key(0))
  with pytest.raises(ValueError, match="folds"):
    two_sample_accuracy(real, real, jax.random.key(0), folds=1)
  with pytest.raises(ValueError, match="only 0 and 1"):
    two_sample_accuracy(real, 0.5 * real, jax.random.key(0))
  for bad in (np.float32(-0.1), jnp.float32(np.nan), np.float64(np.inf)):
    with pytest.raises(ValueError, match="l2 must be finite and >= 0"):
      two_sample_accuracy(real, real, jax.random.key(0), l2=bad)
  for bad in (0.0, np.float32(-0.1), jnp.float32(np.nan), jnp.float32(np.inf)):
    with pytest.raises(ValueError, match="learning_rate must be finite and > 0"):
      two_sample_accuracy(real, real, jax.random.key(0), learning_rate=bad)
  with pytest.raises(ValueError, match="num_steps"):
    two_sample_accuracy(real, real, jax.random.key(0), num_steps=0)
  with pytest.raises(ValueError, match=r"targets must lie in \[0, 6\)"):
    two_sample_accuracy(real, real, jax.random.key(0), targets=[6])
  with pytest.raises(ValueError, match="targets repeats an id"):
    two_sample_accuracy(real, real, jax.random.key(0), targets=[1, 1])
