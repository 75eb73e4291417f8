"""The short table a GPU job prints last, from the records its steps wrote (benchmarks/gpu_bench.sh).

    python -m benchmarks.gpu_table /tmp/gpu-bench     # a folder with records/*.json and steps.txt

Markdown: the arithmetic floor; eager vs graphed (and compiled) seconds per epoch with peak GPU memory per model;
the packing curve (aggregate epochs/s per number of runs sharing the GPU); the full-protocol run's test metrics
beside the paper's; the official code's time; and every step's exit status. What a step did not produce is shown
as "not run", never left out.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

PAPER_BEAUTY = {"HR@5": 0.0529, "HR@20": 0.1079, "NDCG@5": 0.0355, "NDCG@20": 0.0509}  # ELCRec Table 1, Beauty


def read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def floor_lines(work: Path) -> list[str]:
    floor = None
    for line in (work / "floor.log").read_text().splitlines() if (work / "floor.log").exists() else []:
        if line.startswith("{"):
            floor = json.loads(line)
    if floor is None:
        return ["floor: not run"]
    return [f"floor (ELCRec, Beauty, batch 256): {floor['gflop_per_step']} GFLOP/step, {floor['steps_per_epoch']} steps/epoch "
            f"-> {floor['floor_s_per_epoch_train']} s/epoch of training at {floor['peak_tflops']} TFLOP/s fp32 "
            f"(bytes floor {floor['floor_ms_per_step_bytes']} ms/step)", ""]


def mode_lines(work: Path, floor_s: float | None) -> list[str]:
    rows = []
    for name in ("modes.json", "compiled.json"):
        record = read(work / "records" / name)
        rows += record["entries"] if record else []
    if not rows:
        return ["step modes: not run", ""]
    out = ["| model | mode | s/epoch | train | valid | first epoch | peak alloc MiB | x floor | notes |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['train_s_per_epoch'] / floor_s:.0f}" if floor_s else "-"
        out.append(f"| {r['model']} | {r['mode']} | {r['seconds_per_epoch']:.3f} | {r['train_s_per_epoch']:.3f} | "
                   f"{r['valid_s_per_epoch']:.3f} | {r['first_epoch_s']:.2f} | {r['peak_memory_mb']} | {ratio} | "
                   f"{'; '.join(r.get('notes') or [])} |")
    return out + [""]


def packing_lines(work: Path) -> list[str]:
    out = []
    for name in ("packing.json", "packing_mps.json"):
        record = read(work / "records" / name)
        if not record:
            out.append(f"{name}: not run")
            continue
        out += [f"| runs/GPU ({'MPS' if 'mps' in name else 'no MPS'}) | aggregate epochs/s | x one run | s/epoch each |",
                "|---|---|---|---|"]
        for r in record["entries"]:
            each = sorted(r["seconds_per_epoch_each"])
            out.append(f"| {r['runs_per_gpu']} | {r['aggregate_epochs_per_s']:.2f} | {r['speedup_vs_1']:.2f} | "
                       f"{each[len(each) // 2]:.3f} |")
        out.append("")
    return out


def full_lines(work: Path) -> list[str]:
    metrics = read(work / "full" / "Beauty" / "elcrec" / "seed1" / "metrics.json")
    if not metrics:
        return ["full-protocol ELCRec Beauty run: not finished in this job", ""]
    test = metrics["test"]
    profile = read(work / "full" / "Beauty" / "elcrec" / "seed1" / "profile.json") or {}
    return [f"full-protocol ELCRec Beauty seed 1: {metrics['epochs']} epochs, best {metrics['best_epoch']}, "
            f"{profile.get('seconds_per_epoch')} s/epoch; test " +
            ", ".join(f"{k} {test[k]:.4f} (paper {v})" for k, v in PAPER_BEAUTY.items()), ""]


def official_lines(work: Path) -> list[str]:
    log = work / "official.log"
    if not log.exists():
        return ["official ELCRec code: not run", ""]
    text = log.read_text(errors="replace")
    rates = re.findall(r"(\d+\.\d+)s/it", text)
    return [f"official ELCRec code, 2 epochs: tqdm epoch rates {rates[-3:] or 'none found'} s/it (see official.log)", ""]


def main() -> None:
    work = Path(sys.argv[1])
    floor = None
    for line in (work / "floor.log").read_text().splitlines() if (work / "floor.log").exists() else []:
        if line.startswith("{"):
            floor = json.loads(line)["floor_s_per_epoch_train"]
    lines = [*floor_lines(work), *mode_lines(work, floor), *packing_lines(work), *full_lines(work),
             *official_lines(work), "steps:", *((work / "steps.txt").read_text().splitlines()
                                               if (work / "steps.txt").exists() else [])]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
