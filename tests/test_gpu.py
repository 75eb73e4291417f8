"""The CUDA path: the same code on a GPU gives the CPU's answers, and every model trains there.

Marked ``gpu`` and skipped without a CUDA device (CI has none; `make test` deselects them). Run on a GPU machine
with ``pytest -m gpu tests/test_gpu.py``. What they pin down: the released checkpoints evaluate to their
manifest values on CUDA too (float32 matmuls in another order: ties and 4-decimal rounding must still hold);
an eval-mode forward on CUDA equals the CPU one; and each registered model runs one epoch through the trainer
with the GPU profile (allocated and reserved peaks) written.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

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


@pytest.mark.parametrize("name", IMPLEMENTED)
def test_one_epoch_on_cuda_with_gpu_profile(name: str, small: SequenceData, shared_dir: Path,
                                           data_root: Path, tmp_path: Path) -> None:
    torch.manual_seed(1)
    model, mcfg = build_model(name, SMALL, small.item_size, small_overrides(name))
    tcfg = TrainConfig(**{**model.train_overrides, "max_epochs": 1})
    meta = {"model": name, "dataset": SMALL, "seed": 1, "model_config": dataclasses.asdict(mcfg)}
    Trainer(model, small, tcfg, tmp_path, CUDA, 1, meta, dataset_dir(SMALL, data_root)).fit()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "ok" and all(0 <= v <= 1 for v in metrics["test"].values())
    profile = json.loads((tmp_path / "profile.json").read_text())
    assert profile["memory_kind"] == "cuda_max_memory_allocated" and profile["peak_memory_mb"] > 0, profile
    peaks = profile["peak_memory_by_phase_mb"]["train"]
    assert 0 < peaks["allocated"] <= peaks["reserved"], profile
