"""Tests for ``python -m elcrec``: user errors give a non-zero exit code and a message, never a traceback."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from elcrec.cli import main
from elcrec.nn.encoder import SASRecEncoder

REPO_ROOT = Path(__file__).resolve().parents[1]
KNOWN = ("Beauty", "Sports_and_Outdoors", "Toys_and_Games", "Yelp", "ml-1m", "MIND-small")
BEAUTY_ITEM_SIZE = 12101 + 2  # max item id 12101 (shared/data/MANIFEST.md) + pad + mask


def test_download_unknown_dataset(tmp_path: Path, capsys, offline: None) -> None:
    rc = main(["download", "--dataset", "Beuaty", "--data-dir", str(tmp_path / "data")])
    out, err = capsys.readouterr()
    assert rc == 2
    assert err.startswith("error: ")
    assert "'Beuaty'" in err
    for name in KNOWN:
        assert name in err
    assert "Traceback" not in err and out == ""
    assert not (tmp_path / "data").exists()


def test_evaluate_missing_checkpoint(tmp_path: Path, capsys, offline: None) -> None:
    missing = tmp_path / "nowhere" / "model.pt"
    rc = main(["evaluate", "--checkpoint", str(missing), "--dataset", "Beauty", "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert rc == 2
    assert str(missing) in err
    assert "does not exist" in err
    assert not (tmp_path / "data").exists()  # the checkpoint is checked before any data is prepared


def test_evaluate_unreadable_checkpoint(tmp_path: Path, capsys, offline: None) -> None:
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    rc = main(["evaluate", "--checkpoint", str(bad), "--dataset", "Beauty", "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert rc == 2
    assert str(bad) in err and "not a readable PyTorch checkpoint" in err


def test_evaluate_checkpoint_of_another_item_count(tmp_path: Path, shared_dir: Path, capsys, offline: None) -> None:
    ckpt = tmp_path / "tiny.pt"
    torch.manual_seed(0)
    torch.save(SASRecEncoder(item_size=10, layers=1).state_dict(), ckpt)
    rc = main([
        "evaluate", "--checkpoint", str(ckpt), "--dataset", "Beauty",
        "--data-dir", str(tmp_path / "data"), "--data-mirror", str(shared_dir / "data"), "--device", "cpu",
    ])
    out, err = capsys.readouterr()
    assert rc == 2
    assert str(ckpt) in err
    assert "10 item rows (8 items)" in err
    assert f"needs {BEAUTY_ITEM_SIZE}" in err
    assert "'Beauty'" in err
    assert "Traceback" not in err
    assert out == ""  # no metrics were printed


def test_module_help_lists_subcommands() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "elcrec", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    for command in ("download", "stats", "table", "evaluate"):
        assert command in proc.stdout
    assert proc.stdout.startswith("usage: python -m elcrec")


def test_missing_subcommand_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err
