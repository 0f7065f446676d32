#!/usr/bin/env bash
# The checks that need a CUDA GPU, as one short script for a lent GPU machine (see docs/benchmarks.md).
# Run from the repository root. Wheels for packages missing there (hydra-core, omegaconf,
# antlr4, hydra-joblib-launcher) are taken from .whl/ when present. Output goes to $OUT (or ./gpu_out).
set -uo pipefail
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:src
else
  export PYTHONPATH=src
fi
export PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$OUT/device.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/device.txt"
timeout 200 python3 -m pytest -q -p no:cacheprovider tests/gpu tests/metrics/test_device.py tests/data/test_augment.py 2>&1 | tee "$OUT/gpu_tests.log"
timeout 120 python3 benchmarks/loss_overhead.py --device cuda --quick 2>&1 | tee "$OUT/loss_overhead_cuda.log"
timeout 120 python3 benchmarks/gce_step.py --device cuda 2>&1 | tee "$OUT/gce_step_cuda.log"
