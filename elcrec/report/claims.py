"""A claim of the paper with its verdict (:class:`Claim`), one published number beside ours (:class:`Compared`),
and the :class:`Report` that collects both while each table's module adds its section.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from elcrec.report.cells import Agg, Cell, cell, status_text
from elcrec.report.present import SIGNIFICANCE_LEVEL, fmt_mean_sd, pct_change
from elcrec.report.names import NOT_IMPLEMENTED

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
UNTESTABLE = "could not be tested"


# ----------------------------------------------------------------------------------------------------------------
# One compared number
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Compared:
    """A published number beside ours."""

    section: str
    item: str
    paper_text: str  # as printed / transcribed ("" when the paper prints "-")
    paper: float | None
    ours: Agg
    ours_state: str  # "ok", or what to print instead of a number ("not implemented", "not run: ...", "-")
    tolerance: float  # how far outside [min, max] over seeds still counts as within (printing precision)
    comment: str = ""
    decimals: int = 4
    comparable: bool = True  # False: different hardware or measure; no diff, no "within"
    ours_display: str | None = None  # replaces the mean ± sd text (p-values, dataset statistics)
    within_display: str | None = None  # replaces the computed "within" text

    @property
    def diff_pct(self) -> float | None:
        if not self.comparable or not self.ours.n:
            return None
        return pct_change(self.ours.mean, self.paper)

    @property
    def within(self) -> str:
        if self.within_display is not None:
            return self.within_display
        if self.paper is None or not self.ours.n:
            return "-"
        if not self.comparable:
            return "n/a (not comparable)"
        if self.ours.n < 2:
            return "n/a (1 seed)"
        lo, hi = self.ours.min - self.tolerance, self.ours.max + self.tolerance
        if self.paper < lo:
            return "no (paper below)"
        if self.paper > hi:
            return "no (paper above)"
        return "yes"

    def ours_text(self) -> str:
        if self.ours_display is not None:
            return self.ours_display
        if not self.ours.n:
            return self.ours_state
        return f"{fmt_mean_sd(self.ours, self.decimals)} (n={self.ours.n})"

    def record(self) -> dict[str, Any]:
        return {"section": self.section, "item": self.item, "paper_as_printed": self.paper_text, "paper": self.paper,
                "ours_mean": self.ours.mean, "ours_sd": self.ours.sd, "ours_n": self.ours.n, "ours_min": self.ours.min,
                "ours_max": self.ours.max, "ours_seed1": self.ours.seed1, "ours_state": self.ours_state,
                "ours_display": self.ours_text(),
                "diff_pct": self.diff_pct, "within_seed_spread": self.within, "comment": self.comment}


def ours_state(c: Cell) -> str:
    """What the report prints for our side when there is no number."""
    if c.ok:
        return "ok"
    if c.state in (NOT_IMPLEMENTED, "not run"):
        return c.reason if c.state == "not run" else NOT_IMPLEMENTED
    return f"- ({status_text(c)})"


# ----------------------------------------------------------------------------------------------------------------
# Claims
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Claim:
    id: str
    text: str
    source: str
    verdict: str = UNTESTABLE
    evidence: str = ""
    reason: str = ""  # for "could not be tested": model not implemented / dataset unavailable / too few seeds / ...
    holm_verdict: str = ""  # the verdict again with Holm-adjusted p-values, where the claim rests on a test
    dataset: str = ""  # the one dataset a claim is about ("" for claims over several)

    def verdict_text(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        holm = f"; with Holm: **{self.holm_verdict}**" if self.holm_verdict else ""
        return f"**{self.verdict}**{why}{holm}"

    def line(self) -> str:
        return f"| {self.id} | {self.text} ({self.source}) | {self.verdict_text()} | {self.evidence} |"


def set_verdict(claim: Claim, verdict: str, evidence: str, reason: str = "") -> Claim:
    claim.verdict, claim.evidence, claim.reason = verdict, evidence, reason
    return claim


def judge(claim: Claim, evidence: str, *, refuted: bool, untestable: str = "") -> Claim:
    """The usual order of a verdict: refuted by what we have > could not be tested (``untestable`` gives the
    reason) > supported."""
    if refuted:
        return set_verdict(claim, NOT_SUPPORTED, evidence)
    if untestable:
        return set_verdict(claim, UNTESTABLE, evidence, untestable)
    return set_verdict(claim, SUPPORTED, evidence)


def agg_text(label: str, a: Agg) -> str:
    return f"{label} {fmt_mean_sd(a)} (n={a.n})"


def why_missing(label: str, c: Cell) -> str:
    """Why a model has no number: the reason of a "could not be tested" verdict."""
    if c.state == NOT_IMPLEMENTED:
        return f"model not implemented: {label}"
    if c.state == "not run":
        return f"dataset unavailable ({c.reason})"
    return f"no finished run of {label} ({status_text(c)})"


def agree(p_paper: float | None, p_ours: float | None) -> str:
    """Whether the paper's p-value and ours fall on the same side of the significance level."""
    if p_paper is None or p_ours is None:
        return "n/a"
    return "yes" if (p_paper < SIGNIFICANCE_LEVEL) == (p_ours < SIGNIFICANCE_LEVEL) else "no"


# ----------------------------------------------------------------------------------------------------------------
# The report under construction
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Report:
    runs: pd.DataFrame
    stats_root: Path
    runs_root: Path | None = None  # where the run folders are (train logs for Figure 3)
    compared: list[Compared] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    dataset_verdicts: list[str] = field(default_factory=list)  # the per-dataset digest (elcrec.report.verdicts)
    _cells: dict[tuple[str, str | None], Cell] = field(default_factory=dict)

    def cell(self, dataset: str, harness: str | None) -> Cell:
        key = (dataset, harness)
        if key not in self._cells:
            self._cells[key] = cell(self.runs, dataset, harness)
        return self._cells[key]
