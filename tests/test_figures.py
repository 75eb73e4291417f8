"""The paper figures on synthetic run directories (tests/fakeruns.py), snapshots and an intents CSV made here.

Each figure is checked twice: its files (PDF and PNG, non-empty, atomic, reproducible) and its content (the
Figure returned by ``build_*``: panels, bars, lines and legend labels, and the plotted values themselves).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer

from elcrec.errors import HarnessError
from elcrec.report import figures
from elcrec.report.figure_style import figure_caption, output_paths
from elcrec.report.figures_intents import activity_groups, tsne
from elcrec.report.names import ABLATION_METRICS as ABLATION_KEYS
from elcrec.report.sensitivity import own_value as default_value
from fakeruns import make_run

ABLATION_MODELS = ("elcrec-b", "elcrec-b-icl", "elcrec-b-elcm", "elcrec")
ALPHAS = (0.01, 0.1, 1, 10, 100)
KS = (32, 64, 128, 256, 512)
SNAPSHOTS = ("epoch000", "epoch050", "final")
N_USERS, N_CENTRES = 45, 5


def _snapshots(folder: Path) -> None:
    """Three snapshots of 45 users around 5 centres, tighter at each epoch (like a training run's)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    users = np.sort(rng.choice(500, N_USERS, replace=False))
    for name, spread in zip(SNAPSHOTS, (1.0, 0.4, 0.1)):
        centres = rng.normal(size=(N_CENTRES, 64))
        assign = np.arange(N_USERS) % N_CENTRES
        emb = centres[assign] + spread * rng.normal(size=(N_USERS, 64))
        np.savez_compressed(folder / f"{name}.npz", users=users, embeddings=emb.astype(np.float32),
                            assign=assign, centres=centres.astype(np.float32))


def _intents(path: Path) -> pd.DataFrame:
    """400 users, history lengths 4..23 (20 each); the group of length h prefers intent h // 5 (4..23 -> 0..4)."""
    rows = []
    for h in range(4, 24):
        for i in range(20):
            rows.append({"user": len(rows), "history_len": h, "intent": (h // 5) if i < 14 else 10 + (i % 6)})
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False)
    return frame


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("figs")
    quality = {"elcrec-b": 0.9, "elcrec-b-icl": 1.0, "elcrec-b-elcm": 1.1, "elcrec": 1.2}
    kw = {"users": 60, "epochs": 6}
    for dataset in ("Beauty", "Toys_and_Games"):
        for model in ABLATION_MODELS:
            for seed in (1, 2, 3):
                make_run(root, dataset, model, seed, quality=quality[model], **kw)
    # Yelp: only ELCRec (one seed) ran; B+ELCM was recorded as not run; B and B+ICL have no run at all.
    make_run(root, "Yelp", "elcrec", 1, **kw)
    make_run(root, "Yelp", "elcrec-b-elcm", 1, status="not run: dataset unavailable")
    make_run(root, "ml-1m", "sasrec", 1, **kw)  # no ablation or ELCRec run: no panel, no column
    for i, alpha in enumerate(ALPHAS):
        if alpha != 10:  # Beauty's own alpha (10): the plain elcrec run stands in
            make_run(root, "Beauty", f"elcrec~alpha={alpha:g}", 1, quality=1 + 0.1 * i, **kw)
        make_run(root, "Toys_and_Games", f"elcrec~alpha={alpha:g}", 1, quality=1 + 0.05 * i,
                 status="not run: out of time" if alpha == 100 else "ok", **kw)
    for i, k in enumerate(KS):
        make_run(root, "Beauty", f"elcrec~k={k}", 1, quality=1 + 0.1 * i, **kw)
    runs = root / "results" / "runs"
    _snapshots(runs / "Beauty" / "elcrec" / "seed1" / "snapshots")
    _intents(root / "intents.csv")
    return {"root": root, "runs": runs, "intents": root / "intents.csv", "out": root / "figures"}


def _bars(ax) -> list[BarContainer]:  # noqa: ANN001
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def _labelled_lines(ax) -> list:  # noqa: ANN001
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


def _legend(fig) -> list[str]:  # noqa: ANN001
    assert len(fig.legends) == 1
    return [t.get_text() for t in fig.legends[0].get_texts()]


def _test_metrics(runs: Path, dataset: str, model: str) -> list[dict]:
    found = [json.loads(p.read_text()) for p in sorted((runs / dataset / model).glob("seed*/metrics.json"))]
    return [m["test"] for m in found if m["status"] == "ok"]


# --- files -----------------------------------------------------------------------------------------------
def test_every_entry_writes_pdf_and_png(work: dict[str, Path]) -> None:
    out = work["out"]
    written = []
    for name, entry in figures.FIGURES.items():
        source = work["intents"] if name == "intent_by_activity" else work["runs"]
        paths = entry(source, out / name)
        assert paths == [out / f"{name}.pdf", out / f"{name}.png"]
        written += paths
    for path in written:
        assert path.is_file() and path.stat().st_size > 1000, path
        head = path.read_bytes()[:8]
        assert head.startswith(b"%PDF") if path.suffix == ".pdf" else head == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)  # no temporary leftovers
    assert b"Ablation (paper Figure 1)" in (out / "ablation.png").read_bytes()  # caption in the PNG metadata


def test_saving_is_reproducible_and_accepts_a_suffixed_prefix(work: dict[str, Path], tmp_path: Path) -> None:
    first = figures.sensitivity_k(work["runs"], tmp_path / "a" / "sensitivity_k")
    fig = figures.build_sensitivity(work["runs"], "k")
    second = figures.save_figure(fig, tmp_path / "b" / "sensitivity_k.pdf")  # a Snakemake output as the prefix
    assert second == list(output_paths(tmp_path / "b" / "sensitivity_k"))
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name  # no timestamps: the same runs give the same bytes


def test_workflow_figures_name_the_runs_folder_not_a_temporary_view(work: dict[str, Path], tmp_path: Path) -> None:
    """The workflow passes --run-dirs (read through a temporary view); the caption names --runs, so a rebuilt
    figure is byte-identical."""
    from elcrec.cli import main

    dirs = [str(p) for p in sorted(work["runs"].glob("*/*/seed*"))]
    built = []
    for name in ("first", "second"):
        for figure in ("ablation", "sensitivity_alpha", "convergence", "tsne"):
            out = tmp_path / name / f"{figure}.pdf"
            assert main(["figure", figure, "--runs", str(work["runs"]), "--run-dirs", *dirs, "--out", str(out),
                         "--dataset", "Beauty", "--projection", "pca"]) == 0
            built.append(out)
    for a, b in zip(built[:4], built[4:]):
        assert a.read_bytes() == b.read_bytes(), a.name
        assert a.with_suffix(".png").read_bytes() == b.with_suffix(".png").read_bytes(), a.name
        assert b"elcrec-runs-" not in a.with_suffix(".png").read_bytes(), a.name
        assert str(work["runs"]).encode() in a.with_suffix(".png").read_bytes(), a.name


# --- content ---------------------------------------------------------------------------------------------
def test_ablation_panels_bars_paper_markers_and_gaps(work: dict[str, Path]) -> None:
    fig = figures.build_ablation(work["runs"])
    assert [ax.get_title() for ax in fig.axes] == ["Beauty", "Toys", "Yelp"]  # ml-1m has no ablation run
    assert _legend(fig) == ["B", "B+ICL", "B+ELCM", "ELCRec", "paper (Figure 1 / Table 10)"]
    for ax in fig.axes:
        assert len(_bars(ax)) == 4 and all(len(c) == 1 for c in _bars(ax))
        assert len(_labelled_lines(ax)) == 1  # the paper's diamonds
    beauty = fig.axes[0]
    for container, model in zip(_bars(beauty), ABLATION_MODELS):
        sums = [sum(t[k] for k in ABLATION_KEYS) for t in _test_metrics(work["runs"], "Beauty", model)]
        assert len(sums) == 3
        assert container[0].get_height() == pytest.approx(np.mean(sums))
        assert container.errorbar is not None  # sd over three seeds
    paper = _labelled_lines(beauty)[0].get_ydata()
    assert list(paper) == pytest.approx([0.239, 0.2398, 0.2432, 0.2473])
    yelp = fig.axes[2]
    assert [c[0].get_height() for c in _bars(yelp)][:3] == pytest.approx([np.nan] * 3, nan_ok=True)
    assert _bars(yelp)[3].errorbar is None  # one seed: no sd
    assert sorted(t.get_text() for t in yelp.texts if t.get_gid() == "gap") == ["no run", "no run", "not run"]
    assert "Yelp B+ELCM: not run: dataset unavailable" in figure_caption(fig)
    assert "Fewer seeds" not in figure_caption(fig)


def test_sensitivity_alpha_lines_paper_dashed_default_from_plain_run(work: dict[str, Path]) -> None:
    fig = figures.build_sensitivity(work["runs"], "alpha")
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = [line.get_label() for line in _labelled_lines(ax)]
    assert labels == ["Beauty", "dataset's own value (elcrec.yaml)", "Beauty (paper)", "Toys", "Toys (paper)"]
    assert _legend(fig) == labels
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert default_value("Beauty", "alpha") == 10.0  # from config/models/elcrec.yaml
    assert list(lines["Beauty"].get_xdata()) == list(ALPHAS)  # 10 taken from the plain elcrec run (seed 1)
    plain = json.loads((work["runs"] / "Beauty" / "elcrec" / "seed1" / "metrics.json").read_text())["test"]
    assert lines["Beauty"].get_ydata()[3] == pytest.approx(plain["HR@5"])
    assert list(lines["Toys"].get_xdata()) == [0.01, 0.1, 1, 10]  # 100 was not run
    assert lines["Toys (paper)"].get_linestyle() == "--" and lines["Toys"].get_linestyle() == "-"
    assert list(lines["Beauty (paper)"].get_ydata()) == pytest.approx([0.0481, 0.0493, 0.0493, 0.053, 0.0497])
    caption = figure_caption(fig)
    assert "Toys alpha=100: not run: out of time" in caption and "Beauty alpha=10 is the plain elcrec run" in caption


def test_sensitivity_k_log2_axis(work: dict[str, Path]) -> None:
    fig = figures.build_sensitivity(work["runs"], "k")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
    lines = {line.get_label(): line for line in _labelled_lines(ax)}
    assert set(lines) == {"Beauty", "Beauty (paper)", "dataset's own value (elcrec.yaml)"}
    assert list(lines["Beauty"].get_xdata()) == list(KS)
    with pytest.raises(ValueError):
        figures.build_sensitivity(work["runs"], "beta")


def test_convergence_two_panels_per_dataset_one_line_per_seed(work: dict[str, Path]) -> None:
    fig = figures.build_convergence(work["runs"])
    assert len(fig.axes) == 6  # Beauty, Toys, Yelp x (validation HR@5, loss)
    assert [fig.axes[i].get_title() for i in range(3)] == ["Beauty", "Toys", "Yelp"]
    assert [len(_labelled_lines(ax)) for ax in fig.axes] == [3, 3, 1, 3, 3, 1]
    assert _legend(fig) == ["seed 1", "seed 2", "seed 3"]
    log = pd.read_csv(work["runs"] / "Beauty" / "elcrec" / "seed2" / "train_log.csv")
    top, bottom = fig.axes[0], fig.axes[3]
    assert list(top.get_lines()[1].get_ydata()) == pytest.approx(list(log["valid_HR@5"]))
    assert list(bottom.get_lines()[1].get_ydata()) == pytest.approx(list(log["loss_total"]))
    assert list(bottom.get_lines()[1].get_xdata()) == list(range(6))


def test_tsne_one_panel_per_snapshot_users_and_centres(work: dict[str, Path]) -> None:
    fig = figures.build_tsne(work["runs"], "Beauty")
    assert [ax.get_title().split(" (")[0] for ax in fig.axes] == ["epoch 0", "epoch 50", "final"]
    assert _legend(fig) == ["user (colour: intent id mod 20)", "intent centre"]
    for ax in fig.axes:
        points, centres = ax.collections
        assert len(points.get_offsets()) == N_USERS and len(centres.get_offsets()) == N_CENTRES
    assert "exact t-SNE" in figure_caption(fig)
    again = figures.build_tsne(work["runs"], "Beauty")  # deterministic
    assert np.array_equal(fig.axes[2].collections[0].get_offsets(), again.axes[2].collections[0].get_offsets())
    pca = figures.build_tsne(work["runs"], "Beauty", projection="pca", max_users=20)
    assert len(pca.axes[0].collections[0].get_offsets()) == 20
    assert "PCA (numpy SVD; a linear map, not t-SNE)" in figure_caption(pca)


def test_tsne_keeps_clusters_apart() -> None:
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(3), 30)
    x = rng.normal(size=(3, 20))[labels] * 5 + rng.normal(size=(90, 20))
    y = tsne(x)
    dist = ((y[:, None] - y[None]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    assert (labels[dist.argmin(1)] == labels).all()  # every point's 2-D nearest neighbour is in its cluster
    assert np.array_equal(y, tsne(x))


def test_intent_by_activity_groups_top_and_bottom_intents(work: dict[str, Path]) -> None:
    frame = pd.read_csv(work["intents"])
    groups, edges = activity_groups(frame.history_len)
    assert list(edges) == [8.75, 13.5, 18.25]
    assert groups.value_counts().to_dict() == {"new": 100, "low": 100, "medium": 100, "high": 100}
    fig = figures.build_intent_by_activity(work["intents"], "Synthetic")
    assert [ax.get_title().split(" (")[0] for ax in fig.axes] == ["new", "low", "medium", "high"]
    assert _legend(fig) == ["top-3 intents of the group", "bottom-3 intents of the group", "share among all users"]
    for ax in fig.axes:
        top, bottom = _bars(ax)
        assert len(top) == 3 and len(bottom) == 3 and len(_labelled_lines(ax)) == 1
    new = fig.axes[0]  # h 4..8: intent 0 (h 4) and 1 (h 5..8) dominate; 14 of 20 users of each length
    ticks = [t.get_text() for t in new.get_xticklabels()]
    assert ticks[:2] == ["1", "0"]
    assert _bars(new)[0][0].get_height() == pytest.approx(100 * 56 / 100)
    assert "new h ≤ q1" in figure_caption(fig) and "q1=8.75" in figure_caption(fig)


def test_ablation_caption_names_variants_with_fewer_seeds(tmp_path: Path) -> None:
    for seed in (1, 2, 3):
        make_run(tmp_path, "Beauty", "elcrec", seed, users=30, epochs=2)
        make_run(tmp_path, "Beauty", "elcrec-b", seed, users=30, epochs=2,
                 status="not run: interrupted" if seed == 3 else "ok")
    fig = figures.build_ablation(tmp_path / "results" / "runs")
    assert len(fig.axes) == 1 and len(_bars(fig.axes[0])) == 4
    assert "Fewer seeds finished for: Beauty B (2 of 3)." in figure_caption(fig)
    assert "Beauty B+ICL: no run; Beauty B+ELCM: no run." in figure_caption(fig)


# --- nothing to plot, bad input --------------------------------------------------------------------------
def test_empty_runs_root_gives_a_placeholder_and_a_missing_one_an_error(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    for build in (figures.build_ablation, figures.build_convergence):
        fig = build(tmp_path / "runs")
        assert len(fig.axes) == 1 and [t.get_gid() for t in fig.axes[0].texts] == ["placeholder"]
        assert "nothing to plot" in figure_caption(fig)
    assert "nothing to plot" in figure_caption(figures.build_tsne(tmp_path / "runs", "Beauty"))
    with pytest.raises(HarnessError, match="does not exist"):
        figures.build_ablation(tmp_path / "nope")


def test_intents_csv_is_checked(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("user,intent\n0,1\n")
    with pytest.raises(HarnessError, match="history_len"):
        figures.build_intent_by_activity(tmp_path / "bad.csv")
    with pytest.raises(HarnessError, match="python -m elcrec intents"):
        figures.build_intent_by_activity(tmp_path / "missing.csv")
