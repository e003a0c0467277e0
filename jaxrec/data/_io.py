"""Loaders for interaction files: MovieLens, generic delimited text, and train/test split pairs.

Every loader returns a :class:`~jaxrec.data.Dataset` whose dense ids are assigned in ascending
order of the raw ids (see :func:`~jaxrec.data.remap_ids`); the raw ids are kept in
``Dataset.user_ids`` / ``Dataset.item_ids`` (``int64``, or ``str`` for string ids).

Parsing rules (all loaders):
  * user and item ids are integers (as Python's ``int`` parses them); :func:`load_delimited` and
    :func:`load_tsv_split` also take string ids (user names, Amazon ASINs): with ``ids="auto"`` a
    column whose first data row is not an integer holds strings, ``ids="str"`` makes every id a
    string. Ratings are finite floats (representable in float32), timestamps integers;
  * header mistakes are errors, never a row lost or added: a file read without a header whose
    line 1 holds a common column name (``userId``, ``asin``, ...), or (``ids="auto"``) a text id
    where line 2 has an integer one; a declared header that looks like data (all numbers, or
    numbers in the same columns as line 2); column names not in the header (all missing names
    and the header's names are listed); a Parquet file (``PAR1``) read as text;
  * every line must have the same number of fields; a blank line inside the data is malformed;
    blank lines at the end of the file are ignored; Windows line ends (CRLF) are read as LF;
  * any malformed line raises :class:`DataFormatError` naming the file, the 1-based line number and
    the offending text, e.g. ``u.data:17: expected 4 columns, got 3: '1\\t2\\t3'``;
  * a file without data rows raises ``ValueError("<path> is empty")``; a missing file raises
    ``FileNotFoundError`` naming the path; files whose name ends in ``.gz`` are decompressed.

Duplicate policy: a user-item pair occurring on several lines is ONE interaction. The row with the
latest timestamp is kept (on ties, or without timestamps, the last occurrence in file order); how
many rows were merged is recorded in ``Dataset.notes``. See :func:`~jaxrec.data.deduplicate`.

Speed: a vectorised path (NumPy byte scan to check field counts, C-level ``bytes.split`` and
``int``/``float`` conversion) handles well-formed files; only when it meets a problem does a
line-by-line re-scan run, which is the reference semantics and reports the first bad line.
"""

from __future__ import annotations

import errno
import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from jaxrec.data._interactions import Dataset, from_arrays
from jaxrec.data._preprocess import deduplicate, remap_ids

__all__ = [
    "DataFormatError",
    "guess_columns",
    "load_delimited",
    "load_movielens_100k",
    "load_movielens_1m",
    "load_tsv_split",
]

PathLike = str | os.PathLike
_F32_MAX = float(np.finfo(np.float32).max)
_KIND = {"user": "id", "item": "id", "rating": "float", "timestamp": "int"}
_LABEL = {"user": "user id", "item": "item id", "rating": "rating", "timestamp": "timestamp"}


class DataFormatError(ValueError):
  """A malformed line in an interaction file; the message names the file, line number and text."""


def load_movielens_100k(path: PathLike) -> Dataset:
  """Loads MovieLens 100K ratings from ``u.data`` (``user<TAB>item<TAB>rating<TAB>unix_ts``).

  Duplicate user-item rows (none in the original file) would be merged, keeping the latest
  timestamp (ties: the last in file order), and recorded in ``notes``.

  Args:
    path: the ``u.data`` file (optionally ``.gz``) or a directory containing ``u.data``.

  Returns:
    A :class:`Dataset` named ``"ml-100k"``: ratings ``float32`` in 1-5 stars, timestamps ``int64``
    Unix seconds; the original file gives 100,000 rows, 943 users, 1,682 items.

  Raises:
    FileNotFoundError: no such file. DataFormatError: a malformed line. ValueError: empty file.

  References:
    Harper, Konstan, "The MovieLens Datasets: History and Context", ACM TiiS 5(4), 2015.
  """
  file = _resolve(path, "u.data")
  return _movielens_100k(_read_bytes(file), str(file))


