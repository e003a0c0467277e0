"""Sub-dataset sampling, the robustness study and its regression (issue 15)."""

import json

import numpy as np
import pytest

from jaxrec import data, report, robustness
from jaxrec.attacks import poisoning
from jaxrec.cli import main


def _source(num_users=60, num_items=40, per_user=10, seed=0):
  rng = np.random.default_rng(seed)
  users = np.repeat(np.arange(num_users), per_user)
  items = np.concatenate([rng.choice(num_items, per_user, replace=False)
                          for _ in range(num_users)])
  return data.from_arrays(users, items, num_users=num_users, num_items=num_items,
                          ratings=rng.integers(1, 6, users.size).astype(float))


# ---------------------------------------------------------------------------------------------
# the sampler


def test_subsample_keeps_exact_id_spaces_and_only_source_rows():
  src = _source()
  sub = data.subsample(src, num_users=30, num_items=20, keep=0.5, seed=3)
  x = sub.interactions
  assert (x.num_users, x.num_items) == (30, 20)
  assert sub.users.shape == (30,) and sub.items.shape == (20,)
  assert np.all(np.diff(sub.users) > 0) and np.all(np.diff(sub.items) > 0)
  pairs = set(zip(np.asarray(src.users).tolist(), np.asarray(src.items).tolist()))
  back = set(zip(sub.users[np.asarray(x.users)].tolist(), sub.items[np.asarray(x.items)].tolist()))
  assert back <= pairs  # every sub-dataset row is a source row
  kept_before = sum(1 for u, i in pairs if u in set(sub.users) and i in set(sub.items))
  assert len(x) == round(0.5 * kept_before)
  # ratings travel with their rows
  lookup = {(u, i): r for u, i, r in zip(np.asarray(src.users), np.asarray(src.items),
                                         np.asarray(src.ratings))}
  for u, i, r in zip(sub.users[np.asarray(x.users)], sub.items[np.asarray(x.items)],
                     np.asarray(x.ratings)):
    assert lookup[(u, i)] == r


def test_subsample_is_seeded():
  src = _source()
  a = data.subsample(src, num_users=30, num_items=20, keep=0.7, seed=1)
  b = data.subsample(src, num_users=30, num_items=20, keep=0.7, seed=1)
  c = data.subsample(src, num_users=30, num_items=20, keep=0.7, seed=2)
  np.testing.assert_array_equal(a.users, b.users)
  np.testing.assert_array_equal(np.asarray(a.interactions.items), np.asarray(b.interactions.items))
  assert not np.array_equal(a.users, c.users)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_users=0, num_items=5), "num_users"), (dict(num_users=61, num_items=5), "num_users"),
    (dict(num_users=5, num_items=41), "num_items"),
    (dict(num_users=5, num_items=5, keep=0.0), "keep"),
    (dict(num_users=5, num_items=5, keep=1.5), "keep"),
    (dict(num_users=5, num_items=5, seed=-1), "seed")])
def test_subsample_rejects(kwargs, match):
  with pytest.raises(ValueError, match=match):
    data.subsample(_source(), **kwargs)


def test_sample_subdatasets_cycles_the_shape_grid_and_varies_density():
  src = _source()
  samples = data.sample_subdatasets(src, 8, seed=4, user_fractions=(0.5, 1.0),
                                    item_fractions=(0.5, 1.0), keep=(0.3, 0.9))
  shapes = [(s.interactions.num_users, s.interactions.num_items) for s in samples]
  assert shapes == [(30, 20), (30, 40), (60, 20), (60, 40)] * 2
  assert all(0.3 <= s.keep <= 0.9 for s in samples)
  stats = [data.characteristics(s.interactions) for s in samples]
  assert len({round(c["shape"], 6) for c in stats}) == 3  # 1.5, 0.75, 3.0
  assert np.std([c["density"] for c in stats]) > 0.01
  # sample s does not depend on how many are drawn
  again = data.sample_subdatasets(src, 3, seed=4, user_fractions=(0.5, 1.0),
                                  item_fractions=(0.5, 1.0), keep=(0.3, 0.9))
  for a, b in zip(samples, again):
    assert a.seed == b.seed and a.keep == b.keep
    np.testing.assert_array_equal(np.asarray(a.interactions.users),
                                  np.asarray(b.interactions.users))
  with pytest.raises(ValueError, match="keep"):
    data.sample_subdatasets(src, 2, keep=(0.9, 0.3))
  with pytest.raises(ValueError, match="user_fractions"):
    data.sample_subdatasets(src, 2, user_fractions=(0.0,))


