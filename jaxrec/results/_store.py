"""A resumable results store: tidy report rows in Parquet, one file per finished grid cell.

Layout of a store folder ``DIR``::

  DIR/store.json                 {"format": 1, "config_hash": "...", "config": {...},
                                  "data": {"fingerprint": "...", ...} | null}
  DIR/cells/<cell id>.parquet    the rows of one finished cell (written atomically)

Every row is a report-schema row (:mod:`jaxrec.report._schema`: ``model``, ``defense``,
``attack``, ``budget``, ``metric``, ``k``, ``value`` and grid keys) plus the provenance columns
:data:`PROVENANCE_COLUMNS`. A cell's part is written to a hidden temporary file in ``cells/``
and renamed into place (``os.replace``), so a process killed at any moment leaves whole cells
only; a resumed run skips the cells whose part exists, so no row is lost or duplicated.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from jaxrec import _checks
from jaxrec.report._schema import SCHEMA_VERSION, atomic_write, validate_report

__all__ = ["PROVENANCE_COLUMNS", "ResultsStore", "cell_id", "finished_cells", "git_revision",
           "load", "load_rows"]

FORMAT = 1
MANIFEST = "store.json"
CELLS = "cells"
PROVENANCE_COLUMNS = ("cell_id", "config_hash", "seed", "jaxrec_version", "git_revision",
                      "device_kind")
_META_KEY = b"jaxrec.config_hash"


def _pyarrow():
  try:
    import pyarrow  # pylint: disable=import-outside-toplevel
    import pyarrow.parquet  # pylint: disable=import-outside-toplevel,unused-import
  except ImportError as e:  # pragma: no cover - pyarrow is in the test extra
    raise ImportError("the results store needs pyarrow: pip install 'jaxrec[results]'") from e
  return pyarrow


def cell_id(config_hash: str, keys: Mapping[str, Any]) -> str:
  """The stable id of one grid cell: 16 hex digits of the sha256 of the config hash and the
  cell's keys (sorted JSON), the same on every machine and Python version.

  Args:
    config_hash: the grid config's hash (:func:`jaxrec.experiment.config_hash`).
    keys: what identifies the cell, JSON scalars (e.g. ``{"attack": "random", "budget": 0.01,
      "target": 1422, "seed": 0}``).

  Returns:
    The id, a string of 16 lowercase hex digits (also the part's file name, ``<id>.parquet``).

  Raises:
    ValueError: an empty ``config_hash``, no keys, or a key whose value is not a JSON scalar
      (``str``, ``int``, finite ``float``, ``bool`` or ``None``).

  Source:
    jaxrec.
  """
  if not isinstance(config_hash, str) or not config_hash:
    raise ValueError(f"config_hash must be a non-empty string, got {config_hash!r}")
  if not keys:
    raise ValueError("a cell needs at least one key")
  plain = {}
  for name, value in keys.items():
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
      value = value.item()  # NumPy scalars
    if value is not None and not isinstance(value, (str, int, float, bool)):
      raise ValueError(f"cell key {name!r} must be a JSON scalar, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
      raise ValueError(f"cell key {name!r} must be finite, got {value!r}")
    plain[str(name)] = value
  blob = json.dumps({"config_hash": config_hash, "cell": plain}, sort_keys=True,
                    separators=(",", ":"))
  return hashlib.sha256(blob.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def git_revision() -> str | None:
  """The git commit of the jaxrec checkout this package is imported from: 40 hex digits, with
  ``"-dirty"`` appended when tracked files of the checkout have uncommitted changes; ``None``
  when jaxrec is not imported from its own checkout (an installed wheel, including one in a
  virtual environment inside another git repository: the checkout's top level must be the
  folder holding the ``jaxrec`` package and ``pyproject.toml``) or git is unavailable.

  Raises:
    Nothing (any failure of git gives ``None``).

  Source:
    jaxrec.
  """
  return _git_revision(Path(__file__).resolve().parents[1])


def _git_revision(package: Path) -> str | None:
  """:func:`git_revision` of the package folder ``package``."""
  def git(*args: str) -> str | None:
    out = subprocess.run(["git", "-C", str(package), *args], capture_output=True, text=True,
                         timeout=10, check=False)
    return out.stdout.strip() if out.returncode == 0 else None

  try:
    top = git("rev-parse", "--show-toplevel")
    checkout = package.parent
    if top is None or Path(top).resolve() != checkout.resolve() \
        or not (checkout / "pyproject.toml").is_file():
      return None  # not jaxrec's own checkout (e.g. a venv inside the user's repository)
    rev = git("rev-parse", "HEAD")
    if rev is None or len(rev) != 40:
      return None
    status = git("status", "--porcelain", "--untracked-files=no")
  except (OSError, subprocess.SubprocessError):
    return None
  return rev if status == "" else f"{rev}-dirty" if status else None


def _device_kind() -> str:
  from jaxrec.report._provenance import device_info  # pylint: disable=import-outside-toplevel
  return str(device_info()["device_kind"])


class ResultsStore:
  """A store folder for the rows of one grid config (module docstring for the layout).

  Opening a folder creates it and its manifest ``store.json`` when missing. A folder that
  already holds results of another config (parts written under another hash, and a manifest
  naming it) or of other data (the manifest's data fingerprint differs from ``data``'s) is
  refused: one folder, one config on one dataset. A manifest of another config or other data
  without any finished cell (a run that failed before its first cell) is replaced. An existing
  folder that is not a store (no ``store.json``) is taken only when it is empty, so a store
  never writes over another command's files (e.g. the ``report.json`` of ``jaxrec audit``).
  Opening checks that ``DIR/cells`` can be written (a temporary file is created and removed),
  so an unwritable store fails before any cell is computed.

  Args:
    root: the store folder ``DIR``.
    config_hash: the config's hash (:func:`jaxrec.experiment.config_hash`).
    config: the config as JSON data (recorded in the manifest), optional.
    data: what the cells were computed on, JSON data with a ``"fingerprint"`` string (e.g. the
      sha256 of the loaded interactions, :func:`jaxrec.grid.data_fingerprint`), recorded in the
      manifest and compared when the store is opened again; ``None``: not recorded or checked.
      A store whose manifest has no fingerprint (written before fingerprints were recorded)
      takes ``data``'s.
    device_kind: the provenance column ``device_kind`` (default: the kind of JAX's first
      device, e.g. ``"cpu"`` or ``"NVIDIA H100 80GB HBM3"``).

  Raises:
    ValueError: an empty ``config_hash``; ``data`` without a string ``"fingerprint"``;
      ``root`` holds finished cells of another config (its manifest's hash differs, or parts
      written under another hash: naming the files) or of other data (naming both
      fingerprints), or a manifest of an unknown format; ``root`` is a file, or a non-empty
      folder without ``store.json``.
    OSError: the folder cannot be created or written (naming it).

  Source:
    jaxrec.
  """

  def __init__(self, root: str | os.PathLike, config_hash: str, *,
               config: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None,
               device_kind: str | None = None):
    if not isinstance(config_hash, str) or not config_hash:
      raise ValueError(f"config_hash must be a non-empty string, got {config_hash!r}")
    if data is not None and not (isinstance(data, Mapping)
                                 and isinstance(data.get("fingerprint"), str)):
      raise ValueError(f"data must be a mapping with a 'fingerprint' string, got {data!r}")
    self.root = Path(root)
    if self.root.exists() and not self.root.is_dir():
      raise ValueError(f"results store {self.root} is a file, not a folder")
    self.config_hash = config_hash
    self._device_kind = device_kind
    manifest = self.root / MANIFEST
    fresh = not manifest.is_file()
    if fresh and self.root.is_dir():
      entries = sorted(p.name for p in self.root.iterdir())
      if entries:
        shown = ", ".join(entries[:5]) + (" ..." if len(entries) > 5 else "")
        raise ValueError(
            f"{self.root} is not empty ({shown}) and is not a results store (no {MANIFEST}): "
            "refusing to write into it, which could replace another run's files (e.g. the "
            "report.json of `jaxrec audit`); use a new or empty folder")
    recorded_data = None
    if not fresh:
      recorded = _read_manifest(manifest)
      recorded_data = recorded.get("data")
      finished = bool(_part_files(self.root))
      if recorded["config_hash"] != config_hash and not finished:
        fresh = True  # no cell of that config finished (e.g. it failed on its data): reuse
      elif recorded["config_hash"] != config_hash:
        raise ValueError(
            f"{self.root} holds the results of another config (hash "
            f"{recorded['config_hash']} in {manifest}; this config's hash is {config_hash}): "
            "refusing to mix them; use another folder, or rerun with that folder's config to "
            "resume it")
      elif data is not None and isinstance(recorded_data, Mapping) \
          and recorded_data.get("fingerprint") != data["fingerprint"]:
        if not finished:
          fresh = True
        else:
          raise ValueError(
              f"{self.root} holds results computed on other data (data fingerprint "
              f"{recorded_data.get('fingerprint')}: {_describe(recorded_data)}; the data "
              f"loaded now has fingerprint {data['fingerprint']}: {_describe(data)}): "
              "refusing to mix them (a resumed cell would be compared with a clean model "
              "trained on the other data); use another --out folder for this data, or "
              "restore the data the store was computed on to resume it")
    _check_parts(self.root, config_hash)
    cells = self.root / CELLS
    try:
      cells.mkdir(parents=True, exist_ok=True)
      fd, probe = tempfile.mkstemp(dir=cells, prefix=".probe.", suffix=".tmp")
      os.close(fd)
      os.unlink(probe)
    except OSError as e:
      raise OSError(e.errno, f"results store {cells} is not writable ({e.strerror or e}); "
                    "nothing was computed: fix the permissions or use another folder") from e
    if fresh:
      _atomic_write_text(manifest, json.dumps(
          {"format": FORMAT, "config_hash": config_hash,
           "config": None if config is None else dict(config),
           "data": None if data is None else dict(data)}, indent=1, sort_keys=True) + "\n")
    elif data is not None and not isinstance(recorded_data, Mapping):
      # a store written without a fingerprint: record this data's from now on
      _atomic_write_text(manifest, json.dumps({**recorded, "data": dict(data)}, indent=1,
                                              sort_keys=True) + "\n")

  def cell_id(self, keys: Mapping[str, Any]) -> str:
    """:func:`cell_id` of ``keys`` under this store's config hash.

    Raises:
      ValueError: as :func:`cell_id`.
    """
    return cell_id(self.config_hash, keys)

  def path(self, cid: str) -> Path:
    """The part file of cell ``cid`` (whether or not it exists).

    Raises:
      ValueError: ``cid`` is not 16 lowercase hex digits.
    """
    if not (isinstance(cid, str) and _is_cell_id(cid)):
      raise ValueError(f"a cell id is 16 lowercase hex digits, got {cid!r}")
    return self.root / CELLS / f"{cid}.parquet"

  def finished(self) -> set[str]:
    """Ids of the cells whose part exists.

    Raises:
      Nothing.
    """
    return _part_ids(self.root)

  def read(self, cid: str) -> list[dict[str, Any]]:
    """The rows of finished cell ``cid``, in the order they were written.

    Raises:
      FileNotFoundError: the cell has no part.
      ValueError: a malformed id, or a part written under another config hash.
    """
    path = self.path(cid)
    if not path.is_file():
      raise FileNotFoundError(f"cell {cid} has no part ({path}): not finished")
    table = _read_part(path, self.config_hash)
    return table.to_pylist()

  def write(self, keys: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], *, seed: int
            ) -> Path:
    """Writes the rows of one finished cell as one part, atomically.

    The provenance columns (:data:`PROVENANCE_COLUMNS`) are added to every row: the cell id,
    the config hash, ``seed``, the jaxrec version, :func:`git_revision` and the device kind.

    Args:
      keys: the cell's keys (its id is :meth:`cell_id` of them).
      rows: report-schema rows (:func:`jaxrec.report.make_row`); a row may carry ``seed`` as a
        grid key (it must then equal ``seed``) but no other provenance column.
      seed: the cell's seed, an integer in ``[0, 2**32)``.

    Returns:
      The part's path.

    Raises:
      ValueError: no rows, a row that breaks the report schema (missing key, non-finite value,
        non-integer ``k``), a row with a provenance column of its own (or another ``seed``),
        rows whose columns Parquet cannot type (e.g. a column mixing numbers and strings).
      FileExistsError: the cell is finished already (its part exists): a cell is never
        written twice.
      OSError: the part cannot be written.
    """
    import jaxrec  # pylint: disable=import-outside-toplevel
    seed = _checks.integer("seed", seed, low=0, high=2**32 - 1)
    rows = [dict(r) for r in rows]
    if not rows:
      raise ValueError("a cell must have at least one row")
    validate_report({"schema": SCHEMA_VERSION, "status": "complete", "dataset": {},
                     "config": {}, "versions": {}, "rows": rows})
    cid = self.cell_id(keys)
    path = self.path(cid)
    if path.exists():
      raise FileExistsError(f"cell {cid} ({dict(keys)}) is finished already: {path}")
    if self._device_kind is None:
      self._device_kind = _device_kind()
    prov = {"cell_id": cid, "config_hash": self.config_hash, "seed": seed,
            "jaxrec_version": jaxrec.__version__, "git_revision": git_revision(),
            "device_kind": self._device_kind}
    for n, row in enumerate(rows):
      clash = [c for c in PROVENANCE_COLUMNS if c in row and not (c == "seed"
                                                                  and row[c] == seed)]
      if clash:
        raise ValueError(f"row {n} sets the provenance column(s) {clash} itself: {row}")
      row.update(prov)
    pa = _pyarrow()
    columns = list(dict.fromkeys(c for row in rows for c in row))  # every row's keys, in order
    try:
      table = pa.Table.from_pydict({c: [row.get(c) for row in rows] for c in columns})
    except (pa.ArrowException, TypeError, ValueError) as e:
      raise ValueError(f"the rows of cell {cid} cannot be typed for Parquet (a column mixing "
                       f"numbers and strings?): {e}") from e
    table = table.replace_schema_metadata({_META_KEY: self.config_hash.encode()})
    _atomic_write_table(table, path)
    return path


def _describe(data: Mapping[str, Any]) -> str:
  """A short description of a manifest's ``data`` entry (its keys other than the fingerprint)."""
  rest = {k: v for k, v in data.items() if k != "fingerprint"}
  return json.dumps(rest, sort_keys=True) if rest else "no description"


def _read_manifest(path: Path) -> dict[str, Any]:
  try:
    manifest = json.loads(path.read_text(encoding="utf-8"))
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise ValueError(f"{path} is not a readable results-store manifest: {e}") from e
  if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
      or not isinstance(manifest.get("config_hash"), str):
    raise ValueError(f"{path} is not a results-store manifest of format {FORMAT} (with a "
                     f"config_hash): {manifest!r}")
  return manifest


def _is_cell_id(name: str) -> bool:
  return len(name) == 16 and all(c in "0123456789abcdef" for c in name)


def _part_files(root: Path) -> list[Path]:
  """The parts of a store: ``cells/<16 hex digits>.parquet``; a hidden temporary file is
  skipped silently, any other ``.parquet`` file (e.g. a copy of a part under another name)
  is ignored with a warning naming it, so it is neither loaded as extra rows nor counted as a
  finished cell."""
  folder = root / CELLS
  if not folder.is_dir():
    return []
  parts, stray = [], []
  for p in sorted(folder.glob("*.parquet")):
    if p.name.startswith("."):
      continue
    (parts if _is_cell_id(p.stem) else stray).append(p)
  if stray:
    warnings.warn(f"{folder}: ignoring {', '.join(p.name for p in stray)} (a part's name is "
                  "its cell id, 16 lowercase hex digits, and .parquet)", stacklevel=3)
  return parts


def _part_ids(root: Path) -> set[str]:
  return {p.stem for p in _part_files(root)}


def _part_hash(path: Path) -> str | None:
  pa = _pyarrow()
  try:
    meta = pa.parquet.read_schema(path).metadata or {}
  except (OSError, pa.ArrowException) as e:
    raise ValueError(f"{path} is not a readable Parquet part: {e}; delete it and rerun to "
                     "recompute that cell") from e
  value = meta.get(_META_KEY)
  return None if value is None else value.decode()


def _check_parts(root: Path, config_hash: str) -> None:
  """Refuses parts written under another config hash (or none), naming them."""
  others: dict[str | None, list[str]] = {}
  for path in _part_files(root):
    h = _part_hash(path)
    if h != config_hash:
      others.setdefault(h, []).append(path.name)
  if others:
    listed = "; ".join(f"hash {h}: {', '.join(names[:5])}" + (" ..." if len(names) > 5 else "")
                       for h, names in others.items())
    raise ValueError(f"{root / CELLS} holds parts of another config than {config_hash} "
                     f"({listed}): refusing to mix configs in one store")


def _read_part(path: Path, config_hash: str | None):
  pa = _pyarrow()
  try:
    table = pa.parquet.read_table(path)
  except (OSError, pa.ArrowException) as e:
    raise ValueError(f"{path} is not a readable Parquet part: {e}; delete it and rerun to "
                     "recompute that cell") from e
  found = (table.schema.metadata or {}).get(_META_KEY)
  if config_hash is not None and (found is None or found.decode() != config_hash):
    raise ValueError(f"{path} was written under config hash "
                     f"{None if found is None else found.decode()}, not {config_hash}")
  return table


def _open_for_reading(root: str | os.PathLike) -> tuple[Path, str, list[Path]]:
  """The folder, its config hash and its part files, after the checks of :func:`load`."""
  root = Path(root)
  if not root.is_dir():
    raise FileNotFoundError(f"results store {root}: no such folder")
  manifest = root / MANIFEST
  if not manifest.is_file():
    raise ValueError(f"{root} is not a jaxrec results store (no {MANIFEST}; a store is the "
                     "--out folder of `jaxrec grid` or a folder written by "
                     "jaxrec.results.ResultsStore)")
  config_hash = _read_manifest(manifest)["config_hash"]
  parts = _part_files(root)
  if not parts:
    raise ValueError(f"results store {root} is empty: no cell has finished yet")
  _check_parts(root, config_hash)
  return root, config_hash, parts


def load_rows(root: str | os.PathLike, cells: Iterable[str] | None = None
              ) -> list[dict[str, Any]]:
  """Every row of a store as report rows (plain Python values: ``k`` an ``int`` or ``None``).

  Args:
    root: the store folder.
    cells: cell ids in the order wanted (default: every finished cell, by id); each must be
      finished.

  Returns:
    The rows, cell after cell, each cell's rows in the order they were written.

  Raises:
    FileNotFoundError: no such folder, or a cell of ``cells`` has no part.
    ValueError: not a store (no ``store.json``), an empty store (no finished cell), parts of
      another config than the manifest's (naming the files), an unreadable part.

  Source:
    jaxrec.
  """
  root, config_hash, parts = _open_for_reading(root)
  if cells is not None:
    by_id = {p.stem: p for p in parts}
    missing = [c for c in cells if c not in by_id]
    if missing:
      raise FileNotFoundError(f"results store {root}: cell(s) {missing[:5]} not finished")
    parts = [by_id[c] for c in cells]
  rows = []
  for path in parts:
    rows.extend(_read_part(path, config_hash).to_pylist())
  return rows


def load(root: str | os.PathLike):
  """Every row of a results store as a ``pandas.DataFrame``.

  Columns: the report schema's (``model``, ``defense``, ``attack``, ``budget``, ``metric``,
  ``k``, ``value``), the grid keys of the rows (e.g. ``target``, ``num_fake``) and the
  provenance columns :data:`PROVENANCE_COLUMNS`. Parts are read in cell-id order (row order
  carries no meaning: sort or group as needed); a column missing from some cells holds nulls
  there; integer columns are pandas' nullable ``Int64`` (``k`` is ``<NA>`` for metrics without a
  cut-off), a column holding both integers and floats (budgets given as counts and as
  fractions) is ``float64``.

  Args:
    root: the store folder (e.g. the ``--out`` folder of ``jaxrec grid``).

  Returns:
    A ``pandas.DataFrame`` with one row per stored row.

  Raises:
    FileNotFoundError: no such folder.
    ValueError: not a store (no ``store.json``), an empty store (no finished cell yet), parts
      written under another config than the manifest's (refused, naming the files), unreadable
      parts or columns whose types cannot be unified across cells.
    ImportError: pyarrow or pandas is missing (``pip install 'jaxrec[results]'``).

  Source:
    jaxrec (Parquet: Apache Arrow's pyarrow; tidy data: Wickham, J. Stat. Softw. 2014).
  """
  pa = _pyarrow()
  try:
    import pandas as pd  # pylint: disable=import-outside-toplevel
  except ImportError as e:  # pragma: no cover - pandas is in the test extra
    raise ImportError("jaxrec.results.load needs pandas: pip install 'jaxrec[results]'") from e
  root, config_hash, parts = _open_for_reading(root)
  tables = [_read_part(p, config_hash).replace_schema_metadata(None) for p in parts]
  try:
    table = pa.concat_tables(tables, promote_options="permissive")
  except (pa.ArrowException, TypeError) as e:
    raise ValueError(f"the cells of {root} have columns of incompatible types: {e}") from e
  return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def finished_cells(root: str | os.PathLike) -> set[str]:
  """Ids of the finished cells of a store (the part files present); empty for a folder that
  does not exist yet or holds no part.

  Raises:
    ValueError: ``root`` is a file.

  Source:
    jaxrec.
  """
  root = Path(root)
  if root.exists() and not root.is_dir():
    raise ValueError(f"results store {root} is a file, not a folder")
  return _part_ids(root)


def _atomic_write_table(table, path: Path) -> None:
  """One part, whole or absent, fsynced (:func:`jaxrec.report._schema.atomic_write`)."""
  pa = _pyarrow()
  atomic_write(path, lambda f: pa.parquet.write_table(table, f), sync=True)


def _atomic_write_text(path: Path, text: str) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  atomic_write(path, text)
