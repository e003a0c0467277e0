"""Loaders on tiny hand-written files: ids, maps, values, formats, errors, duplicate policy."""

import gzip

import numpy as np
import pytest

from jaxrec.data import (DataFormatError, load_delimited, load_movielens_1m, load_movielens_100k,
                         load_tsv_split)

ML100K = "10\t5\t3\t100\n3\t7\t4\t200\n10\t7\t5\t150\n"


def write(path, text):
  path.write_text(text, encoding="utf-8")
  return path


def test_movielens_100k_dense_ids_maps_and_values(tmp_path):
  ds = load_movielens_100k(write(tmp_path / "u.data", ML100K))
  x = ds.interactions
  assert ds.name == "ml-100k"
  np.testing.assert_array_equal(ds.user_ids, [3, 10])
  np.testing.assert_array_equal(ds.item_ids, [5, 7])
  assert ds.user_ids.dtype == np.int64 and ds.item_ids.dtype == np.int64
  np.testing.assert_array_equal(x.users, [1, 0, 1])
  np.testing.assert_array_equal(x.items, [0, 1, 1])
  assert x.users.dtype == np.int32 and x.items.dtype == np.int32
  np.testing.assert_array_equal(x.ratings, np.array([3, 4, 5], np.float32))
  assert x.ratings.dtype == np.float32
  np.testing.assert_array_equal(x.timestamps, [100, 200, 150])
  assert x.timestamps.dtype == np.int64
  assert (x.num_users, x.num_items) == (2, 2)
  assert ds.notes == () and ds.test is None


def test_movielens_100k_accepts_directory_and_missing_final_newline(tmp_path):
  write(tmp_path / "u.data", ML100K.rstrip("\n"))
  ds = load_movielens_100k(tmp_path)
  np.testing.assert_array_equal(ds.interactions.users, [1, 0, 1])


def test_movielens_1m_gzip_and_double_colon(tmp_path):
  path = tmp_path / "ratings.dat.gz"
  path.write_bytes(gzip.compress(b"1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::9\n"))
  ds = load_movielens_1m(path)
  assert ds.name == "ml-1m"
  np.testing.assert_array_equal(ds.user_ids, [1, 2])
  np.testing.assert_array_equal(ds.item_ids, [661, 1193])
  np.testing.assert_array_equal(ds.interactions.users, [0, 0, 1])
  np.testing.assert_array_equal(ds.interactions.items, [1, 0, 1])
  np.testing.assert_array_equal(ds.interactions.ratings, [5, 3, 4])
  np.testing.assert_array_equal(ds.interactions.timestamps, [978300760, 978302109, 9])


def test_delimited_multichar_separator_without_ratings(tmp_path):
  path = write(tmp_path / "events.txt", "7||100||x\n-2||100||y\n7||50||z\n")
  ds = load_delimited(path, sep="||", user_col=0, item_col=1)
  assert ds.name == "events"
  np.testing.assert_array_equal(ds.user_ids, [-2, 7])
  np.testing.assert_array_equal(ds.item_ids, [50, 100])
  np.testing.assert_array_equal(ds.interactions.users, [1, 0, 1])
  np.testing.assert_array_equal(ds.interactions.items, [1, 1, 0])
  assert ds.interactions.ratings is None and ds.interactions.timestamps is None


def test_delimited_header_by_name_gzip_crlf(tmp_path):
  path = tmp_path / "r.csv.gz"
  path.write_bytes(gzip.compress(b"ts,item,user,score\r\n5,20,1,2.5\r\n6,10,1,0\r\n"))
  ds = load_delimited(path, sep=",", user_col="user", item_col="item", rating_col="score",
                      timestamp_col="ts", header=True, name="tiny")
  assert ds.name == "tiny"
  np.testing.assert_array_equal(ds.item_ids, [10, 20])
  np.testing.assert_array_equal(ds.interactions.items, [1, 0])
  np.testing.assert_array_equal(ds.interactions.ratings, [2.5, 0.0])
  np.testing.assert_array_equal(ds.interactions.timestamps, [5, 6])


