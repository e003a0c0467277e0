"""The audit's verdict: summary first, legend, warnings, key tables and ``--fail-on``."""

import math
import random

import pytest

from jaxrec import audit, report
from jaxrec.audit._summary import key_table
from jaxrec.cli import main


def _row(metric, value, k=10, **keys):
  return report.make_row(metric=metric, value=value, k=k, **{"model": "bpr-mf", **keys})


def _audit_rows(*, model_ndcg=0.07, pop_ndcg=0.04, attacks=None):
  """Rows shaped like ``jaxrec audit``'s: clean model, most-popular, clean target HR per target
  and averaged, and per (attack, budget) the attacked target HR, nDCG and detection."""
  rows = [_row("ndcg", pop_ndcg, model="most-pop"), _row("hr", 0.08, model="most-pop"),
          _row("ndcg", model_ndcg), _row("hr", 0.14), _row("coverage", 0.36), _row("arp", 257.0),
          _row("users", 100.0, k=None),
          _row("target_hr", 0.0, target=7), _row("target_hr", 0.002, target=9),
          _row("target_hr", 0.001, target=None)]
  for name, budget, after, recall in attacks or []:
    keys = dict(attack=name, budget=budget, num_fake=21)
    rows += [_row("target_hr", after, target=None, **keys), _row("ndcg", model_ndcg * 0.99, **keys),
             _row("delta_ndcg", -0.01 * model_ndcg, **keys)]
    rows += [_row("detection_recall", recall, k=None, defense="pca-detector", **keys),
             _row("detection_recall", recall / 2, k=None, defense="profile-detector", **keys)]
  return rows


def test_attacks_ranked_by_the_attackers_gain_with_hand_computed_quantities():
  rows = _audit_rows(attacks=[("random", 0.01, 0.002, 0.5), ("bandwagon", 0.05, 0.031, 0.4),
                              ("love_hate", 0.05, 0.0, 0.9)])
  s = audit.summarize(rows, model="bpr-mf", dataset="toy", ks=(10, 50))
  attacks = [f for f in s.findings if f.surface == "attack"]
  # gains: bandwagon 0.031 - 0.001 = 0.030, love_hate (nuke) 0.001 - 0 = 0.001, random 0.001
  assert [f.label for f in attacks] == ["bandwagon 5%", "random 1%", "love_hate 5%"]
  q = attacks[0].quantities
  assert q["target_hr_lift"] == pytest.approx(31.0)
  assert q["target_hr_gain"] == pytest.approx(0.030)
  assert q["detected"] == 0.4  # the best detector's recall
  assert q["ndcg_change_pct"] == pytest.approx(-1.0)
  assert attacks[2].quantities["target_hr_gain"] == pytest.approx(0.001)  # nuke: before - after
  assert "raises the targets' HR@10 from 0.001 to 0.031 (31x)" in attacks[0].text
  assert "detectors flag 40% of the fakes (best: pca-detector)" in attacks[0].text
  model = s.findings[0]
  assert model.surface == "model" and model.quantities["ndcg_vs_popularity"] == pytest.approx(1.75)
  assert s.lines[0] == "## Summary: bpr-mf on toy" and len(s.lines) <= 40
  assert "over 100 test users" in s.lines[2]


def test_warnings():
  rows = _audit_rows(model_ndcg=0.03, pop_ndcg=0.04,
                     attacks=[("random", 0.01, 0.0005, 0.5), ("average", 0.01, 0.0005, 0.5),
                              ("love_hate", 0.01, 0.004, 0.5)])
  s = audit.summarize(rows, model="bpr-mf", dataset="toy", ks=(10,), epochs=0,
                      attacks=("random", "average", "love_hate"))
  text = "\n".join(s.warnings)
  assert "was not trained (0 epochs)" in text
  assert "below the most-popular baseline (nDCG@10 0.03 vs 0.04)" in text
  assert "random at 1% moved the targets' HR@10 the wrong way for a push" in text
  assert "love_hate at 1% moved the targets' HR@10 the wrong way for a nuke" in text
  assert "love_hate: 1 of 2 targets are in no user's top 10 before the attack" in text
  assert "random and average gave identical results (without a threshold" in text
  assert len(s.warnings) == 7 and "  ! ... 1 more" in s.lines  # six shown, all in report.md
  healthy = audit.summarize(_audit_rows(attacks=[("random", 0.01, 0.01, 0.5)]), model="bpr-mf",
                            dataset="toy", ks=(10,), epochs=200, attacks=("random",))
  assert healthy.warnings == []


