"""A run folder ``results/runs/{dataset}/{model}/seed{n}/`` as files on disk: its layout, its metric names, and
the one reader of it (no torch, so the report, the figures and the workflow can use it).

Layout (written by :mod:`elcrec.runs` and :mod:`elcrec.train`):
  metrics.json        status, test metrics and best validation metrics (``METRIC_KEYS``), epochs
  per_user_test.csv   per-user rank and metrics on the test split (for paired tests)
  train_log.csv       one row per epoch: every loss term, the total, validation metrics, seconds
  profile.json        time and peak memory (see elcrec.profiling)
  config.json         the resolved model and training configuration
  model.pt            the best state in the official layout + meta
  resume.pt           while training only

:func:`read_run` is the only reader of metrics.json and profile.json for reports: a malformed file raises
:class:`~elcrec.errors.HarnessError` naming it; a folder without metrics.json is ``unfinished``.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from elcrec.errors import HarnessError

if TYPE_CHECKING:
    import pandas as pd

FINAL_FILES = ("metrics.json", "per_user_test.csv", "train_log.csv", "profile.json", "config.json", "model.pt")
RESUME = "resume.pt"
UNFINISHED = "unfinished: no metrics.json"

# ------------------------------------------------------------------------------------------------ metrics

KS = (5, 10, 20)
METRIC_KEYS = tuple(f"{m}@{k}" for m in ("HR", "NDCG") for k in KS)


def per_user_metrics(ranks: np.ndarray, ks: tuple[int, ...] = KS) -> dict[str, np.ndarray]:
    """HR@K = 1[rank < K] and NDCG@K = 1[rank < K] / log2(rank + 2) per user, from 0-based ranks."""
    ranks = np.asarray(ranks, dtype=np.float64)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        out[f"HR@{k}"] = (ranks < k).astype(np.float64)
    for k in ks:
        out[f"NDCG@{k}"] = np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)
    return out


def metrics_from_ranks(ranks: np.ndarray, ks: tuple[int, ...] = KS) -> dict[str, float]:
    return {key: float(v.mean()) for key, v in per_user_metrics(ranks, ks).items()}


# ------------------------------------------------------------------------------------------------ run names


def variant_name(model: str, settings: dict[str, Any]) -> str:
    """``elcrec~alpha=0.1~k=64``: a model run with fixed settings (the workflow's sensitivity runs)."""
    return model + "".join(f"~{key}={value:g}" if isinstance(value, (int, float)) else f"~{key}={value}"
                           for key, value in settings.items())


def parse_variant(name: str) -> tuple[str, dict[str, str]]:
    """``elcrec~alpha=0.1`` -> ("elcrec", {"alpha": "0.1"}); a malformed setting raises HarnessError."""
    base, *named = name.split("~")
    settings = {}
    for item in named:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise HarnessError(f"model name {name!r}: expected model~key=value, got {item!r}")
        settings[key] = value
    return base, settings


# ------------------------------------------------------------------------------------------------ reading

SEED_DIR = re.compile(r"seed(\d+)")
PROFILE_NUMBERS = ("train_seconds", "seconds_per_epoch", "peak_memory_mb")


def seed_of(run: Path) -> int | None:
    """The seed of a run directory named ``seed<integer>``; None for any other name."""
    match = SEED_DIR.fullmatch(run.name)
    return int(match.group(1)) if match else None


def run_path(runs_root: str | Path, dataset: str, model: str, seed: int) -> Path:
    return Path(runs_root) / dataset / model / f"seed{seed}"


def run_dirs(runs_root: str | Path) -> list[Path]:
    """Every ``{dataset}/{model}/seed{n}`` directory under ``runs_root``, sorted."""
    root = Path(runs_root)
    if not root.is_dir():
        raise HarnessError(f"{root}: no such runs folder (expected results/runs/{{dataset}}/{{model}}/seed{{n}})")
    return sorted(p for p in root.glob("*/*/seed*") if p.is_dir() and seed_of(p) is not None)


@dataclass(frozen=True)
class RunRecord:
    """What one run folder says: its status, test metrics (ok runs only) and profile (NaN / "" when absent)."""

    dataset: str
    model: str
    seed: int
    path: Path
    status: str
    test: dict[str, float] = field(default_factory=dict)
    train_seconds: float = math.nan
    seconds_per_epoch: float = math.nan
    peak_memory_mb: float = math.nan
    memory_kind: str = ""
    device: str = ""
    epochs: float = math.nan
    best_epoch: float = math.nan

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def finished(self) -> bool:
        """metrics.json exists (an ok run or a 'not run' one)."""
        return self.status != UNFINISHED


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HarnessError(f"{path}: cannot be read as JSON ({exc}); rerun that run or delete its folder") from None
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _number(value: Any, path: Path, key: str, *, required: bool = True) -> float:
    if value is None and not required:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise HarnessError(f"{path}: {key} must be a finite number, found {value!r}")
    return float(value)


def _optional_int(value: Any, path: Path, key: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int):
        raise HarnessError(f"{path}: {key} must be an integer, found {value!r}")
    return float(value)


def _read_profile(run: Path) -> dict[str, Any]:
    path = run / "profile.json"
    out: dict[str, Any] = {**{k: math.nan for k in PROFILE_NUMBERS}, "memory_kind": "", "device": "",
                           "epochs": math.nan}
    if not path.exists():
        return out
    prof = read_json(path)
    for key in PROFILE_NUMBERS:
        out[key] = _number(prof.get(key), path, key, required=False)
    for key in ("memory_kind", "device"):
        value = prof.get(key, "")
        if value is not None and not isinstance(value, str):
            raise HarnessError(f"{path}: {key} must be a string, found {value!r}")
        out[key] = value or ""
    out["epochs"] = _optional_int(prof.get("epochs"), path, "epochs")
    return out


def check_metric_values(values: dict[str, Any], where: str) -> None:
    """Every HR/NDCG value is a finite number in [0, 1]; anything else is a corrupt or foreign metrics file, which
    no table may show (or bold). Called by :func:`read_run` (issue 12)."""
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise HarnessError(f"{where}: {key} must be a finite number, found {value!r}; rerun that run")
        if not 0.0 <= value <= 1.0:
            raise HarnessError(f"{where}: {key} = {value!r} lies outside [0, 1], so the file is corrupt or not "
                               "written by this harness; rerun that run or delete its folder")


def read_run(run: Path) -> RunRecord:
    """One run directory ``.../{dataset}/{model}/seed{seed}``, checked against its own folder names."""
    seed = seed_of(run)
    if seed is None:
        raise HarnessError(f"{run}: a run directory must be named seed<integer>")
    base = {"dataset": run.parent.parent.name, "model": run.parent.name, "seed": seed, "path": run}
    path = run / "metrics.json"
    if not path.exists():
        return RunRecord(**base, status=UNFINISHED)
    metrics = read_json(path)
    status = metrics.get("status")
    if not isinstance(status, str) or not status:
        raise HarnessError(f"{path}: missing or empty 'status' (expected 'ok' or 'not run: <reason>')")
    for key in ("dataset", "model", "seed"):
        if key in metrics and metrics[key] != base[key]:
            raise HarnessError(f"{path}: {key} is {metrics[key]!r} but the directory says {base[key]!r}")
    if status != "ok":
        return RunRecord(**base, status=status)
    test = metrics.get("test")
    if not isinstance(test, dict):
        raise HarnessError(f"{path}: status is 'ok' but 'test' is {test!r}, not an object of metrics")
    missing = [m for m in METRIC_KEYS if m not in test]
    if missing:
        raise HarnessError(f"{path}: test metrics lack {', '.join(missing)}")
    check_metric_values({m: test[m] for m in METRIC_KEYS}, str(path))
    values = {m: _number(test[m], path, f"test[{m!r}]") for m in METRIC_KEYS}
    prof = _read_profile(run)
    epochs = _optional_int(metrics.get("epochs"), path, "epochs")
    if math.isnan(epochs):
        epochs = prof["epochs"]
    return RunRecord(**base, status="ok", test=values, **{k: prof[k] for k in (*PROFILE_NUMBERS, "memory_kind",
                                                                               "device")},
                     epochs=epochs, best_epoch=_optional_int(metrics.get("best_epoch"), path, "best_epoch"))


def read_runs(runs_root: str | Path) -> list[RunRecord]:
    """Every run folder under ``runs_root`` (``results/runs``), in path order."""
    return [read_run(run) for run in run_dirs(runs_root)]


def read_train_log(run: Path) -> "pd.DataFrame | None":
    """A run's train_log.csv, one row per epoch (the last row of a repeated epoch after a resume), or None."""
    import pandas as pd

    path = run / "train_log.csv"
    if not path.is_file():
        return None
    log = pd.read_csv(path)
    if "epoch" not in log:
        return None
    return log.drop_duplicates("epoch", keep="last").sort_values("epoch")
