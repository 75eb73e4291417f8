"""The summary and significance report on synthetic run directories (tests/fakeruns.py, the trainer's format)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from elcrec import stats
from elcrec.errors import HarnessError
from elcrec.evaluate import METRIC_KEYS
from elcrec.report.significance import SIGNIFICANCE_COLUMNS, write_significance
from elcrec.report.summary import CELL_COLUMNS, SUMMARY_COLUMNS, collect_runs, write_summary
from tests.fakeruns import make_grid, make_run

DATASETS = ("Beauty", "Toys_and_Games")
MAIN = ("elcrec", "iclrec", "sasrec")
NOT_RUN = "not run: dataset unavailable"


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 models × 2 datasets × 3 seeds, bert4rec not run on either dataset, one ablation variant and one
    sensitivity run on Beauty."""
    root = tmp_path_factory.mktemp("grid")
    make_grid(root, datasets=DATASETS, models=MAIN)
    for dataset in DATASETS:
        for seed in (1, 2, 3):
            make_run(root, dataset, "bert4rec", seed, status=NOT_RUN)
    for seed in (1, 2, 3):
        make_run(root, "Beauty", "elcrec-b", seed, quality=1.0)
    make_run(root, "Beauty", "elcrec~alpha=0.1", 1)
    return root / "results" / "runs"


@pytest.fixture(scope="module")
def summary_files(grid: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    out = grid.parent
    write_summary(grid, out / "summary.csv", out / "cells.csv")
    return pd.read_csv(out / "summary.csv"), pd.read_csv(out / "cells.csv")


@pytest.fixture(scope="module")
def report(grid: Path) -> Path:
    out = grid.parent / "significance"
    paths = write_significance(grid, out, n_resamples=2000)
    assert [p.name for p in paths] == ["Beauty.csv", "Toys_and_Games.csv", "report.md"]
    return out


def _metric_from_json(grid: Path, dataset: str, model: str, metric: str) -> list[float]:
    return [json.loads((grid / dataset / model / f"seed{s}" / "metrics.json").read_text())["test"][metric]
            for s in (1, 2, 3)]


# ------------------------------------------------------------------------------------------ summary


def test_summary_has_one_row_per_run_and_metric(summary_files) -> None:
    summary, _ = summary_files
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    runs = 2 * 3 * 3 + 2 * 3 + 3 + 1  # main grid + bert4rec + ablation + sensitivity
    assert len(summary) == runs * len(METRIC_KEYS)
    assert not summary.duplicated(["dataset", "model", "seed", "metric"]).any()
    ok = summary[summary["status"] == "ok"]
    assert ok["value"].notna().all() and (ok["train_seconds"] == 100.0).all()
    assert (ok["memory_kind"] == "cpu_peak_rss").all() and (ok["best_epoch"] == 4).all()
    assert (ok["peak_memory_mb"] == 1000.0).all() and (ok["seconds_per_epoch"] == 20.0).all()


def test_summary_keeps_not_run_rows(summary_files) -> None:
    summary, _ = summary_files
    bert = summary[summary["model"] == "bert4rec"]
    assert len(bert) == 2 * 3 * len(METRIC_KEYS)
    assert (bert["status"] == NOT_RUN).all() and bert["value"].isna().all()


def test_cells_mean_sd_n(summary_files, grid: Path) -> None:
    _, cells = summary_files
    assert list(cells.columns) == list(CELL_COLUMNS)
    row = cells[(cells["dataset"] == "Beauty") & (cells["model"] == "iclrec") & (cells["metric"] == "NDCG@10")]
    values = _metric_from_json(grid, "Beauty", "iclrec", "NDCG@10")
    assert row["mean"].item() == pytest.approx(np.mean(values))
    assert row["sd"].item() == pytest.approx(np.std(values, ddof=1))
    assert row["n"].item() == 3 and row["status"].item() == "ok" and row["seeds"].item() == "1,2,3"
    bert = cells[cells["model"] == "bert4rec"]
    assert (bert["n"] == 0).all() and bert["mean"].isna().all() and (bert["status"] == NOT_RUN).all()
    sens = cells[cells["model"] == "elcrec~alpha=0.1"]
    assert (sens["n"] == 1).all() and sens["sd"].isna().all()


def test_partial_and_unfinished_runs(tmp_path: Path) -> None:
    for seed in (1, 2):
        make_run(tmp_path, "Yelp", "sasrec", seed)
    make_run(tmp_path, "Yelp", "sasrec", 3, status=NOT_RUN)
    (tmp_path / "results/runs/Yelp/sasrec/seed4").mkdir()  # crashed: no metrics.json
    cells = write_summary(tmp_path / "results/runs", tmp_path / "s.csv", tmp_path / "c.csv")
    assert (cells["n"] == 2).all() and (cells["n_runs"] == 4).all()
    assert cells["status"].iloc[0].startswith("partial: 2 of 4 runs not ok")
    assert "unfinished: no metrics.json" in cells["status"].iloc[0]


@pytest.mark.parametrize("content, message", [
    ("{not json", "cannot be read as JSON"),
    (json.dumps({"status": "ok", "test": {"HR@5": 0.1}}), "lack"),
    (json.dumps({"status": "ok", "test": {k: "x" for k in METRIC_KEYS}}), "finite number"),
    (json.dumps({"model": "sasrec"}), "status"),
    (json.dumps({"status": "ok", "seed": 9, "test": {k: 0.1 for k in METRIC_KEYS}}), "directory says"),
])
def test_malformed_metrics_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    run = make_run(tmp_path, "Beauty", "sasrec", 1)
    (run / "metrics.json").write_text(content)
    with pytest.raises(HarnessError, match=message) as err:
        collect_runs(tmp_path / "results" / "runs")
    assert str(run / "metrics.json") in str(err.value)


def test_malformed_profile_names_the_file(tmp_path: Path) -> None:
    run = make_run(tmp_path, "Beauty", "sasrec", 1)
    (run / "profile.json").write_text(json.dumps({"train_seconds": "slow"}))
    with pytest.raises(HarnessError, match="train_seconds") as err:
        collect_runs(tmp_path / "results" / "runs")
    assert str(run / "profile.json") in str(err.value)


def test_missing_runs_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="no such runs folder"):
        collect_runs(tmp_path / "nope")


