"""The documentation site: ``mkdocs build --strict`` passes, every public subpackage has an API
page, the griffe extension keeps docstring checks, and the audit tutorial's code block runs."""

import importlib
import logging
import re
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings_handlers.python")
import griffe  # noqa: E402  (installed with mkdocstrings-python)

import jaxrec  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
sys.path.insert(0, str(DOCS / "hooks"))
from griffe_house_style import HouseStyle, rewrite  # noqa: E402


def test_strict_build(tmp_path):
  start = time.perf_counter()
  proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f",
                         str(REPO / "mkdocs.yml"), "-d", str(tmp_path / "site")],
                        capture_output=True, text=True, timeout=300, cwd=tmp_path)
  seconds = time.perf_counter() - start
  assert proc.returncode == 0, proc.stderr[-4000:]
  assert "WARNING" not in proc.stderr, proc.stderr[-4000:]
  assert seconds < 60, f"the docs build took {seconds:.0f} s"
  site = tmp_path / "site"
  for page in ("install", "audit", "compose", "glossary", "reproductions", "api/optim"):
    assert (site / page / "index.html").is_file(), page
  optim = (site / "api" / "optim" / "index.html").read_text()
  # the API page renders docstrings: a function, its split grouped arguments, its Source section
  assert 'id="jaxrec.optim.project_box"' in optim
  assert "Raises nothing" in optim and 'class="source"' in optim
  assert ":func:" not in optim  # Sphinx roles become code


def _public_subpackages() -> list[str]:
  names = [n for n in jaxrec.__all__ if isinstance(getattr(jaxrec, n), types.ModuleType)]
  return names + [f"attacks.{n}" for n in jaxrec.attacks.__all__
                  if isinstance(getattr(jaxrec.attacks, n), types.ModuleType)]


def test_every_public_subpackage_has_an_api_page_in_the_nav():
  nav = (REPO / "mkdocs.yml").read_text()
  subpackages = _public_subpackages()
  assert {"data", "models", "optim", "attacks.poisoning", "sharding"} <= set(subpackages)
  for name in subpackages:
    page = DOCS / "api" / f"{name}.md"
    assert page.is_file(), f"no API page for jaxrec.{name}: add docs/api/{name}.md and the nav"
    assert f"::: jaxrec.{name}\n" in page.read_text()
    assert f"api/{name}.md" in nav, f"docs/api/{name}.md is not in mkdocs.yml's nav"


def test_rewrite_splits_arguments_and_states_raises_nothing():
  doc = ("Summary with :func:`run` and :class:`~jaxrec.data.Interactions`.\n\n"
         "Args:\n"
         "  params: BPR-MF parameters. batch: ``(B,)`` triples.\n"
         "  eps, lambda_: grids (see x: y).\n"
         "    continued.\n\n"
         "Raises:\n"
         "  Nothing (jittable).\n\n"
         "Source:\n"
         "  jaxrec.\n")
  assert rewrite(doc, frozenset({"params", "batch", "eps", "lambda_"})) == (
      "Summary with ``run`` and ``Interactions``.\n\n"
      "Args:\n"
      "  params: BPR-MF parameters.\n"
      "  batch: ``(B,)`` triples.\n"
      "  eps: grids (see x: y).\n"
      "    continued.\n"
      "  lambda_: as ``eps``.\n\n"
      "Raises nothing (jittable).\n\n"
      "Source:\n"
      "  jaxrec.\n")
  # a section naming exceptions and a colon after a non-parameter stay as they are
  kept = "Args:\n  x: one. Note: two.\n\nRaises:\n  ValueError: bad x.\n"
  assert rewrite(kept, frozenset({"x"})) == kept


def _warnings_of(source: str, caplog) -> list[str]:
  with griffe.temporary_visited_module(source) as m:
    HouseStyle().on_object(obj=m["f"], loader=None)  # as the loader does once the tree is built
    with caplog.at_level(logging.WARNING):
      caplog.clear()
      griffe.parse_google(m["f"].docstring, warn_missing_types=False)
  return [r.getMessage() for r in caplog.records]


def test_grouped_arguments_are_still_checked_against_the_signature(caplog):
  good = 'def f(a, b):\n  """S.\n\n  Args:\n    a, b: both.\n\n  Raises:\n    Nothing.\n  """\n'
  assert _warnings_of(good, caplog) == []
  bad = good.replace("a, b: both", "a, bb: both")  # a misspelt name in a group
  assert any("'bb' does not appear in the function signature" in w
             for w in _warnings_of(bad, caplog))


def test_audit_tutorial_block_runs(monkeypatch, capsys):
  """docs/audit.md's Python block on the bundled short report: the attacks raised the targets'
  HR@10 above the clean model's, as the printed table on the page says."""
  blocks = re.findall(r"```python\n(.*?)```", (DOCS / "audit.md").read_text(), flags=re.S)
  assert len(blocks) == 1
  monkeypatch.chdir(REPO)
  ns: dict = {}
  exec(compile(blocks[0], str(DOCS / "audit.md"), "exec"), ns)  # noqa: S102 - our own docs
  hr = ns["hr"].set_index("attack")["value"]
  assert hr["random"] > 50 * hr["none"] and hr["bandwagon"] > 50 * hr["none"]
  assert hr["none"] == pytest.approx(0.000246, abs=1e-6)
  printed = capsys.readouterr().out
  assert "random    0.05     103.0  0.031095" in printed  # the output shown on the page
  assert ns["verdict"].lines[0] == "## Summary: bpr-mf on movietweetings-10core"


def test_hook_module_is_importable_from_the_config_path():
  # mkdocs.yml names the extension by path; make sure that path is this module
  assert "docs/hooks/griffe_house_style.py:HouseStyle" in (REPO / "mkdocs.yml").read_text()
  assert importlib.import_module("griffe_house_style").HouseStyle is HouseStyle
