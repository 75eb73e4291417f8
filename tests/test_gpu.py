"""The CUDA path: the same code on a GPU gives the CPU's answers, and every model trains there.

Marked ``gpu`` and skipped without a CUDA device (CI has none; `make test` deselects them). Run on a GPU machine
with ``pytest -m gpu tests/test_gpu.py``. What they pin down: the released checkpoints evaluate to their
manifest values on CUDA too (float32 matmuls in another order: ties and 4-decimal rounding must still hold);
an eval-mode forward on CUDA equals the CPU one; and each registered model runs one epoch through the trainer
with the GPU profile (allocated and reserved peaks) written, eagerly and replayed from CUDA graphs; and the
graphed step mode gives the eager loop's losses and parameters to fp32 tolerance (elcrec/steps.py).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from elcrec.checkpoint import load_encoder, load_state_dict
from elcrec.data import load_dataset
from elcrec.data.fetch import dataset_dir
from elcrec.data.sequences import SequenceData
from elcrec.evaluate import METRIC_KEYS, rank_targets
from elcrec.models.registry import MODELS, build_model
from elcrec.train import TrainConfig, Trainer
from tests.test_golden_checkpoints import golden_rows

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
CUDA = torch.device("cuda")
IMPLEMENTED = [name for name, entry in MODELS.items() if entry.status == "implemented"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "gpu-data"


@pytest.mark.parametrize("index", range(4))
def test_checkpoints_reproduce_published_metrics_on_cuda(index: int, shared_dir: Path, data_root: Path) -> None:
    row = golden_rows(shared_dir)[index]
    data = load_dataset(str(row["dataset"]), data_dir=data_root, mirror=shared_dir / "data")
    encoder, _ = load_encoder(load_state_dict(shared_dir / "checkpoints" / str(row["file"]))[0])
    encoder.to(CUDA).eval()
    metrics = rank_targets(encoder.score, data.eval_split("test"), data.item_size, device=CUDA).metrics
    assert {k: round(metrics[k], 4) for k in METRIC_KEYS} == row["expected"], row["file"]


SMALL = "Beauty-sub10"  # 2,237 users with its own remapped item attributes, so S3-Rec's AAP/MAP run too


@pytest.fixture(scope="module")
def small(shared_dir: Path, data_root: Path) -> SequenceData:
    return load_dataset(SMALL, data_dir=data_root, mirror=shared_dir / "data")


def small_overrides(name: str) -> dict[str, object]:
    if name == "dcrec":  # DCRec drops graph edges when scoring too (as the original): off, to compare devices
        return {"eval_graph_dropout": False}
    return {"pretrain_epochs": 1} if name.startswith("s3rec") else {}


@pytest.mark.parametrize("name", IMPLEMENTED)
def test_eval_forward_on_cuda_equals_cpu(name: str, small: SequenceData) -> None:
    torch.manual_seed(1)
    model, _ = build_model(name, SMALL, small.item_size, small_overrides(name))
    model.prepare(small)  # graph models build their item graphs from the training data
    model.eval()
    inputs = small.eval_split("valid").inputs[:64]
    with torch.no_grad():
        on_cpu = model.score(inputs)
        on_gpu = model.to(CUDA).score(inputs.to(CUDA)).cpu()
    assert torch.allclose(on_cpu, on_gpu, rtol=1e-4, atol=1e-4), (on_cpu - on_gpu).abs().max()


@pytest.mark.parametrize("mode", ["eager", "graphed"])
@pytest.mark.parametrize("name", IMPLEMENTED)
def test_one_epoch_on_cuda_with_gpu_profile(name: str, mode: str, small: SequenceData, shared_dir: Path,
                                           data_root: Path, tmp_path: Path) -> None:
    """Every registered model trains one epoch on CUDA, eagerly and replayed from CUDA graphs (none falls back)."""
    torch.manual_seed(1)
    model, mcfg = build_model(name, SMALL, small.item_size, small_overrides(name))
    tcfg = TrainConfig(**{**model.train_overrides, "max_epochs": 1, "step_mode": mode})
    meta = {"model": name, "dataset": SMALL, "seed": 1, "model_config": dataclasses.asdict(mcfg)}
    trainer = Trainer(model, small, tcfg, tmp_path, CUDA, 1, meta, dataset_dir(SMALL, data_root))
    trainer.fit()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "ok" and all(0 <= v <= 1 for v in metrics["test"].values())
    profile = json.loads((tmp_path / "profile.json").read_text())
    assert profile["memory_kind"] == "cuda_max_memory_allocated" and profile["peak_memory_mb"] > 0, profile
    peaks = profile["peak_memory_by_phase_mb"]["train"]
    assert 0 < peaks["allocated"] <= peaks["reserved"], profile
    steps = trainer.steps
    if mode == "eager":
        assert profile["step_mode"] == "eager" and steps is None
    elif name in GRAPH_MODELS:  # reviewed models with the shared Adam are captured
        assert profile["step_notes"] == [] and steps is not None and steps.graphs, profile
    elif steps is not None:  # unreviewed, or its own optimiser/schedule: static, and says so
        assert profile["step_notes"] and not steps.graphs and steps.not_captured, profile
    else:  # a model with its own batch source runs the eager loop
        assert profile["step_mode"] == "eager" and not hasattr(trainer.builder, "stage"), profile


# --- graphed == eager ------------------------------------------------------------------------------------
GRAPH_MODELS = ["elcrec", "elcrec-b", "iclrec", "sasrec", "cl4srec", "cl4srec-iclrec", "bert4rec-adam", "coserec",
                "s3rec-noattr"]  # reviewed (capture_blocker None) and trained by the shared Adam
TINY_USERS, TINY_BATCH, TINY_EPOCHS = 30, 8, 4  # 4 steps per epoch, the last one partial (6 users)


def tiny_data() -> SequenceData:
    rng = np.random.default_rng(0)
    seqs = [rng.choice(np.arange(1, 41), size=int(rng.integers(3, 15)), replace=False).tolist()
            for _ in range(TINY_USERS)]
    return SequenceData.from_lists(seqs, name="synthetic", max_len=10)


def train_tiny(name: str, mode: str, dropout: float | None, tmp: Path) -> tuple[list, dict[str, torch.Tensor]]:
    torch.manual_seed(1)
    torch.cuda.manual_seed_all(1)
    data = tiny_data()
    sets = {"layers": 1, "hidden": 16, "max_len": 10, **({"k": 4} if name in ("elcrec", "iclrec") else {}),
            **({"pretrain_epochs": 0} if name.startswith("s3rec") else {})}
    if dropout is not None:
        sets.update(attn_dropout=dropout, hidden_dropout=dropout)
    model, mcfg = build_model(name, "Beauty", data.item_size, sets)
    data.max_len = mcfg.max_len
    trainer = Trainer(model, data, TrainConfig(batch_size=TINY_BATCH, step_mode=mode), tmp / mode, CUDA, 1,
                      {"model": name})
    model.on_train_start(trainer.context(0))
    losses = [trainer.train_epoch(epoch) for epoch in range(TINY_EPOCHS)]
    if mode == "graphed":  # both shapes (full and partial batch) were captured and replayed
        assert trainer.steps is not None and trainer.steps.notes == [] and len(trainer.steps.graphs) == 2
    return losses, {k: v.detach().cpu() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("dropout", [0.0, None], ids=["no-dropout", "model-dropout"])
@pytest.mark.parametrize("name", GRAPH_MODELS)
def test_graphed_steps_equal_eager_steps(name: str, dropout: float | None, tmp_path: Path) -> None:
    """16 steps (two batch shapes, warm-up, capture, replays) give eager's losses and parameters to fp32 tolerance.

    With dropout on, this also checks that every replay draws the masks an eager step would (CUDA graphs advance
    the Philox offset of torch's generator per replay)."""
    eager_losses, eager_params = train_tiny(name, "eager", dropout, tmp_path)
    graphed_losses, graphed_params = train_tiny(name, "graphed", dropout, tmp_path)
    for eager, graphed in zip(eager_losses, graphed_losses):
        assert list(eager) == list(graphed)
        for key in eager:
            assert graphed[key] == pytest.approx(eager[key], rel=1e-4, abs=1e-5), (key, eager_losses, graphed_losses)
    for key, value in eager_params.items():
        assert torch.allclose(graphed_params[key], value, rtol=1e-3, atol=1e-4), (key, (graphed_params[key] - value).abs().max())


def test_compiled_mode_trains_elcrec(tmp_path: Path) -> None:
    """torch.compile(mode="reduce-overhead") serves the same trainer (its dropout RNG differs: no equality)."""
    losses, params = train_tiny("elcrec", "compiled", None, tmp_path)
    assert all(np.isfinite(v) for epoch in losses for v in epoch.values())
    eager_losses, _ = train_tiny("elcrec", "eager", None, tmp_path)
    assert losses[0]["loss_rec"] == pytest.approx(eager_losses[0]["loss_rec"], rel=0.2)
