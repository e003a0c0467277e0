"""Learned profiles in the poisoning pipeline: conversion, precomputed recipes, crafting."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxrec
from jaxrec import audit, data, metrics, optim, training
from jaxrec.attacks import poisoning as attacks



def test_profiles_from_binary_roundtrip_and_padding():
  b = np.zeros((3, 6), np.int32)
  b[0, [1, 4]] = 1
  b[1, [0, 2, 5]] = 1
  p = attacks.profiles_from_binary(b, rating=5.0)
  assert p.items.shape == (3, 3)
  np.testing.assert_array_equal(p.items[1], [0, 2, 5])
  mask = np.asarray(p.mask())
  np.testing.assert_array_equal(mask, [[True, True, False], [True, True, True],
                                       [False, False, False]])
  # a row without any item is an inactive fake user (an account with no activity)
  np.testing.assert_array_equal(p.active, [True, True, False])
  back = np.zeros_like(b)
  for r in range(3):
    back[r, np.asarray(p.items[r])[mask[r]]] = 1
  np.testing.assert_array_equal(back, b)
  assert float(p.ratings[0, 0]) == 5.0
  with pytest.raises(ValueError, match="0/1"):
    attacks.profiles_from_binary(np.full((2, 3), 0.5))
  with pytest.raises(ValueError, match="num_slots"):
    attacks.profiles_from_binary(b, num_slots=2)
  for bad in (np.nan, np.float32(np.inf), jnp.float32(np.nan), True):
    with pytest.raises(ValueError, match="rating"):
      attacks.profiles_from_binary(b, rating=bad)


def test_precomputed_recipe_hands_out_the_right_profiles_under_jit_and_vmap():
  def prof(first, n):
    b = np.zeros((n, 10), np.int32)
    b[:, first] = 1
    b[:, 9] = 1
    return attacks.profiles_from_binary(b)

  sets = np.asarray([[3], [7]])
  table = [[prof(0, 1), prof(1, 2)], [prof(2, 1), prof(4, 2)]]
  recipe = attacks.precomputed_recipe(sets, [1, 2], table)
  inter = data.from_arrays([0, 0, 1], [1, 2, 3], num_users=2, num_items=10)
  know = attacks.attacker_knowledge(inter)
  got = jax.jit(recipe)(jax.random.key(0), know, jnp.asarray([7]), 2)
  np.testing.assert_array_equal(got.items[:, 0], [4, 4])
  np.testing.assert_array_equal(got.active, [True, True])
  one = jax.vmap(recipe, in_axes=(None, None, 0, 0))(
      jax.random.key(0), know, jnp.asarray([[3], [7]]), jnp.asarray([1, 1]))
  np.testing.assert_array_equal(one.items[:, 0, 0], [0, 2])
  np.testing.assert_array_equal(one.active, [[True, False], [True, False]])
  # a pair that is not in the table injects nothing (it cannot raise under jit)
  miss = recipe(jax.random.key(0), know, jnp.asarray([99]), 2)
  assert not np.asarray(miss.active).any()
  assert not np.asarray(recipe(jax.random.key(0), know, jnp.asarray([3]), 7).active).any()
  with pytest.raises(ValueError, match="users, budget"):
    attacks.precomputed_recipe(sets, [2, 1], table)
  with pytest.raises(ValueError, match="repeat a set"):
    attacks.precomputed_recipe([[3], [3]], [1, 2], table)
  with pytest.raises(ValueError, match="budgets must not be empty"):
    attacks.precomputed_recipe([[3]], [], [[]])
  with pytest.raises(ValueError, match="budgets entries"):
    attacks.precomputed_recipe(sets, [0, 2], table)
  with pytest.raises(ValueError, match="target_sets must not be empty"):
    attacks.precomputed_recipe(np.zeros((2, 0), int), [1, 2], table)
  with pytest.raises(ValueError, match="target_sets repeats an id"):
    attacks.precomputed_recipe([[3, 3], [7, 8]], [1, 2], table)


def test_precomputed_profiles_through_run_poisoning_equal_manual_injection(planted):
  x = planted()
  users, items = np.nonzero(x)
  inter = data.from_arrays(users, items, num_users=x.shape[0], num_items=x.shape[1])
  clean = data.index_interactions(inter)
  binary = np.zeros((3, 16), np.int32)
  binary[:, [0, 1, 2, 15]] = 1
  profiles = attacks.profiles_from_binary(binary)
  recipe = attacks.precomputed_recipe([[15]], [3], [[profiles]])
  victim = audit.make_victim("ease", reg=10.0)
  ev = metrics.make_evaluator(clean, clean, ks=(5,))
  tev = metrics.make_target_evaluator(clean, ks=(5,))
  cell, = attacks.run_poisoning(recipe, knowledge=attacks.attacker_knowledge(inter), clean=clean,
                                victim=victim, evaluator=ev, target_evaluator=tev,
                                target_sets=[[15]], budgets=[3], seeds=[0])
  poisoned = attacks.inject(clean, profiles)
  params, _ = training.fit_victim(victim, poisoned, jax.random.key(0))
  manual = tev.summarize(tev.raw(victim.model, params, jnp.asarray([15]), poisoned))
  assert cell.exposure[0]["target_score"] == pytest.approx(manual[0]["target_score"])
  assert cell.exposure[0]["target_hr"] == manual[0]["target_hr"]


def test_straight_through_is_binary_forward_identity_backward():
  z = jnp.asarray([[0.1, 0.9, 0.5, 0.3], [0.8, 0.2, 0.6, 0.4]])
  top = functools.partial(optim.project_top_m, filler_size=1, targets=jnp.asarray([3]))
  out = optim.straight_through(z, top)
  np.testing.assert_array_equal(out, [[0, 1, 0, 1], [1, 0, 0, 1]])
  w = jnp.arange(8.0).reshape(2, 4)
  g = jax.grad(lambda z: jnp.sum(w * optim.straight_through(z, top)))(z)
  np.testing.assert_array_equal(g, w)


def test_craft_bilevel_keeps_the_budget_lowers_the_loss_and_is_deterministic(planted):
  x = planted()
  surrogate = attacks.lfm_surrogate(dim=4, num_steps=15, learning_rate=0.1, pos_weight=5.0,
                                    reg=0.1, init_scale=0.1)
  craft = functools.partial(attacks.craft_bilevel, x, [5], 3, 4, jax.random.key(1),
                            surrogate=surrogate,
                            loss=functools.partial(attacks.margin_loss, k=3),
                            tx=optax.adam(0.2), num_steps=12)
  binary, losses = craft()
  b = np.asarray(binary)
  assert set(np.unique(b)) <= {0.0, 1.0}
  np.testing.assert_array_equal(b.sum(1), [5, 5, 5])
  assert (b[:, 5] == 1).all()
  losses = np.asarray(losses)
  assert losses[-1] < losses[0]
  again, _ = craft()
  np.testing.assert_array_equal(again, binary)
  kw = dict(surrogate=surrogate, loss=attacks.ce_loss, tx=optax.adam(0.1), num_steps=1)
  key = jax.random.key(0)
  with pytest.raises(ValueError, match="filler_size must be"):
    attacks.craft_bilevel(x, [5], 3, 16, key, **kw)
  with pytest.raises(ValueError, match="0 and 1"):
    attacks.craft_bilevel(x * 5, [5], 3, 4, key, **kw)
  with pytest.raises(ValueError, match="integer"):
    attacks.craft_bilevel(x, [5.7], 3, 4, key, **kw)
  with pytest.raises(ValueError, match="num_fake"):
    attacks.craft_bilevel(x, [5], 0, 4, key, **kw)
  with pytest.raises(ValueError, match="targets must not be empty"):
    attacks.craft_bilevel(x, [], 3, 4, key, **kw)
  with pytest.raises(ValueError, match=r"targets must lie in \[0, 16\)"):
    attacks.craft_bilevel(x, [16], 3, 4, key, **kw)
  with pytest.raises(ValueError, match="repeats"):
    attacks.craft_bilevel(x, [5, 5], 3, 4, key, **kw)
  with pytest.raises(ValueError, match="num_steps"):
    attacks.craft_bilevel(x, [5], 3, 4, key, **{**kw, "num_steps": -1})
  with pytest.raises(ValueError, match="filler_size must be"):
    attacks.craft_bilevel(x, [5], 3, -1, key, **kw)
  with pytest.raises(ValueError, match="num_fake must be an integer"):
    attacks.craft_bilevel(x, [5], 2.5, 4, key, **kw)
  with pytest.raises(ValueError, match="floating"):
    attacks.craft_bilevel(x.astype(np.int32), [5], 3, 4, key, **kw)
  with pytest.raises(ValueError, match="real must not be empty"):
    attacks.craft_bilevel(x[:0], [5], 3, 4, key, **kw)
  with pytest.raises(ValueError, match="training.Victim"):
    attacks.craft_bilevel(x, [5], 3, 4, key, **{**kw, "surrogate": "lfm"})
  # traced targets and matrices: jaxrec.checked raises the same errors
  jitted = jax.jit(lambda r, t: attacks.craft_bilevel(r, t, 3, 4, key, **kw)[0])
  with pytest.raises(ValueError, match=r"targets must lie in \[0, 16\)"):
    jaxrec.checked(jitted)(jnp.asarray(x), jnp.asarray([16]))
  with pytest.raises(ValueError, match="real must hold only 0 and 1"):
    jaxrec.checked(jitted)(jnp.asarray(x) * 5, jnp.asarray([5]))
  with pytest.raises(ValueError, match="targets repeats an id"):
    jaxrec.checked(jitted)(jnp.asarray(x), jnp.asarray([5, 5]))
  with pytest.raises(ValueError, match="targets must not be empty"):  # static: even plain jit
    jitted(jnp.asarray(x), jnp.zeros((0,), jnp.int32))


@pytest.mark.parametrize("make", [attacks.lfm_surrogate, attacks.als_surrogate])
def test_surrogates_take_numpy_and_jax_scalars(make, planted):
  """A surrogate is a static, hashable configuration (the crafters' programs are keyed on it):
  NumPy and JAX weights give the surrogate of the same Python floats, and the same profiles."""
  x = planted()
  size = {"num_steps": 3} if make is attacks.lfm_surrogate else {"num_sweeps": 3}
  plain = make(dim=2, reg=float(np.float32(0.1)), pos_weight=5.0, **size)
  for reg, pos_weight in ((np.float32(0.1), np.float64(5.0)), (jnp.float32(0.1), jnp.int32(5))):
    s = make(dim=2, reg=reg, pos_weight=pos_weight, **size)
    assert s.model == plain.model and hash(s.model) == hash(plain.model)
    binary, losses = attacks.craft_bilevel(x, [5], 2, 3, jax.random.key(0), surrogate=s,
                                           loss=attacks.ce_loss, tx=optax.adam(0.1),
                                           num_steps=1)
    want, want_losses = attacks.craft_bilevel(x, [5], 2, 3, jax.random.key(0), surrogate=plain,
                                              loss=attacks.ce_loss, tx=optax.adam(0.1),
                                              num_steps=1)
    np.testing.assert_array_equal(binary, want)
    np.testing.assert_array_equal(losses, want_losses)
  res = attacks.train_generator(jax.random.key(0), x, [5], surrogate=s, loss=attacks.ce_loss,
                                num_fake=2, filler_size=3, num_steps=1)
  np.testing.assert_array_equal(np.asarray(res.fake).sum(axis=1), 4)


def test_craft_recipe_crafts_every_cell(planted):
  x = planted()
  surrogate = attacks.lfm_surrogate(dim=4, num_steps=5, learning_rate=0.1, init_scale=0.1)
  craft = attacks.bilevel_crafter(surrogate=surrogate, num_steps=2)
  recipe, curves = attacks.craft_recipe(x, [[5], [9]], [1, 2], 3, jax.random.key(0),
                                        craft=craft)
  assert sorted(curves) == [(0, 1), (0, 2), (1, 1), (1, 2)]
  know = attacks.attacker_knowledge(data.from_arrays([0], [0], num_users=24, num_items=16))
  p = recipe(jax.random.key(0), know, jnp.asarray([9]), 1)
  assert p.items.shape == (2, 4)
  assert np.asarray(p.mask()).sum() == 4 and 9 in np.asarray(p.items[0])


def test_audit_refuses_a_dense_matrix_too_large(monkeypatch, planted):
  from jaxrec.audit import _attack_section  # pylint: disable=import-outside-toplevel
  x = planted()
  users, items = np.nonzero(x)
  inter = data.from_arrays(users, items, num_users=x.shape[0], num_items=x.shape[1])
  dataset = data.Dataset(interactions=inter, user_ids=np.arange(24), item_ids=np.arange(16))
  config = audit.AuditConfig(attacks=("revadv",), budgets=(2,), num_targets=1)
  index = data.index_interactions(inter)
  _attack_section.preflight_attacks(dataset, index, config)  # 24 x 16 fits
  monkeypatch.setattr(_attack_section, "MAX_DENSE", 100)
  with pytest.raises(ValueError, match="dense users x items matrix"):
    _attack_section.preflight_attacks(dataset, index, config)


def test_generator_crafter_keeps_the_budget(planted):
  x = planted()
  surrogate = attacks.lfm_surrogate(dim=4, num_steps=5, learning_rate=0.1, init_scale=0.1)
  craft = attacks.generator_crafter(surrogate=surrogate, num_steps=3, disc_weight=0.3)
  binary, curve = craft(jnp.asarray(x), jnp.asarray([5]), 4, 3, jax.random.key(0))
  b = np.asarray(binary)
  np.testing.assert_array_equal(b.sum(1), [4, 4, 4, 4])
  assert (b[:, 5] == 1).all() and np.asarray(curve).shape == (3,)


def test_margin_loss_top_fraction_keeps_the_users_closest_to_a_hit():
  scores = jnp.asarray([[0., 1., 2., 3.], [3., 0., 1., 2.], [1., 2., 3., 0.], [0., 3., 2., 1.]])
  train = jnp.zeros((4, 4), bool)
  # margins of target 0 against each user's best other item: -3, +1, -2, -3
  got = attacks.margin_loss(scores, train, jnp.asarray([0]), k=1, top_fraction=0.5)
  want = -jax.nn.log_sigmoid(1.0) - jax.nn.log_sigmoid(-2.0)
  assert float(got) == pytest.approx(float(want), rel=1e-6)
  everyone = attacks.margin_loss(scores, train, jnp.asarray([0]), k=1)
  assert float(attacks.margin_loss(scores, train, jnp.asarray([0]), k=1,
                                   top_fraction=1.0)) == pytest.approx(float(everyone))
  # the selection carries no gradient: only the kept users' scores move the loss
  g = jax.grad(lambda s: attacks.margin_loss(s, train, jnp.asarray([0]), k=1,
                                             top_fraction=0.5))(scores)
  np.testing.assert_array_equal(np.asarray(g)[[0, 3]], 0.0)
  with pytest.raises(ValueError, match="top_fraction"):
    attacks.margin_loss(scores, train, jnp.asarray([0]), k=1, top_fraction=0.0)
  for loss in (attacks.margin_loss, attacks.ce_loss):
    with pytest.raises(ValueError, match="targets must lie"):
      loss(scores, train, jnp.asarray([4]))
    with pytest.raises(ValueError, match="targets must lie"):
      loss(scores, train, jnp.asarray([-1]))
    with pytest.raises(ValueError, match="targets must not be empty"):
      loss(scores, train, jnp.zeros((0,), jnp.int32))
    traced = jax.jit(functools.partial(loss, **({"k": 1} if loss is attacks.margin_loss
                                                else {})))
    with pytest.raises(ValueError, match="targets must lie"):
      jaxrec.checked(traced)(scores, train, jnp.asarray([4]))
    with pytest.raises(ValueError, match="repeat"):
      loss(scores, train, jnp.asarray([1, 1]))
    with pytest.raises(ValueError, match="bool matrix"):
      loss(scores, train.astype(jnp.float32), jnp.asarray([0]))


def test_margin_loss_rejects_a_bad_margin():
  scores, train = jnp.zeros((2, 5)), jnp.zeros((2, 5), bool)
  for bad in (-1.0, float("nan"), np.float32(np.inf), "1"):
    with pytest.raises(ValueError, match="margin"):
      attacks.margin_loss(scores, train, jnp.asarray([0]), k=1, kind="hinge", margin=bad)


def test_lfm_surrogate_learning_rate_is_static():
  with pytest.raises(ValueError, match="learning_rate must be a concrete number"):
    jax.jit(lambda lr: attacks.lfm_surrogate(learning_rate=lr).num_epochs)(0.1)
