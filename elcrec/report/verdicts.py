"""Verdicts per dataset: for every paper dataset with a finished ELCRec run, the claims the paper makes about that
dataset alone, judged from the frames of the tables (nothing is recomputed here), and the digest section of
reproduction.md that lists them together:

* ``<D>.C1-C4``: ELCRec's four Table-1 cells: the published value inside our mean ± 2 sd over seeds (widened by
  half a unit of its last printed digit), with our seed-1 run and the released seed-1 checkpoint's value beside it
  (``config/paper_reference/released_checkpoints.csv``, the metrics tests/test_golden_checkpoints.py reproduces);
* ``T1.n`` (from :mod:`elcrec.report.table1`): best vs runner-up, with the paper's test and with Holm's;
* ``<D>.A1-A4``: Table 10's order on the dataset (B+ICL vs B, B+ELCM vs B, ELCRec vs each), in the paper's
  direction (:func:`elcrec.report.ablation.order_claim` over :func:`~elcrec.report.ablation.ablation_frame`);
* ``<D>.E1-E2``: Table 2 on the dataset: ELCRec vs ICLRec in seconds per epoch and peak GPU memory, measured on one
  device (:func:`elcrec.report.efficiency.change_claim` over :func:`~elcrec.report.efficiency.efficiency_frame`);
* ``F3a/F3b.<D>`` (from :mod:`elcrec.report.convergence`): Figure 3's convergence from the train logs.
"""
from __future__ import annotations

import pandas as pd

from elcrec.report.ablation import ablation_frame, order_claim
from elcrec.report.claims import UNTESTABLE, Claim, Report, judge, set_verdict, why_missing
from elcrec.report.efficiency import change_claim, efficiency_frame
from elcrec.report.names import PAPER_METRICS, TABLE1_DATASETS, dataset_label
from elcrec.report.present import fmt, fmt_mean_sd, half_unit, md_table, parse_number, pct_change
from elcrec.report.reference import REFERENCE_DIR, paper_table
from elcrec.report.table1 import table1_frame

BAND_SDS = 2.0
ABLATION_PAIRS = (("B+ICL", "B"), ("B+ELCM", "B"), ("ELCRec", "B+ICL"), ("ELCRec", "B+ELCM"))


def released_checkpoints() -> pd.DataFrame:
    """The released seed-1 checkpoints' test metrics (as printed, 4 decimals), one row per file."""
    return pd.read_csv(REFERENCE_DIR / "released_checkpoints.csv", dtype=str, keep_default_na=False)


def cell_claims(rep: Report, dataset: str) -> list[Claim]:
    """C1-C4: ELCRec's published Table-1 cells against our mean ± 2 sd (the row of :func:`table1_frame`)."""
    label = dataset_label(dataset)
    frame = table1_frame(rep.cell, [dataset]).set_index("metric")
    paper = paper_table("table1_main", as_printed=True)
    printed = dict(paper[(paper["dataset"] == dataset) & (paper["model"] == "ELCRec")][["metric", "value"]].values)
    ckpt = released_checkpoints()
    ckpt = ckpt[(ckpt["model"] == "ELCRec") & (ckpt["dataset"] == dataset)]
    claims = []
    for i, metric in enumerate(PAPER_METRICS, 1):
        row = frame.loc[metric]
        a, c = row["aggs"]["ELCRec"], row["cells"]["ELCRec"]
        text_value, released = printed.get(metric, ""), (ckpt[metric].iloc[0] if len(ckpt) else "")
        claim = Claim(f"{label}.C{i}", f"{label} {metric}: ELCRec's published {text_value} lies within our mean ± "
                      f"{BAND_SDS:g} sd" + (f" (the released seed-1 checkpoint gives {released})" if released else
                                            " (no released checkpoint)"), "Table 1", dataset=dataset)
        band, value = a.band(BAND_SDS), parse_number(text_value)
        if not a.n:
            claims.append(set_verdict(claim, UNTESTABLE, "", why_missing("ELCRec", c)))
            continue
        seed1 = f"seed 1 {fmt(a.seed1)}" if a.seed1 is not None else "no seed 1"
        if band is None or value is None:
            claims.append(set_verdict(claim, UNTESTABLE, f"ours {fmt_mean_sd(a)} (n={a.n}); {seed1}",
                                      f"too few seeds (n={a.n}; the interval needs 2 or more)"))
            continue
        lo, hi = band
        tol = half_unit(text_value)
        inside = lo - tol <= value <= hi + tol
        where = "inside" if inside else ("below" if value < lo - tol else "above")
        evidence = (f"ours {fmt_mean_sd(a)} (n={a.n}): mean ± {BAND_SDS:g} sd = [{lo:.4f}, {hi:.4f}], the paper's "
                    f"{text_value} is {where} ({pct_change(a.mean, value):+.1f}% ours vs paper); {seed1}"
                    + (f"; released checkpoint {released}" if released else ""))
        claims.append(judge(claim, evidence, refuted=not inside))
    return claims


