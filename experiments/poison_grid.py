"""The poisoning grid of ``experiments/configs/poison_grid.toml`` (2 attacks x 2 budgets x 5
targets x 2 seeds on MovieLens-100K), run into a resumable results store.

Usage::

  python experiments/poison_grid.py --out DIR [--config PATH]

The same as ``jaxrec grid PATH --out DIR`` (which it calls; its other options, such as
``--devices``, pass through): rerunning with the same DIR resumes. MovieLens is
read from ``$JAXREC_SHARED_DATA/movielens-100k`` (default ``<repo>/../shared/data``).
"""

import argparse
import os
import sys
from pathlib import Path

from jaxrec.cli._main import main as jaxrec_main

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
  p = argparse.ArgumentParser(
      description="The poisoning grid of experiments/configs/poison_grid.toml (2 attacks x 2 "
                  "budgets x 5 targets x 2 seeds on MovieLens-100K) into a resumable results "
                  "store; other options go to `jaxrec grid` (--devices, --no-progress, ...)")
  p.add_argument("--out", required=True, help="the results store folder")
  p.add_argument("--config", default=str(HERE / "configs" / "poison_grid.toml"))
  args, rest = p.parse_known_args(argv)
  os.environ.setdefault("JAXREC_SHARED_DATA", str(HERE.parents[1] / "shared" / "data"))
  return jaxrec_main(["grid", args.config, "--out", args.out, *rest])


if __name__ == "__main__":
  sys.exit(main())
