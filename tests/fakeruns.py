"""Synthetic run directories in the harness's exact format, for tests of the report layer.

``make_run`` writes what ``elcrec.train.Trainer`` writes (metrics.json, per_user_test.csv, train_log.csv,
profile.json, config.json) with metrics drawn from a per-user rank distribution, so that aggregates, tests,
tables and figures can be exercised in milliseconds without training anything.
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from elcrec.evaluate import METRIC_KEYS, metrics_from_ranks, per_user_metrics


def make_run(root: Path, dataset: str, model: str, seed: int, *, users: int = 200, quality: float = 1.0,
             epochs: int = 5, train_seconds: float = 100.0, peak_mb: float = 1000.0, status: str = "ok",
             device: str = "CPU: test") -> Path:
    """One run; higher ``quality`` gives better ranks. A ``status`` starting 'not run' writes only metrics.json."""
    out = root / "results" / "runs" / dataset / model / f"seed{seed}"
    out.mkdir(parents=True, exist_ok=True)
    if status != "ok":
        (out / "metrics.json").write_text(json.dumps({"status": status, "model": model, "dataset": dataset,
                                                      "seed": seed, "test": None, "valid_best": None}))
        return out
    rng = np.random.default_rng([seed, zlib.crc32(f"{dataset}/{model}".encode())])
    ranks = np.floor(rng.exponential(60.0 / quality, users)).astype(int)
    per_user = pd.DataFrame({"user": np.arange(users), "rank": ranks, **per_user_metrics(ranks)})
    per_user.to_csv(out / "per_user_test.csv", index=False)
    test = metrics_from_ranks(ranks)
    log = pd.DataFrame({
        "epoch": np.arange(epochs),
        "loss_rec": np.linspace(1.5, 1.0, epochs), "loss_total": np.linspace(8.0, -2.0, epochs),
        **{f"valid_{k}": np.linspace(0.2, 1.0, epochs) * test[k] for k in METRIC_KEYS},
        "train_seconds": np.full(epochs, train_seconds / epochs), "valid_seconds": np.full(epochs, 1.0),
    })
    log.to_csv(out / "train_log.csv", index=False)
    (out / "metrics.json").write_text(json.dumps({
        "status": "ok", "model": model, "dataset": dataset, "seed": seed, "test": test,
        "valid_best": {k: v * 1.1 for k, v in test.items()}, "best_epoch": epochs - 1, "epochs": epochs,
        "stopped_early": False, "early_stopping_metric": "NDCG@20"}))
    (out / "profile.json").write_text(json.dumps({
        "train_seconds": train_seconds, "eval_seconds": 5.0, "seconds_per_epoch": train_seconds / epochs,
        "epochs": epochs, "peak_memory_mb": peak_mb, "memory_kind": "cpu_peak_rss", "device": device,
        "torch": "test", "git_commit": "test"}))
    (out / "config.json").write_text(json.dumps({"model": model, "dataset": dataset, "seed": seed}))
    return out


def make_grid(root: Path, datasets=("Beauty", "Toys_and_Games"), models=("elcrec", "iclrec", "sasrec"),
              seeds=(1, 2, 3), quality: dict[str, float] | None = None) -> list[Path]:
    quality = quality or {"elcrec": 1.3, "iclrec": 1.1, "sasrec": 0.8}
    return [make_run(root, d, m, s, quality=quality.get(m, 1.0)) for d in datasets for m in models for s in seeds]
