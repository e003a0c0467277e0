"""Item images and item categories: the item-content side of a recommender's attack surface.

Readers for an image per item (a folder of image files plus an ``item_id,filename`` map, or the
MovieLens-100K posters of ``shared/data``), item categories (``item_id,category`` files, ML-100K
genres), Fashion-MNIST (IDX files, and a 600-image MIT subset bundled with jaxrec), and synthetic
interactions over a categorised catalogue.

Bad-input policy (as for the interaction loaders): a malformed line of a text file raises
:class:`~jaxrec.data.DataFormatError` naming the file, the 1-based line number and the text; an
image that does not exist or cannot be decoded raises an error naming the file (and the image-map
line that listed it); nothing is dropped or changed silently. An item without an image is never
dropped: it gets the mean image of the items that have one and is listed in
:attr:`ItemImages.missing`.

Text files (image maps, category files): UTF-8 (a byte-order mark is dropped), comma- or
tab-separated (detected from line 1: tab when it holds a tab, else comma; or given with ``sep``),
fields may be quoted as in CSV, surrounding spaces of a field are stripped, CRLF line ends are read
as LF, blank lines at the end of a file are ignored and a blank line inside the data is an error.
An optional header line is detected (see :func:`read_image_map`).

Pillow is imported on first use (``pip install pillow``).
"""

from __future__ import annotations

import csv
import dataclasses
import errno
import io
import os
import tarfile
import warnings
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from jaxrec.data._interactions import from_arrays
from jaxrec.data._io import DataFormatError, _read_bytes

__all__ = [
    "FASHION_MNIST_CLASSES",
    "ML100K_GENRES",
    "ImageMap",
    "ItemImages",
    "bundled_fashion_mnist",
    "load_fashion_mnist",
    "load_image_folder",
    "load_movielens_posters",
    "read_categories",
    "read_image_map",
    "synthetic_category_interactions",
]

PathLike = str | os.PathLike

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")
"""The 10 Fashion-MNIST class names; label ``k`` is ``FASHION_MNIST_CLASSES[k]``."""

ML100K_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                 "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
                 "Romance", "Sci-Fi", "Thriller", "War", "Western")
"""The 19 MovieLens-100K genres in the order of ``u.item``'s flag columns (``u.genre``)."""

# Searched in this order by load_fashion_mnist(root=None).
_FASHION_MNIST_ENV = "JAXREC_FASHION_MNIST"
_SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # apt dataset-fashion-mnist
_FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_BUNDLED_FASHION_MNIST = "fashion_mnist_subset.npz"

# Header detection: a first field / second field that is one of these (compared lower case without
# "_", "-", " ") makes line 1 a header.
_ID_NAMES = frozenset({"id", "item", "itemid", "iid", "items", "movieid", "movie", "asin",
                       "productid", "product", "bookid", "isbn", "trackid", "songid"})
_FILE_NAMES = frozenset({"file", "filename", "files", "image", "images", "imagefile", "img",
                         "path", "filepath", "imagepath", "poster", "posterfile", "picture",
                         "photo", "url"})
_CATEGORY_NAMES = frozenset({"category", "categories", "cat", "label", "labels", "genre",
                             "genres", "class", "classes", "tag", "tags", "type"})

# Pillow modes and how mode="rgb" / "grey" reach RGB / L (see load_image_folder).
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_SUPPORTED_MODES = frozenset({"1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr"}) | _ALPHA_MODES


# ------------------------------------------------------------------------------------------------
# The image container.


@dataclasses.dataclass(frozen=True, eq=False)
class ItemImages:
  """One image per item of a catalogue, as a dense NumPy array.

  Attributes:
    images: ``(I, H, W, C) float32`` pixel values in ``[0, 1]`` (the decoded 8-bit value / 255),
      ``C`` = 3 (RGB) or 1 (grey). Row ``i`` is internal item ``i``. An item without an image
      holds the fill: the per-pixel mean of the images of the items that have one.
    has_image: ``(I,) bool``, whether item ``i`` has its own image.
    files: ``I`` strings, the image file (as the image map names it, or the archive member) of
      each item, ``''`` when it has none.
    missing: the internal ids of the items without an image, ascending (``has_image`` false),
      each filled with the mean image.
    source: where the images came from (a folder or an archive), for reports.
  """

  images: np.ndarray
  has_image: np.ndarray
  files: tuple[str, ...]
  missing: tuple[int, ...]
  source: str = ""

  def __post_init__(self):
    n = self.images.shape[0]
    if self.images.ndim != 4 or self.images.dtype != np.float32:
      raise ValueError(f"images must be (I, H, W, C) float32, got {self.images.shape} "
                       f"{self.images.dtype}")
    if self.has_image.shape != (n,) or self.has_image.dtype != np.bool_:
      raise ValueError(f"has_image must be ({n},) bool, got {self.has_image.shape} "
                       f"{self.has_image.dtype}")
    if len(self.files) != n:
      raise ValueError(f"files has {len(self.files)} entries for {n} items")
    if tuple(np.flatnonzero(~self.has_image).tolist()) != tuple(self.missing):
      raise ValueError("missing must list exactly the items whose has_image is false, ascending")

  @property
  def num_items(self) -> int:
    """``I``, the number of items."""
    return int(self.images.shape[0])

  def summary(self) -> str:
    """One line, e.g. ``"1,643 of 1,682 items have an image (72x48, 3 channels); 39 filled with
    the mean image"``."""
    n, h, w, c = self.images.shape
    have = n - len(self.missing)
    shape = f"{h}x{w}, {c} channel{'s' if c != 1 else ''}"
    if not self.missing:
      return f"all {n:,} items have an image ({shape})"
    return (f"{have:,} of {n:,} items have an image ({shape}); {len(self.missing):,} filled with "
            "the mean image")


class ImageMap(dict):
  """``{internal item id: filename}`` as read by :func:`read_image_map` (a ``dict``), plus
  where each entry came from.

  Attributes:
    source: the image-map file.
    lines: ``{internal item id: 1-based line number}`` of each entry.
    unknown: ``(line, raw id)`` of the rows skipped because their raw id is not in ``item_ids``
      (items without interactions), in file order.
    no_image: the internal ids whose row names no file (an empty filename).
  """

  def __init__(self, entries=(), *, source: str = "", lines: Mapping[int, int] | None = None,
               unknown: Sequence[tuple[int, str]] = (), no_image: Sequence[int] = ()):
    super().__init__(entries)
    self.source = source
    self.lines = dict(lines or {})
    self.unknown = tuple(unknown)
    self.no_image = tuple(no_image)


