"""The one tidy report schema shared by ``jaxrec audit``, ``experiments/`` and plots.

A report is a JSON object::

  {"schema": 1, "status": "complete" | "partial", "error": null | "<message>",
   "dataset": {<characteristics>}, "config": {...}, "versions": {...},
   "rows": [{"model": "bpr-mf", "defense": "none", "attack": "none", "budget": null,
             "metric": "ndcg", "k": 10, "value": 0.071, <grid keys...>}, ...]}

One row per number (tidy data, Wickham, J. Stat. Softw. 2014): ``model``, ``defense``,
``attack``, ``budget`` (``null`` when no attack), ``metric``, ``k`` (``null`` for metrics without
a cut-off) and ``value`` are always present; a grid adds its own keys (``seed``, ``eps``,
``lambda``, ``target`` ...) to every row it produces.

Optional sections (additive, schema 1): ``summary`` (lines of text, the verdict a reader needs
first; ``report.md`` opens with them) and ``warnings`` (lines of text: what makes the numbers
suspect, e.g. a model below the popularity baseline) and ``provenance`` (the command line, the
inputs and their sha256, start time and duration of the run and of each section, the device,
the files written; :mod:`jaxrec.report._provenance`).
"""

from __future__ import annotations

import functools
import json
import math
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable

from jaxrec.report._provenance import validate_provenance

__all__ = [
    "REQUIRED_KEYS", "SCHEMA_VERSION", "build_report", "load_report", "make_row",
    "rows_from_evaluation", "to_markdown", "validate_report", "versions", "write_report",
]

SCHEMA_VERSION = 1
REQUIRED_KEYS = ("model", "defense", "attack", "budget", "metric", "k", "value")


def make_row(*, model: str, metric: str, value: float, k: int | None = None,
             defense: str = "none", attack: str = "none", budget: float | None = None,
             **grid: Any) -> dict[str, Any]:
  """One tidy row. Grid keys (e.g. ``seed=0``, ``eps=0.5``) are appended after the required ones.

  Raises:
    ValueError: ``value`` is not a finite real number (NaN or infinity usually means a diverged
      model; the report refuses it rather than carry it silently).
  """
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    try:
      value = float(value)
    except (TypeError, ValueError) as e:
      raise ValueError(f"row value for {metric!r} must be a number, got {value!r}") from e
  if not math.isfinite(value):
    raise ValueError(f"row value for {metric!r} (model {model!r}) is not finite: {value}")
  row = {"model": model, "defense": defense, "attack": attack, "budget": budget,
         "metric": metric, "k": None if k is None else int(k), "value": float(value)}
  row.update(grid)
  return row


def rows_from_evaluation(evaluation: dict[str, dict[int, float]], **keys: Any) -> list[dict]:
  """Rows from :func:`jaxrec.metrics.evaluate` output; ``keys`` as in :func:`make_row`.

  The ``users`` entry (number of evaluated users) becomes metric ``"users"`` with ``k=None``.
  """
  rows = []
  for metric, by_k in evaluation.items():
    for k, value in by_k.items():
      rows.append(make_row(metric=metric, value=value, k=None if metric == "users" else k,
                           **keys))
  return rows


def versions() -> dict[str, str]:
  """Versions of jaxrec, its numerical stack and the backend, for reproducibility.

  Computed once per process (a copy is returned): a report written after an interrupt then
  makes no call into JAX, whose internal state an interrupt may have left mid-way.
  """
  return dict(_versions())


@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
  import jax  # pylint: disable=import-outside-toplevel
  import jaxlib  # pylint: disable=import-outside-toplevel
  import numpy  # pylint: disable=import-outside-toplevel
  import optax  # pylint: disable=import-outside-toplevel

  import jaxrec  # pylint: disable=import-outside-toplevel
  try:
    import flax  # pylint: disable=import-outside-toplevel
    flax_version = flax.__version__
  except ImportError:  # pragma: no cover
    flax_version = "absent"
  return {
      "jaxrec": jaxrec.__version__, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
      "flax": flax_version, "optax": optax.__version__, "numpy": numpy.__version__,
      "python": platform.python_version(), "platform": platform.platform(),
      "backend": jax.default_backend(), "devices": str(jax.devices()),
  }


