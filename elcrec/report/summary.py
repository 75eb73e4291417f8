"""Every run directory in one tidy table, and mean / SD / n per dataset × model × metric.

``collect_runs(runs_root)`` reads ``{runs_root}/{dataset}/{model}/seed{seed}/`` (metrics.json, profile.json)
and returns one row per dataset × model × seed × metric:

  dataset, model, seed, metric, value, status, train_seconds, seconds_per_epoch, peak_memory_mb, memory_kind,
  device, epochs, best_epoch

* A finished run has status ``ok`` and one row per evaluator metric (``elcrec.evaluate.METRIC_KEYS``).
* A run that could not happen (metrics.json with status ``not run: <reason>``, test null) keeps its rows, with
  value NaN and that status: it is never silently dropped.
* A run directory without metrics.json (crashed or still training) gets rows with status
  ``unfinished: no metrics.json``.
* profile.json is optional (its columns stay empty without it); when present it must be valid.

A malformed file (invalid JSON, a missing metric, a non-numeric value, a dataset/model/seed that disagrees with
the directory) raises :class:`~elcrec.errors.HarnessError` naming the file.

``write_summary(runs_root, out_csv, cells_csv)`` writes that table and the cells table (dataset, model, metric,
mean, sd, n, n_runs, seeds, status), where n, mean and sd count ``ok`` runs only.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from elcrec.errors import HarnessError
from elcrec.evaluate import METRIC_KEYS
from elcrec.fileio import write_text
from elcrec.report.rundirs import seed_of

SUMMARY_COLUMNS = ("dataset", "model", "seed", "metric", "value", "status", "train_seconds", "seconds_per_epoch",
                   "peak_memory_mb", "memory_kind", "device", "epochs", "best_epoch")
CELL_COLUMNS = ("dataset", "model", "metric", "mean", "sd", "n", "n_runs", "seeds", "status")
PROFILE_NUMBERS = ("train_seconds", "seconds_per_epoch", "peak_memory_mb")
UNFINISHED = "unfinished: no metrics.json"


def _read_json(path: Path) -> dict[str, Any]:
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
    empty: dict[str, Any] = {**{k: math.nan for k in PROFILE_NUMBERS}, "memory_kind": "", "device": "",
                             "epochs": math.nan}
    if not path.exists():
        return empty
    prof = _read_json(path)
    out = dict(empty)
    for key in PROFILE_NUMBERS:
        out[key] = _number(prof.get(key), path, key, required=False)
    for key in ("memory_kind", "device"):
        value = prof.get(key, "")
        if value is not None and not isinstance(value, str):
            raise HarnessError(f"{path}: {key} must be a string, found {value!r}")
        out[key] = value or ""
    out["epochs"] = _optional_int(prof.get("epochs"), path, "epochs")
    return out


def read_run(run: Path) -> list[dict[str, Any]]:
    """The summary rows (one per metric) of one run directory ``.../{dataset}/{model}/seed{seed}``."""
    seed = seed_of(run)
    if seed is None:
        raise HarnessError(f"{run}: a run directory must be named seed<integer>")
    dataset, model = run.parent.parent.name, run.parent.name
    base: dict[str, Any] = {"dataset": dataset, "model": model, "seed": seed}
    blank = {**{k: math.nan for k in PROFILE_NUMBERS}, "memory_kind": "", "device": "", "epochs": math.nan,
             "best_epoch": math.nan}
    path = run / "metrics.json"
    if not path.exists():
        return [{**base, "metric": m, "value": math.nan, "status": UNFINISHED, **blank} for m in METRIC_KEYS]
    metrics = _read_json(path)
    status = metrics.get("status")
    if not isinstance(status, str) or not status:
        raise HarnessError(f"{path}: missing or empty 'status' (expected 'ok' or 'not run: <reason>')")
    for key, expected in (("dataset", dataset), ("model", model), ("seed", seed)):
        if key in metrics and metrics[key] != expected:
            raise HarnessError(f"{path}: {key} is {metrics[key]!r} but the directory says {expected!r}")
    if status != "ok":
        return [{**base, "metric": m, "value": math.nan, "status": status, **blank} for m in METRIC_KEYS]
    test = metrics.get("test")
    if not isinstance(test, dict):
        raise HarnessError(f"{path}: status is 'ok' but 'test' is {test!r}, not an object of metrics")
    missing = [m for m in METRIC_KEYS if m not in test]
    if missing:
        raise HarnessError(f"{path}: test metrics lack {', '.join(missing)}")
    values = {m: _number(test[m], path, f"test[{m!r}]") for m in METRIC_KEYS}
    prof = _read_profile(run)
    epochs = _optional_int(metrics.get("epochs"), path, "epochs")
    if math.isnan(epochs):
        epochs = prof["epochs"]
    extra = {**{k: prof[k] for k in (*PROFILE_NUMBERS, "memory_kind", "device")}, "epochs": epochs,
             "best_epoch": _optional_int(metrics.get("best_epoch"), path, "best_epoch")}
    return [{**base, "metric": m, "value": values[m], "status": "ok", **extra} for m in METRIC_KEYS]


def run_dirs(runs_root: str | Path) -> list[Path]:
    """Every ``{dataset}/{model}/seed{n}`` directory under ``runs_root``, sorted."""
    root = Path(runs_root)
    if not root.is_dir():
        raise HarnessError(f"{root}: no such runs folder (expected results/runs/{{dataset}}/{{model}}/seed{{n}})")
    return sorted(p for p in root.glob("*/*/seed*") if p.is_dir() and seed_of(p) is not None)


def collect_runs(runs_root: str | Path) -> pd.DataFrame:
    """One row per dataset × model × seed × metric (columns ``SUMMARY_COLUMNS``), sorted by those keys."""
    rows = [row for run in run_dirs(runs_root) for row in read_run(run)]
    frame = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    frame["seed"] = frame["seed"].astype("int64")
    for col in ("value", *PROFILE_NUMBERS, "epochs", "best_epoch"):
        frame[col] = frame[col].astype("float64")
    order = {m: i for i, m in enumerate(METRIC_KEYS)}
    frame = frame.sort_values(["dataset", "model", "seed", "metric"], key=lambda s: s.map(order) if s.name == "metric"
                              else s, kind="stable").reset_index(drop=True)
    return frame


def _cell_status(statuses: pd.Series) -> str:
    n_ok = int((statuses == "ok").sum())
    others = sorted(set(statuses[statuses != "ok"]))
    if not others:
        return "ok"
    if n_ok == 0:
        return "; ".join(others)
    return f"partial: {len(statuses) - n_ok} of {len(statuses)} runs not ok ({'; '.join(others)})"


def summarise_cells(summary: pd.DataFrame) -> pd.DataFrame:
    """mean, SD (ddof=1, NaN for n < 2) and n over ok runs per dataset × model × metric (columns ``CELL_COLUMNS``)."""
    rows = []
    for (dataset, model, metric), group in summary.groupby(["dataset", "model", "metric"], sort=False):
        ok = group[group["status"] == "ok"]
        values = ok["value"].to_numpy(dtype=np.float64)
        rows.append({
            "dataset": dataset, "model": model, "metric": metric,
            "mean": float(values.mean()) if values.size else math.nan,
            "sd": float(values.std(ddof=1)) if values.size >= 2 else math.nan,
            "n": int(values.size), "n_runs": int(len(group)),
            "seeds": ",".join(str(s) for s in sorted(ok["seed"])), "status": _cell_status(group["status"]),
        })
    return pd.DataFrame(rows, columns=list(CELL_COLUMNS))


def write_summary(runs_root: str | Path, out_csv: str | Path, cells_csv: str | Path) -> pd.DataFrame:
    """Write ``out_csv`` (every run × metric, see :func:`collect_runs`) and ``cells_csv`` (mean/sd/n); return the
    cells table."""
    summary = collect_runs(runs_root)
    cells = summarise_cells(summary)
    write_text(out_csv, summary.to_csv(index=False))
    write_text(cells_csv, cells.to_csv(index=False))
    return cells
