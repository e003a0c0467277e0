"""docs/compose.md: its code blocks run, each attack block is at most 10 lines of code, and each
attack does what the page says it does."""

import re

from pathlib import Path

import jax.numpy as jnp

DOC = Path(__file__).resolve().parents[1] / "docs" / "compose.md"


def _blocks() -> list[str]:
  return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def _code_lines(block: str) -> int:
  return sum(1 for line in block.splitlines() if line.strip() and not line.strip().startswith("#"))


def test_code_lines_counts_code_only():
  assert _code_lines("x = 1\n\n# a comment\n  y = f(x,\n        2)  # trailing\n") == 3


def test_attack_blocks_are_at_most_ten_lines():
  setup, poisoning_block, evasion_block = _blocks()
  assert _code_lines(poisoning_block) <= 10
  assert _code_lines(evasion_block) <= 10
  assert "optim.run(" in poisoning_block and "optim.run(" in evasion_block  # the one driver
  assert setup  # the shared setup (data and a trained victim) is not part of the budget


def _target_rank_and_score(ns: dict, params) -> tuple[float, float]:
  """The target's mean rank (items scored above it) and mean score over the attacked users."""
  scores = ns["victim"].model.score_all(params, ns["index"], ns["users"])  # (100, I)
  target_scores = scores[:, ns["target"][0]]
  rank = jnp.sum(scores > target_scores[:, None], axis=1)
  return float(jnp.mean(rank)), float(jnp.mean(target_scores))


def test_the_page_runs_and_the_attacks_move_the_target():
  setup, poisoning_block, evasion_block = _blocks()
  ns: dict = {}
  exec(compile(setup, str(DOC), "exec"), ns)  # noqa: S102 - the project's own docs
  exec(compile(poisoning_block, str(DOC), "exec"), ns)  # noqa: S102
  fake, poisoning = ns["fake"], ns["result"]
  assert fake.shape == (10, ns["index"].num_items)
  target = int(ns["target"][0])
  # the exact budget in every profile: 20 fillers plus the target
  assert bool(jnp.all(fake.sum(axis=1) == 21)) and bool(jnp.all(fake[:, target] == 1))
  assert float(poisoning.values[-1]) < float(poisoning.values[0])  # the surrogate's margin fell

  exec(compile(evasion_block, str(DOC), "exec"), ns)  # noqa: S102
  params, delta = ns["params"], ns["result"].x
  rank_before, score_before = _target_rank_and_score(ns, params)
  rank_after, score_after = _target_rank_and_score(ns, params.replace(item_emb=params.item_emb
                                                                      + delta))
  # the page: mean rank 1073 -> 1036 of 1,099 items, mean score -1.06 -> -0.94
  assert rank_after < rank_before - 10, (rank_before, rank_after)
  assert score_after > score_before + 0.05, (score_before, score_after)
  assert float(jnp.max(jnp.abs(delta))) <= 0.05 + 1e-6  # within the L-infinity budget
