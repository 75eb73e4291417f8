"""The paper checked against its data and against itself: the printed dataset statistics (Tables 6-7) against
our ``stats.json`` files, and the printed derived numbers (Impro., time and memory changes) recomputed from the
paper's own printed values.

Why a module of its own: these checks need no run of ours (the datasets one needs only the prepared data), so
they are neither tested nor estimated claims about the method; they find misprints. Each ``add_*`` appends to a
:class:`~elcrec.report.reproduction_base.Report`.
"""
from __future__ import annotations

import json

import numpy as np

from elcrec.report.cells import Agg
from elcrec.report.datasets_table import printed_matches
from elcrec.report.formatting import fmt_pct, parse_number, pct_change
from elcrec.report.names import dataset_label
from elcrec.report.reference import paper_table
from elcrec.report.reproduction_base import Claim, Compared, Report, judge
from elcrec.report.tables import md_table

# Derived numbers the paper prints but config/paper_reference does not hold: checked against its own values.
PRINTED_TABLE1_IMPRO = {  # (dataset, metric) -> printed Impro. in % (negative: ELCRec below the best, "↓")
    ("Sports_and_Outdoors", "HR@5"): 8.75, ("Sports_and_Outdoors", "HR@20"): 1.09,
    ("Sports_and_Outdoors", "NDCG@5"): 6.94, ("Sports_and_Outdoors", "NDCG@20"): 2.14,
    ("Beauty", "HR@5"): 6.87, ("Beauty", "HR@20"): 0.65, ("Beauty", "NDCG@5"): 8.90, ("Beauty", "NDCG@20"): 3.67,
    ("Toys_and_Games", "HR@5"): -0.17, ("Toys_and_Games", "HR@20"): 0.71, ("Toys_and_Games", "NDCG@5"): 1.51,
    ("Toys_and_Games", "NDCG@20"): 1.82, ("Yelp", "HR@5"): 1.29, ("Yelp", "HR@20"): 1.24, ("Yelp", "NDCG@5"): 2.74,
    ("Yelp", "NDCG@20"): 1.14,
}
PRINTED_OTHER_IMPRO = {
    ("ml-1m", "HR@5"): 13.65, ("ml-1m", "HR@20"): 7.59, ("ml-1m", "NDCG@5"): 11.83, ("ml-1m", "NDCG@20"): 8.44,
    ("MIND-small", "HR@5"): 6.07, ("MIND-small", "HR@20"): 9.59, ("MIND-small", "NDCG@5"): 4.33,
    ("MIND-small", "NDCG@20"): 7.34,
}
PRINTED_EFFICIENCY_CHANGE = {  # Table 2, ELCRec vs ICLRec, in %
    ("Sports_and_Outdoors", "time"): 1.48, ("Beauty", "time"): -22.49, ("Toys_and_Games", "time"): -5.72,
    ("Yelp", "time"): -5.92, ("Avg", "time"): -7.18,
    ("Sports_and_Outdoors", "memory"): -8.38, ("Beauty", "memory"): -11.35, ("Toys_and_Games", "memory"): -11.50,
    ("Yelp", "memory"): -7.85, ("Avg", "memory"): -9.58,
}


# ---------------------------------------------------------------------------------------------------- datasets


def add_datasets(rep: Report) -> None:
    """Tables 6-7: every printed dataset statistic against ``stats.json``, claim D1."""
    paper = paper_table("datasets", as_printed=True)
    fields = (("users", "users", "users"), ("items", "items", "items"),
              ("interactions_as_printed", "interactions", "interactions"),
              ("avg_length_as_printed", "avg_len", "average length"),
              ("sparsity_as_printed", "sparsity_pct", "sparsity"))
    mismatches, missing = [], []
    for r in paper.itertuples():
        path = rep.stats_root / r.dataset / "stats.json"
        stats = json.loads(path.read_text()) if path.is_file() else None
        ok = stats is not None and stats.get("status", "ok") == "ok"
        if not ok:
            why = f"no {path}" if stats is None else "dataset unavailable"
            missing.append(f"{dataset_label(r.dataset)} ({why})")
        for key, ours_key, label in fields:
            text = getattr(r, key)
            if not text:
                continue
            value = stats.get(ours_key) if ok else None
            match = printed_matches(text, value) if value is not None else None
            if match is False:
                mismatches.append(f"{dataset_label(r.dataset)} {label}: paper {text}, ours {value:g}")
            shown = "-" if value is None else (f"{int(value):,}" if float(value).is_integer() else f"{value:.2f}")
            rep.compared.append(Compared(
                "Datasets", f"{dataset_label(r.dataset)} {label}", text, parse_number(text.rstrip("%M")), Agg({}),
                "-", 0.0, r.note or "", comparable=False, ours_display=shown,
                within_display=("matches at the printed precision" if match else "**DIFFERS** at the printed precision"
                                if match is False else "not computed")))
    claim = Claim("D1", "The dataset statistics printed in the paper describe the files it used", "Tables 6-7")
    evidence = ("; ".join(mismatches) if mismatches else "every printed value matches at its printed precision"
                if not missing else "no statistics to compare")
    if mismatches:
        notes = sorted({f"{dataset_label(r.dataset)}: {r.note}" for r in paper.itertuples() if r.note})
        evidence += f" (paper notes: {'; '.join(notes)})" if notes else ""
    untestable = "dataset statistics missing: " + ", ".join(missing) if missing else ""
    rep.claims.append(judge(claim, evidence, refuted=bool(mismatches), untestable=untestable))