# ------------------------------------------------------------------------------------------ significance


def _csv(report: Path, dataset: str) -> pd.DataFrame:
    return pd.read_csv(report / f"{dataset}.csv", keep_default_na=True)


def test_csv_rows_and_columns(report: Path) -> None:
    for dataset in DATASETS:
        frame = _csv(report, dataset)
        assert list(frame.columns) == list(SIGNIFICANCE_COLUMNS)
        counts = frame["family"].value_counts().to_dict()
        expected = {"paper": 6, "baselines": 3 * 6}  # iclrec, sasrec, bert4rec
        if dataset == "Beauty":
            expected["ablations"] = 6
        assert counts == expected
        assert (frame["dataset"] == dataset).all()
        assert not frame["model_a"].astype(str).str.contains("~").any()
        assert not frame["model_b"].astype(str).str.contains("~").any()


def test_paper_best_and_runner_up(report: Path, summary_files) -> None:
    _, cells = summary_files
    for dataset in DATASETS:
        frame = _csv(report, dataset)
        paper = frame[frame["family"] == "paper"].set_index("metric")
        for metric in METRIC_KEYS:
            c = cells[(cells["dataset"] == dataset) & (cells["metric"] == metric) & cells["model"].isin(MAIN)]
            ranked = c.sort_values("mean", ascending=False)["model"].tolist()
            row = paper.loc[metric]
            assert (row["model_a"], row["model_b"]) == tuple(ranked[:2])
            assert row["alternative"] == "greater"
            assert row["hypothesis"] == f"H1: mean({ranked[0]}) > mean({ranked[1]})"
            a = cells[(cells["dataset"] == dataset) & (cells["metric"] == metric) & (cells["model"] == ranked[0])]
            assert row["mean_a"] == pytest.approx(a["mean"].item())
            mark = row["mark"] if isinstance(row["mark"], str) else ""  # an empty CSV cell reads as NaN
            assert mark == ("*" if row["p_welch"] < 0.05 else "")
            assert "bert4rec (not run: dataset unavailable)" in row["note"]


def test_paper_p_value_is_the_one_sided_welch_test(report: Path, grid: Path) -> None:
    row = _csv(report, "Beauty").query("family == 'paper' and metric == 'NDCG@20'").iloc[0]
    a = _metric_from_json(grid, "Beauty", row["model_a"], "NDCG@20")
    b = _metric_from_json(grid, "Beauty", row["model_b"], "NDCG@20")
    assert row["p_welch"] == pytest.approx(st.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue)
    assert row["paper_p"] == pytest.approx(9.08e-6)


def test_elcrec_vs_baselines_seed_and_paired_tests(report: Path, grid: Path) -> None:
    frame = _csv(report, "Beauty")
    row = frame.query("family == 'baselines' and model_b == 'sasrec' and metric == 'HR@20'").iloc[0]
    assert row["model_a"] == "elcrec" and row["hypothesis"] == "H1: mean(elcrec) != mean(sasrec)"
    a = _metric_from_json(grid, "Beauty", "elcrec", "HR@20")
    b = _metric_from_json(grid, "Beauty", "sasrec", "HR@20")
    assert row["p_welch"] == pytest.approx(st.ttest_ind(a, b, equal_var=False).pvalue)
    assert row["cohens_d"] == pytest.approx(stats.cohens_d(a, b))
    ua = pd.read_csv(grid / "Beauty/elcrec/seed1/per_user_test.csv")["HR@20"]
    ub = pd.read_csv(grid / "Beauty/sasrec/seed1/per_user_test.csv")["HR@20"]
    assert row["p_paired"] == pytest.approx(st.ttest_rel(ua, ub).pvalue)
    assert row["p_wilcoxon"] == pytest.approx(st.wilcoxon(ua, ub).pvalue)
    assert row["d_z"] == pytest.approx(stats.cohens_dz(ua, ub))
    assert row["paired_n"] == 200 and row["paired_seed"] == 1
    assert row["ci_low"] < row["diff"] < row["ci_high"]
    assert 0 < row["p_permutation"] <= 1


