"""The results store: round trip, atomic parts, one config per store, errors, figures."""

import json
import os
import subprocess

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from jaxrec import results
from jaxrec.report import make_row
from jaxrec.results import _store

HASH = "0123456789abcdef"


def _cell_rows(attack, budget, target, seed, base):
  keys = dict(model="bpr-mf", attack=attack, budget=budget, target=target, seed=seed)
  return [make_row(metric="target_hr", value=base, k=10, **keys),
          make_row(metric="target_hr", value=base + 0.5, k=50, **keys),
          make_row(metric="target_rank", value=base * 100, **keys)]


def test_round_trip_with_provenance(tmp_path):
  store = results.ResultsStore(tmp_path / "s", HASH, config={"epochs": 2}, device_kind="cpu")
  cells = [({"attack": "random", "budget": 0.01, "target": 7, "seed": 0}, 0.125),
           ({"attack": "random", "budget": 0.05, "target": 7, "seed": 0}, 0.25),
           ({"attack": "bandwagon", "budget": 0.05, "target": 9, "seed": 1}, 0.375)]
  for keys, base in cells:
    store.write(keys, _cell_rows(**keys, base=base), seed=keys["seed"])
  ids = [results.cell_id(HASH, keys) for keys, _ in cells]
  assert results.finished_cells(tmp_path / "s") == set(ids) == store.finished()
  assert sorted(p.name for p in (tmp_path / "s" / "cells").iterdir()) == sorted(
      f"{i}.parquet" for i in ids)
  manifest = json.loads((tmp_path / "s" / "store.json").read_text())
  assert manifest == {"format": 1, "config_hash": HASH, "config": {"epochs": 2}, "data": None}

  df = results.load(tmp_path / "s")
  assert len(df) == 9
  assert set(results.PROVENANCE_COLUMNS) <= set(df.columns)
  assert (df["config_hash"] == HASH).all() and (df["device_kind"] == "cpu").all()
  assert (df["jaxrec_version"] == __import__("jaxrec").__version__).all()
  assert str(df["k"].dtype) == "Int64" and int(df["k"].isna().sum()) == 3
  one = df[(df["attack"] == "random") & (df["budget"] == 0.05) & (df["k"] == 10)]
  assert one["value"].tolist() == [0.25] and one["cell_id"].tolist() == [ids[1]]
  rank = df[(df["attack"] == "bandwagon") & (df["metric"] == "target_rank")]
  assert rank["value"].tolist() == [37.5] and rank["seed"].tolist() == [1]
  assert rank["target"].tolist() == [9]

  # plain report rows, in the order asked, each cell's rows as written
  rows = results.load_rows(tmp_path / "s", [ids[2], ids[0]])
  assert [(r["cell_id"], r["metric"], r["k"], r["value"]) for r in rows] == [
      (ids[2], "target_hr", 10, 0.375), (ids[2], "target_hr", 50, 0.875),
      (ids[2], "target_rank", None, 37.5),
      (ids[0], "target_hr", 10, 0.125), (ids[0], "target_hr", 50, 0.625),
      (ids[0], "target_rank", None, 12.5)]
  assert store.read(ids[0]) == rows[3:]


def test_rows_with_different_keys(tmp_path):
  """A cell's rows need not share their grid keys: every key of every row becomes a column."""
  store = results.ResultsStore(tmp_path, HASH, device_kind="cpu")
  rows = [make_row(model="most-pop", metric="hr", value=0.5, k=10),
          make_row(model="m", metric="target_hr", value=0.25, k=10, target=42),
          make_row(model="m", metric="train_loss", value=3.0, note="last epoch")]
  store.write({"seed": 0}, rows, seed=0)
  back = results.load_rows(tmp_path)
  assert [(r["model"], r["target"], r["note"], r["value"]) for r in back] == [
      ("most-pop", None, None, 0.5), ("m", 42, None, 0.25), ("m", None, "last epoch", 3.0)]


