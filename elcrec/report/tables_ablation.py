"""Table 10 of the paper beside ours: the ablation sum HR@5+HR@20+NDCG@5+NDCG@20 of B, B+ICL, B+ELCM, ELCRec.

Why a module of its own: the ablation compares variants of ELCRec by one summed metric per seed
(:func:`elcrec.report.cells.ablation_sum`), a table shaped unlike the others. Conventions: see
``elcrec.report.paper_tables``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from elcrec.report.cells import ablation_sum, cell, load_runs, state_notes, state_text, status_text, welch_greater
from elcrec.report.formatting import fmt, fmt_mean_sd, parse_number
from elcrec.report.names import ABLATION_VARIANTS, TABLE1_DATASETS, dataset_label
from elcrec.report.reference import paper_table
from elcrec.report.tables import write_table


def table_ablation(runs_root: str | Path, out_dir: str | Path = "paper_tables",
                   datasets: Iterable[str] = TABLE1_DATASETS) -> pd.DataFrame:
    """Table 10: the ablation sum for B, B+ICL, B+ELCM, ELCRec, ours beside the paper's.

    Writes ``<out_dir>/table_ablation.{md,csv,tex}``.
    """
    datasets = list(datasets)
    runs = load_runs(runs_root)
    paper = paper_table("ablation", as_printed=True)
    paper_val = {(r.dataset, r.variant): r.sum_HR5_HR20_NDCG5_NDCG20 for r in paper.itertuples()}
    cells = {(d, v): cell(runs, d, h) for d in datasets for v, h in ABLATION_VARIANTS}
    records, rows = [], []
    for dataset in datasets:
        aggs = {v: ablation_sum(cells[(dataset, v)]) for v, _ in ABLATION_VARIANTS}
        present = {v: a.mean for v, a in aggs.items() if a.n}
        best = max(present, key=present.get) if present else None  # type: ignore[arg-type]
        pv = {v: parse_number(paper_val.get((dataset, v), "")) for v, _ in ABLATION_VARIANTS}
        paper_best = max((v for v in pv if pv[v] is not None), key=lambda v: pv[v], default=None)  # type: ignore
        rec: dict[str, Any] = {"dataset": dataset}
        row: dict[str, Any] = {"Dataset": dataset_label(dataset)}
        for v, h in ABLATION_VARIANTS:
            a, c = aggs[v], cells[(dataset, v)]
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

