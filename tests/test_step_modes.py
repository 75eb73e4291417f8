"""The static-shape step modes (elcrec/steps.py) compute the same function as the eager reference loop.

Every model that takes the trainer's batches is trained for two epochs twice from the same seed, once with
``step_mode: eager`` and once with ``static`` (the epoch staged as one tensor set, fixed batch shapes, the loss
summed on the device), in float64 on 30 users with batch 8, so every epoch ends with a partial batch of 6.
The per-epoch losses and every parameter must agree to float64 rounding (BERT4Rec and CL4SRec switch to a
fixed-shape form of their loss, which sums the same terms in another order). The CUDA-graph modes are
checked against eager on a GPU in tests/test_gpu.py.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from elcrec.data.batches import EpochBuilder
from elcrec.data.sequences import SequenceData
from elcrec.errors import HarnessError
from elcrec.models.base import RecModel
from elcrec.models.registry import build_model
from elcrec.steps import resolve_step_mode
from elcrec.train import TrainConfig, Trainer, seed_everything

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NUM_USERS, BATCH = 30, 8
SMALL = {"layers": 1, "hidden": 16, "max_len": 10}
MODELS = {
    "elcrec": {"k": 4},
    "elcrec-b": {},
    "iclrec": {"k": 4},
    "sasrec": {},
    "cl4srec": {},
    "cl4srec-iclrec": {},
    "bert4rec": {},
    "coserec": {},
    "s3rec-noattr": {"pretrain_epochs": 0},
    "dcrec": {},
}


def make_data() -> SequenceData:
    rng = np.random.default_rng(0)
    seqs = [rng.choice(np.arange(1, 41), size=int(rng.integers(3, 15)), replace=False).tolist()
            for _ in range(NUM_USERS)]  # lengths from 3: CL4SRec's rows without a training target occur too
    return SequenceData.from_lists(seqs, name="synthetic", max_len=10)


def train_two_epochs(name: str, mode: str, tmp_path: Path) -> tuple[list[dict[str, float]], dict[str, torch.Tensor]]:
    seed_everything(1)
    data = make_data()
    model, mcfg = build_model(name, "Beauty", data.item_size, {**SMALL, **MODELS[name]})
    model.to(torch.float64)
    data.max_len = mcfg.max_len
    cfg = TrainConfig(batch_size=BATCH, step_mode=mode)
    trainer = Trainer(model, data, cfg, tmp_path / mode, torch.device("cpu"), 1, {"model": name})
    model.on_train_start(trainer.context(0))
    losses = [trainer.train_epoch(epoch) for epoch in range(2)]
    return losses, {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_every_epoch_ends_with_its_partial_batch() -> None:
    builder = EpochBuilder(make_data(), BATCH, negatives=True, augment=None)
    bounds = builder.bounds()
    assert bounds[-1] == (24, 30) and len(bounds) == builder.num_batches() == 4
    staged = builder.stage(1, 0)
    eager = list(builder.epoch(1, 0))
    assert [len(b) for b in eager] == [hi - lo for lo, hi in bounds]
    for batch, (lo, hi) in zip(eager, bounds):
        assert all(torch.equal(a, b) for a, b in zip(batch.tensors(), staged.rows(lo, hi).tensors()))


@pytest.mark.parametrize("name", list(MODELS))
def test_static_steps_equal_eager_steps(name: str, tmp_path: Path) -> None:
    eager_losses, eager_params = train_two_epochs(name, "eager", tmp_path)
    static_losses, static_params = train_two_epochs(name, "static", tmp_path)
    for eager, static in zip(eager_losses, static_losses):
        assert list(eager) == list(static)
        for key in eager:
            assert static[key] == pytest.approx(eager[key], rel=1e-10, abs=1e-12), key
    assert list(eager_params) == list(static_params)
    for key, value in eager_params.items():
        assert torch.allclose(static_params[key], value, rtol=1e-9, atol=1e-12), key
    moved = [k for k, v in eager_params.items() if v.is_floating_point()]
    assert moved  # the comparison covers real parameters


@pytest.mark.parametrize("mode", ["eager", "static"])
def test_every_mode_calls_the_per_step_hook_before_each_step(mode: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """MAERec re-masks its graph in ``before_step``: the staged epoch must call it as the eager loop does."""
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(RecModel, "before_step", lambda self, ctx, step: calls.append((ctx.epoch, step)))
    train_two_epochs("sasrec", mode, tmp_path)
    steps = EpochBuilder(make_data(), BATCH, negatives=True, augment=None).num_batches()
    assert calls == [(epoch, step) for epoch in range(2) for step in range(steps)]


def test_static_nan_check_names_the_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from elcrec.models.elcrec import ELCRec

    real_loss = ELCRec.loss
    calls = []

    def poisoned(self: ELCRec, batch) -> dict:  # noqa: ANN001
        terms = real_loss(self, batch)
        calls.append(1)
        if len(calls) == 6:  # epoch 1 (4 steps per epoch), second step
            terms["cluster"] = terms["cluster"] * float("nan")
        return terms

    monkeypatch.setattr(ELCRec, "loss", poisoned)
    with pytest.raises(HarnessError, match=r"at epoch 1, step 1 \(terms \['cluster'\] non-finite"):
        train_two_epochs("elcrec", "static", tmp_path)


def test_step_mode_is_resolved_per_device() -> None:
    cpu = torch.device("cpu")
    assert resolve_step_mode("auto", cpu) == "eager"
    assert resolve_step_mode("static", cpu) == "static"
    assert resolve_step_mode("auto", torch.device("cuda")) == "graphed"
    for mode in ("graphed", "compiled"):
        with pytest.raises(HarnessError, match="needs a CUDA device"):
            resolve_step_mode(mode, cpu)
    with pytest.raises(HarnessError, match="step_mode must be one of"):
        resolve_step_mode("fast", cpu)
