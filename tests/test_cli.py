"""The command line and the audit pipeline, end to end on the bundled dataset."""

import json

import pytest

from jaxrec import audit, data, report
from jaxrec.cli import main

FAST = ["--epochs", "2", "--dim", "8", "--no-progress"]


def test_audit_default_dataset(tmp_path, capsys):
  out = tmp_path / "out"
  assert main(["audit", *FAST, "--k", "5", "10", "--out", str(out)]) == 0
  r = report.load_report(out)
  assert r["status"] == "complete"
  assert r["dataset"]["name"] == "movietweetings-10core"
  assert r["dataset"]["users"] == 2059 and r["dataset"]["items"] == 1099
  assert r["config"]["epochs"] == 2 and r["config"]["ks"] == [5, 10]
  models = {row["model"] for row in r["rows"]}
  assert models == {"bpr-mf", "most-pop"}
  got = {(row["model"], row["metric"], row["k"]) for row in r["rows"]}
  for metric in ("hr", "precision", "recall", "ndcg", "mrr", "coverage", "gini", "arp", "aplt",
                 "novelty"):
    assert ("bpr-mf", metric, 5) in got and ("most-pop", metric, 10) in got
  printed = capsys.readouterr().out
  assert "| bpr-mf | none | none |" in printed and (out / "report.md").exists()


def test_same_seed_same_report(tmp_path):
  values = []
  for name in ("a", "b"):
    assert main(["audit", *FAST, "--seed", "5", "--out", str(tmp_path / name)]) == 0
    values.append([row["value"] for row in report.load_report(tmp_path / name)["rows"]])
  assert values[0] == values[1]


def test_stats(capsys):
  assert main(["stats", "--json"]) == 0
  stats = json.loads(capsys.readouterr().out)
  assert stats["interactions"] == 44613 and stats["users"] == 2059
  assert 0 < stats["gini_item"] < 1


def test_bad_data_line_names_file_and_line(tmp_path, capsys):
  bad = tmp_path / "ratings.tsv"
  bad.write_text("1\t2\t5\t100\n1\t3\t4\t101\n2\tx\t3\t102\n")
  out = tmp_path / "out"
  assert main(["audit", *FAST, "--data", str(bad), "--out", str(out)]) == 2
  err = capsys.readouterr().err
  assert "ratings.tsv:3" in err and "item id" in err
  assert not out.exists()


def test_k_larger_than_catalogue(tmp_path, capsys):
  out = tmp_path / "out"
  assert main(["audit", *FAST, "--k", "5000", "--out", str(out)]) == 2
  assert "larger than the catalogue" in capsys.readouterr().err
  assert not out.exists()


def test_empty_file(tmp_path, capsys):
  empty = tmp_path / "empty.tsv"
  empty.write_text("")
  assert main(["stats", "--data", str(empty)]) == 2
  assert "empty" in capsys.readouterr().err


def test_conflicting_sources(capsys):
  assert main(["stats", "--dataset", "ml-100k", "--data", "x"]) == 2
  assert "only one of" in capsys.readouterr().err


def test_failure_writes_a_partial_report(tmp_path, monkeypatch):
  def boom(*args, **kwargs):
    raise RuntimeError("evaluation exploded")

  monkeypatch.setattr(audit._run.metrics, "evaluate", boom)
  dataset = data.load_dataset("movietweetings-10core")
  config = audit.AuditConfig(epochs=1, dim=4, ks=(10,))
  with pytest.raises(RuntimeError, match="exploded"):
    audit.run_audit(dataset, config, tmp_path, progress=False, echo=lambda s: None)
  r = report.load_report(tmp_path)
  assert r["status"] == "partial" and "evaluation exploded" in r["error"]
  assert "PARTIAL" in (tmp_path / "report.md").read_text()


def test_config_validation():
  with pytest.raises(ValueError, match="optimizer"):
    audit.AuditConfig(optimizer="rmsprop")
  with pytest.raises(ValueError, match="ks"):
    audit.AuditConfig(ks=(0,))
