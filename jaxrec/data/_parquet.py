"""Interactions from a Parquet file (read with pyarrow, an optional dependency)."""

from __future__ import annotations

import os

import numpy as np

from jaxrec.data._interactions import Dataset
from jaxrec.data._io import DataFormatError, _to_dataset, guess_columns

__all__ = ["load_parquet"]

_ROLES = ("user", "item", "rating", "timestamp")


def load_parquet(path: str | os.PathLike, *, columns: list[str | None] | None = None,
                 ids: str = "auto", name: str | None = None) -> Dataset:
  """Loads interactions from a Parquet file, columns chosen by name.

  Ids follow :func:`jaxrec.data.load_delimited`'s rules: integer columns give integer raw ids,
  string columns string raw ids (``ids="auto"``); ``ids="str"`` turns integer ids into text,
  ``ids="int"`` requires integer columns. Ratings become ``float32``; timestamps ``int64``
  (a Parquet timestamp column as seconds since the epoch). Duplicate user-item rows are merged
  as by every loader (latest timestamp kept, recorded in ``notes``).

  Args:
    path: the ``.parquet`` file.
    columns: ``[user, item, rating, timestamp]`` column names (``rating``/``timestamp`` may be
      ``None`` or left out); default: guessed from common names
      (:func:`jaxrec.data.guess_columns`).
    ids: ``"auto"``, ``"int"`` or ``"str"``.
    name: the dataset name; defaults to the file name up to its first dot.

  Returns:
    A :class:`Dataset`.

  Raises:
    ImportError: pyarrow is not installed (``pip install 'jaxrec[parquet]'``).
    FileNotFoundError: no such file. ValueError: a named column not in the file (the message
      lists its columns), no recognisable user/item column, an empty file, ``ids`` invalid.
    DataFormatError: a null value (naming the column and the 1-based row), a non-numeric
      rating or timestamp, a non-finite rating, non-integer ids with ``ids="int"``, an empty
      string id.

  Source: jaxrec.
  """
  try:
    import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise ImportError("reading Parquet needs pyarrow: pip install 'jaxrec[parquet]' (or "
                      "pip install pyarrow)") from e
  if ids not in ("auto", "int", "str"):
    raise ValueError(f"ids must be 'auto', 'int' or 'str', got {ids!r}")
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no such data file: {path}")
  available = list(pq.read_schema(path).names)
  if columns is None:
    columns = guess_columns(available)
    if columns is None:
      raise ValueError(f"{path}: no user and item columns recognised among {available}; name "
                       "them with --columns USER,ITEM[,RATING[,TIMESTAMP]]")
  columns = list(columns) + [None] * (4 - len(columns))
  if columns[0] is None or columns[1] is None or len(columns) > 4:
    raise ValueError(f"columns must name the user and item columns (then optionally rating and "
                     f"timestamp), got {columns}")
  missing = [c for c in columns if c is not None and c not in available]
  if missing:
    raise ValueError(f"{path}: column {missing[0]!r} is not in the file; its columns are "
                     f"{available}")
  picked = {role: c for role, c in zip(_ROLES, columns) if c is not None}
  table = pq.read_table(path, columns=list(dict.fromkeys(picked.values())))
  if table.num_rows == 0:
    raise ValueError(f"{path} is empty")
  cols = {role: _column(table.column(c), role, c, path, ids) for role, c in picked.items()}
  return _to_dataset(cols, name if name is not None else os.path.basename(path).split(".")[0])


def _column(chunked, role: str, name: str, path: str, ids: str) -> np.ndarray:
  import pyarrow as pa  # pylint: disable=import-outside-toplevel
  import pyarrow.compute as pc  # pylint: disable=import-outside-toplevel
  where = f"{path}: column {name!r} ({role})"
  if chunked.null_count:
    row = int(np.flatnonzero(np.asarray(pc.is_null(chunked)))[0]) + 1
    raise DataFormatError(f"{where} has a null value at row {row}")
  kind = chunked.type
  if role in ("user", "item"):
    if pa.types.is_integer(kind):
      values = np.asarray(chunked.to_numpy(), np.int64)
      return values.astype(str) if ids == "str" else values
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
      if ids == "int":
        raise DataFormatError(f"{where} holds text, not integer ids (use ids='str', --ids str)")
      values = np.asarray(chunked.to_pylist(), dtype=str)
      if np.any(np.char.str_len(values) == 0):
        row = int(np.flatnonzero(np.char.str_len(values) == 0)[0]) + 1
        raise DataFormatError(f"{where} has an empty id at row {row}")
      return values
    raise DataFormatError(f"{where} has type {kind}; ids must be integers or strings")
  if role == "timestamp":
    if pa.types.is_timestamp(kind):
      return np.asarray(pc.cast(chunked, pa.timestamp("s")).cast(pa.int64()).to_numpy(),
                        np.int64)
    if pa.types.is_integer(kind):
      return np.asarray(chunked.to_numpy(), np.int64)
    raise DataFormatError(f"{where} has type {kind}; timestamps must be integers or timestamps")
  if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
    raise DataFormatError(f"{where} has type {kind}; ratings must be numbers")
  values = np.asarray(chunked.to_numpy(), np.float64)
  bad = ~(np.abs(values) <= float(np.finfo(np.float32).max))
  if bad.any():
    raise DataFormatError(f"{where} has a non-finite value {values[bad][0]} at row "
                          f"{int(np.flatnonzero(bad)[0]) + 1}")
  return values
