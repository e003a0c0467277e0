"""A griffe extension for two conventions of jaxrec's Google-style docstrings.

mkdocstrings-python (griffe) parses Google docstrings strictly; jaxrec's docstrings (see
``/work/shared/STYLE.md`` and ``jaxrec/experiment/_executor.py``) use two forms it does not know:

* grouped arguments, one line for several parameters that share a description::

    Args:
      eps, lambda_: 1-D grids of equal length.

  griffe would look for one parameter named ``"eps, lambda_"`` and warn that the signature has
  none. Here the line becomes ``eps: ...`` plus ``lambda_: as `eps`.`` for every further name,
  so griffe still checks each name against the signature (a misspelt name still fails the
  strict build).
* several arguments on one line, each after the previous one's sentence::

    Args:
      params: BPR-MF parameters. batch: ``(B,)`` triples.

  split into one item per argument, where every name before such a colon is a parameter of the
  function (other text with a colon stays as it is).
* a ``Raises:`` section that says in prose that nothing is raised (``Nothing (jittable).``,
  ``Whatever ``projection`` raises.``): griffe expects ``Exception: description`` items, warns,
  and drops the text. Here the section becomes the sentence ``Raises nothing (jittable).``.

Sphinx roles (``:func:`run```, ``:class:`~jaxrec.data.Interactions```), which Markdown would
show with their role prefix, become plain code (``run``, ``Interactions``).

Only the docstring text handed to griffe changes (the source files are untouched), and only
inside ``Args`` / ``Raises`` sections. Loaded by ``mkdocs.yml``
(``plugins.mkdocstrings.handlers.python.options.extensions``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_HEADER = re.compile(r"^(?P<indent>\s*)(?P<title>[A-Za-z][A-Za-z ]*):\s*$")
_ARG_SECTIONS = {"args", "arguments", "params", "parameters", "other args", "other arguments",
                 "other params", "other parameters", "keyword args", "keyword arguments"}
_GROUPED = re.compile(r"^(?P<indent>\s+)(?P<names>\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)+)\s*:(?P<desc>.*)$")
_INLINE = re.compile(r"(?<=[.)])\s+(?P<names>\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*):\s")
_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj|exc|py:\w+):`~?(?P<target>[^`]+)`")
_EXCEPTION_ITEM = re.compile(r"^\s*[A-Za-z_][\w.]*\s*(\([^)]*\))?\s*:")


def _section_end(lines: list[str], start: int, indent: int) -> int:
  """Index one past the last line of the section whose body starts at ``start``."""
  end = start
  while end < len(lines):
    line = lines[end]
    if line.strip() and len(line) - len(line.lstrip()) <= indent:
      break
    end += 1
  while end > start and not lines[end - 1].strip():  # trailing blank lines belong to no one
    end -= 1
  return end


def _split_inline(line: str, indent: str, params: frozenset[str]) -> list[str]:
  """``a: x. b: y.`` as two items when ``b`` names parameters of the function."""
  items, start = [], 0
  for match in _INLINE.finditer(line):
    names = [n.strip().lstrip("*") for n in match["names"].split(",")]
    if all(name in params for name in names):
      items.append(line[start:match.start()].rstrip())
      start = match.start("names")
  items.append(line[start:])
  return [items[0]] + [indent + item for item in items[1:]]


def _rewrite_args(body: list[str], params: frozenset[str]) -> list[str]:
  out: list[str] = []
  item_indent = None
  pending: list[str] = []  # extra names of the grouped item being copied
  for line in body:
    if not line.strip():
      out.append(line)
      continue
    indent = len(line) - len(line.lstrip())
    if item_indent is None:
      item_indent = indent
    pieces = _split_inline(line, " " * item_indent, params) if params else [line]
    for k, piece in enumerate(pieces):
      if indent == item_indent or k > 0:  # a new item: flush the extra names of the previous one
        out.extend(pending)
        pending = []
        match = _GROUPED.match(piece)
        if match:
          names = [n.strip() for n in match["names"].split(",")]
          out.append(f"{match['indent']}{names[0]}:{match['desc']}")
          pending = [f"{match['indent']}{name}: as ``{names[0]}``." for name in names[1:]]
          continue
      out.append(piece)
  out.extend(pending)
  return out


def _rewrite_raises(body: list[str], indent: str) -> list[str] | None:
  """The prose of a ``Raises:`` section that names no exception, as one sentence; else None."""
  first = next(line for line in body if line.strip())
  if _EXCEPTION_ITEM.match(first):
    return None
  text = " ".join(line.strip() for line in body if line.strip())
  return [f"{indent}Raises {text[0].lower()}{text[1:]}"]


def _code(match: re.Match) -> str:
  target = match["target"]
  shown = target.rsplit(".", 1)[-1] if match.group(0).split("`")[1].startswith("~") else target
  return f"``{shown}``"


def rewrite(docstring: str, params: frozenset[str] = frozenset()) -> str:
  """``docstring`` with grouped arguments split and prose ``Raises:`` sections as sentences.

  ``params`` are the parameter names of the documented function (empty for other objects).
  """
  lines = _ROLE.sub(_code, docstring).split("\n")
  out: list[str] = []
  i = 0
  in_fence = False
  while i < len(lines):
    line = lines[i]
    if line.lstrip().startswith("```"):
      in_fence = not in_fence
    match = None if in_fence else _HEADER.match(line)
    title = match["title"].lower() if match else ""
    if match and (title in _ARG_SECTIONS or title == "raises"):
      indent = len(match["indent"])
      end = _section_end(lines, i + 1, indent)
      body = lines[i + 1:end]
      if body and title == "raises":
        sentence = _rewrite_raises(body, match["indent"])
        if sentence is not None:
          out.extend(sentence)
          i = end
          continue
      out.append(line)
      out.extend(_rewrite_args(body, params) if body and title != "raises" else body)
      i = end
      continue
    out.append(line)
    i += 1
  return "\n".join(out)


class HouseStyle(griffe.Extension):
  """Rewrites every docstring griffe loads with :func:`rewrite` before it is parsed."""

  def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
    del loader, kwargs
    if obj.docstring is None:
      return
    params: frozenset[str] = frozenset()
    if isinstance(obj, griffe.Function):
      params = frozenset(p.name for p in obj.parameters)
    elif isinstance(obj, griffe.Class):
      init = obj.members.get("__init__")
      params = frozenset(p.name for p in getattr(init, "parameters", ()))
    obj.docstring.value = rewrite(obj.docstring.value, params)
