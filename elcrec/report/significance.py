"""Significance report: the paper's best-vs-runner-up test, ELCRec vs every baseline, every ablation vs ELCRec.

``write_significance(runs_root, out_dir)`` reads the run directories (via :func:`elcrec.report.summary.
collect_runs`) and writes ``out_dir/{dataset}.csv`` (one row per comparison × metric, columns
``SIGNIFICANCE_COLUMNS``) and ``out_dir/report.md`` (methods in plain words, compact tables, one plain-language
line per headline). The statistics are in :mod:`elcrec.stats`; the choices are explained in docs/statistics.md.

Model groups (by name):
  * main models: ``elcrec`` and the baselines (every name that is neither of the two below);
  * ablation variants: ``elcrec-b`` and ``elcrec-b-*``;
  * sensitivity runs: any name containing ``~`` (``elcrec~alpha=0.1``), left out of these tests (listed in the
    report).

Families (``family`` column):
  * ``paper``: per dataset × metric, the best and the runner-up main model by mean over seeds, Welch's t-test
    one-sided in the direction best > runner-up, ``*`` when p < alpha, uncorrected, as the paper does.
    A Holm-adjusted value over that dataset's metrics is given beside it for information.
  * ``baselines``: ELCRec vs each baseline; ``ablations``: ELCRec vs each ablation variant. Each row has
    Welch's t-test over seeds and, on the ``paired_seed`` run of both models, the paired per-user t-test
    (primary) with the Wilcoxon signed-rank and sign-flip permutation tests as second opinions. Holm's
    correction runs within one family = one dataset × one kind (baselines or ablations) × one test, across all
    metrics and opponents.
Models without a finished run keep their rows, with ``note`` "not run: <reason>" and no p-value.

Where the code lives (this module is the entry point and keeps every name importable from here):
``elcrec.report.significance_tables`` computes the tables, ``elcrec.report.significance_report`` writes report.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from elcrec.evaluate import METRIC_KEYS
from elcrec.fileio import write_text
from elcrec.report.significance_report import fmt_p, fmt_pct, render_report
from elcrec.report.significance_tables import (ALPHA, DISPLAY, ELCREC, FAMILIES, SIGNIFICANCE_COLUMNS, display_name,
                                               is_ablation, is_main, is_sensitivity, read_per_user,
                                               significance_tables)

__all__ = ["ALPHA", "DISPLAY", "ELCREC", "FAMILIES", "SIGNIFICANCE_COLUMNS", "display_name", "fmt_p", "fmt_pct",
           "is_ablation", "is_main", "is_sensitivity", "read_per_user", "render_report", "significance_tables",
           "write_significance"]


def write_significance(runs_root: str | Path, out_dir: str | Path, *, alternative: str = "two-sided",
                       paired_seed: int = 1, alpha: float = ALPHA, n_resamples: int = 10_000, perm_seed: int = 0,
                       metrics: Sequence[str] = METRIC_KEYS) -> list[Path]:
    """Write ``out_dir/{dataset}.csv`` for every dataset under ``runs_root`` and ``out_dir/report.md``.

    ``runs_root`` is the ``results/runs`` folder. Returns the written paths (CSV files, then report.md).
    """
    tables = significance_tables(runs_root, alternative=alternative, paired_seed=paired_seed, alpha=alpha,
                                 n_resamples=n_resamples, perm_seed=perm_seed, metrics=metrics)
    out = Path(out_dir)
    paths = []
    for ds, frame in tables.items():
        path = out / f"{ds}.csv"
        write_text(path, frame.to_csv(index=False))
        paths.append(path)
    report = out / "report.md"
    write_text(report, render_report(tables, runs_root, alternative=alternative, paired_seed=paired_seed,
                                     alpha=alpha, n_resamples=n_resamples, metrics=metrics))
    paths.append(report)
    return paths
