"""How MovieLens-100K's characteristics explain BPR-MF's robustness (Deldjoo et al., SIGIR 2020).

The configuration of issue 15's done criterion: 108 sub-datasets of MovieLens-100K (users and
items each kept at 40%, 70% or 100%, interactions at 30-100%), BPR-MF trained on each (32
factors, 40 epochs), the bandwagon attack with 1% of each sub-dataset's users as fake users
pushing 5 long-tail targets together, and the learned bilevel attack (revadv, 10 outer steps)
on the same sub-datasets; OLS of the change of target HR@10 (and of the prediction shift) on the
standardised characteristics. It is ``jaxrec characteristics`` with these options::

  python experiments/characteristics_ml100k.py --out runs/characteristics_ml100k \\
      [--attacks bandwagon revadv] [--samples 108]

Writes ``DIR/report.json`` (tidy rows), ``DIR/report.md`` (the verdict on the study's
intuition, computed from the fit, then the coefficients) and ``DIR/characteristics.png``.
MovieLens-100K is read from ``../shared/data/movielens-100k/u.data`` (never shipped: its licence
forbids redistribution); the script exits with a message when it is absent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jaxrec.cli import main as jaxrec_main

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "movielens-100k"


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--data", default=str(DEFAULT_DATA / "u.data"), help="ML-100K u.data")
  p.add_argument("--out", required=True, help="output folder")
  p.add_argument("--attacks", nargs="+", default=["bandwagon", "revadv"])
  p.add_argument("--samples", type=int, default=108)
  p.add_argument("--seed", type=int, default=0)
  args = p.parse_args(argv)
  if not Path(args.data).is_file():
    print(f"MovieLens-100K not found at {args.data} (it is never shipped: pass --data)",
          file=sys.stderr)
    return 2
  return jaxrec_main(["characteristics", "--data", args.data, "--format", "ml-100k",
                      "--attacks", *args.attacks, "--samples", str(args.samples),
                      "--budget", "0.01", "--seed", str(args.seed), "--out", args.out])


if __name__ == "__main__":
  sys.exit(main())
