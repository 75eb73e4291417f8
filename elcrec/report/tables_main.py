"""Table 1 of the paper rebuilt from our runs: HR/NDCG@5/20 (CSV: also @10) per dataset for the paper's 13
models and our extra baselines, best and runner-up, ELCRec's improvement, the best-vs-runner-up p-value.

Why a module of its own: Table 1 is the paper's main claim and the largest table; its ranking
(:func:`rank_cells`) is also what the reproduction report tests. Conventions: see ``elcrec.report.paper_tables``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from elcrec.report.cells import Agg, cell, holm, load_runs, state_notes, state_text, status_text, welch_greater
from elcrec.report.formatting import SIGNIFICANCE_LEVEL, fmt, fmt_p, fmt_pct, pct_change
from elcrec.report.names import (ALL_METRICS, EXTRA_COLUMNS, NOT_IMPLEMENTED, PAPER_METRICS, TABLE1_COLUMNS,
                                 TABLE1_DATASETS, dataset_label)
from elcrec.report.tables import write_table


@dataclass
class Ranking:
    """Best and runner-up of one (dataset, metric) among the ranked columns, ELCRec's improvement, the p-value."""

    best: str | None
    runner_up: str | None
    impro_pct: float | None  # ELCRec vs the best other ranked model (paper's "Impro."), in %
    elcrec_vs: str | None  # the model ELCRec is compared with for Impro.
    p_value: float | None  # best > runner-up, one-sided Welch over seeds
    p_note: str


def rank_cells(aggs: dict[str, Agg], focus: str = "ELCRec") -> Ranking:
    """Rank the columns with at least one finished seed by mean; ties keep column order."""
    present = [(label, a) for label, a in aggs.items() if a.n]
    ordered = sorted(present, key=lambda kv: -kv[1].mean)  # stable: equal means keep the column order
    best = ordered[0][0] if ordered else None
    runner = ordered[1][0] if len(ordered) > 1 else None
    impro, versus = None, None
    if focus in aggs and aggs[focus].n:
        others = [(label, a) for label, a in ordered if label != focus]
        if others:
            versus = others[0][0]
            impro = pct_change(aggs[focus].mean, others[0][1].mean)
    if best is None or runner is None:
        return Ranking(best, runner, impro, versus, None, "fewer than two models with finished runs")
    p, note = welch_greater(aggs[best].array, aggs[runner].array)
    return Ranking(best, runner, impro, versus, p, note)