def load_movielens_1m(path: PathLike) -> Dataset:
  """Loads MovieLens 1M ratings from ``ratings.dat`` (``UserID::MovieID::Rating::Timestamp``).

  Duplicate user-item rows would be merged (latest timestamp kept; ties: last in file order) and
  recorded in ``notes``.

  Args:
    path: the ``ratings.dat`` file (optionally ``.gz``) or a directory containing it.

  Returns:
    A :class:`Dataset` named ``"ml-1m"``: ratings ``float32`` in 1-5 stars, timestamps ``int64``
    Unix seconds; item raw ids are MovieIDs.

  Raises:
    FileNotFoundError: no such file. DataFormatError: a malformed line. ValueError: empty file.

  References:
    Harper, Konstan, "The MovieLens Datasets: History and Context", ACM TiiS 5(4), 2015.
  """
  file = _resolve(path, "ratings.dat")
  return _movielens_1m(_read_bytes(file), str(file))


def load_delimited(
    path: PathLike,
    *,
    sep: str,
    user_col: int | str,
    item_col: int | str,
    rating_col: int | str | None = None,
    timestamp_col: int | str | None = None,
    header: bool = False,
    name: str | None = None,
    ids: str = "auto",
) -> Dataset:
  """Loads interactions from a delimited text file (optionally gzip-compressed, ``.gz``).

  Every line must have as many fields as the header (``header=True``) or else as the first line;
  columns not selected are not checked. Duplicate user-item rows are merged, keeping the latest
  timestamp (ties, or no ``timestamp_col``: the last in file order), and recorded in ``notes``.

  Args:
    path: the file; its name ending in ``.gz`` means gzip.
    sep: field separator, may be several characters (e.g. ``"::"``); not a newline.
    user_col: 0-based index of the raw user id column, or its name when ``header=True``.
    item_col: index or name of the raw item id column.
    rating_col: index or name of the rating column, or ``None`` (implicit feedback).
    timestamp_col: index or name of the integer timestamp column, or ``None``.
    header: whether the first line holds column names (it is then not data; line numbers in errors
      still count it).
    name: the dataset name; defaults to the file name up to its first dot.
    ids: ``"auto"`` (default): the user (item) ids are integers when the first data row's user
      (item) id is one, strings otherwise; ``"int"``: integers (a non-integer id is an error);
      ``"str"``: strings (e.g. ASINs, some of which look like numbers). String ids are kept as
      written (an empty id is an error).

  Returns:
    A :class:`Dataset` (``ratings`` ``float32`` or ``None``, ``timestamps`` ``int64`` or ``None``;
    ``user_ids`` / ``item_ids`` ``int64`` or ``str``).

  Raises:
    FileNotFoundError: no such file.
    DataFormatError: a malformed line (wrong field count, non-integer id or timestamp,
      non-numeric or non-finite rating, an empty string id, a blank line before the last data
      line), a first line that looks like a header when ``header=False`` (a common column name,
      or a text id above an integer one) or like data when ``header=True`` (numbers where line
      2 has numbers), or a Parquet file.
    ValueError: empty file; a column name given without ``header=True`` or not in the header; a
      column index outside the file's columns; an empty separator or one containing a newline;
      ``ids`` not one of ``"auto"``, ``"int"``, ``"str"``.

  Source: jaxrec.
  """
  file = _resolve(path, None)
  columns = {"user": user_col, "item": item_col}
  if rating_col is not None:
    columns["rating"] = rating_col
  if timestamp_col is not None:
    columns["timestamp"] = timestamp_col
  if ids not in ("auto", "int", "str"):
    raise ValueError(f"ids must be 'auto', 'int' or 'str', got {ids!r}")
  cols = _parse(_read_bytes(file), str(file), sep=sep, columns=columns, ncols=None, header=header,
                ids=ids, header_option=True)
  return _to_dataset(cols, name if name is not None else file.name.split(".")[0])


# common column names, by role, compared case-insensitively without "_" / "-" / " "
COLUMN_NAMES = {
    "user": ("user", "userid", "uid", "users", "reviewerid", "customerid", "visitorid"),
    "item": ("item", "itemid", "iid", "items", "movieid", "movie", "asin", "productid",
             "product", "bookid", "isbn", "trackid", "songid"),
    "rating": ("rating", "ratings", "score", "stars", "overall", "value"),
    "timestamp": ("timestamp", "time", "ts", "unixtime", "unixreviewtime", "datetime", "date"),
}


