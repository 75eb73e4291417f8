"""Table 10 of the paper: the ablation sum HR@5+HR@20+NDCG@5+NDCG@20 per seed
(:func:`elcrec.report.cells.ablation_sum`) of B, B+ICL, B+ELCM and ELCRec, beside the paper's; and the claims
A1-A4 on their order, judged from the same sums (Figure 1 draws them too).
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from elcrec.report.cells import (Cell, ablation_sum, cell, load_runs, state_notes, state_text, status_text,
                                 welch_greater)
from elcrec.report.claims import Claim, Compared, Report, judge, ours_state, why_missing
from elcrec.report.names import ABLATION_VARIANTS, TABLE1_DATASETS, dataset_label
from elcrec.report.present import fmt, fmt_mean_sd, fmt_p, half_unit, parse_number, pct_change, write_table
from elcrec.report.reference import paper_table


def ablation_frame(cell_of: Callable[[str, str | None], Cell], datasets: Iterable[str]) -> pd.DataFrame:
    """The one frame behind Table 10, claims A1-A4 and Figure 1: a row per (dataset, variant) with its cell, the
    per-seed sums (``sums``, an :class:`~elcrec.report.cells.Agg`) and the paper's number as printed and parsed."""
    printed = {(r.dataset, r.variant): r.sum_HR5_HR20_NDCG5_NDCG20
               for r in paper_table("ablation", as_printed=True).itertuples()}
    rows = []
    for d in datasets:
        for v, h in ABLATION_VARIANTS:
            c, text = cell_of(d, h), printed.get((d, v), "")
            rows.append({"dataset": d, "variant": v, "harness_model": h, "cell": c, "sums": ablation_sum(c),
                         "paper_text": text, "paper": parse_number(text)})
    return pd.DataFrame(rows, columns=["dataset", "variant", "harness_model", "cell", "sums", "paper_text", "paper"],
                        dtype=object)  # object: a missing paper number stays None


def table_ablation(runs_root: str | Path, out_dir: str | Path = "paper_tables",
                   datasets: Iterable[str] = TABLE1_DATASETS) -> pd.DataFrame:
    """Table 10: the ablation sum for B, B+ICL, B+ELCM, ELCRec, ours beside the paper's.

    Writes ``<out_dir>/table_ablation.{md,csv,tex}``.
    """
    frame = ablation_frame(partial(cell, load_runs(runs_root)), datasets)
    cells = {(r.dataset, r.variant): r.cell for r in frame.itertuples()}
    records, rows = [], []
    for dataset, mine in frame.groupby("dataset", sort=False):
        by = mine.set_index("variant")
        aggs = by["sums"].to_dict()
        present = {v: a.mean for v, a in aggs.items() if a.n}
        best = max(present, key=present.get) if present else None  # type: ignore[arg-type]
        pv = by["paper"].to_dict()
        paper_best = max((v for v in pv if pv[v] is not None), key=lambda v: pv[v], default=None)  # type: ignore
        rec: dict[str, Any] = {"dataset": dataset}
        row: dict[str, Any] = {"Dataset": dataset_label(dataset)}
        for v, h in ABLATION_VARIANTS:
            a, c = aggs[v], by.at[v, "cell"]
            rec.update({v: a.mean, f"{v} sd": a.sd, f"{v} n": a.n, f"{v} status": status_text(c),
                        f"{v} harness_model": h, f"paper {v}": pv[v]})
            text = fmt_mean_sd(a) if a.n else state_text(c)
            row[v] = f"**{text}**" if v == best else text
        for v, _ in ABLATION_VARIANTS:
            text = fmt(pv[v])
            row[f"Paper {v}"] = f"**{text}**" if v == paper_best else text
        for v, _ in ABLATION_VARIANTS[:-1]:
            p, _note = (welch_greater(aggs["ELCRec"].array, aggs[v].array) if aggs["ELCRec"].n and aggs[v].n
                        else (None, ""))
            rec[f"p ELCRec > {v}"] = p
        rec["best"], rec["paper_best"] = best, paper_best
        records.append(rec)
        rows.append(row)
    notes = ["Sum of HR@5 + HR@20 + NDCG@5 + NDCG@20 per seed, then mean ± sd over seeds; bold = the best variant "
             "of the row (ours and the paper's separately). The CSV adds one-sided Welch p-values of ELCRec > each "
             "variant.",
             "Variants (elcrec/models/registry.py; the paper does not define B and B+ICL in code terms): B = "
             "`elcrec-b` (BCE + sequence CL, no centres), B+ICL = `elcrec-b-icl` (intent fusion + intent CL, no "
             "cluster loss), B+ELCM = `elcrec-b-elcm` (cluster loss, no fusion or intent CL), ELCRec = `elcrec`.",
             "Paper: Table 10; its ELCRec column equals the sum of Table 1's four ELCRec numbers (single seed-1 "
             "checkpoints); on Toys the paper's best is B+ELCM."]
    notes += [f"`-`: {n}" for n in state_notes(cells)]
    write_table(pd.DataFrame(records), Path(out_dir) / "table_ablation", display=pd.DataFrame(rows), notes=notes,
                label="tab:ablation", caption="Table 10: ablation, HR@5+HR@20+NDCG@5+NDCG@20, ours beside the paper's")
    return pd.DataFrame(records)


