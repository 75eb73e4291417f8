"""Class 2 of issue 12: a finished run is never lost (replanned job, concurrent runs, failed or partial overwrite).

Each test trains a 1-layer model on a 30-user synthetic dataset (seconds) and compares every file of the
finished run byte for byte before and after.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from elcrec.cli import main
from elcrec.errors import HarnessError
from elcrec.train import Trainer
from tinyrun import train_args, tree, write_dataset

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def finished(tmp_path: Path) -> tuple[Path, Path]:
    """(data dir, run folder) of a finished ELCRec run with snapshots/."""
    data_dir = write_dataset(tmp_path / "data")
    out = tmp_path / "runs" / "seed1"
    assert main(train_args(data_dir, out, "elcrec", "--set", "k=4", "--set", "snapshot_epochs=0")) == 0
    assert (out / "snapshots" / "epoch000.npz").exists()
    return data_dir, out


def test_run_whose_metrics_json_snakemake_deleted_is_not_overwritten(finished, capsys) -> None:
    data_dir, out = finished
    (out / "metrics.json").unlink()  # what Snakemake does before re-running a job it sees as changed
    before = tree(out)
    assert main(train_args(data_dir, out, "elcrec", "--set", "k=4", "--set", "alpha=1")) != 0
    err = capsys.readouterr().err
    assert "finished run" in err and "--overwrite" in err and "Traceback" not in err
    assert tree(out) == before


def test_failed_overwrite_leaves_the_old_run_byte_identical(finished, monkeypatch, capsys) -> None:
    data_dir, out = finished
    before = tree(out)

    def crash(self: Trainer, epoch: int) -> dict:
        raise HarnessError("simulated failure in the middle of the new run")

    monkeypatch.setattr(Trainer, "train_epoch", crash)
    assert main(train_args(data_dir, out, "elcrec", "--set", "k=4", "--overwrite")) != 0
    assert "simulated failure" in capsys.readouterr().err
    assert tree(out) == before
    assert [p.name for p in out.parent.iterdir() if p.name.startswith("seed")] == ["seed1"]


def test_overwrite_replaces_the_whole_run_and_leaves_no_old_snapshots(finished) -> None:
    data_dir, out = finished
    old = tree(out)
    assert main(train_args(data_dir, out, "elcrec", "--set", "k=4", "--set", "snapshot_epochs=-1",
                           "--set", "alpha=1", "--overwrite")) == 0
    new = tree(out)
    # the old run's epoch-0 snapshot must not mix with the new run's (which saves only its final one)
    assert sorted(n for n in new if n.startswith("snapshots")) == ["snapshots/final.npz"]
    assert new["snapshots/final.npz"] != old["snapshots/final.npz"]
    assert new["metrics.json"] != old["metrics.json"] and "resume.pt" not in new
    assert sorted(p.name for p in out.parent.iterdir() if not p.name.startswith(".")) == ["seed1"]


def _hold_lock(out: Path) -> subprocess.Popen:
    code = ("import sys, time; from pathlib import Path; from elcrec.runs import run_lock\n"
            "with run_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_concurrent_training_into_one_folder_is_refused_and_a_killed_holder_does_not_block(tmp_path, capsys) -> None:
    data_dir = write_dataset(tmp_path / "data")
    out = tmp_path / "runs" / "seed1"
    holder = _hold_lock(out)
    try:
        assert main(train_args(data_dir, out)) != 0
        err = capsys.readouterr().err
        assert "another process" in err and str(holder.pid) in err and "Traceback" not in err
        assert not (out / "metrics.json").exists()
    finally:
        holder.send_signal(signal.SIGKILL)  # kill -9: no clean-up code runs
        holder.wait()
    time.sleep(0.1)
    assert main(train_args(data_dir, out)) == 0  # the kernel dropped the dead holder's lock: nothing stale
    assert (out / "metrics.json").exists()
