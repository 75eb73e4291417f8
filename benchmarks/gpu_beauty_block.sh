#!/usr/bin/env bash
# Issue 11 item 1: the Beauty block trained to the paper protocol on one GPU, packed, within one 10-minute job.
#
# Here (CPU machine):  make gpu-stage
# There (device tool): run(command="bash benchmarks/gpu_beauty_block.sh $OUT", carry=[".gpu-stage"], timeout_s=600)
#
# ELCRec, ICLRec and the ablations B, B+ICL, B+ELCM first, then SASRec, S3-Rec (fine-tuned from the released
# pre-trained checkpoint S3Rec-pretrain-Beauty-epochs-150.pt, carried in .gpu-stage), CL4SRec, CoSeRec and
# BERT4Rec (longest: up to 1,000 epochs); seeds 1, 2, 3; each run to early stopping (python -m elcrec train, the
# paper protocol of config/config.yaml; step_mode auto = graphed). SLOTS runs share the GPU at once (default 8;
# set it from the packing curve of benchmarks/gpu_bench.sh). Whatever has not finished when the budget ends is
# recorded "not run: compute" in plan.json, for the next job.
# Output ($OUT): beauty_block.tar.gz (published_runs_Beauty/: per finished run metrics.json, train_log.csv,
# profile.json, config.json, per_user_test.csv.gz; plan.json, provenance.json, logs/), and the console log.
# Back here: python -m benchmarks.import_records beauty_block.tar.gz --block beauty-<date>, commit the block, and build
# the report from it: snakemake --cores 2 --config records=benchmarks/records/published/beauty-<date> -- all
# (docs/published_records.md).
WORK=/tmp/gpu-block
rm -rf "$WORK"; mkdir -p "$WORK"
source "$(dirname "$0")/gpu_env.sh" "${1:-}"
SLOTS=${SLOTS:-8}
provenance "SLOTS=$SLOTS bash benchmarks/gpu_beauty_block.sh" > "$WORK/provenance.json"; cat "$WORK/provenance.json"
python3 -m elcrec download --dataset Beauty --data-mirror "$MIRROR" --data-dir "$DATA" || exit 2
python3 -m benchmarks.pack_runs --dataset Beauty --seeds 1 2 3 --slots "$SLOTS" --budget $(( $(left) - 40 )) \
  --models elcrec iclrec elcrec-b elcrec-b-icl elcrec-b-elcm sasrec s3rec cl4srec coserec bert4rec \
  --set "s3rec:pretrained=$SHARED/checkpoints/S3Rec-pretrain-Beauty-epochs-150.pt" \
  --data-mirror "$MIRROR" --data-dir "$DATA" --root "$WORK" --provenance "$WORK/provenance.json" \
  --archive "$OUT/beauty_block.tar.gz"
ls -la "$OUT"
