"""Fixtures shared by the whole test suite."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
  """The read-only real-data folder (``<repo>/../shared/data``, or ``$JAXREC_SHARED_DATA``).

  Skips the requesting test when the folder is absent: MovieLens-derived data may not be
  redistributed, so it is never part of the repository.
  """
  env = os.environ.get("JAXREC_SHARED_DATA")
  root = Path(env) if env else REPO_ROOT / ".." / "shared" / "data"
  if not root.is_dir():
    pytest.skip(f"real-data folder {root} not found; set JAXREC_SHARED_DATA to use another place")
  return root.resolve()
