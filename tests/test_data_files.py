"""Real-world interaction files through the command line: string ids, separators by name, blank
lines, headers, wrong formats, Parquet and CSV with named columns (issue 12, item 6)."""

import random

import numpy as np
import pytest

from jaxrec import data, report
from jaxrec.cli import main

FAST = ["--epochs", "2", "--dim", "8", "--no-progress"]


def _interactions(num_users=40, num_items=120, per_user=15, seed=0):
  """(user, item, rating, timestamp) rows with string users and ASIN-like string items."""
  rng = random.Random(seed)
  return [(f"user-{u:03d}", f"B{1000 + i:09d}", rng.randint(1, 5), 100000 + 100 * u + j)
          for u in range(num_users) for j, i in enumerate(rng.sample(range(num_items), per_user))]


def test_string_ids_blank_lines_and_backslash_t_audit_as_they_are(tmp_path, capsys):
  rows = _interactions()
  path = tmp_path / "amazon.tsv"
  path.write_text("\n".join("\t".join(map(str, r)) for r in rows) + "\n\n\n")
  out = tmp_path / "out"
  target = "B000001005"
  assert main(["audit", *FAST, "--data", str(path), "--sep", "\\t", "--attacks", "bandwagon",
               "--budgets", "2", "--target-ids", target, "--k", "10", "--out", str(out)]) == 0
  r = report.load_report(out)
  assert r["status"] == "complete" and r["dataset"]["users"] == 40
  assert r["dataset"]["id_maps"]["users"][:2] == ["user-000", "user-001"]
  items = r["dataset"]["id_maps"]["items"]
  assert items == sorted({row[1] for row in rows}) and target in items
  targets = {row["target"] for row in r["rows"] if row.get("target") is not None}
  assert targets == {target}  # rows name the raw string id
  assert f"targets ['{target}'] (raw ids)" in capsys.readouterr().out
  # the same file by its separator's name gives the same rows
  out2 = tmp_path / "out2"
  assert main(["audit", *FAST, "--data", str(path), "--sep", "tab", "--attacks", "bandwagon",
               "--budgets", "2", "--target-ids", target, "--k", "10", "--out", str(out2)]) == 0
  assert [x["value"] for x in report.load_report(out2)["rows"]] == [x["value"] for x in r["rows"]]
  assert main(["audit", *FAST, "--data", str(path), "--target-ids", "B999", "--attacks",
               "bandwagon", "--out", str(tmp_path / "bad")]) == 2
  assert "target item 'B999' (raw id) is not in the dataset" in capsys.readouterr().err


def test_clicks_all_rated_one_audit_with_the_default_attack_section(tmp_path):
  path = tmp_path / "clicks.tsv"
  path.write_text("\n".join(f"{u}\t{i}\t1\t{t}" for u, i, _, t in _interactions()) + "\n")
  out = tmp_path / "out"
  assert main(["audit", *FAST, "--data", str(path), "--out", str(out)]) == 0
  r = report.load_report(out)
  assert r["status"] == "complete" and r["config"]["attacks"] == ["random", "bandwagon"]
  cells = {(row["attack"], row["budget"]) for row in r["rows"] if row["metric"] == "target_hr"}
  assert cells == {("none", None), ("random", 0.01), ("random", 0.05), ("bandwagon", 0.01),
                   ("bandwagon", 0.05)}


def test_csv_with_named_columns_is_read_by_its_header(tmp_path, capsys):
  path = tmp_path / "ratings.csv"
  # columns out of the usual order, one extra; names found without --columns
  path.write_text("timestamp,movieId,comment,rating,userId\n" + "\n".join(
      f"{t},{i},ok,{r},{u}" for u, i, r, t in _interactions(num_users=6, per_user=4)) + "\n")
  assert main(["stats", "--data", str(path), "--sep", "comma", "--header", "--json"]) == 0
  assert '"users": 6' in capsys.readouterr().out
  ds = data.load_delimited(path, sep=",", header=True, user_col="userId", item_col="movieId",
                           rating_col="rating", timestamp_col="timestamp")
  assert data.guess_columns(["timestamp", "movieId", "comment", "rating", "userId"]) == [
      "userId", "movieId", "rating", "timestamp"]
  assert ds.user_ids.tolist()[0] == "user-000"


def test_header_and_format_mistakes_are_named(tmp_path, capsys):
  numbers = tmp_path / "u.csv"
  numbers.write_text("1,10,5,100\n2,11,4,101\n")
  assert main(["stats", "--data", str(numbers), "--sep", ",", "--header"]) == 2
  assert "u.csv:1: header=True (--header) but the first line looks like data" in \
      capsys.readouterr().err
  named = tmp_path / "n.csv"
  named.write_text("user,item\nalice,B01\n")
  assert main(["stats", "--data", str(named), "--sep", ","]) == 2
  assert "n.csv:1: the first line looks like a header" in capsys.readouterr().err
  assert main(["stats", "--data", str(named), "--sep", ",", "--header", "--columns",
               "user,product"]) == 2
  assert "'product' is not in the header" in capsys.readouterr().err
  assert main(["stats", "--data", str(numbers), "--format", "ml-100k"]) == 2
  err = capsys.readouterr().err
  assert "u.csv:1: expected 4 columns, got 1" in err
  assert "--format ml-100k expects user<TAB>item<TAB>rating<TAB>timestamp" in err
  with pytest.raises(SystemExit) as exit_info:  # argparse: usage and exit status 2
    main(["stats", "--data", str(numbers), "--sep", ""])
  assert exit_info.value.code == 2 and "the separator is empty" in capsys.readouterr().err


