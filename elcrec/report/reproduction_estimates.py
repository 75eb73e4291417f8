"""The claims the paper makes from point estimates, judged from our means: efficiency (Tables 2 and 11: time
per epoch and peak memory), the ablation (Table 10) and the sensitivity to alpha and k (Figure 2).

Why a module of its own: these sections give no significance test (p-values are shown as evidence only) and
depend on where and how a run was measured (device, memory kind, which run holds a sensitivity point); the
significance-tested sections live in ``reproduction_tested``. Each ``add_*`` appends to a
:class:`~elcrec.report.reproduction_base.Report`.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterable

import numpy as np
import pandas as pd

from elcrec.report.cells import Agg, Cell, ablation_sum, per_epoch_seconds, same_device, welch_greater
from elcrec.report.formatting import fmt, fmt_p, parse_number, pct_change
from elcrec.report.names import ABLATION_VARIANTS, EFFICIENCY_MODELS, MEMORY_KINDS, TABLE1_DATASETS, dataset_label
from elcrec.report.reference import paper_table
from elcrec.report.reproduction_base import (UNTESTABLE, Claim, Compared, Report, half_unit, judge, ours_state,
                                             set_verdict, why_missing)

SENSITIVITY_TOLERANCE = 0.001  # the paper's Figure 2 values are read off a plot (ELCREC_METHOD.md §4.5)


# ---------------------------------------------------------------------------------------------------- efficiency


def _is_gpu(c: Cell) -> bool:
    return c.ok and all(str(k).startswith("cuda") for k in c.runs["memory_kind"].dropna()) and \
        c.runs["memory_kind"].notna().any()


def _device_text(c: Cell) -> str:
    return "; ".join(sorted({str(d) for d in c.runs["device"].dropna()})) if c.ok else "-"


def add_efficiency(rep: Report) -> None:
    """Tables 2 and 11: every published time and memory, claims E1-E5 (judged per epoch, on one device)."""
    paper = paper_table("efficiency", as_printed=True)
    cells = {(d, lab): rep.cell(d, h) for d in TABLE1_DATASETS for lab, h in EFFICIENCY_MODELS}
    for r in paper.itertuples():
        c = cells.get((r.dataset, r.model)) or rep.cell(r.dataset, None)
        on_4090 = c.ok and all("4090" in str(d) for d in c.runs["device"].dropna())
        gpu = _is_gpu(c)
        kind = "; ".join(sorted({MEMORY_KINDS.get(k, k) for k in c.runs["memory_kind"].dropna()})) if c.ok else "-"
        dev = _device_text(c)
        rep.compared.append(Compared(
            "Efficiency", f"{dataset_label(r.dataset)} {r.model} training time (s)", r.time_s, parse_number(r.time_s),
            c.agg("train_seconds"), ours_state(c), half_unit(r.time_s),
            f"ours on {dev}" + ("" if on_4090 else "; paper on an RTX 4090: absolute times are not comparable"),
            decimals=0, comparable=on_4090))
        note = r.source if "1574" in r.source and r.dataset == "Beauty" and r.model == "ELCRec" else ""
        rep.compared.append(Compared(
            "Efficiency", f"{dataset_label(r.dataset)} {r.model} memory (MB)", r.gpu_memory_mb,
            parse_number(r.gpu_memory_mb), c.agg("peak_memory_mb"), ours_state(c), half_unit(r.gpu_memory_mb),
            f"ours: {kind} on {dev}; paper: GPU memory on an RTX 4090" + (f"; {note}" if note else "")
            + ("" if gpu else "; CPU RSS and GPU memory are not comparable"),
            decimals=0, comparable=on_4090 and gpu))
    pv = {(r.dataset, r.model): (parse_number(r.time_s), parse_number(r.gpu_memory_mb)) for r in paper.itertuples()}

    def change_claim(cid: str, text: str, datasets: list[str], quantity: str, model: str = "ELCRec",
                     base: str = "ICLRec", want_lower: bool = True, average: bool = False) -> Claim:
        """Judged from means (the paper gives no test): time per epoch and peak memory, same device only."""
        claim = Claim(cid, text, "Table 2" if model == "ELCRec" else "Table 11")
        parts, changes, reasons = [], [], []
        mine: dict[str, list[float]] = {model: [], base: []}
        for d in datasets:
            a, b = cells[(d, model)], cells[(d, base)]
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
            qa = per_epoch_seconds(a) if quantity == "time" else a.agg("peak_memory_mb")
            qb = per_epoch_seconds(b) if quantity == "time" else b.agg("peak_memory_mb")
            if not (qa.n and qb.n):
                reasons.append(f"no profile.json for {dataset_label(d)}")
                continue
            ch = pct_change(qa.mean, qb.mean)
            p, _ = welch_greater(qb.array, qa.array) if want_lower else welch_greater(qa.array, qb.array)
            paper_ch = pct_change(pv[(d, model)][0 if quantity == "time" else 1],
                                  pv[(d, base)][0 if quantity == "time" else 1])
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

    rep.claims += [
        change_claim("E1", "ELCRec needs 22.5% less training time than ICLRec on Beauty (2922 s vs 3770 s; the "
                           "abstract's '22.5%')", ["Beauty"], "time"),
        change_claim("E2", "ELCRec needs 7.18% less training time than ICLRec on average over the four datasets",
                     list(TABLE1_DATASETS), "time", average=True),
        change_claim("E3", "ELCRec uses less memory than ICLRec on all four datasets (9.58% less on average)",
                     list(TABLE1_DATASETS), "memory"),
        change_claim("E4", "S3-Rec takes more training time than ELCRec on all four datasets",
                     list(TABLE1_DATASETS), "time", model="S3-Rec", base="ELCRec", want_lower=False),
        change_claim("E5", "S3-Rec uses more memory than ELCRec on all four datasets", list(TABLE1_DATASETS),
                     "memory", model="S3-Rec", base="ELCRec", want_lower=False),
    ]


# ---------------------------------------------------------------------------------------------------- ablation


def add_ablation(rep: Report) -> None:
    """Table 10: every published ablation sum, claims A1-A4 (judged from means)."""
    paper = paper_table("ablation", as_printed=True)
    sums = {(d, v): ablation_sum(rep.cell(d, h)) for d in TABLE1_DATASETS for v, h in ABLATION_VARIANTS}
    cells = {(d, v): rep.cell(d, h) for d in TABLE1_DATASETS for v, h in ABLATION_VARIANTS}
    for r in paper.itertuples():
        text = r.sum_HR5_HR20_NDCG5_NDCG20
        c = cells[(r.dataset, r.variant)]
        rep.compared.append(Compared("Table 10", f"{dataset_label(r.dataset)} {r.variant}", text, parse_number(text),
                                     sums[(r.dataset, r.variant)], ours_state(c), half_unit(text),
                                     "sum HR@5+HR@20+NDCG@5+NDCG@20"))

    def order_claim(cid: str, text: str, better: str, worse: str, datasets: Iterable[str]) -> Claim:
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

    rep.claims += [
        order_claim("A1", "The ELCM module alone improves the backbone on all four datasets (B+ELCM > B)",
                    "B+ELCM", "B", TABLE1_DATASETS),
        order_claim("A2", "The ICL module alone improves the backbone on all four datasets (B+ICL > B)",
                    "B+ICL", "B", TABLE1_DATASETS),
        order_claim("A3", "The full ELCRec beats B+ELCM on Sports, Beauty and Yelp", "ELCRec", "B+ELCM",
                    ("Sports_and_Outdoors", "Beauty", "Yelp")),
        order_claim("A4", "On Toys, B+ELCM beats the full ELCRec (ICL hurts there, as the paper admits)", "B+ELCM",
                    "ELCRec", ("Toys_and_Games",)),
    ]


# ---------------------------------------------------------------------------------------------------- sensitivity


def sensitivity_model(dataset: str, parameter: str, value: float, runs: pd.DataFrame) -> tuple[str | None, str]:
    """The run name holding ``parameter = value`` on ``dataset``: ``elcrec~alpha=0.1`` (as rules/common.smk names
    it), or the plain ``elcrec`` run when that is the dataset's own setting and no named run exists."""
    name = f"elcrec~{parameter}={value:g}"
    if ((runs["dataset"] == dataset) & (runs["model"] == name)).any():
        return name, ""
    own = _elcrec_settings(dataset).get(parameter)
    if own is not None and float(own) == float(value):
        return "elcrec", f"the dataset's own {parameter}: the plain elcrec run"
    return name, ""


