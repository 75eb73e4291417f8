"""``python -m elcrec train`` end to end on the small derived dataset, and its refusals."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from elcrec.checkpoint import load_encoder, load_state_dict
from elcrec.cli import main
from elcrec.data.fetch import prepare_dataset
from elcrec.data.sequences import SequenceData
from elcrec.evaluate import METRIC_KEYS


@pytest.fixture(scope="module")
def sub10(shared_dir: Path, tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("data")
    path = prepare_dataset("Beauty-sub10", data_dir, shared_dir / "data")
    assert path is not None
    return data_dir


def test_derived_dataset_counts_and_provenance(sub10: Path) -> None:
    data = SequenceData.from_file(sub10 / "Beauty-sub10" / "Beauty-sub10.txt")
    assert (data.num_users, data.num_items, len(data.items)) == (2237, 7905, 19566)
    status = json.loads((sub10 / "Beauty-sub10" / "status.json").read_text())
    assert status["files"][0]["sha256"] == "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8"


def test_derived_dataset_carries_remapped_item_attributes(sub10: Path) -> None:
    """Each user's k-th item in the subsample has the attributes of the same user's k-th item in Beauty."""
    child = SequenceData.from_file(sub10 / "Beauty-sub10" / "Beauty-sub10.txt")
    parent = SequenceData.from_file(sub10 / "Beauty" / "Beauty.txt")
    child_attrs = json.loads((sub10 / "Beauty-sub10" / "item2attributes.json").read_text())
    parent_attrs = json.loads((sub10 / "Beauty" / "item2attributes.json").read_text())
    assert len(child_attrs) == 7905  # every Beauty item has attributes, so every subsample item does
    for user in (0, 1, 500, 2236):
        mine = child.items[child.offsets[user]:child.offsets[user + 1]]
        theirs = parent.items[parent.offsets[10 * user]:parent.offsets[10 * user + 1]]
        assert [child_attrs[str(i)] for i in mine] == [parent_attrs[str(i)] for i in theirs]
    status = json.loads((sub10 / "Beauty-sub10" / "status.json").read_text())
    assert [f["file"] for f in status["files"]] == ["Beauty.txt", "item2attributes.json"]


def test_s3rec_with_attributes_trains_on_the_subsample(sub10: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    rc = main(["train", "--dataset", "Beauty-sub10", "--model", "s3rec", "--seed", "1", "--max-epochs", "1",
               "--out", str(out), "--data-dir", str(sub10), "--set", "pretrain_epochs=1", "--set", "layers=1",
               "--device", "cpu"])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    pretrain = (out / "pretrain_log.csv").read_text().splitlines()
    assert metrics["status"] == "ok" and len(pretrain) == 2
    assert {"pretrain_aap", "pretrain_map"} <= set(pretrain[0].split(","))


def test_train_named_variant_writes_a_complete_run(sub10: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    rc = main(["train", "--dataset", "Beauty-sub10", "--model", "elcrec~alpha=0.5", "--seed", "3", "--max-epochs", "1",
               "--out", str(out), "--data-dir", str(sub10), "--set", "k=16", "--set", "snapshot_epochs=0"])
    assert rc == 0, capsys.readouterr().err
    for name in ("metrics.json", "per_user_test.csv", "train_log.csv", "profile.json", "config.json", "model.pt",
                 "snapshots/epoch000.npz", "snapshots/final.npz"):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "resume.pt").exists()
    config = json.loads((out / "config.json").read_text())
    assert config["model_config"]["alpha"] == 0.5 and config["model_config"]["k"] == 16
    assert config["model_config"]["snapshot_epochs"] == [0]  # a setting of the model (ELCRecConfig)
    metrics = json.loads((out / "metrics.json").read_text())
    # the saved checkpoint evaluates (through the evaluate command's loader) to the recorded test metrics
    state, meta = load_state_dict(out / "model.pt")
    assert meta["model"] == "elcrec~alpha=0.5" and state["cluster_centers"].shape == (16, 64)
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(out / "model.pt"), "--dataset", "Beauty-sub10",
                 "--data-dir", str(sub10), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == pytest.approx({k: metrics["test"][k] for k in METRIC_KEYS}, abs=1e-12)
    # a finished run is never overwritten unless asked
    assert main(["train", "--dataset", "Beauty-sub10", "--model", "elcrec", "--out", str(out),
                 "--data-dir", str(sub10)]) != 0
    assert "--overwrite" in capsys.readouterr().err


def test_unavailable_dataset_gives_a_not_run_record(tmp_path: Path, shared_dir: Path) -> None:
    data_dir = tmp_path / "data"
    assert main(["download", "--dataset", "MIND-small", "--data-dir", str(data_dir), "--data-mirror",
                 str(shared_dir / "data"), "--allow-unavailable"]) == 0
    out = tmp_path / "run"
    assert main(["train", "--dataset", "MIND-small", "--model", "elcrec", "--out", str(out),
                 "--data-dir", str(data_dir), "--allow-unavailable"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "not run: dataset unavailable" and metrics["test"] is None


@pytest.mark.parametrize("model, message", [("nope", "unknown model"), ("elcrec~nosuch=1", "no setting 'nosuch'")])
def test_bad_model_is_refused_before_anything_is_written(model: str, message: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", "--dataset", "Beauty", "--model", model, "--out", str(out)]) != 0
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_models_lists_every_registered_model(capsys) -> None:
    from elcrec.models.registry import MODELS

    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    for name, entry in MODELS.items():
        assert name in listing and entry.status in listing
