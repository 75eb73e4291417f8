"""Tables 2 and 11 of the paper: training time and peak memory of ICLRec, ELCRec and S3-Rec from profile.json,
beside the paper's RTX-4090 numbers; and the efficiency claims E1-E5, judged per epoch and only between runs
measured on the same device with the same memory kind.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from elcrec.report.cells import (Cell, cell, load_runs, per_epoch_seconds, same_device, state_notes, state_text,
                                 status_text, welch_greater)
from elcrec.report.claims import UNTESTABLE, Claim, Compared, Report, judge, ours_state, set_verdict, why_missing
from elcrec.report.names import EFFICIENCY_MODELS, MEMORY_KINDS, TABLE1_DATASETS, dataset_label
from elcrec.report.present import (fmt, fmt_mean_sd, fmt_p, fmt_pct, half_unit, parse_number, pct_change,
                                   write_table)
from elcrec.report.reference import paper_table

PRINTED_EFFICIENCY_CHANGE = {  # Table 2, ELCRec vs ICLRec, in %
    ("Sports_and_Outdoors", "time"): 1.48, ("Beauty", "time"): -22.49, ("Toys_and_Games", "time"): -5.72,
    ("Yelp", "time"): -5.92, ("Avg", "time"): -7.18,
    ("Sports_and_Outdoors", "memory"): -8.38, ("Beauty", "memory"): -11.35, ("Toys_and_Games", "memory"): -11.50,
    ("Yelp", "memory"): -7.85, ("Avg", "memory"): -9.58,
}


def profile_text(c: Cell, key: str) -> str:
    if not c.ok or key not in c.runs:
        return "-"
    values = sorted({str(v) for v in c.runs[key] if isinstance(v, str) and v})
    if key == "memory_kind":
        values = [MEMORY_KINDS.get(v, v) for v in values]
    return "; ".join(values) or "-"


def efficiency_frame(cell_of: Callable[[str, str | None], Cell], datasets: Iterable[str]) -> pd.DataFrame:
    """The one frame behind Tables 2 and 11 and claims E1-E5: a row per (dataset, model) with its cell, the per-seed
    ``time`` (train_seconds), ``per_epoch`` and ``memory`` (peak MB) as :class:`~elcrec.report.cells.Agg`, where
    they were measured, the paper's numbers as printed and parsed, and the changes against ICLRec on the dataset
    (:func:`change_pct`; None unless both were measured on one device with one memory kind)."""
    printed = {(r.dataset, r.model): (r.time_s, r.gpu_memory_mb)
               for r in paper_table("efficiency", as_printed=True).itertuples()}
    rows = []
    for d in datasets:
        for label, harness in EFFICIENCY_MODELS:
            c = cell_of(d, harness)
            pt, pm = printed.get((d, label), ("", ""))
            rows.append({"dataset": d, "model": label, "harness_model": harness, "cell": c,
                         "time": c.agg("train_seconds"), "per_epoch": per_epoch_seconds(c),
                         "memory": c.agg("peak_memory_mb"), "epochs": c.agg("epochs").mean,
                         "memory_kind": profile_text(c, "memory_kind"), "device": profile_text(c, "device"),
                         "paper_time_text": pt, "paper_memory_text": pm,
                         "paper_time_s": parse_number(pt), "paper_gpu_memory_mb": parse_number(pm)})
    frame = pd.DataFrame(rows, dtype=object)  # object: Aggs and cells stay themselves, missing numbers None
    base = {r["dataset"]: r for r in rows if r["model"] == "ICLRec"}
    frame["comparable"] = [same_device(base[r["dataset"]]["cell"], r["cell"]) for r in rows]
    for key, column in (("time", "time_change_pct"), ("per_epoch", "time_per_epoch_change_pct"),
                        ("memory", "memory_change_pct")):
        frame[column] = pd.Series([None if r["model"] == "ICLRec" else change_pct(r, base[r["dataset"]], key)
                                   for r in rows], dtype=object)
    return frame


def change_pct(a: Any, b: Any, key: str) -> float | None:
    """% change of the mean of ``key`` (``time``, ``per_epoch``, ``memory``) from frame row ``b`` to row ``a``; None
    unless both were measured on one device with one memory kind."""
    if not same_device(b["cell"], a["cell"]):
        return None
    return pct_change(a[key].mean, b[key].mean)


def table_efficiency(runs_root: str | Path, out_dir: str | Path = "paper_tables",
                     datasets: Iterable[str] = TABLE1_DATASETS) -> pd.DataFrame:
    """Tables 2 and 11: training time and peak memory of ICLRec, ELCRec, S3-Rec beside the paper's RTX-4090 numbers.

    Writes ``<out_dir>/table_efficiency.{md,csv,tex}``. Time is ``profile.json`` ``train_seconds`` (training
    epochs and k-means, not validation), memory its ``peak_memory_mb`` of the kind given in ``memory_kind``.
    """
    datasets = list(datasets)
    runs = load_runs(runs_root)
    frame = efficiency_frame(lambda d, h: cell(runs, d, h), datasets)
    cells = {(r.dataset, r.model): r.cell for r in frame.itertuples()}
    paper = {(r.dataset, r.model): (r.paper_time_s, r.paper_gpu_memory_mb) for r in frame.itertuples()}
    records, rows = [], []
    for r in frame.itertuples():
        c, t, m, pe, label = r.cell, r.time, r.memory, r.per_epoch, r.model
        pt, pm = r.paper_time_s, r.paper_gpu_memory_mb
        bpt, bpm = paper[(r.dataset, "ICLRec")]
        base = cells[(r.dataset, "ICLRec")]
        rec = {"dataset": r.dataset, "model": label, "harness_model": r.harness_model, "status": status_text(c),
               "n": t.n, "train_seconds": t.mean, "train_seconds_sd": t.sd, "epochs": r.epochs,
               "seconds_per_epoch": pe.mean, "peak_memory_mb": m.mean, "peak_memory_mb_sd": m.sd,
               "memory_kind": r.memory_kind, "device": r.device,
               "time_change_pct": r.time_change_pct, "time_per_epoch_change_pct": r.time_per_epoch_change_pct,
               "memory_change_pct": r.memory_change_pct,
               "paper_time_s": pt, "paper_gpu_memory_mb": pm,
               "paper_time_change_pct": pct_change(pt, bpt) if label != "ICLRec" else None,
               "paper_memory_change_pct": pct_change(pm, bpm) if label != "ICLRec" else None}
        records.append(rec)
        change_na = "-" if label == "ICLRec" else ("not comparable" if c.ok and base.ok else "-")
        rows.append({
            "Dataset": dataset_label(r.dataset), "Model": label,
            "Time (s)": fmt_mean_sd(t, 0) if t.n else state_text(c),
            "Time change": fmt_pct(rec["time_change_pct"]) if rec["time_change_pct"] is not None else change_na,
            "s/epoch": fmt(pe.mean, 1),
            "Memory (MB)": fmt_mean_sd(m, 0) if m.n else state_text(c),
            "Memory change": (fmt_pct(rec["memory_change_pct"]) if rec["memory_change_pct"] is not None
                              else change_na),
            "Memory kind": rec["memory_kind"], "Device": rec["device"],
            "Paper time (s)": fmt(pt, 0), "Paper time change": fmt_pct(rec["paper_time_change_pct"]),
            "Paper GPU memory (MB)": fmt(pm, 0), "Paper memory change": fmt_pct(rec["paper_memory_change_pct"]),
        })
    # The paper's "Avg" column: the change of the averages over the four datasets (4460 -> 4139 s: -7.18%).
    avg: dict[str, dict[str, float | None]] = {}
    for label, _ in EFFICIENCY_MODELS:
        mine = [r for r in records if r["model"] == label]
        full = all(r["train_seconds"] is not None for r in mine) and len(mine) == len(datasets)
        avg[label] = {
            "train_seconds": float(np.mean([r["train_seconds"] for r in mine])) if full else None,
            "peak_memory_mb": float(np.mean([r["peak_memory_mb"] for r in mine])) if full else None,
            "paper_time_s": _mean_or_none([r["paper_time_s"] for r in mine]),
            "paper_gpu_memory_mb": _mean_or_none([r["paper_gpu_memory_mb"] for r in mine]),
        }
    all_comparable = bool(frame["comparable"].all())
    for label, harness in EFFICIENCY_MODELS:
        a, b = avg[label], avg["ICLRec"]
        rec = {"dataset": "Avg", "model": label, "harness_model": harness, "status": "average over datasets",
               "train_seconds": a["train_seconds"], "peak_memory_mb": a["peak_memory_mb"],
               "time_change_pct": (pct_change(a["train_seconds"], b["train_seconds"])
                                   if label != "ICLRec" and all_comparable else None),
               "memory_change_pct": (pct_change(a["peak_memory_mb"], b["peak_memory_mb"])
                                     if label != "ICLRec" and all_comparable else None),
               "paper_time_s": a["paper_time_s"], "paper_gpu_memory_mb": a["paper_gpu_memory_mb"],
               "paper_time_change_pct": pct_change(a["paper_time_s"], b["paper_time_s"]) if label != "ICLRec" else None,
               "paper_memory_change_pct": (pct_change(a["paper_gpu_memory_mb"], b["paper_gpu_memory_mb"])
                                           if label != "ICLRec" else None)}
        records.append(rec)
        rows.append({"Dataset": "Avg", "Model": label, "Time (s)": fmt(a["train_seconds"], 0),
                     "Time change": fmt_pct(rec["time_change_pct"]), "s/epoch": "-",
                     "Memory (MB)": fmt(a["peak_memory_mb"], 0), "Memory change": fmt_pct(rec["memory_change_pct"]),
                     "Memory kind": "-", "Device": "-", "Paper time (s)": fmt(a["paper_time_s"], 0),
                     "Paper time change": fmt_pct(rec["paper_time_change_pct"]),
                     "Paper GPU memory (MB)": fmt(a["paper_gpu_memory_mb"], 0),
                     "Paper memory change": fmt_pct(rec["paper_memory_change_pct"])})
    data = pd.DataFrame(records)
    kinds = sorted({k for k in data["memory_kind"].dropna() if k != "-"})
    notes = [
        "Ours: mean ± sd over seeds of profile.json; time = `train_seconds` (all training epochs plus k-means, "
        "without validation); s/epoch = train_seconds / epochs. Changes are relative to ICLRec on the same "
        "dataset, and are given only where both models were measured on the same device with the same memory kind "
        "('not comparable' otherwise). Our runs stop early at different epochs; the paper ran the same epoch count, "
        "so s/epoch is the fairer comparison (`time_per_epoch_change_pct` in the CSV).",
        "Paper: Table 2 (ICLRec, ELCRec) and Table 11 (S3-Rec) on one RTX 4090; memory is GPU memory. The Avg row is "
        "the change of the averages over the four datasets (the paper's -7.18% time, -9.58% memory).",
        "Misprints: Table 11 prints ELCRec's Beauty memory as 1574 (Table 2: 1594, which matches its -11.35%); the "
        "text once says 9.48% instead of 9.58% average memory reduction.",
    ]
    if any("CPU" in k for k in kinds):
        notes.append("CPU peak RSS (the whole process's resident memory: Python, PyTorch, the dataset) and GPU memory "
                     "(tensors on the GPU only) are NOT comparable: compare only the changes between models measured "
                     "the same way, never the absolute megabytes with the paper's.")
    devices = sorted({d for d in data["device"].dropna() if d != "-"})
    if devices and not any("4090" in d for d in devices):
        notes.append(f"Our hardware ({'; '.join(devices)}) is not the paper's RTX 4090: absolute seconds differ.")
    notes += [f"`-`: {n}" for n in state_notes(cells)]
    write_table(data, Path(out_dir) / "table_efficiency", display=pd.DataFrame(rows), notes=notes,
                label="tab:efficiency",
                caption="Tables 2 and 11: training time and peak memory, ours beside the paper's")
    return data


def _mean_or_none(values: list[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else float(np.mean(values))


def _is_gpu(c: Cell) -> bool:
    return c.ok and all(str(k).startswith("cuda") for k in c.runs["memory_kind"].dropna()) and \
        c.runs["memory_kind"].notna().any()


def _device_text(c: Cell) -> str:
    return "; ".join(sorted({str(d) for d in c.runs["device"].dropna()})) if c.ok else "-"


def add_efficiency(rep: Report) -> None:
    """Tables 2 and 11: every published time and memory, claims E1-E5 (judged per epoch, on one device), all read
    from the table's frame (:func:`efficiency_frame`)."""
    frame = efficiency_frame(rep.cell, TABLE1_DATASETS)
    by = {(r["dataset"], r["model"]): r for _, r in frame.iterrows()}
    for r in paper_table("efficiency", as_printed=True).itertuples():
        row = by[(r.dataset, r.model)]
        c = row["cell"]
        on_4090 = c.ok and all("4090" in str(d) for d in c.runs["device"].dropna())
        gpu = _is_gpu(c)
        kind = "; ".join(sorted({MEMORY_KINDS.get(k, k) for k in c.runs["memory_kind"].dropna()})) if c.ok else "-"
        dev = _device_text(c)
        rep.compared.append(Compared(
            "Efficiency", f"{dataset_label(r.dataset)} {r.model} training time (s)", r.time_s, row["paper_time_s"],
            row["time"], ours_state(c), half_unit(r.time_s),
            f"ours on {dev}" + ("" if on_4090 else "; paper on an RTX 4090: absolute times are not comparable"),
            decimals=0, comparable=on_4090))
        note = r.source if "1574" in r.source and r.dataset == "Beauty" and r.model == "ELCRec" else ""
        rep.compared.append(Compared(
            "Efficiency", f"{dataset_label(r.dataset)} {r.model} memory (MB)", r.gpu_memory_mb,
            row["paper_gpu_memory_mb"], row["memory"], ours_state(c), half_unit(r.gpu_memory_mb),
            f"ours: {kind} on {dev}; paper: GPU memory on an RTX 4090" + (f"; {note}" if note else "")
            + ("" if gpu else "; CPU RSS and GPU memory are not comparable"),
            decimals=0, comparable=on_4090 and gpu))

    rep.claims += [
        change_claim(by, "E1", "ELCRec needs 22.5% less training time than ICLRec on Beauty (2922 s vs 3770 s; the "
                           "abstract's '22.5%')", ["Beauty"], "time"),
        change_claim(by, "E2", "ELCRec needs 7.18% less training time than ICLRec on average over the four datasets",
                     list(TABLE1_DATASETS), "time", average=True),
        change_claim(by, "E3", "ELCRec uses less memory than ICLRec on all four datasets (9.58% less on average)",
                     list(TABLE1_DATASETS), "memory"),
        change_claim(by, "E4", "S3-Rec takes more training time than ELCRec on all four datasets",
                     list(TABLE1_DATASETS), "time", model="S3-Rec", base="ELCRec", want_lower=False),
        change_claim(by, "E5", "S3-Rec uses more memory than ELCRec on all four datasets", list(TABLE1_DATASETS),
                     "memory", model="S3-Rec", base="ELCRec", want_lower=False),
    ]


