"""Classes 3 and 4 of issue 12: bad input is refused with one line and a non-zero exit, never scored as fine.

Every case calls the CLI in-process: an exception escaping ``main`` fails the test (that would be a traceback),
and each refusal must be a single ``error: ...`` line that names the problem. Data: 30 synthetic users.
"""
from __future__ import annotations

import errno
import json
import math
from pathlib import Path

import pytest
import torch

from elcrec.cli import main
from elcrec.errors import HarnessError
from elcrec.runfolder import read_runs
from tinyrun import NAME, OTHER, train_args, write_dataset

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, Path]:
    """A data dir with two tiny datasets, and finished sasrec and elcrec runs on the first."""
    root = tmp_path_factory.mktemp("inputs")
    data = write_dataset(root / "data")
    write_dataset(data, OTHER, items=50, seed=1)
    assert main(train_args(data, root / "sasrec")) == 0
    assert main(train_args(data, root / "elcrec", "elcrec", "--set", "k=4", "--set", "snapshot_epochs=-1")) == 0
    return {"root": root, "data": data, "sasrec": root / "sasrec" / "model.pt", "elcrec": root / "elcrec" / "model.pt"}


def refused(argv: list[str], capsys, *needles: str) -> str:
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc != 0, f"exit 0 for {argv}"
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle.lower() in err.lower(), (needle, err)
    return err