def test_delimited_header_by_index(tmp_path):
  path = write(tmp_path / "r.csv", "a,b,c\n1,2,3\n4,5,6\n")
  ds = load_delimited(path, sep=",", user_col=2, item_col=0, header=True)
  np.testing.assert_array_equal(ds.user_ids, [3, 6])
  np.testing.assert_array_equal(ds.item_ids, [1, 4])


@pytest.mark.parametrize("kwargs, match", [
    (dict(user_col="user", item_col=1), "needs header=True"),
    (dict(user_col=0, item_col=5), "outside the 3 columns"),
])
def test_delimited_bad_column_spec_without_header(tmp_path, kwargs, match):
  path = write(tmp_path / "r.csv", "1,2,3\n")
  with pytest.raises(ValueError, match=match):
    load_delimited(path, sep=",", **kwargs)


def test_delimited_column_name_not_in_header(tmp_path):
  path = write(tmp_path / "r.csv", "u,i\n1,2\n")
  with pytest.raises(ValueError, match="'rating'.*not in the header"):
    load_delimited(path, sep=",", user_col="u", item_col="i", rating_col="rating", header=True)


@pytest.mark.parametrize("text, line, fragment", [
    ("1\t2\t3\t4\n1\t3\t3\t5\n1\t2\t3\n", 3, "expected 4 columns, got 3: '1\\t2\\t3'"),
    ("1\t2\t3\n1\t3\t3\t5\n", 1, "expected 4 columns, got 3: '1\\t2\\t3'"),
    ("1\t2\t3\t4\n1\t2\t3\t4\t5\n", 2, "expected 4 columns, got 5"),
    ("1\t2\t3\t4\nx1\t2\t3\t4\n", 2, "user id 'x1' is not an integer"),
    ("1\t2\t3\t4\n1\t2.0\t3\t4\n", 2, "item id '2.0' is not an integer"),
    ("1\t2\t3\t4\n1\t3\tabc\t4\n", 2, "rating 'abc' is not a number"),
    ("1\t2\tnan\t4\n", 1, "rating 'nan' is not a finite"),
    ("1\t2\t3\t4\n1\t3\t-inf\t4\n", 2, "rating '-inf' is not a finite"),
    ("1\t2\t3\t4\n1\t3\t1e300\t4\n", 2, "rating '1e300' is not a finite float32"),
    ("1\t2\t3\t4\n1\t3\t3\t4.5\n", 2, "timestamp '4.5' is not an integer"),
    ("1\t2\t3\t4\n\n1\t3\t3\t4\n", 2, "expected 4 columns, got 1: ''"),
    ("1\t2\t3\t4\n99999999999999999999\t3\t3\t4\n", 2, "outside the int64 range"),
])
def test_malformed_line_names_file_and_line(tmp_path, text, line, fragment):
  path = write(tmp_path / "u.data", text)
  with pytest.raises(DataFormatError) as info:
    load_movielens_100k(path)
  msg = str(info.value)
  assert isinstance(info.value, ValueError)
  assert f"u.data:{line}: " in msg
  assert fragment in msg


def test_malformed_line_deep_in_a_large_file(tmp_path):
  lines = [f"{u}::{u % 7}::3::{u}" for u in range(5000)]
  lines[3776] = "3776::5::3"  # 1-based line 3777
  path = write(tmp_path / "ratings.dat", "\n".join(lines) + "\n")
  with pytest.raises(DataFormatError, match=r"ratings\.dat:3777: expected 4 columns, got 3"):
    load_movielens_1m(path)


def test_malformed_line_number_counts_the_header(tmp_path):
  path = write(tmp_path / "r.csv", "u,i,r\n1,2,3\n1,3,x\n")
  with pytest.raises(DataFormatError, match=r"r\.csv:3: rating 'x' is not a number"):
    load_delimited(path, sep=",", user_col="u", item_col="i", rating_col="r", header=True)


