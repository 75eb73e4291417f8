"""Micro-benchmarks with pytest-benchmark: evaluator throughput and one training step, with JSON records.

    make bench-micro      # = pytest benchmarks/test_micro.py --benchmark-json benchmarks/records/micro-<host>.json

Data: Beauty-sub100 (224 users, 1,625 items, from the mirror at $ELCREC_SHARED/data or ../shared/data) for the
training step, so one epoch is exactly one batch of 256 (the step includes building that batch: negatives and
augmented views, as the trainer does); Beauty-sub10 (2,237 users) for the evaluator. Not part of `make test`:
timings are measurements, never assertions. pytest-benchmark reports min/median/IQR over rounds; the machine is
shared, so compare records only with the matmul GFLOP/s stored in each record's extra_info.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from benchmarks.common import matmul_gflops
from elcrec.data import load_dataset
from elcrec.evaluate import rank_targets
from elcrec.models.registry import build_model
from elcrec.train import TrainConfig, Trainer, seed_everything

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> tuple[Path, Path]:
    mirror = Path(os.environ.get("ELCREC_SHARED") or REPO.parent / "shared") / "data"
    if not mirror.is_dir():
        pytest.skip(f"no data mirror at {mirror} (set ELCREC_SHARED)")
    return tmp_path_factory.mktemp("data"), mirror


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_evaluator_throughput(benchmark, data_dir: tuple[Path, Path]) -> None:
    data = load_dataset("Beauty-sub10", *data_dir)
    seed_everything(1)
    model, _ = build_model("sasrec", "Beauty-sub10", data.item_size)
    model.eval()
    split = data.eval_split("test")
    benchmark.extra_info.update(users=data.num_users, items=data.item_size, matmul_gflops=matmul_gflops())
    result = benchmark(lambda: rank_targets(model.score, split, data.item_size, batch_size=512))
    assert len(result.ranks) == data.num_users


@pytest.mark.parametrize("name", ["elcrec", "sasrec", "iclrec"])
def test_one_training_step(benchmark, data_dir: tuple[Path, Path], name: str, tmp_path: Path) -> None:
    data = load_dataset("Beauty-sub100", *data_dir)
    seed_everything(1)
    model, mcfg = build_model(name, "Beauty-sub100", data.item_size)
    data.max_len = mcfg.max_len
    trainer = Trainer(model, data, TrainConfig(batch_size=256), tmp_path, torch.device("cpu"), 1, {})
    assert trainer.builder.num_batches() == 1  # one epoch is one step here
    model.on_train_start(trainer.context(0))
    epochs = iter(range(10**6))
    benchmark.extra_info.update(users=data.num_users, batch=256, matmul_gflops=matmul_gflops())
    losses = benchmark(lambda: trainer.train_epoch(next(epochs)))
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
