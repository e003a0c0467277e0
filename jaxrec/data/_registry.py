"""Named datasets: one bundled offline default and two MovieLens sets downloaded on request.

``"movietweetings-10core"`` ships inside the package (MIT licence, see
``jaxrec/data/bundled/CITATION.md``). MovieLens may be used for research but not redistributed, so
it is never bundled: :func:`load_dataset` either reads a copy the user already has (``path=``,
no network) or downloads the official GroupLens archive into a cache, checks the archive's
published MD5 and the member's own hash, and parses the member in memory.

Duplicate policy (as for every loader): a repeated user-item pair is one interaction, the row with
the latest timestamp is kept (ties: the last in file order), recorded in ``Dataset.notes``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile
from importlib import resources
from pathlib import Path

from jaxrec.data._interactions import Dataset
from jaxrec.data._io import _movielens_1m, _movielens_100k, _resolve, load_delimited
from jaxrec.data._io import load_movielens_1m, load_movielens_100k

__all__ = ["DatasetInfo", "DownloadError", "dataset_info", "list_datasets", "load_dataset"]

_MOVIELENS_LICENSE = (
    "GroupLens MovieLens terms: research use only, acknowledge in publications, no "
    "redistribution without permission, no commercial use; never bundled with jaxrec.")
_MOVIELENS_CITATION = (
    "F. Maxwell Harper, Joseph A. Konstan, \"The MovieLens Datasets: History and Context\", "
    "ACM TiiS 5(4), 2015.")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What :func:`load_dataset` knows about a named dataset.

  Attributes:
    name: the registry name.
    description: contents and size.
    license: the publisher's terms, abridged.
    citation: the reference to cite when using the data.
    bundled: whether the data ships inside the package (loads offline).
    url: archive download URL, ``None`` when bundled.
    archive_md5: the publisher's MD5 of the archive (hex), checked by ``pooch``.
    member: path of the ratings file inside the archive.
    member_sha256: sha256 (hex) of that member, or ``None`` when unknown.
    member_git_sha1: git blob SHA-1 of that member (``sha1(b"blob <len>\\0" + data)``), used when
      the sha256 is unknown.
  """

  name: str
  description: str
  license: str
  citation: str
  bundled: bool
  url: str | None = None
  archive_md5: str | None = None
  member: str | None = None
  member_sha256: str | None = None
  member_git_sha1: str | None = None


_BUNDLED_RATINGS = "movietweetings_kcore10_ratings.csv.gz"

_REGISTRY = {
    "movietweetings-10core": DatasetInfo(
        name="movietweetings-10core",
        description=("MovieTweetings 100K snapshot, iterative 10-core: 44,613 ratings (0-10) by "
                     "2,059 users on 1,099 IMDb movies, with Unix timestamps."),
        license="MIT, Copyright (c) 2013 Simon Dooms (bundled with its licence notice).",
        citation=("Dooms, De Pessemier, Martens, \"MovieTweetings: a Movie Rating Dataset "
                  "Collected From Twitter\", CrowdRec workshop at ACM RecSys 2013."),
        bundled=True),
    "ml-100k": DatasetInfo(
        name="ml-100k",
        description="MovieLens 100K: 100,000 ratings (1-5) by 943 users on 1,682 movies.",
        license=_MOVIELENS_LICENSE,
        citation=_MOVIELENS_CITATION,
        bundled=False,
        url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        archive_md5="0e33842e24a9c977be4e0107933c0723",
        member="ml-100k/u.data",
        member_sha256="06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"),
    "ml-1m": DatasetInfo(
        name="ml-1m",
        description="MovieLens 1M: 1,000,209 ratings (1-5) by 6,040 users on 3,706 movies.",
        license=_MOVIELENS_LICENSE,
        citation=_MOVIELENS_CITATION,
        bundled=False,
        url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        archive_md5="c4d9eecfca2ab87c1945afe126590906",
        member="ml-1m/ratings.dat",
        # The sha256 of ratings.dat is not known here (the file was never available to us); its
        # git blob SHA-1 is recorded in shared/data/movielens-1m/PROVENANCE.md and checked instead.
        member_sha256=None,
        member_git_sha1="77a7c4b150f588c23bb9e1f068aa996c0b413695"),
}

# path loader (file or directory) and in-memory parser (bytes, source name) per remote dataset.
_LOADERS = {
    "ml-100k": (load_movielens_100k, _movielens_100k),
    "ml-1m": (load_movielens_1m, _movielens_1m),
}


def list_datasets() -> list[str]:
  """Names accepted by :func:`load_dataset`, sorted; see :func:`dataset_info` for each."""
  return sorted(_REGISTRY)


