"""Figure 2 of the paper: test HR@5 against alpha and k. Which run holds a point (:func:`sensitivity_runs`,
:func:`sensitivity_model`, :func:`own_value`) is decided here for the figure and the report alike; the claims
S1 (alpha) and S2 (k) are judged from the relative spread of our means over the paper's grid.
"""
from __future__ import annotations

from functools import lru_cache

import pandas as pd

from elcrec.errors import HarnessError
from elcrec.report.cells import Agg
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


def sensitivity_model(dataset: str, parameter: str, value: float, runs: pd.DataFrame) -> tuple[str | None, str]:
    """The run name holding ``parameter = value`` on ``dataset``: ``elcrec~alpha=0.1`` (as the workflow names it),
    or the plain ``elcrec`` run when that is the dataset's own setting and no named run exists."""
    name = variant_name(SENSITIVITY_MODEL, {parameter: value})
    if ((runs["dataset"] == dataset) & (runs["model"] == name)).any():
        return name, ""
    own = own_value(dataset, parameter)
    if own is not None and own == float(value):
        return SENSITIVITY_MODEL, f"the dataset's own {parameter}: the plain elcrec run"
    return name, ""


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
