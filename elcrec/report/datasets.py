"""The dataset statistics of the paper's Tables 6-7: our counts from ``results/data/{dataset}/stats.json``
beside the printed values, each compared at the precision the paper prints it (``0.2M`` against interactions
rounded to 0.1M), so a misprint flag is computed, never typed in; and claim D1, judged from the same comparison.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from elcrec.report.cells import Agg
from elcrec.report.claims import Claim, Compared, Report, judge
from elcrec.report.names import dataset_label
from elcrec.report.present import fmt, is_missing, parse_number, printed_decimals, write_table
from elcrec.report.reference import paper_table


def printed_matches(printed: Any, ours: float) -> bool | None:
    """Compare a printed value (``0.17M``, ``1,000,209``, ``99.95%``, ``8.3``) with ours at its precision."""
    if is_missing(printed) or str(printed).strip() == "":
        return None
    text = str(printed).strip().replace(",", "")
    scale = 1.0
    if text.endswith("%"):
        text = text[:-1]
    if text.endswith("M"):
        text, scale = text[:-1], 1e6
    decimals = printed_decimals(text)
    return round(ours / scale, decimals) == round(float(text), decimals)


def build_datasets_table(stats_files: list[str | Path], prefix: str | Path) -> pd.DataFrame:
    paper = paper_table("datasets").set_index("dataset")
    rows, notes = [], []
    for path in stats_files:
        stats = json.loads(Path(path).read_text())
        name = stats["dataset"]
        row: dict[str, Any] = {"dataset": name, "status": stats.get("status", "ok")}
        if row["status"] != "ok":
            row["note"] = f"not run: dataset unavailable ({stats.get('error', 'no data')[:120]}...)"
            rows.append(row)
            continue
        for key in ("users", "items", "interactions", "avg_len", "sparsity_pct"):
            row[key] = stats[key]
        flags = []
        if name in paper.index:
            ref = paper.loc[name]
            printed = {"users": ref["users"], "items": ref["items"], "interactions": ref["interactions_as_printed"],
                       "avg_len": ref["avg_length_as_printed"], "sparsity_pct": ref["sparsity_as_printed"]}
            for key, value in printed.items():
                row[f"paper_{key}"] = None if is_missing(value) else value
                ok = printed_matches(value, stats[key])
                if ok is False:
                    flags.append(f"{key}: paper prints {value}, the file gives {_fmt(key, stats[key])}")
            if isinstance(ref.get("note"), str) and ref["note"]:
                notes.append(f"{name}: {ref['note']}")
        else:
            flags.append("no published statistics")
        row["note"] = "; ".join(flags) if flags else "matches the paper"
        rows.append(row)
    data = pd.DataFrame(rows)
    display = pd.DataFrame({
        "Dataset": data["dataset"],
        "Users": [_fmt("users", v) for v in data.get("users", [])],
        "Items": [_fmt("items", v) for v in data.get("items", [])],
        "Interactions": [_fmt("interactions", v) for v in data.get("interactions", [])],
        "Avg. length": [_fmt("avg_len", v) for v in data.get("avg_len", [])],
        "Sparsity": [_fmt("sparsity_pct", v) for v in data.get("sparsity_pct", [])],
        "Paper (users / items / interactions / avg. length / sparsity)": [
            " / ".join(str(r.get(f"paper_{k}")) for k in ("users", "items", "interactions", "avg_len", "sparsity_pct"))
            if r.get("paper_users") is not None else "-" for r in rows],
        "Check against the paper": data["note"],
    })
    write_table(data, prefix, caption="Dataset statistics, computed from the sequence files",
                label="tab:datasets", display=display, notes=notes)
    return data


def _fmt(key: str, value: Any) -> str:
    if is_missing(value):
        return "-"
    if key in ("users", "items", "interactions"):
        return f"{int(value):,}"
    return fmt(value, 2) + ("%" if key == "sparsity_pct" else "")


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
