"""The graph baselines through the shared machinery: no validation or test item in a training prefix, the
trainer's before_step / make_optimizer hooks, resume (graphs rebuilt by prepare), and one epoch of DCRec and
MAERec through the CLI on real data, evaluated again from the saved model.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from elcrec.cli import main
from elcrec.data.fetch import prepare_dataset
from elcrec.data.graphs import training_prefix
from elcrec.models.base import TrainContext
from elcrec.models.registry import build_model
from elcrec.runs import RESUME
from elcrec.train import TrainConfig, Trainer
from interrupts import interrupt_training_at
from tests.graph_data import handmade, sequences
from tests.test_baselines_dcrec import tiny_dcrec

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_training_prefix_never_reaches_validation_or_test() -> None:
    data, held_out = handmade()
    items, offsets = training_prefix(data, 2)
    assert not set(items.tolist()) & held_out
    assert [items[offsets[u]:offsets[u + 1]].tolist() for u in range(data.num_users)] == \
        [s[:-2] for s in sequences(data)]
    with pytest.raises(ValueError, match="cut must be >= 2"):
        training_prefix(data, 1)



# --- the trainer hooks -----------------------------------------------------------------------------------
def test_trainer_calls_before_step_and_steps_the_schedule(tmp_path: Path) -> None:
    data, _ = handmade()
    model = tiny_dcrec(data, lr_step_epochs=1).float()
    calls: list[tuple[int, int]] = []
    original = model.before_step
    def recording(ctx: TrainContext, step: int) -> None:
        calls.append((ctx.epoch, step))
        original(ctx, step)

    model.before_step = recording  # type: ignore[method-assign]
    cfg = TrainConfig(batch_size=3, max_epochs=2, eval_batch_size=8)
    trainer = Trainer(model, data, cfg, tmp_path, torch.device("cpu"), 1, {"model": "dcrec", "dataset": "handmade"})
    trainer.fit()
    assert calls == [(e, s) for e in range(2) for s in range(3)]  # 7 users, batch 3: steps 0, 1, 2 per epoch
    assert trainer.optim.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.2**2)
    assert not (tmp_path / RESUME).exists()


TINY = {"dcrec": {"hidden": 8, "layers": 1, "sim_group": 2, "lr_step_epochs": 1},
        "maerec": {"hidden": 8, "layers": 1, "mask_candidates": 2, "recon_batch": 8, "recon_negatives": 4}}


def tiny_run(name: str, out: Path) -> Trainer:
    """A fresh model, data and trainer (as a new process builds them) for 3 epochs on the hand-made data."""
    data, _ = handmade()
    torch.manual_seed(1)
    model, _ = build_model(name, "Beauty", data.item_size, {**TINY[name], "max_len": data.max_len})
    cfg = TrainConfig(batch_size=3, max_epochs=3, eval_batch_size=8)
    return Trainer(model, data, cfg, out, torch.device("cpu"), 1, {"model": name, "dataset": "handmade"})


@pytest.mark.parametrize("name", ["dcrec", "maerec"])
def test_interrupted_graph_run_resumes_to_the_same_numbers(name: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Graphs are rebuilt by prepare() on resume (on_train_start is not called) and the LR schedule continues."""
    baseline = tiny_run(name, tmp_path / "a").fit()
    undo = interrupt_training_at(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        tiny_run(name, tmp_path / "b").fit()
    assert (tmp_path / "b" / RESUME).exists()
    undo()
    trainer = tiny_run(name, tmp_path / "b")
    resumed = trainer.fit()
    assert resumed["test"] == baseline["test"] and resumed["best_epoch"] == baseline["best_epoch"]
    a = (tmp_path / "a" / "train_log.csv").read_text().splitlines()
    b = (tmp_path / "b" / "train_log.csv").read_text().splitlines()
    strip = lambda rows: [",".join(r.split(",")[:-2]) for r in rows]  # noqa: E731 - drop the two timing columns
    assert strip(a) == strip(b)
    if name == "dcrec":
        assert trainer.optim.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.2**3)


# --- one epoch through the CLI on a real subset (Beauty-sub100: every 100th user) --------------------------
@pytest.fixture(scope="module")
def sub100(shared_dir: Path, tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("data")
    assert prepare_dataset("Beauty-sub100", data_dir, shared_dir / "data") is not None
    return data_dir


@pytest.mark.parametrize("name", ["dcrec", "maerec"])
def test_one_epoch_through_the_cli(name: str, sub100: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    rc = main(["train", "--dataset", "Beauty-sub100", "--model", name, "--seed", "1", "--max-epochs", "1",
               "--out", str(out), "--data-dir", str(sub100), "--device", "cpu"])
    assert rc == 0
    for file in ("metrics.json", "per_user_test.csv", "train_log.csv", "profile.json", "config.json", "model.pt"):
        assert (out / file).is_file(), file
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["epochs"] == 1 and metrics["model"] == name
    log = (out / "train_log.csv").read_text().splitlines()
    model, _ = build_model(name, "Beauty-sub100", 3)
    assert all(f"loss_{k}" in log[0] for k in model.loss_weights)
    capsys.readouterr()
    rc = main(["evaluate", "--checkpoint", str(out / "model.pt"), "--dataset", "Beauty-sub100", "--data-dir",
               str(sub100), "--device", "cpu", "--json"])
    assert rc == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    if name == "maerec":  # deterministic scoring: the saved model reproduces the run's test metrics
        assert again == pytest.approx(metrics["test"])
    else:  # DCRec drops graph edges when scoring too (as the original): a number, not the same number
        assert set(again) == set(metrics["test"])
