"""Every exported name imports and has a docstring (STYLE.md 5.5)."""

import importlib
import inspect

import pytest

SUBPACKAGES = [
    "data", "models", "losses", "training", "metrics", "report", "attacks", "defenses", "audit",
    "cli",
]


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
