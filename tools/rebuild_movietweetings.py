"""Rebuilds the bundled MovieTweetings 10-core subset from its published recipe.

Copies ``ratings.dat.gz``, ``movies.dat.gz`` and ``make_kcore.py`` from ``--source`` (default
``<repo>/../shared/data/movietweetings-100k``) into a temporary folder, runs
``python make_kcore.py 10`` there, checks the sha256 of ``kcore10/ratings.csv.gz`` and
``kcore10/movies.csv.gz`` against the table in ``<source>/PROVENANCE.md``, and only then copies
them (with the source's MIT ``LICENSE``, verbatim) into ``jaxrec/data/bundled/``. The recipe itself
is not copied into the repository.

Usage: python tools/rebuild_movietweetings.py [--source DIR] [--dest DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = {  # produced file -> bundled name
    "kcore10/ratings.csv.gz": "movietweetings_kcore10_ratings.csv.gz",
    "kcore10/movies.csv.gz": "movietweetings_kcore10_movies.csv.gz",
}
INPUTS = ("ratings.dat.gz", "movies.dat.gz", "make_kcore.py")


def expected_hashes(provenance: Path) -> dict[str, str]:
  """sha256 of each file in ``OUTPUTS``, read from PROVENANCE.md table rows ``| file | ... |``."""
  text = provenance.read_text(encoding="utf-8")
  hashes = {}
  for produced in OUTPUTS:
    m = re.search(r"^\|\s*" + re.escape(produced) + r"\s*\|[^|\n]*\|\s*([0-9a-f]{64})\s*\|",
                  text, re.MULTILINE)
    if m is None:
      raise SystemExit(f"{provenance}: no sha256 row for {produced}")
    hashes[produced] = m.group(1)
  return hashes


def sha256(path: Path) -> str:
  return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--source", type=Path,
                      default=REPO / ".." / "shared" / "data" / "movietweetings-100k")
  parser.add_argument("--dest", type=Path, default=REPO / "jaxrec" / "data" / "bundled")
  args = parser.parse_args(argv)
  source = args.source.resolve()
  hashes = expected_hashes(source / "PROVENANCE.md")
  with tempfile.TemporaryDirectory() as tmp:
    work = Path(tmp)
    for name in INPUTS:
      shutil.copyfile(source / name, work / name)
    subprocess.run([sys.executable, "make_kcore.py", "10"], cwd=work, check=True)
    for produced, want in hashes.items():
      got = sha256(work / produced)
      if got != want:
        raise SystemExit(f"{produced}: sha256 {got} != {want} from PROVENANCE.md; not copied")
    args.dest.mkdir(parents=True, exist_ok=True)
    for produced, bundled in OUTPUTS.items():
      shutil.copyfile(work / produced, args.dest / bundled)
      print(f"{args.dest / bundled}: sha256 {hashes[produced]} ok")
  shutil.copyfile(source / "LICENSE", args.dest / "LICENSE-MovieTweetings")
  return 0


if __name__ == "__main__":
  sys.exit(main())