def add_ablation(rep: Report) -> None:
    """Table 10: every published ablation sum, claims A1-A4 (judged from means of the table's frame)."""
    frame = ablation_frame(rep.cell, TABLE1_DATASETS)
    for r in frame.itertuples():
        rep.compared.append(Compared("Table 10", f"{dataset_label(r.dataset)} {r.variant}", r.paper_text, r.paper,
                                     r.sums, ours_state(r.cell), half_unit(r.paper_text),
                                     "sum HR@5+HR@20+NDCG@5+NDCG@20"))
    rep.claims += [
        order_claim(frame, "A1", "The ELCM module alone improves the backbone on all four datasets (B+ELCM > B)",
                    "B+ELCM", "B", TABLE1_DATASETS),
        order_claim(frame, "A2", "The ICL module alone improves the backbone on all four datasets (B+ICL > B)",
                    "B+ICL", "B", TABLE1_DATASETS),
        order_claim(frame, "A3", "The full ELCRec beats B+ELCM on Sports, Beauty and Yelp", "ELCRec", "B+ELCM",
                    ("Sports_and_Outdoors", "Beauty", "Yelp")),
        order_claim(frame, "A4", "On Toys, B+ELCM beats the full ELCRec (ICL hurts there, as the paper admits)",
                    "B+ELCM", "ELCRec", ("Toys_and_Games",)),
    ]


def order_claim(frame: pd.DataFrame, cid: str, text: str, better: str, worse: str, datasets: Iterable[str]) -> Claim:
    """``better`` > ``worse`` by the mean ablation sum on every one of ``datasets`` (rows of :func:`ablation_frame`)."""
    sums = {(r.dataset, r.variant): r.sums for r in frame.itertuples()}
    cells = {(r.dataset, r.variant): r.cell for r in frame.itertuples()}
    claim = Claim(cid, text, "Table 10")
    parts, ok, missing = [], True, []
    for d in datasets:
        a, b = sums[(d, better)], sums[(d, worse)]
        if not (a.n and b.n):
            c = cells[(d, better)] if not a.n else cells[(d, worse)]
            missing.append(why_missing(better if not a.n else worse, c))
            continue
        p, _ = welch_greater(a.array, b.array)
        parts.append(f"{dataset_label(d)} {better} {fmt(a.mean)} vs {worse} {fmt(b.mean)} "
                     f"({pct_change(a.mean, b.mean):+.2f}%, p = {fmt_p(p, star=False)})")
        ok &= a.mean > b.mean
    evidence = "ours: " + ("; ".join(parts) or "none")
    return judge(claim, evidence, refuted=not ok, untestable="; ".join(sorted(set(missing))))
