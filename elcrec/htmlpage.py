"""A Markdown table or report as one self-contained HTML page, for the Snakemake report.

Snakemake's report shows HTML (and images) inline but offers Markdown only as a download; the workflow therefore
renders each table and the significance and reproduction reports to HTML beside their Markdown (which stays the
file to read in a terminal or diff).
"""
from __future__ import annotations

import html
from pathlib import Path

from elcrec.errors import HarnessError
from elcrec.fileio import write_text

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; font-size: 14px; margin: 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f2f2f2; }
code { background: #f5f5f5; padding: 0 2px; }
"""


def markdown_to_html(text: str, title: str) -> str:
    """A full HTML document of Markdown ``text`` (pipe tables, lists, emphasis, code)."""
    import markdown

    body = markdown.markdown(text, extensions=["tables", "fenced_code", "sane_lists"], output_format="html")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def write_html_page(source: str | Path, out: str | Path) -> Path:
    """Render the Markdown file ``source`` to ``out`` (atomically)."""
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HarnessError(f"cannot read {path} ({exc.strerror}); build it first") from None
    write_text(out, markdown_to_html(text, path.stem))
    return Path(out)
