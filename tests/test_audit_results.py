"""Runs never destroy results, and a report records where it came from (issue 12, items 3-4).

A folder holding a complete report is refused without ``--overwrite``; a failed or interrupted
(SIGINT) rerun keeps the complete report; a write failure still prints the results and says
where they went; ``report.json`` records the command line, the inputs and their sha256, the
sections' times and the device, and ``jaxrec audit --config report.json`` gives the same rows.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jaxrec import audit, report
from jaxrec.audit import _output
from jaxrec.cli import main

FAST = ["--epochs", "2", "--dim", "8", "--no-progress", "--attacks", "none"]
ROOT = Path(__file__).resolve().parents[1]


def _toy(tmp_path, name="toy.tsv", num_users=6, num_items=8, per_user=4):
  lines = []
  for u in range(num_users):
    for j in range(per_user):
      i = (u + 2 * j) % num_items
      lines.append(f"{100 + u}\t{500 + i}\t{1 + (u + j) % 5}\t{1000 + 10 * u + j}")
  path = tmp_path / name
  path.write_text("".join(line + "\n" for line in lines))
  return path


def _audit(toy, out, *extra):
  return main(["audit", *FAST, "--data", str(toy), "--k", "3", "--out", str(out), *extra])


def test_rerun_into_a_folder_keeps_the_complete_report(tmp_path, capsys):
  toy, out = _toy(tmp_path), tmp_path / "out"
  assert _audit(toy, out) == 0
  before = (out / "report.json").read_bytes()
  capsys.readouterr()
  assert _audit(toy, out, "--seed", "3") == 2
  captured = capsys.readouterr()
  assert "already holds a complete report" in captured.err
  assert "--overwrite" in captured.err and "another --out" in captured.err
  assert "trained" not in captured.out  # refused before training
  assert (out / "report.json").read_bytes() == before
  assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.md"]


def test_overwrite_removes_the_previous_runs_files_only(tmp_path):
  toy, out = _toy(tmp_path), tmp_path / "out"
  assert _audit(toy, out) == 0
  # the previous run wrote a figure (as an APR run writes apr.png) and named it in its outputs
  old = json.loads((out / "report.json").read_text())
  old["provenance"]["outputs"].append("apr.png")
  (out / "report.json").write_text(json.dumps(old))
  (out / "apr.png").write_bytes(b"old figure")
  (out / "report.partial.json").write_text("{}")  # an earlier failed overwrite
  (out / "notes.txt").write_text("mine")  # a user's file
  assert _audit(toy, out, "--overwrite", "--seed", "1") == 0
  assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "report.json", "report.md"]
  new = report.load_report(out)
  assert new["config"]["seed"] == 1 and new["provenance"]["outputs"] == ["report.json",
                                                                          "report.md"]
  # a report written before provenance: its run's known files (apr.png after an APR run)
  del new["provenance"]
  new["config"]["defense"] = "apr"
  (out / "report.json").write_text(json.dumps(new))
  (out / "apr.png").write_bytes(b"old figure")
  assert _audit(toy, out, "--overwrite") == 0
  assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "report.json", "report.md"]


def test_failed_overwrite_keeps_the_complete_report(tmp_path, monkeypatch, capsys):
  toy, out = _toy(tmp_path), tmp_path / "out"
  assert _audit(toy, out) == 0
  before = (out / "report.json").read_bytes()

  def boom(*args, **kwargs):
    raise RuntimeError("evaluation exploded")

  monkeypatch.setattr(audit._run.metrics, "evaluate", boom)
  with pytest.raises(RuntimeError, match="exploded"):
    _audit(toy, out, "--overwrite")
  assert (out / "report.json").read_bytes() == before
  partial = report.load_report(out / "report.partial.json")
  assert partial["status"] == "partial" and "exploded" in partial["error"]
  (section,) = partial["provenance"]["sections"]
  assert section["name"] == "clean" and section["completed"] is False
  printed = capsys.readouterr().out
  assert f"written to {out / 'report.partial.json'}" in printed
  assert f"the complete report {out / 'report.json'} of an earlier run is kept" in printed


def test_sigint_keeps_the_complete_report(tmp_path):
  """A real Ctrl-C (SIGINT) while a rerun with --overwrite trains."""
  toy, out = _toy(tmp_path), tmp_path / "out"
  assert _audit(toy, out) == 0
  before = (out / "report.json").read_bytes()
  # `python -m jaxrec` with Ctrl-C handled as on a terminal: a test run started in the
  # background (nohup, `cmd &`) ignores SIGINT, and an ignored signal stays ignored across exec
  # (and unblocked: a thread of the test process may have blocked it); -X faulthandler: a child
  # that does not stop is sent SIGABRT below, and its stacks end up in the failure message
  start = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
           "signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT]); sys.argv[0] = 'jaxrec'; "
           "runpy.run_module('jaxrec', run_name='__main__')")
  cmd = [sys.executable, "-u", "-X", "faulthandler", "-c", start, "audit", *FAST, "--epochs",
         "10000000", "--data", str(toy), "--k", "3", "--out", str(out), "--overwrite"]
  env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
  proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, cwd=tmp_path)
  try:
    deadline = time.monotonic() + 60
    for line in proc.stdout:  # the dataset line comes right before training
      if line.startswith("dataset ") or time.monotonic() > deadline:
        break
    time.sleep(3.0)  # into training (10 million epochs: it cannot end first)
    assert proc.poll() is None, "the audit ended before it was interrupted"
    proc.send_signal(signal.SIGINT)
    try:
      out_text, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
      proc.send_signal(signal.SIGABRT)
      out_text, err = proc.communicate(timeout=30)
      pytest.fail(f"the audit did not stop within 120 s of SIGINT; its stacks:\n{err[-8000:]}")
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 130, err
  assert "interrupted" in err
  assert (out / "report.json").read_bytes() == before
  partial = report.load_report(out / "report.partial.json")
  assert partial["status"] == "partial" and partial["error"].startswith("KeyboardInterrupt")
  assert "report.partial.json" in out_text and "of an earlier run is kept" in out_text


def test_write_failure_prints_the_results_and_says_where(tmp_path, monkeypatch, capsys):
  toy, out = _toy(tmp_path), tmp_path / "out"
  real = report._schema.atomic_write

  def disk_full(path, data, **kwargs):
    if Path(path).is_relative_to(out):
      raise OSError(28, "No space left on device")
    real(path, data, **kwargs)

  monkeypatch.setattr(report._schema, "atomic_write", disk_full)
  assert _audit(toy, out) == 2
  captured = capsys.readouterr()
  assert "bpr-mf" in captured.out and "most-pop" in captured.out  # the results were printed
  assert f"could not write the report to {out}" in captured.err
  assert "No space left on device" in captured.err
  where = Path(captured.err.split("the results were written to ")[1].split(" instead")[0])
  assert where.parent.parent == tmp_path and where.parent.name.startswith("out-")
  r = report.load_report(where)
  assert r["status"] == "complete" and any(row["model"] == "bpr-mf" for row in r["rows"])
  assert str(where) in captured.out
  assert not any(p.name.startswith(".jaxrec-staging") for p in out.iterdir())


def test_default_out_is_a_new_folder_per_run(tmp_path, monkeypatch, capsys):
  toy = _toy(tmp_path)
  monkeypatch.chdir(tmp_path)
  for _ in range(2):
    assert main(["audit", *FAST, "--data", str(toy), "--k", "3"]) == 0
  runs = sorted((tmp_path / "jaxrec-audit").iterdir())
  assert len(runs) == 2 and all((run / "report.json").exists() for run in runs)
  assert all(len(run.name) >= 19 and run.name[10] == "T" for run in runs)  # 2026-12-05T13-50-02
  assert str(runs[0].relative_to(tmp_path)) in capsys.readouterr().out


def test_provenance(tmp_path):
  toy, out = _toy(tmp_path), tmp_path / "out"
  argv = ["audit", *FAST, "--data", str(toy), "--k", "3", "--out", str(out)]
  assert main(argv) == 0
  p = report.load_report(out)["provenance"]
  assert p["argv"] == ["jaxrec", *argv]
  sha = hashlib.sha256(toy.read_bytes()).hexdigest()
  assert p["inputs"]["files"] == [{"option": "data", "path": str(toy), "sha256": sha}]
  assert p["inputs"]["options"]["data"] == str(toy)
  assert p["inputs"]["options"]["format"] == "delimited" and p["inputs"]["options"]["sep"] == "\t"
  assert [s["name"] for s in p["sections"]] == ["clean"]
  assert p["sections"][0]["completed"] and p["sections"][0]["seconds"] > 0
  assert p["seconds"] >= p["sections"][0]["seconds"] and p["started"].endswith("+00:00")
  import jax
  assert p["device"]["device_kind"] == jax.devices()[0].device_kind
  assert p["outputs"] == ["report.json", "report.md"]


def test_provenance_of_the_bundled_dataset_and_a_predefined_split(tmp_path):
  inputs = report._provenance.describe_inputs({"dataset": None, "data": None},
                                              dataset_name="movietweetings-10core")
  (entry,) = inputs["files"]
  assert inputs["options"]["dataset"] == entry["name"] == "movietweetings-10core"
  assert entry["sha256"] == hashlib.sha256(Path(entry["path"]).read_bytes()).hexdigest()
  train, test = _toy(tmp_path, "train.tsv"), tmp_path / "test.tsv"
  test.write_text("100\t505\t5\t9\n")
  inputs = report._provenance.describe_inputs({"train": str(train), "test": str(test)})
  assert [(f["option"], f["sha256"]) for f in inputs["files"]] == [
      ("train", hashlib.sha256(train.read_bytes()).hexdigest()),
      ("test", hashlib.sha256(test.read_bytes()).hexdigest())]


def test_config_rerun_gives_the_same_rows(tmp_path, capsys):
  csv = tmp_path / "r.csv"  # data options that must be recorded: sep, header, columns, threshold
  csv.write_text("ts,user,item,rating\n" + "".join(
      f"{1000 + n},{100 + n // 4},{500 + (n // 4 + 2 * (n % 4)) % 8},{1 + n % 5}\n"
      for n in range(24)))
  first = tmp_path / "first"
  assert main(["audit", *FAST, "--data", str(csv), "--sep", ",", "--header", "--columns",
               "user,item,rating,ts", "--threshold", "2", "--k", "3", "--seed", "4",
               "--out", str(first)]) == 0
  again = tmp_path / "again"
  assert main(["audit", "--config", str(first / "report.json"), "--no-progress",
               "--out", str(again)]) == 0
  a, b = report.load_report(first), report.load_report(again)
  assert b["rows"] == a["rows"] and b["config"] == a["config"]
  assert b["provenance"]["inputs"] == a["provenance"]["inputs"]
  assert b["provenance"]["rerun_of"] == str(first / "report.json")
  capsys.readouterr()
  # options that change the audit cannot be combined with --config
  assert main(["audit", "--config", str(first), "--epochs", "3", "--seed", "0"]) == 2
  assert "--epochs, --seed cannot be combined with it" in capsys.readouterr().err
  # the data changed since: refused
  csv.write_text(csv.read_text() + "1999,105,507,5\n")
  assert main(["audit", "--config", str(first), "--out", str(tmp_path / "x")]) == 2
  err = capsys.readouterr().err
  assert f"input {csv} changed since the report was written" in err
  assert not (tmp_path / "x").exists()


def test_config_rerun_of_a_predefined_split(tmp_path):
  train, test = _toy(tmp_path, "train.tsv"), tmp_path / "test.tsv"
  test.write_text("100\t505\t5\t9\n101\t502\t4\t9\n")
  first, again = tmp_path / "first", tmp_path / "again"
  assert main(["audit", *FAST, "--train", str(train), "--test", str(test), "--k", "3",
               "--out", str(first)]) == 0
  assert main(["audit", "--config", str(first), "--no-progress", "--out", str(again)]) == 0
  assert report.load_report(again)["rows"] == report.load_report(first)["rows"]


def test_reports_without_provenance_stay_valid(tmp_path, capsys):
  old = {"schema": 1, "status": "complete", "error": None, "dataset": {"name": "toy"},
         "config": {"model": "bpr-mf"}, "versions": {}, "rows": [
             report.make_row(model="bpr-mf", metric="hr", k=10, value=0.5)]}
  report.validate_report(old)
  report.write_report(tmp_path / "old", old)
  assert main(["audit", "--config", str(tmp_path / "old")]) == 2
  assert "records no data options" in capsys.readouterr().err
  with pytest.raises(ValueError, match="outputs"):
    report.validate_report(dict(old, provenance={"outputs": ["../etc/passwd"]}))
  with pytest.raises(ValueError, match="argv"):
    report.validate_report(dict(old, provenance={"argv": "jaxrec audit"}))


def test_new_run_dir_is_unique(tmp_path):
  import datetime
  now = datetime.datetime(2026, 12, 5, 13, 50, 2)
  first = _output.new_run_dir(tmp_path, now=now)
  assert first == tmp_path / "2026-12-05T13-50-02" and not first.exists()
  first.mkdir()
  assert _output.new_run_dir(tmp_path, now=now) == tmp_path / "2026-12-05T13-50-02-2"
