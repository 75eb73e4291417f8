"""The reproduction report: every published number beside ours, and a verdict on each of the paper's claims.

``build_reproduction(runs_root, out_path)`` writes ``reproduction.md`` (for a reader who has not seen this code),
``reproduction.csv`` (one row per published number) and ``reproduction_claims.csv`` (one row per claim). The
published numbers are the transcriptions in ``config/paper_reference/paper_*.csv``; ours come from the run
directories (``results/runs``) and, for the dataset statistics, from ``results/data/{dataset}/stats.json``.

How a claim is judged is written into the report itself (section "How to read this report"); in short, a claim
the paper backs with a significance test is judged with ours (one-sided Welch t-test over seeds, p < 0.05), a
claim the paper makes from point estimates (efficiency, ablation, sensitivity) is judged from our means, and a
claim that needs a model we do not implement, a dataset we could not get, more seeds than we ran or the paper's
hardware is "could not be tested", with the reason.

Where the code lives (this module is the entry point and keeps every name importable from here):
``reproduction_base`` (a compared number, a claim, the report under construction), ``reproduction_tested``
(Table 1 and Tables 8-9: claims backed by a test), ``reproduction_estimates`` (efficiency, ablation, sensitivity:
claims from point estimates), ``reproduction_checks`` (dataset statistics and the paper's own arithmetic),
``reproduction_render`` (the Markdown).
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from elcrec.fileio import write_text
from elcrec.report.cells import load_runs
from elcrec.report.reproduction_base import (NOT_SUPPORTED, SUPPORTED, UNTESTABLE, Claim, Compared, Report, half_unit,
                                             ours_state)
from elcrec.report.reproduction_checks import (PRINTED_EFFICIENCY_CHANGE, PRINTED_OTHER_IMPRO, PRINTED_TABLE1_IMPRO,
                                               add_consistency, add_datasets)
from elcrec.report.reproduction_estimates import (SENSITIVITY_TOLERANCE, add_ablation, add_efficiency,
                                                  add_sensitivity, sensitivity_model)
from elcrec.report.reproduction_render import KNOWN_ISSUES, render
from elcrec.report.reproduction_tested import add_other_domains, add_table1

__all__ = ["KNOWN_ISSUES", "NOT_SUPPORTED", "PRINTED_EFFICIENCY_CHANGE", "PRINTED_OTHER_IMPRO", "PRINTED_TABLE1_IMPRO",
           "SENSITIVITY_TOLERANCE", "SUPPORTED", "UNTESTABLE", "Claim", "Compared", "Report", "build_reproduction",
           "half_unit", "ours_state", "sensitivity_model"]


def build_reproduction(runs_root: str | Path, out_path: str | Path = "paper_tables/reproduction.md",
                       stats_root: str | Path | None = None) -> list[Claim]:
    """Write ``out_path`` (Markdown) and, beside it, ``reproduction.csv`` and ``reproduction_claims.csv``.

    ``runs_root`` is ``results/runs``; ``stats_root`` holds ``{dataset}/stats.json`` (default: ``results/data``
    beside ``runs_root``). Returns the claims with their verdicts.
    """
    runs_root = Path(runs_root)
    out_path = Path(out_path)
    rep = Report(load_runs(runs_root), Path(stats_root) if stats_root else runs_root.parent / "data")
    add_table1(rep)
    add_efficiency(rep)
    add_other_domains(rep)
    add_ablation(rep)
    add_sensitivity(rep)
    add_datasets(rep)
    add_consistency(rep)
    write_text(out_path, render(rep, runs_root))
    write_text(out_path.with_suffix(".csv"), pd.DataFrame([c.record() for c in rep.compared]).to_csv(index=False))
    write_text(out_path.with_name(out_path.stem + "_claims.csv"),
               pd.DataFrame([asdict(c) for c in rep.claims]).to_csv(index=False))
    return rep.claims
