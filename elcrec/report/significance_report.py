"""report.md of the significance tests: the method in plain words, one plain-language headline per metric,
and compact tables of the paper's test and of ELCRec against the baselines and the ablation variants, worded
from the tables :func:`elcrec.report.significance.significance_tables` computed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from elcrec.report.present import fmt_p_short, fmt_pct_short, is_missing, to_markdown
from elcrec.report.significance import ALPHA, ELCREC, display_name, is_sensitivity
from elcrec.runfolder import METRIC_KEYS


# ----------------------------------------------------------------------------------------------- formatting


def _alt_label(alternative: str) -> str:
    return "two-sided" if alternative == "two-sided" else f"one-sided ({alternative})"


# ----------------------------------------------------------------------------------------------- report.md


def _intro(runs_root: Path, alternative: str, paired_seed: int, alpha: float, n_resamples: int,
           datasets: list[str]) -> list[str]:
    side = ("two-sided (H1: the two means differ; the sign of the difference says who is ahead)"
            if alternative == "two-sided" else "one-sided (H1: ELCRec's mean is higher than the other model's)")
    return [
        "# Significance tests",
        "",
        f"Runs read from `{runs_root}`; datasets: {', '.join(datasets) if datasets else 'none'}. "
        f"Significance level alpha = {alpha}. Per-dataset numbers (every test, CI and effect size) are in "
        "`<dataset>.csv` beside this file; the method is described in `docs/statistics.md`.",
        "",
        "## What is tested, and how",
        "",
        "- **Two units of evidence.** *Seeds*: each model is trained several times with different random seeds "
        "on the same split; each run gives one number per metric. *Users*: within one run, every test user has "
        "their own HR/NDCG value, and two models are scored on the same users.",
        "- **Welch's t-test over seeds** (primary test). Compares the mean over seeds of two models without "
        "assuming equal variances; seed k of one model has no relation to seed k of another, so the samples are "
        "treated as independent. Assumes the runs are independent and their mean is roughly normal; with a handful "
        "of seeds per model (3 in the paper preset) it has little power and normality cannot be checked, so read the confidence interval and "
        "the effect size, not only p.",
        f"- **Paired per-user tests on seed {paired_seed}** (the more powerful check). The per-user values of the "
        f"two models' seed-{paired_seed} runs are paired by user: paired t-test (primary), with the Wilcoxon "
        "signed-rank test (zero differences dropped) and a sign-flip permutation test of the mean difference "
        f"({n_resamples} random sign patterns, exact when at most 16 users differ) as second opinions. "
        "They say whether these two trained models differ on these users, not whether the difference survives "
        "another training seed; with thousands of users tiny differences become significant.",
        "- **The paper's test.** For each metric, the best and the runner-up main model by mean over seeds "
        "(ablation variants and sensitivity runs excluded), Welch's t-test one-sided in the direction "
        "best > runner-up, `*` when p < alpha with no correction, as in the paper's Table 1. The pair is chosen "
        "after looking at the means, so this p-value is optimistic; the paper's own p-value is shown beside ours.",
        f"- **Direction.** ELCRec-vs-baseline and ablation tests are {side}. Every CSV row states its "
        "alternative hypothesis in the `hypothesis` column.",
        "- **Multiple comparisons: Holm.** Within one family, Holm's step-down correction controls the chance of "
        "any false positive at alpha. A family is one dataset x one kind of comparison (ELCRec vs baselines, or "
        "ELCRec vs ablation variants) x one test, across all metrics and models. Metrics are strongly "
        "correlated, so this is conservative. The paper's test is reported uncorrected (with a Holm value over "
        "the dataset's metrics in the CSV).",
        "- **Effect sizes and intervals.** Relative difference of the means (%), the 95% CI of the mean "
        "difference (Welch–Satterthwaite df), Cohen's d (pooled SD; also Hedges' g) over seeds, and d_z (mean "
        "difference / SD of differences) with the paired-t 95% CI over users.",
        "- **Missing data.** With fewer than 2 seeds on a side (or no variance at all) there is no p-value and "
        "the note says why. Models that were not run are listed as `not run: <reason>`, never dropped.",
        "",
    ]


def _cell(row: pd.Series) -> str:
    if row["mean_b"] is None:
        return "not run"
    if row["mean_a"] is None:
        return "ELCRec not run"
    pw = fmt_p_short(row["p_welch_holm"]) + ("*" if row["p_welch_holm"] is not None and row["significant"] else "")
    pp = row["p_paired_holm"]
    pp_txt = fmt_p_short(pp) + ("*" if pp is not None and pp < row["_alpha"] else "")
    return f"{_difference(row)} · {pw} · {pp_txt}"


def _difference(row: pd.Series) -> str:
    """The relative difference, or the absolute one marked ``abs`` where the compared mean is 0 (no ratio)."""
    if is_missing(row["rel_diff_pct"]) and not is_missing(row["diff"]):
        return f"{row['diff']:+.4f} abs"
    return fmt_pct_short(row["rel_diff_pct"])




def _family_table(frame: pd.DataFrame, metrics: Sequence[str], alpha: float) -> str:
    frame = frame.copy()
    frame["_alpha"] = alpha
    table = []
    for opp, part in frame.groupby("model_b", sort=False):
        cells = {r["metric"]: _cell(r) for _, r in part.iterrows()}
        table.append({"model": display_name(str(opp)), **{m: cells.get(m, "") for m in metrics}})
    return to_markdown(pd.DataFrame(table, columns=["model", *metrics]))


def _headline(ds: str, row: pd.Series, alternative: str, paired_seed: int, alpha: float, strongest: bool) -> str:
    a, b = display_name(row["model_a"]), display_name(row["model_b"])
    who = f"{b} (the strongest baseline on this metric)" if strongest else b
    pct = _difference(row)
    side = "two-sided" if alternative == "two-sided" else "one-sided"
    paired = (f"paired per-user t-test on seed {paired_seed}: p = {fmt_p_short(row['p_paired'])}, Holm-adjusted "
              f"{fmt_p_short(row['p_paired_holm'])}" if row["p_paired"] is not None else "no paired per-user test")
    if row["p_welch"] is None:
        return (f"{a} vs {who} on {ds} {row['metric']}: {pct}; no seed-level p-value "
                f"({row['note'] or 'not computed'}); {paired}.")
    p_txt = f"Welch {side} p = {fmt_p_short(row['p_welch'])}, Holm-adjusted {fmt_p_short(row['p_welch_holm'])}"
    sig = row["p_welch_holm"] is not None and row["p_welch_holm"] < alpha
    ahead = (row["diff"] or 0.0) > 0
    if not row["diff"]:
        verb = f"{a} ties with {who} on {ds} {row['metric']} (equal means over seeds)"
    elif sig and ahead:
        verb = f"{a} beats {who} on {ds} {row['metric']} by {pct}"
    elif sig:
        verb = f"{a} trails {who} on {ds} {row['metric']} by {pct} (significant)"
    elif ahead:
        verb = f"{a} is ahead of {who} on {ds} {row['metric']} by {pct}, not significant over seeds"
    else:
        verb = f"{a} is behind {who} on {ds} {row['metric']} by {pct}, not significant over seeds"
    return f"{verb} ({p_txt}; {paired})."


def render_report(tables: dict[str, pd.DataFrame], runs_root: str | Path, *, alternative: str = "two-sided",
                  paired_seed: int = 1, alpha: float = ALPHA, n_resamples: int = 10_000,
                  metrics: Sequence[str] = METRIC_KEYS) -> str:
    lines = _intro(Path(runs_root), alternative, paired_seed, alpha, n_resamples, list(tables))
    if not tables:
        lines += ["No run directories were found.", ""]
    for ds, frame in tables.items():
        status: dict[str, str] = frame.attrs.get("status", {})
        models: list[str] = frame.attrs.get("models", [])
        frame = frame.astype(object).where(frame.notna(), None)
        lines += [f"## {ds}", ""]
        finished = [m for m in models if status.get(m, "").startswith(("ok", "partial"))]
        if not finished:
            reasons: dict[str, list[str]] = {}
            for m in models:
                reasons.setdefault(status.get(m) or "not run: no run directory", []).append(display_name(m))
            lines += [f"No model has a finished run on {ds}, so nothing is tested here."]
            lines += [f"- {why}: {', '.join(names)}" for why, names in reasons.items()] + [""]
            continue
        idle = [m for m in models if not is_sensitivity(m) and not status.get(m, "").startswith(("ok", "partial"))]
        partial = [m for m in models if status.get(m, "").startswith("partial")]
        sens = [m for m in models if is_sensitivity(m)]
        # headlines
        heads = []
        paper = frame[frame["family"] == "paper"]
        tested = paper[paper["p_welch"].notna()]
        if len(paper) and paper["model_b"].astype(bool).any():
            n_sig = int(sum(bool(s) for s in tested["significant"]))
            n_elc = int((paper["model_a"] == ELCREC).sum())
            heads.append(f"Paper's test: the best main model is ELCRec on {n_elc} of {len(paper)} metrics; the "
                         f"best is significantly above the runner-up (one-sided Welch p < {alpha}, uncorrected) "
                         f"on {n_sig} of {len(paper)}.")
        elif len(paper):
            heads.append("Paper's test: not possible here (fewer than two main models have a finished run).")
        base = frame[frame["family"] == "baselines"]
        if status.get(ELCREC, "not run: no run directory").startswith(("ok", "partial")):
            for metric in metrics:
                part = base[(base["metric"] == metric) & base["mean_b"].notna() & base["mean_a"].notna()]
                if part.empty:
                    continue
                top = part.loc[part["mean_b"].astype(float).idxmax()]
                heads.append(_headline(ds, top, alternative, paired_seed, alpha, strongest=True))
        else:
            heads.append(f"ELCRec has no finished run on {ds} ({status.get(ELCREC, 'no run directory')}); "
                         "no ELCRec comparison.")
        lines += ["**Headlines**", ""] + [f"- {h}" for h in heads] + [""]
        # the paper's test
        if len(paper):
            lines += ["### The paper's test: best vs runner-up (Welch, one-sided best > runner-up)", ""]
            rows = []
            for _, r in paper.iterrows():
                rows.append({
                    "metric": r["metric"],
                    "best (mean)": f"{display_name(r['model_a'])} ({r['mean_a']:.4f})" if r["mean_a"] is not None
                    else display_name(r["model_a"]) or "-",
                    "runner-up (mean)": f"{display_name(r['model_b'])} ({r['mean_b']:.4f})"
                    if r["mean_b"] is not None else "-",
                    "Impro.": fmt_pct_short(r["rel_diff_pct"]),
                    "p (one-sided)": fmt_p_short(r["p_welch"]) + (r["mark"] or ""),
                    "paper p": fmt_p_short(r["paper_p"]),
                    "note": r["note"] or "",
                })
            lines += [to_markdown(pd.DataFrame(rows)).rstrip("\n"), ""]
        legend = ("Each cell: difference of ELCRec's mean over seeds relative to the row's model · Holm-adjusted "
                  f"Welch p over seeds · Holm-adjusted paired per-user t-test p on seed {paired_seed}; "
                  f"`*` = adjusted p < {alpha}; n/a = no p-value (see the CSV's note); `abs` = absolute difference, "
                  "where the row's model has mean 0 and a ratio is undefined.")
        for family, title in (("baselines", "ELCRec vs baselines"), ("ablations", "ELCRec vs ablation variants")):
            part = frame[frame["family"] == family]
            if part.empty:
                continue
            lines += [f"### {title} ({_alt_label(alternative)})", "", legend, "",
                      _family_table(part, metrics, alpha).rstrip("\n"), ""]
        extra = []
        if idle:
            by_reason: dict[str, list[str]] = {}
            for m in idle:
                by_reason.setdefault(str(status.get(m)), []).append(f"{display_name(m)} (`{m}`)")
            extra += [f"{why.capitalize()}: {', '.join(names)}" for why, names in by_reason.items()]
        if partial:
            extra += [f"Partly run: {display_name(m)} ({m}): {status.get(m)}" for m in partial]
        if sens:
            extra.append(f"Sensitivity runs not tested here: {', '.join(sens)}")
        if extra:
            lines += [f"- {e}" for e in extra] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"
