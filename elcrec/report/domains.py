"""Tables 8 and 9 of the paper: ICLRec vs ELCRec on ML-1M and MIND-small, with a p-value per metric
(:func:`compare_pair`), beside the paper's; and the claims O1 (ML-1M) and O2 (MIND-small), judged with the same
comparison.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from elcrec.report.cells import Agg, Cell, cell, load_runs, state_notes, state_text, welch_greater
from elcrec.report.claims import (NOT_SUPPORTED, SUPPORTED, UNTESTABLE, Claim, Compared, Report, agree, ours_state,
                                  set_verdict, why_missing)
from elcrec.report.names import ALL_METRICS, PAPER_METRICS, dataset_label
from elcrec.report.present import (SIGNIFICANCE_LEVEL, fmt, fmt_mean_sd, fmt_p, fmt_pct, half_unit, parse_number,
                                   pct_change, write_table)
from elcrec.report.reference import paper_table

PRINTED_OTHER_IMPRO = {
    ("ml-1m", "HR@5"): 13.65, ("ml-1m", "HR@20"): 7.59, ("ml-1m", "NDCG@5"): 11.83, ("ml-1m", "NDCG@20"): 8.44,
    ("MIND-small", "HR@5"): 6.07, ("MIND-small", "HR@20"): 9.59, ("MIND-small", "NDCG@5"): 4.33,
    ("MIND-small", "NDCG@20"): 7.34,
}


@dataclass
class PairResult:
    metric: str
    iclrec: Agg
    elcrec: Agg
    impro_pct: float | None
    p_value: float | None
    p_note: str


def compare_pair(base: Cell, ours: Cell, metric: str) -> PairResult:
    a, b = base.agg(metric), ours.agg(metric)
    p, note = (welch_greater(b.array, a.array) if a.n and b.n else (None, "a model has no finished run"))
    return PairResult(metric, a, b, pct_change(b.mean, a.mean), p, note)


def other_domain_frame(cell_of: Callable[[str, str | None], Cell], dataset: str) -> pd.DataFrame:
    """The one frame behind Table 8 or 9 and claim O1 or O2: a row per metric with ICLRec's and ELCRec's cells and
    per-seed values (:class:`~elcrec.report.cells.Agg`), our improvement and p-value (:func:`compare_pair`), and the
    paper's numbers as printed and parsed (``paper_p_listed``: whether the paper lists p-values for the dataset)."""
    base, ours = cell_of(dataset, "iclrec"), cell_of(dataset, "elcrec")
    paper = paper_table("other_domains", as_printed=True)
    paper = paper[paper["dataset"] == dataset].set_index("model")
    pvals = paper_table("other_domains_pvalues", as_printed=True).set_index("dataset")
    rows = []
    for m in ALL_METRICS:
        r = compare_pair(base, ours, m)
        printed = {label: paper.loc[label, m] if label in paper.index and m in PAPER_METRICS else ""
                   for label in ("ICLRec", "ELCRec")}
        p_listed = dataset in pvals.index and m in PAPER_METRICS
        p_text = pvals.loc[dataset, m] if p_listed else ""
        rows.append({"dataset": dataset, "metric": m, "iclrec_cell": base, "elcrec_cell": ours,
                     "iclrec": r.iclrec, "elcrec": r.elcrec, "impro_pct": r.impro_pct, "p_value": r.p_value,
                     "p_note": r.p_note, "paper_iclrec_text": printed["ICLRec"], "paper_elcrec_text": printed["ELCRec"],
                     "paper_iclrec": parse_number(printed["ICLRec"]), "paper_elcrec": parse_number(printed["ELCRec"]),
                     "paper_impro_pct": pct_change(parse_number(printed["ELCRec"]), parse_number(printed["ICLRec"])),
                     "paper_p_text": p_text, "paper_p": parse_number(p_text), "paper_p_listed": p_listed})
    return pd.DataFrame(rows, dtype=object)  # object: Aggs and cells stay themselves, missing numbers None


