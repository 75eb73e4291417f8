"""The claims the paper backs with a significance test: Table 1 (best vs runner-up, ELCRec best in 15 of 16
cells) and Tables 8-9 (ELCRec beats ICLRec on ML-1M and MIND-small), judged with ours (one-sided Welch t-test over
seeds, p < 0.05).

Why a module of its own: these sections compare p-values as well as numbers and judge by a test; the sections
judged from means live in ``reproduction_estimates``. Each ``add_*`` appends to a
:class:`~elcrec.report.reproduction_base.Report`.
"""
from __future__ import annotations

from elcrec.report.cells import Agg, Cell, welch, welch_greater
from elcrec.report.formatting import SIGNIFICANCE_LEVEL, fmt_p, parse_number, pct_change
from elcrec.report.names import (EXTRA_COLUMNS, NOT_IMPLEMENTED, PAPER_METRICS, TABLE1_COLUMNS, TABLE1_DATASETS,
                                 dataset_label)
from elcrec.report.reference import paper_table
from elcrec.report.reproduction_base import (NOT_SUPPORTED, SUPPORTED, UNTESTABLE, Claim, Compared, Report, agg_text,
                                             agree, half_unit, ours_state, set_verdict, why_missing)
from elcrec.report.tables import md_table
from elcrec.report.tables_main import rank_cells


def add_table1(rep: Report) -> None:
    """Table 1: every published number, the best-vs-runner-up p-values, claims T1, T1b and one per cell."""
    paper = paper_table("table1_main", as_printed=True)
    pvals = paper_table("table1_pvalues", as_printed=True).set_index(["dataset", "metric"])
    harness_of = {c.label: c.harness for c in TABLE1_COLUMNS}
    cells = {(d, c.label): rep.cell(d, c.harness) for d in TABLE1_DATASETS for c in TABLE1_COLUMNS + EXTRA_COLUMNS}
    rows = []
    for r in paper.itertuples():
        c = cells.get((r.dataset, r.model)) or rep.cell(r.dataset, harness_of.get(r.model))
        a = c.agg(r.metric)
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
                                     r.value, parse_number(r.value), ce.agg(r.metric), ours_state(ce),
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
            aggs = {lab: cells[(dataset, lab)].agg(metric) for lab in ranked_labels}
            ours = rank_cells(aggs)  # the same ranking and test as Table 1
            pair = " > ".join(lab for lab in (ours.best, ours.runner_up) if lab) or "-"
            tested = ours.runner_up is not None
            prow.append([f"{dataset_label(dataset)} {metric}", f"{best} > {runner}", p_text, pair,
                         fmt_p(ours.p_value) if tested else "-", agree(p_paper, ours.p_value) if tested else "-",
                         ours.p_note])
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
            cell_claims.append(_cell_claim(len(cell_claims) + 1, dataset, metric, pv, best, runner, p_text, p_paper,
                                           aggs, {lab: cells[(dataset, lab)] for lab in ranked_labels}))
    rep.compared += alternatives
    rep.sections.append("### Table 1 p-values (best vs runner-up)\n\n" + md_table(
        ["Cell", "Paper: best > runner-up", "Paper p", "Ours: best > runner-up", "Our p", "Agree on p < 0.05",
         "Note"], prow))

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
    claim = Claim(f"T1.{i}", text, "Table 1")
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


def add_other_domains(rep: Report) -> None:
    """Tables 8 and 9: every published number and p-value, claims O1 (ML-1M) and O2 (MIND-small)."""
    paper = paper_table("other_domains", as_printed=True)
    pvals = paper_table("other_domains_pvalues", as_printed=True).set_index("dataset")
    for i, (dataset, table) in enumerate((("ml-1m", "Table 8"), ("MIND-small", "Table 9")), start=1):
        base, ours = rep.cell(dataset, "iclrec"), rep.cell(dataset, "elcrec")
        sub = paper[paper["dataset"] == dataset].set_index("model")
        for model, c in (("ICLRec", base), ("ELCRec", ours)):
            for m in PAPER_METRICS:
                text = sub.loc[model, m]
                rep.compared.append(Compared(table, f"{dataset_label(dataset)} {m} {model}", text, parse_number(text),
                                             c.agg(m), ours_state(c), half_unit(text)))
        parts, verdicts, reason = [], [], ""
        for m in PAPER_METRICS:
            text = pvals.loc[dataset, m]
            a, b = ours.agg(m), base.agg(m)
            p, note = welch_greater(a.array, b.array) if (a.n and b.n) else (None, "")
            rep.compared.append(Compared(f"{table} p-values", f"{dataset_label(dataset)} {m} ELCRec > ICLRec", text,
                                         parse_number(text), Agg({}), "-", 0.0, "one-sided Welch over seeds",
                                         comparable=False, ours_display=fmt_p(p) if (a.n and b.n) else "-",
                                         within_display=f"agree on p < 0.05: {agree(parse_number(text), p)}"))
            if not (a.n and b.n):
                continue
            parts.append(f"{m} {pct_change(a.mean, b.mean):+.2f}% (paper "
                         f"{pct_change(parse_number(sub.loc['ELCRec', m]), parse_number(sub.loc['ICLRec', m])):+.2f}%)"
                         f", p = {fmt_p(p, star=False)}")
            if a.mean <= b.mean:
                verdicts.append(NOT_SUPPORTED)
            elif p is None:
                verdicts.append(UNTESTABLE)
                reason = f"too few seeds ({note})"
            else:
                verdicts.append(SUPPORTED if p < SIGNIFICANCE_LEVEL else NOT_SUPPORTED)
        claim = Claim(f"O{i}", f"ELCRec beats ICLRec on {dataset_label(dataset)} in all four metrics, significantly "
                               f"(p < 0.05)", table)
        evidence = "ours (ELCRec vs ICLRec): " + ("; ".join(parts) or "none")
        if not (base.ok and ours.ok):
            missing = base if not base.ok else ours
            set_verdict(claim, UNTESTABLE, evidence, why_missing("ICLRec" if not base.ok else "ELCRec", missing))
        elif NOT_SUPPORTED in verdicts:
            set_verdict(claim, NOT_SUPPORTED, evidence)
        elif UNTESTABLE in verdicts:
            set_verdict(claim, UNTESTABLE, evidence, reason)
        else:
            set_verdict(claim, SUPPORTED,
                        evidence + "; ELCRec settings for this dataset are ours (the paper gives none)")
        rep.claims.append(claim)