def dataset_info(name: str) -> DatasetInfo:
  """The :class:`DatasetInfo` (licence, citation, source, hashes) of a named dataset.

  Raises:
    ValueError: unknown name (the message lists the known names).
  """
  try:
    return _REGISTRY[name]
  except KeyError:
    raise ValueError(
        f"unknown dataset {name!r}; known datasets: {', '.join(list_datasets())}") from None


def load_dataset(
    name: str, *, path: str | Path | None = None, cache_dir: str | Path | None = None
) -> Dataset:
  """Loads a named dataset as a :class:`Dataset` (dense ids in ascending raw-id order).

  * ``"movietweetings-10core"``: bundled; loads offline from the package data (or from ``path``:
    a ``ratings.csv.gz`` in the same format, or a directory holding one).
  * ``"ml-100k"``, ``"ml-1m"``: with ``path`` (the ``u.data``/``ratings.dat`` file or a directory
    holding it), read that copy as is and never touch the network. Without ``path``, download
    the GroupLens zip with ``pooch`` into ``cache_dir`` (default
    ``platformdirs.user_cache_dir("jaxrec")``; reused when already there and its MD5 matches),
    check the member's sha256 (ml-100k) or git blob SHA-1 (ml-1m), and parse it.

  Ratings are ``float32`` in the dataset's units (MovieLens 1-5 stars, MovieTweetings 0-10);
  timestamps ``int64`` Unix seconds. Duplicate user-item rows are merged (latest kept) and noted.

  Args:
    name: one of :func:`list_datasets`.
    path: a local copy to read instead of the bundled or downloaded data.
    cache_dir: download cache folder for remote datasets (ignored for bundled ones).

  Returns:
    The :class:`Dataset`, ``name`` set to the registry name.

  Raises:
    ValueError: unknown ``name``; a downloaded member whose hash does not match (the archive may
      be corrupt or altered); a downloaded file that is not a zip or lacks the member.
    FileNotFoundError: ``path`` does not exist. DataFormatError: a malformed line.
    DownloadError: the download failed (e.g. no network); the message says how to pass a local
      copy. ``ValueError`` from ``pooch`` when the archive's MD5 differs.
  """
  info = dataset_info(name)
  if info.bundled:
    if path is not None:
      return _movietweetings(_resolve(path, "ratings.csv.gz"), name)
    resource = resources.files("jaxrec.data") / "bundled" / _BUNDLED_RATINGS
    with resources.as_file(resource) as file:
      return _movietweetings(file, name)
  load_path, parse_bytes = _LOADERS[name]
  if path is not None:
    return dataclasses.replace(load_path(path), name=name)
  data, source = _download_member(info, cache_dir)
  return dataclasses.replace(parse_bytes(data, source), name=name)


def _movietweetings(file: Path, name: str) -> Dataset:
  return load_delimited(file, sep=",", user_col="user_id", item_col="item_id",
                        rating_col="rating", timestamp_col="timestamp", header=True, name=name)


class DownloadError(OSError):
  """A registered dataset could not be downloaded (no network, server error)."""


def _download_member(info: DatasetInfo, cache_dir: str | Path | None) -> tuple[bytes, str]:
  """Downloads (or reuses) the archive, returns the verified member's bytes and a source name."""
  import platformdirs  # pylint: disable=import-outside-toplevel
  import pooch  # pylint: disable=import-outside-toplevel

  root = Path(cache_dir) if cache_dir is not None else Path(platformdirs.user_cache_dir("jaxrec"))
  try:
    archive = pooch.retrieve(info.url, known_hash=f"md5:{info.archive_md5}", path=root,
                             fname=info.url.rsplit("/", 1)[-1], progressbar=False)
  except ValueError:  # pooch's hash mismatch
    raise
  except Exception as e:  # network failures come as requests/urllib/OS errors
    raise DownloadError(
        f"could not download {info.name} from {info.url} ({type(e).__name__}: {e}); without "
        f"network, pass a local copy: load_dataset({info.name!r}, path=...) or, on the command "
        f"line, --dataset {info.name} --data PATH") from e
  try:
    with zipfile.ZipFile(archive) as zf:
      data = zf.read(info.member)
  except zipfile.BadZipFile as e:
    raise ValueError(f"{archive} is not a valid zip archive: {e}") from e
  except KeyError:
    raise ValueError(f"{archive} has no member {info.member!r}") from None
  source = f"{archive}:{info.member}"
  if info.member_sha256 is not None:
    got, want, kind = hashlib.sha256(data).hexdigest(), info.member_sha256, "sha256"
  else:
    got, want, kind = _git_blob_sha1(data), info.member_git_sha1, "git blob SHA-1"
  if got != want:
    raise ValueError(f"{source}: {kind} {got} does not match the expected {want}; delete "
                     f"{archive} to download it again")
  return data, source


def _git_blob_sha1(data: bytes) -> str:
  return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
