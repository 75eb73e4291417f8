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
