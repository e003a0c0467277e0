#!/usr/bin/env bash
# The one GPU check: measures the device's ceilings (matmul FLOP/s, memory bandwidth), runs the
# BPR-MF epoch, the scoring/top-k and the poison-grid benchmarks, and prints ONE table
# (benchmark, throughput, unit, measured ceiling, fraction of it: benchmarks/ceilings.py).
# Results and logs under $OUT (default ./gpu-check); the table also in $OUT/summary.txt.
# Needs a CUDA build of JAX (and PyTorch with CUDA for the torch-cuda baseline) and the real data
# in $JAXREC_SHARED_DATA (movielens-100k/u.data, movielens-1m/*.csv.gz); a benchmark whose data
# is missing skips itself and leaves its rows out of the table.
# Budget: the steps' timeouts add up to 10 minutes (full mode).
# QUICK=1 runs the smallest settings (a smoke test of the script, e.g. on a CPU-only machine).
# TESTS=<pytest targets> also runs those tests at the end (none by default: not in the budget).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check}
TESTS=${TESTS:-}
PY=${PYTHON:-python3}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
if [ "${QUICK:-0}" = 1 ]; then
  CEIL_ARGS="--quick --repeats 3"
  BPR_ARGS="--repeats 1 --datasets ml-100k"
  TOPK_ARGS="--repeats 1 --users 256"
  GRID_ARGS="--quick"
else
  CEIL_ARGS=""
  BPR_ARGS="--repeats 5"
  TOPK_ARGS="--repeats 3"  # the synthetic size times 131,072 of its 1,000,000 users on a GPU
  GRID_ARGS="--epochs 200"
fi
mkdir -p "$OUT"
nvidia-smi -L 2>&1 | tee "$OUT/env.log"
$PY -c "import jax, flax, optax, jaxrec; print(jaxrec.__version__, jax.__version__,
flax.__version__, optax.__version__, jax.devices())" 2>&1 | tee -a "$OUT/env.log"
# shellcheck disable=SC2086  # the argument lists are meant to split
timeout 60 $PY benchmarks/ceilings.py $CEIL_ARGS --out "$OUT/ceilings" 2>&1 \
  | tee "$OUT/ceilings.log"
# shellcheck disable=SC2086
timeout 150 $PY benchmarks/bpr_epoch.py $BPR_ARGS --out "$OUT/bpr" 2>&1 | tee "$OUT/bpr.log"
# shellcheck disable=SC2086
timeout 180 $PY benchmarks/topk_scale.py $TOPK_ARGS --out "$OUT/topk" 2>&1 \
  | tee "$OUT/topk.log"
# the poison grid runs vmapped with the library's lanes (all cells of an attack on a GPU)
# shellcheck disable=SC2086
timeout 200 $PY benchmarks/poison_grid.py $GRID_ARGS --out "$OUT/grid" 2>&1 \
  | tee "$OUT/grid.log"
$PY benchmarks/ceilings.py --table "$OUT" 2>&1 | tee "$OUT/summary.txt"
if [ -n "$TESTS" ]; then
  # shellcheck disable=SC2086
  timeout 300 $PY -m pytest -q -p no:cacheprovider $TESTS 2>&1 | tail -25 | tee "$OUT/tests.log"
fi
