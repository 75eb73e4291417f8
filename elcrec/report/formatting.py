"""How numbers are printed and read back in the paper tables and the reproduction report.

Why a module of its own: the tables, the reproduction report, the dataset table and the significance report
all turn missing values into "-"/"n/a", print means, percentages and p-values, and read the paper's printed
numbers ("1,000,209", "0.0286", "99.95%"); one implementation of each keeps their output consistent.
"""
from __future__ import annotations

import math
from typing import Any

SIGNIFICANCE_LEVEL = 0.05


def is_missing(value: Any) -> bool:
    """None or a float NaN: a value that prints as "-" (or "n/a")."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt(value: float | None, decimals: int = 4) -> str:
    return "-" if is_missing(value) else f"{value:.{decimals}f}"


def fmt_mean_sd(agg: Any, decimals: int = 4) -> str:
    """``mean ± sd`` of an :class:`elcrec.report.cells.Agg` ("-" without seeds, the mean alone for one seed)."""
    if agg.n == 0:
        return "-"
    return fmt(agg.mean, decimals) + ("" if agg.sd is None else f" ± {agg.sd:.{decimals}f}")


def fmt_p(p: float | None, star: bool = True) -> str:
    """A p-value as the paper prints it (``1.23e-04``), ``*`` below the significance level."""
    if p is None:
        return "n/a"
    return f"{p:.2e}" + ("*" if star and p < SIGNIFICANCE_LEVEL else "")


def fmt_pct(value: float | None, arrow: bool = False) -> str:
    """``+1.23%``, or with ``arrow`` the paper's ``1.23%↑`` / ``1.23%↓``."""
    if value is None:
        return "-"
    text = f"{abs(value):.2f}%" if arrow else f"{value:+.2f}%"
    return text + (("↑" if value >= 0 else "↓") if arrow else "")


def pct_change(new: float | None, old: float | None) -> float | None:
    if new is None or old is None or old == 0:
        return None
    return (new - old) / old * 100.0


def parse_number(text: str) -> float | None:
    """A printed number ("1,000,209", "0.0286") as a float; None for anything else ("-", "")."""
    try:
        return float(str(text).replace(",", ""))
    except ValueError:
        return None


def printed_decimals(text: str) -> int:
    """How many decimals a printed number shows: 4 for "0.0286", 0 for "5282" (commas ignored)."""
    text = str(text).strip().replace(",", "")
    return len(text.split(".")[1]) if "." in text else 0
