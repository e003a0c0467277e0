#!/usr/bin/env bash
# One GPU check: both benchmarks and the test suite, results under $OUT (default ./gpu-check).
# Needs a CUDA build of JAX (and PyTorch with CUDA for the torch-cuda baseline) and the real data
# in $JAXREC_SHARED_DATA (movielens-100k/u.data, movielens-1m/*.csv.gz, loo-splits/movielens100k).
# QUICK=1 runs the smallest settings (a smoke test of the script, e.g. on a CPU-only machine);
# TESTS overrides the pytest targets (default: tests).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check}
TESTS=${TESTS:-tests}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
if [ "${QUICK:-0}" = 1 ]; then
  BPR_ARGS="--repeats 1 --datasets ml-100k"
  GRID_ARGS="--quick"
else
  BPR_ARGS="--repeats 5"
  GRID_ARGS="--epochs 200"
fi
mkdir -p "$OUT"
nvidia-smi -L 2>&1 | tee "$OUT/env.log"
python3 -c "import jax, flax, optax, jaxrec; print(jaxrec.__version__, jax.__version__,
flax.__version__, optax.__version__, jax.devices())" 2>&1 | tee -a "$OUT/env.log"
# shellcheck disable=SC2086  # the argument lists are meant to split
timeout 150 python3 benchmarks/bpr_epoch.py $BPR_ARGS --out "$OUT/bpr" 2>&1 | tee "$OUT/bpr.log"
# the poison grid runs vmapped with the library's lanes (all cells of an attack on a GPU)
# shellcheck disable=SC2086
timeout 200 python3 benchmarks/poison_grid.py $GRID_ARGS --out "$OUT/grid" 2>&1 \
  | tee "$OUT/grid.log"
# shellcheck disable=SC2086
timeout 170 python3 -m pytest -q -p no:cacheprovider $TESTS 2>&1 | tail -25 | tee "$OUT/tests.log"
