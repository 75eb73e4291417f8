"""The dataset statistics of the paper's Tables 6-7: our counts from ``results/data/{dataset}/stats.json``
beside the printed values, each compared at the precision the paper prints it (``0.2M`` against interactions
rounded to 0.1M), so a misprint flag is computed, never typed in. :func:`statistics_frame` makes every
comparison once; the datasets table and claim D1 both read it.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from elcrec.errors import HarnessError
from elcrec.report.cells import Agg
from elcrec.report.claims import Claim, Compared, Report, judge
from elcrec.report.names import dataset_label
from elcrec.report.present import fmt, is_missing, parse_number, printed_decimals, write_table
from elcrec.report.reference import paper_table, statistics_datasets

# (our stats.json key, the paper CSV column as printed, label), in the order of the paper's table
STATISTICS = (("users", "users", "users"), ("items", "items", "items"),
              ("interactions", "interactions_as_printed", "interactions"),
              ("avg_len", "avg_length_as_printed", "average length"),
              ("sparsity_pct", "sparsity_as_printed", "sparsity"))
FRAME_COLUMNS = ["dataset", "state", "reason", "in_paper", "statistic", "label", "ours", "printed", "match",
                 "paper_note"]


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


def read_stats(path: str | Path) -> dict[str, Any] | None:
    """A stats.json (``python -m elcrec stats``), or None when there is none."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else None


def statistics_frame(stats: Mapping[str, dict[str, Any] | None]) -> pd.DataFrame:
    """A row per (dataset, statistic) for every dataset of ``stats`` (name -> stats.json, None when missing):
    ``state`` (``ok``, ``unavailable``: the data could not be obtained, ``missing``: no stats.json), ours, the
    paper's value as printed ("" when the paper has no such dataset or prints nothing) and whether the two match at
    the printed precision (None when there is nothing to compare)."""
    paper = paper_table("datasets", as_printed=True).set_index("dataset")
    rows = []
    for name, found in stats.items():
        state = "missing" if found is None else "ok" if found.get("status", "ok") == "ok" else "unavailable"
        reason = "" if state == "ok" else "no stats.json" if found is None else str(found.get("error", "no data"))
        ref = paper.loc[name] if name in paper.index else None
        for key, column, label in STATISTICS:
            ours = found.get(key) if state == "ok" else None
            printed = "" if ref is None else ref[column]
            rows.append({"dataset": name, "state": state, "reason": reason, "in_paper": ref is not None,
                         "statistic": key, "label": label,
                         "ours": ours, "printed": printed,
                         "match": printed_matches(printed, ours) if ours is not None else None,
                         "paper_note": "" if ref is None else ref["note"]})
    return pd.DataFrame(rows, columns=FRAME_COLUMNS, dtype=object)


def stat_text(key: str, value: Any) -> str:
    """One statistic as the table prints it: counts with thousands separators, the rest with 2 decimals."""
    if is_missing(value):
        return "-"
    if key in ("users", "items", "interactions"):
        return f"{int(value):,}"
    return fmt(value, 2) + ("%" if key == "sparsity_pct" else "")


def build_datasets_table(stats_files: list[str | Path], prefix: str | Path) -> pd.DataFrame:
    """The datasets table of the given stats.json files: ``prefix.{md,csv,tex}``."""
    stats = {}
    for path in stats_files:
        found = read_stats(path)
        if found is None:
            raise HarnessError(f"{path} is missing: run `python -m elcrec stats` for its dataset first")
        stats[found["dataset"]] = found
    frame = statistics_frame(stats)
    rows, notes = [], []
    for name, mine in frame.groupby("dataset", sort=False):
        first = mine.iloc[0]
        row: dict[str, Any] = {"dataset": name, "status": stats[name].get("status", "ok")}
        if first["state"] != "ok":
            row["note"] = f"not run: dataset unavailable ({first['reason'][:120]}...)"
            rows.append(row)
            continue
        for r in mine.itertuples(index=False):
            row[r.statistic] = r.ours
        flags = []
        if first["in_paper"]:
            for r in mine.itertuples(index=False):
                row[f"paper_{r.statistic}"] = r.printed or None
                if r.match is False:
                    flags.append(f"{r.statistic}: paper prints {r.printed}, "
                                 f"the file gives {stat_text(r.statistic, r.ours)}")
            if first["paper_note"]:
                notes.append(f"{name}: {first['paper_note']}")
        else:
            flags.append("no published statistics")
        row["note"] = "; ".join(flags) if flags else "matches the paper"
        rows.append(row)
    data = pd.DataFrame(rows)
    display = pd.DataFrame({
        "Dataset": data["dataset"],
        **{title: [stat_text(key, v) for v in data.get(key, [])] for key, title in (
            ("users", "Users"), ("items", "Items"), ("interactions", "Interactions"), ("avg_len", "Avg. length"),
            ("sparsity_pct", "Sparsity"))},
        "Paper (users / items / interactions / avg. length / sparsity)": [
            " / ".join(str(r.get(f"paper_{key}")) for key, _, _ in STATISTICS)
            if r.get("paper_users") is not None else "-" for r in rows],
        "Check against the paper": data["note"],
    })
    write_table(data, prefix, caption="Dataset statistics, computed from the sequence files",
                label="tab:datasets", display=display, notes=notes)
    return data


def add_datasets(rep: Report, datasets: Iterable[str] | None = None) -> None:
    """Tables 6-7: every printed dataset statistic against ``stats.json``, claim D1."""
    names = list(datasets) if datasets is not None else statistics_datasets()
    frame = statistics_frame({d: read_stats(rep.stats_root / d / "stats.json") for d in names})
    mismatches, missing, notes = [], [], set()
    for name, mine in frame.groupby("dataset", sort=False):
        first = mine.iloc[0]
        if first["state"] != "ok":
            why = f"no {rep.stats_root / name / 'stats.json'}" if first["state"] == "missing" else "dataset unavailable"
            missing.append(f"{dataset_label(name)} ({why})")
        if first["paper_note"]:
            notes.add(f"{dataset_label(name)}: {first['paper_note']}")
        for r in mine[mine["printed"] != ""].itertuples(index=False):
            if r.match is False:
                mismatches.append(f"{dataset_label(name)} {r.label}: paper {r.printed}, ours {r.ours:g}")
            rep.compared.append(Compared(
                "Datasets", f"{dataset_label(name)} {r.label}", r.printed, parse_number(r.printed.rstrip("%M")),
                Agg({}), "-", 0.0, r.paper_note, comparable=False, ours_display=stat_text(r.statistic, r.ours),
                within_display=("matches at the printed precision" if r.match else "**DIFFERS** at the printed "
                                "precision" if r.match is False else "not computed")))
    claim = Claim("D1", "The dataset statistics printed in the paper describe the files it used", "Tables 6-7")
    evidence = ("; ".join(mismatches) if mismatches else "every printed value matches at its printed precision"
                if not missing else "no statistics to compare")
    if mismatches and notes:
        evidence += f" (paper notes: {'; '.join(sorted(notes))})"
    untestable = "dataset statistics missing: " + ", ".join(missing) if missing else ""
    rep.claims.append(judge(claim, evidence, refuted=bool(mismatches), untestable=untestable))
