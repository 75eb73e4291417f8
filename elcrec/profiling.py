"""Time and peak-memory profiling of a run, the same for every model (ANCHORS §5).

Wall time per phase with ``perf_counter`` (and a CUDA synchronise before reading it on GPU, since kernels are
asynchronous). Peak memory: on GPU ``max_memory_allocated`` / ``max_memory_reserved`` with the peak reset at the
start of each phase; on CPU the process's peak resident set size (``ru_maxrss``), which cannot be reset, so it is
the peak of the whole process up to that point.
"""
from __future__ import annotations

import platform
import resource
import statistics
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"CPU: {line.split(':', 1)[1].strip()} ({torch.get_num_threads()} threads)"
    except OSError:
        pass
    return f"CPU: {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued kernels (CUDA runs asynchronously), so a clock read after it is honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Profiler:
    """Accumulates per-phase seconds and per-phase peak memory; survives resume through ``state``."""

    def __init__(self, device: torch.device, state: dict[str, Any] | None = None) -> None:
        self.device = device
        self.state: dict[str, Any] = state or {"seconds": {}, "epoch_seconds": [], "peak_mb": {}}


    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if self.device.type == "cuda":
            synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        start = time.perf_counter()
        try:
            yield
        finally:
            synchronize(self.device)
            self.state["seconds"][name] = self.state["seconds"].get(name, 0.0) + time.perf_counter() - start
            peaks = self.state["peak_mb"].setdefault(name, {})
            for key, value in self.memory().items():
                peaks[key] = max(peaks.get(key, 0.0), value)

    def memory(self) -> dict[str, float]:
        if self.device.type == "cuda":
            return {"allocated": torch.cuda.max_memory_allocated(self.device) / 2**20,
                    "reserved": torch.cuda.max_memory_reserved(self.device) / 2**20}
        return {"rss": peak_rss_mb()}

    def add_epoch(self, seconds: float) -> None:
        self.state["epoch_seconds"].append(seconds)

    def summary(self, epochs: int) -> dict[str, Any]:
        gpu = self.device.type == "cuda"
        key = "allocated" if gpu else "rss"
        peak = max((p.get(key, 0.0) for p in self.state["peak_mb"].values()), default=0.0)
        secs = self.state["seconds"]
        return {
            "train_seconds": secs.get("train", 0.0) + secs.get("init", 0.0),
            "eval_seconds": secs.get("valid", 0.0) + secs.get("test", 0.0),
            "phase_seconds": dict(secs),
            "seconds_per_epoch": statistics.median(self.state["epoch_seconds"]) if self.state["epoch_seconds"] else None,
            "epochs": epochs,
            "peak_memory_mb": peak,
            "memory_kind": "cuda_max_memory_allocated" if gpu else "cpu_peak_rss",
            "peak_memory_by_phase_mb": self.state["peak_mb"],
            "device": device_name(self.device),
            "torch": torch.__version__,
            "git_commit": git_commit(),
        }
