"""Figure 3 of the paper: how ELCRec's runs converge, from their train logs (train_log.csv, one row per epoch).

The paper's curves were read off its plot (``config/paper_reference/paper_convergence.csv``, ELCREC_METHOD.md
§4.6): validation HR@5 rises and plateaus, and the training loss drops sharply, then decays slowly; on Beauty it
ends negative (alpha = 10 multiplies a cluster loss in [-4, 4]). :func:`convergence_frame` holds, per dataset, the
per-seed numbers of those two shapes; the claims F3a (rise then plateau) and F3b (the sign of the final loss) are
judged from them, the plot-read levels are shown beside ours but not judged.
"""
from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from elcrec.report.cells import Agg
from elcrec.report.claims import UNTESTABLE, Claim, Compared, Report, judge, ours_state, set_verdict, why_missing
from elcrec.report.names import TABLE1_DATASETS, dataset_label
from elcrec.report.present import fmt, parse_number
from elcrec.report.reference import paper_table
from elcrec.runfolder import read_train_log, run_path

MODEL = "elcrec"
METRIC = "valid_HR@5"
LAST_EPOCHS = 10  # the plateau: the mean of the last epochs' validation HR@5 ...
PLATEAU_SHARE = 0.9  # ... is at least this share of the best
PLOT_TOLERANCE = 0.002  # validation HR@5 read off the paper's plot


def log_numbers(log: pd.DataFrame) -> dict[str, float] | None:
    """first / best / best_epoch / last (mean of the last LAST_EPOCHS) validation HR@5 and the final loss_total."""
    if METRIC not in log or "loss_total" not in log or log.empty:
        return None
    hr = log[["epoch", METRIC]].dropna()
    if hr.empty:
        return None
    best = hr.loc[hr[METRIC].idxmax()]
    return {"first": float(hr[METRIC].iloc[0]), "best": float(best[METRIC]), "best_epoch": float(best["epoch"]),
            "last": float(hr[METRIC].tail(LAST_EPOCHS).mean()), "final_loss": float(log["loss_total"].iloc[-1]),
            "epochs": float(len(log))}


def convergence_frame(rep: Report, datasets: Iterable[str] = TABLE1_DATASETS) -> pd.DataFrame:
    """One row per dataset: ELCRec's cell, an :class:`Agg` over seeds of each :func:`log_numbers` quantity (from
    the finished seeds' train logs) and the paper's plot-read values as printed."""
    printed = {r.dataset: r for r in paper_table("convergence", as_printed=True).itertuples()}
    rows = []
    for d in datasets:
        c = rep.cell(d, MODEL)
        per_seed: dict[int, dict[str, float]] = {}
        if c.ok and rep.runs_root is not None:
            for seed in c.runs["seed"]:
                log = read_train_log(run_path(rep.runs_root, d, MODEL, int(seed)))
                numbers = log_numbers(log) if log is not None else None
                if numbers is not None:
                    per_seed[int(seed)] = numbers
        keys = ("first", "best", "best_epoch", "last", "final_loss", "epochs")
        p = printed.get(d)
        rows.append({"dataset": d, "cell": c, **{k: Agg({s: v[k] for s, v in per_seed.items()}) for k in keys},
                     "paper_hr5": p.valid_hr5_plateau if p else "", "paper_epochs": p.plateau_epochs if p else "",
                     "paper_loss": p.final_loss if p else ""})
    return pd.DataFrame(rows, dtype=object)


def _shape_claims(r: Any) -> list[Claim]:
    label = dataset_label(r.dataset)
    rise = Claim(f"F3a.{label}", f"{label}: validation HR@5 rises, then plateaus (paper: about {r.paper_hr5} at "
                                 f"about epoch {r.paper_epochs})", "Figure 3", dataset=r.dataset)
    loss_sign = parse_number(r.paper_loss)
    below = loss_sign is not None and loss_sign < 0
    sign = Claim(f"F3b.{label}", f"{label}: the training loss ends {'below' if below else 'above'} zero (paper: "
                                 f"about {r.paper_loss})", "Figure 3", dataset=r.dataset)
    if not r.best.n:
        why = why_missing("ELCRec", r.cell) if not r.cell.ok else "no train_log.csv with validation HR@5"
        return [set_verdict(rise, UNTESTABLE, "", why), set_verdict(sign, UNTESTABLE, "", why)]
    seeds = sorted(r.best.values)
    parts, flat = [], []
    for s in seeds:
        first, best, last = r.first.values[s], r.best.values[s], r.last.values[s]
        parts.append(f"seed {s}: {fmt(first)} -> best {fmt(best)} at epoch {r.best_epoch.values[s]:.0f} of "
                     f"{r.epochs.values[s]:.0f}, last {LAST_EPOCHS} epochs {fmt(last)} ({last / best:.0%} of best)"
                     if best > 0 else f"seed {s}: validation HR@5 never above 0")
        if not (best > first and best > 0 and last >= PLATEAU_SHARE * best):
            flat.append(s)
    rise = judge(rise, "ours: " + "; ".join(parts) + f" (plateau: last {LAST_EPOCHS} epochs >= "
                 f"{PLATEAU_SHARE:.0%} of the best; the paper's level is read off its plot, not judged)",
                 refuted=bool(flat))
    losses = "; ".join(f"seed {s}: {r.final_loss.values[s]:+.3f}" for s in seeds)
    wrong = [s for s in seeds if (r.final_loss.values[s] < 0) != below]
    sign = judge(sign, f"ours, final loss_total: {losses}", refuted=bool(wrong))
    return [rise, sign]


def add_convergence(rep: Report) -> None:
    """Figure 3: the plot-read levels beside ours, and claims F3a / F3b for each dataset with ELCRec runs."""
    frame = convergence_frame(rep)
    for r in frame.itertuples():
        label, state = dataset_label(r.dataset), ours_state(r.cell)
        rep.compared += [
            Compared("Figure 3", f"{label} best validation HR@5", r.paper_hr5, parse_number(r.paper_hr5), r.best,
                     state, PLOT_TOLERANCE, "paper: the plateau read off its plot"),
            Compared("Figure 3", f"{label} epoch of the best validation HR@5", r.paper_epochs,
                     parse_number(r.paper_epochs), r.best_epoch, state, 0.0,
                     "paper: where the curve flattens, read off its plot", decimals=0, comparable=False),
            Compared("Figure 3", f"{label} final training loss (loss_total)", r.paper_loss,
                     parse_number(r.paper_loss), r.final_loss, state, 0.5, "paper: read off its plot", decimals=3),
        ]
        rep.claims += _shape_claims(r)
