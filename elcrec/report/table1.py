"""Table 1 of the paper: HR/NDCG@5/20 (CSV: also @10) per dataset for the paper's 13 models and our extra
baselines, best and runner-up, ELCRec's improvement, the best-vs-runner-up p-value; and its claims (T1, T1b and
one per cell), judged with the same ranking (:func:`rank_cells`) and test.

Conventions: a cell is the mean over the finished seeds; a model we do not implement is a column that says
``not implemented``; best and runner-up are ranked among the paper's own columns only (extra harness models are
shown on the right, with a note when one would have beaten the best); p-values are one-sided Welch over seeds,
``*`` below 0.05, unadjusted like the paper (the CSV adds Holm over each dataset's six metrics).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from elcrec.report.cells import (Agg, Cell, cell, holm, load_runs, state_notes, state_text, status_text, welch,
                                 welch_greater)
from elcrec.report.claims import (NOT_SUPPORTED, SUPPORTED, UNTESTABLE, Claim, Compared, Report, agg_text, agree,
                                  ours_state, set_verdict, why_missing)
from elcrec.report.names import (ALL_METRICS, EXTRA_COLUMNS, NOT_IMPLEMENTED, PAPER_METRICS, TABLE1_COLUMNS,
                                 TABLE1_DATASETS, dataset_label)
from elcrec.report.present import (SIGNIFICANCE_LEVEL, fmt, fmt_p, fmt_pct, half_unit, md_table, parse_number,
                                   pct_change, write_table)
from elcrec.report.reference import paper_table

PRINTED_TABLE1_IMPRO = {  # (dataset, metric) -> printed Impro. in % (negative: ELCRec below the best, "↓")
    ("Sports_and_Outdoors", "HR@5"): 8.75, ("Sports_and_Outdoors", "HR@20"): 1.09,
    ("Sports_and_Outdoors", "NDCG@5"): 6.94, ("Sports_and_Outdoors", "NDCG@20"): 2.14,
    ("Beauty", "HR@5"): 6.87, ("Beauty", "HR@20"): 0.65, ("Beauty", "NDCG@5"): 8.90, ("Beauty", "NDCG@20"): 3.67,
    ("Toys_and_Games", "HR@5"): -0.17, ("Toys_and_Games", "HR@20"): 0.71, ("Toys_and_Games", "NDCG@5"): 1.51,
    ("Toys_and_Games", "NDCG@20"): 1.82, ("Yelp", "HR@5"): 1.29, ("Yelp", "HR@20"): 1.24, ("Yelp", "NDCG@5"): 2.74,
    ("Yelp", "NDCG@20"): 1.14,
}

@dataclass
class Ranking:
    """Best and runner-up of one (dataset, metric) among the ranked columns, ELCRec's improvement, the p-value."""

    best: str | None
    runner_up: str | None
    impro_pct: float | None  # ELCRec vs the best other ranked model (paper's "Impro."), in %
    elcrec_vs: str | None  # the model ELCRec is compared with for Impro.
    p_value: float | None  # best > runner-up, one-sided Welch over seeds
    p_note: str


def rank_cells(aggs: dict[str, Agg], focus: str = "ELCRec") -> Ranking:
    """Rank the columns with at least one finished seed by mean; ties keep column order."""
    present = [(label, a) for label, a in aggs.items() if a.n]
    ordered = sorted(present, key=lambda kv: -kv[1].mean)  # stable: equal means keep the column order
    best = ordered[0][0] if ordered else None
    runner = ordered[1][0] if len(ordered) > 1 else None
    impro, versus = None, None
    if focus in aggs and aggs[focus].n:
        others = [(label, a) for label, a in ordered if label != focus]
        if others:
            versus = others[0][0]
            impro = pct_change(aggs[focus].mean, others[0][1].mean)
    if best is None or runner is None:
        return Ranking(best, runner, impro, versus, None, "fewer than two models with finished runs")
    p, note = welch_greater(aggs[best].array, aggs[runner].array)
    return Ranking(best, runner, impro, versus, p, note)


