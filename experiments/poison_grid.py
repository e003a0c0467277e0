"""The poisoning grid of ``experiments/configs/poison_grid.toml`` (2 attacks x 2 budgets x 5
targets x 2 seeds on MovieLens-100K), run into a resumable results store.

Usage::

  python experiments/poison_grid.py --out DIR [--config PATH]

The same as ``jaxrec grid PATH --out DIR``: rerunning with the same DIR resumes. MovieLens is
read from ``$JAXREC_SHARED_DATA/movielens-100k`` (default ``<repo>/../shared/data``).
"""

import argparse
import os
import sys
from pathlib import Path

import jaxrec
from jaxrec import experiment, grid

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--out", required=True, help="the results store folder")
  p.add_argument("--config", default=HERE / "configs" / "poison_grid.toml")
  args = p.parse_args(argv)
  os.environ.setdefault("JAXREC_SHARED_DATA", str(HERE.parents[1] / "shared" / "data"))
  jaxrec.enable_compilation_cache()
  grid.run_grid(experiment.load_config(args.config, grid.PoisonGridConfig), args.out)
  return 0


if __name__ == "__main__":
  sys.exit(main())