@lru_cache(maxsize=None)
def _elcrec_settings(dataset: str) -> dict[str, Any]:
    from elcrec.models.registry import dataset_settings, get_entry

    return dataset_settings(get_entry("elcrec"), dataset)


def add_sensitivity(rep: Report) -> None:
    """Figure 2: every point read off the plot, claims S1 (alpha) and S2 (k)."""
    paper = paper_table("sensitivity_hr5", as_printed=True)
    grid: dict[tuple[str, str], dict[float, tuple[float, Agg]]] = {}
    for r in paper.to_dict("records"):
        value, text = float(r["value"]), r["HR@5_test_approx"]
        name, comment = sensitivity_model(r["dataset"], r["parameter"], value, rep.runs)
        c = rep.cell(r["dataset"], name)
        a = c.agg("HR@5")
        rep.compared.append(Compared(
            "Figure 2", f"{dataset_label(r['dataset'])} {r['parameter']} = {r['value']} (HR@5)", text,
            parse_number(text), a, ours_state(c), max(SENSITIVITY_TOLERANCE, half_unit(text)),
            "; ".join(x for x in (f"run `{name}`", comment, "paper read off the plot, ±0.001") if x)))
        grid.setdefault((r["dataset"], r["parameter"]), {})[value] = (float(text), a)

    def spread(values: list[float]) -> float:
        return (max(values) - min(values)) / max(values) * 100.0

    for i, parameter in enumerate(("alpha", "k"), start=1):
        keys = [k for k in grid if k[1] == parameter]
        paper_spreads = {d: spread([v[0] for v in grid[(d, p)].values()]) for d, p in keys}
        limit = max(paper_spreads.values())
        parts, missing, ok = [], [], True
        for d, p in keys:
            points = grid[(d, p)]
            if not all(a.n for _, a in points.values()):
                missing.append(dataset_label(d))
                continue
            s = spread([a.mean for _, a in points.values()])
            parts.append(f"{dataset_label(d)} {s:.1f}% (paper {paper_spreads[d]:.1f}%)")
            ok &= s <= limit
        symbol = "α" if parameter == "alpha" else "k"
        values = ", ".join(f"{v:g}" for v in sorted({v for (d, p), pts in grid.items() if p == parameter for v in pts}))
        claim = Claim(f"S{i}", f"ELCRec is not very sensitive to {symbol}: HR@5 varies little over {symbol} ∈ "
                               f"{{{values}}}", "Figure 2")
        evidence = ("relative spread (max-min)/max of HR@5 over the grid, ours: " + ("; ".join(parts) or "none")
                    + f"; counted as 'not very sensitive' when no larger than the paper's own largest spread "
                      f"({limit:.1f}%)")
        untestable = "sensitivity runs missing for " + ", ".join(missing) if missing else ""
        rep.claims.append(judge(claim, evidence, refuted=not ok, untestable=untestable))