def test_fail_on_conditions():
  rows = _audit_rows(attacks=[("bandwagon", 0.05, 0.031, 0.4)])
  conds = [audit.parse_condition(c) for c in ("target_hr_lift>30", "detected >= 0.5",
                                              "ndcg_vs_popularity<1")]
  s = audit.summarize(rows, model="bpr-mf", dataset="toy", ks=(10,), fail_on=conds)
  assert [(str(c), where) for c, where in s.failed] == [("target_hr_lift>30", ["bandwagon 5%"])]
  assert s.lines[-1] == "- verdict: FAIL: target_hr_lift>30 holds for bandwagon 5%"
  s = audit.summarize(rows, model="bpr-mf", dataset="toy", ks=(10,), fail_on=conds[1:])
  assert s.failed == [] and s.lines[-1].startswith("- verdict: PASS")
  zero_before = [r for r in rows if not (r["metric"] == "target_hr" and r["attack"] == "none"
                                         and r["target"] is None)]
  zero_before.append(_row("target_hr", 0.0, target=None))
  s = audit.summarize(zero_before, model="bpr-mf", dataset="toy", ks=(10,), fail_on=conds[:1])
  assert math.isinf(s.findings[1].quantities["target_hr_lift"]) and s.failed


@pytest.mark.parametrize("text, message", [
    ("lift>5", "unknown quantity 'lift'"), ("target_hr_lift=>5", "expected NAME OP NUMBER"),
    ("target_hr_lift>", "expected NAME OP NUMBER"), ("target_hr_lift>1e", "is not a number")])
def test_bad_fail_on(text, message):
  with pytest.raises(ValueError, match=message):
    audit.parse_condition(text)


def test_legend_and_groups_in_markdown():
  rows = _audit_rows(attacks=[("bandwagon", 0.05, 0.031, 0.4)])
  md = report.to_markdown(report.build_report(dataset={"name": "toy"}, config={}, rows=rows))
  titles = [line for line in md.splitlines() if line.startswith("## ")]
  assert titles == ["## Accuracy", "## Beyond-accuracy", "## Target exposure",
                    "## Attack side effects", "## Detection", "## Legend"]
  assert ("| delta_ndcg | change of ndcg against the clean model (attacked - clean) | 0-1 "
          "difference | closer to 0 (ndcg: higher) | docs/metrics.md |") in md
  assert "| target_hr | share of eligible real users" in md
  assert report.describe("hr_drop").better == "lower (more robust)"
  assert report.describe("no_such_metric") is None
  table = key_table(rows, model="bpr-mf", ks=(10,))
  assert table[2] == "| most-pop | 0.08 | 0.04 | - | - |"
  assert "| bandwagon | 5% | 0.031 | 0.0693 | -0.0007 | 40% |" in table


def test_report_rejects_a_summary_that_is_not_lines():
  r = report.build_report(dataset={"name": "toy"}, config={}, rows=[])
  r["summary"] = "one string"
  with pytest.raises(ValueError, match="'summary' must be a list of strings"):
    report.validate_report(r)


def _toy_file(path, *, num_users=40, num_items=120, per_user=15):
  rng = random.Random(0)
  lines = [f"{u}\t{1000 + i}\t{rng.randint(1, 5)}\t{100000 + 100 * u + j}"
           for u in range(num_users)
           for j, i in enumerate(rng.sample(range(num_items), per_user))]
  path.write_text("\n".join(lines) + "\n")
  return path


