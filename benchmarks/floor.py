"""The arithmetic floor of one training step: FLOPs and the fewest bytes, counted before anything is timed.

    python -m benchmarks.floor --data-mirror ../shared/data --dataset Beauty --model elcrec \
        --peak-tflops 51 --peak-tbps 4.3

One full-size step (batch 256, the paper settings of the model on the dataset) runs on the CPU under
``torch.utils.flop_counter.FlopCounterMode`` (matrix products, attention, forward and backward). The byte floor
counts what a step must at least move through device memory: the Adam update's six passes over the parameters
(``adam_bytes``) and the batch itself; activations are left out, so it is a lower bound. Dividing by a rate gives a time:
``--peak-tflops`` (plain fp32 FMA rate of the GPU; an H100/H200 SXM is about 67 by the datasheet, 51 for the
PCIe H100) and ``--peak-tbps`` (measured copy bandwidth: 4.3 on the H200 of this workplace). The larger is the
floor of a step; times steps per epoch is the floor of an epoch, to compare with the measured seconds.
"""
from __future__ import annotations

import argparse
import json

import torch
from torch.utils.flop_counter import FlopCounterMode

from elcrec.data import load_dataset
from elcrec.data.batches import EpochBuilder
from elcrec.models.registry import build_model
from elcrec.train import seed_everything


def adam_bytes(params: int, dtype_bytes: int = 4) -> int:
    """Parameter read + gradient read + two moments read and written + parameter written: 6 passes."""
    return 6 * params * dtype_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="Beauty")
    parser.add_argument("--model", default="elcrec")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--peak-tflops", type=float, default=67.0)
    parser.add_argument("--peak-tbps", type=float, default=4.3)
    parser.add_argument("--data-mirror")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    seed_everything(1)
    data = load_dataset(args.dataset, args.data_dir, args.data_mirror)
    model, cfg = build_model(args.model, args.dataset, data.item_size)
    data.max_len = cfg.max_len
    model.train()
    if getattr(model, "cluster_centers", None) is not None:  # the step's arithmetic does not depend on their values
        model.cluster_centers.data = torch.nn.functional.normalize(torch.randn_like(model.cluster_centers), dim=1)
    builder = EpochBuilder(data, args.batch_size, model.needs_negatives, model.augment)
    batch = next(iter(builder.epoch(1, 0)))
    with FlopCounterMode(display=False) as counter:
        terms = model.loss(batch)
        sum(model.loss_weights[k] * v for k, v in terms.items()).backward()  # type: ignore[union-attr]
    flops = counter.get_total_flops()
    params = sum(p.numel() for p in model.parameters())
    batch_bytes = sum(t.numel() * t.element_size() for t in batch.tensors())
    bytes_min = adam_bytes(params) + batch_bytes
    steps = builder.num_batches()
    t_flops, t_bytes = flops / (args.peak_tflops * 1e12), bytes_min / (args.peak_tbps * 1e12)
    print(json.dumps({
        "model": args.model, "dataset": args.dataset, "batch_size": args.batch_size, "steps_per_epoch": steps,
        "gflop_per_step": round(flops / 1e9, 2), "flops_by_op": {str(k): v for k, v in
                                                                counter.get_flop_counts().get("Global", {}).items()},
        "parameters": params, "min_mbytes_per_step": round(bytes_min / 1e6, 2),
        "floor_ms_per_step_flops": round(1e3 * t_flops, 4), "floor_ms_per_step_bytes": round(1e3 * t_bytes, 4),
        "floor_s_per_epoch_train": round(steps * max(t_flops, t_bytes), 4),
        "peak_tflops": args.peak_tflops, "peak_tbps": args.peak_tbps,
    }, default=str))


if __name__ == "__main__":
    main()
