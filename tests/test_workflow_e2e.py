"""The whole workflow on the tiny preset: every rule runs and every declared output is written and non-empty.

One ``snakemake all`` (about two minutes on 2 cores) into a temporary folder, then: every output file that the
DAG declares (``snakemake --summary``) exists and is non-empty; every paper table exists in .md/.csv/.tex; each
figure's PNG holds the panels expected for this preset (read from the ``Panels`` metadata that
``save_figure`` writes from the figure itself); MIND-small (not in the offline mirror) shows up as "not run"
rather than failing the workflow; and rebuilding one figure alone touches nothing else.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from tests.workflow_run import snakemake

REPO = Path(__file__).resolve().parents[1]
TABLES = ["datasets", "table1_main", "table_efficiency", "table_ml1m", "table_mind", "table_ablation"]
FIGURES = ["ablation", "sensitivity_alpha", "sensitivity_k", "convergence", "tsne", "intent_by_activity"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tiny_workflow: Path) -> Path:
    return tiny_workflow


def panels(path: Path) -> list[dict]:
    return json.loads(Image.open(path).text["Panels"])


def test_every_declared_output_exists_and_is_non_empty(workdir: Path, shared_dir: Path) -> None:
    result = snakemake(workdir, shared_dir, "all", extra=("--summary",))
    assert result.returncode == 0, result.stderr[-4000:]
    rows = [line.split("\t") for line in result.stdout.splitlines()[1:] if line.strip()]
    assert len(rows) > 80  # 2 x 12 x 2 runs, 4 sensitivity runs, tables, figures, data
    for output, *_, status, plan in rows:
        path = workdir / output
        assert path.exists(), output
        assert path.is_dir() or path.stat().st_size > 0, f"{output} is empty"
        assert status == "ok" and plan == "no update", (output, status, plan)


def test_every_table_in_three_formats(workdir: Path) -> None:
    for table in TABLES:
        for ext in ("md", "csv", "tex"):
            assert (workdir / "paper_tables" / f"{table}.{ext}").stat().st_size > 0, f"{table}.{ext}"
        assert "\\toprule" in (workdir / "paper_tables" / f"{table}.tex").read_text()
    assert "not run: dataset unavailable" in (workdir / "paper_tables" / "table_mind.md").read_text()
    assert (workdir / "paper_tables" / "reproduction.md").read_text().count("\n") > 20


def test_summary_has_every_run(workdir: Path) -> None:
    summary = pd.read_csv(workdir / "results" / "summary.csv")
    runs = summary.groupby(["dataset", "model", "seed"]).status.first()
    beauty = runs.loc["Beauty-sub100"]
    models = yaml.safe_load((REPO / "config" / "presets" / "tiny.yaml").read_text())["models"]
    assert (beauty == "ok").all() and len(beauty) == len(models) * 2 + 4  # every model x 2 seeds + 4 sensitivity runs
    assert runs.loc["MIND-small"].str.startswith("not run").all()


def test_figures_hold_the_expected_panels(workdir: Path) -> None:
    for name in FIGURES:
        for ext in ("pdf", "png"):
            assert (workdir / "figures" / f"{name}.{ext}").stat().st_size > 5000, f"{name}.{ext}"
    ablation = panels(workdir / "figures" / "ablation.png")  # one panel per dataset, one bar per variant
    assert len(ablation) == 2 and all(p["bars"] == 4 for p in ablation)
    for name in ("sensitivity_alpha", "sensitivity_k"):  # one panel, our line + the default-value marker
        (panel,) = panels(workdir / "figures" / f"{name}.png")
        assert panel["lines"] >= 1 and not panel["placeholder"]
    convergence = panels(workdir / "figures" / "convergence.png")  # validation HR@5 and loss per dataset
    assert len(convergence) == 2 and all(p["lines"] == 2 for p in convergence)  # one line per seed
    tsne = panels(workdir / "figures" / "tsne.png")  # one panel per snapshot: users and centres
    assert len(tsne) >= 2 and all(p["point_sets"] == 2 for p in tsne)
    activity = panels(workdir / "figures" / "intent_by_activity.png")  # 4 groups x (top-3 + bottom-3) bars
    assert [p["title"].split(" (")[0] for p in activity] == ["new", "low", "medium", "high"]
    assert all(p["bars"] == 6 for p in activity)


def test_one_figure_rebuilds_alone(workdir: Path, shared_dir: Path) -> None:
    target = workdir / "figures" / "ablation.pdf"
    rebuilt = {target, target.with_suffix(".png")}  # the rule writes both
    before = {p: p.stat().st_mtime_ns for p in workdir.rglob("*") if p.is_file() and p not in rebuilt
              and not {".snakemake", "logs"} & set(p.relative_to(workdir).parts)}
    target.unlink()
    result = snakemake(workdir, shared_dir, "figures/ablation.pdf")
    assert result.returncode == 0, result.stderr[-4000:]
    assert target.stat().st_size > 5000
    assert "figure_from_runs" in result.stderr and "rule train" not in result.stderr
    changed = [str(p) for p, t in before.items() if p.exists() and p.stat().st_mtime_ns != t]
    assert changed == [], changed


def test_report_bundles_everything_and_renders_in_headless_chromium(workdir: Path, shared_dir: Path) -> None:
    """``snakemake --report`` embeds every figure and table; Chromium runs its JavaScript and shows the sections."""
    result = snakemake(workdir, shared_dir, extra=("--report", str(workdir / "report.html")))
    assert result.returncode == 0, result.stderr[-4000:]
    html = (workdir / "report.html").read_text()
    for name in [f"{f}.png" for f in FIGURES] + [f"{t}.html" for t in TABLES] + ["reproduction.html", "report.html",
                                                                                "summary.csv"]:
        assert f'"{name}"' in html, f"{name} is not in the report"
    assert '"table1_main.md"' not in html  # tables are shown inline as HTML, not offered as Markdown downloads
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)),
                   None)
    if browser is None:
        if os.environ.get("ELCREC_REQUIRE_CHROMIUM") == "1":
            pytest.fail("no headless Chromium found and ELCREC_REQUIRE_CHROMIUM=1 (install the chromium package)")
        pytest.skip("no Chromium to render the report with (CI installs one)")
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000",
                          "--dump-dom", (workdir / "report.html").as_uri()],
                         capture_output=True, text=True, timeout=180).stdout
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", dom[dom.find("<body"):], flags=re.S)
    text = " ".join(re.sub(r"<[^>]+>", " ", body).split())
    for section in ("Workflow", "Statistics", "Figures", "Reproduction", "Results", "Significance", "Tables"):
        assert section in text, f"the rendered report shows no {section!r} section: {text[:500]}"
    assert "preset tiny" in text  # the workflow description, rendered from rules/report/workflow.rst


def test_every_run_folder_holds_exactly_its_declared_files(workdir: Path) -> None:
    """FINAL_FILES plus the model's registry extra_outputs, nothing else (no resume.pt, no snapshots.partial/)."""
    from elcrec.models.registry import MODELS
    from elcrec.runfolder import FINAL_FILES

    for run in (workdir / "results" / "runs" / "Beauty-sub100").glob("*/seed*"):
        expected = set(FINAL_FILES) | {n.rstrip("/") for n in MODELS[run.parent.name.split("~")[0]].extra_outputs}
        assert {p.name for p in run.iterdir()} == expected, run
    for run in (workdir / "results" / "runs" / "MIND-small").glob("*/seed*"):
        assert [p.name for p in run.iterdir()] == ["metrics.json"], run