def test_parquet(tmp_path, capsys):
  pa = pytest.importorskip("pyarrow", reason="pyarrow is in the test extra (jaxrec[test])")
  import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel
  rows = _interactions(num_users=6, per_user=4)
  table = pa.table({"reviewerID": [r[0] for r in rows], "asin": [r[1] for r in rows],
                    "overall": np.asarray([r[2] for r in rows], np.float64),
                    "unixReviewTime": [r[3] for r in rows]})
  path = tmp_path / "reviews.parquet"
  pq.write_table(table, path)
  ds = data.load_parquet(path)  # columns guessed: reviewerID, asin, overall, unixReviewTime
  assert len(ds.interactions) == 24 and ds.item_ids.dtype.kind == "U"
  text = tmp_path / "reviews.tsv"
  text.write_text("\n".join("\t".join(map(str, r)) for r in rows) + "\n")
  same = data.load_delimited(text, sep="\t", user_col=0, item_col=1, rating_col=2,
                             timestamp_col=3)
  for got, want in ((ds.user_ids, same.user_ids), (ds.item_ids, same.item_ids),
                    (ds.interactions.ratings, same.interactions.ratings),
                    (ds.interactions.timestamps, same.interactions.timestamps)):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
  assert main(["stats", "--data", str(path), "--format", "parquet", "--json"]) == 0
  assert '"interactions": 24' in capsys.readouterr().out
  assert main(["stats", "--data", str(path), "--format", "parquet", "--columns",
               "reviewerID,item"]) == 2
  assert "column 'item' is not in the file; its columns are ['reviewerID'" in \
      capsys.readouterr().err
  table = table.set_column(2, "overall", pa.array([None] + [1.0] * 23, pa.float64()))
  pq.write_table(table, path)
  with pytest.raises(data.DataFormatError, match="column 'overall' \\(rating\\) has a null "
                     "value at row 1"):
    data.load_parquet(path)


def test_header_mistakes_never_lose_or_add_a_row(tmp_path, capsys):
  # an undeclared header with unknown names above integer ids is not read as a string-id row
  odd = tmp_path / "odd.csv"
  odd.write_text("visitor,product_code\n1,2\n3,4\n")
  with pytest.raises(data.DataFormatError, match=r"odd\.csv:1: the user id 'visitor' is text "
                     "but every other line's is an integer: line 1 looks like a header"):
    data.load_delimited(odd, sep=",", user_col=0, item_col=1)
  assert main(["stats", "--data", str(odd), "--sep", ",", "--header", "--json"]) == 0
  assert '"interactions": 2' in capsys.readouterr().out
  # a declared header that is string-id data (numbers where line 2 has them) is refused
  rows = tmp_path / "rows.csv"
  rows.write_text("A1,B1,5,100\nA2,B2,4,101\nA1,B2,3,102\n")
  assert main(["stats", "--data", str(rows), "--sep", "comma", "--header"]) == 2
  assert "rows.csv:1: header=True (--header) but the first line looks like data" in \
      capsys.readouterr().err
  assert len(data.load_delimited(rows, sep=",", user_col=0, item_col=1).interactions) == 3
  # every missing column name is listed with the header's names
  named = tmp_path / "named.csv"
  named.write_text("u,i,r\n1,2,3\n")
  assert main(["stats", "--data", str(named), "--sep", ",", "--header", "--columns",
               "userId,movieId,r"]) == 2
  assert ("user_col='userId', item_col='movieId' are not in the header of "
          f"{named} (line 1); its column names are ['u', 'i', 'r']") in capsys.readouterr().err
  # a byte-order mark does not hide the first column's name from the guess
  bom = tmp_path / "bom.csv"
  bom.write_bytes(b"\xef\xbb\xbftimestamp,movieId,rating,userId\n5,1,3,7\n6,2,4,8\n")
  assert main(["stats", "--data", str(bom), "--sep", ",", "--header", "--json"]) == 0
  assert '"interactions": 2' in capsys.readouterr().out
  ds = data.load_delimited(bom, sep=",", header=True, user_col="userId", item_col="movieId",
                           timestamp_col="timestamp")
  assert ds.interactions.timestamps.tolist() == [5, 6]


