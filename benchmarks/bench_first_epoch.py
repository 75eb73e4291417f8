"""Where does epoch 0's extra time go? Per-step wall and CPU time, page faults and denormal operands, epochs 0 and 1.

    python -m benchmarks.bench_first_epoch --data-mirror ../shared/data --dataset Beauty --model elcrec --epochs 2

Reported on a 2-core Intel machine (issue 9): ELCRec's epoch 0 took 62 s and epoch 1 42 s. This times every step
of the first ``--epochs`` epochs (eager loop, the trainer's own batches, after the model's ``on_train_start``,
timed apart) and records per step: wall seconds, process CPU seconds (CPU time above wall time x threads
means spinning threads), minor page faults (fresh memory touched: allocator growth), and, every ``--probe``-th
step, the number of denormal floats entering matrix products forward and backward (x86 cores without
flush-to-zero can take a slow path for them; Intel much more than AMD). Summaries per epoch: first 10 steps,
the rest, and the median step, so a warm-up effect (the first steps slow) and a value effect (denormals in
epoch 0) can be told apart. ``--flush-denormal`` sets ``torch.set_flush_denormal(True)`` to test the second.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from elcrec.data import load_dataset
from elcrec.models.registry import build_model
from elcrec.train import TrainConfig, Trainer, seed_everything

MATMULS = {"mm", "bmm", "addmm", "baddbmm", "linear", "matmul"}
TINY = torch.finfo(torch.float32).tiny


class DenormalCounter(TorchDispatchMode):
    """Counts denormal elements in the floating inputs of every matrix product dispatched (forward and backward)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        if func.overloadpacket.__name__ in MATMULS:
            for a in args:
                if isinstance(a, torch.Tensor) and a.is_floating_point():
                    self.count += int(((a != 0) & (a.abs() < TINY)).sum())
        return func(*args, **(kwargs or {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="Beauty")
    parser.add_argument("--model", default="elcrec")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=0, help="only the first N steps of each epoch")
    parser.add_argument("--probe", type=int, default=8, help="count denormals every N-th step (0: never)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--flush-denormal", action="store_true")
    parser.add_argument("--data-mirror")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(args.flush_denormal)
    seed_everything(1)
    data = load_dataset(args.dataset, args.data_dir, args.data_mirror)
    model, mcfg = build_model(args.model, args.dataset, data.item_size)
    data.max_len = mcfg.max_len
    trainer = Trainer(model, data, TrainConfig(step_mode="eager"), Path(tempfile.mkdtemp()), torch.device("cpu"), 1,
                      {"model": args.model})
    wall, cpu = time.perf_counter(), time.process_time()
    model.on_train_start(trainer.context(0))
    print(json.dumps({"init_wall_s": round(time.perf_counter() - wall, 2),
                      "init_cpu_s": round(time.process_time() - cpu, 2), "threads": torch.get_num_threads()}))
    if args.steps:
        bounds = trainer.builder.bounds()[: args.steps]
        trainer.builder.bounds = lambda: bounds  # type: ignore[method-assign]
    real_loss, step_rows = model.loss, []
    state = {"step": -1, "mode": None}

    def probed_loss(batch):  # noqa: ANN001, ANN202 - the trainer calls loss once per step: our step clock
        close_step()
        state["step"] += 1
        state.update(wall=time.perf_counter(), cpu=time.process_time(), faults=resource.getrusage(resource.RUSAGE_SELF).ru_minflt)
        if args.probe and state["step"] % args.probe == 0:
            state["mode"] = DenormalCounter()
            state["mode"].__enter__()
        return real_loss(batch)

    def close_step() -> None:
        if state["step"] < 0 or "wall" not in state:
            return
        mode, state["mode"] = state["mode"], None
        if mode is not None:
            mode.__exit__(None, None, None)
        step_rows.append({"epoch": state["epoch"], "step": state["step"], "wall_s": time.perf_counter() - state["wall"],
                          "cpu_s": time.process_time() - state["cpu"],
                          "minor_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - state["faults"],
                          "denormal_matmul_inputs": None if mode is None else mode.count})
        state.pop("wall")

    model.loss = probed_loss  # type: ignore[method-assign]
    for epoch in range(args.epochs):
        state.update(epoch=epoch, step=-1)
        start = time.perf_counter()
        trainer.train_epoch(epoch)
        close_step()
        rows = [r for r in step_rows if r["epoch"] == epoch]
        probes = [r["denormal_matmul_inputs"] for r in rows if r["denormal_matmul_inputs"] is not None]
        print(json.dumps({
            "epoch": epoch, "train_wall_s": round(time.perf_counter() - start, 2),
            "first10_wall_s": round(sum(r["wall_s"] for r in rows[:10]), 2),
            "rest_wall_s": round(sum(r["wall_s"] for r in rows[10:]), 2),
            "median_step_wall_s": round(statistics.median(r["wall_s"] for r in rows), 3),
            "median_step_cpu_s": round(statistics.median(r["cpu_s"] for r in rows), 3),
            "first_steps_cpu_s": [round(r["cpu_s"], 2) for r in rows[:5]],
            "minor_faults_first10": sum(r["minor_faults"] for r in rows[:10]),
            "minor_faults_rest": sum(r["minor_faults"] for r in rows[10:]),
            "denormal_matmul_inputs_probed": probes,
        }), flush=True)


if __name__ == "__main__":
    main()
