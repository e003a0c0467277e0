"""The command line and the audit pipeline, end to end on the bundled dataset."""

import json

import pytest

from jaxrec import audit, data, report
from jaxrec.cli import main

FAST = ["--epochs", "2", "--dim", "8", "--no-progress", "--attacks", "none"]


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
  assert "| bpr-mf | 0." in printed and (out / "report.md").exists()  # the key table
  # binary test relevance: two held-out items are rated 0/10, so 2,057 of the 2,059 users have
  # a relevant test item (metrics.relevant_index)
  users = {row["model"]: row["value"] for row in r["rows"] if row["metric"] == "users"}
  assert users == {"bpr-mf": 2057.0, "most-pop": 2057.0}


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
  assert main(["stats", "--dataset", "ml-100k", "--train", "a", "--test", "b"]) == 2
  assert "not both" in capsys.readouterr().err
  assert main(["stats", "--train", "a"]) == 2
  assert "go together" in capsys.readouterr().err


def _write(path, lines):
  path.write_text("".join(line + "\n" for line in lines))
  return path


def _toy_lines(num_users=6, num_items=8, per_user=4, sep="\t", ratings=True):
  lines = []
  for u in range(num_users):
    for j in range(per_user):
      i = (u + 2 * j) % num_items
      row = [str(100 + u), str(500 + i)] + ([str(1 + (u + j) % 5)] if ratings else []) + \
          [str(1000 + 10 * u + j)]
      lines.append(sep.join(row))
  return lines


def test_three_column_file_and_csv_header(tmp_path, capsys):
  three = _write(tmp_path / "three.tsv", [line.rsplit("\t", 1)[0] for line in _toy_lines()])
  assert main(["stats", "--data", str(three), "--json"]) == 0
  assert json.loads(capsys.readouterr().out)["interactions"] == 24
  csv = _write(tmp_path / "r.csv", ["user,item,rating,ts"] + _toy_lines(sep=","))
  assert main(["stats", "--data", str(csv), "--sep", ",", "--header", "--json"]) == 0
  assert json.loads(capsys.readouterr().out)["users"] == 6
  assert main(["stats", "--data", str(csv), "--header", "--json"]) == 2
  assert "pass --sep" in capsys.readouterr().err
  assert main(["stats", "--data", str(csv), "--sep", ",", "--columns", "user,item"]) == 2
  assert "need --header" in capsys.readouterr().err
  assert main(["stats", "--data", str(tmp_path)]) == 2
  assert "is a directory" in capsys.readouterr().err


def test_errors_found_before_training_write_nothing(tmp_path, capsys):
  out = tmp_path / "out"
  # user 100 interacted with every item
  lines = _toy_lines() + [f"100\t{500 + i}\t5\t{2000 + i}" for i in range(8)]
  full = _write(tmp_path / "full.tsv", lines)
  test = _write(tmp_path / "test.tsv", ["101\t503\t5\t9"])
  assert main(["audit", *FAST, "--train", str(full), "--test", str(test), "--k", "3",
               "--out", str(out)]) == 2
  assert "user 100 (raw id) interacted with all 8 items" in capsys.readouterr().err
  toy = _write(tmp_path / "toy.tsv", _toy_lines())
  assert main(["audit", *FAST, "--data", str(toy), "--threshold", "6", "--k", "3",
              "--out", str(out)]) == 2
  assert "removed all 24 interactions" in capsys.readouterr().err
  assert main(["audit", *FAST, "--data", str(toy), "--seed", str(2**40), "--out", str(out)]) == 2
  assert "seed" in capsys.readouterr().err
  assert main(["audit", *FAST, "--data", str(toy), "--k", "3", "--out", str(toy)]) == 2
  assert "not a directory" in capsys.readouterr().err
  assert not out.exists()


def test_diverged_training_leaves_a_partial_report(tmp_path, capsys):
  toy = _write(tmp_path / "toy.tsv", _toy_lines())
  out = tmp_path / "out"
  code = main(["audit", *FAST, "--data", str(toy), "--k", "3", "--optimizer", "sgd",
               "--lr", "1e30", "--out", str(out)])
  assert code == 1
  assert "diverged" in capsys.readouterr().err
  r = report.load_report(out)
  assert r["status"] == "partial" and "diverged" in r["error"]
  assert {row["model"] for row in r["rows"]} == {"most-pop"}  # rows computed before the failure


