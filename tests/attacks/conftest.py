"""Fixtures shared by the poisoning tests."""

import numpy as np
import pytest


def _planted_matrix(num_users: int = 24, num_items: int = 16, seed: int = 0) -> np.ndarray:
  """Two taste groups over items 0-7 and 8-15; user u holds 4 items of their group."""
  rng = np.random.default_rng(seed)
  x = np.zeros((num_users, num_items), np.float32)
  for u in range(num_users):
    group = np.arange(8) + (0 if u % 2 else 8)
    x[u, rng.choice(group, 4, replace=False)] = 1.0
  return x


@pytest.fixture
def planted():
  """``planted(num_users=24, num_items=16, seed=0)``: the ``(U, I) float32`` 0/1 matrix."""
  return _planted_matrix
