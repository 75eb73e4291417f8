"""The paper's tables rebuilt from our runs: Tables 1, 2/11 (efficiency), 8 (ML-1M), 9 (MIND-small), 10 (ablation).

Every table is one entry function that reads the run directories under ``runs_root`` (``results/runs``:
``{dataset}/{model}/seed{seed}/metrics.json`` and ``profile.json``) and writes ``<out_dir>/<name>.{md,csv,tex}``
with :func:`elcrec.report.tables.write_table`:

  =====================  =================================================================================
  ``table1_main``        datasets x metrics x the paper's 13 models (+ our extra baselines), Impro., p-value
  ``table_efficiency``   training time and peak memory of ICLRec, ELCRec, S3-Rec beside Tables 2 and 11
  ``table_ml1m``         ICLRec vs ELCRec on ml-1m beside Table 8
  ``table_mind``         ICLRec vs ELCRec on MIND-small beside Table 9
  ``table_ablation``     HR@5+HR@20+NDCG@5+NDCG@20 of B, B+ICL, B+ELCM, ELCRec beside Table 10
  =====================  =================================================================================

Conventions shared by all tables (and by ``elcrec.report.reproduction``):

* a cell is the mean over the seeds whose run finished (``status == "ok"`` with finite metrics); the CSV also
  carries the standard deviation (ddof = 1) and the number of seeds;
* a model the harness does not implement is a column that says ``not implemented`` (never dropped); a model that
  is implemented but has no finished run says ``-`` and a note gives the reason (dataset unavailable, diverged or
  unfinished run, no run found);
* "best" and "runner-up" are ranked among the paper's own Table-1 columns only (the claim under test); extra
  harness models (S3-Rec without attributes, CL4SRec as in the ICLRec code, CoSeRec) are shown on the right and
  a note says when one of them would have beaten the best;
* p-values: one-sided Welch t-test over seeds (``best > runner-up``), as the paper's "t-test between best and
  runner-up over three runs"; ``*`` marks p < 0.05, unadjusted like the paper; the CSV adds Holm-adjusted
  p-values over each dataset's six metrics (the family of ``elcrec.report.significance``). With fewer than two
  seeds on either side (or no variance at all) there is no p-value: the cell says ``n/a`` and a note says why.

Where the code lives (this module is the entry point and keeps every name importable from here):
``elcrec.report.names`` (the paper's names), ``elcrec.report.cells`` (runs, cells, statistics over seeds),
``elcrec.report.formatting`` (numbers), ``tables_main`` (Table 1), ``tables_efficiency`` (Tables 2/11),
``tables_domains`` (Tables 8/9), ``tables_ablation`` (Table 10).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from elcrec.report.cells import (RUN_COLUMNS, Agg, Cell, ablation_sum, cell, holm, implemented, load_runs,
                                 per_epoch_seconds, run_state, same_device, state_notes, state_text, status_text,
                                 welch_greater)
from elcrec.report.formatting import (SIGNIFICANCE_LEVEL, fmt, fmt_mean_sd, fmt_p, fmt_pct, parse_number,
                                      pct_change)
from elcrec.report.names import (ABLATION_METRICS, ABLATION_VARIANTS, ALL_METRICS, DATASET_LABELS,
                                 EFFICIENCY_MODELS, EXTRA_COLUMNS, MEMORY_KINDS, NOT_IMPLEMENTED, PAPER_METRICS,
                                 TABLE1_COLUMNS, TABLE1_DATASETS, Column, dataset_label)
from elcrec.report.reference import paper_table
from elcrec.report.tables_ablation import table_ablation
from elcrec.report.tables_domains import PairResult, compare_pair, table_mind, table_ml1m
from elcrec.report.tables_efficiency import profile_text, table_efficiency
from elcrec.report.tables_main import Ranking, rank_cells, table1_main

__all__ = [
    "ABLATION_METRICS", "ABLATION_SUM", "ABLATION_VARIANTS", "ALL_METRICS", "DATASET_LABELS", "EFFICIENCY_MODELS",
    "EXTRA_COLUMNS", "MEMORY_KINDS", "NOT_IMPLEMENTED", "PAPER_METRICS", "RUN_COLUMNS", "SIGNIFICANCE_LEVEL",
    "TABLE1_COLUMNS", "TABLE1_DATASETS", "TABLES", "Agg", "Cell", "Column", "PairResult", "Ranking", "ablation_sum",
    "build_all", "cell", "compare_pair", "dataset_label", "fmt", "fmt_mean_sd", "fmt_p", "fmt_pct", "holm",
    "implemented", "load_runs", "parse_number", "pct_change", "per_epoch_seconds", "profile_text", "rank_cells",
    "reference_raw", "run_state", "same_device", "state_notes", "state_text", "status_text", "table1_main",
    "table_ablation", "table_efficiency", "table_mind", "table_ml1m", "welch_greater",
]

ABLATION_SUM = ABLATION_METRICS  # the former name


def reference_raw(name: str) -> pd.DataFrame:
    """``config/paper_reference/paper_<name>.csv`` with every cell as printed (strings; blank = "")."""
    return paper_table(name, as_printed=True)


TABLES = {"table1_main": table1_main, "table_efficiency": table_efficiency, "table_ml1m": table_ml1m,
          "table_mind": table_mind, "table_ablation": table_ablation}


def build_all(runs_root: str | Path, out_dir: str | Path = "paper_tables") -> list[Path]:
    """Every paper table; returns the written paths (three per table)."""
    for fn in TABLES.values():
        fn(runs_root, out_dir)
    return [Path(out_dir) / f"{name}{ext}" for name in TABLES for ext in (".md", ".csv", ".tex")]
