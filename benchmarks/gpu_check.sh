#!/usr/bin/env bash
# The GPU checks in one script (a CUDA machine with torch installed; faiss-cpu too, or wheels in ./.whl):
#   1. pytest -m gpu: the released checkpoints reproduce their metrics on CUDA, CUDA forward == CPU forward, and
#      every registered model trains one epoch on CUDA with a GPU profile (tests/test_gpu.py);
#   2. seconds per epoch and peak GPU memory of ELCRec, ICLRec, S3-Rec and SASRec on full Beauty, one process.
# Usage: ELCREC_SHARED=/path/to/shared OUT=/tmp/gpu-out bash benchmarks/gpu_check.sh
set -uo pipefail
OUT=${OUT:-/tmp/gpu-check}
SHARED=${ELCREC_SHARED:-../shared}
EPOCHS=${EPOCHS:-3}
mkdir -p "$OUT"
if [ -d .whl ] && ! python3 -c "import faiss" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1 ELCREC_SHARED=$SHARED
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt"
python3 -c "import torch, faiss; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'faiss', faiss.__version__)" \
  2>&1 | tee -a "$OUT/gpu.txt"
python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py 2>&1 | tee "$OUT/pytest_gpu.log"
python3 -m benchmarks.bench_epoch --device cuda --data-mirror "$SHARED/data" --data-dir /tmp/gpu-check-data \
  --dataset Beauty --models elcrec iclrec s3rec sasrec dcrec maerec --epochs "$EPOCHS" --set s3rec:pretrain_epochs=1 \
  2>&1 | grep -v "it/s\]" | tee "$OUT/bench_epoch_gpu.log"