# ------------------------------------------------------------------------------------------------
# Image maps and categories (text files).


def _item_rows(rows, lookup, source: str, what: str, unknown: str, lines: dict,
               skipped: list):
  """``(line, internal item, value, text)`` of ``item_id,<what>`` rows: two fields, a known id
  (unknown ids go to ``skipped`` as ``(line, raw id)``), no item twice (``lines`` records each
  item's line).

  Raises:
    DataFormatError: a row without two fields, a repeated item, or (``unknown="error"``) an
      unknown id, each named by file and line.
  """
  for lineno, fields, text in rows:
    if len(fields) != 2:
      raise DataFormatError(f"{source}:{lineno}: expected 2 fields (item_id, {what}), got "
                            f"{len(fields)}: {_show(text)}")
    item = lookup.internal(fields[0], source, lineno, text, unknown)
    if item is None:
      skipped.append((lineno, fields[0]))
      continue
    if item in lines:
      raise DataFormatError(f"{source}:{lineno}: item {fields[0]!r} is repeated (first on line "
                            f"{lines[item]}): {_show(text)}")
    lines[item] = lineno
    yield lineno, item, fields[1], text


def read_image_map(
    path: PathLike,
    num_items: int | None = None,
    *,
    item_ids: Mapping | Sequence | np.ndarray | None = None,
    sep: str | None = None,
    header: bool | None = None,
    unknown: str = "skip",
) -> ImageMap:
  """Reads an ``item_id<sep>filename`` file: which image file shows which item.

  Args:
    path: the file (text, UTF-8). Two fields per line. An empty filename means the item has no
      image (it is left out of the result and listed in ``no_image``; the loaders then fill it
      and list it in :attr:`ItemImages.missing`). Several items may share a file.
    num_items: size of the internal id space; without ``item_ids`` each id must be an integer in
      ``[0, num_items)`` (``None``: any integer ``>= 0``). With ``item_ids`` it defaults to the
      map's size and bounds its internal ids.
    item_ids: the raw-to-internal id map of the interaction data, for files that hold raw ids:
      a mapping ``{raw id: internal int id}`` (``str`` keys, or ``int`` keys compared as
      integers), or a sequence/array of raw ids whose position is the internal id, e.g.
      ``Dataset.item_ids`` (integer arrays compare as integers, so ``"007"`` matches ``7``;
      other arrays as strings).
    sep: the field separator; ``None`` detects it from line 1 (tab when line 1 holds one, else
      comma).
    header: whether line 1 is a header; ``None`` detects it: line 1 is a header when its first
      field is a common id column name (``item_id``, ``movieId``, ``asin``, ...), its second a
      common file column name (``filename``, ``image``, ``path``, ``poster``, ...), or (integer
      ids) its first field is not an integer.
    unknown: what to do with a raw id that is not in ``item_ids`` (an item with no
      interactions): ``"skip"`` (default) skips the row, records it in ``ImageMap.unknown`` and
      warns (``UserWarning``) with the count and the first few; ``"error"`` raises.

  Returns:
    An :class:`ImageMap`: a ``dict`` ``{internal item id (int): filename (str)}`` with the source
    line of each entry and the skipped rows.

  Raises:
    FileNotFoundError: no such file.
    DataFormatError: (``file:line: ...``) a line without exactly two fields, an id that is not an
      integer (integer ids), is out of range, is not in ``item_ids`` (``unknown="error"``), or is
      repeated (both lines are named); a blank line inside the data; text that is not UTF-8.
    ValueError: an empty file; bad arguments (``item_ids`` with repeated raw ids or internal ids
      outside ``[0, num_items)``, ``unknown`` not ``"skip"``/``"error"``).

  Source: jaxrec.
  """
  if unknown not in ("skip", "error"):
    raise ValueError(f"unknown must be 'skip' or 'error', got {unknown!r}")
  source = str(path)
  lookup = _IdLookup(item_ids, num_items)
  rows = _read_rows(path, sep=sep, header=header, second_names=_FILE_NAMES, lookup=lookup)
  out: dict[int, str] = {}
  lines: dict[int, int] = {}
  skipped: list[tuple[int, str]] = []
  no_image: list[int] = []
  for lineno, item, value, text in _item_rows(rows, lookup, source, "filename", unknown,
                                              lines, skipped):
    if value:
      out[item] = value
    else:
      no_image.append(item)
  _warn_unknown(source, skipped, "image")
  return ImageMap(out, source=source, lines=lines, unknown=skipped, no_image=no_image)


