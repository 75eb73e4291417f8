"""What every paper figure shares: the runs (read once through elcrec.report.cells), one house style, captions,
atomic saving.

Figures are built with matplotlib's object-oriented API (``matplotlib.figure.Figure`` on the Agg canvas), so no
pyplot state, no GUI backend and no global style leaks into the rest of the process. Every figure carries its
caption three ways: drawn under the panels, in the PDF's Subject and in the PNG's Description metadata. The PNG
also carries a ``Panels`` text chunk (JSON: each panel's title and its counts of lines, bars and point sets), so a
test or a script can check what a saved figure shows without parsing pixels.
"""
from __future__ import annotations

import functools
import json
import math
import textwrap
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import matplotlib
import pandas as pd
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from elcrec.errors import HarnessError
from elcrec.fileio import atomic_path
from elcrec.report.cells import load_runs
from elcrec.report.names import DATASET_ORDER

# Okabe-Ito: distinguishable in colour-blind vision and in greyscale print.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
STYLE: dict[str, Any] = {
    "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "legend.fontsize": 7, "xtick.labelsize": 7,
    "ytick.labelsize": 7, "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.5,
    "axes.spines.top": False, "axes.spines.right": False, "axes.axisbelow": True,
    "pdf.fonttype": 42, "ps.fonttype": 42,  # embed TrueType, so the text stays editable and searchable
    "svg.hashsalt": "elcrec", "path.simplify": True,
}
CAPTION_FONTSIZE = 7.0
DPI = 200

F = TypeVar("F", bound=Callable[..., Any])