# ---------------------------------------------------------------------------------------------
# the regression


def test_fit_ols_recovers_known_coefficients():
  rng = np.random.default_rng(0)
  n = 400
  x1, x2, x3 = rng.normal(0, 2, n), rng.uniform(0, 1, n), rng.normal(5, 1, n)
  y = 1.0 + 0.75 * x1 - 2.0 * x2 + 0.0 * x3 + rng.normal(0, 0.1, n)
  table = {"y": y, "x1": x1, "x2": x2, "x3": x3}
  raw = robustness.fit_ols(table, "y", ["x1", "x2", "x3"], standardize=False)
  assert raw.coefficient("x1").estimate == pytest.approx(0.75, abs=0.01)
  assert raw.coefficient("x2").estimate == pytest.approx(-2.0, abs=0.05)
  assert raw.coefficient("x3").estimate == pytest.approx(0.0, abs=0.02)
  assert raw.coefficient("const").estimate == pytest.approx(1.0, abs=0.1)
  assert raw.coefficient("x1").p_value < 1e-10 and raw.coefficient("x2").p_value < 1e-10
  assert raw.coefficient("x3").p_value > 0.05  # a zero coefficient is not significant
  assert raw.r_squared > 0.99 and raw.num_obs == n
  c = raw.coefficient("x1")
  assert c.t == pytest.approx(c.estimate / c.std_error)
  assert c.ci_low < c.estimate < c.ci_high
  # standardised: the coefficient per standard deviation, same t and p
  std = robustness.fit_ols(table, "y", ["x1", "x2", "x3"])
  s1 = std.coefficient("x1")
  assert s1.estimate == pytest.approx(c.estimate * np.std(x1, ddof=1), rel=1e-9)
  assert s1.p_value == pytest.approx(c.p_value, rel=1e-6, abs=1e-300)
  assert std.coefficient("const").estimate == pytest.approx(np.mean(y), rel=1e-9)
  assert std.stds["x2"] == pytest.approx(np.std(x2, ddof=1))


def test_fit_ols_rejects():
  table = {"y": [1.0, 2.0, 3.0, 5.0, 4.0], "a": [1.0, 2.0, 3.0, 4.0, 6.0], "c": [1.0] * 5}
  with pytest.raises(ValueError, match="'c' is constant"):
    robustness.fit_ols(table, "y", ["a", "c"])
  with pytest.raises(ValueError, match="'z' is not in the table"):
    robustness.fit_ols(table, "y", ["z"])
  with pytest.raises(ValueError, match="number of observations"):
    robustness.fit_ols({k: v[:2] for k, v in table.items()}, "y", ["a"])
  with pytest.raises(ValueError, match="finite"):
    robustness.fit_ols({**table, "a": [1.0, np.nan, 3.0, 4.0, 6.0]}, "y", ["a"])
  with pytest.raises(ValueError, match="at least one predictor"):
    robustness.fit_ols(table, "y", [])
  twice = {**table, "b": [2.0, 4.0, 6.0, 8.0, 12.0]}  # b = 2 a
  with pytest.raises(ValueError, match="collinear"):
    robustness.fit_ols(twice, "y", ["a", "b"])


def test_verdict_states_sign_and_significance_against_the_intuition():
  rng = np.random.default_rng(1)
  n = 200
  shape, density = rng.normal(size=n), rng.normal(size=n)
  y = 0.5 * shape + 0.5 * density + rng.normal(0, 0.1, n)  # density "wrong" way
  fit = robustness.fit_ols({"delta_target_hr": y, "log_shape": shape, "log_density": density},
                           "delta_target_hr", ["log_shape", "log_density"])
  lines = robustness.verdict({"bandwagon": fit})
  text = "\n".join(lines)
  shape_c, density_c = fit.coefficient("log_shape"), fit.coefficient("log_density")
  assert shape_c.estimate > 0.4 and density_c.estimate > 0.4
  assert f"log_shape: {shape_c.estimate:+.3g} per SD" in text
  assert "positive; significant, agrees with the intuition that a small catalogue" in text
  assert "positive; significant, contradicts the intuition that a denser matrix" in text
  noise = robustness.fit_ols({"delta_target_hr": rng.normal(size=n), "log_shape": shape,
                              "log_density": density},
                             "delta_target_hr", ["log_shape", "log_density"])
  assert "not significant" in "\n".join(robustness.verdict({"x": noise}))


