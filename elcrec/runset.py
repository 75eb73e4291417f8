"""The run folders a report command reads: exactly the ones it is given, not whatever lies under results/runs.

The workflow passes each analysis job its declared run folders (``--run-dirs``), so a run left over from another
configuration never reaches a table. The report library reads a runs root laid out as
``{dataset}/{model}/seed{n}/``; :func:`selected_runs` builds such a root from symbolic links to exactly the given
folders (in a temporary folder, removed afterwards), so the library needs no second way of finding runs.
"""
from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from elcrec.errors import HarnessError

_SEED = re.compile(r"seed\d+")


@contextmanager
def selected_runs(runs_root: str | Path, run_dirs: Sequence[str | Path] | None) -> Iterator[Path]:
    """``runs_root`` itself when no run folders are given; else a root that holds exactly ``run_dirs``."""
    if not run_dirs:
        yield Path(runs_root)
        return
    with tempfile.TemporaryDirectory(prefix="elcrec-runs-") as tmp:
        view = Path(tmp) / "runs"
        for run in map(Path, run_dirs):
            if not run.is_dir():
                raise HarnessError(f"run folder {run} does not exist; train it first (or drop it from --run-dirs)")
            if not _SEED.fullmatch(run.name):
                raise HarnessError(f"{run} is not a run folder: expected .../{{dataset}}/{{model}}/seed<n>")
            link = view / run.parent.parent.name / run.parent.name / run.name
            if link.exists():
                raise HarnessError(f"{run}: two run folders given for {link.relative_to(view)}")
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(run.resolve(), link, target_is_directory=True)
        yield view


def write_not_run(out: Path, model: str, dataset: str, seed: int, reason: str) -> None:
    """A run that could not happen (dataset unavailable) says so in metrics.json instead of failing the workflow."""
    from elcrec.fileio import write_json

    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", {"status": f"not run: {reason}", "model": model, "dataset": dataset,
                                      "seed": seed, "test": None, "valid_best": None})
