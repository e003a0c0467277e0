"""The victim zoo: every model by name (the audit's registry), trained and evaluated through the
audit."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrec
from jaxrec import audit, data, models

# Two taste groups: users 0-11 like items 0-7, users 12-23 like items 8-15; items 16-19 are
# liked by everyone (popular). Each user holds 5 of their group's items plus the 4 popular ones;
# the test item is one more item of their group.
NUM_USERS, NUM_ITEMS = 24, 20


def _planted():
  rng = np.random.default_rng(0)
  users, items, test_users, test_items = [], [], [], []
  for u in range(NUM_USERS):
    group = np.arange(8) + (0 if u < 12 else 8)
    liked = rng.permutation(group)[:6]
    for i in [*liked[:5], 16, 17, 18, 19]:
      users.append(u)
      items.append(i)
    test_users.append(u)
    test_items.append(liked[5])
  train = data.from_arrays(users, items, num_users=NUM_USERS, num_items=NUM_ITEMS)
  test = data.from_arrays(test_users, test_items, num_users=NUM_USERS, num_items=NUM_ITEMS)
  return train, test


def test_every_model_has_a_recipe_and_a_victim():
  assert audit.MODELS == ("bpr-mf", "lightgcn", "neumf", "ease", "itemknn")
  for name in audit.MODELS:
    victim = audit.make_victim(name)
    assert victim.name == name
    assert victim.num_epochs == audit.model_defaults(name).epochs
  assert audit.make_victim("bpr-mf", epochs=3, batch_size=7).batch_size == 7
  assert audit.make_victim("neumf", epochs=3).num_epochs == 3


def test_bad_recipes_raise():
  with pytest.raises(ValueError, match="unknown model"):
    audit.make_victim("svd")
  with pytest.raises(ValueError, match="has no lr"):
    audit.make_victim("ease", lr=0.1)
  with pytest.raises(ValueError, match="closed-form"):
    audit.make_victim("itemknn", epochs=5)
  with pytest.raises(ValueError, match="optimizer"):
    audit.make_victim("bpr-mf", optimizer="rmsprop")
  for bad in (dict(lr=-1.0), dict(lr=float("nan")), dict(reg=-1.0), dict(reg=float("inf")),
              dict(epochs=2.5), dict(dim=0), dict(batch_size=True)):
    with pytest.raises(ValueError):
      audit.make_victim("bpr-mf", **bad)
  with pytest.raises(ValueError, match="reg"):
    audit.make_victim("ease", reg=float("inf"))
  with pytest.raises(ValueError, match="has no reg"):
    audit.AuditConfig(model="itemknn", reg=1.0)
  with pytest.raises(ValueError, match="needs model 'bpr-mf'"):
    audit.AuditConfig(model="lightgcn", defense="apr")
  with pytest.raises(ValueError, match="model must be one of"):
    audit.AuditConfig(model="BPR")


def test_audit_config_takes_the_models_recipe():
  for name in audit.MODELS:
    config = audit.AuditConfig(model=name)
    recipe = audit.model_defaults(name)
    for field in ("dim", "epochs", "lr", "reg", "batch_size", "optimizer"):
      assert getattr(config, field) == getattr(recipe, field), (name, field)
  assert audit.AuditConfig(model="lightgcn", lr=0.5).lr == 0.5
  # A resolved config rebuilds the same config (the report stores it).
  config = audit.AuditConfig(model="neumf", epochs=2)
  assert dataclasses.replace(config) == config


@pytest.mark.parametrize("name", audit.MODELS)
def test_every_model_learns_the_planted_groups(name):
  """Each victim, trained by the audit's own path, ranks a user's held-out group item in its
  top 3 for most users; the popular items (seen by everyone) are masked, so popularity alone
  ranks the other group's items as high as the user's own."""
  train, test = _planted()
  train_idx, test_idx = data.index_interactions(train), data.index_interactions(test)
  epochs = {"bpr-mf": 100, "lightgcn": 60, "neumf": 100}.get(name, 0)
  lr = {"bpr-mf": 0.1, "lightgcn": 0.05, "neumf": 0.01}.get(name)
  config = audit.AuditConfig(model=name, epochs=epochs, lr=lr, ks=(3,), attacks=(),
                             batch_size=None if epochs == 0 else 64,
                             **({"dim": 8} if epochs else {}))
  rows = list(audit.clean_section(train_idx, test_idx, config, echo=lambda _: None))
  hr = {r["model"]: r["value"] for r in rows if r["metric"] == "hr"}
  assert set(hr) == {"most-pop", name}
  # 3 of the 16 group items: a model ignorant of the groups hits about 3/11 of the time.
  assert hr[name] >= 0.75, hr
  assert hr[name] > hr["most-pop"] + 0.3, hr


def test_closed_form_settings_reject_non_finite_and_negative_scalars():
  index = data.build_index(np.array([0, 1]), np.array([0, 1]), num_users=2, num_items=3)
  graph = data.graph_from_index(index)
  for bad in (np.float32(-1.0), float("inf"), float("nan"), True, np.float64(0.0),
              jnp.float32(np.nan)):
    with pytest.raises(ValueError, match="reg"):
      models.ease(reg=bad)
  for bad in (np.float32(-1.0), jnp.float32(np.inf), float("nan"), True):
    with pytest.raises(ValueError, match="shrink"):
      models.itemknn(shrink=bad)
  # valid NumPy/JAX scalars are accepted and give the Python float's model
  a = models.ease(reg=np.float32(10.0)).init(None, graph).weights
  b = models.ease(reg=10.0).init(None, graph).weights
  np.testing.assert_allclose(a, b, rtol=1e-6)


# ------------------------------------------------------------------------------------------------
# Bad inputs, the same for every model of jaxrec.models: ids out of range (eager ValueError naming
# the argument, NaN rows under jit, ValueError under jaxrec.checked), a catalogue that differs
# from the data's (static: ValueError eagerly and under jit), reg / shrink given as NumPy or JAX
# scalars that are negative, NaN or infinite.

CU, CI = 6, 5  # users and items of the contract's data
_C_USERS = np.array([0, 0, 1, 2, 3, 4, 5, 5])
_C_ITEMS = np.array([0, 1, 1, 2, 3, 4, 0, 3])

# name -> (factory of a small model, whether its data are a dense matrix instead of an index)
CONTRACT_MODELS = {
    "bpr-mf": (lambda: models.mf(dim=3), False),
    "lightgcn": (lambda: models.lightgcn(dim=3, num_layers=2), False),
    "neumf": (lambda: models.neumf(gmf_dim=2, mlp_dims=(4, 3)), False),
    "ease": (lambda: models.ease(reg=1.0), False),
    "itemknn": (lambda: models.itemknn(num_neighbors=2), False),
    "most-pop": (lambda: models.popularity(), False),
    "lfm": (lambda: models.lfm(dim=2), True),
    "als": (lambda: models.als(dim=2, num_sweeps=3), True),
}


def _contract_data(dense, num_items=CI):
  index = data.build_index(_C_USERS, _C_ITEMS, num_users=CU, num_items=num_items)
  return jnp.asarray(data.dense_matrix(index)) if dense else index


def _contract(name):
  """``(model, params, data)``: the model initialised (fitted) on the contract's data."""
  factory, dense = CONTRACT_MODELS[name]
  model, d = factory(), _contract_data(dense)
  return model, model.init(jax.random.key(0), d), d