def table1_frame(cell_of: Callable[[str, str | None], Cell], datasets: Iterable[str]) -> pd.DataFrame:
    """The one frame behind Table 1 and its claims: a row per (dataset, metric) with every column's cell and
    per-seed values (``cells``, ``aggs``: label -> :class:`~elcrec.report.cells.Cell` / :class:`Agg`, paper columns
    then extras), the ranking of the paper's columns (``ranking``: :func:`rank_cells`) and ``p_holm``, its
    best-vs-runner-up p-value Holm-adjusted over the dataset's six metrics (the family elcrec.report.significance
    uses for this test)."""
    columns = TABLE1_COLUMNS + EXTRA_COLUMNS
    rows = []
    for d in datasets:
        cells = {c.label: cell_of(d, c.harness) for c in columns}
        mine = []
        for metric in ALL_METRICS:
            aggs = {label: c.agg(metric) for label, c in cells.items()}
            ranking = rank_cells({c.label: aggs[c.label] for c in TABLE1_COLUMNS})
            mine.append({"dataset": d, "metric": metric, "cells": cells, "aggs": aggs, "ranking": ranking})
        for row, p in zip(mine, holm([r["ranking"].p_value for r in mine])):
            row["p_holm"] = p
        rows += mine
    return pd.DataFrame(rows, columns=["dataset", "metric", "cells", "aggs", "ranking", "p_holm"], dtype=object)


def table1_main(runs_root: str | Path, out_dir: str | Path = "paper_tables",
                datasets: Iterable[str] = TABLE1_DATASETS) -> pd.DataFrame:
    """Table 1: HR/NDCG@5/20 (CSV: also @10) per dataset for the paper's 13 models and our extra baselines.

    Writes ``<out_dir>/table1_main.{md,csv,tex}`` and returns the CSV frame (one row per dataset x metric).
    """
    runs, datasets = load_runs(runs_root), list(datasets)
    columns = TABLE1_COLUMNS + EXTRA_COLUMNS
    frame = table1_frame(lambda d, h: cell(runs, d, h), datasets)
    cells = {(f.dataset, label): c for f in frame.itertuples() for label, c in f.cells.items()}
    records, display_rows, p_notes, extra_notes = [], [], {}, []
    for f in frame.itertuples():
        dataset, metric, aggs, r = f.dataset, f.metric, f.aggs, f.ranking
        ranked = {c.label: aggs[c.label] for c in TABLE1_COLUMNS}
        rec: dict[str, Any] = {"dataset": dataset, "metric": metric}
        for c in columns:
            a, cl = aggs[c.label], cells[(dataset, c.label)]
            rec[c.label] = a.mean
            rec[f"{c.label} sd"] = a.sd
            rec[f"{c.label} n"] = a.n
            rec[f"{c.label} status"] = status_text(cl)
        rec.update(best=r.best, runner_up=r.runner_up, impro_pct=r.impro_pct, impro_vs=r.elcrec_vs,
                   p_value=r.p_value, p_note=r.p_note,
                   significant=None if r.p_value is None else bool(r.p_value < SIGNIFICANCE_LEVEL))
        records.append(rec)
        if r.p_value is None and r.best is not None and r.runner_up is not None:
            p_notes.setdefault(r.p_note, []).append(f"{dataset_label(dataset)} {metric}")
        if r.best is not None:
            for c in EXTRA_COLUMNS:
                if aggs[c.label].n and aggs[c.label].mean > ranked[r.best].mean:
                    extra_notes.append(f"{dataset_label(dataset)} {metric}: {c.label} ({fmt(aggs[c.label].mean)})"
                                       f" is above the best ranked model {r.best} ({fmt(ranked[r.best].mean)})")
        if metric not in PAPER_METRICS:
            continue
        row = {"Dataset": dataset_label(dataset), "Metric": metric}
        for c in columns:
            a, cl = aggs[c.label], cells[(dataset, c.label)]
            text = fmt(a.mean) if a.n else state_text(cl)
            if c.label == r.best:
                text = f"**{text}**"
            elif c.label == r.runner_up:
                text = f"<u>{text}</u>"
            row[c.label] = text
        row["Impro."] = fmt_pct(r.impro_pct, arrow=True)
        row["p-value"] = fmt_p(r.p_value)
        display_rows.append(row)
    data = pd.DataFrame(records)
    data["p_holm"] = pd.Series(list(frame["p_holm"]), dtype=object)  # the frame's Holm family
    display = pd.DataFrame(display_rows)
    # The dataset name once per group, as the paper prints it.
    display["Dataset"] = [d if i % len(PAPER_METRICS) == 0 else "" for i, d in enumerate(display["Dataset"])]
    missing = [c.label for c in columns if all(cells[(d, c.label)].state == NOT_IMPLEMENTED for d in datasets)]
    n_seeds = sorted({int(v) for v in data[[f"{c.label} n" for c in columns]].to_numpy().ravel() if v})
    notes = [
        f"Mean over seeds of finished runs (seeds per cell: {', '.join(map(str, n_seeds)) or 'none'}); the CSV adds "
        "HR@10/NDCG@10, the standard deviation, the seed count and each cell's status.",
        "**Bold**: best; <u>underlined</u>: runner-up, ranked among the paper's 13 columns only. Impro.: ELCRec "
        "against the best other model (↑ ELCRec ahead, ↓ behind), as the paper computes it. p-value: one-sided "
        "Welch t-test over seeds, best > runner-up; * p < 0.05 (unadjusted, like the paper; `p_holm` in the CSV "
        "is Holm-adjusted over the six metrics of each dataset). significance/report.md ranks over all our models "
        "instead, extra baselines included, so its best/runner-up can differ where an extra column leads.",
    ]
    if missing:
        notes.append(f"NOT IMPLEMENTED in this harness (columns kept, no numbers): {', '.join(missing)}. Best, "
                     "runner-up and Impro. are therefore among the implemented models only.")
    notes.append("Extra columns (not in the paper, not ranked): " + ", ".join(
        f"{c.label} = `{c.harness}`" for c in EXTRA_COLUMNS) + ". S3-Rec is `s3rec` (with item attributes), "
        "CL4SRec is `cl4srec` (SSLRec version).")
    notes += [f"`-`: {n}" for n in state_notes(cells)]
    notes += [f"p-value n/a ({reason}): {', '.join(where)}" for reason, where in p_notes.items()]
    notes += extra_notes
    write_table(data, Path(out_dir) / "table1_main", display=display, notes=notes, label="tab:table1",
                caption="Table 1: full-ranking HR@K and NDCG@K (mean over seeds) - our runs")
    return data