def read_categories(
    path: PathLike,
    num_items: int | None = None,
    *,
    item_ids: Mapping | Sequence | np.ndarray | None = None,
    sep: str | None = None,
    header: bool | None = None,
    multi_sep: str = "|",
    missing: str = "error",
    unknown: str = "skip",
) -> tuple[np.ndarray, tuple[str, ...]]:
  """Reads item categories: ``item_id<sep>category``, or multi-label ``item_id<sep>cat1|cat2``.

  Args:
    path: the file (text, UTF-8), two fields per line; category names are strings (kept as
      written after stripping spaces; ``"Drama"`` and ``"drama"`` differ).
    num_items: size of the internal id space ``I``; required without ``item_ids`` (ids are then
      integers in ``[0, num_items)``), else defaults to the map's size.
    item_ids: raw-to-internal id map, as in :func:`read_image_map`.
    sep: field separator (``None``: detected from line 1, tab or comma).
    header: whether line 1 is a header (``None``: detected as in :func:`read_image_map`, with
      category column names such as ``category``, ``genres``, ``label``).
    multi_sep: separates the categories of one item inside the second field (default ``"|"``).
    missing: an item of ``[0, I)`` without a line: ``"error"`` (default) raises, listing the
      first missing ids; ``"zero"`` leaves its row all zero.
    unknown: a raw id not in ``item_ids``: ``"skip"`` (default; skipped with a ``UserWarning``
      giving the count and the first few, and its categories do not enter ``names``) or
      ``"error"``.

  Returns:
    ``(labels, names)``: ``labels`` ``(I, C) float32`` multi-hot (``labels[i, c] == 1`` when item
    ``i`` has category ``names[c]``), ``names`` the ``C`` category names sorted in code-point
    order.

  Raises:
    FileNotFoundError: no such file.
    DataFormatError: (``file:line: ...``) a wrong field count, a bad/out-of-range/repeated/unknown
      (``unknown="error"``) id as in :func:`read_image_map`, an empty category (also an empty
      element such as ``"a||b"``), a category repeated within a line; a blank line inside the
      data.
    ValueError: items without a line (``missing="error"``); an empty file; bad arguments
      (``num_items`` missing without ``item_ids``, ``multi_sep`` empty or equal to ``sep``).

  Source: jaxrec.
  """
  if missing not in ("error", "zero"):
    raise ValueError(f"missing must be 'error' or 'zero', got {missing!r}")
  if unknown not in ("skip", "error"):
    raise ValueError(f"unknown must be 'skip' or 'error', got {unknown!r}")
  if not multi_sep or multi_sep == sep:
    raise ValueError(f"multi_sep must be non-empty and differ from sep, got {multi_sep!r}")
  if item_ids is None and num_items is None:
    raise ValueError("read_categories needs num_items (or item_ids)")
  source = str(path)
  lookup = _IdLookup(item_ids, num_items)
  rows = _read_rows(path, sep=sep, header=header, second_names=_CATEGORY_NAMES, lookup=lookup)
  cats: dict[int, list[str]] = {}
  lines: dict[int, int] = {}
  skipped: list[tuple[int, str]] = []
  for lineno, item, value, text in _item_rows(rows, lookup, source, "category", unknown,
                                              lines, skipped):
    names = [c.strip() for c in value.split(multi_sep)]
    if not all(names):
      raise DataFormatError(f"{source}:{lineno}: empty category: {_show(text)}")
    if len(set(names)) != len(names):
      raise DataFormatError(f"{source}:{lineno}: a category is repeated: {_show(text)}")
    cats[item] = names
  _warn_unknown(source, skipped, "category")
  n = lookup.num_items
  absent = [i for i in range(n) if i not in cats]
  if absent and missing == "error":
    shown = ", ".join(map(str, absent[:10])) + (", ..." if len(absent) > 10 else "")
    raw = "" if lookup.raw is None else (
        " (raw ids " + ", ".join(repr(lookup.raw[i]) for i in absent[:10])
        + (", ..." if len(absent) > 10 else "") + ")")
    raise ValueError(f"{source}: {len(absent)} of {n} items have no category line: internal "
                     f"ids {shown}{raw}; pass missing='zero' to leave their rows all zero")
  names_sorted = tuple(sorted({c for v in cats.values() for c in v}))
  column = {c: k for k, c in enumerate(names_sorted)}
  labels = np.zeros((n, len(names_sorted)), np.float32)
  for item, v in cats.items():
    labels[item, [column[c] for c in v]] = 1.0
  return labels, names_sorted


class _IdLookup:
  """Turns the id field of a line into an internal item id (or ``None`` for a skipped row)."""

  def __init__(self, item_ids, num_items: int | None):
    if num_items is not None:
      num_items = _nonneg_int(num_items, "num_items")
    self.raw: list | None = None
    self.table: dict | None = None
    self.int_keys = True
    if item_ids is None:
      self.num_items = num_items
      return
    if isinstance(item_ids, Mapping):
      keys = list(item_ids)
      self.int_keys = bool(keys) and all(
          isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in keys)
      table = {}
      for k, v in item_ids.items():
        key = int(k) if self.int_keys else str(k)
        if key in table:
          raise ValueError(f"item_ids maps the raw id {k!r} twice")
        table[key] = _nonneg_int(v, f"item_ids[{k!r}]")
    else:
      arr = np.asarray(item_ids)
      if arr.ndim != 1:
        raise ValueError(f"item_ids must be 1-D (raw id of each internal id), got {arr.shape}")
      self.int_keys = bool(np.issubdtype(arr.dtype, np.integer))
      keys = [int(k) if self.int_keys else str(k) for k in arr.tolist()]
      table = {k: i for i, k in enumerate(keys)}
      if len(table) != len(keys):
        raise ValueError("item_ids holds a raw id twice")
    size = max(table.values(), default=-1) + 1
    if num_items is None:
      num_items = size
    elif size > num_items:
      raise ValueError(f"item_ids maps to internal id {size - 1}, outside [0, {num_items})")
    self.table = table
    self.num_items = num_items
    self.raw = [None] * num_items
    for k, v in table.items():
      self.raw[v] = k

  def is_id(self, token: str) -> bool:
    """Whether ``token`` reads as an id (for header detection)."""
    if self.table is not None and not self.int_keys:
      return token in self.table
    try:
      int(token)
    except ValueError:
      return False
    return True

  def internal(self, token: str, source: str, lineno: int, text: str, unknown: str) -> int | None:
    where = f"{source}:{lineno}"
    key: int | str = token
    if self.table is None or self.int_keys:
      try:
        key = int(token)
      except ValueError:
        hint = ("; pass item_ids= to map raw string ids" if self.table is None else "")
        raise DataFormatError(f"{where}: item id {token!r} is not an integer{hint}: "
                              f"{_show(text)}") from None
    if self.table is None:
      if key < 0 or (self.num_items is not None and key >= self.num_items):
        bound = f"[0, {self.num_items})" if self.num_items is not None else ">= 0"
        raise DataFormatError(f"{where}: item id {key} is outside {bound}: {_show(text)}")
      return key
    if key not in self.table:
      if unknown == "error":
        raise DataFormatError(f"{where}: raw item id {token!r} is not in item_ids (no such item "
                              f"in the interaction data): {_show(text)}")
      return None
    return self.table[key]


