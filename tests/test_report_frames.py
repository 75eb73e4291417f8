"""Each paper table's module computes one frame that its table, its claims and its figure read
(elcrec/report/ablation.py, efficiency.py, domains.py, table1.py, sensitivity.py, datasets.py): the claims quote
the table's numbers."""
from __future__ import annotations

from pathlib import Path

import pytest

from elcrec.report.ablation import ablation_frame, add_ablation, table_ablation
from elcrec.report.cells import cell, load_runs
from elcrec.report.claims import Report
from elcrec.report.domains import other_domain_frame, table_ml1m
from elcrec.report.efficiency import efficiency_frame, table_efficiency
from elcrec.report.present import fmt
from elcrec.report.table1 import table1_frame, table1_main
from tests.fakeruns import make_grid, make_run


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("frames")
    make_grid(root, datasets=("Toys_and_Games",), models=("elcrec", "iclrec", "elcrec-b", "elcrec-b-icl",
                                                           "elcrec-b-elcm"),
              quality={"elcrec": 1.3, "iclrec": 1.1, "elcrec-b-elcm": 1.6, "elcrec-b-icl": 1.0, "elcrec-b": 0.9})
    for seed in (1, 2, 3):
        make_run(root, "Beauty", "iclrec", seed, train_seconds=100.0 + seed, epochs=4)
        make_run(root, "Beauty", "elcrec", seed, train_seconds=80.0 + seed, epochs=5)
    make_grid(root, datasets=("ml-1m",), models=("elcrec", "iclrec"))
    return root


def test_ablation_claims_quote_the_tables_sums(root: Path) -> None:
    runs_root = root / "results" / "runs"
    data = table_ablation(runs_root, root / "out", datasets=["Toys_and_Games"]).set_index("dataset")
    rep = Report(load_runs(runs_root), root / "results" / "data")
    add_ablation(rep)
    a4 = next(c for c in rep.claims if c.id == "A4")
    toys = data.loc["Toys_and_Games"]
    assert f"B+ELCM {fmt(toys['B+ELCM'])} vs ELCRec {fmt(toys['ELCRec'])}" in a4.evidence
    assert a4.verdict == "supported"


def test_a_dataset_outside_the_paper_keeps_its_paper_number_missing(root: Path) -> None:
    runs = load_runs(root / "results" / "runs")
    frame = ablation_frame(lambda d, h: cell(runs, d, h), ["ml-1m", "Beauty"])
    assert frame.loc[frame["dataset"] == "ml-1m", "paper"].tolist() == [None] * 4
    assert all(isinstance(v, float) for v in frame.loc[frame["dataset"] == "Beauty", "paper"])


def test_efficiency_frame_holds_the_tables_changes(root: Path) -> None:
    runs_root = root / "results" / "runs"
    data = table_efficiency(runs_root, root / "out", datasets=["Beauty"])
    runs = load_runs(runs_root)
    frame = efficiency_frame(lambda d, h: cell(runs, d, h), ["Beauty"])
    ours = frame[frame["model"] == "ELCRec"].iloc[0]
    row = data[(data["dataset"] == "Beauty") & (data["model"] == "ELCRec")].iloc[0]
    # per epoch: ELCRec (80+s)/5 against ICLRec (100+s)/4
    assert ours["time_per_epoch_change_pct"] == pytest.approx((82 / 5 - 102 / 4) / (102 / 4) * 100)
    for column in ("time_change_pct", "time_per_epoch_change_pct", "memory_change_pct"):
        assert row[column] == ours[column]


def test_other_domain_and_table1_frames_match_their_tables(root: Path) -> None:
    runs_root = root / "results" / "runs"
    runs = load_runs(runs_root)
    ml = table_ml1m(runs_root, root / "out")
    frame = other_domain_frame(lambda d, h: cell(runs, d, h), "ml-1m").set_index("metric")
    ours = ml[(ml["row"] == "Impro. (%)") & (ml["source"] == "ours")].iloc[0]
    assert ours["HR@5"] == frame.loc["HR@5", "impro_pct"]
    t1 = table1_main(runs_root, root / "out", datasets=["Toys_and_Games"]).set_index("metric")
    f1 = table1_frame(lambda d, h: cell(runs, d, h), ["Toys_and_Games"]).set_index("metric")
    assert t1.loc["NDCG@20", "best"] == f1.loc["NDCG@20", "ranking"].best == "ELCRec"


