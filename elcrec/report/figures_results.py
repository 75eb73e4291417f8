"""Figures from the runs' metrics and training logs: ablation (paper Figure 1), sensitivity (Figure 2), convergence
(Figure 3). Each ``build_*`` returns the matplotlib Figure; ``elcrec.report.figures`` saves it.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from elcrec.report.ablation import ablation_frame
from elcrec.report.cells import cell, runs_of
from elcrec.report.figure_style import (PALETTE, finish, new_figure, nice_limits, not_run_reason, ordered,
                                        placeholder, runs_root_frame, seeds_text, styled)
from elcrec.report.names import ABLATION_VARIANTS
from elcrec.report.names import dataset_label as short
from elcrec.report.sensitivity import own_value, sensitivity_frame
from elcrec.runfolder import read_train_log, run_path

SENSITIVITY = {
    "alpha": {"label": r"$\alpha$ (weight of the ELCM cluster loss)", "base": 10, "paper_values": "Figure 2, top"},
    "k": {"label": "k (number of intent centres)", "base": 2, "paper_values": "Figure 2, bottom"},
}
SENSITIVITY_METRIC = "HR@5"


# --- ablation --------------------------------------------------------------------------------------------
def _cut_note(cut: int, panels: int) -> str:
    if not cut:
        return ""
    return " The y axes do not start at 0." if cut == panels else " Some y axes do not start at 0."


@styled
def build_ablation(runs_root: str | Path, shown_as: str | Path | None = None) -> Figure:
    """One panel per dataset with any ablation run: mean ± sd over seeds of HR@5+HR@20+NDCG@5+NDCG@20."""
    root, shown, runs = runs_root_frame(runs_root, shown_as)
    datasets = [d for d in ordered(runs["dataset"]) if any(len(runs_of(runs, d, m)) for _, m in ABLATION_VARIANTS)]
    source = f"{shown}/{{dataset}}/{{{','.join(m for _, m in ABLATION_VARIANTS)}}}/seed*/metrics.json"
    if not datasets:
        return placeholder("Ablation", f"No ablation runs ({', '.join(m for _, m in ABLATION_VARIANTS)}) under "
                           f"{shown}.", f"Ablation (paper Figure 1): nothing to plot; expected {source}.")
    frame = ablation_frame(lambda d, h: cell(runs, d, h), datasets)  # the frame of Table 10
    fig, axes = new_figure(1, len(datasets), 2.3, 2.4)
    gaps, seeds_seen, cut, counts = [], set(), 0, {}
    for ax, dataset in zip(axes[0], datasets):
        means, values_all = [], []
        mine = frame[frame["dataset"] == dataset]
        for i, (label, model, sums) in enumerate(zip(mine["variant"], mine["harness_model"], mine["sums"])):
            values = [float(v) for v in sums.array]
            seeds_seen.update(sums.values)
            mean = sums.mean if sums.n else math.nan
            sd = sums.sd
            ax.bar([i], [mean], yerr=None if sd is None else [sd], color=PALETTE[i], label=label, width=0.7,
                   capsize=2, error_kw={"elinewidth": 0.8})
            means.append(mean)
            values_all += values + ([mean - sd, mean + sd] if sd else [])
            counts[(dataset, label)] = len(values)
            if not values:
                gaps.append((dataset, label, not_run_reason(runs_of(runs, dataset, model))))
        reference = [math.nan if v is None else float(v) for v in mine["paper"]]
        if any(math.isfinite(v) for v in reference):
            ax.plot(range(len(reference)), reference, ls="none", marker="D", ms=4, color="black",
                    markerfacecolor="white", label="paper (Figure 1 / Table 10)")
        limits = nice_limits(values_all + reference) or (0.0, 1.0)
        ax.set_ylim(*limits)
        cut += limits[0] > 0
        for i, mean in enumerate(means):
            if not math.isfinite(mean):
                reason = next(g[2] for g in gaps if g[0] == dataset and g[1] == ABLATION_VARIANTS[i][0])
                ax.text(i, limits[1] - 0.03 * (limits[1] - limits[0]), "not run" if reason.startswith("not run")
                        else "no run", rotation=90, ha="center", va="top", fontsize=7, color="0.3", gid="gap",
                        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "0.6", "lw": 0.5})
        ax.set_xticks(range(len(ABLATION_VARIANTS)), [label for label, _ in ABLATION_VARIANTS], rotation=30)
        ax.set_title(short(dataset))
    axes[0, 0].set_ylabel("HR@5+HR@20+NDCG@5+NDCG@20")
    caption = (f"Ablation (paper Figure 1): test HR@5+HR@20+NDCG@5+NDCG@20 of B (elcrec-b), B+ICL (elcrec-b-icl), "
               f"B+ELCM (elcrec-b-elcm) and ELCRec (elcrec); bars are the mean over {seeds_text(seeds_seen)} "
               f"(error bars: sample sd, where more than one seed), diamonds the paper's values "
               f"(config/paper_reference/paper_ablation.csv).{_cut_note(cut, len(datasets))} "
               f"Source: {source}.")
    if gaps:
        caption += " Gaps: " + "; ".join(f"{short(d)} {v}: {why}" for d, v, why in gaps) + "."
    most = {d: max(n for (d2, _), n in counts.items() if d2 == d) for d in datasets}
    partial = [f"{short(d)} {v} ({n} of {most[d]})" for (d, v), n in counts.items() if 0 < n < most[d]]
    if partial:
        caption += " Fewer seeds finished for: " + "; ".join(partial) + "."
    return finish(fig, caption, legend_cols=5)


# --- sensitivity -----------------------------------------------------------------------------------------
@styled
def build_sensitivity(runs_root: str | Path, param: str, shown_as: str | Path | None = None) -> Figure:
    """Test HR@5 against ``param`` (alpha or k): one solid line per dataset, the paper's points dashed."""
    if param not in SENSITIVITY:
        raise ValueError(f"sensitivity parameter must be one of {', '.join(SENSITIVITY)}, not {param!r}")
    spec = SENSITIVITY[param]
    root, shown, runs = runs_root_frame(runs_root, shown_as)
    frame = sensitivity_frame(runs, param)  # the points the report's Figure 2 rows and claims S1/S2 read
    fig, axes = new_figure(1, 1, 6.4, 3.0)  # the legend takes the right third
    ax = axes[0, 0]
    notes, seeds_seen, plotted, xs = [], set(), [], set()
    default_labelled = False
    for dataset in ordered(frame["dataset"]):
        mine = frame[frame["dataset"] == dataset]
        named = mine[[not plain and c.state != "missing" for plain, c in zip(mine["from_plain"], mine["cell"])]]
        if named.empty:  # no elcrec~<param>=<value> run on this dataset: no line
            continue
        colour = PALETTE[len(plotted) % len(PALETTE)]
        for r in named.itertuples(index=False):
            if not r.hr5.n:
                notes.append(f"{short(dataset)} {param}={r.value:g}: {not_run_reason(runs_of(runs, dataset, r.run))}")
        points = mine[[a.n > 0 for a in mine["hr5"]]].sort_values("value")
        if points.empty:
            continue
        seeds_seen.update(s for a in points["hr5"] for s in a.values)
        plotted.append(dataset)
        xs.update(float(v) for v in points["value"])
        ax.plot([float(v) for v in points["value"]], [a.mean for a in points["hr5"]], marker="o", ms=3.5,
                color=colour, label=short(dataset))
        default = own_value(dataset, param)
        own = points[points["value"] == default]
        if len(own):
            ax.plot([default], [own["hr5"].iloc[0].mean], ls="none", marker="o", ms=8, mfc="none",
                    color=colour, label="_default" if default_labelled else
                    "dataset's own value (elcrec.yaml)")
            default_labelled = True
            if own["from_plain"].iloc[0]:
                notes.append(f"{short(dataset)} {param}={default:g} is the plain elcrec run")
        ref = mine[mine["paper_text"] != ""].sort_values("value")
        if len(ref):
            xs.update(float(v) for v in ref["value"])
            ax.plot([float(v) for v in ref["value"]], [float(v) for v in ref["paper"]], ls="--", lw=1, marker="x",
                    ms=3, color=colour, alpha=0.8, label=f"{short(dataset)} (paper)")
    source = f"{shown}/{{dataset}}/elcrec~{param}=<value>/seed*/metrics.json"
    if not plotted:
        return placeholder(f"Sensitivity to {param}", f"No finished elcrec~{param}=<value> runs under {shown}.",
                           f"Sensitivity of test HR@5 to {param} (paper {spec['paper_values']}): nothing to plot; "
                           f"expected {source}.")
    ax.set_xscale("log", base=spec["base"])
    ticks = sorted(xs)
    ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
    ax.minorticks_off()
    ax.set_xlabel(spec["label"])
    ax.set_ylabel(f"test {SENSITIVITY_METRIC}")
    caption = (f"Sensitivity (paper {spec['paper_values']}): test {SENSITIVITY_METRIC} against {param} "
               f"({'log10' if spec['base'] == 10 else 'log2'} axis), one solid line per dataset (mean over "
               f"{seeds_text(seeds_seen)}), from {source}; the dataset's own value (circled) is read from "
               f"config/models/elcrec.yaml and taken from the plain elcrec run (same seeds) when no "
               f"elcrec~{param}=<value> run has it. Dashed: the paper's points read off its plot (about ±0.001; "
               f"config/paper_reference/paper_sensitivity_hr5.csv).")
    if notes:
        caption += " Notes: " + "; ".join(notes) + "."
    return finish(fig, caption, legend_loc="right")


