"""The victim zoo: every model by name (the audit's registry), trained and evaluated through the
audit."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

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