def test_the_contract_covers_every_model():
  exported = {getattr(models, n) for n in ("MF", "LightGCN", "NeuMF", "EASE", "ItemKNN",
                                           "Popularity", "LFM", "ALS")}
  built = {type(factory()) for factory, _ in CONTRACT_MODELS.values()}
  assert built == exported
  assert {factory().name for factory, _ in CONTRACT_MODELS.values()} == set(CONTRACT_MODELS)


@pytest.mark.parametrize("name", list(CONTRACT_MODELS))
def test_ids_out_of_range_raise_eagerly_naming_the_argument(name):
  model, params, d = _contract(name)
  for bad in ([CU], [-1], [0, CU + 7]):
    with pytest.raises(ValueError, match=rf"users must lie in \[0, {CU}\)"):
      model.score_all(params, d, jnp.array(bad))
    with pytest.raises(ValueError, match=rf"users must lie in \[0, {CU}\)"):
      model.score(params, d, jnp.array(bad), jnp.zeros(len(bad), jnp.int32))
  for bad in ([CI], [-1], [0, CI + 3]):
    with pytest.raises(ValueError, match=rf"items must lie in \[0, {CI}\)"):
      model.score(params, d, jnp.zeros(len(bad), jnp.int32), jnp.array(bad))
  # NumPy ids are checked alike
  with pytest.raises(ValueError, match="users must lie"):
    model.score_all(params, d, np.array([CU]))


@pytest.mark.parametrize("name", list(CONTRACT_MODELS))
def test_ids_out_of_range_under_jit_give_nan_rows_never_a_clamped_row(name):
  model, params, d = _contract(name)
  full = np.asarray(model.score_all(params, d, jnp.arange(CU)))
  assert np.all(np.isfinite(full))  # a NaN below can only come from the bad id
  score_all = jax.jit(lambda p, d, u: model.score_all(p, d, u))
  out = np.asarray(score_all(params, d, jnp.array([CU, -1, 2, CU + 100, 0])))
  assert out.shape == (5, CI)
  assert np.isnan(out[[0, 1, 3]]).all()  # every entry of the bad rows, not a clamped user
  np.testing.assert_allclose(out[[2, 4]], full[[2, 0]], rtol=1e-5, atol=1e-6)
  score = jax.jit(lambda p, d, u, i: model.score(p, d, u, i))
  users = jnp.array([0, CU, 1, -1, 3, 2])
  items = jnp.array([CI, 0, 1, 0, -2, 4])
  pairs = np.asarray(score(params, d, users, items))
  assert np.isnan(pairs[[0, 1, 3, 4]]).all()
  np.testing.assert_allclose(pairs[[2, 5]], full[[1, 2], [1, 4]], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(CONTRACT_MODELS))