def test_clicks_all_rated_one_run_the_attack_section(tmp_path):
  lines = [line.rsplit("\t", 2)[0] + "\t1\t" + line.rsplit("\t", 1)[1]
           for line in _toy_lines(num_users=12, per_user=5)]
  clicks = _write(tmp_path / "clicks.tsv", lines)
  out = tmp_path / "out"
  assert main(["audit", *FAST[:-2], "--attacks", "bandwagon", "--budgets", "2", "--targets",
               "1", "--k", "3", "--data", str(clicks), "--out", str(out)]) == 0
  r = report.load_report(out)
  assert r["status"] == "complete"
  assert any(row["attack"] == "bandwagon" and row["metric"] == "target_hr" for row in r["rows"])


def test_attacks_none_with_an_attack_is_an_error(tmp_path, capsys):
  out = tmp_path / "out"
  assert main(["audit", *FAST, "bandwagon", "--out", str(out)]) == 2
  assert "'none' runs no attack and cannot be combined" in capsys.readouterr().err
  assert not out.exists()


def test_split_notes_are_shown(tmp_path, capsys):
  train = _write(tmp_path / "train.tsv", _toy_lines())
  test = _write(tmp_path / "test.tsv", ["100\t500\t5\t9", "199\t501\t5\t9", "101\t599\t4\t9"])
  out = tmp_path / "out"
  assert main(["audit", *FAST, "--train", str(train), "--test", str(test), "--k", "3",
               "--out", str(out)]) == 0
  printed = capsys.readouterr().out
  assert "1 test users have no training interaction" in printed
  assert "1 test items never occur in training" in printed
  assert "1 test pairs also occur in training" in printed
  assert "1 test pairs also occur in training" in (out / "report.md").read_text()
  assert report.load_report(out)["config"]["split"] == "predefined"


def test_download_failure_is_a_clear_error(monkeypatch, capsys, tmp_path):
  import pooch

  def offline(*args, **kwargs):
    raise ConnectionError("no network")

  monkeypatch.setattr(pooch, "retrieve", offline)
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
  assert main(["stats", "--dataset", "ml-100k"]) == 2
  err = capsys.readouterr().err
  assert "could not download ml-100k" in err and "--dataset ml-100k --data PATH" in err


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
  with pytest.raises(ValueError, match=r"k must be an integer >= 1, got 0"):
    audit.AuditConfig(ks=(0,))
  with pytest.raises(ValueError, match="ks must name at least one cut-off"):
    audit.AuditConfig(ks=())
  with pytest.raises(ValueError, match="attack must be one of"):
    audit.AuditConfig(attacks=("shilling",))


def test_attack_section(tmp_path, capsys):
  out = tmp_path / "out"
  args = ["audit", "--epochs", "3", "--dim", "8", "--no-progress", "--k", "10",
          "--attacks", "random", "love_hate", "--budgets", "0.01", "30", "--targets", "2",
          "--filler-size", "12", "--out", str(out)]
  assert main(args) == 0
  printed = capsys.readouterr().out
  assert "all tables, per target, with a legend" in printed
  r = report.load_report(out)
  rows = r["rows"]
  attacks = {(row["attack"], row["budget"]) for row in rows}
  assert {("random", 0.01), ("random", 30), ("love_hate", 0.01), ("love_hate", 30)} <= attacks
  targets = {row["target"] for row in rows if row.get("target") is not None}
  assert len(targets) == 2
  def value(**kw):
    hit = [row["value"] for row in rows if all(row.get(k) == v for k, v in kw.items())]
    assert len(hit) == 1, (kw, hit)
    return hit[0]
  for attack in ("random", "love_hate"):
    for budget, n in ((0.01, 21), (30, 30)):
      shift = value(attack=attack, budget=budget, metric="prediction_shift", target=None)
      assert isinstance(shift, float)
      prec = value(attack=attack, budget=budget, metric="detection_precision",
                   defense="pca-detector")
      assert 0.0 <= prec <= 1.0
      assert value(attack=attack, budget=budget, metric="random_flagger_precision",
                   defense="pca-detector") == pytest.approx(n / (2059 + n))
      assert value(attack=attack, budget=budget, metric="delta_ndcg", k=10) == pytest.approx(
          value(attack=attack, budget=budget, metric="ndcg", k=10)
          - value(attack="none", model="bpr-mf", metric="ndcg", k=10, defense="none"), abs=1e-9)
  clean_hr = value(attack="none", metric="target_hr", k=10, target=None)
  assert 0.0 <= clean_hr <= 1.0