def test_holm_within_each_family(report: Path) -> None:
    frame = _csv(report, "Beauty")
    for family in ("baselines", "ablations"):
        part = frame[frame["family"] == family]
        for col in ("p_welch", "p_paired", "p_wilcoxon", "p_permutation"):
            raw = [None if pd.isna(p) else float(p) for p in part[col]]
            expected = [math.nan if p is None else p for p in stats.holm(raw)]
            np.testing.assert_allclose(part[f"{col}_holm"].to_numpy(float), expected)
        assert part["holm_m"].nunique() == 1
        assert part["significant"].dropna().eq(part["p_welch_holm"].dropna() < 0.05).all()


def test_not_run_model_is_listed_not_dropped(report: Path) -> None:
    for dataset in DATASETS:
        bert = _csv(report, dataset).query("model_b == 'bert4rec'")
        assert len(bert) == 6
        assert (bert["note"] == NOT_RUN).all() and bert["p_welch"].isna().all()
    text = (report / "report.md").read_text()
    assert text.count("Not run: dataset unavailable: BERT4Rec (`bert4rec`)") == 2
    assert "| BERT4Rec | not run |" in text


def test_ablation_variant_vs_elcrec(report: Path) -> None:
    abl = _csv(report, "Beauty").query("family == 'ablations'")
    assert (abl["model_a"] == "elcrec").all() and (abl["model_b"] == "elcrec-b").all()
    assert abl["p_welch"].notna().all() and abl["p_paired"].notna().all()


def test_report_reads_for_every_dataset(report: Path) -> None:
    text = (report / "report.md").read_text()
    for dataset in DATASETS:
        assert f"## {dataset}" in text
    for phrase in ("Welch", "Holm", "paired", "Wilcoxon", "permutation", "Cohen's d", "d_z", "95% CI",
                   "one-sided", "Sensitivity runs not tested here: elcrec~alpha=0.1"):
        assert phrase in text
    headlines = [line for line in text.splitlines() if line.startswith("- ELCRec ")]
    assert len(headlines) == 2 * len(METRIC_KEYS)  # ELCRec vs the strongest baseline, per dataset × metric
    assert all("Welch two-sided p = " in h and "Holm-adjusted" in h for h in headlines)


def test_too_few_seeds_in_the_report(tmp_path: Path) -> None:
    make_run(tmp_path, "Yelp", "elcrec", 1, quality=1.3)
    for seed in (1, 2, 3):
        make_run(tmp_path, "Yelp", "iclrec", seed)
    out = tmp_path / "sig"
    write_significance(tmp_path / "results" / "runs", out, alternative="greater", n_resamples=500)
    frame = pd.read_csv(out / "Yelp.csv")
    base = frame[frame["family"] == "baselines"]
    assert base["p_welch"].isna().all() and base["p_paired"].notna().all()
    assert (base["note"] == "too few seeds: n=1 vs n=3; no p-value").all()
    assert (base["hypothesis"] == "H1: mean(elcrec) > mean(iclrec)").all()
    text = (out / "report.md").read_text()
    assert "no seed-level p-value (too few seeds: n=1 vs n=3; no p-value)" in text


def test_dataset_without_finished_runs_gets_one_short_section(tmp_path: Path) -> None:
    root = tmp_path / "r"
    make_grid(root, datasets=("Beauty",), seeds=(1, 2))
    for model in MAIN:
        for seed in (1, 2):
            make_run(root, "MIND-small", model, seed, status=NOT_RUN)
    write_significance(root / "results" / "runs", tmp_path / "sig", n_resamples=200)
    text = (tmp_path / "sig" / "report.md").read_text()
    mind = text[text.index("## MIND-small"):]
    assert mind.startswith("## MIND-small\n\nNo model has a finished run on MIND-small, so nothing is tested here.")
    assert f"- {NOT_RUN}: ELCRec, ICLRec, SASRec" in mind and "|" not in mind  # no tables of "not run" cells


def test_ties_and_zero_means_are_worded_as_such() -> None:
    from elcrec.report.significance_report import _cell, _headline

    base = {"model_a": "elcrec", "model_b": "iclrec", "metric": "HR@5", "mean_a": 0.01, "mean_b": 0.01,
            "diff": 0.0, "rel_diff_pct": 0.0, "p_welch": 1.0, "p_welch_holm": 1.0, "p_paired": None,
            "p_paired_holm": None, "significant": False, "note": "", "_alpha": 0.05}
    tie = _headline("Beauty", pd.Series(base), "two-sided", 1, 0.05, strongest=True)
    assert "ELCRec ties with ICLRec" in tie and "behind" not in tie
    zero = pd.Series({**base, "mean_b": 0.0, "diff": 0.01, "rel_diff_pct": None})
    assert _cell(zero).startswith("+0.0100 abs · 1")
    assert "is ahead of ICLRec (the strongest baseline on this metric) on Beauty HR@5 by +0.0100 abs" in _headline(
        "Beauty", zero, "two-sided", 1, 0.05, strongest=True)
