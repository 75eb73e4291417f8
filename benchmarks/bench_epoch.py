"""Seconds per training epoch (train + validation) on a full dataset, several models side by side.

    python -m benchmarks.bench_epoch --data-mirror ../shared/data --dataset Beauty --models elcrec iclrec s3rec \
        --set s3rec:pretrain_epochs=1

Each model is built with its paper settings for the dataset, initialised (ELCRec's k-means, S3-Rec's
pre-training: timed apart as ``init_s``), then trained for ``--epochs`` full epochs exactly as the trainer does
(same batches, losses, optimiser, validation). Printed per model: median train and validation seconds per epoch,
init seconds, the process's peak RSS so far (and with ``--device cuda`` the model's own peak GPU memory, allocated
and reserved, reset before each model), and the matmul GFLOP/s measured in the same process before and after
(the machine is shared: compare runs only relative to it). ``--steps N`` times only the first N steps of an epoch
and extrapolates (marked ``extrapolated``), for quick profiling.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import matmul_gflops
from elcrec.data import load_dataset
from elcrec.data.fetch import sequence_path
from elcrec.models.registry import build_model
from elcrec.profiling import peak_rss_mb, synchronize
from elcrec.train import TrainConfig, Trainer, run_phase, seed_everything


def bench_model(name: str, args: argparse.Namespace) -> dict[str, object]:
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    seed_everything(args.seed)
    data = load_dataset(args.dataset, args.data_dir, args.data_mirror)
    sets = {}
    for item in args.set or []:  # KEY=VALUE for every model, MODEL:KEY=VALUE for one
        target, _, kv = item.rpartition(":")
        if target in ("", name):
            key, _, value = kv.partition("=")
            sets[key] = value
    model, mcfg = build_model(name, args.dataset, data.item_size, sets)
    data.max_len = mcfg.max_len
    cfg = TrainConfig(**{k: v for k, v in model.train_overrides.items() if k in {f.name for f in dataclasses.fields(TrainConfig)}})
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(model, data, cfg, Path(tmp), device, args.seed, {"model": name},
                          sequence_path(args.dataset, args.data_dir).parent)
        start = time.perf_counter()
        model.on_train_start(trainer.context(0))
        for phase in model.phases(trainer.context(0)):  # S3-Rec's pre-training, as the trainer runs it
            run_phase(phase)
        synchronize(device)
        init_s = time.perf_counter() - start
        if args.steps:
            builder = trainer.builder
            full = builder.num_batches()
            trainer.builder.num_batches = lambda: min(args.steps, full)  # type: ignore[method-assign]
            original = builder.epoch
            builder.epoch = lambda seed, epoch: (b for i, b in enumerate(original(seed, epoch)) if i < args.steps)  # type: ignore[method-assign]
        train_s, valid_s = [], []
        for epoch in range(args.epochs):
            t0 = time.perf_counter()
            trainer.train_epoch(epoch)
            synchronize(device)
            t1 = time.perf_counter()
            trainer.evaluate("valid")
            synchronize(device)
            train_s.append(t1 - t0)
            valid_s.append(time.perf_counter() - t1)
        if args.steps:
            train_s = [t * full / min(args.steps, full) for t in train_s]
    train_med, valid_med = statistics.median(train_s), statistics.median(valid_s)
    gpu = {}
    if device.type == "cuda":
        gpu = {"gpu": torch.cuda.get_device_name(device),
               "peak_gpu_allocated_mb": round(torch.cuda.max_memory_allocated(device) / 2**20),
               "peak_gpu_reserved_mb": round(torch.cuda.max_memory_reserved(device) / 2**20)}
    return {**gpu, "model": name, "dataset": args.dataset, "epochs_timed": args.epochs,
            "extrapolated_from_steps": args.steps or None, "init_s": round(init_s, 2),
            "train_s_per_epoch": round(train_med, 2), "valid_s_per_epoch": round(valid_med, 2),
            "epoch_s": round(train_med + valid_med, 2), "peak_rss_mb": round(peak_rss_mb()),
            "settings": {k: v for k, v in dataclasses.asdict(mcfg).items() if k in ("layers", "k", "alpha", "fusion")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="Beauty")
    parser.add_argument("--models", nargs="+", default=["elcrec"])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--steps", type=int, default=0, help="time only the first N steps and extrapolate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--set", action="append", help="model setting KEY=VALUE (every model) or MODEL:KEY=VALUE")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    parser.add_argument("--data-mirror")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    before = matmul_gflops()
    rows = [bench_model(name, args) for name in args.models]
    after = matmul_gflops()
    for row in rows:
        row.update({"matmul_gflops_before": round(before, 1), "matmul_gflops_after": round(after, 1),
                    "threads": torch.get_num_threads(), "torch": torch.__version__})
        print(json.dumps(row))
    if len(rows) > 1:
        base = rows[0]["epoch_s"]
        print("ratios to " + str(rows[0]["model"]) + ": " +
              ", ".join(f"{r['model']} {float(r['epoch_s']) / float(base):.2f}x" for r in rows))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
