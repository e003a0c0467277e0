"""Every exported name imports and has a docstring (STYLE.md 5.5)."""

import importlib
import inspect

import pytest

SUBPACKAGES = [
    "data", "models", "losses", "optim", "training", "metrics", "experiment", "report",
    "attacks", "attacks.content", "attacks.evasion", "attacks.poisoning", "defenses", "audit", "cli", "robustness",
    "sharding", "results", "grid",
]


def test_subpackages_cover_the_package():
  """Every subpackage of jaxrec (a folder with an __init__.py) is in SUBPACKAGES."""
  import pkgutil

  import jaxrec

  found = set()

  def walk(path, prefix):
    for info in pkgutil.iter_modules(path):
      if info.ispkg:
        found.add(prefix + info.name)
        sub = importlib.import_module(f"jaxrec.{prefix}{info.name}")
        walk(sub.__path__, f"{prefix}{info.name}.")

  walk(jaxrec.__path__, "")
  assert found == set(SUBPACKAGES)


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_exports_have_docstrings(name):
  module = importlib.import_module(f"jaxrec.{name}")
  assert module.__doc__, f"jaxrec.{name} has no module docstring"
  assert module.__all__, f"jaxrec.{name} exports nothing"
  for export in module.__all__:
    obj = getattr(module, export)
    if inspect.isfunction(obj) or inspect.isclass(obj):
      assert inspect.getdoc(obj), f"jaxrec.{name}.{export} has no docstring"


def test_top_level():
  import jaxrec
  assert jaxrec.__version__
  for name in jaxrec.__all__:
    assert hasattr(jaxrec, name)
  assert {"optim", "experiment", "checked"} <= set(jaxrec.__all__)
  assert jaxrec.attacks.run is jaxrec.optim.run  # the one driver, under both names
