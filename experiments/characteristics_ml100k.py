"""How MovieLens-100K's characteristics explain BPR-MF's robustness (Deldjoo et al., SIGIR 2020).

The configuration of issue 15's done criterion: 108 sub-datasets of MovieLens-100K (users and
items each kept at 40%, 70% or 100%, interactions at 30-100%), BPR-MF trained on each (32
factors, 40 epochs), the bandwagon attack with 1% of each sub-dataset's users as fake users
pushing 5 long-tail targets together, and the learned bilevel attack (revadv, 10 outer steps)
on the same sub-datasets; OLS of the change of target HR@10 (and of the prediction shift) on the
standardised characteristics. It is ``jaxrec characteristics`` with these options, kept in
``experiments/configs/characteristics_ml100k.toml`` (:class:`jaxrec.robustness.StudyConfig`;
``--config FILE`` runs another, ``--attacks``, ``--samples`` and ``--seed`` override one
setting)::

  python experiments/characteristics_ml100k.py --out runs/characteristics_ml100k \\
      [--attacks bandwagon revadv] [--samples 108]

Writes ``DIR/report.json`` (tidy rows; ``config`` also records ``config_hash`` and
``config_file``), ``DIR/report.md`` (the verdict on the study's
intuition, computed from the fit, then the coefficients) and ``DIR/characteristics.png``.
MovieLens-100K is read from ``../shared/data/movielens-100k/u.data`` (never shipped: its licence
forbids redistribution); the script exits with a message when it is absent.
"""

from __future__ import annotations

import sys
from pathlib import Path

import _cli  # experiments/_cli.py, beside this script

import jaxrec
from jaxrec import data
from jaxrec.robustness import StudyConfig, run_study

DEFAULT_DATA = _cli.SHARED_DATA / "movielens-100k"


def main(argv=None) -> int:
  p = _cli.parser(__file__, __doc__)
  p.add_argument("--data", default=str(DEFAULT_DATA / "u.data"), help="ML-100K u.data")
  _cli.override(p, "--attacks", "attacks", nargs="+")
  _cli.override(p, "--samples", "num_samples", type=int)
  _cli.override(p, "--seed", "seed", type=int)
  args = p.parse_args(argv)
  config = _cli.load(args, StudyConfig)
  if not Path(args.data).is_file():
    print(f"MovieLens-100K not found at {args.data} (it is never shipped: pass --data)",
          file=sys.stderr)
    return 2
  jaxrec.enable_compilation_cache()  # as ``jaxrec characteristics`` does
  dataset = data.load_movielens_100k(args.data)
  # every interaction once, without timestamps (as ``jaxrec characteristics`` reads the data)
  interactions, _ = data.deduplicate(data.concatenate([
      dataset.interactions.replace(timestamps=None)]))
  run_study(interactions, config, args.out, name=dataset.name)
  _cli.stamp_report(args.out, config, args.config)
  return 0


if __name__ == "__main__":
  sys.exit(main())
