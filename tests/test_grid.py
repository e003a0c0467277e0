"""``jaxrec grid``: typed configs, cells, and a run killed mid-way that resumes without
recomputing or duplicating a cell."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jaxrec import experiment, grid, results
from jaxrec.cli import main

REPO = Path(__file__).resolve().parents[1]
# a tiny grid on the bundled dataset: 1 clean cell + 1 attack x 2 budgets x 1 target x 1 seed.
# The closed-form EASE victim: no training loop to compile, which halves the three runs of the
# resume test (what it checks is the store, not the model; the random attack's profiles still
# depend on the seed)
TINY = """\
model = "ease"
attacks = ["random"]
budgets = [0.01, 0.05]
num_targets = 1
seeds = [0]
"""


def _config(tmp_path, text=TINY, name="grid.toml"):
  path = tmp_path / name
  path.write_text(text)
  return path


def test_config_defaults_and_hash():
  c = grid.PoisonGridConfig()
  assert (c.dataset, c.model, c.attacks, c.budgets, c.num_targets, c.seeds) == (
      "bundled", "bpr-mf", ("random", "bandwagon"), (0.01, 0.05), 5, (0, 1))
  # the model's recipe is filled in, so the hash names the settings that run
  assert (c.dim, c.epochs, c.lr, c.optimizer) == (64, 200, 0.05, "adagrad")
  assert experiment.config_hash(c) == experiment.config_hash(grid.PoisonGridConfig(epochs=200))
  assert experiment.config_hash(c) != experiment.config_hash(grid.PoisonGridConfig(epochs=20))


def test_the_issue_config_file():
  c = experiment.load_config(REPO / "experiments" / "configs" / "poison_grid.toml",
                             grid.PoisonGridConfig)
  assert (c.dataset, c.attacks, c.budgets, c.num_targets, c.seeds) == (
      "ml-100k", ("random", "bandwagon"), (0.01, 0.05), 5, (0, 1))
  cells = grid.grid_cells(c, [11, 12, 13, 14, 15])
  assert len(cells) == 2 + 2 * 2 * 5 * 2


def test_budgets_as_counts_and_fractions(tmp_path):
  c = experiment.load_config(_config(tmp_path, "budgets = [10, 0.05]\n"), grid.PoisonGridConfig)
  assert c.budgets == (10, 0.05) and isinstance(c.budgets[0], int)


@pytest.mark.parametrize("text, match", [
    ("epochz = 3\n", "unknown key.*epochz"),
    ('dataset = "ml-20m"\n', "dataset must be one of"),
    ('attacks = ["random", "nuke"]\n', "attack must be one of"),
    ("attacks = []\n", "attacks must name at least one"),
    ("budgets = []\n", "budgets must name at least one"),
    ("budgets = [1.5]\n", r"fraction of the real users must lie in \(0, 1\)"),
    ("budgets = [0.01, 0.01]\n", "budgets repeat"),
    ("seeds = [0, 0]\n", "seeds repeat"),
    ("seeds = [-1]\n", "seed must be an integer"),
    ("seeds = [0.5]\n", "seeds\\[0\\]' must be int"),
    ("num_targets = 0\n", "num_targets must be an integer >= 1"),
    ('target_strategy = "worst"\n', "target_strategy must be one of"),
    ('model = "ease"\nlr = 0.1\n', "has no lr setting"),
    ("max_lanes = 0\n", "max_lanes must be an integer >= 1"),
    ('data_path = "/no/such/u.data"\n', "data_path /no/such/u.data: no such file"),
    ("target_ids = []\n", "target_ids must name at least one"),
    ("epochs = 0\n", "epochs must be >= 1 for model 'bpr-mf'"),
])
def test_config_errors(tmp_path, text, match):
  path = _config(tmp_path, text)
  with pytest.raises(ValueError, match=match) as e:
    experiment.load_config(path, grid.PoisonGridConfig)
  assert str(path) in str(e.value)


def test_cells():
  c = grid.PoisonGridConfig(attacks=("random", "bandwagon"), budgets=(0.01, 5), seeds=(3, 4))
  cells = grid.grid_cells(c, [101, 102])
  assert cells[:2] == [{"attack": "none", "seed": 3}, {"attack": "none", "seed": 4}]
  assert len(cells) == 2 + 2 * 2 * 2 * 2
  assert cells[2:6] == [{"attack": "random", "target": 101, "budget": 0.01, "seed": 3},
                        {"attack": "random", "target": 101, "budget": 0.01, "seed": 4},
                        {"attack": "random", "target": 101, "budget": 5, "seed": 3},
                        {"attack": "random", "target": 101, "budget": 5, "seed": 4}]
  assert cells[-1] == {"attack": "bandwagon", "target": 102, "budget": 5, "seed": 4}
  ids = {results.cell_id("h", cell) for cell in cells}
  assert len(ids) == len(cells)
  with pytest.raises(ValueError, match="at least one target"):
    grid.grid_cells(c, [])


def test_another_config_into_the_same_folder_is_refused(tmp_path, capsys):
  out = tmp_path / "out"
  store = results.ResultsStore(out, "ffffffffffffffff", device_kind="cpu")
  store.write({"seed": 0}, [{"model": "m", "defense": "none", "attack": "none", "budget": None,
                             "metric": "hr", "k": 10, "value": 0.5}], seed=0)
  before = sorted(os.listdir(out / "cells"))
  assert main(["grid", str(_config(tmp_path)), "--out", str(out), "--no-progress"]) == 2
  err = capsys.readouterr().err
  assert "jaxrec grid: error:" in err and "another config" in err and "ffffffffffffffff" in err
  assert sorted(os.listdir(out / "cells")) == before
  assert not (out / "report.json").exists()


def _grid_command(config, out):
  return [sys.executable, "-m", "jaxrec", "grid", str(config), "--out", str(out),
          "--no-progress"]


def _env(cache):
  # every run shares one compilation cache: the second and third compile (almost) nothing
  return {**os.environ, "JAXREC_COMPILE_CACHE": str(cache), "PYTHONPATH": str(REPO)}


def _parts(out):
  return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
          for p in (out / "cells").glob("*.parquet")}


def _sorted_records(out):
  df = results.load(out)
  cols = sorted(df.columns)
  records = [tuple(None if v is None or v is np.nan or (isinstance(v, float) and v != v)
                   or str(v) == "<NA>" else v for v in row)
             for row in df[cols].astype(object).itertuples(index=False)]
  return cols, sorted(records, key=repr)


def test_a_killed_grid_resumes_without_recomputing(tmp_path):
  """SIGKILL ``jaxrec grid`` once its first cell is written; the rerun skips the finished
  cell (its part untouched), runs the rest, and the rows equal an uninterrupted run's."""
  config, cache = _config(tmp_path), tmp_path / "xla"
  out = tmp_path / "killed"
  proc = subprocess.Popen(_grid_command(config, out), env=_env(cache),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  deadline = time.monotonic() + 300
  while not _parts(out) and proc.poll() is None and time.monotonic() < deadline:
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  log = proc.communicate()[0]
  assert proc.returncode == -signal.SIGKILL, log  # killed, not finished
  first = _parts(out)
  assert 1 <= len(first) < 3, log
  assert not (out / "report.json").exists()
  assert len(results.load(out)) > 0  # what the kill left is whole cells only

  resumed = subprocess.run(_grid_command(config, out), env=_env(cache), capture_output=True,
                           text=True, timeout=300)
  assert resumed.returncode == 0, resumed.stderr
  n = len(first)
  assert f"ran {3 - n} cell(s), skipped {n} finished" in resumed.stdout
  after = _parts(out)
  assert len(after) == 3
  assert {name: after[name] for name in first} == first  # not rewritten: same inode and mtime
  report = json.loads((out / "report.json").read_text())
  assert report["provenance"]["grid"]["ran"] == 3 - n
  assert report["provenance"]["grid"]["skipped"] == n

  reference = tmp_path / "uninterrupted"
  clean = subprocess.run(_grid_command(config, reference), env=_env(cache),
                         capture_output=True, text=True, timeout=300)
  assert clean.returncode == 0, clean.stderr
  assert "ran 3 cell(s), skipped 0 finished" in clean.stdout
  assert set(after) == set(_parts(reference))  # the same cell ids

  cols, rows = _sorted_records(out)
  ref_cols, ref_rows = _sorted_records(reference)
  assert cols == ref_cols
  assert rows == ref_rows
  df = results.load(out)
  assert not df.duplicated(["cell_id", "model", "metric", "k", "target"]).any()
  assert len(report["rows"]) == len(df)
  # the rows are the grid's: a clean cell, and a poisoned cell per budget with its shift
  assert sorted(df["attack"].unique()) == ["none", "random"]
  shifts = df[df["metric"] == "prediction_shift"]
  assert sorted(shifts["budget"].tolist()) == [0.01, 0.05]
  assert (df.loc[df["attack"] == "random", "num_fake"].dropna() > 0).all()
  clean_hr = df[(df["attack"] == "none") & (df["model"] == "ease") & (df["metric"] == "ndcg")]
  assert len(clean_hr) == 1 and 0.0 < clean_hr["value"].iloc[0] < 1.0
  assert (out / "target_hr.png").stat().st_size > 1000


def _store_of(tmp_path, out, fingerprint, target):
  """A store of the TINY config whose manifest records ``fingerprint``, with a finished clean
  cell scoring ``target``."""
  config = experiment.load_config(_config(tmp_path), grid.PoisonGridConfig)
  store = results.ResultsStore(out, experiment.config_hash(config), device_kind="cpu",
                               data={"fingerprint": fingerprint, "dataset": "an older copy"})
  store.write({"attack": "none", "seed": 0},
              [{"model": "ease", "defense": "none", "attack": "none", "budget": None,
                "metric": "target_score", "k": None, "value": 0.5, "target": target}], seed=0)
  return sorted(os.listdir(out / "cells"))


def test_a_store_of_other_data_is_refused(tmp_path, capsys):
  """Resuming on changed data would compare new cells with the old clean model: refused,
  naming both fingerprints, before any cell runs."""
  config = experiment.load_config(_config(tmp_path), grid.PoisonGridConfig)
  dataset, _ = grid._run.load_grid_dataset(config)
  fingerprint = grid.data_fingerprint(dataset)
  assert len(fingerprint) == 64 and fingerprint == grid.data_fingerprint(dataset)
  changed = dataset.interactions.select(np.arange(len(dataset.interactions) - 1))
  other = grid.data_fingerprint(type(dataset)(changed, dataset.user_ids, dataset.item_ids))
  assert other != fingerprint

  out = tmp_path / "other_data"
  before = _store_of(tmp_path, out, "0" * 64, 1)
  assert main(["grid", str(_config(tmp_path)), "--out", str(out), "--no-progress"]) == 2
  err = capsys.readouterr().err
  assert "computed on other data" in err and "0" * 64 in err and fingerprint in err
  assert "another --out" in err and "an older copy" in err
  assert sorted(os.listdir(out / "cells")) == before and not (out / "report.json").exists()

  # the same data, but a finished clean cell of other targets (e.g. a store written before
  # fingerprints, on data whose target draw differed): a clear error, not a KeyError
  out = tmp_path / "other_targets"
  before = _store_of(tmp_path, out, fingerprint, -12345)
  assert main(["grid", str(_config(tmp_path)), "--out", str(out), "--no-progress"]) == 2
  err = capsys.readouterr().err
  assert "scores the targets [-12345]" in err and "another --out" in err
  assert sorted(os.listdir(out / "cells")) == before


def test_an_unwritable_store_fails_before_any_cell(tmp_path, monkeypatch, capsys):
  """The store probes DIR/cells when opened: a read-only store fails at once (exit 2, naming
  the folder), not after a program of cells was computed."""
  from jaxrec.results import _store

  def read_only(*args, **kwargs):
    raise PermissionError(30, "Read-only file system")

  def no_cell(*args, **kwargs):
    raise AssertionError("a cell was computed")

  monkeypatch.setattr(_store.tempfile, "mkstemp", read_only)
  monkeypatch.setattr(grid._run, "_clean_rows", no_cell)
  out = tmp_path / "ro"
  assert main(["grid", str(_config(tmp_path)), "--out", str(out), "--no-progress"]) == 2
  err = capsys.readouterr().err
  assert f"results store {out / 'cells'} is not writable (Read-only file system)" in err
  assert "nothing was computed" in err
  assert not (out / "store.json").exists()
