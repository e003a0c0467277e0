"""Where an audit's results go, so that no run destroys the results of another.

* :func:`new_run_dir`: the default output folder, a new timestamped folder under a root.
* :func:`check_out_dir`: before training, refuse a folder that holds a complete report (unless
  ``overwrite``) or cannot be written.
* :func:`save_report`: write a report (and figures) through a staging folder, so that a complete
  report replaces the previous run's files (its ``report.json``, ``report.md`` and the files its
  ``provenance["outputs"]`` names; never other files), a partial report never replaces a
  complete one (it goes to ``report.partial.json`` beside it), and a report that cannot be
  written where asked goes to a new folder (or, last, to the terminal) instead of being lost.
* :func:`rerun_settings`: the configuration and data options recorded in a report, to run the
  same audit again (``jaxrec audit --config report.json``).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

from jaxrec.audit._config import AuditConfig
from jaxrec.report import load_report, to_markdown, write_report
from jaxrec.report._provenance import attach_provenance, is_output_name

__all__ = ["DEFAULT_ROOT", "PARTIAL_STEM", "Saved", "check_out_dir", "new_run_dir",
           "rerun_settings", "save_report"]

DEFAULT_ROOT = "jaxrec-audit"
PARTIAL_STEM = "report.partial"
# What a run that recorded no ``outputs`` (reports before provenance) may have left.
_KNOWN_OUTPUTS = ("report.json", "report.md", f"{PARTIAL_STEM}.json", f"{PARTIAL_STEM}.md")
_INVALID = object()  # a report.json that is not a jaxrec report


@dataclasses.dataclass
class Saved:
  """Where :func:`save_report` put a report.

  Attributes:
    report: the report as written (``provenance["outputs"]`` set).
    json_path: its ``.json`` file, ``None`` when nothing could be written.
    md_path: its ``.md`` file, ``None`` when nothing could be written.
    error: ``None``, or an ``OSError`` saying why the report is not where it was asked for and
      where it is instead (the caller should raise it once it has shown the results).
    kept: the complete report of an earlier run that a partial report did not replace, or
      ``None``.
    removed: files of the previous run removed from the folder.
    notes: extra files that could not be written (the report was written without them).
  """

  report: dict[str, Any]
  json_path: Path | None
  md_path: Path | None
  error: OSError | None = None
  kept: Path | None = None
  removed: list[str] = dataclasses.field(default_factory=list)
  notes: list[str] = dataclasses.field(default_factory=list)


def new_run_dir(root: str | os.PathLike = DEFAULT_ROOT, *,
                now: datetime.datetime | None = None) -> Path:
  """A new output folder ``root/<local time>`` (e.g. ``jaxrec-audit/2026-12-05T13-50-02``),
  suffixed ``-2``, ``-3``, ... when that name exists. Nothing is created."""
  stamp = (now or datetime.datetime.now()).strftime("%Y-%m-%dT%H-%M-%S")
  path, n = Path(root) / stamp, 2
  while path.exists() or path.is_symlink():
    path, n = Path(root) / f"{stamp}-{n}", n + 1
  return path


def check_out_dir(out: str | os.PathLike, *, overwrite: bool = False) -> None:
  """Fails early (before training) when ``out`` cannot become this run's report folder.

  Raises:
    FileExistsError: ``out/report.json`` is a complete report, or not a jaxrec report, and
      ``overwrite`` is false (the message says to pass ``--overwrite`` or another ``--out``).
    NotADirectoryError: ``out`` exists and is not a folder.
    PermissionError: ``out`` (or the nearest existing folder above it) cannot be written.
  """
  out = Path(out)
  probe = out
  while not probe.exists():
    if probe.parent == probe:
      break
    probe = probe.parent
  if probe == out and not out.is_dir():
    raise NotADirectoryError(f"--out {out} exists and is not a directory")
  if not os.access(probe, os.W_OK | os.X_OK):
    raise PermissionError(f"cannot write the report under {probe}")
  if overwrite:
    return
  old = _read_report(out)
  if old is _INVALID:
    raise FileExistsError(f"--out {out} holds a report.json that is not a jaxrec report; pass "
                          "--overwrite to replace it, or choose another --out")
  if old is not None and old["status"] == "complete":
    when = (old.get("provenance") or {}).get("started")
    raise FileExistsError(
        f"--out {out} already holds a complete report ({len(old['rows'])} rows"
        f"{', started ' + when if when else ''}); pass --overwrite to replace it, or choose "
        "another --out (without --out, each run gets a new folder under "
        f"./{DEFAULT_ROOT}/)")


def save_report(out: str | os.PathLike, report: dict[str, Any], *, overwrite: bool = False,
                files: Mapping[str, Callable[[Path], Any]] | None = None,
                echo: Callable[[str], None] = print) -> Saved:
  """Writes ``report`` (and ``files``) into ``out`` without destroying earlier results.

  * A complete report becomes ``out/report.json`` and ``out/report.md``; the files of the run
    it replaces (those its report names in ``provenance["outputs"]``, or for older reports
    ``report.md``, ``report.partial.*`` and, after an APR run, ``apr.png``) are removed; other
    files in ``out`` are left alone. If ``out`` holds a complete report and ``overwrite`` is
    false (another run finished there since :func:`check_out_dir`), the report goes to a new
    folder instead (see below).
  * A partial report (``status != "complete"``) never replaces a complete one: it becomes
    ``out/report.partial.json`` and ``.md`` beside it (:attr:`Saved.kept`), else
    ``out/report.json``.
  * Everything is written into a hidden staging folder inside ``out`` first (each file
    complete, see :func:`jaxrec.report.write_report`) and renamed into place, ``report.json``
    last.
  * When ``out`` cannot be written, the report goes to a new folder beside ``out`` (or in the
    system's temporary folder) and :attr:`Saved.error` says where; when nothing can be written,
    the report's markdown and JSON are passed to ``echo``.

  Args:
    out: the report folder (created when missing).
    report: a valid report (:func:`jaxrec.report.validate_report`).
    overwrite: replace a complete report in ``out``.
    files: extra outputs by file name (e.g. ``{"apr.png": lambda path: plot(..., path)}``), each
      written by its function to the given path; one that fails is skipped with a note.
    echo: where the report goes when no file can be written.

  Returns:
    A :class:`Saved`; it never raises for a write failure (see :attr:`Saved.error`).

  Raises:
    ValueError: ``report`` is not a valid report.
  """
  from jaxrec.report import validate_report  # pylint: disable=import-outside-toplevel
  validate_report(report)
  out, files = Path(out), dict(files or {})
  try:
    return _save_into(out, report, overwrite, files)
  except Exception as e:  # pylint: disable=broad-except  # a finished run is never lost
    cause = f"{type(e).__name__}: {e}"
  for parent in (out.parent, None):
    try:
      fallback = Path(tempfile.mkdtemp(prefix=f"{out.name or DEFAULT_ROOT}-", dir=parent))
      saved = _save_into(fallback, report, True, files)
    except Exception:  # pylint: disable=broad-except
      continue
    saved.error = OSError(f"could not write the report to {out} ({cause}); the results were "
                          f"written to {saved.json_path} instead")
    return saved
  echo(to_markdown(report))
  echo(json.dumps(report, indent=1, default=str))
  return Saved(report=report, json_path=None, md_path=None, error=OSError(
      f"could not write the report to {out} ({cause}) nor to a temporary folder; the report "
      "was printed above"))


def rerun_settings(report: Mapping[str, Any]) -> tuple[AuditConfig, dict[str, Any]]:
  """The configuration and the data options of the audit that wrote ``report``.

  Args:
    report: a report of ``jaxrec audit`` with a ``provenance["inputs"]`` section.

  Returns:
    ``(config, options)``: the :class:`AuditConfig` and the data options by name (as
    :func:`jaxrec.report._provenance.describe_inputs` recorded them).

  Raises:
    ValueError: the report records no data options (written before provenance, or not by
      ``jaxrec audit``), or its config has settings this version does not know or rejects.
  """
  inputs = (report.get("provenance") or {}).get("inputs") or {}
  if not isinstance(inputs.get("options"), dict):
    raise ValueError("the report records no data options (provenance.inputs: it was written "
                     "before jaxrec recorded them, or not by jaxrec audit); run the audit with "
                     "its options instead")
  config = dict(report["config"])
  known = {f.name for f in dataclasses.fields(AuditConfig)}
  unknown = sorted(set(config) - known)
  if unknown:
    raise ValueError(f"the report's config has settings this jaxrec does not know: {unknown}")
  if config.get("split") == "predefined":  # the data's own test split: split is not used
    config.pop("split")
    config.pop("test_ratio", None)
  config = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
  return AuditConfig(**config), dict(inputs["options"])


def _read_report(out: Path) -> dict[str, Any] | object | None:
  path = out / "report.json"
  if not (path.exists() or path.is_symlink()):
    return None
  try:
    return load_report(path)
  except (OSError, ValueError):
    return _INVALID


def _old_outputs(old: dict[str, Any]) -> set[str]:
  recorded = (old.get("provenance") or {}).get("outputs")
  names = set(_KNOWN_OUTPUTS)
  if recorded is not None:
    names |= {n for n in recorded if is_output_name(n)}
  else:
    defense = (old.get("config") or {}).get("defense")
    if defense == "apr" or (isinstance(defense, list) and "apr" in defense):
      names.add("apr.png")
  return names


def _save_into(out: Path, report: dict[str, Any], overwrite: bool,
               files: Mapping[str, Callable[[Path], Any]]) -> Saved:
  out.mkdir(parents=True, exist_ok=True)
  old = _read_report(out)
  complete_there = isinstance(old, dict) and old["status"] == "complete"
  partial = report["status"] != "complete"
  if not partial and not overwrite and (complete_there or old is _INVALID):
    raise FileExistsError(f"{out} holds a report of another run (written since this run "
                          "started)")
  keep_old = complete_there or (old is _INVALID and not overwrite)
  stem = PARTIAL_STEM if partial and keep_old else "report"
  staging = Path(tempfile.mkdtemp(prefix=".jaxrec-staging-", dir=out))
  try:
    written, notes = [], []
    for name, write in files.items():
      try:
        write(staging / name)
        written.append(name)
      except Exception as e:  # pylint: disable=broad-except  # the report matters more
        notes.append(f"could not write {name}: {type(e).__name__}: {e}")
    outputs = [f"{stem}.json", f"{stem}.md", *written]
    report = attach_provenance(report, dict(report.get("provenance") or {}, outputs=outputs))
    write_report(staging, report)
    stale = set()
    if stem == "report" and isinstance(old, dict):
      stale = _old_outputs(old) - set(outputs)
    for name in written:
      os.replace(staging / name, out / name)
    os.replace(staging / "report.md", out / f"{stem}.md")
    os.replace(staging / "report.json", out / f"{stem}.json")
    removed = []
    for name in sorted(stale):
      path = out / name
      if path.is_symlink() or path.is_file():
        path.unlink()
        removed.append(name)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return Saved(report=report, json_path=out / f"{stem}.json", md_path=out / f"{stem}.md",
               kept=out / "report.json" if stem == PARTIAL_STEM else None, removed=removed,
               notes=notes)
