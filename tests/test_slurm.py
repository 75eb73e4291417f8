"""The tiny preset through a real SLURM cluster (snakemake-executor-plugin-slurm) gives the local run's results.

Needs a running cluster: CI starts a single-node one with ``.ci/slurm_up.sh`` (slurmctld + slurmd, cons_tres,
accounting through slurmdbd so that the plugin's ``sacct`` polls work) and sets ELCREC_REQUIRE_SLURM=1, under
which a missing cluster fails instead of skipping. Uses ``profiles/slurm-cpu`` (the CI node has no GPU);
``test_gpu_profile_requests_gpus`` checks what ``profiles/slurm`` asks of a GPU cluster without submitting.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.workflow_run import REPO, snakemake

pytestmark = pytest.mark.slurm
TIMING = ["train_seconds", "seconds_per_epoch", "peak_memory_mb", "memory_kind", "device"]
TRAIN_RULES = ("train", "train_snapshots", "train_pretrain")


def cluster_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True).stdout.split()
    return any(s.rstrip("*~#") in ("idle", "mix", "alloc") for s in state)


@pytest.fixture(scope="module")
def slurm_workdir(shared_dir: Path, tmp_path_factory, request: pytest.FixtureRequest) -> Path:
    if not cluster_up():
        reason = "no SLURM cluster answers sinfo (start one with: sudo bash .ci/slurm_up.sh)"
        if os.environ.get("ELCREC_REQUIRE_SLURM") == "1":
            pytest.fail(reason + " and ELCREC_REQUIRE_SLURM=1", pytrace=False)
        pytest.skip(reason)
    pytest.importorskip("snakemake_executor_plugin_slurm")
    work = tmp_path_factory.mktemp("tiny-slurm")
    start = time.monotonic()
    result = snakemake(work, shared_dir, "all", extra=("--workflow-profile", str(REPO / "profiles" / "slurm-cpu")),
                       timeout=1500)
    seconds = time.monotonic() - start
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:  # the wall time in CI's log
        reporter.write_line(f"\ntiny preset through SLURM (profiles/slurm-cpu): {seconds:.0f} s wall")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-6000:]
    (work / "snakemake_slurm.log").write_text(result.stdout + result.stderr)
    return work


def test_tiny_preset_through_slurm_matches_the_local_run(slurm_workdir: Path, tiny_workflow: Path) -> None:
    local = pd.read_csv(tiny_workflow / "results" / "summary.csv").drop(columns=TIMING)
    slurm = pd.read_csv(slurm_workdir / "results" / "summary.csv").drop(columns=TIMING)
    pd.testing.assert_frame_equal(slurm, local)  # same runs, same seeds, same numbers (CPU, 1 thread)
    for table in ("table1_main", "table_mind", "table_ablation", "datasets"):
        assert (slurm_workdir / "paper_tables" / f"{table}.csv").read_text() == \
            (tiny_workflow / "paper_tables" / f"{table}.csv").read_text(), table
    local_files = {p.relative_to(tiny_workflow) for p in (tiny_workflow / "results" / "runs").rglob("*") if p.is_file()}
    slurm_files = {p.relative_to(slurm_workdir) for p in (slurm_workdir / "results" / "runs").rglob("*") if p.is_file()}
    assert slurm_files == local_files


def test_jobs_ran_as_slurm_jobs_with_accounting(slurm_workdir: Path) -> None:
    """Training went through sbatch and sacct saw every job complete; downloads stayed on the submit node."""
    log = (slurm_workdir / "snakemake_slurm.log").read_text()
    submitted = dict(re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_(\w+?)/", log))
    assert {"train", "train_snapshots", "train_pretrain", "summary"} <= set(submitted.values())
    assert not {"download", "derive", "not_run"} & set(submitted.values())  # localrules
    states = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", ",".join(submitted)],
                            capture_output=True, text=True).stdout
    state = dict(line.split("|") for line in states.splitlines() if line)
    assert set(state) == set(submitted) and set(state.values()) == {"COMPLETED"}


def test_gpu_profile_requests_gpus() -> None:
    """profiles/slurm: every training rule asks for a GPU, CPUs per GPU, memory, a runtime that grows per attempt."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm" and profile["retries"] >= 1
    for rule in TRAIN_RULES:
        res = profile["set-resources"][rule]
        assert res["gpu"] >= 1 and res["cpus_per_gpu"] >= 1 and res["mem_mb"] > 0
        assert "attempt" in str(res["runtime"])
        assert res["slurm_partition"] != profile["default-resources"]["slurm_partition"]
    cpu = yaml.safe_load((REPO / "profiles" / "slurm-cpu" / "config.yaml").read_text())
    assert all("gpu" not in cpu["set-resources"][rule] for rule in TRAIN_RULES)
