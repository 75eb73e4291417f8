"""The paper's published numbers (transcribed in ``config/paper_reference/paper_*.csv``)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "config" / "paper_reference"


def paper_table(name: str) -> pd.DataFrame:
    """Read ``paper_<name>.csv`` (e.g. ``datasets``, ``table1_main``, ``efficiency``)."""
    path = REFERENCE_DIR / f"paper_{name}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the paper's reference numbers ship with the repository")
    return pd.read_csv(path)
