"""The paper's figures, each written as ``<prefix>.pdf`` and ``<prefix>.png`` (atomically, reproducibly).

One entry function per figure (each is its own workflow target ``figures/<name>.pdf``); each returns the two
paths; ``shown_as`` is the name captions give the runs folder (the workflow passes a temporary view of the
selected run folders, named as ``results/runs``). The ``build_*`` functions behind them return the matplotlib
Figure without saving it (used by the tests).

=====================  ===================================================================================
``ablation``           paper Figure 1: B / B+ICL / B+ELCM / ELCRec, sum of four metrics, per dataset
``sensitivity_alpha``  paper Figure 2: test HR@5 against alpha, one line per dataset, paper dashed
``sensitivity_k``      paper Figure 2: test HR@5 against k
``convergence``        paper Figure 3: validation HR@5 and loss_total per epoch, per dataset and seed
``tsne``               paper Figure 6: projections of the intent snapshots of one run
``intent_by_activity`` paper Figures 4/5 (case study): top/bottom intents by user-activity group
=====================  ===================================================================================

See docs/figures.md for what each figure reads and how to rebuild it alone.
"""
from __future__ import annotations

from pathlib import Path

from elcrec.report.figure_style import save_figure
from elcrec.report.figures_intents import build_intent_by_activity, build_tsne
from elcrec.report.figures_results import build_ablation, build_convergence, build_sensitivity
from elcrec.report.paper_tables import FIGURES as FIGURE_NAMES


def ablation(runs_root: str | Path, prefix: str | Path, shown_as: str | Path | None = None) -> list[Path]:
    """``prefix.pdf/.png``: ablation bars from ``runs_root/{dataset}/elcrec{-b,-b-icl,-b-elcm,}/seed*/``."""
    return save_figure(build_ablation(runs_root, shown_as), prefix)


def sensitivity_alpha(runs_root: str | Path, prefix: str | Path, shown_as: str | Path | None = None) -> list[Path]:
    """``prefix.pdf/.png``: test HR@5 against alpha from ``runs_root/{dataset}/elcrec~alpha=V/seed*/``."""
    return save_figure(build_sensitivity(runs_root, "alpha", shown_as), prefix)


def sensitivity_k(runs_root: str | Path, prefix: str | Path, shown_as: str | Path | None = None) -> list[Path]:
    """``prefix.pdf/.png``: test HR@5 against k from ``runs_root/{dataset}/elcrec~k=V/seed*/``."""
    return save_figure(build_sensitivity(runs_root, "k", shown_as), prefix)


def convergence(runs_root: str | Path, prefix: str | Path, shown_as: str | Path | None = None) -> list[Path]:
    """``prefix.pdf/.png``: learning curves from ``runs_root/{dataset}/elcrec/seed*/train_log.csv``."""
    return save_figure(build_convergence(runs_root, shown_as=shown_as), prefix)


def tsne(runs_root: str | Path, prefix: str | Path, dataset: str = "Beauty", seed: int = 1,
         projection: str = "tsne", max_users: int = 1000, shown_as: str | Path | None = None) -> list[Path]:
    """``prefix.pdf/.png``: one panel per ``runs_root/{dataset}/elcrec/seed{seed}/snapshots/*.npz``."""
    return save_figure(build_tsne(runs_root, dataset, seed=seed, projection=projection, max_users=max_users,
                                  shown_as=shown_as), prefix)


def intent_by_activity(intents_csv: str | Path, prefix: str | Path, dataset: str | None = None) -> list[Path]:
    """``prefix.pdf/.png``: intent shares by activity group from a ``python -m elcrec intents`` CSV."""
    return save_figure(build_intent_by_activity(intents_csv, dataset), prefix)


# name (the file stem under figures/; listed in elcrec.report.paper_tables.FIGURES) -> entry function
FIGURES = {name: globals()[name] for name in FIGURE_NAMES}