def guess_columns(names: list[str]) -> list[str | None] | None:
  """The user, item, rating and timestamp columns among ``names`` by their common names
  (:data:`COLUMN_NAMES`, e.g. ``userId``, ``user_id``, ``movieId``, ``asin``, ``rating``,
  ``timestamp``).

  Args:
    names: the column names of a file (its header).

  Returns:
    ``[user, item, rating, timestamp]`` names (``None`` for a rating or timestamp not found), or
    ``None`` when no user or no item column is recognised.

  Source: jaxrec.
  """
  norm = [_column_name(n) for n in names]
  found: list[str | None] = []
  for role in ("user", "item", "rating", "timestamp"):
    hit = next((names[norm.index(c)] for c in COLUMN_NAMES[role] if c in norm), None)
    found.append(hit.strip() if hit is not None else None)
  return found if found[0] is not None and found[1] is not None else None


def load_tsv_split(
    train_path: PathLike, test_path: PathLike, *, name: str | None = None, ids: str = "auto"
) -> Dataset:
  """Loads a predefined train/test pair of ``user<TAB>item<TAB>score[<TAB>timestamp]`` files.

  The format of published leave-one-out splits (e.g. sisinflab's ``trainingset.tsv`` /
  ``testset.tsv``). Each file has 4 columns, or 3 when it has no timestamps (decided by its first
  line). One id mapping is built over the union of both files, so both parts share id spaces even
  when an item appears only in the test file. Duplicate user-item rows within a file are merged
  (latest timestamp kept; ties: last in file order); pairs present in both files are left alone;
  both facts are recorded in ``notes``.

  Args:
    train_path: the training file (optionally ``.gz``).
    test_path: the test file.
    name: the dataset name; defaults to the name of the folder holding ``train_path``.
    ids: as in :func:`load_delimited` (``"auto"``: integer or string ids, decided per file by
      its first line; both files must then agree).

  Returns:
    ``Dataset(interactions=train, test=test)``; ``ratings`` holds the score column (``float32``);
    ``user_ids`` / ``item_ids`` ``int64`` or ``str``.

  Raises:
    FileNotFoundError: a file is missing.
    DataFormatError: a malformed line, or a first line with neither 3 nor 4 columns; integer ids
      in one file and string ids in the other (the message says to pass ``ids="str"``).
    ValueError: a file is empty; ``ids`` invalid.
  """
  if ids not in ("auto", "int", "str"):
    raise ValueError(f"ids must be 'auto', 'int' or 'str', got {ids!r}")
  parts, files = [], []
  for p in (train_path, test_path):
    file = _resolve(p, None)
    columns = {"user": 0, "item": 1, "rating": 2, "timestamp": 3}
    parts.append(_parse(_read_bytes(file), str(file), sep="\t", columns=columns, ncols=(3, 4),
                        header=False, optional=("timestamp",), ids=ids))
    files.append(file)
  train, test = parts
  for role in ("user", "item"):
    text = [cols[role].dtype.kind == "U" for cols in parts]
    if text[0] != text[1]:
      kind = {True: "text", False: "integers"}
      raise DataFormatError(
          f"the {role} ids of {files[0]} are {kind[text[0]]} but those of {files[1]} are "
          f"{kind[text[1]]} (each file's first line decides); pass ids='str' (--ids str) to "
          "read both as text")
  n_train = train["user"].shape[0]
  users, items, user_ids, item_ids = remap_ids(
      np.concatenate([train["user"], test["user"]]), np.concatenate([train["item"], test["item"]]))
  notes = []
  split = []
  halves = (("train", train, slice(0, n_train)), ("test", test, slice(n_train, None)))
  for label, cols, sl in halves:
    part, removed = deduplicate(from_arrays(
        users[sl], items[sl], num_users=len(user_ids), num_items=len(item_ids),
        ratings=cols["rating"], timestamps=cols.get("timestamp")))
    if removed:
      notes.append(f"{label}: {_dup_note(removed)}")
    split.append(part)
  train_part, test_part = split
  ni = max(len(item_ids), 1)
  overlap = np.isin(np.asarray(test_part.users, np.int64) * ni + test_part.items,
                    np.asarray(train_part.users, np.int64) * ni + train_part.items)
  if overlap.any():
    notes.append(f"{int(overlap.sum())} test user-item pairs also occur in train (left as is)")
  if name is None:
    name = Path(train_path).resolve().parent.name
  return Dataset(interactions=train_part, user_ids=user_ids, item_ids=item_ids, name=name,
                 test=test_part, notes=tuple(notes))