# ---------------------------------------------------------------------------------------------------- claims


def add_table1(rep: Report) -> None:
    """Table 1: every published number, the best-vs-runner-up p-values, claims T1, T1b and one per cell."""
    paper = paper_table("table1_main", as_printed=True)
    pvals = paper_table("table1_pvalues", as_printed=True).set_index(["dataset", "metric"])
    harness_of = {c.label: c.harness for c in TABLE1_COLUMNS}
    frame = table1_frame(rep.cell, TABLE1_DATASETS)  # the frame of Table 1
    cells = {(f.dataset, label): c for f in frame.itertuples() for label, c in f.cells.items()}
    by = {(f.dataset, f.metric): f for f in frame.itertuples()}
    rows = []
    for r in paper.itertuples():
        c = cells.get((r.dataset, r.model)) or rep.cell(r.dataset, harness_of.get(r.model))
        a = by[(r.dataset, r.metric)].aggs[r.model] if (r.dataset, r.model) in cells else c.agg(r.metric)
        comment = r.note or ""
        if r.model == "ELCRec":
            comment = (comment + "; " if comment else "") + "the paper's value is a seed-1 checkpoint: compare seed 1"
        rows.append(Compared("Table 1", f"{dataset_label(r.dataset)} {r.metric} {r.model}", r.value,
                             parse_number(r.value), a, ours_state(c), half_unit(r.value), comment))
        for extra in EXTRA_COLUMNS:  # the alternative harness versions of a paper column
            if extra.label.startswith(r.model + " ("):
                ce = cells[(r.dataset, extra.label)]
                rows.append(Compared("Table 1, alternative harness versions",
                                     f"{dataset_label(r.dataset)} {r.metric} {r.model} as `{extra.harness}`",
                                     r.value, parse_number(r.value), by[(r.dataset, r.metric)].aggs[extra.label],
                                     ours_state(ce),
                                     half_unit(r.value), "alternative harness version of this column"))
    rep.compared += [r for r in rows if r.section == "Table 1"]
    alternatives = [r for r in rows if r.section != "Table 1"]

    # p-values: the paper's best-vs-runner-up test beside ours
    prow = []
    ranked_labels = [c.label for c in TABLE1_COLUMNS]
    implemented_labels = [lab for lab in ranked_labels if any(cells[(d, lab)].state != NOT_IMPLEMENTED
                                                               for d in TABLE1_DATASETS)]
    missing_labels = [lab for lab in ranked_labels if lab not in implemented_labels]
    wins, losses, untestable_cells = 0, 0, []
    cell_claims: list[Claim] = []
    for dataset in TABLE1_DATASETS:
        for metric in PAPER_METRICS:
            sub = paper[(paper["dataset"] == dataset) & (paper["metric"] == metric)]
            pv = {m: parse_number(v) for m, v in zip(sub["model"], sub["value"]) if parse_number(v) is not None}
            order = sorted(pv, key=lambda m: -pv[m])
            best, runner = order[0], order[1]
            p_text = pvals.loc[(dataset, metric), "p_value_best_vs_runner_up"]
            p_paper = parse_number(p_text)
            f = by[(dataset, metric)]
            aggs = {lab: f.aggs[lab] for lab in ranked_labels}
            ours = f.ranking  # the ranking and test of Table 1
            pair = " > ".join(lab for lab in (ours.best, ours.runner_up) if lab) or "-"
            tested = ours.runner_up is not None
            prow.append([f"{dataset_label(dataset)} {metric}", f"{best} > {runner}", p_text, pair,
                         fmt_p(ours.p_value) if tested else "-", fmt_p(f.p_holm) if tested else "-",
                         agree(p_paper, ours.p_value) if tested else "-", ours.p_note])
            rep.compared.append(Compared("Table 1 p-values", f"{dataset_label(dataset)} {metric}", p_text, p_paper,
                                         Agg({}), "-", 0.0, f"paper: {best} > {runner}; ours: {pair}",
                                         comparable=False, ours_display=fmt_p(ours.p_value) if tested else "-",
                                         within_display=f"agree on p < 0.05: {agree(p_paper, ours.p_value)}"))
            # ELCRec best among what we ran? (elcrec_vs: our strongest other model, None when untestable)
            if ours.elcrec_vs is not None:
                if aggs[ours.elcrec_vs].mean >= aggs["ELCRec"].mean:
                    losses += 1
                else:
                    wins += 1
            else:
                untestable_cells.append(f"{dataset_label(dataset)} {metric}")
            cell_claims.append(_with_holm(
                _cell_claim(len(cell_claims) + 1, dataset, metric, pv, best, runner, p_text, p_paper, aggs,
                            {lab: cells[(dataset, lab)] for lab in ranked_labels}), f, best, p_paper))
    rep.compared += alternatives
    rep.sections.append("### Table 1 p-values (best vs runner-up)\n\n" + md_table(
        ["Cell", "Paper: best > runner-up", "Paper p", "Ours: best > runner-up", "Our p",
         "Our p, Holm (dataset's six metrics)", "Agree on p < 0.05", "Note"], prow))

    c1 = Claim("T1", "ELCRec is the best of the 13 models in 15 of the 16 Table-1 cells (runner-up to ICLRec on "
                     "Toys HR@5 only)", "Table 1")
    c1b = Claim("T1b", "Restricted to the baselines this harness implements (" + ", ".join(
        lab for lab in implemented_labels if lab != "ELCRec") + "): ELCRec is best in at least 15 of 16 cells",
        "Table 1, our restriction")
    evidence = (f"among the implemented models ELCRec is best in {wins} and beaten in {losses} of 16 cells"
                + (f"; not testable: {', '.join(untestable_cells)}" if untestable_cells else ""))
    if losses >= 2:
        set_verdict(c1, NOT_SUPPORTED, evidence)
        set_verdict(c1b, NOT_SUPPORTED, evidence)
    else:
        if wins >= 15:
            set_verdict(c1b, SUPPORTED, evidence)
        else:
            set_verdict(c1b, UNTESTABLE, evidence, _untestable_reason(untestable_cells, cells))
        if missing_labels:
            set_verdict(c1, UNTESTABLE, evidence, "model not implemented: " + ", ".join(missing_labels))
        else:
            set_verdict(c1, c1b.verdict, evidence, c1b.reason)
    rep.claims += [c1, c1b, *cell_claims]


