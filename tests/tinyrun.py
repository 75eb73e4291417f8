"""A tiny prepared dataset under a registered name, and the CLI call that trains a small model on it in seconds.

The dataset folder is written as ``python -m elcrec download`` leaves it (sequence file + status.json with its
sha256), so every CLI command loads it through the one data path without the network or ../shared.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from elcrec.fileio import sha256_file

NAME = "Beauty-sub10"  # a registered name; the content is synthetic
OTHER = "Beauty-sub100"  # a second one with another item count (for "checkpoint of another dataset")
SMALL = ["--set", "layers=1", "--set", "hidden=16", "--set", "max_len=10", "--set", "batch_size=8",
         "--set", "eval_batch_size=64", "--device", "cpu"]


def write_dataset(data_dir: Path, name: str = NAME, users: int = 30, items: int = 40, length: tuple[int, int] = (6, 15),
                  seed: int = 0, lines: list[str] | None = None) -> Path:
    rng = np.random.default_rng(seed)
    if lines is None:
        lines = []
        for user in range(users):
            n = int(rng.integers(*length))
            lines.append(" ".join(map(str, [user + 1, *rng.choice(np.arange(1, items + 1), n, replace=n > items)])))
    folder = data_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    seq = folder / f"{name}.txt"
    seq.write_text("\n".join(lines) + "\n")
    (folder / "status.json").write_text(json.dumps({"dataset": name, "status": "ok", "sha256": sha256_file(seq)}))
    return data_dir


def train_args(data_dir: Path, out: Path, model: str = "sasrec", *extra: str) -> list[str]:
    return ["train", "--dataset", NAME, "--model", model, "--seed", "1", "--max-epochs", "1", "--out", str(out),
            "--data-dir", str(data_dir), *SMALL, *extra]


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes): 'byte-identical' compares two of these."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

