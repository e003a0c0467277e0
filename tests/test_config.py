"""Typed experiment configs: TOML -> frozen dataclasses, with errors naming the file and key."""

from __future__ import annotations

import dataclasses

import pytest

from jaxrec import experiment


@dataclasses.dataclass(frozen=True)
class Victim:
  epochs: int = 30
  lr: float = 0.05


@dataclasses.dataclass(frozen=True)
class Grid:
  name: str
  budgets: tuple[float, ...] = (0.01,)
  seeds: tuple[int, ...] = (0,)
  ks: tuple[int, int] = (10, 50)
  filler: int | None = None
  budget: float | int = 0.01
  weights: dict[str, float] = dataclasses.field(default_factory=dict)
  quick: bool = False
  victim: Victim = Victim()
  attacker: Victim = Victim(epochs=5)

  def __post_init__(self):
    if not self.seeds:
      raise ValueError("seeds must not be empty")


def _write(tmp_path, text):
  path = tmp_path / "grid.toml"
  path.write_text(text)
  return path


def test_toml_into_frozen_dataclass(tmp_path):
  path = _write(tmp_path, 'name = "g"\nbudgets = [0.01, 1]\nseeds = [0, 1]\nfiller = 7\n'
                '[victim]\nepochs = 3\n')
  cfg = experiment.load_config(path, Grid)
  assert cfg == Grid(name="g", budgets=(0.01, 1.0), seeds=(0, 1), filler=7,
                     victim=Victim(epochs=3))
  assert isinstance(cfg.budgets[1], float) and cfg.victim.lr == 0.05
  counts = experiment.load_config(_write(tmp_path, 'name = "g"\nbudget = 47\n'), Grid)
  assert counts.budget == 47 and isinstance(counts.budget, int)  # a count stays a count
  partial = experiment.load_config(_write(tmp_path, 'name = "g"\n[attacker]\nlr = 0.5\n'), Grid)
  assert partial.attacker == Victim(epochs=5, lr=0.5)  # the field's default, then the table
  table = experiment.load_config(_write(tmp_path, 'name = "g"\n[weights]\na = 1\n'), Grid)
  assert table.weights == {"a": 1.0} and isinstance(table.weights["a"], float)
  with pytest.raises(ValueError, match=r"key 'weights.b' must be float"):
    experiment.load_config(_write(tmp_path, 'name = "g"\n[weights]\nb = "x"\n'), Grid)
  assert experiment.config_to_dict(cfg)["victim"] == {"epochs": 3, "lr": 0.05}
  with pytest.raises(dataclasses.FrozenInstanceError):
    cfg.name = "h"  # type: ignore[misc]


def test_hash_is_of_the_values():
  a, b = Grid(name="g"), Grid(name="g", budgets=(0.01,))
  assert experiment.config_hash(a) == experiment.config_hash(b)
  assert len(experiment.config_hash(a)) == 16
  assert experiment.config_hash(a) != experiment.config_hash(Grid(name="g", seeds=(1,)))
  assert experiment.config_hash(a) != experiment.config_hash(Grid(name="g",
                                                                  victim=Victim(epochs=4)))


@pytest.mark.parametrize("text,match", [
    ('name = "g"\nseed = [0]\n', r"grid.toml: unknown key\(s\) seed; Grid has name, budgets"),
    ('name = "g"\n[victim]\nepoch = 3\n', r"unknown key\(s\) victim.epoch"),
    ('name = "g"\nseeds = [0, 1.5]\n', r"key 'seeds\[1\]' must be int, got 1.5"),
    ('name = "g"\nseeds = [true]\n', r"key 'seeds\[0\]' must be int"),
    ('name = "g"\nks = [10]\n', r"key 'ks' must have 2 entries"),
    ('name = "g"\nbudgets = 0.01\n', r"key 'budgets' must be an array"),
    ('name = "g"\nvictim = 3\n', r"victim must be a table"),
    ('name = "g"\nfiller = "a"\n', r"key 'filler' must be int"),
    ('name = "g"\nseeds = []\n', r"grid.toml: seeds must not be empty"),
    ('budgets = [0.1]\n', r"grid.toml: .*name"),
    ('name = "g"\nname = "h"\n', r"grid.toml: not valid TOML: .*line 2"),
])
def test_errors_name_the_file_and_key(tmp_path, text, match):
  with pytest.raises(ValueError, match=match):
    experiment.load_config(_write(tmp_path, text), Grid)


def test_missing_file_and_non_dataclass(tmp_path):
  with pytest.raises(FileNotFoundError, match="nope.toml"):
    experiment.load_config(tmp_path / "nope.toml", Grid)
  with pytest.raises(TypeError, match="dataclass type"):
    experiment.config_from_dict(dict, {})
  with pytest.raises(TypeError, match="dataclass instance"):
    experiment.config_hash({"a": 1})