def _read_rows(path: PathLike, *, sep: str | None, header: bool | None,
               second_names: frozenset, lookup: _IdLookup) -> list[tuple[int, list[str], str]]:
  """``(line number, stripped fields, line text)`` of each data line of a small text file."""
  p = Path(path)
  if p.is_dir():
    raise IsADirectoryError(errno.EISDIR, "is a directory, not a data file", str(p))
  if not p.is_file():
    raise FileNotFoundError(errno.ENOENT, "no such data file", str(p))
  data = p.read_bytes()
  if data.startswith(b"\xef\xbb\xbf"):
    data = data[3:]
  try:
    text = data.decode("utf-8")
  except UnicodeDecodeError as e:
    lineno = data[:e.start].count(b"\n") + 1
    raise DataFormatError(f"{p}:{lineno}: not UTF-8 text ({e.reason} at byte {e.start})") \
        from None
  lines = text.replace("\r\n", "\n").split("\n")
  while lines and not lines[-1].strip():
    lines.pop()
  if not lines:
    raise ValueError(f"{p} is empty")
  if sep is None:
    sep = "\t" if "\t" in lines[0] else ","
  if not sep or "\n" in sep or "\r" in sep:
    raise ValueError(f"sep must be a non-empty string without line breaks, got {sep!r}")
  rows = []
  for k, line in enumerate(lines):
    if not line.strip():
      raise DataFormatError(f"{p}:{k + 1}: a blank line inside the data (only blank lines at the "
                            "end of a file are ignored)")
    if len(sep) == 1:
      fields = next(csv.reader([line], delimiter=sep, skipinitialspace=True))
    else:
      fields = line.split(sep)
    rows.append((k + 1, [f.strip() for f in fields], line))
  if header is None:
    fields = rows[0][1]
    first = _column_name(fields[0])
    second = _column_name(fields[1]) if len(fields) > 1 else ""
    header = (first in _ID_NAMES or second in second_names
              or ((lookup.table is None or lookup.int_keys) and not lookup.is_id(fields[0])))
  if header:
    rows = rows[1:]
    if not rows:
      raise ValueError(f"{p} has a header line and no data")
  return rows


def _warn_unknown(source: str, skipped: list[tuple[int, str]], what: str) -> None:
  if skipped:
    first = ", ".join(f"line {n}: {r!r}" for n, r in skipped[:5])
    more = ", ..." if len(skipped) > 5 else ""
    warnings.warn(f"{source}: skipped {len(skipped)} {what} row(s) whose raw item id is not in "
                  f"item_ids (items without interactions): {first}{more}", UserWarning,
                  stacklevel=3)


# ------------------------------------------------------------------------------------------------
# Decoding images.


def load_image_folder(
    directory: PathLike,
    image_map: Mapping[int, str],
    num_items: int,
    *,
    size: tuple[int, int] | None = None,
    mode: str = "rgb",
    max_bytes: int = 4 * 2**30,
) -> ItemImages:
  """Decodes one image per item from a folder (Pillow) into an :class:`ItemImages`.

  Conversion rule (every file, whatever its format and mode):
    * ``mode="rgb"`` -> 3 channels RGB: grey (``L``, ``1``) is replicated to R = G = B; palette
      (``P``) images are expanded; CMYK and YCbCr use Pillow's conversion (no colour profile);
      an image with transparency (an alpha channel: ``RGBA``, ``LA``, ``PA``, or a transparency
      entry: ``P``/``L``/``RGB`` with ``tRNS``) is composited over an opaque WHITE background
      first (a fully transparent pixel becomes 1.0, a fully opaque one keeps its colour).
    * ``mode="grey"`` -> 1 channel ``L``: the same RGB image (transparency over white), then
      Pillow's ITU-R 601-2 luma ``L = 0.299 R + 0.587 G + 0.114 B`` (a grey image keeps its
      values exactly).
    * then resized to ``size = (height, width)`` with Pillow's ``BILINEAR`` filter, which
      antialiases when shrinking (its support widens with the scale factor); images of mixed
      sizes and aspect ratios are all stretched to ``size`` (no cropping or padding). An image
      already of that size is not resampled.
    * values: the 8-bit result / 255 as ``float32`` (exact for 0 and 255).
  Only 8-bit images are read: 16-bit or float modes (``I``, ``I;16``, ``F``) and other modes
  raise rather than being clipped. Animated files give their first frame.

  Args:
    directory: the folder the filenames of ``image_map`` are relative to (absolute filenames are
      used as they are).
    image_map: ``{internal item id: filename}``, e.g. from :func:`read_image_map` (whose source
      lines then appear in error messages).
    num_items: ``I``; items of ``[0, I)`` not in ``image_map`` have no image.
    size: ``(height, width)`` in pixels; ``None`` keeps the images' own size, which must then be
      the same for all.
    mode: ``"rgb"`` (``C = 3``) or ``"grey"`` (``C = 1``).
    max_bytes: the most the ``(I, H, W, C) float32`` result may take (default 4 GiB), checked
      after the first image is decoded, before the others are.

  Returns:
    :class:`ItemImages` with ``images`` ``(I, H, W, C) float32`` in ``[0, 1]``; items without an
    image get the per-pixel mean of the decoded images and are listed in ``missing``.

  Raises:
    FileNotFoundError: a listed file does not exist (named, with its image-map line).
    DataFormatError: a file cannot be decoded (named, with the decoder's message and the
      image-map line), or has an unsupported mode; with ``size=None``, images of differing sizes.
    ValueError: an item id outside ``[0, num_items)``; no item has an image (the mean fill is
      then undefined); bad ``size`` or ``mode``; images that would take more than
      ``max_bytes`` (the message gives the size and suggests ``size``).
    ImportError: Pillow is not installed.

  Source: jaxrec.
  """
  folder = Path(directory)
  if not folder.is_dir():
    raise FileNotFoundError(errno.ENOENT, "no such image folder", str(folder))
  num_items = _nonneg_int(num_items, "num_items")
  size = _check_size(size)
  channels = _check_mode(mode)
  where = _map_lines(image_map)
  decoded: dict[int, np.ndarray] = {}
  cache: dict[str, np.ndarray] = {}
  for item in sorted(image_map):
    name = image_map[item]
    _check_item(item, num_items, name, where)
    if name not in cache:
      file = folder / name
      if not file.is_file():
        raise FileNotFoundError(
            errno.ENOENT, f"no such image file (internal item id {item}{where(item)})", str(file))
      cache[name] = _decode(file.read_bytes(), str(file), where(item), size, mode)
      if len(cache) == 1:  # the first image gives the size of all: check the memory first
        need = num_items * cache[name].size * 4
        if need > max_bytes:
          h, w, c = cache[name].shape
          raise ValueError(f"{file}: {num_items} images of {h}x{w}x{c} would take "
                           f"{need / 2**30:.1f} GiB as float32 (limit {max_bytes / 2**30:.1f} "
                           "GiB); resize them with size=(height, width) (jaxrec audit "
                           "--image-size H W), e.g. 64 64")
    decoded[item] = cache[name]
  files = tuple(image_map.get(i, "") for i in range(num_items))
  return _assemble(decoded, num_items, files, channels, str(folder))