def table1_main(runs_root: str | Path, out_dir: str | Path = "paper_tables",
                datasets: Iterable[str] = TABLE1_DATASETS) -> pd.DataFrame:
    """Table 1: HR/NDCG@5/20 (CSV: also @10) per dataset for the paper's 13 models and our extra baselines.

    Writes ``<out_dir>/table1_main.{md,csv,tex}`` and returns the CSV frame (one row per dataset x metric).
    """
    runs = load_runs(runs_root)
    columns = TABLE1_COLUMNS + EXTRA_COLUMNS
    cells = {(d, c.label): cell(runs, d, c.harness) for d in datasets for c in columns}
    records, display_rows, p_notes, extra_notes = [], [], {}, []
    for dataset in datasets:
        for metric in ALL_METRICS:
            aggs = {c.label: cells[(dataset, c.label)].agg(metric) for c in columns}
            ranked = {c.label: aggs[c.label] for c in TABLE1_COLUMNS}
            r = rank_cells(ranked)
            rec: dict[str, Any] = {"dataset": dataset, "metric": metric}
            for c in columns:
                a, cl = aggs[c.label], cells[(dataset, c.label)]
                rec[c.label] = a.mean
                rec[f"{c.label} sd"] = a.sd
                rec[f"{c.label} n"] = a.n
                rec[f"{c.label} status"] = status_text(cl)
            rec.update(best=r.best, runner_up=r.runner_up, impro_pct=r.impro_pct, impro_vs=r.elcrec_vs,
                       p_value=r.p_value, p_note=r.p_note,
                       significant=None if r.p_value is None else bool(r.p_value < SIGNIFICANCE_LEVEL))
            records.append(rec)
            if r.p_value is None and r.best is not None and r.runner_up is not None:
                p_notes.setdefault(r.p_note, []).append(f"{dataset_label(dataset)} {metric}")
            if r.best is not None:
                for c in EXTRA_COLUMNS:
                    if aggs[c.label].n and aggs[c.label].mean > ranked[r.best].mean:
                        extra_notes.append(f"{dataset_label(dataset)} {metric}: {c.label} ({fmt(aggs[c.label].mean)})"
                                           f" is above the best ranked model {r.best} ({fmt(ranked[r.best].mean)})")
            if metric not in PAPER_METRICS:
                continue
            row = {"Dataset": dataset_label(dataset), "Metric": metric}
            for c in columns:
                a, cl = aggs[c.label], cells[(dataset, c.label)]
                text = fmt(a.mean) if a.n else state_text(cl)
                if c.label == r.best:
                    text = f"**{text}**"
                elif c.label == r.runner_up:
                    text = f"<u>{text}</u>"
                row[c.label] = text
            row["Impro."] = fmt_pct(r.impro_pct, arrow=True)
            row["p-value"] = fmt_p(r.p_value)
            display_rows.append(row)
    data = pd.DataFrame(records)
    # Holm over one dataset's metrics (all six), the family elcrec.report.significance uses for this test.
    data["p_holm"] = None
    for dataset in datasets:
        mask = data["dataset"] == dataset
        data.loc[mask, "p_holm"] = holm([None if pd.isna(p) else float(p) for p in data.loc[mask, "p_value"]])
    display = pd.DataFrame(display_rows)
    # The dataset name once per group, as the paper prints it.
    display["Dataset"] = [d if i % len(PAPER_METRICS) == 0 else "" for i, d in enumerate(display["Dataset"])]
    missing = [c.label for c in columns if all(cells[(d, c.label)].state == NOT_IMPLEMENTED for d in datasets)]
    n_seeds = sorted({int(v) for v in data[[f"{c.label} n" for c in columns]].to_numpy().ravel() if v})
    notes = [
        f"Mean over seeds of finished runs (seeds per cell: {', '.join(map(str, n_seeds)) or 'none'}); the CSV adds "
        "HR@10/NDCG@10, the standard deviation, the seed count and each cell's status.",
        "**Bold**: best; <u>underlined</u>: runner-up, ranked among the paper's 13 columns only. Impro.: ELCRec "
        "against the best other model (↑ ELCRec ahead, ↓ behind), as the paper computes it. p-value: one-sided "
        "Welch t-test over seeds, best > runner-up; * p < 0.05 (unadjusted, like the paper; `p_holm` in the CSV "
        "is Holm-adjusted over the six metrics of each dataset). significance/report.md ranks over all our models "
        "instead, extra baselines included, so its best/runner-up can differ where an extra column leads.",
    ]
    if missing:
        notes.append(f"NOT IMPLEMENTED in this harness (columns kept, no numbers): {', '.join(missing)}. Best, "
                     "runner-up and Impro. are therefore among the implemented models only.")
    notes.append("Extra columns (not in the paper, not ranked): " + ", ".join(
        f"{c.label} = `{c.harness}`" for c in EXTRA_COLUMNS) + ". S3-Rec is `s3rec` (with item attributes), "
        "CL4SRec is `cl4srec` (SSLRec version).")
    notes += [f"`-`: {n}" for n in state_notes(cells)]
    notes += [f"p-value n/a ({reason}): {', '.join(where)}" for reason, where in p_notes.items()]
    notes += extra_notes
    write_table(data, Path(out_dir) / "table1_main", display=display, notes=notes, label="tab:table1",
                caption="Table 1: full-ranking HR@K and NDCG@K (mean over seeds) - our runs")
    return data