def test_sensitivity_figure_and_report_read_the_same_points(tmp_path: Path) -> None:
    """Figure 2's lines, the report's Figure 2 rows and claim S1 read sensitivity_frame; the dataset's own alpha
    (10 on Beauty) comes from the plain elcrec run over the sensitivity runs' seeds only (seed 1, not 1-3)."""
    from elcrec.report.figures_results import build_sensitivity
    from elcrec.report.sensitivity import add_sensitivity, sensitivity_frame

    for seed in (1, 2, 3):
        make_run(tmp_path, "Beauty", "elcrec", seed, quality=1.0 + 0.2 * seed)
    for i, alpha in enumerate(("0.01", "0.1", "1", "100")):
        make_run(tmp_path, "Beauty", f"elcrec~alpha={alpha}", 1, quality=1.0 + 0.1 * i)
    runs = load_runs(tmp_path / "results" / "runs")
    frame = sensitivity_frame(runs, "alpha")
    beauty = frame[frame["dataset"] == "Beauty"].set_index("value")
    assert sorted(beauty.index) == [0.01, 0.1, 1.0, 10.0, 100.0]
    own = beauty.loc[10.0]
    assert own["run"] == "elcrec" and own["from_plain"] and list(own["hr5"].values) == [1]
    assert own["hr5"].mean == pytest.approx(float(runs.query("model == 'elcrec' and seed == 1")["HR@5"].iloc[0]))

    fig = build_sensitivity(tmp_path / "results" / "runs", "alpha")
    line = next(line for line in fig.axes[0].get_lines() if line.get_label() == "Beauty")
    assert list(line.get_xdata()) == sorted(beauty.index)
    assert list(line.get_ydata()) == [beauty.loc[v, "hr5"].mean for v in sorted(beauty.index)]

    rep = Report(runs, tmp_path / "results" / "data")
    add_sensitivity(rep)
    row = next(c for c in rep.compared if c.item == "Beauty alpha = 10 (HR@5)")
    assert row.ours.values == own["hr5"].values
    s1 = next(c for c in rep.claims if c.id == "S1")
    means = [beauty.loc[v, "hr5"].mean for v in beauty.index]
    assert f"Beauty {(max(means) - min(means)) / max(means) * 100:.1f}% (paper" in s1.evidence  # the same points

    make_run(tmp_path, "Beauty", "elcrec~alpha=10", 1, quality=5.0)  # a run of the own value wins over the plain run
    again = sensitivity_frame(load_runs(tmp_path / "results" / "runs"), "alpha").set_index(["dataset", "value"])
    assert again.loc[("Beauty", 10.0), "run"] == "elcrec~alpha=10" and not again.loc[("Beauty", 10.0), "from_plain"]


def test_datasets_table_and_claim_d1_read_one_comparison(tmp_path: Path) -> None:
    """Every printed statistic is compared once (statistics_frame): the table's flags, the report's rows and claim
    D1 name the same mismatch, shown the same way."""
    import json

    from elcrec.report.datasets import add_datasets, build_datasets_table, statistics_frame

    stats = {"Beauty": {"dataset": "Beauty", "status": "ok", "users": 22363, "items": 12101,
                        "interactions": 198502, "avg_len": 8.876, "sparsity_pct": 99.93},
             "Toys_and_Games": {"dataset": "Toys_and_Games", "status": "ok", "users": 19412, "items": 11924,
                                "interactions": 167597, "avg_len": 8.634, "sparsity_pct": 99.93}}
    paths = []
    for name, found in stats.items():
        path = tmp_path / "data" / name / "stats.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(found))
        paths.append(path)
    frame = statistics_frame(stats)
    assert frame.loc[frame["match"].eq(False), ["dataset", "statistic"]].values.tolist() == [["Beauty", "sparsity_pct"]]
    table = build_datasets_table(paths, tmp_path / "datasets").set_index("dataset")
    assert table.loc["Beauty", "note"] == "sparsity_pct: paper prints 99.95%, the file gives 99.93%"
    assert table.loc["Toys_and_Games", "note"] == "matches the paper"

    (tmp_path / "runs").mkdir()
    rep = Report(load_runs(tmp_path / "runs"), tmp_path / "data")
    add_datasets(rep, ["Beauty", "Toys_and_Games", "Yelp"])
    row = next(c for c in rep.compared if c.item == "Beauty sparsity")
    assert row.ours_text() == "99.93%" and "99.93%" in (tmp_path / "datasets.md").read_text()
    assert "DIFFERS" in row.within
    d1 = rep.claims[-1]
    assert d1.id == "D1" and d1.verdict == "not supported"
    assert "Beauty sparsity: paper 99.95%, ours 99.93" in d1.evidence
