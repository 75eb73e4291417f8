"""The report built from published records (issue 11): every table, the significance report, the figures and
reproduction.md from the committed synthetic fixture; verdicts that flip when the fixture's numbers move past the
paper's; the workflow's `records` switch, which builds from a block without training and rebuilds on a switch."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from elcrec.cli import main as cli
from elcrec.report.claims import NOT_SUPPORTED, SUPPORTED, Claim
from elcrec.report.paper_tables import TABLES
from elcrec.report.reproduction import build_reproduction
from elcrec.report.verdicts import released_checkpoints
from tests.published_fixture import FIXTURE, write_block
from tests.test_golden_checkpoints import golden_rows

REPO = Path(__file__).resolve().parents[1]


def verdicts(block: Path, out: Path) -> dict[str, Claim]:
    return {c.id: c for c in build_reproduction(block / "runs", out / "reproduction.md", stats_root=out / "none")}


def test_every_table_and_report_builds_from_the_fixture_and_names_it(tmp_path: Path) -> None:
    runs, records = str(FIXTURE / "runs"), ["--records", str(FIXTURE)]
    for table in TABLES:
        assert cli(["table", table, "--runs", runs, *records, "--out-dir", str(tmp_path)]) == 0
        md = (tmp_path / f"{table}.md").read_text()
        assert "Source: published records" in md and "SYNTHETIC" in md, table
        assert (tmp_path / f"{table}.tex").read_text().startswith("% Source: published records")
    assert cli(["significance", "--runs", runs, *records, "--out-dir", str(tmp_path / "sig"), "--n-resamples",
                "200"]) == 0
    report = (tmp_path / "sig" / "report.md").read_text()
    assert "Source: published records" in report and "paired per-user t-test on seed 1: p = " in report  # .csv.gz
    sig = pd.read_csv(tmp_path / "sig" / "Beauty.csv")
    assert sig.loc[sig["family"] == "baselines", "p_paired"].notna().any()
    assert cli(["summary", "--runs", runs, "--out", str(tmp_path / "s.csv"), "--cells", str(tmp_path / "c.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "s.csv")) == 24 * 6
    for figure in ("ablation", "convergence"):
        assert cli(["figure", figure, "--runs", runs, "--out", str(tmp_path / f"{figure}.pdf")]) == 0
        assert (tmp_path / f"{figure}.png").stat().st_size > 5000
    assert cli(["reproduction", "--runs", runs, *records, "--stats-root", str(tmp_path / "none"),
                "--out", str(tmp_path / "reproduction.md")]) == 0
    text = (tmp_path / "reproduction.md").read_text()
    head = text[:text.index("## What was run")]
    assert "published records" in head and "block beauty-synthetic" in head and "code commit synthetic" in head
    assert "device synthetic GPU (fixture)" in head and "trained 2026-12-02" in head and "SYNTHETIC" in head
    digest = text[text.index("## Verdicts per dataset"):text.index("## Known misprints")]
    for cid in ("Beauty.C1", "T1.5", "Beauty.A4", "Beauty.E2", "F3a.Beauty", "F3b.Beauty"):
        assert f"| {cid} |" in digest, cid
    assert "not run: compute" in text  # BERT4Rec: never started within the job's budget


def test_records_from_another_folder_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["table", "table1_main", "--runs", str(tmp_path), "--records", str(FIXTURE), "--out-dir",
                str(tmp_path)]) != 0
    assert "never mixed" in capsys.readouterr().err


def test_the_fixture_gives_known_verdicts(tmp_path: Path) -> None:
    v = verdicts(FIXTURE, tmp_path)
    assert v["Beauty.C1"].verdict == SUPPORTED and "released checkpoint 0.0529" in v["Beauty.C1"].evidence
    assert v["T1.5"].verdict == SUPPORTED and v["T1.5"].holm_verdict == NOT_SUPPORTED  # p 0.011, Holm 0.064
    assert v["T1.6"].verdict == NOT_SUPPORTED  # HR@20: ELCRec ahead, not significantly
    assert all(v[f"Beauty.A{i}"].verdict == SUPPORTED for i in range(1, 5))
    assert v["Beauty.E1"].verdict == SUPPORTED and v["Beauty.E2"].verdict == SUPPORTED
    assert v["F3a.Beauty"].verdict == SUPPORTED and v["F3b.Beauty"].verdict == SUPPORTED


def test_verdicts_flip_when_the_numbers_move_past_the_papers(tmp_path: Path) -> None:
    """ELCRec's HR@5 moved below the paper's 0.0529 (and below ICLRec); B above B+ICL: the verdicts turn."""
    moved = write_block(tmp_path / "moved", targets={"elcrec": (0.0450, 0.0762, 0.1079),
                                                     "elcrec-b": (0.0490, 0.0700, 0.0990)})
    v = verdicts(moved, tmp_path / "out")
    assert v["Beauty.C1"].verdict == NOT_SUPPORTED and "is above" in v["Beauty.C1"].evidence  # paper above ours
    assert v["Beauty.C2"].verdict == SUPPORTED  # HR@20 did not move
    assert v["T1.5"].verdict == NOT_SUPPORTED and "ICLRec is ahead" in v["T1.5"].evidence
    assert v["Beauty.A1"].verdict == NOT_SUPPORTED  # B+ICL > B no longer holds
    line = next(x for x in (tmp_path / "out" / "reproduction.md").read_text().splitlines()
                if x.startswith("| Beauty.C1 |"))
    assert "| **not supported** |" in line


def test_released_checkpoint_metrics_are_the_manifests(shared_dir: Path) -> None:
    """config/paper_reference/released_checkpoints.csv copies ../shared/checkpoints/MANIFEST.md (the numbers the
    golden tests reproduce), so the report can show them on a clone without ../shared."""
    ours = released_checkpoints().set_index("file")
    rows = golden_rows(shared_dir)
    assert sorted(ours.index) == sorted(r["file"] for r in rows)
    for r in rows:
        assert {k: float(ours.loc[r["file"], k]) for k in r["expected"]} == r["expected"], r["file"]


# ---------------------------------------------------------------------------------------------------- workflow


def snakemake(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def test_the_records_switch_plans_no_training_and_reads_only_the_block(tmp_path: Path) -> None:
    block = shutil.copytree(FIXTURE, tmp_path / "block")
    result = snakemake(tmp_path / "w", "-n", "-p", "--config", f"records={block}", "--", "all")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    jobs = out[out.index("Job stats:"):]
    assert "train" not in jobs and "not_run" not in jobs and "tsne" not in jobs
    assert "results/runs" not in out and f"--records {block} --runs {block}/runs" in out
    assert (tmp_path / "w" / "results" / "analysis_source.txt").read_text() == f"records {block}\n"
    bad = snakemake(tmp_path / "w", "-n", "--config", f"records={tmp_path / 'nope'}", "--", "all")
    assert bad.returncode != 0 and "no such published-records folder" in bad.stdout + bad.stderr


def test_the_records_switch_builds_reproduction_without_training(shared_dir: Path, tmp_path: Path) -> None:
    """The acceptance command on the fixture (CPU, data from the mirror for the dataset statistics); switching to
    another source replans the analysis even when its files are older than the outputs (profiles replan on mtime),
    so no output of one source is left standing as the other's."""
    work = tmp_path / "w"
    result = snakemake(work, "--cores", "2", "--config", f"records={FIXTURE}", f"data_mirror={shared_dir / 'data'}",
                       "--", "paper_tables/reproduction.md", "paper_tables/table1_main.md")
    assert result.returncode == 0, result.stderr[-4000:]
    assert "rule train" not in result.stderr and not (work / "results" / "runs").exists()
    text = (work / "paper_tables" / "reproduction.md").read_text()
    assert "block beauty-synthetic" in text[:2000] and "### Beauty" in text
    assert "Source: published records" in (work / "paper_tables" / "table1_main.md").read_text()
    mirror = f"data_mirror={shared_dir / 'data'}"
    same = snakemake(work, "-n", "--config", f"records={FIXTURE}", mirror, "--", "paper_tables/reproduction.md")
    assert "Nothing to be done" in same.stdout + same.stderr, same.stdout[-2000:]
    # another source whose files are all older than the outputs (copied with their times): replanned all the same
    other = shutil.copytree(FIXTURE, tmp_path / "other")
    again = snakemake(work, "-n", "--config", f"records={other}", mirror, "--", "paper_tables/reproduction.md")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "rule reproduction" in again.stdout and "analysis_source.txt" in again.stdout, again.stdout[-2000:]