def ablation_claims(rep: Report, dataset: str) -> list[Claim]:
    """A1-A4: Table 10's order of the variants on one dataset, each pair in the paper's direction."""
    label = dataset_label(dataset)
    frame = ablation_frame(rep.cell, [dataset])
    paper = {r.variant: (r.paper, r.paper_text) for r in frame.itertuples()}
    claims = []
    for i, (better, worse) in enumerate(ABLATION_PAIRS, 1):
        if (paper[worse][0] or 0.0) > (paper[better][0] or 0.0):
            better, worse = worse, better
        text = f"{label}: {better} > {worse} in Table 10's sum (paper {paper[better][1]} vs {paper[worse][1]})"
        claim = order_claim(frame, f"{label}.A{i}", text, better, worse, [dataset])
        claim.dataset = dataset
        claims.append(claim)
    return claims


def efficiency_claims(rep: Report, dataset: str) -> list[Claim]:
    """E1-E2: ELCRec vs ICLRec on one dataset, seconds per epoch and peak memory (same device, GPU only)."""
    label = dataset_label(dataset)
    frame = efficiency_frame(rep.cell, [dataset])
    by = {(r["dataset"], r["model"]): r for _, r in frame.iterrows()}
    e, i = by[(dataset, "ELCRec")], by[(dataset, "ICLRec")]
    claims = [
        change_claim(by, f"{label}.E1", f"{label}: ELCRec needs less training time per epoch than ICLRec (paper: "
                     f"{e['paper_time_text']} s vs {i['paper_time_text']} s in total, "
                     f"{pct_change(e['paper_time_s'], i['paper_time_s']):+.2f}%)", [dataset], "time"),
        change_claim(by, f"{label}.E2", f"{label}: ELCRec uses less peak GPU memory than ICLRec (paper: "
                     f"{e['paper_memory_text']} MB vs {i['paper_memory_text']} MB, "
                     f"{pct_change(e['paper_gpu_memory_mb'], i['paper_gpu_memory_mb']):+.2f}%)", [dataset], "memory"),
    ]
    for c in claims:
        c.dataset = dataset
    return claims


def add_dataset_verdicts(rep: Report) -> None:
    """The claims above for every paper dataset with a finished ELCRec run, and the digest of each dataset."""
    datasets = [d for d in TABLE1_DATASETS if rep.cell(d, "elcrec").ok]
    lines = ["## Verdicts per dataset", ""]
    if not datasets:
        rep.dataset_verdicts = lines + [
            "No paper dataset has a finished ELCRec run here, so there are no per-dataset verdicts. With runs of a "
            "paper dataset (trained here, or published records: `--config records=...`, docs/published_records.md) "
            "this section lists, for each such dataset: ELCRec's Table-1 cells against our mean ± 2 sd with the "
            "released checkpoint beside them, best vs runner-up with the paper's test and with Holm's, Table 10's "
            "order, Table 2 measured on one device, and Figure 3's convergence.", ""]
        return
    for d in datasets:
        rep.claims += cell_claims(rep, d) + ablation_claims(rep, d) + efficiency_claims(rep, d)
    order = "CTAEF"  # cells, Table 1's test, Table 10, Table 2, Figure 3
    for d in datasets:
        label = dataset_label(d)
        kind = {c.id: (c.id[len(label) + 1] if c.id.startswith(f"{label}.") else c.id[0]) for c in rep.claims}
        mine = sorted((c for c in rep.claims if c.dataset == d), key=lambda c: order.index(kind[c.id]))
        counts = pd.Series([c.verdict for c in mine]).value_counts().to_dict()
        lines += [f"### {label}", "",
                  f"{len(mine)} claims about {label} alone: " + ", ".join(f"{v} {k}" for k, v in counts.items())
                  + ". ELCRec's cells (C), best vs runner-up (T1, with the verdict under Holm's correction beside "
                  "the paper's uncorrected test), Table 10's order (A), Table 2 on one device (E), Figure 3 (F3).", "",
                  md_table(["Claim", "Id", "Verdict", "Evidence"],
                           [[c.text, c.id, c.verdict_text(), c.evidence] for c in mine]), ""]
    rep.dataset_verdicts = lines