# ---------------------------------------------------------------------------------------------
# attacking sub-datasets


def test_attack_subdatasets_vmapped_equals_looped_and_push_raises_scores():
  from jaxrec import audit
  samples = data.sample_subdatasets(_source(), 4, seed=0, user_fractions=(1.0,),
                                    item_fractions=(0.8, 1.0), keep=(0.6, 1.0))
  victim = audit.make_victim("bpr-mf", dim=8, epochs=5, batch_size=64)
  attack = robustness.heuristic_attack(poisoning.bandwagon_attack, num_selected=1)
  timings = {}
  vec = robustness.attack_subdatasets(samples, attack, victim=victim, budget=6, num_targets=2,
                                      ks=(5, 10), timings=timings)
  loop = robustness.attack_subdatasets(samples, attack, victim=victim, budget=6, num_targets=2,
                                       ks=(5, 10), vectorize=False)
  assert timings["programs"] == 2  # one program per shape (two item counts)
  for a, b in zip(vec, loop):
    np.testing.assert_array_equal(a.targets, b.targets)
    for k in (5, 10):
      assert a.target_hr_after[k] == pytest.approx(b.target_hr_after[k], abs=1e-6)
      assert a.delta_target_hr[k] == pytest.approx(a.target_hr_after[k] - a.target_hr_before[k])
    assert a.prediction_shift == pytest.approx(b.prediction_shift, abs=1e-5)
  assert all(r.num_fake == 6 for r in vec)
  assert np.mean([r.prediction_shift for r in vec]) > 0  # a push raises the targets' scores
  table = robustness.study_table(vec, k=10)
  assert table["delta_target_hr"].shape == (4,)
  assert {"log_shape", "log_density", "gini_item", "rating_std"} <= set(table)


def test_characteristics_cli_writes_the_report_and_figure(tmp_path, capsys):
  out = tmp_path / "study"
  code = main(["characteristics", "--samples", "9", "--epochs", "2", "--dim", "8",
               "--user-fractions", "0.3", "0.4", "--item-fractions", "0.3", "0.5", "--no-progress",
               "--out", str(out)])
  assert code == 0
  r = report.load_report(out)
  assert r["status"] == "complete" and r["config"]["num_samples"] == 9
  terms = {row["term"] for row in r["rows"] if row["metric"] == "ols_estimate"}
  assert terms == {"const", *robustness.STUDY_CHARACTERISTICS}
  for response in ("delta_target_hr", "prediction_shift"):
    assert any(row["metric"] == "ols_r_squared" and row["response"] == response
               for row in r["rows"])
  per_sample = [row for row in r["rows"] if row["metric"] == "delta_target_hr"]
  assert sorted(row["sample"] for row in per_sample) == list(range(9))
  md = (out / "report.md").read_text()
  assert md.index("log_shape:") < md.index("| model |")  # the verdict before the table
  assert (out / "characteristics.png").stat().st_size > 10_000
  printed = capsys.readouterr().out
  assert "log_density:" in printed
  json.dumps(r)  # plain JSON


def test_characteristics_cli_bad_arguments(tmp_path, capsys):
  assert main(["characteristics", "--samples", "7", "--out", str(tmp_path / "o")]) == 2
  assert "num_samples must be an integer >= 8" in capsys.readouterr().err
  assert main(["characteristics", "--user-fractions", "0.5", "--out", str(tmp_path / "o")]) == 2
  assert "user_fractions needs at least two distinct values" in capsys.readouterr().err
  assert main(["characteristics", "--samples", "9", "--keep", "0.9", "0.1",
               "--out", str(tmp_path / "o")]) == 2
  assert "keep" in capsys.readouterr().err