# ------------------------------------------------------------------------------------------------
# Format-specific parsers on bytes (also used by the registry on archive members).


def _movielens_100k(data: bytes, source: str) -> Dataset:
  cols = _parse(data, source, sep="\t", columns={"user": 0, "item": 1, "rating": 2,
                                                  "timestamp": 3}, ncols=(4,), header=False)
  return _to_dataset(cols, "ml-100k")


def _movielens_1m(data: bytes, source: str) -> Dataset:
  cols = _parse(data, source, sep="::", columns={"user": 0, "item": 1, "rating": 2,
                                                  "timestamp": 3}, ncols=(4,), header=False)
  return _to_dataset(cols, "ml-1m")


def _to_dataset(cols: dict[str, np.ndarray], name: str) -> Dataset:
  users, items, user_ids, item_ids = remap_ids(cols["user"], cols["item"])
  interactions, removed = deduplicate(from_arrays(
      users, items, num_users=len(user_ids), num_items=len(item_ids),
      ratings=cols.get("rating"), timestamps=cols.get("timestamp")))
  notes = (_dup_note(removed),) if removed else ()
  return Dataset(interactions=interactions, user_ids=user_ids, item_ids=item_ids, name=name,
                 notes=notes)


def _dup_note(removed: int) -> str:
  return f"merged {removed} duplicate user-item rows (kept the latest)"


# ------------------------------------------------------------------------------------------------
# Reading and parsing.


def _resolve(path: PathLike, member: str | None) -> Path:
  p = Path(path)
  if member is not None and p.is_dir():
    p = p / member
  if p.is_dir():
    hint = f" (expected the file itself or a folder holding {member})" if member else ""
    raise IsADirectoryError(errno.EISDIR, f"is a directory, not a data file{hint}", str(p))
  if not p.is_file():
    raise FileNotFoundError(errno.ENOENT, "no such data file", str(p))
  return p


def _read_bytes(path: Path) -> bytes:
  data = path.read_bytes()
  if path.name.endswith(".gz"):
    try:
      data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
      raise DataFormatError(f"{path}: cannot decompress gzip data: {e}") from e
  return data


def _parse(
    data: bytes,
    source: str,
    *,
    sep: str,
    columns: dict[str, int | str],
    ncols: tuple[int, ...] | None,
    header: bool,
    optional: tuple[str, ...] = (),
    ids: str = "int",
    header_option: bool = False,
) -> dict[str, np.ndarray]:
  """Parses delimited bytes into ``{role: array}`` for roles user/item/rating/timestamp.

  ``ncols`` lists the accepted field counts (``None``: whatever the first line has); ``optional``
  roles are dropped when their column index is beyond the file's field count; ``ids`` as in
  :func:`load_delimited`; ``header_option``: whether the caller can read a header line (error
  messages then suggest ``header=True``, else removing the line).
  """
  if not sep or "\n" in sep or "\r" in sep:
    raise ValueError(f"sep must be a non-empty string without line breaks, got {sep!r}")
  sep_b = sep.encode("utf-8")
  if data.startswith(b"\xef\xbb\xbf"):  # UTF-8 byte-order mark
    data = data[3:]
  if b"\r" in data:
    data = data.replace(b"\r\n", b"\n")
  data = _strip_trailing_blank_lines(data)
  first_line = 1
  names = None
  if header:
    head, found, data = data.partition(b"\n")
    names = [h.strip() for h in head.decode("utf-8", "replace").split(sep)]
    ncols = (len(names),)
    first_line = 2
    if found and not data:  # "header\n\n": a blank line 2, not an empty file
      raise DataFormatError(f"{source}:2: expected {len(names)} columns, got 1: ''")
  if not data:
    raise ValueError(f"{source} is empty")
  if data.startswith(b"PAR1"):  # Parquet's magic number
    raise DataFormatError(f"{source} is a Parquet file, not delimited text: read it with "
                          "load_parquet (--format parquet)")
  index = {}
  missing = []
  for role, col in columns.items():
    if isinstance(col, str):
      if names is None:
        raise ValueError(f"{role}_col={col!r} is a column name, which needs header=True")
      if col not in names:
        missing.append(f"{role}_col={col!r}")
        continue
      index[role] = names.index(col)
    else:
      index[role] = int(col)
  if missing:
    raise ValueError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not in the "
                     f"header of {source} (line 1); its column names are {names}")
  first = data.split(b"\n", 1)[0]
  got = first.count(sep_b) + 1
  if ncols is None:
    ncols = (got,)
  if got not in ncols:
    want = " or ".join(map(str, ncols))
    raise DataFormatError(
        f"{source}:{first_line}: expected {want} columns, got {got}: {_show(first)}")
  ncol = got
  if optional:  # e.g. the timestamp column of a 3-column split file
    index = {role: c for role, c in index.items() if not (role in optional and c >= ncol)}
  for role, c in index.items():
    if not 0 <= c < ncol:
      raise ValueError(f"{role}_col={c} is outside the {ncol} columns of {source}")
  fields = first.split(sep_b)
  kinds = {role: _KIND[role] for role in index}
  for role in ("user", "item"):
    if ids == "str" or (ids == "auto" and not _parses(int, fields[index[role]])):
      kinds[role] = "str"
  if names is not None:
    head_numbers = [_parses(float, f) for f in head.split(sep_b)]
    if all(head_numbers) or (any(head_numbers)
                             and head_numbers == [_parses(float, f) for f in fields]):
      raise DataFormatError(
          f"{source}:1: header=True (--header) but the first line looks like data, not column "
          f"names: {_show(head)} has numbers in the same columns as line 2 {_show(first)}")
  if names is None:
    _check_not_header(data, source, sep_b, index, ids, header_option)
  out = _parse_fast(data, sep_b, ncol, index, kinds)
  if out is None:
    out = _parse_slow(data, source, sep_b, ncol, index, first_line, kinds)
  if names is None and ids == "auto":
    _check_text_only_on_line_1(out, source, kinds, _header_hint(header_option))
  return out


