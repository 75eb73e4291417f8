"""Evaluator throughput on a full dataset: users per second of full-ranking test evaluation.

    python -m benchmarks.bench_evaluate --data-mirror ../shared/data \
        --checkpoint ../shared/checkpoints/ELCRec-Beauty-1.pt --dataset Beauty --repeats 5

Times ``rank_targets`` alone (the data are prepared and parsed before the clock starts) and prints the median,
min and max seconds, users/s, and the same-process matmul GFLOP/s.
"""
from __future__ import annotations

import argparse
import json
import statistics

import torch

from benchmarks.common import matmul_gflops, time_call
from elcrec.checkpoint import load_encoder, load_state_dict
from elcrec.data import load_dataset
from elcrec.evaluate import rank_targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--dataset", default="Beauty")
    parser.add_argument("--data-mirror")
    parser.add_argument("--data-dir")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[512])
    args = parser.parse_args()

    data = load_dataset(args.dataset, args.data_dir, args.data_mirror)
    split = data.eval_split("test")
    state, _ = load_state_dict(args.checkpoint)
    encoder, _ = load_encoder(state)
    encoder.eval()
    gflops = matmul_gflops()
    for batch in args.batch_size:
        times = time_call(lambda: rank_targets(encoder.score, split, data.item_size, batch_size=batch), args.repeats)
        med = statistics.median(times)
        print(json.dumps({
            "benchmark": "evaluate", "dataset": args.dataset, "users": split.num_users, "batch_size": batch,
            "median_s": round(med, 3), "min_s": round(min(times), 3), "max_s": round(max(times), 3),
            "users_per_s": round(split.num_users / med), "matmul_gflops_same_process": round(gflops, 1),
            "threads": torch.get_num_threads(), "torch": torch.__version__,
        }))


if __name__ == "__main__":
    main()
