"""Provenance of a report: what ran, on what data, where, and how long each section took.

The optional ``provenance`` section of a report (schema 1, additive)::

  {"argv": ["jaxrec", "audit", "--data", "u.data", ...] | null,
   "started": "2026-12-05T13:50:02.123456+00:00", "seconds": 95.2,
   "device": {"backend": "cpu", "device_kind": "cpu", "device_count": 1},
   "sections": [{"name": "clean", "started": "...", "seconds": 12.5, "completed": true}, ...],
   "inputs": {"options": {"dataset": null, "data": "/abs/u.data", "format": "ml-100k", ...},
              "files": [{"option": "data", "path": "/abs/u.data", "sha256": "..."}]},
   "outputs": ["report.json", "report.md", "apr.png"]}

Every key is optional; ``outputs`` names the files the run wrote into its folder (plain file
names), so a later run that replaces the report knows which files were the old run's.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import re
from pathlib import Path
from typing import Any, Iterator, Mapping

__all__ = ["attach_provenance", "check_same_inputs", "describe_inputs", "device_info",
           "file_sha256", "finish_provenance", "is_output_name", "start_provenance", "timed",
           "utc_now", "validate_provenance"]

# data options that name files (their values are made absolute and the files hashed; a folder,
# such as the item images of --images, is recorded by its path with "sha256": null)
PATH_OPTIONS = ("data", "train", "test", "images", "image_map", "categories")
# those that name the interaction data (without one, the data come from the registry)
_INTERACTION_OPTIONS = ("data", "train", "test")


def utc_now() -> str:
  """The current time, ISO 8601 in UTC with its offset (``2026-12-05T13:50:02.123456+00:00``)."""
  return datetime.datetime.now(datetime.timezone.utc).isoformat()


def file_sha256(path: str | os.PathLike) -> str:
  """The sha256 (hex) of a file's bytes, read in 1 MiB blocks.

  Raises:
    OSError: the file cannot be read (missing, a directory, no permission).
  """
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def device_info() -> dict[str, Any]:
  """The JAX backend, the kind of its first device (``jax.devices()[0].device_kind``, e.g.
  ``"cpu"`` or ``"NVIDIA H100 80GB HBM3"``) and the number of devices."""
  import jax  # pylint: disable=import-outside-toplevel
  devices = jax.devices()
  return {"backend": jax.default_backend(), "device_kind": devices[0].device_kind,
          "device_count": len(devices)}


def describe_inputs(options: Mapping[str, Any], *, dataset_name: str | None = None
                    ) -> dict[str, Any]:
  """What a run read: its data options (JSON values; the paths of ``data``, ``train``,
  ``test`` and of the item-content options ``images``, ``image_map``, ``categories`` made
  absolute) and the sha256 of each data file.

  Without an interaction file (``data``, ``train``, ``test`` all empty), the data come from the
  registry: ``options["dataset"]`` (or ``dataset_name``, the dataset actually loaded) is recorded
  as the option ``dataset``; for the bundled dataset the file inside the package is hashed, for a
  downloaded one the registry's hash of its ratings file is recorded (the loader checks it).
  A directory given as a data path is recorded with ``"sha256": null``.

  Args:
    options: the data options by name (as the command line's ``--dataset``, ``--data``,
      ``--format``, ``--sep``, ``--columns``, ``--header``, ``--train``, ``--test``,
      ``--threshold``, ``--images``, ``--image-map``, ``--categories``).
    dataset_name: the name of the dataset loaded, used when the options name none.

  Returns:
    ``{"options": {...}, "files": [{"option", "path", "sha256"} | {"option": "dataset",
    "name", "path"?, "sha256"?, "git_sha1"?}, ...]}``.

  Raises:
    OSError: a data file cannot be read. ValueError: an unknown registry name.
  """
  opts = {name: _json_value(value) for name, value in options.items()}
  files = []
  for name in PATH_OPTIONS:
    if opts.get(name):
      path = Path(opts[name]).expanduser().absolute()
      opts[name] = str(path)
      digest = None if path.is_dir() else file_sha256(path)
      files.append({"option": name, "path": str(path), "sha256": digest})
  if not any(f["option"] in _INTERACTION_OPTIONS for f in files):
    name = opts.get("dataset") or dataset_name
    if name is not None:
      opts["dataset"] = name
      files.append(_registry_entry(name))
  return {"options": opts, "files": files}


def check_same_inputs(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> None:
  """Checks that the data files of a re-run are the ones a report recorded (same sha256).

  Args:
    recorded: a report's ``provenance["inputs"]``.
    current: :func:`describe_inputs` of the re-run.

  Raises:
    ValueError: a file whose sha256 differs (naming the file and both hashes), or a recorded
      file the re-run does not read.
  """
  def key(f):  # a registry dataset by its name (the package's path may differ), a file by path
    return (f.get("option"), f.get("name") if f.get("option") == "dataset" else f.get("path"))

  now = {key(f): f for f in current.get("files", [])}
  for f in recorded.get("files", []):
    if key(f) not in now:
      raise ValueError(f"the re-run does not read the recorded input {f}")
    for field in ("sha256", "git_sha1"):
      want, got = f.get(field), now[key(f)].get(field)
      if want is not None and got != want:
        what = f.get("path") or f.get("name")
        raise ValueError(f"input {what} changed since the report was written: {field} {got}, "
                         f"the report recorded {want}")


def start_provenance(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
  """A new provenance dict: ``extra`` (e.g. ``argv``, ``inputs``), the start time, the device,
  and an empty list of ``sections`` for :func:`timed`."""
  prov = dict(extra or {})
  prov.setdefault("argv", None)
  prov.update(started=utc_now(), seconds=None, device=device_info(), sections=[])
  return prov


@contextlib.contextmanager
def timed(provenance: dict[str, Any], name: str) -> Iterator[dict[str, Any]]:
  """Records the start time and duration of a section into ``provenance["sections"]``.

  The record is appended when the section starts, ``"completed": false`` until its body ends
  without an exception, and its ``seconds`` are set however it ends.
  """
  import time  # pylint: disable=import-outside-toplevel
  record = {"name": name, "started": utc_now(), "seconds": None, "completed": False}
  provenance.setdefault("sections", []).append(record)
  t0 = time.perf_counter()
  try:
    yield record
    record["completed"] = True
  finally:
    record["seconds"] = round(time.perf_counter() - t0, 3)


def finish_provenance(provenance: dict[str, Any]) -> dict[str, Any]:
  """Sets ``provenance["seconds"]`` (since ``started``) and returns the dict."""
  started = datetime.datetime.fromisoformat(provenance["started"])
  elapsed = datetime.datetime.now(datetime.timezone.utc) - started
  provenance["seconds"] = round(elapsed.total_seconds(), 3)
  return provenance


def attach_provenance(report: Mapping[str, Any], provenance: Mapping[str, Any]
                      ) -> dict[str, Any]:
  """A copy of ``report`` with its ``provenance`` section placed before the rows."""
  out = {key: value for key, value in report.items() if key not in ("provenance", "rows")}
  out["provenance"] = dict(provenance)
  out["rows"] = report["rows"]
  return out


_NAME = re.compile(r"^[^/\\\x00]+$")


def is_output_name(name: Any) -> bool:
  """Whether ``name`` can be an entry of ``provenance["outputs"]``: a plain file name (no
  folder part, not ``.``/``..``, not hidden)."""
  return (isinstance(name, str) and bool(_NAME.match(name)) and not name.startswith(".")
          and name not in (".", ".."))


def validate_provenance(provenance: Any) -> None:
  """Checks the optional ``provenance`` section (types of the keys it has; none is required).

  Raises:
    ValueError: naming the first problem.
  """
  if not isinstance(provenance, dict):
    raise ValueError(f"report 'provenance' must be an object, got {type(provenance).__name__}")
  argv = provenance.get("argv")
  if argv is not None and (not isinstance(argv, list)
                           or not all(isinstance(a, str) for a in argv)):
    raise ValueError(f"provenance 'argv' must be a list of strings, got {argv!r}")
  for key in ("device", "inputs"):
    if provenance.get(key) is not None and not isinstance(provenance[key], dict):
      raise ValueError(f"provenance {key!r} must be an object, got {provenance[key]!r}")
  sections = provenance.get("sections", [])
  if not isinstance(sections, list) or not all(isinstance(s, dict) and "name" in s
                                               for s in sections):
    raise ValueError(f"provenance 'sections' must be a list of objects with a name, got "
                     f"{sections!r}")
  outputs = provenance.get("outputs", [])
  if not isinstance(outputs, list) or not all(is_output_name(n) for n in outputs):
    raise ValueError(f"provenance 'outputs' must be a list of plain file names, got {outputs!r}")


def _registry_entry(name: str) -> dict[str, Any]:
  from importlib import resources  # pylint: disable=import-outside-toplevel

  from jaxrec.data import _registry  # pylint: disable=import-outside-toplevel
  info = _registry.dataset_info(name)
  entry: dict[str, Any] = {"option": "dataset", "name": name}
  if info.bundled:
    ratings = _registry._BUNDLED_RATINGS  # pylint: disable=protected-access
    resource = resources.files("jaxrec.data") / "bundled" / ratings
    with resources.as_file(resource) as file:
      entry.update(path=str(file), sha256=file_sha256(file))
  elif info.member_sha256 is not None:
    entry["sha256"] = info.member_sha256
  else:
    entry["git_sha1"] = info.member_git_sha1
  return entry


def _json_value(value: Any) -> Any:
  if value is None or isinstance(value, (str, bool, int, float)):
    return value
  if isinstance(value, (list, tuple)):
    return [_json_value(v) for v in value]
  return str(value)
