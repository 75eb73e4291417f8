"""A SYNTHETIC published block (elcrec/records.py layout) for tests: made-up Beauty runs, never a training result.

    python -m tests.published_fixture          # rewrites tests/fixtures/published/beauty-synthetic/

Each run's per-user ranks are built so that its hit rates sit near a target (the paper's Beauty numbers for
ELCRec, ICLRec, SASRec, CL4SRec; the ablation variants scaled below ELCRec), with seeds 1, 2, 3 one user apart,
and metrics.json is computed from those ranks, exactly as the trainer does. Profiles say "synthetic GPU"; train
logs rise to a plateau (ELCRec's loss ends negative, as in the paper's Figure 3). ``write_block(dest, targets=...)``
moves a model's numbers (the verdict-flip tests).
"""
from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from elcrec.runfolder import METRIC_KEYS, metrics_from_ranks, per_user_metrics

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "published" / "beauty-synthetic"
DATASET = "Beauty"
USERS = 1000
SEEDS = (1, 2, 3)
EPOCHS = 30
# model -> target (HR@5, HR@10, HR@20), per-epoch seconds, peak GPU MB
TARGETS: dict[str, tuple[tuple[float, float, float], float, float]] = {
    "elcrec": ((0.0529, 0.0762, 0.1079), 9.5, 1600.0),
    "iclrec": ((0.0495, 0.0744, 0.1072), 12.0, 1800.0),
    "sasrec": ((0.0374, 0.0620, 0.0901), 6.0, 1200.0),
    "cl4srec": ((0.0423, 0.0700, 0.0994), 8.0, 1400.0),
    "elcrec-b": ((0.0440, 0.0640, 0.0900), 8.0, 1400.0),
    "elcrec-b-icl": ((0.0470, 0.0680, 0.0960), 9.0, 1500.0),
    "elcrec-b-elcm": ((0.0500, 0.0720, 0.1020), 8.5, 1450.0),
}
NOT_RUN = {"bert4rec": "not run: compute (never started within the job's budget)"}
PROVENANCE = {
    "synthetic": True,
    "note": "SYNTHETIC TEST FIXTURE: made-up numbers in the published format (tests/published_fixture.py), "
            "not a training result",
    "device": "synthetic GPU (fixture)", "driver": "none (synthetic)", "torch": "none (synthetic)",
    "cuda": "none (synthetic)", "git_commit": "synthetic", "command": "python -m tests.published_fixture",
    "date": "2026-12-02T00:00:00+00:00",
}


def fixture_ranks(hits: tuple[float, float, float], seed: int, model: str, users: int = USERS) -> np.ndarray:
    """0-based ranks: round(users * HR@K) + (seed - 2) users below each K, the rest far down, shuffled."""
    c5, c10, c20 = (int(round(users * h)) + seed - 2 for h in hits)
    ranks = np.concatenate([np.resize([0, 0, 1, 2, 3, 4], c5), np.resize(np.arange(5, 10), c10 - c5),
                            np.resize(np.arange(10, 20), c20 - c10), 20 + (np.arange(users - c20) * 37) % 12000])
    return np.random.default_rng([seed, zlib.crc32(model.encode())]).permutation(ranks).astype(np.int64)


def _train_log(model: str, test: dict[str, float]) -> pd.DataFrame:
    e = np.arange(EPOCHS, dtype=float)
    rise = 1.0 - np.exp(-(e + 1) / 6.0)
    end = -3.5 if model.startswith("elcrec") and model != "elcrec-b" else 0.8
    loss = 7.0 * np.exp(-e / 3.0) + end * (1.0 - np.exp(-e / 10.0))
    return pd.DataFrame({"epoch": e.astype(int), "loss_rec": np.linspace(8.0, 5.0, EPOCHS), "loss_total": loss,
                         **{f"valid_{k}": 1.1 * test[k] * rise for k in METRIC_KEYS},
                         "train_seconds": np.full(EPOCHS, TARGETS[model][1]), "valid_seconds": np.full(EPOCHS, 1.0)})


def write_run(root: Path, model: str, seed: int, hits: tuple[float, float, float]) -> None:
    _, per_epoch, memory = TARGETS[model]
    out = root / "runs" / DATASET / model / f"seed{seed}"
    out.mkdir(parents=True, exist_ok=True)
    ranks = fixture_ranks(hits, seed, model)
    per_user = pd.DataFrame({"user": np.arange(len(ranks)), "rank": ranks, **per_user_metrics(ranks)})
    with gzip.GzipFile(out / "per_user_test.csv.gz", "wb", mtime=0) as gz:  # mtime 0: byte-identical rewrites
        gz.write(per_user.to_csv(index=False).encode())
    test = metrics_from_ranks(ranks)
    _train_log(model, test).to_csv(out / "train_log.csv", index=False)
    jitter = 1.0 + 0.01 * (seed - 2)
    files = {
        "metrics.json": {"status": "ok", "model": model, "dataset": DATASET, "seed": seed, "test": test,
                         "valid_best": {k: 1.1 * v for k, v in test.items()}, "best_epoch": EPOCHS - 1,
                         "epochs": EPOCHS, "stopped_early": False, "early_stopping_metric": "NDCG@20"},
        "profile.json": {"train_seconds": per_epoch * jitter * EPOCHS, "eval_seconds": 30.0,
                         "seconds_per_epoch": per_epoch * jitter, "epochs": EPOCHS,
                         "peak_memory_mb": memory * jitter, "memory_kind": "cuda_max_memory_allocated",
                         "device": PROVENANCE["device"], "torch": "none (synthetic)", "git_commit": "synthetic"},
        "config.json": {"model": model, "dataset": DATASET, "seed": seed, "synthetic": True},
    }
    for name, obj in files.items():
        (out / name).write_text(json.dumps(obj, indent=2) + "\n")


def write_block(dest: Path, targets: dict[str, tuple[float, float, float]] | None = None) -> Path:
    """The synthetic block at ``dest``; ``targets`` replaces some models' (HR@5, HR@10, HR@20)."""
    hits = {m: t[0] for m, t in TARGETS.items()} | (targets or {})
    plan = []
    for model in TARGETS:
        for seed in SEEDS:
            write_run(dest, model, seed, hits[model])
            plan.append({"model": model, "seed": seed, "status": "ok", "command": "synthetic", "seconds": 0.0})
    for model, status in NOT_RUN.items():
        for seed in SEEDS:
            run = dest / "runs" / DATASET / model / f"seed{seed}"
            run.mkdir(parents=True, exist_ok=True)
            (run / "metrics.json").write_text(json.dumps({"status": status, "model": model, "dataset": DATASET,
                                                          "seed": seed, "test": None, "valid_best": None}) + "\n")
            plan.append({"model": model, "seed": seed, "status": status, "command": "synthetic"})
    (dest / "plan.json").write_text(json.dumps({"dataset": DATASET, "slots": 8, "budget_s": 0, "runs": plan},
                                               indent=2) + "\n")
    (dest / "provenance.json").write_text(json.dumps(PROVENANCE, indent=2) + "\n")
    return dest


if __name__ == "__main__":
    import shutil

    shutil.rmtree(FIXTURE, ignore_errors=True)
    print(write_block(FIXTURE))
