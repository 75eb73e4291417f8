"""Figures of the learnt intents: t-SNE of snapshots (paper Figure 6) and intent shares by user activity (the
case studies, paper Figures 4/5). Each ``build_*`` returns the matplotlib Figure; ``elcrec.report.figures`` saves it.

The projection is an exact t-SNE written here in numpy (scikit-learn and openTSNE are not dependencies of the
harness): van der Maaten & Hinton (2008) with the usual optimiser (perplexity calibration by bisection, early
exaggeration 12 for 250 of 500 iterations, momentum 0.5 then 0.8, adaptive gains, PCA initialisation). Exact t-SNE
costs O(n^2) per iteration, so the figure embeds a fixed random subset of the snapshot's users (1000 by default).
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from elcrec.errors import HarnessError
from elcrec.report.figure_style import PALETTE, check_root, finish, new_figure, placeholder, styled
from elcrec.report.names import dataset_label as short
from elcrec.runfolder import read_run

PROJECTIONS = ("tsne", "pca")
TSNE_ITERATIONS = 500
TSNE_EXAGGERATION_ITERATIONS = 250
ACTIVITY_GROUPS = ("new", "low", "medium", "high")


# --- projections -----------------------------------------------------------------------------------------
def _pca(x: np.ndarray, dims: int = 2) -> np.ndarray:
    centred = x - x.mean(0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    signs = np.sign(vt[:dims, np.argmax(np.abs(vt[:dims]), axis=1)].diagonal())  # fix the SVD's sign freedom
    signs[signs == 0] = 1
    return u[:, :dims] * s[:dims] * signs


def _affinities(x: np.ndarray, perplexity: float) -> np.ndarray:
    """Symmetric joint probabilities P of exact t-SNE, each row's bandwidth set by bisection to the perplexity."""
    from scipy.spatial.distance import cdist  # imported here: scipy.spatial is slow to import

    n = len(x)
    dist = cdist(x, x, "sqeuclidean")
    np.fill_diagonal(dist, np.inf)
    dist -= dist.min(1, keepdims=True)  # shift per row for numerical range; the row normalisation undoes it
    finite = np.where(np.isinf(dist), 0.0, dist)
    target = math.log(perplexity)
    lo, hi, beta = np.zeros(n), np.full(n, np.inf), np.ones(n)
    for _ in range(200):
        p = np.exp(-dist * beta[:, None])
        total = p.sum(1)
        entropy = np.log(total) + beta * (p * finite).sum(1) / total
        if np.abs(entropy - target).max() < 1e-5:
            break
        too_flat = entropy > target
        lo = np.where(too_flat, beta, lo)
        hi = np.where(too_flat, hi, beta)
        beta = np.where(np.isinf(hi), beta * 2.0, (lo + hi) / 2.0)
    p /= total[:, None]
    p = (p + p.T) / (2.0 * n)
    return np.maximum(p, 1e-12).astype(np.float32)


def tsne(x: np.ndarray, perplexity: float = 30.0, iterations: int = TSNE_ITERATIONS) -> np.ndarray:
    """Exact 2-D t-SNE of the rows of ``x``; deterministic (PCA initialisation, no random state)."""
    from scipy.spatial.distance import cdist

    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n < 4:
        return _pca(x) if n > 2 else np.zeros((n, 2))
    perplexity = min(perplexity, (n - 1) / 3.0)
    p = _affinities(x, perplexity)
    y = _pca(x)
    y = (y / (y[:, 0].std() or 1.0) * 1e-4).astype(np.float32)
    velocity, gains = np.zeros_like(y), np.ones_like(y)
    rate = np.float32(max(n / 12.0 / 4.0, 50.0))  # the 'auto' learning rate of Belkina et al. (2019)
    num = np.empty((n, n), np.float32)
    w = np.empty((n, n), np.float32)
    for it in range(iterations):
        early = it < TSNE_EXAGGERATION_ITERATIONS
        num[:] = cdist(y, y, "sqeuclidean")
        num += 1.0
        np.reciprocal(num, out=num)  # Student-t kernel (1 + |yi - yj|^2)^-1
        np.fill_diagonal(num, 0.0)
        np.multiply(p, np.float32(12.0 if early else 1.0), out=w)
        w -= num / num.sum()  # P - Q
        w *= num
        # gradient 4 sum_j w_ij (y_i - y_j); w is symmetric, so y^T w is (w y)^T and runs as fast row products
        grad = 4.0 * (w.sum(1)[:, None] * y - (np.ascontiguousarray(y.T) @ w).T)
        same = np.sign(grad) == np.sign(velocity)
        gains = np.maximum(np.where(same, gains * 0.8, gains + 0.2), 0.01).astype(np.float32)
        velocity = np.float32(0.5 if early else 0.8) * velocity - rate * gains * grad
        y = (y + velocity).astype(np.float32)
    return (y - y.mean(0)).astype(np.float64)


