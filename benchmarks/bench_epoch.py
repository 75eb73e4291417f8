"""Seconds per training epoch (train + validation) on a full dataset: several models and step modes side by side.

    python -m benchmarks.bench_epoch --data-mirror ../shared/data --dataset Beauty --models elcrec iclrec s3rec \
        --set s3rec:pretrain_epochs=1
    python -m benchmarks.bench_epoch --data-mirror ../shared/data --models elcrec --modes eager static --epochs 2
    python -m benchmarks.bench_epoch --device cuda --modes eager graphed compiled --warmup-epochs 1 \
        --record out/records.json ...

Each model is built with its paper settings for the dataset, initialised (ELCRec's k-means, S3-Rec's
pre-training: timed apart as ``init_s``), then trained for ``--epochs`` full epochs exactly as the trainer does
(same batches, losses, optimiser, validation) in each ``--modes`` step mode (``TrainConfig.step_mode``, every
mode from the same seed). ``--warmup-epochs`` epochs run first and are not in the median (on a GPU: CUDA-graph
capture and torch.compile happen there); the first epoch's time is reported apart as ``first_epoch_s``.
On CPU the modes of one model run interleaved, epoch by epoch, so that a shared machine's load hits them alike;
on CUDA they run one after the other, so each gets its own peak-memory reading (reset per model and mode).
Printed per model and mode: median train and validation seconds per epoch, init seconds, peak memory (CUDA:
allocated and reserved; CPU: the process's peak RSS so far), and the matmul GFLOP/s measured in the same process
before and after (compare runs only relative to it). ``--record FILE`` writes the entries as JSON (the
benchmarks/records format: model, dataset, device, mode, seconds_per_epoch, peak memory, ...).
``--steps N`` times only the first N steps of an epoch and extrapolates (marked ``extrapolated``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import matmul_gflops, write_record
from elcrec.data import load_dataset
from elcrec.data.fetch import sequence_path
from elcrec.models.registry import build_model
from elcrec.profiling import device_name, peak_rss_mb, synchronize
from elcrec.train import TrainConfig, Trainer, run_phase, seed_everything

TRAIN_KEYS = {f.name for f in dataclasses.fields(TrainConfig)}


def model_sets(name: str, items: list[str] | None) -> dict[str, str]:
    """``--set`` values for one model: KEY=VALUE applies to every model, MODEL:KEY=VALUE to that one."""
    sets = {}
    for item in items or []:
        target, _, kv = item.rpartition(":")
        if target in ("", name):
            key, _, value = kv.partition("=")
            sets[key] = value
    return sets


class Run:
    """One model trained in one step mode, epoch by epoch, with its timings."""

    def __init__(self, name: str, mode: str, args: argparse.Namespace, tmp: Path) -> None:
        self.name, self.mode, self.device = name, mode, torch.device(args.device)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
        seed_everything(args.seed)
        data = load_dataset(args.dataset, args.data_dir, args.data_mirror)
        model, self.mcfg = build_model(name, args.dataset, data.item_size, model_sets(name, args.set))
        data.max_len = self.mcfg.max_len
        cfg = TrainConfig(**{k: v for k, v in model.train_overrides.items() if k in TRAIN_KEYS}, step_mode=mode)
        self.trainer = Trainer(model, data, cfg, tmp / f"{name}-{mode}", self.device, args.seed, {"model": name},
                               sequence_path(args.dataset, args.data_dir).parent)
        start = time.perf_counter()
        model.on_train_start(self.trainer.context(0))
        for phase in model.phases(self.trainer.context(0)):  # S3-Rec's pre-training, as the trainer runs it
            run_phase(phase)
        synchronize(self.device)
        self.init_s = time.perf_counter() - start
        self.full = self.trainer.builder.num_batches()
        self.steps = min(args.steps, self.full) if args.steps else self.full
        builder = self.trainer.builder
        if args.steps and hasattr(builder, "bounds"):  # the first N steps only (both loops slice by bounds())
            bounds = builder.bounds()[: self.steps]
            builder.bounds = lambda: bounds  # type: ignore[method-assign]
        elif args.steps:  # a model's own batch source (eager only)
            original = builder.epoch
            builder.epoch = lambda seed, epoch: (b for i, b in enumerate(original(seed, epoch))  # type: ignore[method-assign]
                                                 if i < self.steps)
        self.train_s: list[float] = []
        self.valid_s: list[float] = []

    def epoch(self, epoch: int) -> None:
        t0 = time.perf_counter()
        self.trainer.train_epoch(epoch)
        synchronize(self.device)
        t1 = time.perf_counter()
        self.trainer.evaluate("valid")
        synchronize(self.device)
        self.train_s.append((t1 - t0) * self.full / self.steps)
        self.valid_s.append(time.perf_counter() - t1)

    def result(self, args: argparse.Namespace) -> dict[str, Any]:
        timed = slice(args.warmup_epochs, None)
        train_med, valid_med = statistics.median(self.train_s[timed]), statistics.median(self.valid_s[timed])
        gpu = self.device.type == "cuda"
        peak = {"peak_memory_mb": round(torch.cuda.max_memory_allocated(self.device) / 2**20) if gpu
                else round(peak_rss_mb()),
                "memory_kind": "cuda_max_memory_allocated" if gpu else "cpu_peak_rss_of_process"}
        if gpu:
            peak["peak_gpu_reserved_mb"] = round(torch.cuda.max_memory_reserved(self.device) / 2**20)
        steps = self.trainer.steps
        return {"model": self.name, "dataset": args.dataset, "device": device_name(self.device), "mode": self.mode,
                "seconds_per_epoch": round(train_med + valid_med, 3), "train_s_per_epoch": round(train_med, 3),
                "valid_s_per_epoch": round(valid_med, 3), "first_epoch_s": round(self.train_s[0] + self.valid_s[0], 3),
                "epochs_timed": len(self.train_s[timed]), "warmup_epochs": args.warmup_epochs,
                "init_s": round(self.init_s, 2), **peak, "extrapolated_from_steps": args.steps or None,
                "notes": [] if steps is None else steps.notes,
                "settings": {k: v for k, v in dataclasses.asdict(self.mcfg).items()
                             if k in ("layers", "k", "alpha", "fusion", "pretrained")}}


def bench_model(name: str, args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    total = args.warmup_epochs + args.epochs
    if torch.device(args.device).type == "cpu":  # interleaved: every mode sees the same machine load
        runs = [Run(name, mode, args, tmp) for mode in args.modes]
        for epoch in range(total):
            for run in runs:
                run.epoch(epoch)
        return [run.result(args) for run in runs]
    rows = []
    for mode in args.modes:  # one after the other: a clean peak-memory reading per mode
        run = Run(name, mode, args, tmp)
        for epoch in range(total):
            run.epoch(epoch)
        rows.append(run.result(args))
        del run
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="Beauty")
    parser.add_argument("--models", nargs="+", default=["elcrec"])
    parser.add_argument("--modes", nargs="+", default=["eager"], help="step modes (TrainConfig.step_mode)")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per model and mode")
    parser.add_argument("--warmup-epochs", type=int, default=0, help="untimed epochs first (graph capture, compile)")
    parser.add_argument("--steps", type=int, default=0, help="time only the first N steps and extrapolate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--set", action="append", help="model setting KEY=VALUE (every model) or MODEL:KEY=VALUE")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    parser.add_argument("--data-mirror")
    parser.add_argument("--data-dir")
    parser.add_argument("--record", help="write the entries as JSON to this file (benchmarks/records format)")
    args = parser.parse_args(argv)
    before = matmul_gflops()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            for row in bench_model(name, args, Path(tmp)):
                print(json.dumps(row), flush=True)
                rows.append(row)
            if args.record:  # after every model: a job stopped by its time limit keeps what it measured
                write_record(args.record, "bench_epoch", sys.argv[1:] if argv is None else argv, rows)
    after = matmul_gflops()
    for row in rows:
        row.update({"matmul_gflops_before": round(before, 1), "matmul_gflops_after": round(after, 1),
                    "threads": torch.get_num_threads(), "torch": torch.__version__})
    for name in args.models:
        mine = [r for r in rows if r["model"] == name]
        base = mine[0]["seconds_per_epoch"]
        print(f"{name}: " + ", ".join(f"{r['mode']} {r['seconds_per_epoch']:.3f} s/epoch ({r['seconds_per_epoch'] / base:.2f}x)"
                                      for r in mine))
    if args.record:
        write_record(args.record, "bench_epoch", sys.argv[1:] if argv is None else argv, rows)


if __name__ == "__main__":
    main()
