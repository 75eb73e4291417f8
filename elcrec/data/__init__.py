"""The one data path: registry -> fetch/mirror + sha256 -> recipe -> sequence file -> split tensors.

The heavy parts (torch, numpy) load on first use, so that ``elcrec.data.registry`` (and the Snakefile, which
reads it) stays importable without them.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from elcrec.data.sequences import SequenceData


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
    max_len: int = 50,
) -> SequenceData:
    """Prepare (download or mirror, verify, build) a registered dataset and parse it."""
    from elcrec.data.fetch import prepare_dataset
    from elcrec.data.sequences import SequenceData
    from elcrec.errors import UnavailableError

    path = prepare_dataset(name, data_dir=data_dir, mirror=mirror)
    if path is None:  # pragma: no cover - prepare_dataset raises unless allow_unavailable
        raise UnavailableError(f"dataset {name} is unavailable")
    return SequenceData.from_file(path, name=name, max_len=max_len)


def __getattr__(name: str) -> Any:  # the names this package re-exported before it became lazy
    if name == "prepare_dataset":
        from elcrec.data.fetch import prepare_dataset

        return prepare_dataset
    if name == "SequenceData":
        from elcrec.data.sequences import SequenceData

        return SequenceData
    raise AttributeError(f"module 'elcrec.data' has no attribute {name!r}")
