"""Runs as the paper tables, the reproduction report and the figures see them: one row per run (read by
:func:`elcrec.runfolder.read_runs`), one :class:`Cell` per (dataset, model), one :class:`Agg` per quantity over
seeds, and the statistics over seeds they use.

* a cell is the mean over the seeds whose run finished (``status == "ok"`` with finite metrics);
* a model the harness does not implement says ``not implemented``; a model that is implemented but has no
  finished run says why (dataset unavailable, diverged or unfinished run, no run found);
* p-values: :func:`elcrec.stats.welch_test` over seeds; Holm: :func:`elcrec.stats.holm`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from elcrec.report.names import ABLATION_METRICS, ALL_METRICS, NOT_IMPLEMENTED, dataset_label
from elcrec.report.present import is_missing
from elcrec.runfolder import METRIC_KEYS, parse_variant, read_runs

assert set(ALL_METRICS) == set(METRIC_KEYS)

RUN_COLUMNS = ("dataset", "model", "seed", "status", "state", *ALL_METRICS, "train_seconds", "seconds_per_epoch",
               "epochs", "peak_memory_mb", "memory_kind", "device")


def implemented(harness: str | None) -> bool:
    """Whether the harness implements a model: a registry entry whose module exists (no import of torch code)."""
    if harness is None:
        return False
    from elcrec.models.registry import MODELS

    entry = MODELS.get(parse_variant(harness)[0])
    if entry is None or entry.impl is None:
        return False
    module = entry.impl.split(":")[0]
    try:
        return find_spec(module) is not None
    except ModuleNotFoundError:
        return False


# Results that are not numbers: metrics.json status -> state (elcrec.train: a NaN loss, a flat validation metric).
OUTCOME_STATES = {"diverged": "diverged", "not_converged": "not converged"}


def run_state(status: str) -> str:
    """``ok``, ``not run`` (e.g. dataset unavailable), ``diverged`` / ``not converged`` (training's own outcome,
    printed "-" as the paper does), ``unfinished`` (no metrics.json: still training, or killed) or ``failed``
    (any other status)."""
    if status == "ok":
        return "ok"
    if status in OUTCOME_STATES:
        return OUTCOME_STATES[status]
    if status.startswith("not run"):
        return "not run"
    if status.startswith("unfinished"):
        return "unfinished"
    return "failed"


def load_runs(runs_root: str | Path) -> pd.DataFrame:
    """One row per seed directory under ``runs_root`` (= ``results/runs``), columns ``RUN_COLUMNS``.

    ``status`` keeps the text of metrics.json and ``state`` classifies it (:func:`run_state`).
    """
    records = read_runs(runs_root)
    if not records:
        return pd.DataFrame(columns=list(RUN_COLUMNS))
    frame = pd.DataFrame([{"dataset": r.dataset, "model": r.model, "seed": r.seed, "status": r.status,
                           "state": run_state(r.status), **{m: r.test.get(m, math.nan) for m in ALL_METRICS},
                           "train_seconds": r.train_seconds, "seconds_per_epoch": r.seconds_per_epoch,
                           "epochs": r.epochs, "peak_memory_mb": r.peak_memory_mb,
                           "memory_kind": r.memory_kind or None, "device": r.device or None} for r in records],
                         columns=list(RUN_COLUMNS))
    frame["seed"] = frame["seed"].astype("int64")
    return frame.sort_values(["dataset", "model", "seed"], ignore_index=True)


def runs_of(runs: pd.DataFrame, dataset: str, model: str) -> pd.DataFrame:
    """The rows of one (dataset, model) whose run has a metrics.json (finished or 'not run'), by seed."""
    mine = runs[(runs["dataset"] == dataset) & (runs["model"] == model) & (runs["state"] != "unfinished")]
    return mine.sort_values("seed")


@dataclass
class Agg:
    """Mean, sd (ddof 1; None for one seed), n, min, max and the seed-1 value of one quantity over seeds."""

    values: dict[int, float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def array(self) -> np.ndarray:
        return np.array([self.values[s] for s in sorted(self.values)], dtype=float)

    @property
    def mean(self) -> float | None:
        return float(self.array.mean()) if self.n else None

    @property
    def sd(self) -> float | None:
        return float(self.array.std(ddof=1)) if self.n >= 2 else None

    @property
    def min(self) -> float | None:
        return float(self.array.min()) if self.n else None

    @property
    def max(self) -> float | None:
        return float(self.array.max()) if self.n else None

    @property
    def seed1(self) -> float | None:
        return self.values.get(1)

    def band(self, k: float = 2.0) -> tuple[float, float] | None:
        """mean ± k sd (None below two seeds): the interval a published value is judged against."""
        if self.sd is None:
            return None
        return self.mean - k * self.sd, self.mean + k * self.sd  # type: ignore[operator]


@dataclass
class Cell:
    """What the runs say about one (dataset, model): the state for display and the finished seeds' values."""

    state: str  # "ok", "not implemented", "not run", "failed", "unfinished", "missing"
    reason: str  # human text for notes ("" when every seed finished)
    runs: pd.DataFrame  # the finished seeds' rows

    def agg(self, key: str) -> Agg:
        if self.runs.empty or key not in self.runs:
            return Agg({})
        return Agg({int(s): float(v) for s, v in zip(self.runs["seed"], self.runs[key]) if not is_missing(v)})

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def cell(runs: pd.DataFrame, dataset: str, harness: str | None) -> Cell:
    """The state of one model on one dataset, with the reason for every seed that did not finish."""
    empty = runs.iloc[0:0]
    if harness is None:
        return Cell(NOT_IMPLEMENTED, "not implemented in this harness", empty)
    mine = runs[(runs["dataset"] == dataset) & (runs["model"] == harness)]
    if mine.empty:
        if not implemented(harness):
            return Cell(NOT_IMPLEMENTED, f"`{harness}` is not implemented in this harness", empty)
        return Cell("missing", f"no run of `{harness}` found", empty)
    ok = mine[mine["state"] == "ok"]
    bad = mine[mine["state"] != "ok"]
    reasons = "; ".join(f"seed {s}: {st}" for s, st in zip(bad["seed"], bad["status"]))
    if not ok.empty:
        return Cell("ok", reasons, ok)
    states = set(bad["state"])
    if states == {"not run"}:
        statuses = sorted(set(bad["status"]))
        return Cell("not run", statuses[0] if len(statuses) == 1 else "; ".join(statuses), empty)
    if len(states) == 1 and states <= set(OUTCOME_STATES.values()):
        return Cell(states.pop(), reasons, empty)
    return Cell("failed" if "failed" in states else "unfinished", reasons, empty)