# ---------------------------------------------------------------------------------------------------- consistency


def add_consistency(rep: Report) -> None:
    """The paper's printed derived numbers (Impro., changes) recomputed from its own printed values."""
    t1 = paper_table("table1_main", as_printed=True)
    rows = []
    for (d, m), printed in PRINTED_TABLE1_IMPRO.items():
        sub = t1[(t1["dataset"] == d) & (t1["metric"] == m)]
        vals = {mod: parse_number(v) for mod, v in zip(sub["model"], sub["value"]) if parse_number(v) is not None}
        best_other = max(v for mod, v in vals.items() if mod != "ELCRec")
        rows.append(("Table 1 Impro.", f"{dataset_label(d)} {m}", printed, pct_change(vals["ELCRec"], best_other)))
    od = paper_table("other_domains", as_printed=True)
    for (d, m), printed in PRINTED_OTHER_IMPRO.items():
        sub = od[od["dataset"] == d].set_index("model")
        rows.append((f"Table {8 if d == 'ml-1m' else 9} Impro.", f"{dataset_label(d)} {m}", printed,
                     pct_change(parse_number(sub.loc["ELCRec", m]), parse_number(sub.loc["ICLRec", m]))))
    eff = paper_table("efficiency", as_printed=True)
    for (d, q), printed in PRINTED_EFFICIENCY_CHANGE.items():
        col = "time_s" if q == "time" else "gpu_memory_mb"
        sel = eff if d == "Avg" else eff[eff["dataset"] == d]
        new = np.mean([parse_number(v) for v in sel[sel["model"] == "ELCRec"][col]])
        old = np.mean([parse_number(v) for v in sel[sel["model"] == "ICLRec"][col]])
        rows.append(("Table 2 change", f"{d if d == 'Avg' else dataset_label(d)} {q}", printed, pct_change(new, old)))
    # The two known misprints, checked the same way.
    beauty = eff[(eff["dataset"] == "Beauty") & (eff["model"] == "ICLRec")]
    iclrec_beauty = parse_number(beauty["gpu_memory_mb"].iloc[0])
    rows.append(("Table 11 ELCRec Beauty memory 1574 MB", "Beauty memory vs Table 2's -11.35%", -11.35,
                 pct_change(1574.0, iclrec_beauty)))
    avg_memory = next(r[3] for r in rows if r[0] == "Table 2 change" and r[1] == "Avg memory")
    rows.append(("§4.4 text '9.48%' average memory", "Avg memory", -9.48, avg_memory))
    table = []
    for where, item, printed, recomputed in rows:
        ok = recomputed is not None and abs(recomputed - printed) <= 0.011
        shown = fmt_pct(printed, arrow="Impro." in where)  # as printed: Impro. with an arrow, changes signed
        table.append([where, item, shown, f"{recomputed:+.3f}%", "yes" if ok else "**NO** (misprint)"])
    rep.sections.append("### The paper's derived numbers, recomputed from its own values\n\n"
                        "Improvements are printed as magnitudes with an arrow (↓: ELCRec below the best other "
                        "model); "
                        "a printed value counts as consistent when it is within 0.01 percentage points of the value "
                        "recomputed from the paper's own numbers. The last two rows are the known misprints.\n\n"
                        + md_table(["Where", "Item", "Printed", "Recomputed", "Consistent"], table))