def load_movielens_posters(
    root: PathLike,
    *,
    size: tuple[int, int] | None = (72, 48),
    mode: str = "rgb",
    item_ids: Sequence | np.ndarray | None = None,
) -> tuple[ItemImages, np.ndarray, tuple[str, ...]]:
  """The MovieLens-100K posters and genres of the real-data folder, in jaxrec's item ids.

  Reads, without extracting anything to disk, ``<root>/movielens-posters/ml100k_posters.tar``
  (1,625 JPEG posters, mostly 185x278, taken from ML-1M ``MovieImages/``),
  ``<root>/movielens-posters/ml100k_item_to_ml1m_poster.csv`` (ML-100K item id -> poster member,
  empty when none; 1,643 of 1,682 items have one, several items share a poster) and the 19 genre
  flags of ``<root>/movielens-100k/u.item`` (Latin-1, ``|``-separated). The posters are
  third-party artwork without a licence and MovieLens may not be redistributed: read them from
  the real-data folder, never ship them.

  Internal item ids follow :func:`~jaxrec.data.load_movielens_100k`: its dense ids are the raw
  ids in ascending order (:func:`~jaxrec.data.remap_ids`), and all 1,682 u.item ids occur in
  u.data, so internal id = ML-100K item id - 1 (Toy Story, item 1, is internal 0). Pass
  ``item_ids`` (e.g. ``dataset.item_ids`` of a filtered dataset) for another catalogue.

  Args:
    root: the real-data folder holding ``movielens-posters/`` and ``movielens-100k/`` (e.g.
      ``../shared/data``).
    size: ``(height, width)`` of the output images (default 72x48, the posters' 2:3 aspect);
      conversion and resizing as in :func:`load_image_folder`.
    mode: ``"rgb"`` or ``"grey"``.
    item_ids: raw ML-100K item ids (integers) in internal-id order; ``None`` = the u.item ids in
      ascending order (1..1682). Poster rows of other items are not read.

  Returns:
    ``(images, genres, genre_names)``: :class:`ItemImages` ``(I, H, W, C)`` (``I`` = 1,682 by
    default; items without a poster get the mean image and are listed in ``missing``: 39 by
    default), ``genres`` ``(I, 19) float32`` 0/1 flags, ``genre_names`` = :data:`ML100K_GENRES`.

  Raises:
    FileNotFoundError: a file is missing (named).
    DataFormatError: a malformed u.item or CSV line (``file:line``), a CSV id not in u.item, a
      repeated id, a poster member absent from the archive or not decodable (named, with its CSV
      line).
    ValueError: an ``item_ids`` entry that is not a u.item id.

  Source: posters: github.com/liangfgithub/liangfgithub.github.io ``MovieImages/``, joined to
  ML-100K by title and year (see the folder's PROVENANCE.md); genres: GroupLens ML-100K ``u.item``
  (Harper, Konstan, ACM TiiS 5(4), 2015).
  """
  root = Path(root)
  size = _check_size(size)
  channels = _check_mode(mode)
  item_file = root / "movielens-100k" / "u.item"
  csv_file = root / "movielens-posters" / "ml100k_item_to_ml1m_poster.csv"
  tar_file = root / "movielens-posters" / "ml100k_posters.tar"
  for f in (item_file, csv_file, tar_file):
    if not f.is_file():
      raise FileNotFoundError(errno.ENOENT, "no such file (MovieLens posters need "
                              "movielens-posters/ and movielens-100k/ under root)", str(f))
  flags = _read_u_item(item_file)
  if item_ids is None:
    raw = sorted(flags)
  else:
    arr = np.asarray(item_ids)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
      raise ValueError(f"item_ids must be a 1-D array of integer ML-100K ids, got {arr.dtype} "
                       f"{arr.shape}")
    raw = [int(r) for r in arr.tolist()]
    bad = [r for r in raw if r not in flags]
    if bad:
      raise ValueError(f"item_ids holds ids that are not in {item_file}: {bad[:10]}")
  internal = {r: i for i, r in enumerate(raw)}
  if len(internal) != len(raw):
    raise ValueError("item_ids holds a raw id twice")
  genres = np.asarray([flags[r] for r in raw], np.float32).reshape(len(raw), len(ML100K_GENRES))

  posters: dict[int, tuple[str, int]] = {}  # internal id -> (member, csv line)
  text = csv_file.read_text(encoding="utf-8-sig").replace("\r\n", "\n").rstrip("\n")
  reader = csv.reader(io.StringIO(text))
  head = next(reader, None)
  if head is None or "ml100k_item_id" not in head or "poster_file" not in head:
    raise DataFormatError(f"{csv_file}:1: expected a header with ml100k_item_id and poster_file, "
                          f"got {head!r}")
  c_id, c_file = head.index("ml100k_item_id"), head.index("poster_file")
  seen: dict[int, int] = {}
  for fields in reader:
    lineno = reader.line_num
    if len(fields) != len(head):
      raise DataFormatError(f"{csv_file}:{lineno}: expected {len(head)} fields, got "
                            f"{len(fields)}: {_show(','.join(fields))}")
    try:
      rid = int(fields[c_id])
    except ValueError:
      raise DataFormatError(f"{csv_file}:{lineno}: item id {fields[c_id]!r} is not an "
                            "integer") from None
    if rid not in flags:
      raise DataFormatError(f"{csv_file}:{lineno}: item {rid} is not in {item_file}")
    if rid in seen:
      raise DataFormatError(f"{csv_file}:{lineno}: item {rid} is repeated (first on line "
                            f"{seen[rid]})")
    seen[rid] = lineno
    if fields[c_file].strip() and rid in internal:
      posters[internal[rid]] = (fields[c_file].strip(), lineno)

  decoded: dict[int, np.ndarray] = {}
  cache: dict[str, np.ndarray] = {}
  with tarfile.open(tar_file, "r:") as tar:
    for item in sorted(posters):
      member, lineno = posters[item]
      if member not in cache:
        at = f"; listed at {csv_file}:{lineno}"
        try:
          handle = tar.extractfile(member)
        except KeyError:
          handle = None
        if handle is None:
          raise DataFormatError(f"{tar_file}: no file {member!r} in the archive{at}")
        cache[member] = _decode(handle.read(), f"{tar_file}:{member}", at, size, mode)
      decoded[item] = cache[member]
  files = tuple(posters[i][0] if i in posters else "" for i in range(len(raw)))
  images = _assemble(decoded, len(raw), files, channels, str(tar_file))
  return images, genres, ML100K_GENRES


