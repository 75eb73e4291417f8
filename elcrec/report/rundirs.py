"""The layout of the runs folder, ``results/runs/{dataset}/{model}/seed{n}/``: what counts as a run directory.

Why a module of its own: the summary (behind every table and report) and the figures both walk run directories
and must recognise the same ones; the figures cannot import ``elcrec.report.summary`` without pulling in torch
(through ``elcrec.evaluate``), so the rule lives here, with no dependencies.
"""
from __future__ import annotations

import re
from pathlib import Path

SEED_DIR = re.compile(r"seed(\d+)")


def seed_of(run: Path) -> int | None:
    """The seed of a run directory named ``seed<integer>``; None for any other name."""
    match = SEED_DIR.fullmatch(run.name)
    return int(match.group(1)) if match else None