def project(x: np.ndarray, method: str, perplexity: float = 30.0) -> np.ndarray:
    if method == "tsne":
        return tsne(x, perplexity)
    if method == "pca":
        return _pca(np.asarray(x, dtype=np.float64))
    raise ValueError(f"projection must be one of {', '.join(PROJECTIONS)}, not {method!r}")


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


# --- t-SNE of snapshots ----------------------------------------------------------------------------------
def snapshot_files(run_dir: Path) -> list[tuple[str, Path]]:
    """(panel title, file) of ``snapshots/epoch*.npz`` by epoch, then ``final.npz``."""
    folder = run_dir / "snapshots"
    epochs = []
    for path in folder.glob("epoch*.npz"):
        match = re.fullmatch(r"epoch(\d+)\.npz", path.name)
        if match:
            epochs.append((int(match.group(1)), path))
    files = [(f"epoch {e}", p) for e, p in sorted(epochs)]
    if (folder / "final.npz").is_file():
        files.append(("final", folder / "final.npz"))
    return files


def _read_snapshot(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as data:
            arrays = {k: data[k] for k in ("users", "embeddings", "assign", "centres")}
    except (OSError, ValueError, KeyError) as exc:
        raise HarnessError(f"{path} is not a snapshot (users, embeddings, assign, centres): {exc}") from None
    emb, centres = arrays["embeddings"], arrays["centres"]
    if (emb.ndim != 2 or centres.ndim != 2 or not len(emb) == len(arrays["assign"]) == len(arrays["users"])
            or emb.shape[1] != centres.shape[1]):
        raise HarnessError(f"{path}: embeddings, assign and centres do not fit together")
    return arrays


@styled
def build_tsne(runs_root: str | Path, dataset: str, model: str = "elcrec", seed: int = 1, projection: str = "tsne",
               max_users: int = 1000, perplexity: float = 30.0, shown_as: str | Path | None = None) -> Figure:
    """One panel per snapshot of one run: users coloured by intent, centres as black crosses, one joint map."""
    if projection not in PROJECTIONS:
        raise ValueError(f"projection must be one of {', '.join(PROJECTIONS)}, not {projection!r}")
    root = check_root(runs_root)
    run_dir = root / dataset / model / f"seed{seed}"
    shown_dir = Path(shown_as or root) / dataset / model / f"seed{seed}"  # as captions name it
    files = snapshot_files(run_dir)
    title = f"{short(dataset)} {model} seed {seed}"
    if not files:
        run = read_run(run_dir) if run_dir.is_dir() else None
        why = run.status if run is not None and run.finished and not run.ok else "no snapshots"
        return placeholder(f"t-SNE: {title}", f"{why}: nothing under {shown_dir}/snapshots/",
                           f"t-SNE of intent snapshots (paper Figure 6): nothing to plot; expected "
                           f"{shown_dir}/snapshots/epoch*.npz and final.npz (written when snapshot_epochs is set).")
    snapshots = [(name, _read_snapshot(path)) for name, path in files]
    users0 = snapshots[0][1]["users"]
    keep = users0 if len(users0) <= max_users else np.sort(
        np.random.default_rng(seed).choice(users0, max_users, replace=False))  # the same users in every panel
    ncols = len(snapshots) if len(snapshots) <= 3 else 2 if len(snapshots) == 4 else 3
    nrows = math.ceil(len(snapshots) / ncols)
    fig, axes = new_figure(nrows, ncols, 2.4, 2.4)
    for ax in axes.flat[len(snapshots):]:
        fig.delaxes(ax)
    shown_users = shown_k = 0
    for ax, (name, snap) in zip(axes.flat, snapshots):
        rows = np.isin(snap["users"], keep)
        emb, assign, centres = snap["embeddings"][rows], snap["assign"][rows], snap["centres"]
        xy = project(np.vstack([_normalise(emb), _normalise(centres)]), projection, perplexity)
        ax.scatter(xy[: len(emb), 0], xy[: len(emb), 1], c=np.asarray(assign) % 20, cmap="tab20", vmin=0, vmax=19,
                   s=3, linewidths=0, alpha=0.8, rasterized=True, label="user (colour: intent id mod 20)")
        ax.scatter(xy[len(emb):, 0], xy[len(emb):, 1], marker="x", s=12, linewidths=0.7, color="black",
                   label="intent centre")
        ax.set_title(f"{name} ({len(np.unique(assign))} intents in use)")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        shown_users, shown_k = len(emb), len(centres)
    method = (f"exact t-SNE (numpy implementation in elcrec.report.figures_intents, perplexity "
              f"{min(perplexity, (shown_users + shown_k - 1) / 3):.3g}, {TSNE_ITERATIONS} iterations, PCA "
              f"initialisation)" if projection == "tsne" else "PCA (numpy SVD; a linear map, not t-SNE)")
    caption = (f"Intent snapshots (paper Figure 6) of {dataset}, run {model} seed {seed}: each panel is one file of "
               f"{shown_dir}/snapshots/ ({', '.join(n for n, _ in files)}), projected to 2-D by {method}, fitted per "
               f"panel on the L2-normalised user embeddings and the {shown_k} normalised centres together (the "
               f"space in which ELCM assigns intents). {shown_users} users (a fixed random subset with seed {seed}, "
               f"the same in every panel) coloured by their intent (assign; 20 colours, repeated); centres are "
               f"black crosses.")
    return finish(fig, caption, legend_cols=2)


# --- intent shares by activity ---------------------------------------------------------------------------
def activity_groups(history_len: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """new / low / medium / high by the quartiles q1, q2, q3 of history length: (-inf,q1], (q1,q2], (q2,q3], >q3."""
    edges = np.quantile(history_len.to_numpy(dtype=float), [0.25, 0.5, 0.75])
    codes = np.searchsorted(edges, history_len.to_numpy(dtype=float), side="left")  # edges[i-1] < h <= edges[i]
    groups = pd.Series(pd.Categorical.from_codes(codes, list(ACTIVITY_GROUPS)), index=history_len.index)
    return groups, edges


def read_intents(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"intents file {path} does not exist; write it with `python -m elcrec intents`")
    frame = pd.read_csv(path)
    missing = {"user", "history_len", "intent"} - set(frame.columns)
    if missing:
        raise HarnessError(f"{path} lacks the column(s) {', '.join(sorted(missing))}; expected user, history_len, "
                           "intent as written by `python -m elcrec intents`")
    return frame


def _top_bottom(shares: pd.Series, n: int = 3) -> tuple[pd.Series, pd.Series]:
    """The n largest and n smallest non-zero shares (ties by intent id), disjoint."""
    ordered = shares[shares > 0].rename_axis("intent").reset_index(name="share")
    top = ordered.sort_values(["share", "intent"], ascending=[False, True]).head(n)
    rest = ordered[~ordered.intent.isin(top.intent)]
    bottom = rest.sort_values(["share", "intent"], ascending=[True, True]).head(n)
    return top.set_index("intent").share, bottom.set_index("intent").share


@styled
def build_intent_by_activity(intents_csv: str | Path, dataset: str | None = None) -> Figure:
    """One panel per activity group: the group's 3 most and 3 least common intents (share of the group's users)."""
    frame = read_intents(intents_csv)
    name = dataset or Path(intents_csv).stem
    if frame.empty:
        return placeholder("Intents by activity", f"{intents_csv} has no users.",
                           f"Intent shares by user activity of {name}: nothing to plot ({intents_csv} is empty).")
    groups, edges = activity_groups(frame.history_len)
    overall = frame.intent.value_counts(normalize=True)
    fig, axes = new_figure(1, len(ACTIVITY_GROUPS), 2.0, 2.4, sharey=True)
    rules = [f"h ≤ {edges[0]:g}", f"{edges[0]:g} < h ≤ {edges[1]:g}", f"{edges[1]:g} < h ≤ {edges[2]:g}",
             f"h > {edges[2]:g}"]
    sizes = []
    for ax, group, rule in zip(axes[0], ACTIVITY_GROUPS, rules):
        members = frame[groups == group]
        sizes.append(len(members))
        shares = members.intent.value_counts(normalize=True) if len(members) else pd.Series(dtype=float)
        top, bottom = _top_bottom(shares)
        x_top = np.arange(len(top), dtype=float)
        x_bottom = np.arange(len(bottom), dtype=float) + 3.6
        for x, part, colour, label in ((x_top, top, PALETTE[0], "top-3 intents of the group"),
                                       (x_bottom, bottom, PALETTE[1], "bottom-3 intents of the group")):
            bars = ax.bar(x, 100 * part.to_numpy(), width=0.8, color=colour, label=label)
            ax.bar_label(bars, [f"{100 * v:.2g}" for v in part], fontsize=5.5, padding=1)
        ids = [*top.index, *bottom.index]
        ax.plot(np.concatenate([x_top, x_bottom]), [100 * overall.get(i, 0.0) for i in ids], ls="none",
                marker="_", ms=9, mew=1.5, color="black", label="share among all users")
        ax.set_xticks(np.concatenate([x_top, x_bottom]), [str(i) for i in ids], rotation=90)
        ax.set_xlim(-0.7, 6.3)
        ax.set_title(f"{group} ({rule})\n{len(members)} users")
        ax.set_xlabel("intent id")
        if members.empty:
            ax.text(0.5, 0.5, "no users in this group", ha="center", va="center", transform=ax.transAxes,
                    gid="empty")
    axes[0, 0].set_yscale("log")  # top and bottom shares differ by orders of magnitude
    axes[0, 0].yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes[0, 0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axes[0, 0].yaxis.set_minor_formatter(NullFormatter())
    axes[0, 0].set_ylabel("share of the group's users (%, log scale)")
    caption = (f"Intents by user activity (after the case studies, paper Figures 4/5) for {name}, from "
               f"{intents_csv} (python -m elcrec intents: each user's intent on the test input). Users are grouped "
               f"by history length h (interactions before the test item) at its quartiles q1={edges[0]:g}, "
               f"q2={edges[1]:g}, q3={edges[2]:g}: new h ≤ q1, low q1 < h ≤ q2, medium q2 < h ≤ q3, high h > q3 "
               f"({', '.join(f'{g} {n}' for g, n in zip(ACTIVITY_GROUPS, sizes))} users; the paper gives no "
               f"thresholds, and 5-core data has no truly new users, so 'new' is the shortest-history quartile). "
               f"Bars: each group's 3 most common and 3 least common intents among those it uses, as a share of "
               f"the group's users (log axis, values printed on the bars); black ticks: the same intents' share "
               f"among all {len(frame)} users.")
    return finish(fig, caption, legend_cols=3)
