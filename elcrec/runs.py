"""The run directory: what a finished run leaves, written atomically, and the resumable state.

``results/runs/{dataset}/{model}/seed{seed}/``:
  metrics.json        test metrics and best validation metrics (evaluator keys), status, epochs
  per_user_test.csv   per-user rank and metrics on the test split (for paired tests)
  train_log.csv       one row per epoch: every loss term, the total, validation metrics, seconds
  profile.json        time and peak memory (see elcrec.profiling)
  config.json         the resolved model and training configuration
  model.pt            the best state in the official layout + meta (loadable by ``python -m elcrec evaluate``)
  resume.pt           while training: model, optimiser, early-stopping and profiler state after the last epoch
A run with metrics.json is finished and is never overwritten unless asked.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from elcrec.errors import HarnessError
from elcrec.fileio import atomic_path, write_json
from elcrec.runfolder import FINAL_FILES, RESUME  # noqa: F401 (the layout lives there)

from elcrec.runset import write_not_run  # noqa: E402,F401 - torch-free, beside the run-folder view

SNAPSHOTS_PARTIAL = "snapshots.partial"  # while training: the snapshots taken so far (moved to snapshots/ at the end)


def prepare_run_dir(out: Path, overwrite: bool) -> None:
    """Refuse to touch a finished run unless asked; ``overwrite`` also discards a half-finished one."""
    finished = (out / "metrics.json").exists() and not read_json(out / "metrics.json")["status"].startswith("not run")
    if finished and not overwrite:
        raise HarnessError(f"{out} holds a finished run (metrics.json); pass --overwrite to train it again")
    if overwrite:
        for name in (*FINAL_FILES, RESUME):
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / SNAPSHOTS_PARTIAL, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


def save_torch(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_resume(out: Path) -> dict[str, Any] | None:
    path = out / RESUME
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file
        raise HarnessError(f"{path} is unreadable ({exc}); delete it to start the run from scratch") from None


def save_model(path: Path, official_state: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    save_torch({"state_dict": official_state, "meta": meta}, path)


def write_outputs(out: Path, files: dict[str, Any]) -> None:
    """Write the final files: JSON for dicts, text for strings; the metrics file last (it marks completion)."""
    for name, content in sorted(files.items(), key=lambda kv: kv[0] == "metrics.json"):
        if isinstance(content, str):
            from elcrec.fileio import write_text

            write_text(out / name, content)
        else:
            write_json(out / name, content)


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