def change_claim(by: dict[tuple[str, str], Any], cid: str, text: str, datasets: list[str], quantity: str,
                 model: str = "ELCRec", base: str = "ICLRec", want_lower: bool = True, average: bool = False) -> Claim:
    """Judged from means of the frame's rows ``by`` (dataset, model) (the paper gives no test): time per epoch and
    peak memory, same device only."""
    claim = Claim(cid, text, "Table 2" if model == "ELCRec" else "Table 11")
    parts, changes, reasons = [], [], []
    mine: dict[str, list[float]] = {model: [], base: []}
    key = "per_epoch" if quantity == "time" else "memory"
    for d in datasets:
        ra, rb = by[(d, model)], by[(d, base)]
        a, b = ra["cell"], rb["cell"]
        if not (a.ok and b.ok):
            label, missing = (model, a) if not a.ok else (base, b)
            reasons.append(f"{dataset_label(d)}: " + why_missing(label, missing))
            continue
        if not same_device(a, b):
            reasons.append(f"different hardware or memory measure between {model} and {base} on "
                           f"{dataset_label(d)}")
            continue
        on_gpu = _is_gpu(a) and _is_gpu(b)
        if not on_gpu:
            reasons.append(f"different hardware: measured on {_device_text(a)}, not a GPU" + (
                " (CPU peak RSS is not comparable with the paper's GPU memory)" if quantity == "memory" else
                " (the relative cost of k-means, contrastive views and the Transformer differs between CPU "
                "and the paper's RTX 4090)"))
        qa, qb = ra[key], rb[key]
        if not (qa.n and qb.n):
            reasons.append(f"no profile.json for {dataset_label(d)}")
            continue
        ch = change_pct(ra, rb, key)  # for base ICLRec: the table's change column
        p, _ = welch_greater(qb.array, qa.array) if want_lower else welch_greater(qa.array, qb.array)
        paper_key = "paper_time_s" if quantity == "time" else "paper_gpu_memory_mb"
        paper_ch = pct_change(ra[paper_key], rb[paper_key])
        parts.append(f"{dataset_label(d)} {ch:+.2f}% (paper {paper_ch:+.2f}%, p = {fmt_p(p, star=False)}, "
                     f"{_device_text(a)})")
        if on_gpu:  # numbers from other hardware are shown, never judged
            changes.append(ch)
            mine[model].append(qa.mean)
            mine[base].append(qb.mean)
    what = "s/epoch" if quantity == "time" else "peak memory"
    evidence = f"ours ({what}, {model} vs {base}): " + ("; ".join(parts) or "none")
    contradicted = any((c >= 0) if want_lower else (c <= 0) for c in changes)
    if reasons and not (contradicted and not average):
        hw = [r for r in reasons if r.startswith("different hardware")]
        return set_verdict(claim, UNTESTABLE, evidence, "; ".join(sorted(set(hw or reasons))))
    if average:
        ch = pct_change(float(np.mean(mine[model])), float(np.mean(mine[base])))
        evidence += f"; change of the averages {ch:+.2f}%"
        ok = ch < 0 if want_lower else ch > 0
    else:
        ok = all((c < 0) if want_lower else (c > 0) for c in changes)
    if not any("4090" in p for p in parts):
        evidence += "; measured on other hardware than the paper's RTX 4090, so magnitudes may differ"
    return judge(claim, evidence, refuted=not ok)


