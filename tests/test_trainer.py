"""Tests for the one trainer (``elcrec.train``) and the run directory (``elcrec.runs``), with a tiny ELCRec.

A synthetic dataset (30 users, 40 items) is built in memory and the model comes from the registry exactly as
``python -m elcrec train`` builds it (``seed_everything`` then ``build_model``), shrunk to 1 layer, hidden 16,
k 4, max_len 10; a 3-epoch run takes well under a second on a 2-core CPU. Expected values (metric means, the
weighted total, the best epoch) are computed here from the files the run writes.
"""
from __future__ import annotations

import copy
import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")
import torch

from elcrec.checkpoint import load_encoder, load_state_dict
from elcrec.data.sequences import SequenceData
from elcrec.errors import HarnessError
from elcrec.evaluate import rank_targets
from elcrec.models.elcrec import ELCRec
from elcrec.models.registry import build_model
from elcrec.runs import FINAL_FILES, RESUME, prepare_run_dir
from elcrec.train import TrainConfig, Trainer, seed_everything
from interrupts import interrupt_training_at




METRICS = ["HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20"]
LOSS_COLUMNS = ["loss_rec", "loss_seq_cl", "loss_intent_cl", "loss_cluster", "loss_total"]
MODEL_SETTINGS = {"layers": 1, "k": 4, "hidden": 16, "max_len": 10}
ALPHA_BEAUTY = 10.0  # config/models/elcrec.yaml, method doc §2.3
NUM_USERS = 30
STEPS_PER_EPOCH = math.ceil(NUM_USERS / 8)


def make_data() -> SequenceData:
    rng = np.random.default_rng(0)
    seqs = [rng.choice(np.arange(1, 41), size=int(rng.integers(6, 15)), replace=False).tolist()
            for _ in range(NUM_USERS)]
    return SequenceData.from_lists(seqs, name="synthetic", max_len=10)


def make_trainer(out: Path, seed: int = 1, **train: object) -> Trainer:
    """What ``cmd_train`` does, minus the dataset download."""
    prepare_run_dir(out, overwrite=False)
    seed_everything(seed)
    data = make_data()
    model, mcfg = build_model("elcrec", "Beauty", data.item_size, MODEL_SETTINGS)
    data.max_len = mcfg.max_len
    cfg = TrainConfig(**{"batch_size": 8, "max_epochs": 3, "eval_batch_size": 64, **train})
    meta = {"model": "elcrec", "dataset": "synthetic", "seed": seed, "item_size": data.item_size,
            "heads": mcfg.heads, "model_config": {"k": mcfg.k}}
    return Trainer(model, data, cfg, out, torch.device("cpu"), seed, meta)


def run(out: Path, seed: int = 1, **train: object) -> dict:
    return make_trainer(out, seed, **train).fit()


def read_metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def read_log(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "train_log.csv")


