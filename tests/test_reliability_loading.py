"""Class 1 of issue 12: no file the harness loads can run code (resume.pt, checkpoints, data, configs).

A run folder may come from someone else (a shared results tree, an archive, ``--rerun-incomplete``): a pickle
in its ``resume.pt`` must be refused, not executed. A legitimate resume.pt still resumes.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from elcrec.cli import main
from elcrec.runs import RESUME, load_resume
from interrupts import interrupt_training_at
from tinyrun import train_args, write_dataset

REPO = Path(__file__).resolve().parents[1]
MARKER_NAME = "pwned"


class _Exploit:
    """Unpickling this calls ``Path.touch`` on a marker file: harmless proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (self.marker,))


def test_resume_pt_with_a_pickle_payload_is_refused_not_run(tmp_path: Path, capsys) -> None:
    data_dir = write_dataset(tmp_path / "data")
    out, marker = tmp_path / "run", tmp_path / MARKER_NAME
    out.mkdir()
    torch.save({"epoch": 0, "payload": _Exploit(marker)}, out / RESUME)
    with pytest.raises(Exception):  # what any consumer of load_resume sees
        load_resume(out)
    assert main(train_args(data_dir, out)) != 0
    err = capsys.readouterr().err
    assert not marker.exists(), "unpickling resume.pt ran code"
    assert "resume.pt" in err and "delete it" in err and "Traceback" not in err


def test_a_real_resume_pt_loads_safely_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = write_dataset(tmp_path / "data")
    out = tmp_path / "run"
    undo = interrupt_training_at(monkeypatch, 1)
    args = train_args(data_dir, out, "elcrec", "--set", "k=4", "--max-epochs", "2")
    with pytest.raises(KeyboardInterrupt):
        main(args)
    state = torch.load(out / RESUME, map_location="cpu", weights_only=True)  # plain data only
    assert state["epoch"] == 0
    undo()
    assert main(args) == 0
    assert (out / "metrics.json").exists() and not (out / RESUME).exists()


UNSAFE = [
    (re.compile(r"torch\.load\((?![^)]*weights_only=True)"), "torch.load without weights_only=True"),
    (re.compile(r"\bpickle\.loads?\(|\bdill\.|\bjoblib\.load\("), "pickle"),
    (re.compile(r"allow_pickle\s*=\s*True"), "np.load(allow_pickle=True)"),
    (re.compile(r"yaml\.(unsafe_)?load\((?![^)]*SafeLoader)"), "yaml.load (use yaml.safe_load)"),
    (re.compile(r"(?<![.\w])(eval|exec)\("), "eval/exec"),
]


def test_no_unsafe_loader_anywhere_in_the_harness() -> None:
    """Every torch.load is weights_only=True; no pickle, no allow_pickle, no yaml.load, no eval in the code."""
    sources = [p for d in ("elcrec", "baselines", "benchmarks", "rules") for p in (REPO / d).rglob("*")
               if p.suffix in (".py", ".smk")] + [REPO / "Snakefile"]
    found = []
    for path in sources:
        text = path.read_text()
        for pattern, what in UNSAFE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(REPO)}:{line}: {what}")
    assert not found, "\n".join(found)