# --- convergence -----------------------------------------------------------------------------------------


@styled
def build_convergence(runs_root: str | Path, model: str = "elcrec", shown_as: str | Path | None = None) -> Figure:
    """One column per dataset: validation HR@5 (top) and loss_total (bottom) per epoch, one line per seed."""
    root, shown, runs = runs_root_frame(runs_root, shown_as)
    logs: dict[str, list[tuple[int, pd.DataFrame]]] = {}
    for dataset in ordered(runs["dataset"]):
        for seed, state in zip(runs_of(runs, dataset, model)["seed"], runs_of(runs, dataset, model)["state"]):
            log = read_train_log(run_path(root, dataset, model, int(seed))) if state == "ok" else None
            if log is not None:
                logs.setdefault(dataset, []).append((int(seed), log))
    source = f"{shown}/{{dataset}}/{model}/seed*/train_log.csv"
    if not logs:
        return placeholder("Convergence", f"No finished {model} runs with a train_log.csv under {shown}.",
                           f"Convergence (paper Figure 3): nothing to plot; expected {source}.")
    seeds = sorted({s for runs in logs.values() for s, _ in runs})
    fig, axes = new_figure(2, len(logs), 2.3, 1.8, sharex="col")
    for col, (dataset, runs) in enumerate(logs.items()):
        top, bottom = axes[0, col], axes[1, col]
        for seed, log in runs:
            colour = PALETTE[seeds.index(seed) % len(PALETTE)]
            for ax, column in ((top, f"valid_{SENSITIVITY_METRIC}"), (bottom, "loss_total")):
                if column in log:
                    part = log[["epoch", column]].dropna()
                    ax.plot(part.epoch, part[column], lw=1, color=colour, label=f"seed {seed}")
        top.set_title(short(dataset))
        bottom.set_xlabel("epoch")
    axes[0, 0].set_ylabel(f"validation {SENSITIVITY_METRIC}")
    axes[1, 0].set_ylabel("training loss (loss_total)")
    caption = (f"Convergence (paper Figure 3): validation {SENSITIVITY_METRIC} (top) and the total training loss "
               f"loss_total (bottom) after each epoch of the {model} runs, one line per seed ({seeds_text(seeds)}); "
               f"source: {source}. The loss can be negative: alpha multiplies the ELCM loss, which lies in [-4, 4].")
    return finish(fig, caption)