def build_report(*, dataset: dict, config: dict, rows: Iterable[dict],
                 status: str = "complete", error: str | None = None) -> dict[str, Any]:
  """Assembles and validates a report dict (see the module docstring)."""
  report = {"schema": SCHEMA_VERSION, "status": status, "error": error,
            "dataset": dict(dataset), "config": dict(config), "versions": versions(),
            "rows": list(rows)}
  validate_report(report)
  return report


def validate_report(report: dict[str, Any]) -> None:
  """Checks a report against the schema.

  Raises:
    ValueError: naming the first problem (missing section, unknown status, a summary or
      warnings section that is not a list of strings, a malformed provenance section, a row
      without a required key, a non-finite or non-numeric value, a non-integer k).
  """
  for section in ("schema", "status", "dataset", "config", "versions", "rows"):
    if section not in report:
      raise ValueError(f"report has no {section!r} section")
  if report["schema"] != SCHEMA_VERSION:
    raise ValueError(f"unsupported report schema {report['schema']!r}")
  if report["status"] not in ("complete", "partial"):
    raise ValueError(f"report status must be 'complete' or 'partial', got {report['status']!r}")
  for section in ("summary", "warnings"):
    lines = report.get(section)
    if lines is not None and (not isinstance(lines, list)
                              or not all(isinstance(x, str) for x in lines)):
      raise ValueError(f"report {section!r} must be a list of strings, got {lines!r}")
  if report.get("provenance") is not None:
    validate_provenance(report["provenance"])
  for n, row in enumerate(report["rows"]):
    missing = [key for key in REQUIRED_KEYS if key not in row]
    if missing:
      raise ValueError(f"row {n} lacks {missing}: {row}")
    v = row["value"]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
      raise ValueError(f"row {n} value must be a finite number, got {v!r}")
    if row["k"] is not None and (isinstance(row["k"], bool) or not isinstance(row["k"], int)):
      raise ValueError(f"row {n} k must be an integer or null, got {row['k']!r}")


def write_report(out_dir: str | os.PathLike, report: dict[str, Any]) -> tuple[Path, Path]:
  """Writes ``report.json`` and ``report.md`` into ``out_dir`` (created if needed), atomically.

  Each file is written to a temporary name and renamed, so a reader never sees half a file.

  Returns:
    The paths of ``report.json`` and ``report.md``.
  """
  validate_report(report)
  out = Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  json_path, md_path = out / "report.json", out / "report.md"
  atomic_write(json_path, json.dumps(report, indent=1, sort_keys=False) + "\n")
  atomic_write(md_path, to_markdown(report))
  return json_path, md_path


def load_report(path: str | os.PathLike) -> dict[str, Any]:
  """Reads and validates a ``report.json`` (or a directory holding one)."""
  p = Path(path)
  if p.is_dir():
    p = p / "report.json"
  with open(p, encoding="utf-8") as f:
    report = json.load(f)
  validate_report(report)
  return report


