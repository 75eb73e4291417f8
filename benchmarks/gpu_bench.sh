#!/usr/bin/env bash
# Issue 9's GPU measurements in one job of at most 10 minutes (one NVIDIA H100/H200), prepared without a GPU.
#
# Here (CPU machine):  make gpu-stage            # data, checkpoints, faiss wheel, official ELCRec code (~40 MiB)
# There (device tool): run(command="bash benchmarks/gpu_bench.sh $OUT", carry=[".gpu-stage"], timeout_s=600)
#
# Steps, each time-boxed (a step that no longer fits the budget is reported as "not run (time)"):
#   floor     FLOPs and minimum bytes of one ELCRec step on Beauty, paper settings (before any timing)
#   modes     eager vs graphed s/epoch + peak GPU memory: elcrec, iclrec, sasrec, s3rec (fine-tuning from the
#             released pre-trained checkpoint), bert4rec (its own scheduled optimiser: runs static under graphed)
#             and bert4rec-adam; full Beauty, one process (benchmarks/bench_epoch.py)
#   packing   aggregate epochs/s of N = 1, 2, 4, 8, 16 graphed ELCRec runs on the GPU (benchmarks/bench_packing.py)
#   tests     pytest -m gpu tests/test_gpu.py (graphed == eager, every model one epoch graphed and eager, ...)
#   official  the official ELCRec code (yueliu1999/ELCRec @ad6e1c8, Beauty script settings) for 2 epochs
#   compiled  ELCRec with torch.compile(mode="reduce-overhead") vs graphed (compile time excluded)
#   full      a full-protocol ELCRec Beauty run to early stopping (python -m elcrec train), if time is left
#   mps       the packing curve again under CUDA MPS (daemon started and stopped here), if time is left
# Output ($OUT, 3 files): gpu_bench.tar.gz (records/*.json, every step's log, provenance.json, steps.txt; re-packed
# after every step, so a killed job still returns what finished), table.md (printed last), and the console log.
# Bring back: tar -xzf gpu_bench.tar.gz -C benchmarks/records/$(date +%F)_gpu_bench_<gpu>/ and commit the JSON
# and logs (docs/performance.md says how the table there was made).
WORK=/tmp/gpu-bench
rm -rf "$WORK"; mkdir -p "$WORK/records"
source "$(dirname "$0")/gpu_env.sh" "${1:-}"
pack() { tar -czf "$OUT/gpu_bench.tar.gz" -C "$WORK" . ; }
BENCH="--data-mirror $MIRROR --data-dir $DATA --dataset Beauty"
S3REC="--set s3rec:pretrained=$SHARED/checkpoints/S3Rec-pretrain-Beauty-epochs-150.pt"

provenance "bash benchmarks/gpu_bench.sh" > "$WORK/provenance.json"; cat "$WORK/provenance.json"
nvidia-smi > "$WORK/nvidia-smi.txt" 2>&1
step floor 60 python3 -m benchmarks.floor $BENCH --peak-tflops 67 --peak-tbps 4.3
grep '^{' "$WORK/floor.log" > "$WORK/records/floor.json"; pack
step modes 200 python3 -m benchmarks.bench_epoch --device cuda $BENCH $S3REC \
  --models elcrec iclrec sasrec s3rec bert4rec bert4rec-adam --modes eager graphed --warmup-epochs 1 --epochs 2 \
  --record "$WORK/records/modes.json"; pack
step packing 150 python3 -m benchmarks.bench_packing --device cuda $BENCH --model elcrec --mode graphed \
  --runs 1 2 4 8 16 --epochs 3 --record "$WORK/records/packing.json"; pack
step tests 170 python3 -m pytest -v -rfE --durations=10 -m gpu -p no:cacheprovider -o addopts="" tests/test_gpu.py; pack
if [ -f "$STAGE/elcrec-official/src/main.py" ]; then
  cp -r "$STAGE/elcrec-official" /tmp/elcrec-official
  (cd /tmp/elcrec-official/src && step official 120 python3 main.py --data_name Beauty --cf_weight 0.1 --model_idx 1 \
    --gpu_id 0 --batch_size 256 --contrast_type Hybrid --num_intent_cluster 256 --seq_representation_type mean \
    --intent_cf_weight 0.1 --num_hidden_layers 1 --epochs 2)
else
  echo "== official: not run (the official code was not staged: make gpu-stage with OFFICIAL_GIT)" | tee -a "$WORK/steps.txt"
fi; pack
step compiled 150 python3 -m benchmarks.bench_epoch --device cuda $BENCH --models elcrec --modes graphed compiled \
  --warmup-epochs 1 --epochs 2 --record "$WORK/records/compiled.json"; pack
step full 240 python3 -m elcrec train --dataset Beauty --model elcrec --seed 1 --data-mirror "$MIRROR" \
  --data-dir "$DATA" --out "$WORK/full/Beauty/elcrec/seed1" --device cuda
rm -f "$WORK"/full/Beauty/elcrec/seed1/{model.pt,resume.pt}; rm -rf "$WORK"/full/Beauty/elcrec/seed1/snapshots; pack
if command -v nvidia-cuda-mps-control >/dev/null && [ "$(left)" -gt 100 ]; then
  export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
  mkdir -p $CUDA_MPS_PIPE_DIRECTORY $CUDA_MPS_LOG_DIRECTORY
  if nvidia-cuda-mps-control -d; then
    step mps 150 python3 -m benchmarks.bench_packing --device cuda $BENCH --model elcrec --mode graphed --mps \
      --runs 1 4 8 16 --epochs 3 --record "$WORK/records/packing_mps.json"
    echo quit | nvidia-cuda-mps-control
  else
    echo "== mps: not run (the MPS daemon did not start)" | tee -a "$WORK/steps.txt"
  fi
else
  echo "== mps: not run (no nvidia-cuda-mps-control, or under 100 s left)" | tee -a "$WORK/steps.txt"
fi
python3 -m benchmarks.gpu_table "$WORK" > "$WORK/table.md" 2>&1; pack
cp "$WORK/table.md" "$OUT/table.md"
echo; cat "$WORK/steps.txt"; echo; cat "$WORK/table.md"