def test_cell_ids_are_stable():
  keys = {"attack": "random", "budget": 0.01, "target": 7, "seed": 0}
  cid = results.cell_id(HASH, keys)
  # the same keys in another order, and NumPy scalars, name the same cell
  assert results.cell_id(HASH, dict(reversed(list(keys.items())))) == cid
  assert results.cell_id(HASH, {**keys, "target": np.int64(7)}) == cid
  assert results.cell_id("fedcba9876543210", keys) != cid
  assert results.cell_id(HASH, {**keys, "seed": 1}) != cid
  # sha256 of {"cell":{"attack":"random","budget":0.01,"seed":0,"target":7},"config_hash":
  # "0123456789abcdef"} (sorted, compact JSON), first 16 hex digits: fixed across versions,
  # resumed stores depend on it
  assert cid == "0d147be41948e966"
  with pytest.raises(ValueError, match="JSON scalar"):
    results.cell_id(HASH, {"target": [1, 2]})
  with pytest.raises(ValueError, match="finite"):
    results.cell_id(HASH, {"budget": float("nan")})


def test_a_cell_is_written_once(tmp_path):
  store = results.ResultsStore(tmp_path, HASH, device_kind="cpu")
  keys = {"attack": "random", "seed": 0}
  path = store.write(keys, _cell_rows("random", None, 1, 0, 0.5), seed=0)
  before = path.stat()
  with pytest.raises(FileExistsError, match="finished already"):
    store.write(keys, _cell_rows("random", None, 1, 0, 0.75), seed=0)
  after = path.stat()
  assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
  assert results.load(tmp_path)["value"].tolist() == [0.5, 1.0, 50.0]


def test_a_failed_write_leaves_no_part(tmp_path, monkeypatch):
  """A writer that dies mid-file leaves neither a part nor a visible temporary file; a
  temporary file left by a killed writer is ignored."""
  store = results.ResultsStore(tmp_path, HASH, device_kind="cpu")
  store.write({"seed": 0}, _cell_rows("random", None, 1, 0, 0.5), seed=0)

  def dies(table, where, **kw):
    where.write(b"PAR1 half a file")
    raise OSError("disk full")

  monkeypatch.setattr(pq, "write_table", dies)
  with pytest.raises(OSError, match="disk full"):
    store.write({"seed": 1}, _cell_rows("random", None, 1, 1, 0.5), seed=1)
  monkeypatch.undo()
  assert sorted(p.name for p in (tmp_path / "cells").iterdir()) == [
      f"{results.cell_id(HASH, {'seed': 0})}.parquet"]
  # what a SIGKILL between the temporary write and the rename leaves behind
  (tmp_path / "cells" / f".{results.cell_id(HASH, {'seed': 1})}.x1y2.tmp").write_bytes(b"PAR1")
  assert store.finished() == {results.cell_id(HASH, {"seed": 0})}
  assert len(results.load(tmp_path)) == 3


def test_one_config_per_store(tmp_path):
  store = results.ResultsStore(tmp_path / "a", HASH, device_kind="cpu")
  store.write({"seed": 0}, _cell_rows("random", None, 1, 0, 0.5), seed=0)
  with pytest.raises(ValueError, match=r"another config .*store\.json.*refusing to mix"):
    results.ResultsStore(tmp_path / "a", "ffffffffffffffff")
  # a store whose config finished no cell (it failed on its data) takes another config
  results.ResultsStore(tmp_path / "c", HASH)
  results.ResultsStore(tmp_path / "c", "ffffffffffffffff")
  assert json.loads((tmp_path / "c" / "store.json").read_text())["config_hash"] == "f" * 16
  # a part of another config copied into a store is refused by name, when opened and loaded
  other = results.ResultsStore(tmp_path / "b", "ffffffffffffffff", device_kind="cpu")
  part = other.write({"seed": 3}, _cell_rows("random", None, 1, 3, 0.5), seed=3)
  (tmp_path / "a" / "cells" / part.name).write_bytes(part.read_bytes())
  for action in (lambda: results.load(tmp_path / "a"),
                 lambda: results.ResultsStore(tmp_path / "a", HASH)):
    with pytest.raises(ValueError, match=f"another config.*{part.name}"):
      action()