def test_corrupt_gzip_names_the_file(tmp_path):
  path = tmp_path / "r.csv.gz"
  path.write_bytes(b"not gzip at all")
  with pytest.raises(DataFormatError, match=r"r\.csv\.gz: cannot decompress"):
    load_delimited(path, sep=",", user_col=0, item_col=1)


@pytest.mark.parametrize("text", ["", "\n"])
def test_empty_file(tmp_path, text):
  path = write(tmp_path / "u.data", text)
  with pytest.raises(ValueError, match=r"u\.data is empty"):
    load_movielens_100k(path)


def test_header_only_file_is_empty(tmp_path):
  path = write(tmp_path / "r.csv", "u,i\n")
  with pytest.raises(ValueError, match=r"r\.csv is empty"):
    load_delimited(path, sep=",", user_col="u", item_col="i", header=True)


def test_missing_file_and_missing_member(tmp_path):
  with pytest.raises(FileNotFoundError, match="nope.dat"):
    load_movielens_1m(tmp_path / "nope.dat")
  with pytest.raises(FileNotFoundError, match=r"u\.data"):
    load_movielens_100k(tmp_path)  # a directory without u.data


def test_duplicates_keep_latest_timestamp_and_are_noted(tmp_path):
  text = "1\t5\t1\t100\n2\t5\t4\t50\n1\t5\t5\t300\n1\t5\t3\t200\n"
  ds = load_movielens_100k(write(tmp_path / "u.data", text))
  x = ds.interactions
  # Rows 1 and 3 (0-based) survive, in file order: user 2's row, then user 1's t=300 row.
  np.testing.assert_array_equal(x.users, [1, 0])
  np.testing.assert_array_equal(x.ratings, [4, 5])
  np.testing.assert_array_equal(x.timestamps, [50, 300])
  assert ds.notes == ("merged 2 duplicate user-item rows (kept the latest)",)


def test_duplicates_timestamp_tie_and_no_timestamps_keep_last_occurrence(tmp_path):
  tie = load_movielens_100k(write(tmp_path / "u.data", "1\t5\t1\t100\n1\t5\t2\t100\n"))
  np.testing.assert_array_equal(tie.interactions.ratings, [2])
  path = write(tmp_path / "r.csv", "1,5,1\n1,6,2\n1,5,3\n")
  untimed = load_delimited(path, sep=",", user_col=0, item_col=1, rating_col=2)
  np.testing.assert_array_equal(untimed.interactions.ratings, [2, 3])
  assert untimed.notes == ("merged 1 duplicate user-item rows (kept the latest)",)


def test_tsv_split_shares_one_id_mapping(tmp_path):
  train = write(tmp_path / "trainingset.tsv", "0\t3\t1\t10\n2\t3\t1\t11\n2\t4\t1\t12\n")
  test = write(tmp_path / "testset.tsv", "0\t9\t1\t20\n2\t3\t1\t21\n")
  ds = load_tsv_split(train, test)
  assert ds.name == tmp_path.name
  np.testing.assert_array_equal(ds.user_ids, [0, 2])
  np.testing.assert_array_equal(ds.item_ids, [3, 4, 9])
  np.testing.assert_array_equal(ds.interactions.users, [0, 1, 1])
  np.testing.assert_array_equal(ds.interactions.items, [0, 0, 1])
  np.testing.assert_array_equal(ds.test.users, [0, 1])
  np.testing.assert_array_equal(ds.test.items, [2, 0])
  np.testing.assert_array_equal(ds.test.timestamps, [20, 21])
  assert (ds.test.num_users, ds.test.num_items) == (2, 3)
  assert ds.notes == ("1 test user-item pairs also occur in train (left as is)",)


def test_tsv_split_three_columns_means_no_timestamps(tmp_path):
  train = write(tmp_path / "train.tsv", "1\t1\t1.0\n1\t2\t1.0\n")
  test = write(tmp_path / "test.tsv", "1\t3\t1.0\n")
  ds = load_tsv_split(train, test, name="implicit")
  assert ds.name == "implicit" and ds.notes == ()
  assert ds.interactions.timestamps is None and ds.test.timestamps is None
  np.testing.assert_array_equal(ds.test.items, [2])