def test_attack_options_are_validated_before_training(tmp_path, capsys):
  out = ["--out", str(tmp_path / "out")]
  # attack names are argparse choices: exit status 2 (SystemExit from main) before training
  with pytest.raises(SystemExit) as exit_info:
    main(["audit", *FAST[:-2], *out, "--attacks", "shilling"])
  assert exit_info.value.code == 2
  assert "invalid choice: 'shilling'" in capsys.readouterr().err
  assert main(["audit", *FAST[:-2], *out, "--budgets", "0"]) == 2
  assert "budget" in capsys.readouterr().err
  assert main(["audit", *FAST[:-2], *out, "--target-ids", "999999999"]) == 2
  assert "not in the dataset" in capsys.readouterr().err
  assert main(["audit", *FAST[:-2], *out, "--budgets", "5000"]) == 2
  assert "fake users" in capsys.readouterr().err
  assert main(["audit", *FAST[:-2], *out, "--filler-size", "5000"]) == 2
  assert "filler" in capsys.readouterr().err
  assert main(["audit", *FAST[:-2], *out, "--filler-size", "1094"]) == 2  # 1094 + 5 targets
  assert "whole catalogue" in capsys.readouterr().err
  assert main(["audit", *FAST[:-2], *out, "--budgets", "0.0001", "1"]) == 2
  assert "both mean 1 fake users" in capsys.readouterr().err
  assert main(["audit", *FAST[:-2], *out, "--attacks", "reverse_bandwagon"]) == 2
  assert "--threshold" in capsys.readouterr().err
  assert main(["audit", *FAST[:-2], *out, "--target-ids", "6", "6"]) == 2
  assert "repeat" in capsys.readouterr().err
  assert not (tmp_path / "out").exists()


def test_apr_section(tmp_path):
  out = tmp_path / "out"
  assert main(["audit", *FAST, "--epochs", "4", "--k", "10", "--defense", "apr", "--apr-eps",
               "0.1", "1.0", "--apr-lambda", "1.0", "--robustness-eps", "0.5", "--pgd-num-steps",
               "3", "--out", str(out)]) == 0
  r = report.load_report(out)
  assert (out / "apr.png").stat().st_size > 10_000
  grid = [row for row in r["rows"] if "eps" in row]
  settings = {(row["defense"], row["eps"], row["lambda"]) for row in grid}
  assert settings == {("none", 0.0, 0.0), ("apr", 0.1, 1.0), ("apr", 1.0, 1.0)}

  def value(**kw):
    hit = [row["value"] for row in grid if all(row.get(k) == v for k, v in kw.items())]
    assert len(hit) == 1, kw
    return hit[0]

  for e, l in ((0.0, 0.0), (0.1, 1.0), (1.0, 1.0)):
    for metric in ("hr", "ndcg", "coverage", "gini", "arp", "aplt", "novelty"):
      assert value(eps=e, **{"lambda": l}, attack="none", metric=metric, k=10) >= 0
    for attack in ("fgsm", "pgd"):
      clean = value(eps=e, **{"lambda": l}, attack="none", metric="hr", k=10)
      hit = value(eps=e, **{"lambda": l}, attack=attack, budget=0.5, metric="hr", k=10)
      drop = value(eps=e, **{"lambda": l}, attack=attack, budget=0.5, metric="hr_drop", k=10)
      assert drop == pytest.approx((clean - hit) / clean if clean else 0.0)
  assert r["config"]["defense"] == ["apr"] and r["config"]["apr_eps"] == [0.1, 1.0]


def test_apr_options_are_validated(capsys):
  assert main(["audit", *FAST, "--defense", "apr", "--apr-eps", "-1"]) == 2
  assert "apr_eps" in capsys.readouterr().err
  assert main(["audit", *FAST, "--defense", "apr", "--apr-pretrain-epochs", "5"]) == 2
  assert "apr_pretrain_epochs" in capsys.readouterr().err