def test_one_dataset_per_store(tmp_path):
  """The manifest records the data's fingerprint; a store of finished cells on other data is
  refused (naming both), one without finished cells is taken over."""
  a = {"fingerprint": "a" * 64, "dataset": "ml-100k", "path": "/x/u.data"}
  b = {"fingerprint": "b" * 64, "dataset": "ml-100k", "path": "/y/u.data"}
  store = results.ResultsStore(tmp_path / "s", HASH, data=a, device_kind="cpu")
  assert json.loads((tmp_path / "s" / "store.json").read_text())["data"] == a
  results.ResultsStore(tmp_path / "s", HASH, data=b)  # no finished cell yet: takes b
  assert json.loads((tmp_path / "s" / "store.json").read_text())["data"] == b
  store = results.ResultsStore(tmp_path / "s", HASH, data=b, device_kind="cpu")
  store.write({"seed": 0}, _cell_rows("random", None, 1, 0, 0.5), seed=0)
  with pytest.raises(ValueError, match=f"other data.*{'b' * 64}.*/y/u.data.*{'a' * 64}.*"
                                       "another --out"):
    results.ResultsStore(tmp_path / "s", HASH, data=a)
  results.ResultsStore(tmp_path / "s", HASH, data=b)  # the same data: resumes
  results.ResultsStore(tmp_path / "s", HASH)  # no data given: nothing to check
  assert json.loads((tmp_path / "s" / "store.json").read_text())["data"] == b
  # a store written without a fingerprint records the first one given
  old = results.ResultsStore(tmp_path / "old", HASH, device_kind="cpu")
  old.write({"seed": 0}, _cell_rows("random", None, 1, 0, 0.5), seed=0)
  results.ResultsStore(tmp_path / "old", HASH, data=a)
  assert json.loads((tmp_path / "old" / "store.json").read_text())["data"] == a
  with pytest.raises(ValueError, match="other data"):
    results.ResultsStore(tmp_path / "old", HASH, data=b)
  with pytest.raises(ValueError, match="'fingerprint' string"):
    results.ResultsStore(tmp_path / "t", HASH, data={"dataset": "x"})


def test_a_folder_that_is_not_a_store_is_not_taken(tmp_path):
  """A non-empty folder without store.json (e.g. the --out of `jaxrec audit`) is refused, its
  files untouched; an empty folder becomes a store."""
  folder = tmp_path / "audit"
  folder.mkdir()
  (folder / "report.json").write_text('{"note": "mine"}')
  with pytest.raises(ValueError, match=r"not empty \(report\.json\).*not a results store"):
    results.ResultsStore(folder, HASH)
  assert sorted(os.listdir(folder)) == ["report.json"]
  assert (folder / "report.json").read_text() == '{"note": "mine"}'
  (tmp_path / "empty").mkdir()
  results.ResultsStore(tmp_path / "empty", HASH)
  assert sorted(os.listdir(tmp_path / "empty")) == ["cells", "store.json"]


def test_load_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="no such folder"):
    results.load(tmp_path / "missing")
  (tmp_path / "plain").mkdir()
  (tmp_path / "plain" / "notes.txt").write_text("x")
  with pytest.raises(ValueError, match="not a jaxrec results store"):
    results.load(tmp_path / "plain")
  results.ResultsStore(tmp_path / "empty", HASH)
  with pytest.raises(ValueError, match="empty: no cell has finished"):
    results.load(tmp_path / "empty")
  (tmp_path / "bad").mkdir()
  (tmp_path / "bad" / "store.json").write_text('{"format": 7}')
  with pytest.raises(ValueError, match="not a results-store manifest"):
    results.load(tmp_path / "bad")
  assert results.finished_cells(tmp_path / "missing") == set()


