"""Train many runs packed onto one GPU within a time budget, then archive the finished run folders (small files).

    python -m benchmarks.pack_runs --dataset Beauty --seeds 1 2 3 --slots 8 --budget 520 \
        --models elcrec iclrec elcrec-b elcrec-b-icl elcrec-b-elcm sasrec s3rec cl4srec coserec bert4rec \
        --set s3rec:pretrained=.gpu-stage/shared/checkpoints/S3Rec-pretrain-Beauty-epochs-150.pt \
        --data-mirror .gpu-stage/shared/data --data-dir /tmp/gpu-data --root /tmp/block --archive OUT/block.tar.gz

What the workflow does with ``gpu_slots`` (rules/train.smk), for a GPU machine without Snakemake: the runs
(model-major, then seed, in the order given: the runs that matter most first) are started as
``python -m elcrec train`` processes, at most ``--slots`` at a time (one CPU thread each), while the budget
lasts. A run still going when the budget ends is stopped and recorded as ``not run: compute`` (with its
epochs so far), and so is every run never started, so the next job knows what is left. The archive holds per
finished run metrics.json, train_log.csv, profile.json, config.json, per_user_test.csv.gz and any extra log
(S3-Rec's pretrain_log.csv), never model weights; plus plan.json (every run's status, command and seconds),
provenance.json (``--provenance``) and each run's console log.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_epoch import model_sets
from elcrec.records import PER_USER_PUBLISHED, RECORD_FILES

SMALL_FILES = tuple(n for n in RECORD_FILES if n != PER_USER_PUBLISHED)  # copied as they are; the ranks gzipped


def command(args: argparse.Namespace, model: str, seed: int) -> list[str]:
    out = Path(args.root) / "runs" / args.dataset / model / f"seed{seed}"
    cmd = [sys.executable, "-m", "elcrec", "train", "--dataset", args.dataset, "--model", model, "--seed", str(seed),
           "--out", str(out), "--device", args.device, "--threads", "1"]
    cmd += [f"--data-mirror={args.data_mirror}"] if args.data_mirror else []
    cmd += [f"--data-dir={args.data_dir}"] if args.data_dir else []
    return cmd + [arg for key, value in model_sets(model, args.set).items() for arg in ("--set", f"{key}={value}")]


def epochs_done(out: Path) -> int:
    log = out / "train_log.csv"
    if log.exists():
        return max(0, len(log.read_text().splitlines()) - 1)
    return 0


def run_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    start = time.time()
    logs = Path(args.root) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    plan = [{"model": m, "seed": s, "status": "not run: compute (never started within the job's budget)",
             "command": " ".join(command(args, m, s))} for m in args.models for s in args.seeds]
    queue = list(range(len(plan)))
    running: dict[int, tuple[subprocess.Popen, float]] = {}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "TQDM_DISABLE": "1"}
    while queue or running:
        for i, (proc, t0) in list(running.items()):
            if proc.poll() is not None:
                plan[i]["seconds"] = round(time.time() - t0, 1)
                plan[i]["status"] = "ok" if proc.returncode == 0 else f"failed: exit {proc.returncode} (see its log)"
                del running[i]
                print(f"[{time.time() - start:6.0f}s] {plan[i]['model']} seed {plan[i]['seed']}: {plan[i]['status']} "
                      f"in {plan[i]['seconds']} s", flush=True)
        if time.time() - start > args.budget:
            break
        while queue and len(running) < args.slots:
            i = queue.pop(0)
            log = open(logs / f"{plan[i]['model']}_seed{plan[i]['seed']}.log", "w")  # noqa: SIM115 (closed at exit)
            running[i] = (subprocess.Popen(command(args, plan[i]["model"], plan[i]["seed"]), stdout=log,
                                           stderr=subprocess.STDOUT, env=env), time.time())
        time.sleep(0.5)
    for i, (proc, t0) in running.items():  # the budget is over: stop what is left, say how far it got
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        out = Path(args.root) / "runs" / args.dataset / plan[i]["model"] / f"seed{plan[i]['seed']}"
        plan[i]["status"] = f"not run: compute (stopped at the job's budget after {epochs_done(out)} epochs)"
        plan[i]["seconds"] = round(time.time() - t0, 1)
    return plan


def archive(args: argparse.Namespace, plan: list[dict[str, Any]]) -> None:
    root = Path(args.root)
    staging = root / "archive"
    shutil.rmtree(staging, ignore_errors=True)
    for row in plan:
        src = root / "runs" / args.dataset / row["model"] / f"seed{row['seed']}"
        dst = staging / "runs" / args.dataset / row["model"] / f"seed{row['seed']}"
        if row["status"] != "ok":
            continue
        dst.mkdir(parents=True)
        for name in SMALL_FILES:
            if (src / name).exists():
                shutil.copy2(src / name, dst / name)
        with open(src / "per_user_test.csv", "rb") as fh, gzip.open(dst / PER_USER_PUBLISHED, "wb") as gz:
            shutil.copyfileobj(fh, gz)
    (staging / "plan.json").parent.mkdir(parents=True, exist_ok=True)
    (staging / "plan.json").write_text(json.dumps({"dataset": args.dataset, "slots": args.slots,
                                                   "budget_s": args.budget, "runs": plan}, indent=2))
    if args.provenance and Path(args.provenance).exists():
        shutil.copy2(args.provenance, staging / "provenance.json")
    shutil.copytree(root / "logs", staging / "logs")
    Path(args.archive).parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(args.archive, "w:gz") as tar:
        tar.add(staging, arcname=f"published_runs_{args.dataset}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="Beauty")
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--slots", type=int, default=8, help="runs at once on the GPU (the packing curve's choice)")
    parser.add_argument("--budget", type=float, default=520, help="seconds; runs still going then are stopped")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--set", action="append", help="KEY=VALUE for every run or MODEL:KEY=VALUE")
    parser.add_argument("--data-mirror")
    parser.add_argument("--data-dir")
    parser.add_argument("--root", required=True, help="scratch folder for the run folders and logs")
    parser.add_argument("--archive", required=True, help="the .tar.gz to write")
    parser.add_argument("--provenance", help="a provenance.json to put into the archive")
    args = parser.parse_args(argv)
    plan = run_all(args)
    archive(args, plan)
    done = sum(r["status"] == "ok" for r in plan)
    print(f"{done} of {len(plan)} runs finished; archive {args.archive}")
    for row in plan:
        print(f"  {row['model']:>14} seed {row['seed']}: {row['status']}")


if __name__ == "__main__":
    main()
