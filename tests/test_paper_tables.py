"""The paper tables (elcrec/report/table1.py, efficiency.py, domains.py, ablation.py) on synthetic run directories: markup, statistics, states."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from elcrec.evaluate import METRIC_KEYS
from elcrec.report.efficiency import table_efficiency
from elcrec.report.names import PAPER_METRICS, dataset_label
from elcrec.report.paper_tables import TABLES, build_all
from elcrec.report.table1 import table1_main
from tests.fakeruns import make_grid, make_run

def write_run(root: Path, dataset: str, model: str, seed: int, values: dict[str, float], *,
              device: str = "CPU: test", memory_kind: str = "cpu_peak_rss", seconds: float = 100.0,
              memory: float = 1000.0, epochs: int = 10) -> None:
    """A finished run with exactly these test metrics (the rest 0.5) and this profile."""
    out = root / "results" / "runs" / dataset / model / f"seed{seed}"
    out.mkdir(parents=True, exist_ok=True)
    test = {k: values.get(k, 0.5) for k in METRIC_KEYS}
    (out / "metrics.json").write_text(json.dumps({"status": "ok", "model": model, "dataset": dataset, "seed": seed,
                                                  "test": test, "epochs": epochs, "best_epoch": epochs - 1}))
    (out / "profile.json").write_text(json.dumps({
        "train_seconds": seconds, "seconds_per_epoch": seconds / epochs, "epochs": epochs, "peak_memory_mb": memory,
        "memory_kind": memory_kind, "device": device}))


HAND = {  # Beauty, three seeds each
    "elcrec": {"HR@5": [0.30, 0.31, 0.32], "HR@20": [0.50, 0.40, 0.60]},
    "iclrec": {"HR@5": [0.20, 0.21, 0.22], "HR@20": [0.52, 0.42, 0.62]},
    "sasrec": {"HR@5": [0.10, 0.11, 0.12], "HR@20": [0.10, 0.11, 0.12]},
}


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, str]:
    root = tmp_path_factory.mktemp("hand")
    for model, metrics in HAND.items():
        for i, seed in enumerate((1, 2, 3)):
            write_run(root, "Beauty", model, seed, {k: v[i] for k, v in metrics.items()})
    for seed in (1, 2, 3):  # a dataset that could not be run
        make_run(root, "Yelp", "elcrec", seed, status="not run: dataset unavailable")
    data = table1_main(root / "results" / "runs", root / "paper_tables")
    return root, data, (root / "paper_tables" / "table1_main.md").read_text()


def md_rows(md: str) -> dict[tuple[str, str], dict[str, str]]:
    """{(dataset label, metric): {column: cell}} from a Markdown table whose dataset cell is blank after the first."""
    lines = [line for line in md.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split(" | ")]
    rows, dataset = {}, ""
    for line in lines[1:]:
        cells = dict(zip(header, (c.strip() for c in line.strip().strip("|").split(" | "))))
        dataset = cells["Dataset"] or dataset
        rows[(dataset, cells["Metric"])] = cells
    return rows


def test_hand_made_best_runner_up_and_significance(hand: tuple[Path, pd.DataFrame, str]) -> None:
    _, data, md = hand
    rows = md_rows(md)
    hr5 = rows[("Beauty", "HR@5")]
    assert hr5["ELCRec"] == "**0.3100**" and hr5["ICLRec"] == "<u>0.2100</u>" and hr5["SASRec"] == "0.1100"
    p = stats.ttest_ind(HAND["elcrec"]["HR@5"], HAND["iclrec"]["HR@5"], equal_var=False, alternative="greater").pvalue
    assert p < 0.05
    assert hr5["p-value"] == f"{p:.2e}*"
    assert hr5["Impro."] == f"{(0.31 - 0.21) / 0.21 * 100:.2f}%↑"
    # HR@20: ICLRec ahead of ELCRec by a hair, far from significant: no star, ELCRec's Impro. points down
    hr20 = rows[("Beauty", "HR@20")]
    assert hr20["ICLRec"] == "**0.5200**" and hr20["ELCRec"] == "<u>0.5000</u>"
    assert not hr20["p-value"].endswith("*") and float(hr20["p-value"]) > 0.05
    assert hr20["Impro."] == f"{abs((0.50 - 0.52) / 0.52 * 100):.2f}%↓"  # ELCRec against the best other model
    row = data[(data["dataset"] == "Beauty") & (data["metric"] == "HR@5")].iloc[0]
    assert row["best"] == "ELCRec" and row["runner_up"] == "ICLRec" and bool(row["significant"])
    assert row["ELCRec sd"] == pytest.approx(0.01) and row["ELCRec n"] == 3
    assert set(data["metric"]) == set(METRIC_KEYS)  # HR@10/NDCG@10 in the CSV
    assert "HR@10" not in {m for _, m in rows}  # ... but not in the printed table


def test_not_implemented_and_not_run_are_loud(hand: tuple[Path, pd.DataFrame, str]) -> None:
    _, data, md = hand
    rows = md_rows(md)
    for model in ("BPR-MF", "GRU4Rec", "Caser", "DSSRec", "DCRec", "MAERec", "IOCRec"):  # implemented, no runs here
        assert (data[f"{model} status"] != "not implemented").all()
    assert ("Yelp", "HR@5") in rows and ("Sports", "NDCG@20") in rows  # rows without runs are kept
    assert rows[("Yelp", "HR@5")]["ELCRec"] == "-"
    assert "Yelp/ELCRec: not run: dataset unavailable" in md
    assert "NOT IMPLEMENTED" not in md  # all thirteen columns of Table 1 are implemented
    yelp = data[(data["dataset"] == "Yelp")].iloc[0]
    assert yelp["ELCRec status"] == "not run: dataset unavailable"


def test_a_column_without_an_implementation_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from elcrec.report import table1
    from elcrec.report.names import Column

    columns = tuple(Column(c.label, None) if c.label == "IOCRec" else c for c in table1.TABLE1_COLUMNS)
    monkeypatch.setattr(table1, "TABLE1_COLUMNS", columns)
    write_run(tmp_path, "Beauty", "elcrec", 1, {"HR@5": 0.3})
    data = table1_main(tmp_path / "results" / "runs", tmp_path / "out", datasets=["Beauty"])
    md = (tmp_path / "out" / "table1_main.md").read_text()
    assert "NOT IMPLEMENTED in this harness (columns kept, no numbers): IOCRec" in md
    assert md_rows(md)[("Beauty", "HR@5")]["IOCRec"] == "not implemented"
    assert (data["IOCRec status"] == "not implemented").all()


def test_one_seed_gives_no_p_value_and_says_why(tmp_path: Path) -> None:
    for model, value in (("elcrec", 0.3), ("iclrec", 0.2)):
        write_run(tmp_path, "Beauty", model, 1, {"HR@5": value})
    data = table1_main(tmp_path / "results" / "runs", tmp_path / "out", datasets=["Beauty"])
    md = (tmp_path / "out" / "table1_main.md").read_text()
    row = md_rows(md)[("Beauty", "HR@5")]
    assert row["ELCRec"] == "**0.3000**" and row["p-value"] == "n/a"
    assert "p-value n/a (too few seeds" in md
    assert data["p_value"].isna().all()


def test_grid_bold_and_underline_follow_the_means(tmp_path: Path) -> None:
    make_grid(tmp_path, datasets=("Beauty", "Yelp"), models=("elcrec", "iclrec", "sasrec", "coserec"))
    data = table1_main(tmp_path / "results" / "runs", tmp_path / "out", datasets=["Beauty", "Yelp"])
    rows = md_rows((tmp_path / "out" / "table1_main.md").read_text())
    for rec in data.to_dict("records"):
        ranked = {m: rec[m] for m in ("SASRec", "ICLRec", "ELCRec")}
        order = sorted(ranked, key=lambda m: -ranked[m])
        assert (rec["best"], rec["runner_up"]) == tuple(order[:2])
        if rec["metric"] in PAPER_METRICS:
            cells = rows[(dataset_label(rec["dataset"]), rec["metric"])]
            assert cells[order[0]].startswith("**") and cells[order[1]].startswith("<u>")
            assert not cells[order[2]].startswith(("**", "<u>"))
            assert cells["CoSeRec"][0].isdigit()  # shown, never ranked
            assert cells["p-value"].endswith("*") == (rec["p_value"] < 0.05)
    assert data["p_holm"].notna().all() and (data["p_holm"] >= data["p_value"] - 1e-12).all()


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("all")
    make_grid(root, datasets=("Beauty", "Toys_and_Games"),
              models=("elcrec", "iclrec", "sasrec", "s3rec", "elcrec-b", "elcrec-b-icl", "elcrec-b-elcm"))
    make_grid(root, datasets=("ml-1m",), models=("elcrec", "iclrec"))
    for model in ("elcrec", "iclrec"):
        for seed in (1, 2, 3):
            make_run(root, "MIND-small", model, seed, status="not run: dataset unavailable")
    build_all(root / "results" / "runs", root / "paper_tables")
    return root / "paper_tables"


def test_every_table_exists_in_three_formats(everything: Path) -> None:
    for name in TABLES:
        for ext in (".md", ".csv", ".tex"):
            path = everything / f"{name}{ext}"
            assert path.is_file() and path.stat().st_size > 0, path
        tex = (everything / f"{name}.tex").read_text()
        assert "\\toprule" in tex and all(ord(ch) < 128 for ch in tex), name  # LaTeX-safe


def test_other_domain_tables(everything: Path) -> None:
    mind = (everything / "table_mind.md").read_text()
    assert "not run: dataset unavailable" in mind and "0.0944" in mind  # ours missing, the paper's still shown
    ml = pd.read_csv(everything / "table_ml1m.csv")
    ours = ml[ml["source"] == "ours"].set_index("row")
    assert ours.loc["ICLRec", "HR@5"] > 0 and "HR@10" in ml.columns
    assert ours.loc["Impro. (%)", "HR@5"] == pytest.approx(
        (ours.loc["ELCRec", "HR@5"] - ours.loc["ICLRec", "HR@5"]) / ours.loc["ICLRec", "HR@5"] * 100)


def test_ablation_and_efficiency(everything: Path) -> None:
    abl = pd.read_csv(everything / "table_ablation.csv").set_index("dataset")
    assert abl.loc["Beauty", "paper ELCRec"] == pytest.approx(0.2473)
    assert abl.loc["Toys_and_Games", "paper_best"] == "B+ELCM"
    eff = pd.read_csv(everything / "table_efficiency.csv")
    beauty = eff[(eff["dataset"] == "Beauty") & (eff["model"] == "ELCRec")].iloc[0]
    assert beauty["paper_time_change_pct"] == pytest.approx(-22.49, abs=0.01)
    assert beauty["memory_kind"] == "CPU peak RSS" and beauty["device"] == "CPU: test"
    avg = eff[(eff["dataset"] == "Avg") & (eff["model"] == "ELCRec")].iloc[0]
    assert avg["paper_time_change_pct"] == pytest.approx(-7.18, abs=0.01)
    assert avg["paper_memory_change_pct"] == pytest.approx(-9.58, abs=0.01)
    md = (everything / "table_efficiency.md").read_text()
    assert "NOT comparable" in md and "1574" in md


def test_efficiency_refuses_to_compare_across_devices(tmp_path: Path) -> None:
    for seed in (1, 2):
        write_run(tmp_path, "Beauty", "iclrec", seed, {}, device="NVIDIA H100", memory_kind="cuda_max_memory_allocated")
        write_run(tmp_path, "Beauty", "elcrec", seed, {}, device="CPU: test")
    data = table_efficiency(tmp_path / "results" / "runs", tmp_path / "out", datasets=["Beauty"])
    row = data[(data["dataset"] == "Beauty") & (data["model"] == "ELCRec")].iloc[0]
    assert pd.isna(row["time_change_pct"]) and pd.isna(row["memory_change_pct"])
    assert "not comparable" in (tmp_path / "out" / "table_efficiency.md").read_text()