def test_write_errors(tmp_path):
  store = results.ResultsStore(tmp_path, HASH, device_kind="cpu")
  row = make_row(model="m", metric="hr", value=0.5, k=10)
  with pytest.raises(ValueError, match="at least one row"):
    store.write({"seed": 0}, [], seed=0)
  with pytest.raises(ValueError, match="lacks"):
    store.write({"seed": 0}, [{"metric": "hr", "value": 1.0}], seed=0)
  with pytest.raises(ValueError, match="finite"):
    store.write({"seed": 0}, [{**row, "value": float("nan")}], seed=0)
  with pytest.raises(ValueError, match="provenance column"):
    store.write({"seed": 0}, [{**row, "config_hash": "x"}], seed=0)
  with pytest.raises(ValueError, match="provenance column"):
    store.write({"seed": 0}, [{**row, "seed": 5}], seed=0)
  with pytest.raises(ValueError, match="cannot be typed"):
    store.write({"seed": 0}, [{**row, "target": 1}, {**row, "target": "a"}], seed=0)
  with pytest.raises(ValueError, match="seed"):
    store.write({"seed": 0}, [row], seed=-1)
  assert store.finished() == set()
  (tmp_path / "f").write_text("")
  with pytest.raises(ValueError, match="is a file"):
    results.ResultsStore(tmp_path / "f", HASH)


def test_git_revision(tmp_path):
  """The revision of jaxrec's own checkout, marked dirty; none for a copy of jaxrec in a venv
  inside another repository."""
  def git(folder, *args):
    return subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c",
                           "user.email=t@t", *args], capture_output=True, text=True,
                          check=True).stdout.strip()

  checkout = tmp_path / "jaxrec-src"
  (checkout / "jaxrec").mkdir(parents=True)
  (checkout / "pyproject.toml").write_text("[project]\nname = 'jaxrec'\n")
  (checkout / "jaxrec" / "__init__.py").write_text("")
  git(checkout, "init", "-q")
  git(checkout, "add", ".")
  git(checkout, "commit", "-q", "-m", "x")
  head = git(checkout, "rev-parse", "HEAD")
  assert _store._git_revision(checkout / "jaxrec") == head
  (checkout / "untracked.txt").write_text("")  # untracked files do not count
  assert _store._git_revision(checkout / "jaxrec") == head
  (checkout / "jaxrec" / "__init__.py").write_text("x = 1\n")
  assert _store._git_revision(checkout / "jaxrec") == f"{head}-dirty"

  project = tmp_path / "proj"  # the user's repository, jaxrec installed into its venv
  package = project / ".venv" / "lib" / "site-packages" / "jaxrec"
  package.mkdir(parents=True)
  (package / "__init__.py").write_text("")
  (project / "pyproject.toml").write_text("[project]\nname = 'proj'\n")
  git(project, "init", "-q")
  git(project, "add", ".")
  git(project, "commit", "-q", "-m", "x")
  assert _store._git_revision(package) is None
  assert _store._git_revision(tmp_path / "nowhere") is None


def test_git_revision_without_git(monkeypatch):
  def no_git(*args, **kwargs):
    raise FileNotFoundError("git")

  monkeypatch.setattr(_store.subprocess, "run", no_git)
  _store.git_revision.cache_clear()
  try:
    assert results.git_revision() is None
  finally:
    _store.git_revision.cache_clear()


