"""The workflow's contract with clusters and reruns, checked without training: what parsing imports, which runs
get a 'not run' record, which dataset failures are loud, GPU pinning, and reports that read only the runs given."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
import yaml

from elcrec.cli import main
from elcrec.gpu_pin import take_devices
from tests.fakeruns import make_run
from tests.workflow_run import REPO, snakemake


def dry_run(workdir: Path, *config: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return snakemake(workdir, "", "all", extra=("-n", "--quiet", "rules"), mirror="", config=config, env=env,
                     timeout=300)


def planned(result: subprocess.CompletedProcess) -> dict[str, int]:
    """rule -> job count from the `--quiet rules` job table of a dry run."""
    counts = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts


def test_parsing_the_workflow_imports_no_torch(tmp_path: Path) -> None:
    """A submit node (or `snakemake -n`) never pays for torch: a torch that fails to import changes nothing."""
    fake = tmp_path / "site" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('torch imported while parsing the workflow')\n")
    env = {"PYTHONPATH": f"{fake.parent}:{REPO}"}
    result = dry_run(tmp_path / "work", "preset=quick", env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert planned(result)["train"] > 0


def test_mind_small_missing_from_the_mirror_is_planned_as_not_run(shared_dir: Path, tmp_path: Path) -> None:
    result = snakemake(tmp_path, shared_dir, "all", extra=("-n", "--quiet", "rules"), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = planned(result)
    tiny = yaml.safe_load((REPO / "config" / "presets" / "tiny.yaml").read_text())
    runs = len(tiny["models"]) * len(tiny["seeds"])
    assert jobs["not_run"] == runs  # MIND-small (not in the mirror): every model x seed
    assert jobs["train"] + jobs["train_snapshots"] + jobs["train_pretrain"] == runs + 4  # Beauty-sub100 + sensitivity


def test_without_a_mirror_only_impossible_runs_are_not_run(tmp_path: Path) -> None:
    """Online, MIND-small is trained like any dataset; S3-Rec with attributes is 'not run' where none exist."""
    jobs = planned(dry_run(tmp_path, "preset=tiny"))
    assert jobs["not_run"] == 2  # s3rec on MIND-small (no item attributes), 2 seeds


def test_a_required_dataset_missing_from_the_mirror_fails_naming_it(tmp_path: Path) -> None:
    empty = tmp_path / "mirror"
    empty.mkdir()
    result = snakemake(tmp_path / "work", "", "results/data/Beauty/stats.json", mirror=str(empty),
                       config=('datasets=["Beauty"]',), timeout=300)
    assert result.returncode != 0
    assert "dataset Beauty is unavailable" in result.stdout + result.stderr
    assert not (tmp_path / "work" / "results" / "data" / "Beauty" / "stats.json").exists()


def test_record_not_run_refuses_a_run_that_can_happen(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data" / "Beauty"
    data.mkdir(parents=True)
    (data / "status.json").write_text('{"dataset": "Beauty", "status": "ok", "sha256": "x"}')
    (data / "item2attributes.json").write_text("{}")
    rc = main(["train", "--dataset", "Beauty", "--model", "s3rec", "--record-not-run", "--data-dir",
               str(tmp_path / "data"), "--out", str(tmp_path / "run" / "seed1")])
    assert rc == 2 and "can run" in capsys.readouterr().err
    (data / "item2attributes.json").unlink()
    rc = main(["train", "--dataset", "Beauty", "--model", "s3rec", "--record-not-run", "--data-dir",
               str(tmp_path / "data"), "--out", str(tmp_path / "run" / "seed1")])
    assert rc == 0 and "needs item2attributes.json" in (tmp_path / "run" / "seed1" / "metrics.json").read_text()


def test_device_cuda_without_cuda_is_one_clear_error(tmp_path: Path, capsys) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is present here")
    from elcrec.cli import _device

    with pytest.raises(Exception, match="no CUDA device is visible"):
        _device("cuda")


def test_reports_read_only_the_run_folders_given(tmp_path: Path) -> None:
    """summary --run-dirs: a leftover run (another configuration's seed 7) under the same root stays out."""
    kept = [make_run(tmp_path, "Beauty", "elcrec", s) for s in (1, 2)]
    make_run(tmp_path, "Beauty", "elcrec", 7, quality=5.0)
    out = tmp_path / "summary.csv"
    assert main(["summary", "--runs", str(tmp_path / "results" / "runs"), "--run-dirs", *map(str, kept),
                 "--out", str(out), "--cells", str(tmp_path / "cells.csv")]) == 0
    assert sorted(pd.read_csv(out).seed.unique()) == [1, 2]
    assert main(["summary", "--runs", str(tmp_path / "results" / "runs"), "--out", str(out),
                 "--cells", str(tmp_path / "cells.csv")]) == 0
    assert sorted(pd.read_csv(out).seed.unique()) == [1, 2, 7]  # without --run-dirs: everything under --runs


def test_gpu_pin_gives_concurrent_jobs_different_devices(tmp_path: Path) -> None:
    first, locks1 = take_devices(2, 1, tmp_path)
    second, locks2 = take_devices(2, 1, tmp_path)
    assert second != first  # the second job gets the other GPU
    third: list[tuple] = []
    waiter = threading.Thread(target=lambda: third.append(take_devices(2, 1, tmp_path, wait_s=0.05)))
    waiter.start()
    waiter.join(0.3)
    assert not third  # both GPUs held: the third job waits
    for fh in locks1:
        fh.close()
    waiter.join(5)
    assert third and third[0][0] == first  # and takes the GPU the first job released
    for fh in locks2 + third[0][1]:
        fh.close()


def test_gpu_pin_sets_cuda_visible_devices(tmp_path: Path) -> None:
    code = "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"
    result = subprocess.run([sys.executable, "-m", "elcrec.gpu_pin", "--devices", "4", "--take", "2", "--",
                             sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env={"PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0,1"


def test_snapshots_of_a_resumed_run_survive_the_failed_attempt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                one_torch_thread: None) -> None:
    """snapshots/ is a declared output, which Snakemake deletes when a job fails: the trainer keeps the snapshots
    taken so far in snapshots.partial/ (like resume.pt) and moves them to snapshots/ only when the run finishes."""
    from interrupts import interrupt_training_at
    from tests.test_trainer import make_trainer

    out = tmp_path / "run"
    undo = interrupt_training_at(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        make_trainer(out).fit()
    assert not (out / "snapshots").exists()  # nothing of the declared output yet: a failed job's cleanup loses none
    taken = ["epoch000.npz"]  # ELCRec's default snapshot_epochs (0, 50, ...): epoch 0 within these 3 epochs
    assert sorted(p.name for p in (out / "snapshots.partial").iterdir()) == taken
    undo()
    make_trainer(out).fit()
    assert sorted(p.name for p in (out / "snapshots").iterdir()) == [*taken, "final.npz"]
    assert not (out / "snapshots.partial").exists()