def styled(func: F) -> F:
    """Run a figure builder inside the house style (an rc_context: nothing global is changed)."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(STYLE):
            return func(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def ordered(datasets: Iterable[str]) -> list[str]:
    """The paper's order; a subsample (``Beauty-sub10``) sits right after its parent's place; others last, A-Z."""
    def key(name: str) -> tuple[int, str]:
        base = name.split("-sub")[0] if "-sub" in name else name
        return (DATASET_ORDER.index(base) if base in DATASET_ORDER else len(DATASET_ORDER), name)
    return sorted(set(datasets), key=key)


def check_root(runs_root: str | Path) -> Path:
    root = Path(runs_root)
    if not root.is_dir():
        raise HarnessError(f"runs folder {root} does not exist: pass the folder that holds "
                           "{dataset}/{model}/seed{seed}/ (normally results/runs)")
    return root


def runs_root_frame(runs_root: str | Path, shown_as: str | Path | None = None) -> tuple[Path, str, pd.DataFrame]:
    """The runs folder (checked), the name captions give it and its runs (read once by
    :func:`elcrec.report.cells.load_runs`). ``shown_as`` names the runs when ``runs_root`` is a temporary view of
    selected run folders (:func:`elcrec.runset.selected_runs`), so a rebuilt figure is byte-identical."""
    root = check_root(runs_root)
    return root, str(shown_as or root), load_runs(root)


def seeds_text(seeds: Iterable[int]) -> str:
    seeds = sorted(set(seeds))
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds)) if seeds else "no seeds"


def not_run_reason(runs: pd.DataFrame) -> str:
    """'not run' (with the recorded reason) when the runs say so, 'no run' when there is none."""
    skipped = [st for st in runs["status"] if st.startswith("not run")]
    return skipped[0] if skipped else "no run"


# --- figures ---------------------------------------------------------------------------------------------
def new_figure(nrows: int, ncols: int, panel_w: float, panel_h: float, **subplot_kw: Any) -> tuple[Figure, Any]:
    """A constrained-layout Figure with an (nrows, ncols) array of axes (always 2-D)."""
    fig = Figure(figsize=(panel_w * ncols, panel_h * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return fig, axes


def placeholder(title: str, message: str, caption: str) -> Figure:
    """A one-panel figure that says why there is nothing to plot (a workflow target still gets its file)."""
    fig, axes = new_figure(1, 1, 5.0, 2.0)
    ax = axes[0, 0]
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(message, 70)), ha="center", va="center", transform=ax.transAxes,
            gid="placeholder")
    finish(fig, caption, legend=False)
    return fig


def figure_legend(fig: Figure, ncols: int | None = None, loc: str = "top") -> None:
    """One legend above the panels with every labelled artist, first occurrence of each label."""
    seen: dict[str, Any] = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    # bars first (the measured quantities), then lines and markers, each in the order they were drawn
    entries = sorted(seen.items(), key=lambda kv: not isinstance(kv[1], BarContainer))
    if entries:
        if loc == "right":
            fig.legend([h for _, h in entries], [lab for lab, _ in entries], loc="outside right upper",
                       ncols=1, frameon=False)
        else:
            fig.legend([h for _, h in entries], [lab for lab, _ in entries], loc="outside upper center",
                       ncols=ncols or min(len(entries), 6), frameon=False)


def finish(fig: Figure, caption: str, legend: bool = True, legend_cols: int | None = None,
           legend_loc: str = "top") -> Figure:
    """Add the legend and the caption (wrapped under the panels; the figure grows to make room)."""
    if legend:
        figure_legend(fig, legend_cols, legend_loc)
    width, height = fig.get_size_inches()
    chars = max(40, int(width * 72 / (CAPTION_FONTSIZE * 0.6)))
    lines = [line for para in caption.split("\n")
             for line in (textwrap.wrap(para, chars, break_on_hyphens=False) or [""])]
    caption_h = (len(lines) + 0.6) * CAPTION_FONTSIZE * 1.3 / 72
    fig.set_size_inches(width, height + caption_h)
    frac = caption_h / (height + caption_h)
    fig.get_layout_engine().set(rect=(0, frac, 1, 1 - frac))
    fig.text(0.01, 0.004, "\n".join(lines), ha="left", va="bottom", fontsize=CAPTION_FONTSIZE, gid="caption",
             linespacing=1.3)
    fig._elcrec_caption = caption  # type: ignore[attr-defined]  # the unwrapped text, for metadata and tests
    return fig


def figure_caption(fig: Figure) -> str:
    return getattr(fig, "_elcrec_caption", "")


def output_paths(prefix: str | Path) -> tuple[Path, Path]:
    """``prefix.pdf`` and ``prefix.png``; a prefix given with either suffix (a Snakemake output) is accepted."""
    prefix = Path(prefix)
    if prefix.suffix in (".pdf", ".png"):
        prefix = prefix.with_suffix("")
    return prefix.parent / f"{prefix.name}.pdf", prefix.parent / f"{prefix.name}.png"


def describe_panels(fig: Figure) -> list[dict[str, Any]]:
    """Each visible data panel (an axes with something plotted): title, lines, bars and scatter sets.

    Grid lines are not artists in ``ax.lines``; error bars count as lines, as matplotlib stores them.
    """
    panels = []
    for ax in fig.axes:
        if not (ax.lines or ax.patches or ax.collections or ax.texts):
            continue
        panels.append({"title": ax.get_title(), "lines": len(ax.lines), "bars": len(ax.patches),
                       "point_sets": len(ax.collections),
                       "placeholder": any(t.get_gid() == "placeholder" for t in ax.texts)})
    return panels


def save_figure(fig: Figure, prefix: str | Path) -> list[Path]:
    """Write ``prefix.pdf`` and ``prefix.png`` atomically, reproducibly (no timestamps), caption in metadata."""
    pdf, png = output_paths(prefix)
    caption = figure_caption(fig)
    meta = {"pdf": {"Title": pdf.stem, "Subject": caption, "Creator": "elcrec.report.figures",
                    "CreationDate": None},
            "png": {"Title": png.stem, "Description": caption, "Panels": json.dumps(describe_panels(fig))}}
    with matplotlib.rc_context(STYLE):
        for path, fmt in ((pdf, "pdf"), (png, "png")):
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=DPI, metadata=meta[fmt])
    return [pdf, png]


def nice_limits(values: Iterable[float], pad: float = 0.08) -> tuple[float, float] | None:
    """y-limits around finite values (not from 0: the differences of interest are a few per cent)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    lo, hi = min(finite), max(finite)
    span = (hi - lo) or abs(hi) or 1.0
    return max(0.0, lo - 0.6 * span - pad * abs(lo)), hi + 0.35 * span
