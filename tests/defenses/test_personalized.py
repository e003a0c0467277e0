"""Per-user adversarial training (APR's triple form, VAT, PamaCF), SharpCF, and warm-up epochs."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrec import defenses, models, training
from jaxrec.data import build_index, sample_bpr_triples

U, I = 30, 20


@pytest.fixture(scope="module")
def index():
  rng = np.random.default_rng(0)
  u = rng.integers(0, U, 200)
  i = rng.integers(0, I, 200)
  return build_index(jnp.asarray(u, jnp.int32), jnp.asarray(i, jnp.int32), num_users=U,
                     num_items=I)


@pytest.fixture(scope="module")
def victim():
  return training.Victim(models.mf(dim=8, reg=0.01), optax.adagrad(0.05), num_epochs=4,
                         batch_size=32)


@pytest.fixture(scope="module")
def params(victim, index):
  return jax.jit(lambda k: training.fit_victim(victim, index, k))(jax.random.key(0))[0]


def _fit(v, index, seed=0):
  return jax.jit(lambda k: training.fit_victim(v, index, k))(jax.random.key(seed))


def _leaves_equal(a, b):
  return all(bool(jnp.array_equal(x, y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _leaves_close(a, b):  # a snapshot is written as an additive update: last-bit rounding
  return all(np.allclose(x, y, rtol=1e-6, atol=1e-8)
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_triple_delta_is_the_unit_ascent_direction_scaled_per_triple(params, index):
  batch = sample_bpr_triples(jax.random.key(1), index, 16)
  radius = jnp.linspace(0.1, 1.6, 16)
  du, di, dj = defenses.triple_delta(params, batch, radius)
  # BPR's gradient rows for MF: -sigma(-x)(q_i - q_j), -sigma(-x) p_u, +sigma(-x) p_u
  p, qi, qj = params.user_emb[batch.users], params.item_emb[batch.pos_items], \
      params.item_emb[batch.neg_items]
  unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
  r = np.asarray(radius)[:, None]
  np.testing.assert_allclose(du, -r * unit(np.asarray(qi - qj)), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(di, -r * unit(np.asarray(p)), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(dj, r * unit(np.asarray(p)), rtol=1e-5, atol=1e-7)


def test_constant_per_user_eps_equals_apr_triple_form_exactly(params, victim, index):
  batch = sample_bpr_triples(jax.random.key(2), index, 16)
  loss = lambda **kw: defenses.user_apr_loss(params, batch, model=victim.model, **kw)  # noqa
  grad = lambda **kw: jax.grad(lambda p: defenses.user_apr_loss(  # noqa: E731
      p, batch, model=victim.model, **kw))(params)
  for fixed in (dict(user_eps=jnp.full((U,), 0.7)),
                dict(user_eps=lambda p, b: jnp.full(b.users.shape, 0.7))):
    assert loss(eps=0.5, **fixed) == loss(eps=0.5 * 0.7)
    assert _leaves_equal(grad(eps=0.5, **fixed), grad(eps=0.5 * 0.7))
  # the whole training run too: VAT's recipe with a constant vulnerability is APR's
  const = defenses.user_apr(victim, eps=0.5, user_eps=lambda p, b: jnp.full(b.users.shape, 2.0))
  plain = defenses.user_apr(victim, eps=1.0)
  assert _leaves_equal(_fit(const, index)[0], _fit(plain, index)[0])
  # lambda_ = 0: BPR's value
  assert loss(eps=0.5, lambda_=0.0) == victim.model.loss(params, batch, None)


def test_vat_and_pamacf_weights_match_hand_computation():
  p = models.MFParams(user_emb=jnp.asarray([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]),
                      item_emb=jnp.asarray([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]),
                      item_bias=jnp.zeros((3,)))
  from jaxrec.data import BPRBatch
  batch = BPRBatch(users=jnp.asarray([0, 0, 1], jnp.int32),
                   pos_items=jnp.asarray([0, 2, 1], jnp.int32),
                   neg_items=jnp.asarray([1, 1, 0], jnp.int32))
  sp = lambda x: np.log1p(np.exp(-x))  # noqa: E731  BPR loss of margin x
  # margins: user 0: (1 - 0) = 1 and (0 - 0) = 0; user 1: (2 - 0) = 2
  l0, l1 = sp(1.0) + sp(0.0), sp(2.0)
  mean = (l0 + l1) / 2
  sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
  want = 2.0 * sig(mean / (np.asarray([l0, l0, l1]) + 1e-9) - 1)
  np.testing.assert_allclose(defenses.vat_weights(p, batch), want, rtol=1e-6)
  norms = np.asarray([1.0, 1.0, 4.0])
  want = 3.0 * sig(norms / norms.mean() - 1)
  np.testing.assert_allclose(defenses.pamacf_weights(p, batch, user_lambda=3.0), want,
                             rtol=1e-6)


def test_sharpcf_lambda_zero_is_bpr_and_snapshots_roll(victim, index):
  steps = victim.steps(index)
  base, curve = _fit(victim, index)
  zero, zcurve = _fit(defenses.sharpcf(victim, lambda_=0.0, lag=2, steps_per_epoch=steps),
                      index)
  # equal up to float32 reassociation of the (zero) trajectory gradient
  for a, b in zip(jax.tree.leaves(base), jax.tree.leaves(zero.params)):
    np.testing.assert_allclose(a, b, atol=1e-6)
  np.testing.assert_allclose(curve, zcurve, rtol=1e-6)
  sharp = defenses.sharpcf(victim, lambda_=1.0, lag=2, steps_per_epoch=steps)
  p4, c4 = _fit(sharp, index)
  p3, _ = jax.jit(lambda k: training.fit_victim(sharp.replace(num_epochs=3), index, k))(
      jax.random.key(0))
  # after 4 epochs the ring holds the ends of epochs 3 and 4
  assert _leaves_close(jax.tree.map(lambda s: s[1], p4.snapshots), p4.params)
  assert _leaves_close(jax.tree.map(lambda s: s[0], p4.snapshots), p3.params)
  assert not _leaves_close(p3.params, p4.params)
  assert not np.allclose(c4, curve)  # the trajectory term acts
  # the loss is BPR plus lambda times the squared score gap to the oldest snapshot
  batch = sample_bpr_triples(jax.random.key(3), index, 16)
  old = jax.tree.map(lambda s: s[0], p4.snapshots)
  gap = (victim.model.score(p4.params, None, batch.users, batch.pos_items)
         - victim.model.score(old, None, batch.users, batch.pos_items))
  w = 1.0 if batch.weights is None else batch.weights  # a rejected triple counts nowhere
  want = victim.model.loss(p4.params, batch, None) + 0.3 * jnp.sum(w * gap ** 2)
  got = defenses.sharpcf_loss(p4, batch, index, model=sharp.model, lambda_=0.3)
  np.testing.assert_allclose(got, want, rtol=1e-6)
  # evaluators see the plain model
  users = jnp.arange(3)
  np.testing.assert_array_equal(sharp.model.score_all(p4, index, users),
                                victim.model.score_all(p4.params, index, users))


def test_warmup_epochs_train_the_plain_loss_first(victim, index):
  vat = defenses.vat(victim, warmup_epochs=2)
  p, curve = _fit(vat, index)
  plain, head = _fit(victim.replace(num_epochs=2), index)
  np.testing.assert_array_equal(curve[:2], head)
  state = training.init_state(victim, index, jax.random.key(0))
  state, _ = training.fit(victim, state, index, num_epochs=2)
  state, tail = training.fit(vat.replace(warmup_epochs=0), state, index, num_epochs=2)
  np.testing.assert_allclose(curve[2:], tail, rtol=1e-6)
  host, host_curve = training.train(vat, training.init_state(vat, index, jax.random.key(0)),
                                    index)
  np.testing.assert_allclose(host_curve, curve, rtol=1e-5)
  del plain, p, host


@pytest.mark.parametrize("make", [
    lambda v, s: defenses.vat(v), lambda v, s: defenses.pamacf(v),
    lambda v, s: defenses.sharpcf(v, lambda_=1.0, steps_per_epoch=s)])
def test_every_defense_is_deterministic_per_seed(make, victim, index):
  v = make(victim, victim.steps(index))
  a, b, c = _fit(v, index, 0), _fit(v, index, 0), _fit(v, index, 1)
  assert _leaves_equal(a, b)
  assert not _leaves_equal(a[0], c[0])


def test_bad_settings_are_refused(victim):
  with pytest.raises(ValueError, match="eps"):
    defenses.vat(victim, eps=-1.0)
  with pytest.raises(ValueError, match="user_lambda"):
    defenses.pamacf(victim, user_lambda=float("nan"))
  with pytest.raises(ValueError, match="user_eps"):
    defenses.user_apr(victim, user_eps=jnp.ones((3, 2)))
  with pytest.raises(ValueError, match="BPR-MF"):
    defenses.vat(training.Victim(models.lightgcn(dim=4), optax.adam(0.01), num_epochs=1,
                                 batch_size=8))
  with pytest.raises(ValueError, match="lag"):
    defenses.sharpcf(victim, lag=0, steps_per_epoch=3)
  with pytest.raises(ValueError, match="optimiser or batch size"):
    defenses.sharpcf(training.Victim(models.ease()), steps_per_epoch=3)
  with pytest.raises(ValueError, match="warmup_epochs"):
    training.Victim(models.mf(dim=2), optax.sgd(0.1), num_epochs=2, batch_size=4,
                    warmup_epochs=-1)
  with pytest.raises(ValueError, match="warmup_epochs"):  # more warm-up than training
    defenses.vat(victim, warmup_epochs=victim.num_epochs + 1)
  with pytest.raises(ValueError, match="differs from the victim's own"):
    defenses.sharpcf(victim.replace(steps_per_epoch=5), steps_per_epoch=3)
  with pytest.warns(UserWarning, match="initial parameters"):
    defenses.sharpcf(victim, lag=victim.num_epochs, steps_per_epoch=3)


def test_user_eps_of_the_wrong_length_is_refused(params, victim, index):
  batch = sample_bpr_triples(jax.random.key(4), index, 8)
  with pytest.raises(ValueError, match=r"one weight per user of the model, shape \(30,\)"):
    defenses.user_apr_loss(params, batch, model=victim.model, user_eps=jnp.ones((10,)))
