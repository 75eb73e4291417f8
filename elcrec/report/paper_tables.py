"""The one list of paper tables built from the runs, and of paper figures (the CLI's ``table``/``figure``
commands and the workflow's rules read them): table name -> where its builder lives. Each builder reads
``results/runs`` and writes ``<out_dir>/<name>.{md,csv,tex}``. The list imports nothing heavy, so the Snakefile can read it.

  =====================  =================================================================================
  ``table1_main``        Table 1: datasets x metrics x the paper's 13 models (+ our extra baselines)
  ``table_efficiency``   Tables 2 and 11: training time and peak memory of ICLRec, ELCRec, S3-Rec
  ``table_ml1m``         Table 8: ICLRec vs ELCRec on ml-1m
  ``table_mind``         Table 9: ICLRec vs ELCRec on MIND-small
  ``table_ablation``     Table 10: HR@5+HR@20+NDCG@5+NDCG@20 of B, B+ICL, B+ELCM, ELCRec
  =====================  =================================================================================

The dataset-statistics table (``datasets``, Tables 6-7) is built from ``stats.json`` files instead
(:func:`elcrec.report.datasets.build_datasets_table`).
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

TABLES = {
    "table1_main": "elcrec.report.table1:table1_main",
    "table_efficiency": "elcrec.report.efficiency:table_efficiency",
    "table_ml1m": "elcrec.report.domains:table_ml1m",
    "table_mind": "elcrec.report.domains:table_mind",
    "table_ablation": "elcrec.report.ablation:table_ablation",
}
ONE_DATASET_TABLES = ("table_ml1m", "table_mind")  # their dataset is fixed; the others take ``datasets``

# figure name (the file stem under figures/) -> its entry function in elcrec.report.figures
FIGURES = ("ablation", "sensitivity_alpha", "sensitivity_k", "convergence", "tsne", "intent_by_activity")


def builder(name: str) -> Callable[..., Any]:
    """The function that builds table ``name``."""
    module, func = TABLES[name].split(":")
    return getattr(importlib.import_module(module), func)


def build_all(runs_root: str | Path, out_dir: str | Path = "paper_tables") -> list[Path]:
    """Every paper table; returns the written paths (three per table)."""
    for name in TABLES:
        builder(name)(runs_root, out_dir)
    return [Path(out_dir) / f"{name}{ext}" for name in TABLES for ext in (".md", ".csv", ".tex")]