def test_plot_draws_the_means(tmp_path, monkeypatch):
  rows = []
  for attack, scale in (("random", 1.0), ("bandwagon", 2.0)):
    for budget in (0.01, 0.05):
      for seed in (0, 1):
        rows.append(make_row(model="m", metric="target_hr", k=10, attack=attack, budget=budget,
                             value=scale * budget + seed, seed=seed))
  rows.append(make_row(model="m", metric="target_hr", k=10, value=0.25, seed=0))  # clean
  rows.append(make_row(model="m", metric="target_hr", k=20, value=9.0, attack="random",
                       budget=0.01, seed=0))  # another cut-off: left out
  figures = []
  real_save = results._plots._save
  monkeypatch.setattr(results._plots, "_save",
                      lambda fig, path: figures.append(fig) or real_save(fig, path))
  path = results.plot(pd.DataFrame(rows), metric="target_hr", k=10, path=tmp_path / "f.png")
  assert path.is_file() and path.stat().st_size > 1000
  lines = {ln.get_label(): ln for ln in figures[0].axes[0].lines}
  assert set(lines) == {"attack = random", "attack = bandwagon", "attack = none"}
  np.testing.assert_allclose(lines["attack = random"].get_xdata(), [0.01, 0.05])
  np.testing.assert_allclose(lines["attack = random"].get_ydata(), [0.51, 0.55])
  np.testing.assert_allclose(lines["attack = bandwagon"].get_ydata(), [0.52, 0.6])
  np.testing.assert_allclose(lines["attack = none"].get_ydata(), [0.25, 0.25])
  with pytest.raises(ValueError, match=r"no row has metric 'hr'.*present: target_hr@10"):
    results.plot(pd.DataFrame(rows), metric="hr", k=10, path=tmp_path / "g.png")
  with pytest.raises(ValueError, match=r"no column\(s\) \['eps'\]"):
    results.plot(pd.DataFrame(rows), metric="target_hr", k=10, x="eps", path=tmp_path / "g.png")
  bare = results.plot(pd.DataFrame(rows), metric="target_hr", k=10, path=tmp_path / "plots")
  assert bare == tmp_path / "plots.png" and bare.is_file()  # the file written, suffix added


def test_plot_errors_on_what_load_returns(tmp_path):
  """On load()'s nullable Int64 `k`, a mistyped metric or an unmatched filter gives the
  documented ValueError listing what is present (not pandas' NA TypeError)."""
  store = results.ResultsStore(tmp_path / "s", HASH, device_kind="cpu")
  store.write({"seed": 0}, _cell_rows("random", 0.01, 7, 0, 0.25), seed=0)
  df = results.load(tmp_path / "s")
  assert str(df["k"].dtype) == "Int64"
  present = "present: target_hr@10, target_hr@50, target_rank"
  with pytest.raises(ValueError, match=f"no row has metric 'hr_typo' at k=10; {present}"):
    results.plot(df, metric="hr_typo", k=10, path=tmp_path / "x.png")
  with pytest.raises(ValueError, match=f"and {{'model': 'lightgcn'}}; {present}"):
    results.plot(df, metric="target_hr", k=10, where={"model": "lightgcn"},
                 path=tmp_path / "x.png")
  with pytest.raises(ValueError, match=f"'target_rank' at k=10; {present}"):
    results.plot(df, metric="target_rank", k=10, path=tmp_path / "x.png")
  with pytest.raises(ValueError, match="k must be an integer"):
    results.plot(df, metric="target_hr", k="10", path=tmp_path / "x.png")
  assert not (tmp_path / "x.png").exists()
  assert results.plot(df, metric="target_rank", path=tmp_path / "r.png").is_file()


