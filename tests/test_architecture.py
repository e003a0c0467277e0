"""The shape of the code (docs/compose.md): one driver, one protocol, short namespaces.

These are structural checks a reviewer would otherwise do by hand: every optimisation steps
through ``jaxrec.optim.run`` (no private loop calls an optimiser's ``update`` or
``optax.apply_updates``), every model implements the one protocol, string registries live in
the audit only, and the attack namespaces stay short.
"""

import re
from pathlib import Path

import jax
import optax

import jaxrec
from jaxrec import models, training
from jaxrec.attacks import evasion, poisoning

PACKAGE = Path(jaxrec.__file__).resolve().parent
# The driver, the one transform that turns a projection into an update, and the row-sparse
# optimisers with the apply_updates the driver calls.
DRIVER_FILES = {PACKAGE / "optim" / "_run.py", PACKAGE / "optim" / "_transforms.py",
                PACKAGE / "optim" / "_sparse.py"}
STEP_PATTERNS = (r"apply_updates\(", r"\btx\.update\(", r"\.update\(\s*grads?\b",
                 r"scale_by_adam\(", r"\bp\s*-\s*lr\s*\*")


def _sources():
  return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_private_optimisation_loop_outside_the_driver():
  offenders = []
  for path in _sources():
    if path in DRIVER_FILES:
      continue
    for n, line in enumerate(path.read_text().splitlines(), start=1):
      if line.lstrip().startswith("#"):
        continue
      if any(re.search(p, line) for p in STEP_PATTERNS):
        offenders.append(f"{path.relative_to(PACKAGE.parent)}:{n}: {line.strip()}")
  assert not offenders, "optimisation steps outside jaxrec.optim.run:\n" + "\n".join(offenders)


def test_the_grep_would_catch_a_private_loop():
  """The patterns match the loops that 0.1 had (so the test above can fail)."""
  old = ["    updates, opt_state = tx.update(grads, opt_state, params)",
         "  return jax.tree.map(lambda p, u: p - lr * u, params, updates), opt_state",
         "    params = optax.apply_updates(state.params, updates)"]
  for line in old:
    assert any(re.search(p, line) for p in STEP_PATTERNS), line


def test_one_driver_under_two_names():
  assert jaxrec.attacks.run is jaxrec.optim.run


def test_attack_namespaces_are_short():
  assert sorted(jaxrec.attacks.__all__) == ["content", "evasion", "poisoning", "run"]
  assert len(evasion.__all__) <= 10
  assert len(poisoning.__all__) <= 40


def test_string_registries_live_in_the_audit_only():
  for module in (jaxrec.attacks, evasion, poisoning, jaxrec.training, jaxrec.models,
                 jaxrec.defenses, jaxrec.optim):
    for name in ("MODELS", "ATTACKS", "make_victim", "model_defaults", "STRATEGIES"):
      assert not hasattr(module, name), f"{module.__name__}.{name}"
  assert set(jaxrec.audit.ATTACKS) >= {"random", "average", "bandwagon", "revadv", "generator"}


def test_every_model_implements_the_protocol():
  built = [models.mf(), models.lightgcn(), models.neumf(), models.ease(), models.itemknn(),
           models.popularity(), models.lfm(), models.als()]
  for model in built:
    assert isinstance(model, models.Model), type(model).__name__
    assert model.name
  # surrogates and victims are a model plus a recipe
  for victim in (poisoning.lfm_surrogate(), poisoning.als_surrogate(),
                 poisoning.default_surrogate(),
                 training.Victim(models.mf(), optax.sgd(0.1), num_epochs=1, batch_size=8)):
    assert isinstance(victim.model, models.Model)


def test_models_are_pytrees_with_static_sizes():
  """A grid over a real-valued hyper-parameter compiles once: reg is a leaf, dim is static."""
  m = models.mf(dim=8, reg=0.01)
  leaves, treedef = jax.tree.flatten(m)
  assert leaves == [0.01]
  assert jax.tree.unflatten(treedef, [0.5]).dim == 8
