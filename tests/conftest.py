"""Fixtures shared by the whole test suite."""

import os
from pathlib import Path

import jax
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

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