def printed_checks() -> list[tuple[str, str, float, float | None]]:
    """Table 2's printed changes recomputed from its own times and memory, and the two known misprints."""
    eff = paper_table("efficiency", as_printed=True)
    rows = []
    for (d, q), printed in PRINTED_EFFICIENCY_CHANGE.items():
        col = "time_s" if q == "time" else "gpu_memory_mb"
        sel = eff if d == "Avg" else eff[eff["dataset"] == d]
        new = np.mean([parse_number(v) for v in sel[sel["model"] == "ELCRec"][col]])
        old = np.mean([parse_number(v) for v in sel[sel["model"] == "ICLRec"][col]])
        rows.append(("Table 2 change", f"{d if d == 'Avg' else dataset_label(d)} {q}", printed, pct_change(new, old)))
    beauty = eff[(eff["dataset"] == "Beauty") & (eff["model"] == "ICLRec")]
    iclrec_beauty = parse_number(beauty["gpu_memory_mb"].iloc[0])
    rows.append(("Table 11 ELCRec Beauty memory 1574 MB", "Beauty memory vs Table 2's -11.35%", -11.35,
                 pct_change(1574.0, iclrec_beauty)))
    avg_memory = next(r[3] for r in rows if r[0] == "Table 2 change" and r[1] == "Avg memory")
    rows.append(("§4.4 text '9.48%' average memory", "Avg memory", -9.48, avg_memory))
    return rows