def test_tsv_split_rejects_other_column_counts(tmp_path):
  train = write(tmp_path / "train.tsv", "1\t1\t1\t1\t1\n")
  test = write(tmp_path / "test.tsv", "1\t3\t1\n")
  with pytest.raises(DataFormatError, match=r"train\.tsv:1: expected 3 or 4 columns, got 5"):
    load_tsv_split(train, test)


def test_trailing_blank_lines_and_crlf_are_ignored(tmp_path):
  ds = load_movielens_100k(write(tmp_path / "u.data", "1\t2\t3\t4\r\n1\t3\t3\t5\r\n\r\n \n\n"))
  assert len(ds.interactions) == 2
  ds = load_movielens_100k(write(tmp_path / "v.data", "1\t2\t3\t4\n1\t3\t3\t5"))  # no final EOL
  assert len(ds.interactions) == 2
  with pytest.raises(ValueError, match="is empty"):
    load_movielens_100k(write(tmp_path / "w.data", "\n\n"))


def test_string_ids(tmp_path):
  text = "alice,B000123XYZ,5\nbob,0439023483,4\nalice,0439023483,3\ncarol,B000123XYZ,1\n"
  ds = load_delimited(write(tmp_path / "amazon.csv", text), sep=",", user_col=0, item_col=1,
                      rating_col=2)
  assert ds.user_ids.tolist() == ["alice", "bob", "carol"]  # ascending code-point order
  assert ds.item_ids.tolist() == ["0439023483", "B000123XYZ"]  # numeric-looking ASINs stay text
  assert ds.item_ids.dtype.kind == "U"
  users, items = np.asarray(ds.interactions.users), np.asarray(ds.interactions.items)
  assert [(ds.user_ids[u], ds.item_ids[i]) for u, i in zip(users, items)] == [
      ("alice", "B000123XYZ"), ("bob", "0439023483"), ("alice", "0439023483"),
      ("carol", "B000123XYZ")]
  # integer users, string items: each column decides on its first row
  mixed = load_delimited(write(tmp_path / "m.tsv", "7\tB01\n3\tB02\n"), sep="\t", user_col=0,
                         item_col=1)
  assert mixed.user_ids.tolist() == [3, 7] and mixed.user_ids.dtype == np.int64
  # ids="str" keeps numbers as text; ids="int" refuses text and says how to read it
  as_text = load_delimited(write(tmp_path / "n.tsv", "10\t2\n9\t2\n"), sep="\t", user_col=0,
                           item_col=1, ids="str")
  assert as_text.user_ids.tolist() == ["10", "9"]
  with pytest.raises(DataFormatError, match=r"n2.tsv:2: user id 'x' is not an integer \(string"):
    load_delimited(write(tmp_path / "n2.tsv", "10\t2\nx\t2\n"), sep="\t", user_col=0,
                   item_col=1)
  with pytest.raises(DataFormatError, match=r"e.tsv:2: empty item id"):
    load_delimited(write(tmp_path / "e.tsv", "a\tb\nc\t\n"), sep="\t", user_col=0, item_col=1)
  with pytest.raises(ValueError, match="ids must be"):
    load_delimited(write(tmp_path / "f.tsv", "a\tb\n"), sep="\t", user_col=0, item_col=1,
                   ids="text")


def test_header_mistakes_are_named(tmp_path):
  with pytest.raises(DataFormatError, match=r"h.csv:1: the first line looks like a header"):
    load_delimited(write(tmp_path / "h.csv", "user,item\nalice,B01\n"), sep=",", user_col=0,
                   item_col=1)
  with pytest.raises(DataFormatError, match=r"d.csv:1: header=True .* looks like data"):
    load_delimited(write(tmp_path / "d.csv", "1,2,5\n3,4,1\n"), sep=",", user_col=0,
                   item_col=1, header=True)
