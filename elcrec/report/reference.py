"""The paper's published numbers (transcribed in ``config/paper_reference/paper_*.csv``)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "config" / "paper_reference"


def paper_table(name: str, *, as_printed: bool = False) -> pd.DataFrame:
    """Read ``paper_<name>.csv`` (e.g. ``datasets``, ``table1_main``, ``efficiency``).

    ``as_printed``: every cell as the paper prints it (strings; a blank cell is ""), for comparisons at the
    printed precision; otherwise pandas' usual types.
    """
    path = REFERENCE_DIR / f"paper_{name}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the paper's reference numbers ship with the repository")
    if as_printed:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.read_csv(path)


def statistics_datasets() -> list[str]:
    """The datasets whose statistics the paper prints (Tables 6-7): the workflow computes them in every preset."""
    return list(paper_table("datasets", as_printed=True)["dataset"])
