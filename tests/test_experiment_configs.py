"""Every ``experiments/configs/*.toml`` loads into its script's config class with the study's
settings; a key the class does not know is refused, naming the file; command-line overrides
reach the config (nested fields too) and are checked like the file's values."""

import importlib.util
import sys
from pathlib import Path

import pytest

from jaxrec import audit, experiment
from jaxrec.audit import ContentSettings

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
CONFIGS = EXPERIMENTS / "configs"
# script -> (its config class, in the script or the library)
CLASSES = {
    "apr_bias": "jaxrec.audit.AuditConfig",
    "bilevel_ml100k": "BilevelConfig",
    "characteristics_ml100k": "jaxrec.robustness.StudyConfig",
    "defense_benchmark": "BenchmarkConfig",
    "generator_synthetic": "GeneratorConfig",
    "model_zoo": "ZooConfig",
    "revadv_synthetic": "RevAdvConfig",
    "visual_attacks": "VisualConfig",
}


def _script(name):
  """The script ``experiments/<name>.py`` imported by path (its folder on ``sys.path``, as when
  it runs)."""
  if name not in sys.modules:
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and type hints look the module up by name
    path = list(sys.path)
    sys.path.insert(0, str(EXPERIMENTS))  # for ``import _cli``
    try:
      spec.loader.exec_module(module)
    finally:
      sys.path[:] = path
  return sys.modules[name]


def _class(script):
  where = CLASSES[script]
  if where.startswith("jaxrec."):
    module, _, name = where.rpartition(".")
    return getattr(importlib.import_module(module), name)
  return getattr(_script(script), where)


def _script_of(path):
  """``defense_benchmark_quick.toml`` -> ``defense_benchmark``."""
  stem = path.stem
  return stem[:-len("_quick")] if stem.endswith("_quick") else stem


def _own_configs():
  return sorted(p for p in CONFIGS.glob("*.toml") if _script_of(p) in CLASSES)


def test_every_script_has_a_config_and_every_config_a_script():
  scripts = {p.stem for p in EXPERIMENTS.glob("*.py") if not p.stem.startswith("_")}
  assert set(CLASSES) <= scripts
  for script in CLASSES:
    assert (CONFIGS / f"{script}.toml").is_file(), script
  assert {_script_of(p) for p in _own_configs()} == set(CLASSES)


@pytest.mark.parametrize("path", _own_configs(), ids=lambda p: p.name)
def test_config_loads_and_unknown_key_is_refused(path, tmp_path):
  cls = _class(_script_of(path))
  config = experiment.load_config(path, cls)
  assert isinstance(config, cls)
  assert len(experiment.config_hash(config)) == 16
  bad = tmp_path / path.name
  bad.write_text("no_such_setting = 1\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
  with pytest.raises(ValueError, match=rf"{bad.name}.*unknown key\(s\) no_such_setting"):
    experiment.load_config(bad, cls)


def _load(name, variant=""):
  return experiment.load_config(CONFIGS / f"{name}{variant}.toml", _class(name))


def test_the_published_settings():
  apr = _load("apr_bias")
  assert (apr.dim, apr.epochs, apr.lr, apr.reg, apr.optimizer) == (64, 200, 0.05, 0.0, "adagrad")
  assert apr.defense == ("apr",) and apr.attacks == () and apr.apr_eps == (0.01, 0.1, 1.0)
  zoo = _load("model_zoo")
  assert zoo.models == audit.MODELS and zoo.ks == (10, 50, 100)
  study = _load("characteristics_ml100k")
  assert study.attacks == ("bandwagon", "revadv") and study.num_samples == 108
  assert (study.dim, study.epochs, study.budget) == (32, 40, 0.01)
  bilevel = _load("bilevel_ml100k")
  assert bilevel.budgets == (0.01, 0.05) and bilevel.outer_steps == 30
  assert bilevel.audit().ks == (10,) and bilevel.audit().num_targets == 5
  bench = _load("defense_benchmark")
  assert bench.dataset == "ml-1m" and bench.audit.num_seeds == 5 and bench.audit.epochs == 30
  assert bench.audit.split == "ratio" and bench.defense_settings.pore_models == 50
  assert bench.defense_settings.warmup_fraction == 1 / 6
  quick = _load("defense_benchmark", "_quick")
  assert quick.dataset == "ml-100k" and quick.audit.attacks == ("random", "bandwagon")
  assert (quick.audit.num_seeds, quick.audit.epochs) == (2, 10)
  gen = _load("generator_synthetic")
  assert (gen.gen_steps, gen.disc_weight, gen.revadv_steps) == (100, 0.3, 50) and gen.relaxed
  revadv = _load("revadv_synthetic")
  assert (revadv.outer_steps, revadv.projection, revadv.surrogate) == (50, "threshold", "lfm")
  visual = _load("visual_attacks")
  assert visual.content == ContentSettings() and visual.fmnist_users == 500
  assert _load("visual_attacks", "_quick").content.eps == (8.0,)


def test_command_line_overrides_reach_the_config_and_are_checked():
  cli = _script("_cli")
  bench = _script("defense_benchmark")
  p = cli.parser(bench.__file__, "doc")
  cli.override(p, "--adv-eps", "defense_settings.apr_eps", "defense_settings.vat_eps",
               type=float)
  cli.override(p, "--seeds", "audit.num_seeds", type=int)
  cli.override(p, "--dataset", "dataset")
  config = cli.load(p.parse_args(["--out", "x", "--adv-eps", "0.1", "--seeds", "2"]),
                    bench.BenchmarkConfig)
  assert config.defense_settings.apr_eps == config.defense_settings.vat_eps == 0.1
  assert config.defense_settings.pamacf_eps == 0.5 and config.audit.num_seeds == 2
  assert config.audit.epochs == 30  # the rest from the file
  with pytest.raises(ValueError, match=r"defense_benchmark.toml with --dataset .*dataset must"):
    cli.load(p.parse_args(["--out", "x", "--dataset", "ml-20m"]), bench.BenchmarkConfig)
  section = cli.config_section(config, CONFIGS / "defense_benchmark.toml", seconds=1.0)
  assert section["config_hash"] == experiment.config_hash(config) and section["seconds"] == 1.0
  assert section["audit"]["num_seeds"] == 2
  with pytest.raises(ValueError, match="clash"):
    cli.config_section(config, CONFIGS / "defense_benchmark.toml", dataset="x")
