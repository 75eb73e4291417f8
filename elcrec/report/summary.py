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

The folders are read by :func:`elcrec.runfolder.read_runs`: a malformed file (invalid JSON, a missing metric, a
non-numeric value, a dataset/model/seed that disagrees with the directory) raises
:class:`~elcrec.errors.HarnessError` naming the file.

``write_summary(runs_root, out_csv, cells_csv)`` writes that table and the cells table (dataset, model, metric,
mean, sd, n, n_runs, seeds, status), where n, mean and sd count ``ok`` runs only.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from elcrec.fileio import write_text
from elcrec.runfolder import METRIC_KEYS, read_runs

SUMMARY_COLUMNS = ("dataset", "model", "seed", "metric", "value", "status", "train_seconds", "seconds_per_epoch",
                   "peak_memory_mb", "memory_kind", "device", "epochs", "best_epoch")
CELL_COLUMNS = ("dataset", "model", "metric", "mean", "sd", "n", "n_runs", "seeds", "status")
_RUN_FIELDS = ("status", "train_seconds", "seconds_per_epoch", "peak_memory_mb", "memory_kind", "device", "epochs",
               "best_epoch")


def collect_runs(runs_root: str | Path) -> pd.DataFrame:
    """One row per dataset × model × seed × metric (columns ``SUMMARY_COLUMNS``), sorted by those keys."""
    rows = [{"dataset": r.dataset, "model": r.model, "seed": r.seed, "metric": m, "value": r.test.get(m, math.nan),
             **{k: getattr(r, k) for k in _RUN_FIELDS}} for r in read_runs(runs_root) for m in METRIC_KEYS]
    frame = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    frame["seed"] = frame["seed"].astype("int64")
    for col in ("value", "train_seconds", "seconds_per_epoch", "peak_memory_mb", "epochs", "best_epoch"):
        frame[col] = frame[col].astype("float64")
    order = {m: i for i, m in enumerate(METRIC_KEYS)}
    frame = frame.sort_values(["dataset", "model", "seed", "metric"], key=lambda s: s.map(order) if s.name == "metric"
                              else s, kind="stable").reset_index(drop=True)
    return frame


def cell_status(statuses: pd.Series) -> str:
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
            "seeds": ",".join(str(s) for s in sorted(ok["seed"])), "status": cell_status(group["status"]),
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
