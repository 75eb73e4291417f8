"""How the report prints: numbers and p-values, the paper's printed numbers read back, and one table written as
Markdown, CSV and LaTeX (booktabs), atomically.

Two p-value styles exist on purpose: ``fmt_p``/``fmt_pct`` print as the paper's tables do (``1.23e-04*``,
``+1.23%``); ``fmt_p_short``/``fmt_pct_short`` are the compact forms of the significance report, whose cells
hold three numbers each. In a written table the CSV keeps raw values; Markdown and LaTeX show the strings of
``display``, where ``**x**``/``<u>x</u>`` become ``\\textbf{x}``/``\\underline{x}`` in LaTeX.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from elcrec.fileio import write_text

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


def fmt_p_short(p: float | None) -> str:
    """A compact p-value (``0.032``, ``2.1e-05``); ``n/a`` when missing."""
    if is_missing(p):
        return "n/a"
    if p < 1e-4:
        return f"{p:.1e}"
    return f"{p:.2g}"


def fmt_pct_short(x: float | None) -> str:
    """A relative difference to one decimal (``+1.2%``); ``n/a`` when missing."""
    if is_missing(x):
        return "n/a"
    return f"{x:+.1f}%"


def half_unit(text: str) -> float:
    """Half a unit of the last printed digit: 0.00005 for "0.0286", 0.0005 for "0.239", 0.5 for "5282"."""
    text = str(text).strip().replace(",", "")
    if "e" in text.lower() or not text:
        return 0.0
    return 0.5 * 10.0 ** (-printed_decimals(text))


# ---------------------------------------------------------------------------------------------------- writers

_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                  "±": r"$\pm$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "α": r"$\alpha$", "≥": r"$\geq$",
                  "≤": r"$\leq$", "×": r"$\times$", "–": "--", "—": "---"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _latex_cell(text: str) -> str:
    bold = re.fullmatch(r"\*\*(.*)\*\*", text)
    if bold:
        return r"\textbf{" + _latex_cell(bold.group(1)) + "}"
    under = re.fullmatch(r"<u>(.*)</u>", text)
    if under:
        return r"\underline{" + _latex_cell(under.group(1)) + "}"
    return latex_escape(text)


def md_table(header: Iterable[Any], rows: Iterable[Iterable[Any]]) -> str:
    """A Markdown table (no trailing newline); ``|`` inside a cell is escaped."""
    header = [str(h) for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(display: pd.DataFrame, caption: str = "") -> str:
    table = md_table(display.columns, display.itertuples(index=False))
    return "\n".join(([caption, ""] if caption else []) + [table]) + "\n"


def to_latex(display: pd.DataFrame, caption: str = "", label: str = "") -> str:
    spec = "l" + "r" * (len(display.columns) - 1)
    lines = [r"\begin{table}[t]", r"\centering"]
    if caption:
        lines.append(r"\caption{" + latex_escape(caption) + "}")
    if label:
        lines.append(r"\label{" + label + "}")
    lines += [r"\begin{tabular}{" + spec + "}", r"\toprule",
              " & ".join(latex_escape(str(c)) for c in display.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex_cell(str(v)) for v in row) + r" \\" for row in display.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_table(
    data: pd.DataFrame,
    prefix: str | Path,
    caption: str = "",
    label: str = "",
    display: pd.DataFrame | None = None,
    notes: list[str] | None = None,
) -> list[Path]:
    """Write ``prefix.md``, ``prefix.csv`` and ``prefix.tex``; return the three paths."""
    prefix = Path(prefix)
    display = (data if display is None else display).astype(str)
    md = to_markdown(display, caption)
    if notes:
        md += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    paths = [prefix.with_suffix(".md"), prefix.with_suffix(".csv"), prefix.with_suffix(".tex")]
    write_text(paths[0], md)
    write_text(paths[1], data.to_csv(index=False))
    write_text(paths[2], to_latex(display, caption, label))
    return paths
