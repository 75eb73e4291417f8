"""Shared helpers for the benchmark CLIs: a same-process matmul baseline and robust timing.

This machine is shared and noisy, so every benchmark prints medians over repeats next to the GFLOP/s of a
2048x2048 fp32 matmul measured in the same process: a figure is comparable across runs only relative to it.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def time_call(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def code_digest(root: str = ".") -> str:
    """sha256 over the harness's Python sources (elcrec/, baselines/, benchmarks/), in path order.

    The device machine gets a copy of the working tree without .git: this digest, computed there and by
    ``make gpu-stage`` here (beside the commit), ties a GPU job's results to the commit that produced them.
    """
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256()
    for path in sorted(p for d in ("elcrec", "baselines", "benchmarks") for p in (Path(root) / d).rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def write_record(path: str, benchmark: str, argv: list[str], entries: list[dict]) -> None:
    """One benchmarks/records JSON file: what ran (command, date, commit) and its entries."""
    import datetime
    from pathlib import Path

    from elcrec.fileio import write_json
    from elcrec.profiling import git_commit

    write_json(Path(path), {"benchmark": benchmark,
                            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                            "command": f"python -m benchmarks.{benchmark} " + " ".join(argv),
                            "git_commit": git_commit(), "entries": entries})