def test_model_option(tmp_path, capsys):
  """--model trains another victim with its own recipe; EASE is deterministic, so its report
  repeats exactly, and it is far more accurate than 2 epochs of BPR-MF."""
  out = tmp_path / "ease"
  assert main(["audit", "--model", "ease", "--no-progress", "--attacks", "none", "--k", "10",
               "--out", str(out)]) == 0
  r = report.load_report(out)
  assert r["config"]["model"] == "ease" and r["config"]["reg"] == 500.0
  assert r["config"]["epochs"] == 0 and r["config"]["lr"] is None
  hr = {row["model"]: row["value"] for row in r["rows"] if row["metric"] == "hr"}
  assert set(hr) == {"ease", "most-pop"} and hr["ease"] > hr["most-pop"]
  assert main(["audit", "--model", "ease", "--lr", "0.1", "--attacks", "none"]) == 2
  assert "has no lr setting" in capsys.readouterr().err
  assert main(["audit", "--model", "neumf", "--defense", "apr", "--attacks", "none"]) == 2
  assert "needs model 'bpr-mf'" in capsys.readouterr().err


def test_grid_command_errors(tmp_path, capsys):
  """``jaxrec grid``: a missing or invalid config stops with status 2 before anything is
  written; ``--out`` is required."""
  out = tmp_path / "out"
  assert main(["grid", str(tmp_path / "none.toml"), "--out", str(out)]) == 2
  assert "none.toml not found" in capsys.readouterr().err
  bad = tmp_path / "bad.toml"
  bad.write_text('attacks = ["random"]\nbudgets = [0.01, 2.5]\n')
  assert main(["grid", str(bad), "--out", str(out)]) == 2
  err = capsys.readouterr().err
  assert err.startswith("jaxrec grid: error: ") and str(bad) in err and "(0, 1)" in err
  assert not out.exists()
  with pytest.raises(SystemExit) as e:
    main(["grid", str(bad)])
  assert e.value.code == 2
  assert "--out" in capsys.readouterr().err


@pytest.mark.parametrize("extra,message", [
    (["--devices", "0"], "--devices must be at least 1, got 0"),
    (["--devices", "two"], "--devices must be 'all' or a whole number, got 'two'"),
    (["--devices", "3"], "needs 3 devices, there are 1"),
    (["--coordinator", "127.0.0.1:1234"], "--coordinator, --num-processes and --process-id go "
                                          "together"),
])
def test_grid_device_options_are_checked(tmp_path, capsys, extra, message):
  cfg = tmp_path / "g.toml"
  cfg.write_text('attacks = ["random"]\n')
  out = tmp_path / "out"
  assert main(["grid", str(cfg), "--out", str(out), "--no-compile-cache", *extra]) == 2
  assert message in capsys.readouterr().err
  assert not out.exists()


def test_grid_refuses_a_folder_that_is_not_a_store(tmp_path, capsys):
  """`jaxrec grid --out` on another command's non-empty folder: exit 2, nothing replaced."""
  out = tmp_path / "audit"
  out.mkdir()
  (out / "report.json").write_text('{"schema": 1, "note": "mine"}')
  (out / "report.md").write_text("notes")
  config = tmp_path / "grid.toml"
  config.write_text('model = "ease"\nattacks = ["random"]\nbudgets = [5]\nnum_targets = 1\n'
                    "seeds = [0]\n")
  assert main(["grid", str(config), "--out", str(out), "--no-progress"]) == 2
  err = capsys.readouterr().err
  assert "jaxrec grid: error:" in err and "not a results store" in err
  assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.md"]
  assert (out / "report.json").read_text() == '{"schema": 1, "note": "mine"}'


def test_grid_devices_must_reach_every_process(tmp_path, monkeypatch, capsys):
  """Under several processes, --devices N that leaves a process without a device is refused
  (exit 2) instead of crashing that process later."""
  import jax

  class Dev:
    def __init__(self, process_index):
      self.process_index = process_index

  fake = [Dev(0), Dev(0), Dev(1), Dev(1)]  # 2 processes x 2 devices
  monkeypatch.setattr(jax, "process_count", lambda: 2)
  monkeypatch.setattr(jax, "devices", lambda *a: fake)
  monkeypatch.setattr(jax, "device_count", lambda *a: 4)
  config = tmp_path / "grid.toml"
  config.write_text('model = "ease"\nattacks = ["random"]\nbudgets = [5]\nnum_targets = 1\n'
                    "seeds = [0]\n")
  out = tmp_path / "out"
  assert main(["grid", str(config), "--out", str(out), "--devices", "2", "--no-progress"]) == 2
  err = capsys.readouterr().err
  assert ("--devices 2 takes the first 2 of the 4 devices of 2 processes, which leaves "
          "process(es) [1] without a device: give --devices 3 or more, or 'all'") in err
  assert not out.exists()