def _header_hint(header_option: bool) -> str:
  return ("; pass header=True (--header)" if header_option
          else "; this format has no header line: remove it")


def _check_not_header(data: bytes, source: str, sep_b: bytes, index: dict[str, int], ids: str,
                      header_option: bool) -> None:
  """Raises when line 1 of a file read without a header holds a non-integer user or item id and
  a common column name (``userId``, ``asin``, ...)."""
  end = data.find(b"\n")
  line = data if end < 0 else data[:end]
  fields = line.split(sep_b)
  if ids == "str" or all(_parses(int, fields[index[r]]) for r in ("user", "item")):
    return
  hint = _header_hint(header_option)
  if any(_column_name(f.decode("utf-8", "replace")) in _HEADER_NAMES for f in fields):
    raise DataFormatError(f"{source}:1: the first line looks like a header (column names), "
                          f"not data: {_show(line)}{hint}")


def _check_text_only_on_line_1(out: dict[str, np.ndarray], source: str, kinds: dict[str, str],
                               hint: str) -> None:
  """Raises when (``ids="auto"``) a user or item column holds text only on line 1 and integers on
  every other line: line 1 is then a header (or a stray line), not string ids."""
  for role in ("user", "item"):
    col = out[role]
    if kinds[role] == "str" and col.shape[0] > 1 and all(_parses(int, v) for v in col[1:]):
      label = _LABEL[role]
      raise DataFormatError(
          f"{source}:1: the {label} {str(col[0])!r} is text but every other line's is an "
          f"integer: line 1 looks like a header (column names), not data{hint}, or ids='str' "
          "(--ids str) to read the ids as text")


def _strip_trailing_blank_lines(data: bytes) -> bytes:
  """``data`` without its final newline and any blank (empty or whitespace) lines after the last
  data line."""
  while True:
    body, _, last = data.rpartition(b"\n")
    if last.strip() or not data:
      return data
    data = body


def _parses(kind: type, token: bytes) -> bool:
  """Whether ``kind(token)`` (``int`` or ``float``) accepts ``token``."""
  try:
    kind(token)
  except ValueError:
    return False
  return True


def _column_name(text: str) -> str:
  """A column name as :data:`COLUMN_NAMES` lists it: lower case, no ``_``, ``-`` or space."""
  return text.strip().lower().replace("_", "").replace("-", "").replace(" ", "")


