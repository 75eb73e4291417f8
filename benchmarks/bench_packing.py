"""Packing curve: aggregate training epochs per second of N runs sharing one GPU (N = 1, 2, 4, 8, 16).

    python -m benchmarks.bench_packing --device cuda --data-mirror ../shared/data --model elcrec \
        --runs 1 2 4 8 16 --epochs 3 --record out/packing.json

For each N, N worker processes (seeds 1..N; one CPU thread each, as `snakemake` would start them) build the
model, run its initialisation and ``--warmup-epochs`` untimed epochs (CUDA-graph capture happens there), and
wait at a barrier; then all train ``--epochs`` epochs (train + validation, the trainer's own loop) at once. The
aggregate rate is N x epochs over the wall time from the barrier to the last worker's end. The curve says how
many trainings to pack onto one GPU (config ``gpu_slots``): the smallest N past which the rate stops growing.
With CUDA MPS running (``--mps`` only labels the entries; benchmarks/gpu_bench.sh starts the daemon), the
workers' kernels share the GPU concurrently instead of by time slices.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import write_record


def worker(args: argparse.Namespace) -> None:
    from benchmarks.bench_epoch import Run

    torch.set_num_threads(1)
    run_args = argparse.Namespace(dataset=args.dataset, data_dir=args.data_dir, data_mirror=args.data_mirror,
                                  set=args.set, seed=args.seed, steps=0, device=args.device,
                                  warmup_epochs=args.warmup_epochs)
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(args.model, args.mode, run_args, Path(tmp))
        for epoch in range(args.warmup_epochs):
            run.epoch(epoch)
        Path(args.ready).touch()
        while not Path(args.go).exists():
            time.sleep(0.01)
        for epoch in range(args.warmup_epochs, args.warmup_epochs + args.epochs):
            run.epoch(epoch)
        end = time.time()
        result = run.result(run_args)
    Path(args.result).write_text(json.dumps({"end": end, **result}))


def pack(n: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    folder = tmp / f"n{n}"
    folder.mkdir()
    go = folder / "go"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    procs = []
    for i in range(n):
        cmd = [sys.executable, "-m", "benchmarks.bench_packing", "--worker", "--model", args.model, "--mode", args.mode,
               "--dataset", args.dataset, "--device", args.device, "--epochs", str(args.epochs),
               "--warmup-epochs", str(args.warmup_epochs), "--seed", str(i + 1), "--ready", str(folder / f"ready{i}"),
               "--go", str(go), "--result", str(folder / f"result{i}.json")]
        cmd += [f"--data-mirror={args.data_mirror}"] if args.data_mirror else []
        cmd += [f"--data-dir={args.data_dir}"] if args.data_dir else []
        for item in args.set or []:
            cmd += ["--set", item]
        procs.append(subprocess.Popen(cmd, env=env))
    while not all((folder / f"ready{i}").exists() for i in range(n)):
        if any(p.poll() not in (None, 0) for p in procs):
            for p in procs:
                p.kill()
            raise SystemExit(f"a packing worker failed (N={n})")
        time.sleep(0.05)
    start = time.time()
    go.touch()
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"packing workers exited with {codes} (N={n})")
    results = [json.loads((folder / f"result{i}.json").read_text()) for i in range(n)]
    wall = max(r["end"] for r in results) - start
    return {"model": args.model, "dataset": args.dataset, "device": results[0]["device"], "mode": args.mode,
            "mps": args.mps, "runs_per_gpu": n, "epochs_each": args.epochs, "wall_s": round(wall, 2),
            "aggregate_epochs_per_s": round(n * args.epochs / wall, 3),
            "seconds_per_epoch_each": [r["seconds_per_epoch"] for r in results],
            "peak_memory_mb_each": [r["peak_memory_mb"] for r in results]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="elcrec")
    parser.add_argument("--mode", default="auto", help="step mode of every run")
    parser.add_argument("--dataset", default="Beauty")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--warmup-epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--set", action="append")
    parser.add_argument("--data-mirror")
    parser.add_argument("--data-dir")
    parser.add_argument("--mps", action="store_true", help="label: CUDA MPS was running")
    parser.add_argument("--record")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for name in ("ready", "go", "result"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.runs:
            row = pack(n, args, Path(tmp))
            row["speedup_vs_1"] = round(row["aggregate_epochs_per_s"] / rows[0]["aggregate_epochs_per_s"], 2) if rows else 1.0
            print(json.dumps(row), flush=True)
            rows.append(row)
            if args.record:  # after every N: a job stopped by its time limit keeps the points it measured
                write_record(args.record, "bench_packing", sys.argv[1:] if argv is None else argv, rows)


if __name__ == "__main__":
    main()