# ------------------------------------------------------------------------------ class 3: wrong numbers as "ok"
@pytest.mark.parametrize("extra, needle", [
    (["--set", "eval_batch_size=-5"], "eval_batch_size=-5"),
    (["--max-epochs", "0"], "--max-epochs 0"),
    (["--max-epochs", "-3"], "--max-epochs -3"),
    (["--set", "patience=0"], "patience=0"),
])
def test_training_settings_that_would_record_garbage_are_refused(extra, needle, env, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    refused(train_args(env["data"], out, "sasrec", *extra), capsys, needle)
    assert not (out / "metrics.json").exists()


def test_evaluate_refuses_a_negative_batch_size(env, capsys) -> None:
    with pytest.raises(SystemExit) as info:  # argparse: usage + one error line, exit 2
        main(["evaluate", "--checkpoint", str(env["sasrec"]), "--dataset", NAME, "--data-dir", str(env["data"]),
              "--batch-size", "-1"])
    assert info.value.code == 2 and "positive integer" in capsys.readouterr().err


def test_bare_bert4rec_state_dict_is_not_scored_as_a_causal_sasrec(env, tmp_path, capsys) -> None:
    out = tmp_path / "bert"
    assert main(train_args(env["data"], out, "bert4rec")) == 0
    bare = tmp_path / "bare.pt"
    torch.save(torch.load(out / "model.pt", weights_only=True)["state_dict"], bare)
    capsys.readouterr()
    refused(["evaluate", "--checkpoint", str(bare), "--dataset", NAME, "--data-dir", str(env["data"])], capsys,
            "output_bias", "BERT4Rec")


def test_stats_refuses_a_file_edited_after_preparation(tmp_path, capsys) -> None:
    data = write_dataset(tmp_path / "data")
    seq = data / NAME / f"{NAME}.txt"
    seq.write_text(seq.read_text().replace("\n", " 1\n", 1))
    refused(["stats", "--dataset", NAME, "--data-dir", str(data)], capsys, "changed since it was prepared")


@pytest.mark.parametrize("value", [1.7, -0.1, math.inf])
def test_metric_outside_0_1_is_never_tabulated(value, tmp_path, capsys) -> None:
    from fakeruns import make_run

    run = make_run(tmp_path, "Beauty", "elcrec", 1)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["test"]["HR@10"] = value
    (run / "metrics.json").write_text(json.dumps(metrics).replace("Infinity", "1e999"))
    with pytest.raises(HarnessError, match="HR@10"):  # the one run-folder reader every table and figure uses
        read_runs(tmp_path / "results" / "runs")
    refused(["summary", "--runs", str(tmp_path / "results" / "runs"), "--out", str(tmp_path / "s.csv"),
             "--cells", str(tmp_path / "c.csv")], capsys, "HR@10")


# --------------------------------------------------------------------------- class 4: one line, not a traceback
TRAIN_REFUSALS = [
    (["--seed", "-1"], "--seed -1"),
    (["--seed", str(2**31)], "out of range"),
    (["--threads", "-1"], "--threads -1"),
    (["--device", "nonsense"], "not a device"),
    (["--set", "lr=-0.001"], "lr=-0.001"),
    (["--set", "lr=nan"], "lr=nan"),
    (["--set", "batch_size=0"], "batch_size=0"),
]


@pytest.mark.parametrize("extra, needle", TRAIN_REFUSALS)
def test_bad_training_values_are_one_line(extra, needle, env, tmp_path, capsys) -> None:
    refused(train_args(env["data"], tmp_path / "run", "sasrec", *extra), capsys, needle)


def test_k_zero_is_one_line(env, tmp_path, capsys) -> None:
    refused(train_args(env["data"], tmp_path / "run", "elcrec", "--set", "k=0"), capsys, "k=0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_one_line(env, tmp_path, capsys) -> None:
    refused(train_args(env["data"], tmp_path / "run", "sasrec", "--device", "cuda"), capsys, "no CUDA device is visible")


def test_out_that_is_a_file_is_one_line(env, tmp_path, capsys) -> None:
    out = tmp_path / "file"
    out.write_text("x")
    refused(train_args(env["data"], out), capsys, "is a file")
    refused(train_args(env["data"], out / "run"), capsys, "not a folder")


def test_empty_metrics_json_is_one_line(env, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text("")
    refused(train_args(env["data"], out), capsys, "unreadable", "--overwrite")


@pytest.mark.parametrize("code, needle", [(errno.ENOSPC, "no space left"), (errno.EROFS, "read-only"),
                                          (errno.EACCES, "permission denied")])
def test_disk_errors_are_one_line(code, needle, env, tmp_path, monkeypatch, capsys) -> None:
    """A full disk, a read-only --out, an unwritable folder (simulated: the tests may run as root)."""
    import elcrec.fileio

    def failing(*args, **kwargs):
        raise OSError(code, os_strerror(code), str(tmp_path / "run" / "x"))

    monkeypatch.setattr(elcrec.fileio.tempfile, "mkstemp", failing)
    refused(train_args(env["data"], tmp_path / "run"), capsys, needle)


def os_strerror(code: int) -> str:
    import os

    return os.strerror(code)


def test_full_disk_while_saving_a_checkpoint_says_no_space(env, tmp_path, monkeypatch, capsys) -> None:
    """torch.save never writes to disk itself, so its internal 'file write failed' cannot replace ENOSPC."""
    real = Path.write_bytes

    def full(self: Path, data: bytes) -> int:
        if self.name.endswith(".part"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    refused(train_args(env["data"], tmp_path / "run"), capsys, "no space left")


def test_corrupt_status_json_is_one_line(tmp_path, capsys) -> None:
    data = write_dataset(tmp_path / "data")
    status = data / NAME / "status.json"
    for content in ("", "{\"status\": \"ok\"}", "[1, 2]"):
        status.write_text(content)
        refused(["stats", "--dataset", NAME, "--data-dir", str(data)], capsys, "corrupt or incomplete", "download")


def test_download_repairs_a_corrupt_status_json(shared_dir, tmp_path, capsys) -> None:
    data = tmp_path / "data"
    mirror = ["--data-dir", str(data), "--data-mirror", str(shared_dir / "data")]
    assert main(["download", "--dataset", "Beauty", *mirror]) == 0
    (data / "Beauty" / "status.json").write_text("{\"stat")
    assert main(["download", "--dataset", "Beauty", *mirror]) == 0
    assert json.loads((data / "Beauty" / "status.json").read_text())["status"] == "ok"
    capsys.readouterr()
    assert main(["stats", "--dataset", "Beauty", "--data-dir", str(data)]) == 0


def test_checkpoint_of_another_family_or_size_is_one_line(env, tmp_path, capsys) -> None:
    ckpt = torch.load(env["sasrec"], weights_only=True)
    base = ["--dataset", NAME, "--data-dir", str(env["data"])]
    other = tmp_path / "other.pt"
    torch.save({"state_dict": ckpt["state_dict"], "meta": {**ckpt["meta"], "model": "bert4rec"}}, other)
    refused(["evaluate", "--checkpoint", str(other), *base], capsys, "does not fit")
    wide = tmp_path / "wide.pt"
    cfg = {**ckpt["meta"]["model_config"], "hidden": 32}
    torch.save({"state_dict": ckpt["state_dict"], "meta": {**ckpt["meta"], "model_config": cfg}}, wide)
    refused(["evaluate", "--checkpoint", str(wide), *base], capsys, "does not fit", "size mismatch")


def test_intents_refuses_a_non_elcrec_or_other_dataset_checkpoint(env, tmp_path, capsys) -> None:
    base = ["--data-dir", str(env["data"]), "--out", str(tmp_path / "i.csv")]
    refused(["intents", "--checkpoint", str(env["sasrec"]), "--dataset", NAME, *base], capsys, "no intent centres")
    refused(["intents", "--checkpoint", str(env["elcrec"]), "--dataset", OTHER, *base], capsys, "another dataset")
    assert main(["intents", "--checkpoint", str(env["elcrec"]), "--dataset", NAME, *base]) == 0


def test_per_user_pointing_at_a_folder_is_one_line(env, tmp_path, capsys) -> None:
    refused(["evaluate", "--checkpoint", str(env["sasrec"]), "--dataset", NAME, "--data-dir", str(env["data"]),
             "--per-user", str(tmp_path)], capsys, "is a folder")


def test_zero_resamples_is_refused(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["significance", "--n-resamples", "0"])
    assert info.value.code == 2 and "positive integer" in capsys.readouterr().err


def test_an_item_id_too_large_for_an_embedding_table_is_one_line(tmp_path, capsys) -> None:
    data = write_dataset(tmp_path / "data", lines=["1 1 2 3 4", f"2 1 {10**10} 2 3"])
    refused(train_args(data, tmp_path / "run"), capsys, f"item id {10**10}", "GB")
