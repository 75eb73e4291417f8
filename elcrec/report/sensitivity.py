"""Figure 2 of the paper: test HR@5 against alpha and k. :func:`sensitivity_frame` decides which run holds each
point and holds its per-seed values; the figure (``figures_results.build_sensitivity``), the report's Figure 2
rows and the claims S1 (alpha) and S2 (k), judged from the relative spread of our means over the paper's grid,
all read it.
"""
from __future__ import annotations

from functools import lru_cache

import pandas as pd

from elcrec.errors import HarnessError
from elcrec.report.cells import cell
from elcrec.report.claims import Claim, Compared, Report, judge, ours_state
from elcrec.report.names import dataset_label
from elcrec.report.present import half_unit, parse_number
from elcrec.report.reference import paper_table
from elcrec.runfolder import parse_variant, variant_name

SENSITIVITY_TOLERANCE = 0.001  # the paper's Figure 2 values are read off a plot (ELCREC_METHOD.md §4.5)
SENSITIVITY_MODEL = "elcrec"


@lru_cache(maxsize=None)
def own_value(dataset: str, parameter: str) -> float | None:
    """The value the plain ``elcrec`` run uses on ``dataset``: config/models/elcrec.yaml over ELCRecConfig."""
    from elcrec.models.registry import resolve_config

    try:
        _, cfg = resolve_config(SENSITIVITY_MODEL, dataset)
    except HarnessError:
        return None
    value = getattr(cfg, parameter, None)
    return None if value is None else float(value)


def sensitivity_runs(runs: pd.DataFrame, dataset: str, parameter: str) -> dict[float, str]:
    """value -> run name, for every ``elcrec~<parameter>=<value>`` model with a run folder on ``dataset``."""
    found: dict[float, str] = {}
    for model in sorted(set(runs.loc[runs["dataset"] == dataset, "model"])):
        base, settings = parse_variant(model)
        if base != SENSITIVITY_MODEL or list(settings) != [parameter]:
            continue
        try:
            found[float(settings[parameter])] = model
        except ValueError:
            continue
    return found


FRAME_COLUMNS = ["dataset", "parameter", "value", "run", "from_plain", "cell", "hr5", "paper_text", "paper"]


def sensitivity_frame(runs: pd.DataFrame, parameter: str) -> pd.DataFrame:
    """The one frame behind Figure 2 (one panel per parameter) and the report's Figure 2 rows and claims S1/S2:
    a row per (dataset, value) of the paper's grid, in the paper's order, then per dataset with
    ``elcrec~<parameter>=<value>`` runs every other value they (or the dataset's own setting) add; each with the
    run that holds the point (``run``) and its per-seed test HR@5 (``hr5``, an Agg).

    Which run holds a point: ``elcrec~<parameter>=<value>`` when it has a run folder; else, for the dataset's own
    value (config/models/elcrec.yaml), the plain ``elcrec`` run (``from_plain``), over the seeds of the dataset's
    sensitivity runs when it has any, so every point of one curve is a mean over the same seeds.
    """
    paper = paper_table("sensitivity_hr5", as_printed=True)
    paper = paper[paper["parameter"] == parameter]
    printed = {(d, float(v)): t for d, v, t in zip(paper["dataset"], paper["value"], paper["HR@5_test_approx"])}
    by_dataset: dict[str, list[float]] = {}
    for d, v in printed:
        by_dataset.setdefault(d, []).append(v)
    found = {d: sensitivity_runs(runs, d, parameter) for d in sorted(set(runs["dataset"]))}
    for d, named in found.items():
        own = own_value(d, parameter) if named else None
        extra = sorted(set(named) | ({own} if own is not None else set()))
        by_dataset[d] = list(dict.fromkeys(by_dataset.get(d, []) + extra))
    rows = []
    for dataset, values in by_dataset.items():
        named = found.get(dataset, {})
        own = own_value(dataset, parameter)
        mine = runs[(runs["dataset"] == dataset) & runs["model"].isin(list(named.values()))
                    & (runs["state"] != "unfinished")]
        seeds = set(mine["seed"])
        for value in values:
            name, from_plain = named.get(value, variant_name(SENSITIVITY_MODEL, {parameter: value})), False
            if value not in named and own is not None and own == value:
                name, from_plain = SENSITIVITY_MODEL, True
            c = cell(runs[runs["seed"].isin(seeds)] if from_plain and seeds else runs, dataset, name)
            text = printed.get((dataset, value), "")
            rows.append({"dataset": dataset, "parameter": parameter, "value": value, "run": name,
                         "from_plain": from_plain, "cell": c, "hr5": c.agg("HR@5"), "paper_text": text,
                         "paper": parse_number(text)})
    return pd.DataFrame(rows, columns=FRAME_COLUMNS, dtype=object)


def spread_pct(values: list[float]) -> float:
    """Relative spread (max - min) / max of HR@5 over a grid, in percent: how claims S1/S2 measure sensitivity."""
    return (max(values) - min(values)) / max(values) * 100.0


def add_sensitivity(rep: Report) -> None:
    """Figure 2: every point read off the plot, claims S1 (alpha) and S2 (k)."""
    for i, parameter in enumerate(("alpha", "k"), start=1):
        grid = sensitivity_frame(rep.runs, parameter)
        grid = grid[grid["paper_text"] != ""]
        for r in grid.itertuples(index=False):
            comment = f"the dataset's own {parameter}: the plain elcrec run" if r.from_plain else ""
            rep.compared.append(Compared(
                "Figure 2", f"{dataset_label(r.dataset)} {parameter} = {r.value:g} (HR@5)", r.paper_text,
                r.paper, r.hr5, ours_state(r.cell), max(SENSITIVITY_TOLERANCE, half_unit(r.paper_text)),
                "; ".join(x for x in (f"run `{r.run}`", comment, "paper read off the plot, ±0.001") if x)))
        paper_spreads = {d: spread_pct([float(v) for v in g["paper"]]) for d, g in grid.groupby("dataset", sort=False)}
        limit = max(paper_spreads.values())
        parts, missing, ok = [], [], True
        for d, g in grid.groupby("dataset", sort=False):
            if not all(a.n for a in g["hr5"]):
                missing.append(dataset_label(d))
                continue
            s = spread_pct([a.mean for a in g["hr5"]])
            parts.append(f"{dataset_label(d)} {s:.1f}% (paper {paper_spreads[d]:.1f}%)")
            ok &= s <= limit
        symbol = "α" if parameter == "alpha" else "k"
        values = ", ".join(f"{v:g}" for v in sorted(set(grid["value"])))
        claim = Claim(f"S{i}", f"ELCRec is not very sensitive to {symbol}: HR@5 varies little over {symbol} ∈ "
                               f"{{{values}}}", "Figure 2")
        evidence = ("relative spread (max-min)/max of HR@5 over the grid, ours: " + ("; ".join(parts) or "none")
                    + f"; counted as 'not very sensitive' when no larger than the paper's own largest spread "
                      f"({limit:.1f}%)")
        untestable = "sensitivity runs missing for " + ", ".join(missing) if missing else ""
        rep.claims.append(judge(claim, evidence, refuted=not ok, untestable=untestable))
