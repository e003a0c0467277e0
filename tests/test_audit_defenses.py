"""``jaxrec audit --defense NAME...``: the defense benchmark on the bundled dataset."""

import json

import pytest

from jaxrec import report
from jaxrec.audit._output import rerun_settings
from jaxrec.audit._summary import summarize
from jaxrec.cli import main

TINY = ["--epochs", "3", "--dim", "8", "--no-progress", "--k", "10", "--budgets", "0.01",
        "--targets", "2", "--attacks", "random"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
  out = tmp_path_factory.mktemp("defenses") / "out"
  assert main(["audit", *TINY, "--defense", "vat", "detect", "pore", "--out", str(out)]) == 0
  return out, report.load_report(out)


def test_every_defense_has_clean_and_attacked_rows(bench):
  _, r = bench
  rows = [x for x in r["rows"] if x.get("section") == "defenses"]
  assert r["config"]["defense"] == ["vat", "detect", "pore"] and r["config"]["num_seeds"] == 1
  for d in ("none", "vat", "detect", "pore"):
    for attack in ("none", "random"):
      got = {x["metric"] for x in rows if x["defense"] == d and x["attack"] == attack}
      assert {"target_hr", "target_ndcg", "hr", "ndcg", "coverage", "arp"} <= got, (d, attack)
      hr = [x["value"] for x in rows if x["defense"] == d and x["attack"] == attack
            and x["metric"] == "target_hr"]
      assert len(hr) == 1 and 0.0 <= hr[0] <= 1.0  # one seed, one budget, k = 10
  # detect: 21 fake users (1% of 2059) injected, as many users flagged after the attack
  flagged = {x["metric"]: x["value"] for x in rows if x["defense"] == "detect"
             and x["attack"] == "random" and x["metric"].startswith("flagged")}
  assert flagged["flagged_fake"] + flagged["flagged_real"] == 21
  clean_flagged = [x["value"] for x in rows if x["defense"] == "detect"
                   and x["attack"] == "none" and x["metric"] == "flagged_real"]
  assert clean_flagged == [21.0]  # on clean data every flagged user is real
  certified = [x for x in rows if x["metric"] == "certified_precision"]
  assert len(certified) == 1 and certified[0]["defense"] == "pore"
  assert certified[0]["num_fake"] == 21 and 0.0 <= certified[0]["value"] <= 1.0
  # the benchmark's rows do not disturb the clean model's summary line
  assert any(line.startswith("- model: bpr-mf nDCG@10") for line in r["summary"])


def test_summary_states_each_defense_against_no_defense(bench):
  _, r = bench
  lines = [line for line in r["summary"] if line.startswith("- defense ")]
  assert [line.split(":")[0] for line in lines] == ["- defense vat", "- defense detect",
                                                     "- defense pore"]
  for line in lines:
    assert "undefended" in line and "ARP@10" in line
    assert "lower under all 1 attacks" in line or "NOT lower under random" in line
  # recomputed from the rows (the summary is a function of the report)
  again = summarize(r["rows"], model="bpr-mf", dataset=r["dataset"]["name"], ks=(10,))
  assert [f for f in again.lines if f.startswith("- defense ")] == lines
  q = {f.label: f.quantities for f in again.findings if f.surface == "defense"}
  none_hr = [x["value"] for x in r["rows"] if x.get("section") == "defenses"
             and x["defense"] == "none" and x["attack"] == "random" and x["metric"] == "target_hr"]
  vat_hr = [x["value"] for x in r["rows"] if x.get("section") == "defenses"
            and x["defense"] == "vat" and x["attack"] == "random" and x["metric"] == "target_hr"]
  if none_hr[0] > 0:
    assert q["vat (benchmark)"]["defense_target_hr_change_pct"] == pytest.approx(
        100 * (vat_hr[0] - none_hr[0]) / none_hr[0])


def test_config_rerun_keeps_the_defenses(bench):
  out, _ = bench
  config, _ = rerun_settings(json.loads((out / "report.json").read_text()))
  assert config.defense == ("vat", "detect", "pore") and config.num_seeds == 1
  # a report of an older jaxrec recorded one name
  old = json.loads((out / "report.json").read_text())
  old["config"]["defense"] = "apr"
  del old["config"]["num_seeds"]
  assert rerun_settings(old)[0].defense == ("apr",)


def test_bad_defense_combinations_are_refused(capsys):
  assert main(["audit", *TINY, "--defense", "none", "vat"]) == 2
  assert "cannot be combined" in capsys.readouterr().err
  assert main(["audit", *TINY, "--defense", "vat", "vat"]) == 2
  assert "repeats" in capsys.readouterr().err
  assert main(["audit", "--model", "ease", "--attacks", "random", "--defense", "pamacf"]) == 2
  assert "needs model 'bpr-mf'" in capsys.readouterr().err
  assert main(["audit", "--model", "ease", "--attacks", "random", "--defense", "sharpcf"]) == 2
  assert "closed-form" in capsys.readouterr().err
  assert main(["audit", *TINY, "--defense", "vat", "--num-seeds", "0"]) == 2
  assert "num_seeds" in capsys.readouterr().err
  assert main(["audit", "--attacks", "none", "--defense", "pore"]) == 2
  assert "measured against attacks" in capsys.readouterr().err
  assert main(["audit", *TINY, "--num-seeds", "2"]) == 2
  assert "name the defenses to compare" in capsys.readouterr().err
