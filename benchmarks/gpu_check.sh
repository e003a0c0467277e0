#!/usr/bin/env bash
# One GPU check: both benchmarks and the test suite, results under $OUT (default ./gpu-check).
# Needs a CUDA build of JAX (and PyTorch with CUDA for the torch-cuda baseline) and the real data
# in $JAXREC_SHARED_DATA (movielens-100k/u.data, movielens-1m/*.csv.gz, loo-splits/movielens100k).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
mkdir -p "$OUT"
nvidia-smi -L 2>&1 | tee "$OUT/env.log"
python3 -c "import jax, flax, optax; print(jax.__version__, flax.__version__, optax.__version__,
jax.devices())" 2>&1 | tee -a "$OUT/env.log"
timeout 150 python3 benchmarks/bpr_epoch.py --repeats 5 --out "$OUT/bpr" 2>&1 | tee "$OUT/bpr.log"
timeout 200 python3 benchmarks/poison_grid.py --epochs 200 --out "$OUT/grid" 2>&1 \
  | tee "$OUT/grid.log"
timeout 170 python3 -m pytest -q -p no:cacheprovider tests 2>&1 | tail -25 | tee "$OUT/tests.log"
