"""Divergence and non-convergence are results (elcrec.train): how the report layer reads and prints them."""
from __future__ import annotations

from pathlib import Path

from elcrec.report.table1 import table1_main
from elcrec.report.cells import cell, load_runs, run_state, state_text, status_text
from tests.fakeruns import make_run
from tests.test_paper_tables import md_rows


def test_diverged_and_not_converged_runs_print_a_dash_with_the_reason(tmp_path: Path) -> None:
    for seed in (1, 2):
        make_run(tmp_path, "Beauty", "elcrec", seed)
        make_run(tmp_path, "Beauty", "dssrec", seed, status="diverged")
        make_run(tmp_path, "Beauty", "iocrec", seed, status="not_converged")
    runs = load_runs(tmp_path / "results" / "runs")
    assert run_state("diverged") == "diverged" and run_state("not_converged") == "not converged"
    assert set(runs.loc[runs["model"] == "dssrec", "state"]) == {"diverged"}
    diverged, flat = cell(runs, "Beauty", "dssrec"), cell(runs, "Beauty", "iocrec")
    assert (diverged.state, flat.state) == ("diverged", "not converged")
    assert state_text(diverged) == state_text(flat) == "-"
    assert status_text(diverged) == "diverged: seed 1: diverged; seed 2: diverged"

    data = table1_main(tmp_path / "results" / "runs", tmp_path / "tables", datasets=["Beauty"])
    md = (tmp_path / "tables" / "table1_main.md").read_text()
    row = md_rows(md)[("Beauty", "HR@5")]
    assert row["DSSRec"] == "-" and row["IOCRec"] == "-" and row["ELCRec"] not in ("-", "not implemented")
    assert "Beauty/DSSRec: diverged" in md and "Beauty/IOCRec: not converged" in md
    beauty = data[data["dataset"] == "Beauty"].iloc[0]
    assert beauty["DSSRec status"].startswith("diverged") and beauty["IOCRec status"].startswith("not converged")
