"""Class 5 of issue 12: any ``--config key=value`` wins, lists and nested settings included, and is range-checked.

Snakemake parses nested --config values as strings (``seeds=[3]`` gives ``['3']``); rules/common.smk retypes
them by config/schema.yaml before validating, so the README's promise holds without --configfile.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def dry_run(tmp_path: Path, *config: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n", "-p", "--config",
                           "preset=tiny", 'datasets=["Beauty-sub100"]', "models=[sasrec]", *config, "--", "runs"],
                          capture_output=True, text=True, timeout=600)


def test_list_and_nested_config_values_are_typed_and_win(tmp_path: Path) -> None:
    result = dry_run(tmp_path, "seeds=[3,4]", "protocol={max_epochs: 2, lr: 0.005}", "sensitivity={seeds: [2]}")
    assert result.returncode == 0, result.stdout + result.stderr
    trains = [line for line in result.stdout.splitlines() if "elcrec train" in line]
    assert trains and all("--max-epochs 2" in t and "--set lr=0.005" in t for t in trains)
    seeds = {t.split("--model ")[1].split()[0]: set() for t in trains}
    for t in trains:
        seeds[t.split("--model ")[1].split()[0]].add(t.split("--seed ")[1].split()[0])
    assert seeds.pop("sasrec") == {"3", "4"}
    assert all(s == {"2"} for s in seeds.values())  # the sensitivity runs, if the preset plans any


@pytest.mark.parametrize("value", [f"seeds=[{2**31}]", "protocol={patience: 0}"])
def test_out_of_range_config_is_refused_before_anything_runs(value: str, tmp_path: Path) -> None:
    result = dry_run(tmp_path, value)
    assert result.returncode != 0
    assert "minimum" in result.stdout + result.stderr or "maximum" in result.stdout + result.stderr