def test_plot_refuses_blended_models_and_mixed_budget_units(tmp_path, monkeypatch):
  rows = [make_row(model="most-pop", metric="ndcg", k=10, value=0.08, seed=0),  # clean cell
          make_row(model="bpr-mf", metric="ndcg", k=10, value=0.07, seed=0),
          make_row(model="bpr-mf", metric="ndcg", k=10, value=0.06, attack="random",
                   budget=0.01, num_fake=21, seed=0),
          make_row(model="bpr-mf", metric="ndcg", k=10, value=0.05, attack="random",
                   budget=10, num_fake=10, seed=0)]
  df = pd.DataFrame(rows)
  with pytest.raises(ValueError, match=r"mix the models \['bpr-mf', 'most-pop'\].*where="):
    results.plot(df, metric="ndcg", k=10, x="num_fake", path=tmp_path / "a.png")
  with pytest.raises(ValueError, match=r"fractions .*\[0\.01\].*counts .*\[10\.0\].*num_fake"):
    results.plot(df, metric="ndcg", k=10, where={"model": "bpr-mf"}, path=tmp_path / "a.png")
  assert not (tmp_path / "a.png").exists()
  figures = []
  real_save = results._plots._save
  monkeypatch.setattr(results._plots, "_save",
                      lambda fig, path: figures.append(fig) or real_save(fig, path))
  results.plot(df, metric="ndcg", k=10, x="num_fake", where={"model": "bpr-mf"},
               path=tmp_path / "a.png")
  lines = {ln.get_label(): ln for ln in figures[0].axes[0].lines}
  np.testing.assert_allclose(lines["attack = random"].get_xdata(), [10, 21])
  np.testing.assert_allclose(lines["attack = random"].get_ydata(), [0.05, 0.06])
  np.testing.assert_allclose(lines["attack = none"].get_ydata(), [0.07, 0.07])  # bpr-mf only


def test_the_grid_figure_uses_the_grid_model_and_num_fake_for_mixed_budgets(tmp_path,
                                                                              monkeypatch):
  from jaxrec import grid
  from jaxrec.grid import _run
  figures = []
  real_save = results._plots._save
  monkeypatch.setattr(results._plots, "_save",
                      lambda fig, path: figures.append(fig) or real_save(fig, path))
  rows = [make_row(model="bpr-mf", metric="target_hr", k=10, value=0.0, target=5, seed=0),
          make_row(model="lightgcn", metric="target_hr", k=10, value=0.9, target=5, seed=0),
          make_row(model="bpr-mf", metric="target_hr", k=10, value=0.5, attack="random",
                   budget=0.01, num_fake=21, target=5, seed=0),
          make_row(model="bpr-mf", metric="target_hr", k=10, value=0.25, attack="random",
                   budget=10, num_fake=10, target=5, seed=0)]
  config = grid.PoisonGridConfig(attacks=("random",), budgets=(0.01, 10), seeds=(0,))
  _run._figure(rows, tmp_path / "f.png", config)
  ax = figures[0].axes[0]
  lines = {ln.get_label(): ln for ln in ax.lines}
  assert ax.get_xlabel() == "num_fake"
  np.testing.assert_allclose(lines["attack = random"].get_xdata(), [10, 21])
  np.testing.assert_allclose(lines["attack = none"].get_ydata(), [0.0, 0.0])
  assert ax.get_title().startswith("bpr-mf: targets' HR@10")


def test_corrupt_and_stray_parts(tmp_path):
  """A corrupt part names itself and the way out; a copy of a part under a name that is not a
  cell id is ignored with a warning, not loaded twice."""
  store = results.ResultsStore(tmp_path, HASH, device_kind="cpu")
  part = store.write({"seed": 0}, _cell_rows("random", None, 1, 0, 0.5), seed=0)
  (tmp_path / "cells" / "copy.parquet").write_bytes(part.read_bytes())
  with pytest.warns(UserWarning, match=r"ignoring copy\.parquet"):
    assert len(results.load(tmp_path)) == 3
  with pytest.warns(UserWarning, match="ignoring copy"):
    assert store.finished() == {part.stem}
  (tmp_path / "cells" / "copy.parquet").unlink()
  part.write_bytes(b"PAR1 cut")
  with pytest.raises(ValueError, match=f"{part.name} is not a readable Parquet part.*delete it "
                                       "and rerun to recompute that cell"):
    results.load(tmp_path)
