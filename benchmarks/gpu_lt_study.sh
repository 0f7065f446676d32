#!/usr/bin/env bash
# Long-tailed Fashion-MNIST (IF 100) study on one GPU: CE / GCE / focal / FLSD-53 x 5 seeds x
# 30 epochs (the cpu_fashion_mnist_lt preset, longer and with more seeds), every fast calibrator,
# per-group metrics and paired tests. Fashion-MNIST's IDX files are read from $DATA_ROOT/fashion_mnist.
set -uo pipefail
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
DATA_ROOT=${DATA_ROOT:-.gpudata}
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:src
else
  export PYTHONPATH=src
fi
export PYTHONUNBUFFERED=1
timeout "${STUDY_TIMEOUT:-330}" python3 -m gencal bench experiment=cpu_fashion_mnist_lt \
  data.root="$DATA_ROOT" trainer.accelerator=gpu trainer.epochs=30 'grid.seed=[0,1,2,3,4]' \
  'calibrators=[none,ts,ts_grid,ats,vector,isotonic,histogram]' --workers 4 -q \
  --output-root runs_gpu 2>&1 | tee "$OUT/lt_study.log"
tar czf "$OUT/lt_study.tgz" runs_gpu/cpu_fashion_mnist_lt/report runs_gpu/cpu_fashion_mnist_lt/results.csv
