"""Tables 8 and 9 of the paper beside ours: ICLRec vs ELCRec on ML-1M and MIND-small.

Why a module of its own: the two other-domain tables compare one pair of models (with a p-value per metric)
rather than ranking a field of them; both are built by one function here. Conventions: see
``elcrec.report.paper_tables``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from elcrec.report.cells import Agg, Cell, cell, load_runs, state_notes, state_text, welch_greater
from elcrec.report.formatting import fmt, fmt_mean_sd, fmt_p, fmt_pct, parse_number, pct_change
from elcrec.report.names import ALL_METRICS, PAPER_METRICS, dataset_label
from elcrec.report.reference import paper_table
from elcrec.report.tables import write_table


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


def _other_domain_table(runs_root: str | Path, out_dir: str | Path, dataset: str, name: str,
                        table_no: int) -> pd.DataFrame:
    runs = load_runs(runs_root)
    base, ours = cell(runs, dataset, "iclrec"), cell(runs, dataset, "elcrec")
    paper = paper_table("other_domains", as_printed=True)
    paper = paper[paper["dataset"] == dataset].set_index("model")
    pvals = paper_table("other_domains_pvalues", as_printed=True).set_index("dataset")
    results = {m: compare_pair(base, ours, m) for m in ALL_METRICS}
    records: list[dict[str, Any]] = []

    def record(row: str, source: str, values: dict[str, Any], sds: dict[str, Any] | None = None) -> None:
        rec: dict[str, Any] = {"row": row, "source": source}
        for m in ALL_METRICS:
            rec[m] = values.get(m)
            if sds is not None:
                rec[f"{m} sd"] = sds.get(m)
        records.append(rec)

    for label, c, key in (("ICLRec", base, "iclrec"), ("ELCRec", ours, "elcrec")):
        record(label, "ours", {m: getattr(results[m], key).mean for m in ALL_METRICS},
               {m: getattr(results[m], key).sd for m in ALL_METRICS})
    record("Impro. (%)", "ours", {m: results[m].impro_pct for m in ALL_METRICS})
    record("p-value", "ours", {m: results[m].p_value for m in ALL_METRICS})
    published = {label: {m: parse_number(paper.loc[label, m]) for m in PAPER_METRICS} if label in paper.index else {}
                 for label in ("ICLRec", "ELCRec")}
    pp = {m: parse_number(pvals.loc[dataset, m]) for m in PAPER_METRICS} if dataset in pvals.index else {}
    pi = {m: pct_change(published["ELCRec"].get(m), published["ICLRec"].get(m)) for m in PAPER_METRICS}
    for label in ("ICLRec", "ELCRec"):
        record(label, "paper", published[label])
    record("Impro. (%)", "paper", pi)
    record("p-value", "paper", pp)
    data = pd.DataFrame(records)
    data.insert(0, "dataset", dataset)

    def ours_cell(c: Cell, agg: Agg, bold: bool) -> str:
        if not agg.n:
            return c.reason if c.state == "not run" else state_text(c)
        text = fmt_mean_sd(agg)
        return f"**{text}**" if bold else text

    rows = []
    for label, c, key in (("ICLRec", base, "iclrec"), ("ELCRec", ours, "elcrec")):
        row = {"": f"{label} (ours)"}
        for m in PAPER_METRICS:
            r = results[m]
            other = r.elcrec if key == "iclrec" else r.iclrec
            mine = getattr(r, key)
            row[m] = ours_cell(c, mine, bool(mine.n and other.n and mine.mean > other.mean))
        rows.append(row)
    rows.append({"": "Impro. (ours)", **{m: fmt_pct(results[m].impro_pct) for m in PAPER_METRICS}})
    rows.append({"": "p-value (ours)", **{m: fmt_p(r.p_value) if r.iclrec.n and r.elcrec.n else "-"
                                          for m, r in results.items() if m in PAPER_METRICS}})
    for label in ("ICLRec", "ELCRec"):
        rows.append({"": f"{label} (paper)", **{m: fmt(published[label].get(m)) for m in PAPER_METRICS}})
    rows.append({"": "Impro. (paper)", **{m: fmt_pct(pi.get(m)) for m in PAPER_METRICS}})
    rows.append({"": "p-value (paper)", **{m: fmt_p(pp[m]) if m in pp else "-" for m in PAPER_METRICS}})
    notes = ["Ours: mean ± sd over seeds; bold = the better of the two. Impro.: ELCRec over ICLRec. p-value: "
             "one-sided Welch t-test over seeds, ELCRec > ICLRec; * p < 0.05. The CSV adds HR@10/NDCG@10.",
             f"Paper: Table {table_no} (ICLRec vs ELCRec only); the paper does not publish ELCRec's settings for this "
             "dataset (config/models/elcrec.yaml documents ours)."]
    notes += [f"`-`: {n}" for n in state_notes({(dataset, "ICLRec"): base, (dataset, "ELCRec"): ours})]
    notes += sorted({f"p-value n/a: {r.p_note}" for r in results.values()
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