# the names that give away a header line read as data: the column guess's own list
_HEADER_NAMES = frozenset(name for names in COLUMN_NAMES.values() for name in names)


def _parse_fast(data: bytes, sep_b: bytes, ncol: int, index: dict[str, int],
                kinds: dict[str, str]):
  """Vectorised parse of a well-formed file; ``None`` as soon as anything looks wrong."""
  if len(sep_b) != 1:
    if b"\x00" in data:
      return None
    data = data.replace(sep_b, b"\x00")
    sep_b = b"\x00"
  buf = np.frombuffer(data, np.uint8)
  newlines = np.flatnonzero(buf == 10)
  n = newlines.shape[0] + 1
  seps_per_line = np.bincount(np.searchsorted(newlines, np.flatnonzero(buf == sep_b[0])),
                              minlength=n)
  if seps_per_line.shape[0] != n or np.any(seps_per_line != ncol - 1):
    return None
  tokens = data.replace(b"\n", sep_b).split(sep_b)
  out = {}
  try:
    for role, c in index.items():
      column = tokens[c::ncol]
      if kinds[role] == "str":
        values = np.asarray([t.decode("utf-8") for t in column], dtype=str)
        if values.size != n or np.any(np.char.str_len(values) == 0):
          return None
      elif kinds[role] == "float":
        values = np.fromiter(map(float, column), np.float64, count=n)
        if not np.all(np.abs(values) <= _F32_MAX):  # NaN fails the comparison too
          return None
      else:
        values = np.fromiter(map(int, column), np.int64, count=n)
      out[role] = values
  except (ValueError, OverflowError):  # UnicodeDecodeError is a ValueError
    return None
  return out


def _parse_slow(data: bytes, source: str, sep_b: bytes, ncol: int, index: dict[str, int],
                first_line: int, kinds: dict[str, str]) -> dict[str, np.ndarray]:
  """Line-by-line parse, the reference semantics; raises on the first malformed line."""
  values = {role: [] for role in index}
  for k, line in enumerate(data.split(b"\n")):
    lineno = first_line + k
    fields = line.split(sep_b)
    if len(fields) != ncol:
      blank = (" (a blank line inside the data; only blank lines at the end of a file are "
               "ignored)" if not line.strip() else "")
      raise DataFormatError(f"{source}:{lineno}: expected {ncol} columns, got {len(fields)}: "
                            f"{_show(line)}{blank}")
    for role, c in index.items():
      values[role].append(_convert(fields[c], role, source, lineno, line, kinds[role]))
  dtypes = {"float": np.float64, "str": str}
  return {role: np.asarray(v, dtypes.get(kinds[role], np.int64)) for role, v in values.items()}


def _convert(token: bytes, role: str, source: str, lineno: int, line: bytes, kind: str):
  label = _LABEL[role]
  shown = token.decode("utf-8", "replace")
  where = f"{source}:{lineno}"
  if kind == "str":
    try:
      text = token.decode("utf-8")
    except UnicodeDecodeError:
      raise DataFormatError(f"{where}: {label} {shown!r} is not UTF-8 text: {_show(line)}") \
          from None
    if not text:
      raise DataFormatError(f"{where}: empty {label}: {_show(line)}")
    return text
  if kind == "float":
    try:
      v = float(token)
    except ValueError:
      raise DataFormatError(
          f"{where}: {label} {shown!r} is not a number: {_show(line)}") from None
    if not (math.isfinite(v) and abs(v) <= _F32_MAX):
      raise DataFormatError(
          f"{where}: {label} {shown!r} is not a finite float32 number: {_show(line)}")
    return v
  try:
    v = int(token)
  except ValueError:
    hints = (["string ids: ids='str', --ids str"] if role in ("user", "item") else []) + \
        (["or is line 1 a header (column names)?"] if lineno == 1 else [])
    hint = f" ({'; '.join(hints)})" if hints else ""
    raise DataFormatError(
        f"{where}: {label} {shown!r} is not an integer{hint}: {_show(line)}") from None
  if not -2**63 <= v < 2**63:
    raise DataFormatError(f"{where}: {label} {shown!r} is outside the int64 range: {_show(line)}")
  return v


def _show(line: bytes, limit: int = 120) -> str:
  text = line.decode("utf-8", "replace")
  if len(text) > limit:
    text = text[:limit] + "..."
  return repr(text)
