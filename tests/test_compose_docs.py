"""docs/compose.md: its code blocks run, and each attack block is at most 10 lines of code."""

import re

from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "compose.md"


def _blocks() -> list[str]:
  return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def _code_lines(block: str) -> int:
  return sum(1 for line in block.splitlines() if line.strip() and not line.strip().startswith("#"))


def test_attack_blocks_are_at_most_ten_lines():
  setup, poisoning_block, evasion_block = _blocks()
  assert _code_lines(poisoning_block) <= 10
  assert _code_lines(evasion_block) <= 10
  assert setup  # the shared setup (data and a trained victim) is not part of the budget


def test_the_page_runs():
  namespace: dict = {}
  for block in _blocks():  # each block ends with assertions on its result
    exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - the project's own docs
  assert namespace["fake"].shape == (10, namespace["index"].num_items)
