"""Named datasets: bundled default (offline), unknown names, local paths, mocked downloads."""

import gzip
import hashlib
import zipfile
from importlib import resources

import numpy as np
import pooch
import pytest

from jaxrec.data import dataset_info, list_datasets, load_dataset
from jaxrec.data._registry import _git_blob_sha1

ML100K_SHA256 = "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"
BUNDLED_SHA256 = {  # from shared/data/movietweetings-100k/PROVENANCE.md
    "movietweetings_kcore10_ratings.csv.gz":
        "cee3dc177038a5bf39edaee64fcb6b8f74d547eacc7f5a0165344d1bc87deb76",
    "movietweetings_kcore10_movies.csv.gz":
        "6e0581e757e12f2afa1a63f71a7faa6e695c09daed12425b30e0ff43c495c59d",
}


def fake_retrieve(archive, calls):
  def retrieve(url, known_hash, path, **kwargs):
    calls.append(dict(url=url, known_hash=known_hash, path=path, **kwargs))
    return str(archive)
  return retrieve


def make_zip(path, member, data):
  with zipfile.ZipFile(path, "w") as zf:
    zf.writestr(member, data)
  return path


def no_network(*args, **kwargs):
  raise AssertionError("pooch.retrieve must not be called")


def test_bundled_default_loads_offline(monkeypatch):
  monkeypatch.setattr(pooch, "retrieve", no_network)
  ds = load_dataset("movietweetings-10core")
  x = ds.interactions
  assert ds.name == "movietweetings-10core"
  assert (len(x), x.num_users, x.num_items) == (44_613, 2_059, 1_099)
  assert float(x.ratings.min()) == 0.0 and float(x.ratings.max()) == 10.0
  assert x.timestamps is not None and ds.notes == ()
  assert ds.item_ids[0] == 20629  # IMDb tt0020629, the smallest id in the subset


def test_bundled_files_match_the_published_recipe_output():
  bundled = resources.files("jaxrec.data") / "bundled"
  for name, want in BUNDLED_SHA256.items():
    assert hashlib.sha256((bundled / name).read_bytes()).hexdigest() == want
  assert (bundled / "LICENSE-MovieTweetings").read_text().startswith("The MIT License (MIT)")
  assert "44,613" in (bundled / "CITATION.md").read_text()


def test_list_and_info():
  assert list_datasets() == ["ml-100k", "ml-1m", "movietweetings-10core"]
  assert dataset_info("movietweetings-10core").bundled
  assert dataset_info("movietweetings-10core").license.startswith("MIT")
  for name in ("ml-100k", "ml-1m"):
    info = dataset_info(name)
    assert not info.bundled and "no redistribution" in info.license
  assert dataset_info("ml-1m").member_sha256 is None
  assert dataset_info("ml-1m").member_git_sha1 == "77a7c4b150f588c23bb9e1f068aa996c0b413695"


def test_unknown_name_lists_known_names():
  with pytest.raises(ValueError, match="unknown dataset 'ml-20m'") as info:
    load_dataset("ml-20m")
  for name in list_datasets():
    assert name in str(info.value)


def test_local_path_never_touches_network(tmp_path, monkeypatch):
  monkeypatch.setattr(pooch, "retrieve", no_network)
  (tmp_path / "u.data").write_text("5\t1\t4\t10\n6\t1\t2\t11\n")
  ds = load_dataset("ml-100k", path=tmp_path)
  assert ds.name == "ml-100k" and len(ds.interactions) == 2
  (tmp_path / "ratings.csv.gz").write_bytes(
      gzip.compress(b"user_id,item_id,rating,timestamp\n1,7,9,100\n"))
  mt = load_dataset("movietweetings-10core", path=tmp_path)
  np.testing.assert_array_equal(mt.item_ids, [7])


def test_download_member_hash_mismatch_raises(tmp_path, monkeypatch):
  archive = make_zip(tmp_path / "ml-100k.zip", "ml-100k/u.data", "1\t1\t1\t1\n")
  calls = []
  monkeypatch.setattr(pooch, "retrieve", fake_retrieve(archive, calls))
  with pytest.raises(ValueError, match=r"ml-100k/u\.data: sha256 .* does not match"):
    load_dataset("ml-100k", cache_dir=tmp_path / "cache")
  assert calls[0]["known_hash"] == "md5:0e33842e24a9c977be4e0107933c0723"


def test_download_ml1m_checks_git_blob_sha1(tmp_path, monkeypatch):
  archive = make_zip(tmp_path / "ml-1m.zip", "ml-1m/ratings.dat", "1::1::5::1\n")
  calls = []
  monkeypatch.setattr(pooch, "retrieve", fake_retrieve(archive, calls))
  with pytest.raises(ValueError, match="git blob SHA-1 .* does not match"):
    load_dataset("ml-1m", cache_dir=tmp_path)
  assert calls[0]["url"] == "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
  assert calls[0]["known_hash"] == "md5:c4d9eecfca2ab87c1945afe126590906"


def test_download_archive_without_member(tmp_path, monkeypatch):
  archive = make_zip(tmp_path / "ml-100k.zip", "other.txt", "x")
  monkeypatch.setattr(pooch, "retrieve", fake_retrieve(archive, []))
  with pytest.raises(ValueError, match="has no member 'ml-100k/u.data'"):
    load_dataset("ml-100k", cache_dir=tmp_path)


def test_git_blob_sha1_matches_git():
  # Values printed by `git hash-object` for an empty file and for "hello\n".
  assert _git_blob_sha1(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
  assert _git_blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_download_ml100k_with_mocked_pooch(shared_file, tmp_path, monkeypatch):
  data = shared_file("movielens-100k/u.data").read_bytes()
  assert hashlib.sha256(data).hexdigest() == ML100K_SHA256 == dataset_info("ml-100k").member_sha256
  archive = make_zip(tmp_path / "ml-100k.zip", "ml-100k/u.data", data)
  calls = []
  monkeypatch.setattr(pooch, "retrieve", fake_retrieve(archive, calls))
  ds = load_dataset("ml-100k", cache_dir=tmp_path / "cache")
  assert calls == [dict(url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
                        known_hash="md5:0e33842e24a9c977be4e0107933c0723",
                        path=tmp_path / "cache", fname="ml-100k.zip", progressbar=False)]
  x = ds.interactions
  assert ds.name == "ml-100k"
  assert (len(x), x.num_users, x.num_items) == (100_000, 943, 1_682)