def test_another_mirror_spelling_plans_nothing(workdir: Path, shared_dir: Path) -> None:
    """The mirror is not a param: a trailing slash or another path to it replans no job, under every trigger."""
    for mirror in (f"{shared_dir / 'data'}/", f"{shared_dir}/./data"):
        result = snakemake(workdir, shared_dir, "all", mirror=mirror,
                           extra=("-n", "--rerun-triggers", "mtime", "params", "input", "code", "software-env"))
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:]


def test_a_leftover_run_reaches_no_table(workdir: Path, shared_dir: Path, tmp_path: Path) -> None:
    """A run folder from another configuration (seed 7, a model setting not configured) lies in results/runs: the summary,
    tables and significance report, rebuilt, do not show it."""
    work = tmp_path / "work"
    shutil.copytree(workdir, work, symlinks=True)
    runs = work / "results" / "runs" / "Beauty-sub100"
    for model, seed in (("sasrec", 7), ("elcrec~alpha=42", 1)):  # a seed and a model this preset does not train
        leftover = runs / model / f"seed{seed}"
        shutil.copytree(runs / "sasrec" / "seed1", leftover)
        metrics = json.loads((leftover / "metrics.json").read_text())
        metrics.update(model=model, seed=seed)
        (leftover / "metrics.json").write_text(json.dumps(metrics))
    targets = ("results/summary.csv", "paper_tables/table1_main.md", "results/significance/report.md")
    result = snakemake(work, shared_dir, *targets, extra=("--forcerun", "summary", "paper_table", "significance"))
    assert result.returncode == 0, result.stderr[-4000:]
    summary = pd.read_csv(work / "results" / "summary.csv")
    assert 7 not in set(summary.seed) and "elcrec~alpha=42" not in set(summary.model)
    assert pd.read_csv(work / "results" / "summary.csv").equals(pd.read_csv(workdir / "results" / "summary.csv"))
    assert (work / "paper_tables" / "table1_main.csv").read_text() == \
        (workdir / "paper_tables" / "table1_main.csv").read_text()
    assert "seed 7" not in (work / "results" / "significance" / "report.md").read_text()


def test_the_analysis_rebuilds_byte_identical(workdir: Path, shared_dir: Path, tmp_path: Path) -> None:
    """Every table, report, summary and figure (PDF and PNG, with their captions) rebuilt from the same runs is the
    same bytes: no timestamps, no temporary paths, no unordered sets in the outputs."""
    work = tmp_path / "work"
    shutil.copytree(workdir, work, symlinks=True)
    analysis = [work / "paper_tables", work / "figures", work / "results" / "significance"]
    outputs = sorted(p for folder in analysis for p in folder.rglob("*") if p.is_file())
    outputs += sorted((work / "results").glob("summary*.csv"))
    before = {p: p.read_bytes() for p in outputs}
    assert len(before) > 40
    for path in outputs:
        path.unlink()
    result = snakemake(work, shared_dir, "all", extra=("--rerun-triggers", "mtime"))
    assert result.returncode == 0, result.stderr[-4000:]
    assert "rule train" not in result.stderr
    changed = [str(p.relative_to(work)) for p, data in before.items() if not p.is_file() or p.read_bytes() != data]
    assert changed == [], changed
