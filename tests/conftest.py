"""Fixtures shared by the whole test suite."""

import os
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxrec import data

REPO_ROOT = Path(__file__).resolve().parents[1]

# Tests never write JAX's compilation cache into the home folder: the CLI's cache stays off
# (tests of the cache pass a tmp folder explicitly or set this variable in a subprocess).
os.environ["JAXREC_COMPILE_CACHE"] = "0"

# Implicit rank promotion ((B,) against (B, 1)) is a classic silent BPR bug: make it an error.
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture(scope="session")
def shared_data() -> Path:
  """The read-only real-data folder (``<repo>/../shared/data``, or ``$JAXREC_SHARED_DATA``).

  Skips the requesting test when the folder is absent: MovieLens-derived data may not be
  redistributed, so it is never part of the repository.
  """
  env = os.environ.get("JAXREC_SHARED_DATA")
  root = Path(env) if env else REPO_ROOT / ".." / "shared" / "data"
  if not root.is_dir():
    how = ("JAXREC_SHARED_DATA points there" if env
           else "set JAXREC_SHARED_DATA to the folder that holds the datasets")
    pytest.skip(f"real-data folder {root} not found ({how})")
  return root.resolve()


@pytest.fixture
def shared_file(shared_data):
  """``shared_file("loo-splits/movielens100k/testset.tsv")``: the path, or skip when missing."""

  def get(relative: str) -> Path:
    path = shared_data / relative
    if not path.exists():
      pytest.skip(f"{path} not found in the real-data folder")
    return path

  return get


def _two_group_index(num_users=30, num_items=20, per_user=5, seed=0):
  rng = np.random.default_rng(seed)
  users = np.repeat(np.arange(num_users), per_user)
  # two taste groups: even users like low items, odd users high items
  items = np.concatenate([
      rng.choice(np.arange(10) + (10 if u % 2 else 0), per_user, replace=False)
      for u in range(num_users)])
  return data.build_index(users, items, num_users=num_users, num_items=num_items)


@pytest.fixture
def toy_index():
  """``toy_index(num_users=30, num_items=20, per_user=5, seed=0)``: a planted two-group
  :class:`jaxrec.data.PositiveIndex` (even users hold items 0-9, odd users items 10-19)."""
  return _two_group_index


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
  """Drops JAX's compiled programs after every test module.

  The whole suite compiles thousands of XLA:CPU programs in one process; late in the run
  (tests/test_visual.py::test_the_docs_page_runs, after about 800 tests) XLA aborted or
  segfaulted while compiling, twice, although the test passes alone. Releasing the executables
  of finished modules keeps the process's code mappings bounded (vm.max_map_count is 65530
  here); suspected cause, see the closing note of 2026-12-05.
  """
  yield
  jax.clear_caches()
