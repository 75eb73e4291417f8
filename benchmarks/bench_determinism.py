"""What torch's deterministic kernels cost a training step: the same steps timed with them off and on, interleaved.

    python -m benchmarks.bench_determinism --data-mirror ../shared/data --dataset Beauty --models elcrec sasrec \
        --threads 2 --steps 10 --repeats 3

``seed_everything`` turns the deterministic kernels on by default (docs/reliability.md: with more than one CPU
thread the backward of ``weight[idx]`` otherwise accumulates in a thread-dependent order). Each repeat times the
first ``--steps`` training steps of epoch 0 once in each mode (alternating, so machine load hits both alike);
printed: median seconds per step in each mode and their ratio, beside the matmul GFLOP/s of this process.
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import matmul_gflops
from elcrec.data import load_dataset
from elcrec.models.registry import build_model
from elcrec.train import TrainConfig, Trainer, seed_everything


def bench(name: str, args: argparse.Namespace) -> dict[str, object]:
    seed_everything(args.seed)
    data = load_dataset(args.dataset, args.data_dir, args.data_mirror)
    model, mcfg = build_model(name, args.dataset, data.item_size, {})
    data.max_len = mcfg.max_len
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(model, data, TrainConfig(), Path(tmp), torch.device(args.device), args.seed, {"model": name})
        model.on_train_start(trainer.context(0))
        original = trainer.builder.epoch
        trainer.builder.epoch = lambda seed, epoch: itertools.islice(original(seed, epoch), args.steps)  # type: ignore[method-assign]
        times: dict[bool, list[float]] = {False: [], True: []}
        for _, mode in itertools.product(range(args.repeats), (False, True)):
            torch.use_deterministic_algorithms(mode, warn_only=True)
            start = time.perf_counter()
            trainer.train_epoch(0)
            times[mode].append((time.perf_counter() - start) / args.steps)
    off, on = statistics.median(times[False]), statistics.median(times[True])
    return {"model": name, "dataset": args.dataset, "steps": args.steps, "repeats": args.repeats,
            "s_per_step_nondeterministic": round(off, 4), "s_per_step_deterministic": round(on, 4),
            "ratio": round(on / off, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="Beauty")
    parser.add_argument("--models", nargs="+", default=["elcrec", "sasrec"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-mirror")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gflops = matmul_gflops()
    for name in args.models:
        print(json.dumps({**bench(name, args), "threads": args.threads, "matmul_gflops": round(gflops, 1),
                          "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