def test_blank_line_inside_the_data_is_named(tmp_path):
  path = tmp_path / "mid.tsv"
  path.write_text("a\tB1\t5\r\n\r\nb\tB2\t4\r\n\r\n\r\n")
  with pytest.raises(data.DataFormatError, match=r"mid\.tsv:2: expected 3 columns, got 1: '' "
                     r"\(a blank line inside the data; only blank lines at the end"):
    data.load_delimited(path, sep="\t", user_col=0, item_col=1)
  path.write_text("a\tB1\t5\r\nb\tB2\t4\r\n\r\n\r\n")  # CRLF and trailing blank lines: fine
  ds = data.load_delimited(path, sep="\t", user_col=0, item_col=1, rating_col=2)
  assert ds.item_ids.tolist() == ["B1", "B2"] and ds.user_ids.tolist() == ["a", "b"]


def test_csv_with_explicit_named_columns_and_separator_hints(tmp_path, capsys):
  path = tmp_path / "ratings.csv"
  path.write_text("userId,movieId,rating,timestamp\n1,10,4.5,100\n2,10,3,101\n2,11,5,102\n")
  assert main(["stats", "--data", str(path), "--sep", ",", "--header", "--columns",
               "userId,movieId,rating", "--json"]) == 0
  out = capsys.readouterr().out
  assert '"interactions": 3' in out and '"rating_mean": 4.16' in out
  ds = data.load_delimited(path, sep=",", header=True, user_col="userId", item_col="movieId")
  assert ds.user_ids.tolist() == [1, 2] and ds.user_ids.dtype == np.int64  # numbers stay ints
  assert main(["stats", "--data", str(path), "--header"]) == 2  # default --sep TAB
  assert "(it looks comma-separated: --sep comma)" in capsys.readouterr().err


def test_parquet_read_as_text_and_without_pyarrow(tmp_path, capsys, monkeypatch):
  fake = tmp_path / "r.parquet"
  fake.write_bytes(b"PAR1\x15\x04\x15\x10" + bytes(40) + b"PAR1")
  assert main(["stats", "--data", str(fake)]) == 2
  assert "is a Parquet file, not delimited text: pass --format parquet" in \
      capsys.readouterr().err
  with pytest.raises(data.DataFormatError, match="is a Parquet file"):
    data.load_delimited(fake, sep="\t", user_col=0, item_col=1)
  monkeypatch.setitem(__import__("sys").modules, "pyarrow", None)
  monkeypatch.setitem(__import__("sys").modules, "pyarrow.parquet", None)
  with pytest.raises(ImportError, match=r"pip install 'jaxrec\[parquet\]'"):
    data.load_parquet(fake)
  assert main(["stats", "--data", str(fake), "--format", "parquet"]) == 2
  assert "reading Parquet needs pyarrow: pip install 'jaxrec[parquet]'" in \
      capsys.readouterr().err


def test_split_files_with_string_ids(tmp_path, capsys):
  train = tmp_path / "train.tsv"
  train.write_text("alice\tB01\t5\t1\nbob\tB02\t4\t2\nalice\tB02\t3\t3\n")
  test = tmp_path / "test.tsv"
  test.write_text("bob\tB01\t5\t4\n")
  ds = data.load_tsv_split(train, test)
  assert ds.user_ids.tolist() == ["alice", "bob"] and ds.item_ids.tolist() == ["B01", "B02"]
  assert ds.test.users.tolist() == [1] and ds.test.items.tolist() == [0]
  numeric = tmp_path / "numeric.tsv"
  numeric.write_text("bob\t7\t5\t4\n")
  assert main(["stats", "--train", str(train), "--test", str(numeric)]) == 2
  assert "the item ids of" in (err := capsys.readouterr().err) and "--ids str" in err
  assert main(["stats", "--train", str(train), "--test", str(numeric), "--ids", "str",
               "--json"]) == 0
  assert '"items": 3' in capsys.readouterr().out


def test_string_targets_in_the_markdown_report_and_numeric_target_ids_stay_ints(tmp_path):
  row = report.make_row(model="bpr-mf", metric="target_hr", value=0.5, k=10, attack="none",
                        target="B000123XYZ")
  r = report.build_report(dataset={"name": "amazon"}, config={}, rows=[row])
  assert "B000123XYZ" in report.to_markdown(r)
  from jaxrec.cli._main import _parser  # pylint: disable=import-outside-toplevel
  args = _parser().parse_args(["audit", "--target-ids", "6", "-3", "0439023483", "B01", "+5"])
  assert args.target_ids == [6, -3, "0439023483", "B01", "+5"]


def test_an_undeclared_header_is_recognised_by_the_column_guess_names(tmp_path):
  path = tmp_path / "h4.csv"  # names the column guess knows (one list for both)
  path.write_text("customerId,productId\nalice,B001\nbob,B002\nalice,B002\nbob,B003\n")
  with pytest.raises(data.DataFormatError, match="h4.csv:1: the first line looks like a header"):
    data.load_delimited(path, sep=",", user_col=0, item_col=1)
  assert len(data.load_delimited(path, sep=",", user_col=0, item_col=1,
                                 header=True).interactions) == 4
