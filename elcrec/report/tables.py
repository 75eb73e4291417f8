"""Write one table as Markdown, CSV and LaTeX (booktabs), atomically, from one DataFrame.

The CSV keeps raw values for pandas; Markdown and LaTeX show the formatted strings given in ``display`` (or
``str`` of each cell). Cell styling for later tables (bold best, underlined runner-up) is passed as markup
per cell: ``**x**``/``<u>x</u>`` in Markdown become ``\\textbf{x}``/``\\underline{x}`` in LaTeX.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from elcrec.fileio import write_text

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
