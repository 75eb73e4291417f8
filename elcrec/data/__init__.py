"""The one data path: registry -> fetch/mirror + sha256 -> recipe -> sequence file -> split tensors."""
from __future__ import annotations

import os

from elcrec.data.fetch import prepare_dataset
from elcrec.data.sequences import SequenceData
from elcrec.errors import UnavailableError


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
    max_len: int = 50,
) -> SequenceData:
    """Prepare (download or mirror, verify, build) a registered dataset and parse it."""
    path = prepare_dataset(name, data_dir=data_dir, mirror=mirror)
    if path is None:  # pragma: no cover - prepare_dataset raises unless allow_unavailable
        raise UnavailableError(f"dataset {name} is unavailable")
    return SequenceData.from_file(path, name=name, max_len=max_len)