def _read_u_item(path: Path) -> dict[int, list[int]]:
  """``{raw item id: 19 genre flags}`` from ML-100K ``u.item`` (Latin-1, ``|``-separated)."""
  out: dict[int, list[int]] = {}
  lines = path.read_bytes().decode("latin-1").replace("\r\n", "\n").split("\n")
  while lines and not lines[-1].strip():
    lines.pop()
  ng = len(ML100K_GENRES)
  for k, line in enumerate(lines, start=1):
    fields = line.split("|")
    if len(fields) != 5 + ng:
      raise DataFormatError(f"{path}:{k}: expected {5 + ng} '|'-separated fields, got "
                            f"{len(fields)}: {_show(line)}")
    try:
      rid = int(fields[0])
    except ValueError:
      raise DataFormatError(f"{path}:{k}: item id {fields[0]!r} is not an integer: "
                            f"{_show(line)}") from None
    flags = fields[5:]
    if any(f not in ("0", "1") for f in flags):
      raise DataFormatError(f"{path}:{k}: genre flags must be 0 or 1: {_show(line)}")
    if rid in out:
      raise DataFormatError(f"{path}:{k}: item {rid} is repeated")
    out[rid] = [int(f) for f in flags]
  if not out:
    raise ValueError(f"{path} is empty")
  return out


def _pil():
  try:
    from PIL import Image  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise ImportError("reading images needs Pillow: pip install pillow") from e
  return Image


def _decode(data: bytes, name: str, where: str, size: tuple[int, int] | None,
            mode: str) -> np.ndarray:
  """One image file's bytes -> ``(H, W, C) uint8`` by the rule of :func:`load_image_folder`."""
  Image = _pil()
  try:
    img = Image.open(io.BytesIO(data))
    img.load()
  except Exception as e:  # Pillow raises many types for a bad file; name the file
    raise DataFormatError(f"{name}: cannot decode image ({type(e).__name__}: {e}){where}") \
        from e
  if img.mode not in _SUPPORTED_MODES:
    raise DataFormatError(f"{name}: unsupported image mode {img.mode!r} (only 8-bit images: "
                          f"{', '.join(sorted(_SUPPORTED_MODES))}){where}")
  if img.mode in _ALPHA_MODES or "transparency" in img.info:
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, rgba).convert("RGB")
  else:
    rgb = img if img.mode == "RGB" else img.convert("RGB")
  out = rgb.convert("L") if mode == "grey" else rgb
  if size is not None and out.size != (size[1], size[0]):
    out = out.resize((size[1], size[0]), Image.Resampling.BILINEAR)
  arr = np.asarray(out, np.uint8)
  return arr[:, :, None] if arr.ndim == 2 else arr


def _assemble(decoded: dict[int, np.ndarray], num_items: int, files: tuple[str, ...],
              channels: int, source: str) -> ItemImages:
  if not decoded:
    raise ValueError(f"{source}: no item has an image, so there is no mean image to fill the "
                     f"{num_items} items with")
  by_shape: dict[tuple[int, ...], int] = {}
  for item, a in decoded.items():
    by_shape.setdefault(a.shape, item)
  if len(by_shape) != 1:
    (sa, i), (sb, j) = list(by_shape.items())[:2]
    raise DataFormatError(
        f"{source}: images differ in size ({files[i]!r} is {sa[0]}x{sa[1]}, {files[j]!r} "
        f"{sb[0]}x{sb[1]} (height x width)); pass size=(height, width) to resize them")
  h, w, c = next(iter(by_shape))
  if c != channels:
    raise AssertionError(f"decoded {c} channels, expected {channels}")
  images = np.empty((num_items, h, w, c), np.float32)
  have = np.zeros(num_items, bool)
  for item, a in decoded.items():
    images[item] = a.astype(np.float32) / np.float32(255.0)
    have[item] = True
  missing = np.flatnonzero(~have)
  if missing.size:
    images[missing] = images[have].mean(axis=0, dtype=np.float64).astype(np.float32)
  return ItemImages(images=images, has_image=have, files=files,
                    missing=tuple(missing.tolist()), source=source)


def _map_lines(image_map: Mapping[int, str]):
  """``item -> "; listed at file:line"`` when the map knows its lines, else ``""``."""
  lines = getattr(image_map, "lines", None) or {}
  source = getattr(image_map, "source", "")

  def where(item: int) -> str:
    return f"; listed at {source}:{lines[item]}" if item in lines else ""

  return where


def _check_item(item, num_items: int, name, where) -> None:
  if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
    raise ValueError(f"image_map keys must be internal item ids (int), got {item!r}")
  if not 0 <= item < num_items:
    raise ValueError(f"image_map item {item} is outside [0, num_items={num_items}){where(item)}")
  if not isinstance(name, str) or not name:
    raise ValueError(f"image_map[{item}] must be a non-empty filename, got {name!r}{where(item)}")


def _check_size(size) -> tuple[int, int] | None:
  if size is None:
    return None
  try:
    h, w = size
  except (TypeError, ValueError):
    raise ValueError(f"size must be (height, width), got {size!r}") from None
  return _pos_int(h, "size height"), _pos_int(w, "size width")


def _check_mode(mode: str) -> int:
  if mode not in ("rgb", "grey"):
    raise ValueError(f"mode must be 'rgb' or 'grey', got {mode!r}")
  return 3 if mode == "rgb" else 1


# ------------------------------------------------------------------------------------------------
# Fashion-MNIST.