def test_default_audit_prints_the_summary_first_and_report_md_opens_with_it(tmp_path, capsys):
  data = _toy_file(tmp_path / "toy.tsv")
  out = tmp_path / "out"
  assert main(["audit", "--data", str(data), "--no-progress", "--out", str(out)]) == 0
  printed = capsys.readouterr().out.splitlines()
  start = printed.index("## Summary: bpr-mf on toy")
  first_table = next(n for n, line in enumerate(printed) if line.startswith("|"))
  summary = printed[start:first_table]
  assert start < first_table and len(summary) <= 40
  assert any("fake-profile attacks, most severe first:" in line for line in summary)
  assert "| model | hr@10 | ndcg@10 | coverage@10 | arp@10 |" in printed  # the key tables only
  assert not any(line.startswith("| bpr-mf | none | none |") for line in printed)
  r = report.load_report(out)
  assert printed[start:start + len(r["summary"])] == r["summary"]
  assert r["config"]["attacks"] == ["random", "bandwagon"]  # average = random here
  assert any("omit average" in note for note in r["dataset"]["notes"])
  md = (out / "report.md").read_text().splitlines()
  assert md[2:2 + len(r["summary"])] == r["summary"]
  assert "## Legend" in md and md.index("## Legend") > md.index("## Target exposure")


def test_fail_on_sets_the_exit_status_and_verbose_prints_every_table(tmp_path, capsys):
  data = _toy_file(tmp_path / "toy.tsv")
  fast = ["audit", "--data", str(data), "--epochs", "2", "--dim", "8", "--no-progress",
          "--attacks", "none", "--k", "5"]
  assert main([*fast, "--fail-on", "ndcg>=0", "--out", str(tmp_path / "a")]) == 3
  printed = capsys.readouterr().out
  assert "- verdict: FAIL: ndcg>=0 holds for bpr-mf" in printed
  assert report.load_report(tmp_path / "a")["verdict"] == {"fail_on": ["ndcg>=0"],
                                                          "failed": ["ndcg>=0"]}
  assert main([*fast, "--fail-on", "ndcg<0", "ndcg_vs_popularity<0", "--verbose", "--out",
               str(tmp_path / "b")]) == 0
  printed = capsys.readouterr().out
  assert "- verdict: PASS" in printed and "| bpr-mf | none | none | mrr |" in printed
  # repeated options add up; a quantity this run cannot compute fails closed
  assert main([*fast, "--fail-on", "ndcg>0", "--fail-on", "ndcg<0", "--out",
               str(tmp_path / "d")]) == 3
  assert main([*fast, "--fail-on", "detected<0.5", "--out", str(tmp_path / "e")]) == 3
  assert "detected<0.5 holds for nothing: no finding has detected" in capsys.readouterr().out
  assert main([*fast, "--fail-on", "lift>5", "--out", str(tmp_path / "c")]) == 2
  assert "unknown quantity 'lift'" in capsys.readouterr().err
  assert not (tmp_path / "c").exists()


def test_apr_finding_picks_the_most_robust_setting_and_reports_its_side_effects():
  rows = _audit_rows()
  for eps, lam, hr, drop, arp in ((0.0, 0.0, 0.15, 0.6, 300.0), (0.1, 0.1, 0.16, 0.5, 330.0),
                                  (1.0, 1.0, 0.14, -0.05, 450.0)):
    keys = dict(defense="apr" if lam else "none", eps=eps, **{"lambda": lam})
    rows += [_row("hr", hr, **keys), _row("coverage", 0.5, **keys), _row("arp", arp, **keys),
             _row("hr_drop", drop, attack="pgd", budget=1.0, **keys),
             _row("hr_drop", drop / 2, attack="pgd", budget=0.5, **keys)]
  s = audit.summarize(rows, model="bpr-mf", dataset="toy", ks=(10,),
                      fail_on=[audit.parse_condition("pgd_hr_drop>0.5")])
  apr = next(f for f in s.findings if f.surface == "defense")
  assert apr.label == "apr eps 1 lambda 1"  # the smallest drop at the largest PGD eps
  assert apr.quantities == {"apr_pgd_hr_drop": -0.05, "apr_arp_change_pct": 50.0}
  assert ("the most robust of 2 settings): PGD eps 1 gains 5% of HR@10 (BPR: costs 60%); "
          "clean HR@10 0.14 vs 0.15") in apr.text and "(+50% popularity bias)" in apr.text
  assert [(str(c), w) for c, w in s.failed] == [("pgd_hr_drop>0.5", ["bpr-mf under PGD"])]
