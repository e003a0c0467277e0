"""The tidy report schema."""

import json
import math

import pytest

from jaxrec import report


def _rows():
  return report.rows_from_evaluation(
      {"hr": {10: 0.5, 20: 0.75}, "users": {0: 4.0}}, model="bpr-mf") + [
          report.make_row(model="bpr-mf", attack="random", budget=0.01, metric="target_hr",
                          k=10, value=0.2, target=7)]


def test_rows_are_tidy():
  rows = _rows()
  assert rows[0] == {"model": "bpr-mf", "defense": "none", "attack": "none", "budget": None,
                     "metric": "hr", "k": 10, "value": 0.5}
  assert rows[2]["metric"] == "users" and rows[2]["k"] is None
  assert rows[3]["target"] == 7 and list(rows[3])[:7] == list(report.REQUIRED_KEYS)


def test_round_trip_and_markdown(tmp_path):
  r = report.build_report(dataset={"name": "toy", "users": 4}, config={"dim": 8}, rows=_rows())
  json_path, md_path = report.write_report(tmp_path / "out", r)
  loaded = report.load_report(tmp_path / "out")
  assert loaded["rows"] == r["rows"] and loaded["status"] == "complete"
  assert set(loaded["versions"]) >= {"jaxrec", "jax", "numpy", "backend"}
  md = md_path.read_text()
  # one table per group; columns empty in a whole group are left out
  assert md.index("## Accuracy") < md.index("## Target exposure") < md.index("## Legend")
  assert "| bpr-mf | none | none | hr |  | 0.5 | 0.75 |" in md
  assert "| bpr-mf | none | random | 0.01 | 7 | target_hr | 0.2 |" in md
  assert "| users | users evaluated (those with a relevant test item) | count | - |" in md
  assert json.loads(json_path.read_text())["schema"] == report.SCHEMA_VERSION


def test_partial_report_is_marked(tmp_path):
  r = report.build_report(dataset={}, config={}, rows=[], status="partial", error="boom")
  _, md = report.write_report(tmp_path, r)
  assert "PARTIAL REPORT" in md.read_text()


@pytest.mark.parametrize("bad, message", [
    ({"status": "done"}, "status"),
    ({"rows": [{"model": "m", "metric": "hr", "value": 1.0}]}, "lacks"),
    ({"rows": [report.make_row(model="m", metric="hr", value=1.0) | {"value": math.nan}]},
     "finite"),
    ({"rows": [report.make_row(model="m", metric="hr", value=1.0) | {"k": 2.5}]}, "integer"),
])
def test_validation_names_the_problem(bad, message):
  r = {"schema": 1, "status": "complete", "dataset": {}, "config": {}, "versions": {},
       "rows": []}
  r.update(bad)
  with pytest.raises(ValueError, match=message):
    report.validate_report(r)


def test_non_numeric_value_is_rejected():
  with pytest.raises(ValueError, match="must be a number"):
    report.make_row(model="m", metric="hr", value="high")