def to_markdown(report: dict[str, Any], *, legend: bool = True) -> str:
  """``report.md``: the report's optional ``summary`` lines first, then its ``warnings`` and the
  dataset's notes, then one table per group of metrics (accuracy, beyond-accuracy, target
  exposure, attack side effects, detection, ...; :data:`jaxrec.report.GROUPS`), each with one
  line per (model, defense, attack, budget, grid keys, metric) and one column per cut-off ``k``,
  and last a legend of the metrics shown (meaning, unit, which direction is better, docs).

  Identifier columns that are empty for every row of a group are left out of its table;
  ``model``, ``defense``, ``attack`` and ``metric`` are always shown.
  """
  from jaxrec.report._legend import GROUPS, group_of  # pylint: disable=import-outside-toplevel
  # pylint: disable-next=import-outside-toplevel
  from jaxrec.report._legend import legend as legend_lines
  rows = report["rows"]
  lines = []
  title = report.get("dataset", {}).get("name", "")
  lines.append(f"# jaxrec report{': ' + title if title else ''}")
  lines.append("")
  for line in report.get("summary", []) or []:  # the verdict first, when the run wrote one
    lines.append(line)
  if report.get("summary"):
    lines.append("")
  if report["status"] != "complete":
    lines.append(f"**PARTIAL REPORT** (status {report['status']}): {report.get('error')}")
    lines.append("")
  if report.get("warnings"):
    lines.append("## Warnings")
    lines.append("")
    lines.extend(f"- {w}" for w in report["warnings"])
    lines.append("")
  for note in report.get("dataset", {}).get("notes", []) or []:
    lines.append(f"- note: {note}")
  if report.get("dataset", {}).get("notes"):
    lines.append("")
  groups: dict[str, list[dict]] = {}
  for r in rows:
    groups.setdefault(group_of(r), []).append(r)
  for name in sorted(groups, key=GROUPS.index):
    if len(groups) > 1:
      lines.append(f"## {name[0].upper() + name[1:]}")
      lines.append("")
    lines.extend(_table(groups[name]))
    lines.append("")
  if legend and rows:
    lines.append("## Legend")
    lines.append("")
    lines.extend(legend_lines(r["metric"] for r in rows))
    lines.append("")
  return "\n".join(lines).rstrip("\n") + "\n"


def _table(rows: list[dict]) -> list[str]:
  """One markdown table: a line per identifier tuple, a column per cut-off."""
  always = ("model", "defense", "attack")
  extra = sorted({key for r in rows for key in r if r[key] is not None} - set(REQUIRED_KEYS))
  shown = [c for c in ("budget", *extra) if any(r.get(c) is not None for r in rows)]
  ident = [*always, *shown, "metric"]
  ks = sorted({r["k"] for r in rows if r["k"] is not None})
  has_plain = any(r["k"] is None for r in rows)
  table: dict[tuple, dict] = {}
  for r in rows:
    table.setdefault(tuple(_fmt(r.get(c)) for c in ident), {})[r["k"]] = r["value"]
  cols = (["value"] if has_plain else []) + [f"@{k}" for k in ks]
  lines = ["| " + " | ".join(ident + cols) + " |", "|" + "---|" * (len(ident) + len(cols))]
  for key, by_k in table.items():
    cells = ([_fmt(by_k.get(None))] if has_plain else []) + [_fmt(by_k.get(k)) for k in ks]
    lines.append("| " + " | ".join(list(key) + cells) + " |")
  return lines


def _fmt(v: Any) -> str:
  if v is None:
    return ""
  if isinstance(v, float):
    if v == int(v) and abs(v) >= 1:
      return str(int(v))
    return f"{v:.4g}"
  return str(v)


def atomic_write(path: Path, data: str | Callable[[BinaryIO], None], *,
                 sync: bool = False) -> None:
  """Writes ``data`` (text, as UTF-8, or a function writing bytes to an open file) to a hidden
  temporary file beside ``path`` and renames it into place: a reader, or a writer killed
  midway, sees the whole file or none. With ``sync`` the file and its folder are fsynced (the
  results store's parts survive a power loss). The file gets the umask's ordinary permissions
  (``mkstemp`` creates 0600).

  Raises:
    OSError: the folder cannot be written (the temporary file is removed).

  Source:
    jaxrec (POSIX rename is atomic within a file system).
  """
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      if isinstance(data, str):
        f.write(data.encode("utf-8"))
      else:
        data(f)
      if sync:
        f.flush()
        os.fsync(f.fileno())
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise
  if sync:
    try:
      dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
      return
    try:
      os.fsync(dir_fd)
    except OSError:
      pass
    finally:
      os.close(dir_fd)