def _other_domain_table(runs_root: str | Path, out_dir: str | Path, dataset: str, name: str,
                        table_no: int) -> pd.DataFrame:
    runs = load_runs(runs_root)
    frame = other_domain_frame(lambda d, h: cell(runs, d, h), dataset).set_index("metric", drop=False)
    base, ours = frame["iclrec_cell"].iloc[0], frame["elcrec_cell"].iloc[0]
    records: list[dict[str, Any]] = []

    def record(row: str, source: str, values: dict[str, Any], sds: dict[str, Any] | None = None) -> None:
        rec: dict[str, Any] = {"row": row, "source": source}
        for m in ALL_METRICS:
            rec[m] = values.get(m)
            if sds is not None:
                rec[f"{m} sd"] = sds.get(m)
        records.append(rec)

    for label, key in (("ICLRec", "iclrec"), ("ELCRec", "elcrec")):
        record(label, "ours", {m: a.mean for m, a in frame[key].items()}, {m: a.sd for m, a in frame[key].items()})
    record("Impro. (%)", "ours", frame["impro_pct"].to_dict())
    record("p-value", "ours", frame["p_value"].to_dict())
    for label, key in (("ICLRec", "paper_iclrec"), ("ELCRec", "paper_elcrec")):
        record(label, "paper", frame[key].to_dict())
    record("Impro. (%)", "paper", frame["paper_impro_pct"].to_dict())
    record("p-value", "paper", frame["paper_p"].to_dict())
    data = pd.DataFrame(records)
    data.insert(0, "dataset", dataset)

    def ours_cell(c: Cell, agg: Agg, bold: bool) -> str:
        if not agg.n:
            return c.reason if c.state == "not run" else state_text(c)
        text = fmt_mean_sd(agg)
        return f"**{text}**" if bold else text

    shown = frame.loc[list(PAPER_METRICS)]
    rows = []
    for label, c, key in (("ICLRec", base, "iclrec"), ("ELCRec", ours, "elcrec")):
        row = {"": f"{label} (ours)"}
        other_key = "elcrec" if key == "iclrec" else "iclrec"
        for m, r in shown.iterrows():
            mine, other = r[key], r[other_key]
            row[m] = ours_cell(c, mine, bool(mine.n and other.n and mine.mean > other.mean))
        rows.append(row)
    rows.append({"": "Impro. (ours)", **{m: fmt_pct(v) for m, v in shown["impro_pct"].items()}})
    rows.append({"": "p-value (ours)", **{m: fmt_p(r.p_value) if r.iclrec.n and r.elcrec.n else "-"
                                          for m, r in shown.iterrows()}})
    for label, key in (("ICLRec", "paper_iclrec"), ("ELCRec", "paper_elcrec")):
        rows.append({"": f"{label} (paper)", **{m: fmt(v) for m, v in shown[key].items()}})
    rows.append({"": "Impro. (paper)", **{m: fmt_pct(v) for m, v in shown["paper_impro_pct"].items()}})
    rows.append({"": "p-value (paper)", **{m: fmt_p(r.paper_p) if r.paper_p_listed else "-"
                                           for m, r in shown.iterrows()}})
    notes = ["Ours: mean ± sd over seeds; bold = the better of the two. Impro.: ELCRec over ICLRec. p-value: "
             "one-sided Welch t-test over seeds, ELCRec > ICLRec; * p < 0.05. The CSV adds HR@10/NDCG@10.",
             f"Paper: Table {table_no} (ICLRec vs ELCRec only); the paper does not publish ELCRec's settings for this "
             "dataset (config/models/elcrec.yaml documents ours)."]
    notes += [f"`-`: {n}" for n in state_notes({(dataset, "ICLRec"): base, (dataset, "ELCRec"): ours})]
    notes += sorted({f"p-value n/a: {r.p_note}" for _, r in frame.iterrows()
                     if r.p_value is None and r.iclrec.n and r.elcrec.n})
    write_table(data, Path(out_dir) / name, display=pd.DataFrame(rows), notes=notes, label=f"tab:{name}",
                caption=f"Table {table_no}: ICLRec vs ELCRec on {dataset_label(dataset)}, ours beside the paper's")
    return data


def table_ml1m(runs_root: str | Path, out_dir: str | Path = "paper_tables") -> pd.DataFrame:
    """Table 8: ICLRec vs ELCRec on ml-1m. Writes ``<out_dir>/table_ml1m.{md,csv,tex}``."""
    return _other_domain_table(runs_root, out_dir, "ml-1m", "table_ml1m", 8)


def table_mind(runs_root: str | Path, out_dir: str | Path = "paper_tables") -> pd.DataFrame:
    """Table 9: ICLRec vs ELCRec on MIND-small. Writes ``<out_dir>/table_mind.{md,csv,tex}``."""
    return _other_domain_table(runs_root, out_dir, "MIND-small", "table_mind", 9)


def add_other_domains(rep: Report) -> None:
    """Tables 8 and 9: every published number and p-value, claims O1 (ML-1M) and O2 (MIND-small), read from each
    table's frame (:func:`other_domain_frame`)."""
    for i, (dataset, table) in enumerate((("ml-1m", "Table 8"), ("MIND-small", "Table 9")), start=1):
        frame = other_domain_frame(rep.cell, dataset).set_index("metric", drop=False).loc[list(PAPER_METRICS)]
        base, ours = frame["iclrec_cell"].iloc[0], frame["elcrec_cell"].iloc[0]
        for model, key, c in (("ICLRec", "iclrec", base), ("ELCRec", "elcrec", ours)):
            for m, r in frame.iterrows():
                text = r[f"paper_{key}_text"]
                rep.compared.append(Compared(table, f"{dataset_label(dataset)} {m} {model}", text, r[f"paper_{key}"],
                                             r[key], ours_state(c), half_unit(text)))
        parts, verdicts, reason = [], [], ""
        for m, r in frame.iterrows():
            text = r["paper_p_text"]
            a, b, p, note = r["elcrec"], r["iclrec"], r["p_value"], r["p_note"]
            rep.compared.append(Compared(f"{table} p-values", f"{dataset_label(dataset)} {m} ELCRec > ICLRec", text,
                                         r["paper_p"], Agg({}), "-", 0.0, "one-sided Welch over seeds",
                                         comparable=False, ours_display=fmt_p(p) if (a.n and b.n) else "-",
                                         within_display=f"agree on p < 0.05: {agree(r['paper_p'], p)}"))
            if not (a.n and b.n):
                continue
            parts.append(f"{m} {r['impro_pct']:+.2f}% (paper {r['paper_impro_pct']:+.2f}%)"
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


def printed_checks() -> list[tuple[str, str, float, float | None]]:
    """The printed Impro. of Tables 8 and 9, recomputed from the paper's own values."""
    od = paper_table("other_domains", as_printed=True)
    rows = []
    for (d, m), printed in PRINTED_OTHER_IMPRO.items():
        sub = od[od["dataset"] == d].set_index("model")
        rows.append((f"Table {8 if d == 'ml-1m' else 9} Impro.", f"{dataset_label(d)} {m}", printed,
                     pct_change(parse_number(sub.loc["ELCRec", m]), parse_number(sub.loc["ICLRec", m]))))
    return rows