# --------------------------------------------------------------------------------------------------------------
# Derived quantities of one cell
# --------------------------------------------------------------------------------------------------------------


def per_epoch_seconds(c: Cell) -> Agg:
    if not c.ok:
        return Agg({})
    values = {}
    for s, t, e in zip(c.runs["seed"], c.runs["train_seconds"], c.runs["epochs"]):
        if not is_missing(t) and e and not math.isnan(e):
            values[int(s)] = float(t) / float(e)
    return Agg(values)


def ablation_sum(c: Cell) -> Agg:
    """Per seed HR@5 + HR@20 + NDCG@5 + NDCG@20 (the paper's Table 10 metric)."""
    if not c.ok:
        return Agg({})
    sums = c.runs[list(ABLATION_METRICS)].astype(float).sum(axis=1)
    return Agg({int(s): float(v) for s, v in zip(c.runs["seed"], sums)})


def same_device(a: Cell, b: Cell) -> bool:
    """Both measured, every seed on one device with one memory kind."""
    if not (a.ok and b.ok):
        return False
    devs = set(a.runs["device"].dropna()) | set(b.runs["device"].dropna())
    kinds = set(a.runs["memory_kind"].dropna()) | set(b.runs["memory_kind"].dropna())
    return len(devs) == 1 and len(kinds) == 1


# --------------------------------------------------------------------------------------------------------------
# What a cell says in words
# --------------------------------------------------------------------------------------------------------------


def state_text(c: Cell) -> str:
    """What a table cell shows instead of a number."""
    return NOT_IMPLEMENTED if c.state == NOT_IMPLEMENTED else "-"


def status_text(c: Cell) -> str:
    """``ok``, ``not implemented``, the not-run reason, or the state with the reason (for the CSVs)."""
    if c.ok or c.state == NOT_IMPLEMENTED:
        return c.state
    if c.state == "not run" or c.reason.startswith(c.state):
        return c.reason
    return f"{c.state}: {c.reason}"


def state_notes(cells: dict[tuple[str, str], Cell]) -> list[str]:
    """One note per (dataset, model) that is not fully ok, grouped by reason."""
    groups: dict[str, list[str]] = {}
    for (dataset, label), c in cells.items():
        if c.state == NOT_IMPLEMENTED:
            continue
        if c.state == "ok" and not c.reason:
            continue
        what = f"{dataset_label(dataset)}/{label}"
        if c.state == "ok":
            key = f"some seeds did not finish ({c.reason}); the mean is over the finished seeds"
        elif c.state == "unfinished" and not c.reason.startswith(c.state):
            key = f"no finished seed ({c.reason})"
        else:
            key = status_text(c)
        groups.setdefault(key, []).append(what)
    return [f"{', '.join(v)}: {k}" for k, v in groups.items()]


# --------------------------------------------------------------------------------------------------------------
# Statistics over seeds: the shared implementations in elcrec.stats (the only statistics the tables and the
# reproduction use).
# --------------------------------------------------------------------------------------------------------------


def welch(a: Sequence[float], b: Sequence[float], alternative: str = "greater") -> tuple[float | None, str]:
    """Welch t-test over seeds (:func:`elcrec.stats.welch_test`), one-sided mean(a) > mean(b) by default: (p, note).
    p is None, with the reason in the note, for fewer than two seeds on either side or no variance at all."""
    from elcrec.stats import welch_test

    result = welch_test(list(a), list(b), alternative=alternative)
    return result.p_value, result.note


def welch_greater(a: Sequence[float], b: Sequence[float]) -> tuple[float | None, str]:
    """One-sided Welch t-test over seeds of mean(a) > mean(b): (p, note); see :func:`welch`."""
    return welch(a, b, "greater")


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm step-down adjusted p-values over one family (:func:`elcrec.stats.holm`; None stays None)."""
    from elcrec.stats import holm as _holm

    return _holm(list(pvalues))
