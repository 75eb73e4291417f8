"""The prepared GPU jobs, checked without a GPU: script syntax, the run packer's archive, the final table, and
the workflow's `gpu_slots` resource (a training job takes one slot only when runs are packed)."""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from argparse import Namespace
from pathlib import Path

import pytest

from benchmarks import gpu_table, pack_runs

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", ["gpu_env.sh", "gpu_bench.sh", "gpu_beauty_block.sh"])
def test_gpu_scripts_parse(script: str) -> None:
    result = subprocess.run(["bash", "-n", str(REPO / "benchmarks" / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_pack_runs_archives_small_files_only_and_every_status(tmp_path: Path) -> None:
    root = tmp_path / "work"
    run = root / "runs" / "Beauty" / "elcrec" / "seed1"
    run.mkdir(parents=True)
    for name in ("metrics.json", "train_log.csv", "profile.json", "config.json"):
        (run / name).write_text("{}" if name.endswith("json") else "epoch\n0\n")
    (run / "per_user_test.csv").write_text("user,rank\n0,3\n")
    (run / "model.pt").write_bytes(b"weights")
    (root / "logs").mkdir()
    (root / "logs" / "elcrec_seed1.log").write_text("epoch 0\n")
    args = Namespace(root=str(root), dataset="Beauty", slots=2, budget=10.0, provenance=None,
                     archive=str(tmp_path / "out" / "block.tar.gz"))
    plan = [{"model": "elcrec", "seed": 1, "status": "ok", "command": "x"},
            {"model": "iclrec", "seed": 1, "status": "not run: compute (never started within the job's budget)",
             "command": "y"}]
    pack_runs.archive(args, plan)
    with tarfile.open(args.archive) as tar:
        names = set(tar.getnames())
        saved = json.loads(tar.extractfile("published_runs_Beauty/plan.json").read())  # type: ignore[union-attr]
    base = "published_runs_Beauty/runs/Beauty/elcrec/seed1/"
    assert {base + n for n in ("metrics.json", "train_log.csv", "profile.json", "config.json",
                               "per_user_test.csv.gz")} <= names
    assert not any(n.endswith(".pt") for n in names)
    assert not any("iclrec" in n for n in names if "/runs/" in n)
    assert [r["status"] for r in saved["runs"]] == [p["status"] for p in plan]


def test_pack_runs_command_passes_model_settings() -> None:
    args = Namespace(root="/w", dataset="Beauty", device="cuda", data_mirror="m", data_dir=None,
                     set=["s3rec:pretrained=ck.pt", "max_epochs=2"])
    cmd = pack_runs.command(args, "s3rec", 2)
    assert cmd[cmd.index("--out") + 1] == "/w/runs/Beauty/s3rec/seed2"
    assert "pretrained=ck.pt" in cmd and "max_epochs=2" in cmd
    assert "pretrained=ck.pt" not in pack_runs.command(args, "elcrec", 1)


def test_gpu_table_reports_what_ran_and_what_did_not(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "records").mkdir()
    (tmp_path / "floor.log").write_text(json.dumps({"gflop_per_step": 26.15, "steps_per_epoch": 88,
                                                    "floor_s_per_epoch_train": 0.0343, "peak_tflops": 67,
                                                    "floor_ms_per_step_bytes": 0.005}) + "\n")
    entry = {"model": "elcrec", "mode": "graphed", "seconds_per_epoch": 0.5, "train_s_per_epoch": 0.343,
             "valid_s_per_epoch": 0.157, "first_epoch_s": 2.0, "peak_memory_mb": 470, "notes": []}
    (tmp_path / "records" / "modes.json").write_text(json.dumps({"entries": [entry]}))
    (tmp_path / "steps.txt").write_text("== full: not run (time: 10 s left of the job)\n")
    monkeypatch.setattr(sys, "argv", ["gpu_table", str(tmp_path)])
    gpu_table.main()
    out = capsys.readouterr().out
    assert "26.15 GFLOP/step" in out and "| elcrec | graphed | 0.500 |" in out and "| 10 |" in out
    assert "packing.json: not run" in out and "not finished in this job" in out and "official ELCRec code: not run" in out


def test_training_jobs_take_a_gpu_slot_only_when_packing(tmp_path: Path) -> None:
    def plan(*config: str) -> str:
        result = subprocess.run(["snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n", "-p",
                                 "--config", "preset=tiny", *config, "--", "runs"],
                                capture_output=True, text=True, timeout=600, cwd=REPO)
        assert result.returncode == 0, result.stderr
        return result.stdout + result.stderr

    packed = plan("gpu_slots=4", "step_mode=graphed")
    assert "gpu_slots=1" in packed and "--set step_mode=graphed" in packed
    assert "gpu_slots=1" not in plan()