def numbers(log: pd.DataFrame) -> pd.DataFrame:
    """Everything in the train log except the wall-clock columns."""
    return log.drop(columns=["train_seconds", "valid_seconds"])


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted 3-epoch run with seed 1 (read-only for the tests)."""
    out = tmp_path_factory.mktemp("baseline") / "run"
    run(out)
    return out


# ---------------------------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_results_and_another_seed_does_not(baseline: Path, tmp_path: Path) -> None:
    run(tmp_path / "again", seed=1)
    run(tmp_path / "other", seed=2)
    assert read_metrics(tmp_path / "again")["test"] == read_metrics(baseline)["test"]
    pd.testing.assert_frame_equal(numbers(read_log(tmp_path / "again")), numbers(read_log(baseline)),
                                  check_exact=True)
    other = read_log(tmp_path / "other")
    for column in LOSS_COLUMNS:
        assert (other[column] != read_log(baseline)[column]).all(), column


# --------------------------------------------------------------------------------------------------- resume


def test_interrupted_run_resumes_to_the_uninterrupted_numbers(baseline: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    undo = interrupt_training_at(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        run(out)
    assert (out / RESUME).exists() and not (out / "metrics.json").exists()
    state = torch.load(out / RESUME, map_location="cpu", weights_only=True)
    assert state["epoch"] == 1 and len(state["log"]) == 2

    undo()
    init_calls = []
    real_init = ELCRec.on_train_start
    monkeypatch.setattr(ELCRec, "on_train_start", lambda self, ctx: init_calls.append(ctx) or real_init(self, ctx))
    trainer = make_trainer(out)  # fresh data, model and trainer objects, as a new process would build them
    metrics = trainer.fit()
    assert init_calls == []  # the centres come from resume.pt, no new k-means
    assert not (out / RESUME).exists()
    assert metrics["epochs"] == 3
    assert read_metrics(out)["test"] == read_metrics(baseline)["test"]
    assert read_metrics(out)["best_epoch"] == read_metrics(baseline)["best_epoch"]
    pd.testing.assert_frame_equal(numbers(read_log(out)), numbers(read_log(baseline)), check_exact=True)
    a, _ = load_state_dict(out / "model.pt")
    b, _ = load_state_dict(baseline / "model.pt")
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------------------- run directories


def test_finished_run_is_not_overwritten_unless_asked(baseline: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(baseline, out)
    before = {name: (out / name).read_bytes() for name in FINAL_FILES}
    with pytest.raises(HarnessError, match="overwrite"):
        prepare_run_dir(out, overwrite=False)
    assert {name: (out / name).read_bytes() for name in FINAL_FILES} == before
    (out / RESUME).write_bytes(b"stale")
    prepare_run_dir(out, overwrite=True)
    assert not any((out / name).exists() for name in (*FINAL_FILES, RESUME))
    metrics = run(out, max_epochs=1)
    assert metrics["epochs"] == 1 and read_metrics(out)["epochs"] == 1


def test_half_finished_run_is_kept_for_resume_unless_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / RESUME).write_bytes(b"state")
    prepare_run_dir(out, overwrite=False)  # no metrics.json: not finished, resume.pt stays for the trainer
    assert (out / RESUME).read_bytes() == b"state"
    prepare_run_dir(out, overwrite=True)
    assert not (out / RESUME).exists()


def test_resume_with_other_settings_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    undo = interrupt_training_at(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        run(out)
    undo()
    with pytest.raises(HarnessError, match="other settings"):
        run(out, lr=5e-4)
    assert (out / RESUME).exists() and not (out / "metrics.json").exists()


def test_nan_loss_ends_the_run_as_diverged_naming_the_epoch_and_step(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    real_loss = ELCRec.loss
    calls = []

    def poisoned(self: ELCRec, batch) -> dict:
        terms = real_loss(self, batch)
        calls.append(1)
        if len(calls) == STEPS_PER_EPOCH + 3:  # epoch 1, step 2 (0-based)
            terms["cluster"] = terms["cluster"] * float("nan")
        return terms

    monkeypatch.setattr(ELCRec, "loss", poisoned)
    out = tmp_path / "run"
    returned = run(out)  # no exception: divergence is the run's result
    metrics = read_metrics(out)
    assert returned == metrics and metrics["status"] == "diverged" and metrics["test"] is None
    assert "epoch 1, step 2" in metrics["error"] and "cluster" in metrics["error"]
    assert "rec" not in metrics["error"].split("terms")[1].split(")")[0]
    assert metrics["epochs"] == 1 and metrics["best_epoch"] == 0 and set(metrics["valid_best"]) == set(METRICS)
    assert read_log(out)["epoch"].tolist() == [0]  # the finished epoch is kept
    assert (out / "profile.json").is_file() and (out / "config.json").is_file()
    assert not (out / RESUME).exists() and not (out / "model.pt").exists()
    with pytest.raises(HarnessError, match="overwrite"):  # a finished result: never clobbered silently
        prepare_run_dir(out, overwrite=False)


def test_flat_validation_metric_ends_the_run_as_not_converged(tmp_path: Path) -> None:
    """lr 1e-30 (lr 0 is refused): the weights never change in float32, so no epoch beats epoch 0 and early
    stopping (patience 2) ends the run."""
    out = tmp_path / "flat"
    metrics = run(out, max_epochs=6, patience=2, lr=1e-30)
    assert metrics["status"] == "not_converged" and metrics["best_epoch"] == 0 and metrics["epochs"] == 3
    assert "never rose above its epoch-0 value in 2 further epochs" in metrics["error"]
    assert set(metrics["test"]) == set(METRICS)  # the test metrics are still measured and kept
    assert all((out / name).is_file() for name in FINAL_FILES)
    # the same flat metric without early stopping (the budget ran out first) is an ordinary finished run
    assert run(tmp_path / "short", max_epochs=2, patience=2, lr=1e-30)["status"] == "ok"


def test_run_directory_contents(baseline: Path) -> None:
    for name in FINAL_FILES:
        assert (baseline / name).is_file(), name
    assert not (baseline / RESUME).exists()
    data = make_data()

    metrics = read_metrics(baseline)
    assert list(metrics["test"]) == METRICS and list(metrics["valid_best"]) == METRICS
    assert metrics["status"] == "ok" and metrics["epochs"] == 3 and metrics["stopped_early"] is False
    assert metrics["early_stopping_metric"] == "NDCG@20"

    per_user = pd.read_csv(baseline / "per_user_test.csv")
    assert len(per_user) == data.num_users and per_user["user"].tolist() == list(range(data.num_users))
    ranks = per_user["rank"].to_numpy()
    for k in (5, 10, 20):  # the means of the per-user ranks, computed here
        assert metrics["test"][f"HR@{k}"] == pytest.approx(np.mean(ranks < k), abs=1e-12)
        ndcg = np.mean([1 / math.log2(r + 2) if r < k else 0.0 for r in ranks])
        assert metrics["test"][f"NDCG@{k}"] == pytest.approx(ndcg, abs=1e-12)

    log = read_log(baseline)
    for column in ["epoch", *LOSS_COLUMNS, *(f"valid_{m}" for m in METRICS)]:
        assert column in log.columns, column
    assert log["epoch"].tolist() == [0, 1, 2]
    weighted = (log["loss_rec"] + 0.1 * log["loss_seq_cl"] + 0.1 * log["loss_intent_cl"]
                + ALPHA_BEAUTY * log["loss_cluster"])
    assert np.allclose(log["loss_total"], weighted, rtol=1e-6)
    best = int(log["valid_NDCG@20"].to_numpy().argmax())  # first maximum: a new best must be strictly better
    assert metrics["best_epoch"] == best
    assert metrics["valid_best"] == {m: log.loc[best, f"valid_{m}"] for m in METRICS}

    profile = json.loads((baseline / "profile.json").read_text())
    for key in ("train_seconds", "seconds_per_epoch", "epochs", "peak_memory_mb", "memory_kind", "device"):
        assert key in profile, key
    assert profile["epochs"] == 3 and profile["train_seconds"] > 0 and profile["seconds_per_epoch"] > 0
    assert profile["memory_kind"] == "cpu_peak_rss" and profile["peak_memory_mb"] > 0
    assert profile["device"].startswith("CPU")

    config = json.loads((baseline / "config.json").read_text())
    assert config["model"] == "elcrec" and config["train"]["batch_size"] == 8 and config["train"]["max_epochs"] == 3


def test_model_pt_evaluates_to_the_reported_test_metrics(baseline: Path) -> None:
    """The ``python -m elcrec evaluate`` path: load_state_dict -> load_encoder -> rank_targets."""
    state, meta = load_state_dict(baseline / "model.pt")
    assert meta["best_epoch"] == read_metrics(baseline)["best_epoch"] and meta["model"] == "elcrec"
    encoder, extra = load_encoder(state, heads=int(meta.get("heads", 2)))
    assert set(extra) == {"cluster_centers"} and extra["cluster_centers"].shape == (4, 16)
    encoder.eval()
    data = make_data()
    result = rank_targets(encoder.score, data.eval_split("test"), data.item_size)
    assert result.metrics == read_metrics(baseline)["test"]
    per_user = pd.read_csv(baseline / "per_user_test.csv")
    assert result.ranks.tolist() == per_user["rank"].tolist()


# -------------------------------------------------------------------------------------------- early stopping


@pytest.mark.parametrize("patience, scores, epochs, best_epoch", [
    (1, [0.1, 0.3, 0.3, 0.9, 0.9], 3, 1),  # a tie is not an improvement
    (2, [0.2, 0.1, 0.2, 0.1, 0.9], 3, 0),
    (2, [0.1, 0.2, 0.1, 0.3, 0.2], 5, 3),  # never stops: all epochs run
])
def test_early_stopping_keeps_the_strictly_best_state(patience: int, scores: list[float], epochs: int,
                                                      best_epoch: int, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    real_evaluate = Trainer.evaluate
    snapshots: list[dict] = []
    tested: list[dict] = []

    def scripted(self: Trainer, which: str):
        if which == "valid":
            snapshots.append(copy.deepcopy(self.model.state_dict()))
            return SimpleNamespace(metrics={m: scores[len(snapshots) - 1] for m in METRICS})
        tested.append(copy.deepcopy(self.model.state_dict()))
        return real_evaluate(self, which)

    monkeypatch.setattr(Trainer, "evaluate", scripted)
    out = tmp_path / "run"
    metrics = run(out, patience=patience, max_epochs=5)
    assert metrics["epochs"] == epochs == len(snapshots) == len(read_log(out))
    assert metrics["stopped_early"] is (epochs < 5)
    assert metrics["best_epoch"] == best_epoch
    assert metrics["valid_best"] == {m: scores[best_epoch] for m in METRICS}
    assert len(tested) == 1
    best = snapshots[best_epoch]
    assert all(torch.equal(tested[0][k], best[k]) for k in best)
    if best_epoch != epochs - 1:  # the reload matters: the last state differs from the best one
        assert not all(torch.equal(snapshots[-1][k], best[k]) for k in best)
    saved, _ = load_state_dict(out / "model.pt")
    assert all(torch.equal(saved[k.removeprefix("encoder.")], v) for k, v in best.items())


def test_trainer_drives_the_declared_phases_and_snapshots_of_any_model(tmp_path: Path) -> None:
    """Phases and snapshots are optional parts of the model contract: the trainer runs whatever a model declares
    (here a SASRec that declares both), and names no model."""
    from elcrec.models.base import Phase

    seed_everything(1)
    data = make_data()
    model, mcfg = build_model("sasrec", "Beauty", data.item_size, {"max_len": 10, "layers": 1})
    data.max_len = mcfg.max_len

    class Declared(type(model)):  # type: ignore[misc]
        snapshot_epochs, snapshot_users = (1,), 5

        def phases(self, ctx):  # noqa: ANN001, ANN202
            return [Phase("warmup", "warm-up", 2, 1, 4, ("l2",), ctx.device, lambda epoch: [epoch],
                          lambda batch: {"l2": torch.tensor(float(batch + 1))}, hint="lower something")]

        def snapshot(self, ctx, users):  # noqa: ANN001, ANN202
            return {"users": users}

    model.__class__ = Declared
    cfg = TrainConfig(batch_size=8, max_epochs=2, eval_batch_size=64)
    meta = {"model": "sasrec", "dataset": "synthetic", "seed": 1}
    Trainer(model, data, cfg, tmp_path, torch.device("cpu"), 1, meta).fit()
    for name in ("epoch001", "final"):
        assert len(np.load(tmp_path / "snapshots" / f"{name}.npz")["users"]) == 5
    assert not (tmp_path / "snapshots" / "epoch000.npz").exists()
    phase = Declared.phases(model, SimpleNamespace(device=torch.device("cpu")))[0]
    from elcrec.train import run_phase

    assert [r["warmup_l2"] for r in run_phase(phase)] == [0.25, 0.5]  # per-example means: (epoch + 1) / 4
    bad = Phase("warmup", "warm-up", 1, 1, 1, ("l2",), torch.device("cpu"), lambda epoch: [0],
                lambda batch: {"l2": torch.tensor(math.inf)}, hint="lower something")
    with pytest.raises(HarnessError, match="warm-up diverged at epoch 0.*lower something"):
        run_phase(bad)
