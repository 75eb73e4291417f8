"""The strongest tests we have: the official checkpoints must evaluate to their published metrics.

Expected values are read from ../shared/checkpoints/MANIFEST.md (the table the original evaluation code
reproduced), not typed in here, and compared at the 4 decimals the original code prints. Each runs the same
code path as ``python -m elcrec evaluate``: mirror -> sha256 -> split -> encoder -> full ranking.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from elcrec.checkpoint import check_item_size, load_encoder, load_state_dict
from elcrec.data import load_dataset
from elcrec.errors import CheckpointError
from elcrec.evaluate import METRIC_KEYS, rank_targets



def golden_rows(shared: Path) -> list[dict[str, object]]:
    """Rows of the checkpoint manifest that carry expected metrics."""
    text = (shared / "checkpoints" / "MANIFEST.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| file |"))
    cols = [c.strip() for c in header.strip("|").split("|")]
    rows = []
    for line in text.splitlines():
        match = re.match(r"\|\s*((?:ELCRec|ICLRec)-(\w+)-1\.pt)\s*\|", line)
        if not match:
            continue
        cells = dict(zip(cols, (c.strip() for c in line.strip("|").split("|"))))
        rows.append({"file": match.group(1), "dataset": match.group(2),
                     "layers": int(cells["layers"]),
                     "expected": {k: float(cells[k]) for k in METRIC_KEYS}})
    return rows


@pytest.fixture(scope="module")
def rows(shared_dir: Path) -> list[dict[str, object]]:
    found = golden_rows(shared_dir)
    assert len(found) == 4, "the manifest should list 4 checkpoints with metrics (ELCRec/ICLRec x Beauty/Toys)"
    return found


@pytest.mark.parametrize("index", range(4))
def test_checkpoint_reproduces_published_metrics(index: int, rows, shared_dir: Path, tmp_path_factory) -> None:
    row = rows[index]
    data_dir = tmp_path_factory.getbasetemp() / "golden-data"
    data = load_dataset(str(row["dataset"]), data_dir=data_dir, mirror=shared_dir / "data")
    state, _ = load_state_dict(shared_dir / "checkpoints" / str(row["file"]))
    check_item_size(state, data.item_size, data.name)
    encoder, extra = load_encoder(state)
    assert len(encoder.item_encoder.layer) == row["layers"]
    if str(row["file"]).startswith("ELCRec"):
        assert set(extra) == {"cluster_centers"}
    encoder.eval()
    metrics = rank_targets(encoder.score, data.eval_split("test"), data.item_size).metrics
    got = {k: round(metrics[k], 4) for k in METRIC_KEYS}
    assert got == row["expected"], f"{row['file']}: {got} != {row['expected']}"


def test_checkpoint_on_wrong_dataset_is_refused(rows, shared_dir: Path, tmp_path_factory) -> None:
    data = load_dataset("Toys_and_Games", data_dir=tmp_path_factory.getbasetemp() / "golden-data",
                        mirror=shared_dir / "data")
    state, _ = load_state_dict(shared_dir / "checkpoints" / "ELCRec-Beauty-1.pt")
    with pytest.raises(CheckpointError, match="12103 item rows"):
        check_item_size(state, data.item_size, data.name)