def test_ids_out_of_range_under_checked_jit_raise(name):
  model, params, d = _contract(name)
  score_all = jaxrec.checked(jax.jit(lambda p, d, u: model.score_all(p, d, u)))
  score = jaxrec.checked(jax.jit(lambda p, d, u, i: model.score(p, d, u, i)))
  with pytest.raises(ValueError, match=rf"users must lie in \[0, {CU}\), got ids from -1"):
    score_all(params, d, jnp.array([0, -1]))
  with pytest.raises(ValueError, match=rf"users must lie in \[0, {CU}\)"):
    score_all(params, d, jnp.array([CU]))
  with pytest.raises(ValueError, match=rf"users must lie in \[0, {CU}\)"):
    score(params, d, jnp.array([CU]), jnp.array([0]))
  with pytest.raises(ValueError, match=rf"items must lie in \[0, {CI}\)"):
    score(params, d, jnp.array([0, 1]), jnp.array([1, CI]))
  # valid ids pass the checks and give the eager scores
  np.testing.assert_allclose(score_all(params, d, jnp.array([1, 0])),
                             model.score_all(params, d, jnp.array([1, 0])), rtol=1e-5,
                             atol=1e-6)


@pytest.mark.parametrize("name", list(CONTRACT_MODELS))
def test_a_catalogue_that_differs_from_the_data_raises_eagerly_and_under_jit(name):
  model, params, d = _contract(name)
  other = _contract_data(CONTRACT_MODELS[name][1], num_items=CI + 1)
  # LightGCN propagates over the data first: its message names the embeddings and the graph
  match = rf"catalogue covers {CI} items, but the data has {CI + 1}"
  users, items = jnp.array([0, 1]), jnp.array([0, 1])
  with pytest.raises(ValueError, match=match):
    model.score_all(params, other, users)
  with pytest.raises(ValueError, match=match):
    model.score(params, other, users, items)
  with pytest.raises(ValueError, match=match):  # static: raised while tracing
    jax.jit(lambda p, d, u: model.score_all(p, d, u))(params, other, users)
  with pytest.raises(ValueError, match=match):
    jax.jit(lambda p, d, u, i: model.score(p, d, u, i))(params, other, users, items)


# (factory, argument, lower bound is open) for every real-valued setting named reg or shrink
SCALAR_SETTINGS = {
    "mf reg": (models.mf, "reg", False),
    "lightgcn reg": (models.lightgcn, "reg", False),
    "neumf reg": (models.neumf, "reg", False),
    "ease reg": (models.ease, "reg", True),
    "itemknn shrink": (models.itemknn, "shrink", False),
    "lfm reg": (models.lfm, "reg", False),
    "als reg": (models.als, "reg", True),
}
BAD_SCALARS = [np.float32(-1.0), jnp.float32(-0.5), np.float64(np.nan), jnp.float32(np.nan),
               np.float32(np.inf), jnp.float32(-np.inf), np.array(-2.0), jnp.asarray(np.nan)]


@pytest.mark.parametrize("setting", list(SCALAR_SETTINGS))
def test_factories_reject_bad_numpy_and_jax_scalars(setting):
  factory, arg, open_low = SCALAR_SETTINGS[setting]
  bads = BAD_SCALARS + ([np.float32(0.0), jnp.float32(0.0)] if open_low else [])
  for bad in bads:
    with pytest.raises(ValueError, match=arg):
      factory(**{arg: bad})
    with pytest.raises(ValueError, match=arg):  # a concrete value inside jit is checked alike
      jax.jit(lambda x: x + getattr(factory(**{arg: bad}), arg))(jnp.float32(1.0))
  good = factory(**{arg: np.float32(2.0)})
  assert float(getattr(good, arg)) == 2.0
  assert float(getattr(factory(**{arg: jnp.float32(2.0)}), arg)) == 2.0


TRACEABLE = ["mf reg", "lightgcn reg", "neumf reg", "ease reg", "itemknn shrink", "lfm reg"]


@pytest.mark.parametrize("setting", TRACEABLE)
def test_traced_bad_scalars_raise_under_checked_jit(setting):
  factory, arg, open_low = SCALAR_SETTINGS[setting]
  build = jaxrec.checked(jax.jit(lambda x: getattr(factory(**{arg: x}), arg) * 1.0))
  for bad in (-1.0, np.nan, np.inf) + ((0.0,) if open_low else ()):
    with pytest.raises(ValueError, match=rf"{arg} must be finite and >"):
      build(jnp.float32(bad))
  assert float(build(jnp.float32(2.0))) == 2.0
  # under plain jit the traced setting is a leaf of one compiled program (a grid over it
  # compiles once) and its check is dropped (docs/validation.md)
  assert np.isnan(float(jax.jit(lambda x: getattr(factory(**{arg: x}), arg))(jnp.float32(np.nan))))


def test_als_settings_are_static():
  """ALS's reg is a static Python float (its fixed point compiles per value): a traced one is a
  tracing error, never silently accepted."""
  with pytest.raises(jax.errors.ConcretizationTypeError):
    jax.jit(lambda r: models.als(reg=r).reg)(jnp.float32(1.0))