def _with_holm(claim: Claim, f: Any, best: str, p_paper: float | None) -> Claim:
    """A claim of a significant win judged again with the frame's Holm-adjusted p-value (``f.p_holm``, over the
    dataset's six metrics): it holds only where our best is the paper's best and the adjusted p stays below 0.05."""
    if claim.verdict == UNTESTABLE or p_paper is None or p_paper >= SIGNIFICANCE_LEVEL:
        return claim
    if f.ranking.best != best or f.p_holm is None:
        claim.holm_verdict = NOT_SUPPORTED
        return claim
    claim.holm_verdict = SUPPORTED if f.p_holm < SIGNIFICANCE_LEVEL else NOT_SUPPORTED
    claim.evidence += (f"; Holm-adjusted over {dataset_label(f.dataset)}'s six metrics p = "
                       f"{fmt_p(f.p_holm, star=False)}")
    return claim


def _untestable_reason(where: list[str], cells: dict[tuple[str, str], Cell]) -> str:
    states = {c.state for (d, lab), c in cells.items() if lab == "ELCRec"}
    if "not run" in states:
        return "dataset unavailable for some cells"
    return "no finished ELCRec or baseline run for: " + ", ".join(where)


def _cell_claim(i: int, dataset: str, metric: str, pv: dict[str, float], best: str, runner: str, p_text: str,
                p_paper: float | None, aggs: dict[str, Agg], cells: dict[str, Cell]) -> Claim:
    """One Table-1 cell as a claim: "W beats R by X% (p ...)", W and R the paper's best and runner-up."""
    impro = pct_change(pv[best], pv[runner])
    where = f"{dataset_label(dataset)} {metric}"
    significant = p_paper is not None and p_paper < SIGNIFICANCE_LEVEL
    text = (f"{where}: {best} ({pv[best]:.4f}) is {impro:.2f}% above the runner-up {runner} ({pv[runner]:.4f}), "
            + (f"significantly (p = {p_text})" if significant else f"not significantly (p = {p_text})"))
    claim = Claim(f"T1.{i}", text, "Table 1", dataset=dataset)
    w = aggs[best]
    if significant:
        if not w.n:
            return set_verdict(claim, UNTESTABLE, "", why_missing(best, cells[best]))
        others = sorted([lab for lab in aggs if lab != best and aggs[lab].n], key=lambda lab: -aggs[lab].mean)
        if not others:
            return set_verdict(claim, UNTESTABLE, agg_text(best, w), "no finished run of any other model")
        top = others[0]
        diff = pct_change(w.mean, aggs[top].mean)
        p, note = welch_greater(w.array, aggs[top].array)
        evidence = (f"ours: {agg_text(best, w)} vs {agg_text(top, aggs[top])}: {diff:+.2f}% "
                    f"(paper {impro:+.2f}%), one-sided Welch p = {fmt_p(p, star=False)}"
                    + (f" ({note})" if note else ""))
        if aggs[top].mean >= w.mean:
            return set_verdict(claim, NOT_SUPPORTED, evidence + f"; {top} is ahead")
        if not aggs[runner].n:
            return set_verdict(claim, UNTESTABLE, evidence,
                               why_missing(runner, cells[runner]) + " (the paper's runner-up)")
        if p is None:
            return set_verdict(claim, UNTESTABLE, evidence, f"too few seeds ({note})")
        if p >= SIGNIFICANCE_LEVEL:
            return set_verdict(claim, NOT_SUPPORTED, evidence + "; ahead but not significantly")
        return set_verdict(claim, SUPPORTED, evidence)
    # a claim of no significant difference between best and runner-up
    for label in (best, runner):
        if not aggs[label].n:
            return set_verdict(claim, UNTESTABLE, "", why_missing(label, cells[label]))
    p, note = welch(aggs[best].array, aggs[runner].array, "two-sided")
    diff = pct_change(aggs[best].mean, aggs[runner].mean)
    evidence = (f"ours: {agg_text(best, aggs[best])} vs {agg_text(runner, aggs[runner])}: {diff:+.2f}% "
                f"(paper {impro:+.2f}%), two-sided Welch p = {fmt_p(p, star=False)}" + (f" ({note})" if note else ""))
    if p is None:
        return set_verdict(claim, UNTESTABLE, evidence, f"too few seeds ({note})")
    if p < SIGNIFICANCE_LEVEL:
        return set_verdict(claim, NOT_SUPPORTED, evidence + "; the difference is significant")
    return set_verdict(claim, SUPPORTED,
                       evidence + "; no significant difference (with few seeds this is weak evidence)")


def printed_checks() -> list[tuple[str, str, float, float | None]]:
    """The paper's printed Impro. of Table 1, recomputed from its own printed values: (where, item, printed, ours)."""
    t1 = paper_table("table1_main", as_printed=True)
    rows = []
    for (d, m), printed in PRINTED_TABLE1_IMPRO.items():
        sub = t1[(t1["dataset"] == d) & (t1["metric"] == m)]
        vals = {mod: parse_number(v) for mod, v in zip(sub["model"], sub["value"]) if parse_number(v) is not None}
        best_other = max(v for mod, v in vals.items() if mod != "ELCRec")
        rows.append(("Table 1 Impro.", f"{dataset_label(d)} {m}", printed, pct_change(vals["ELCRec"], best_other)))
    return rows
