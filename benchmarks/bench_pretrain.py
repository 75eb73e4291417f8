"""Milliseconds per S3-Rec pre-training step, with the encoder's length grouping on and off, on one device.

    python -m benchmarks.bench_pretrain --data-mirror ../shared/data --dataset Beauty --device cuda

S3-Rec's 150 pre-training epochs dominate its cost (Table 11). ``encode_bidirectional`` can encode the
length-sorted rows in groups cut to their own width (less arithmetic, more kernel launches and one host sync per
group): this times ``--steps`` steps (after ``--warmup``) for each grouping in the same process and prints the
median step time and the extrapolated seconds per epoch, so the auto choice per device rests on a measurement.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from baselines.s3rec import LENGTH_GROUPS, PretrainSampler, read_item_attributes
from elcrec.data import load_dataset
from elcrec.data.batches import epoch_rng
from elcrec.data.fetch import dataset_dir
from elcrec.models.registry import build_model
from elcrec.profiling import synchronize
from elcrec.train import seed_everything


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="Beauty")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--groups", type=int, nargs="+", default=[1, LENGTH_GROUPS])
    parser.add_argument("--data-mirror")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    device = torch.device(args.device)
    data = load_dataset(args.dataset, args.data_dir, args.data_mirror)
    for groups in args.groups:
        seed_everything(1)
        model, cfg = build_model("s3rec", args.dataset, data.item_size)
        model.to(device).train()
        attributes = read_item_attributes(dataset_dir(args.dataset, args.data_dir), data.item_size, cfg.attribute_size)
        sampler = PretrainSampler(data, cfg.max_len, cfg.mask_p, attributes)
        optim = torch.optim.Adam(model.parameters(), lr=cfg.pretrain_lr)
        times = []
        for i, batch in enumerate(sampler.epoch(epoch_rng(1, 0, 0), cfg.pretrain_batch_size)):
            if i == args.warmup + args.steps:
                break
            synchronize(device)
            start = time.perf_counter()
            model.pretrain_step(batch.to(device), optim, groups)
            synchronize(device)
            if i >= args.warmup:
                times.append(time.perf_counter() - start)
        step = statistics.median(times)
        print(json.dumps({"dataset": args.dataset, "device": str(device), "groups": groups,
                          "ms_per_step": round(1000 * step, 2), "steps_per_epoch": sampler.num_batches(100),
                          "s_per_epoch_extrapolated": round(step * sampler.num_batches(100), 1),
                          "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