def load_fashion_mnist(
    root: PathLike | None = None,
    *,
    split: str = "train",
    limit: int | None = None,
    per_class: int | None = None,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
  """Fashion-MNIST from its original IDX files (``train-images-idx3-ubyte.gz`` etc.).

  Args:
    root: the folder holding the four files (``.gz``, or decompressed without ``.gz``); ``None``
      searches, in order, ``$JAXREC_FASHION_MNIST`` and ``/usr/share/datasets/fashion-mnist``
      (Debian/Ubuntu: ``apt-get install dataset-fashion-mnist``).
    split: ``"train"`` (60,000 images) or ``"test"`` (the ``t10k`` files, 10,000).
    limit: keep the first ``limit`` images (after ``per_class``); ``None``: all.
    per_class: keep the first ``per_class`` images of each class; ``None``: all.
    seed: ``None`` (default): selections take images in file order (deterministic); an integer:
      ``per_class`` and ``limit`` pick a uniform random subset instead (NumPy
      ``default_rng(seed)``), returned in file order.

  Returns:
    ``(images, labels)``: ``images`` ``(N, 28, 28, 1) float32`` in ``[0, 1]`` (pixel / 255, 0 =
    background), ``labels`` ``(N,) int32`` in ``[0, 10)`` (:data:`FASHION_MNIST_CLASSES`), in
    file order.

  Raises:
    FileNotFoundError: the files are not found (every place searched is named).
    DataFormatError: a corrupt file (bad gzip, wrong IDX magic number, dtype or shape, truncated
      or extra data, labels outside ``[0, 10)``, image and label counts that differ), named.
    ValueError: ``split`` not ``"train"``/``"test"``; negative ``limit``; ``per_class`` < 1 or
      larger than a class.

  Source: Xiao, Rasul, Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine
  Learning Algorithms", arXiv:1708.07747, 2017 (MIT licence, Zalando SE).
  """
  if split not in _FASHION_MNIST_FILES:
    raise ValueError(f"split must be 'train' or 'test', got {split!r}")
  image_name, label_name = _FASHION_MNIST_FILES[split]
  if root is not None:
    places = [Path(root)]
  else:
    env = os.environ.get(_FASHION_MNIST_ENV)
    places = ([Path(env)] if env else []) + [_SYSTEM_FASHION_MNIST]
  for place in places:
    image_file, label_file = _find(place, image_name), _find(place, label_name)
    if image_file is not None and label_file is not None:
      break
  else:
    searched = "; ".join(str(p) for p in places)
    how = ("" if root is not None else
           f" (set {_FASHION_MNIST_ENV} to the folder, or apt-get install dataset-fashion-mnist)")
    raise FileNotFoundError(errno.ENOENT, f"Fashion-MNIST {split} files {image_name}[.gz] and "
                            f"{label_name}[.gz] not found in: {searched}{how}", str(places[0]))
  images = _read_idx(image_file, ndim=3)
  labels = _read_idx(label_file, ndim=1)
  if images.shape[1:] != (28, 28):
    raise DataFormatError(f"{image_file}: images are {images.shape[1]}x{images.shape[2]}, "
                          "expected 28x28")
  return _select(images, labels, str(image_file), str(label_file), limit, per_class, seed)


def bundled_fashion_mnist() -> tuple[np.ndarray, np.ndarray]:
  """The Fashion-MNIST subset shipped with jaxrec: 600 training images, 60 per class (offline).

  How it was made: from ``train-images-idx3-ubyte.gz`` (sha256
  ``b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7``; decompressed md5
  ``8181f5470baa50b63fa0f6fddb340f0a``) and ``train-labels-idx1-ubyte.gz`` (sha256
  ``0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056``; decompressed md5
  ``9018921c3c673c538a1fc5bad174d6f9``), the Debian package ``dataset-fashion-mnist``
  0.0~git20200523.55506a9-1 (same content as the upstream repository): the first 60 images of
  each class in file order, kept in file order (training rows 0..646), i.e. exactly
  ``load_fashion_mnist(split="train", per_class=60)``, stored with ``np.savez_compressed`` as
  ``jaxrec/data/bundled/fashion_mnist_subset.npz`` (arrays ``images (600, 28, 28) uint8``,
  ``labels (600,) uint8``, ``indices (600,) int32`` = the source rows). Licence: MIT, Copyright
  (c) 2017 Zalando SE, ``jaxrec/data/bundled/LICENSE-FashionMNIST``.

  Returns:
    ``(images, labels)`` as :func:`load_fashion_mnist`: ``(600, 28, 28, 1) float32`` in ``[0, 1]``
    and ``(600,) int32``.

  Raises:
    FileNotFoundError: the package was installed without its data files (reinstall jaxrec).

  Source: Xiao, Rasul, Vollgraf, arXiv:1708.07747, 2017 (MIT licence, Zalando SE).
  """
  ref = resources.files("jaxrec.data").joinpath("bundled", _BUNDLED_FASHION_MNIST)
  with ref.open("rb") as f, np.load(f) as npz:
    images = npz["images"]
    labels = npz["labels"]
  return (images.astype(np.float32)[..., None] / np.float32(255.0)), labels.astype(np.int32)


def _find(folder: Path, name: str) -> Path | None:
  for candidate in (folder / f"{name}.gz", folder / name):
    if candidate.is_file():
      return candidate
  return None


# IDX type codes (LeCun's MNIST format): the third byte of the magic number.
_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _read_idx(path: Path, *, ndim: int) -> np.ndarray:
  """An IDX file (optionally ``.gz``) of ``ndim`` dimensions and type ``uint8``, validated."""
  data = _read_bytes(path)
  if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
    raise DataFormatError(f"{path}: not an IDX file (magic number {data[:4].hex() or 'empty'}, "
                          "expected 0000 + type code + number of dimensions)")
  dtype, got_ndim = _IDX_DTYPES[data[2]], data[3]
  if got_ndim != ndim or dtype != np.uint8:
    raise DataFormatError(f"{path}: IDX file of {got_ndim} dimension(s) and type {dtype}, "
                          f"expected {ndim} dimension(s) of uint8")
  header = 4 + 4 * ndim
  if len(data) < header:
    raise DataFormatError(f"{path}: truncated IDX header")
  shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
  expected = header + int(np.prod(shape, dtype=np.int64))
  if len(data) != expected:
    what = "truncated" if len(data) < expected else "extra data"
    raise DataFormatError(f"{path}: IDX header says {shape} ({expected} bytes), the file has "
                          f"{len(data)} bytes ({what})")
  return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _select(images: np.ndarray, labels: np.ndarray, image_source: str, label_source: str,
            limit: int | None, per_class: int | None, seed: int | None):
  if images.shape[0] != labels.shape[0]:
    raise DataFormatError(f"{image_source} holds {images.shape[0]} images but {label_source} "
                          f"{labels.shape[0]} labels")
  if labels.size and labels.max() >= len(FASHION_MNIST_CLASSES):
    raise DataFormatError(f"{label_source}: label {int(labels.max())} is outside [0, 10)")
  rng = np.random.default_rng(seed) if seed is not None else None
  keep = np.arange(labels.shape[0])
  if per_class is not None:
    per_class = _pos_int(per_class, "per_class")
    parts = []
    for c in range(len(FASHION_MNIST_CLASSES)):
      rows = np.flatnonzero(labels == c)
      if rows.size < per_class:
        raise ValueError(f"per_class={per_class} but class {c} ({FASHION_MNIST_CLASSES[c]}) has "
                         f"{rows.size} images in {label_source}")
      parts.append(rows[:per_class] if rng is None
                   else rng.choice(rows, per_class, replace=False))
    keep = np.sort(np.concatenate(parts))
  if limit is not None:
    limit = _nonneg_int(limit, "limit")
    if rng is not None and limit < keep.size:
      keep = np.sort(rng.choice(keep, limit, replace=False))
    else:
      keep = keep[:limit]
  x = images[keep].astype(np.float32)[..., None] / np.float32(255.0)
  return x, labels[keep].astype(np.int32)


# ------------------------------------------------------------------------------------------------
# Synthetic interactions.


def synthetic_category_interactions(
    labels,
    *,
    num_users: int,
    interactions_per_user: int,
    num_preferred: int = 2,
    preference: float = 0.8,
    seed: int = 0,
    return_preferences: bool = False,
):
  """SYNTHETIC implicit interactions for a catalogue of categorised items (not real behaviour).

  A stand-in for user data on an image catalogue that has none (e.g. Fashion-MNIST): each user
  prefers ``num_preferred`` distinct categories drawn uniformly from those present in ``labels``,
  and draws ``interactions_per_user`` distinct items one by one: with probability ``preference``
  uniformly among the not-yet-drawn items of the preferred categories, else uniformly among the
  not-yet-drawn items of the whole catalogue (preferred categories included). The expected
  share of a user's items in the preferred categories is thus about ``preference + (1 -
  preference) * f``, with ``f`` the catalogue's share of items in those categories. When a user's
  preferred categories run out of items, the remaining draws come from the catalogue.
  Deterministic for a given ``seed`` (NumPy ``default_rng``).

  Args:
    labels: ``(I,)`` integer category of each item (single-label; any integer values).
    num_users: ``U`` users, ids ``0..U-1``.
    interactions_per_user: items per user (at most ``I``).
    num_preferred: preferred categories per user (at most the number of distinct categories).
    preference: probability in ``[0, 1]`` that a draw comes from the preferred categories.
    seed: seed of the random generator.
    return_preferences: also return each user's preferred categories.

  Returns:
    An :class:`~jaxrec.data.Interactions` (``num_users = U``, ``num_items = I``, no ratings or
    timestamps; rows grouped by user, in draw order), or with ``return_preferences=True`` the
    pair ``(interactions, preferred)`` with ``preferred`` ``(U, num_preferred) int64`` category
    values.

  Raises:
    ValueError: ``labels`` not a 1-D integer array or empty; ``interactions_per_user`` > ``I``;
      ``num_preferred`` > the number of categories; ``preference`` outside ``[0, 1]``; negative
      counts.

  Source: jaxrec (a synthetic generator, no published protocol).
  """
  lab = np.asarray(labels)
  if lab.ndim != 1 or lab.size == 0 or not np.issubdtype(lab.dtype, np.integer):
    raise ValueError(f"labels must be a non-empty 1-D integer array, got {lab.dtype} {lab.shape}")
  num_users = _nonneg_int(num_users, "num_users")
  k = _nonneg_int(interactions_per_user, "interactions_per_user")
  num_preferred = _nonneg_int(num_preferred, "num_preferred")
  n = lab.shape[0]
  categories = np.unique(lab)
  if k > n:
    raise ValueError(f"interactions_per_user={k} exceeds the {n} items")
  if num_preferred > categories.size:
    raise ValueError(f"num_preferred={num_preferred} exceeds the {categories.size} categories")
  preference = float(preference)
  if not 0.0 <= preference <= 1.0:
    raise ValueError(f"preference must be in [0, 1], got {preference}")
  rng = np.random.default_rng(seed)
  members = {int(c): np.flatnonzero(lab == c) for c in categories}
  users = np.repeat(np.arange(num_users, dtype=np.int64), k)
  items = np.empty(num_users * k, np.int64)
  preferred = np.empty((num_users, num_preferred), np.int64)
  for u in range(num_users):
    pref = rng.choice(categories, num_preferred, replace=False)
    preferred[u] = pref
    pref_set = {int(c) for c in pref}
    pool = (np.concatenate([members[int(c)] for c in pref]) if pref_set
            else np.empty(0, np.int64))
    coins = rng.random(k) < preference
    chosen: set[int] = set()
    from_pool = 0  # chosen items that lie in the preferred categories
    row = items[u * k:(u + 1) * k]
    for j in range(k):
      source, size = (pool, pool.size) if coins[j] and from_pool < pool.size else (None, n)
      while True:  # rejection: uniform over the items of the source not drawn yet
        item = int(rng.integers(size))
        item = int(source[item]) if source is not None else item
        if item not in chosen:
          break
      from_pool += int(lab[item]) in pref_set
      chosen.add(item)
      row[j] = item
  inter = from_arrays(users, items, num_users=num_users, num_items=n)
  return (inter, preferred) if return_preferences else inter


# ------------------------------------------------------------------------------------------------
# Small helpers.


def _nonneg_int(value, name: str) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
    raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
  return int(value)


def _pos_int(value, name: str) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
    raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
  return int(value)


def _column_name(text: str) -> str:
  return text.strip().lower().replace("_", "").replace("-", "").replace(" ", "")


def _show(text: str, limit: int = 120) -> str:
  return repr(text[:limit] + "..." if len(text) > limit else text)
