"""Parse a sequence file once and build the leave-one-out split as tensors (method doc §3.2).

The file holds one user per line, ``user_id item item ...`` in time order; the user id is ignored (the row
index is the user, as in the original ``get_user_seqs``). Everything downstream works on flat arrays: the
items of all users in one int64 array with CSR offsets, and padded (U, max_len) tensors built by vectorised
indexing, so no per-sample Python runs in the training or evaluation hot path.

Split per user sequence ``s`` (the ICLRec/ELCRec code): train input ``s[:-3]`` -> targets ``s[1:-2]``;
valid input ``s[:-2]`` -> ``s[-2]``; test input ``s[:-1]`` -> ``s[-1]``; each input keeps its last
``max_len`` items and is left-padded with 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from elcrec.errors import DataError

MIN_ITEMS = 3  # valid and test targets plus at least one input item
# Item ids index the embedding tables (one row per id up to the largest): ids must be dense, 1..n. Above this an
# id would make the tables of a 64-wide model (with Adam's two moments) need more than 25 GB.
MAX_ITEM_ID = 2**25


def _fits_int64(token: bytes) -> bool:
    try:
        return -(2**63) <= int(token) < 2**63
    except ValueError:
        return False


def parse_sequence_file(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (items, offsets) of a sequence file; malformed or truncated input names the file and line."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; run `python -m elcrec download --dataset NAME` first")
    raw = path.read_bytes()
    if not raw:
        raise DataError(f"{path}: the file is empty; delete it and download it again")
    if not raw.endswith(b"\n"):
        nlines = raw.count(b"\n") + 1
        raise DataError(
            f"{path}:{nlines}: the last line has no line end, so the file looks truncated; "
            "delete it and download it again"
        )
    rows: list[np.ndarray] = []
    for lineno, line in enumerate(raw.split(b"\n")[:-1], start=1):
        tokens = line.split()
        try:
            values = np.array(tokens, dtype=np.int64)
        except (ValueError, OverflowError):
            bad = next((t for t in tokens if not _fits_int64(t)), b"?")
            raise DataError(
                f"{path}:{lineno}: malformed line (token {bad.decode(errors='replace')!r} is not an integer id); "
                "expected 'user_id item_id item_id ...'. Delete the file and download it again"
            ) from None
        if len(values) - 1 < MIN_ITEMS:
            raise DataError(
                f"{path}:{lineno}: a user needs at least {MIN_ITEMS} items (train/valid/test), found "
                f"{max(len(values) - 1, 0)}; the line is truncated or the file is not a sequence file"
            )
        if values[1:].min() < 1:
            raise DataError(f"{path}:{lineno}: item ids must be >= 1 (0 is the padding id)")
        if values[1:].max() > MAX_ITEM_ID:
            big = int(values[1:].max())
            raise DataError(
                f"{path}:{lineno}: item id {big} is too large: the embedding table would need {big * 64 * 4 * 3 / 1e9:.0f}"
                f" GB (one row per id). Remap item ids to 1..n (at most {MAX_ITEM_ID})"
            )
        rows.append(values[1:])
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return np.concatenate(rows), offsets


@dataclass
class EvalSplit:
    """Inputs, targets and the history to filter for one evaluation split (valid or test)."""

    inputs: torch.Tensor  # (U, max_len) int64, left-padded
    targets: torch.Tensor  # (U,) int64
    history_ptr: np.ndarray  # (U + 1,) CSR pointers into history_items
    history_items: np.ndarray  # items each user has already seen (all of them, not only the last max_len)

    @property
    def num_users(self) -> int:
        return int(self.targets.shape[0])


@dataclass
class SequenceData:
    """All users' sequences of one dataset, with the split tensors built on first use."""

    name: str
    items: np.ndarray
    offsets: np.ndarray
    max_len: int = 50

    @classmethod
    def from_file(cls, path: str | Path, name: str | None = None, max_len: int = 50) -> "SequenceData":
        items, offsets = parse_sequence_file(path)
        return cls(name or Path(path).stem, items, offsets, max_len)

    @classmethod
    def from_lists(cls, seqs: list[list[int]], name: str = "synthetic", max_len: int = 50) -> "SequenceData":
        offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in seqs], out=offsets[1:])
        return cls(name, np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs]), offsets, max_len)

    @property
    def num_users(self) -> int:
        return len(self.offsets) - 1

    @cached_property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @cached_property
    def num_items(self) -> int:
        """The largest item id (ids are 1..num_items)."""
        return int(self.items.max())

    @property
    def item_size(self) -> int:
        """Rows of the item table: pad 0, items 1..num_items, and the mask id num_items + 1 (as the original)."""
        return self.num_items + 2

    def window(self, start: int, cut: int) -> torch.Tensor:
        """(U, max_len): for each user ``s[start:len(s) - cut][-max_len:]``, left-padded with 0."""
        lo = self.offsets[:-1] + start
        hi = self.offsets[1:] - cut
        lo = np.maximum(lo, hi - self.max_len)
        idx = hi[:, None] - self.max_len + np.arange(self.max_len)[None, :]
        keep = idx >= lo[:, None]
        out = np.where(keep, self.items[np.clip(idx, 0, None)], 0)
        return torch.from_numpy(out)

    def last(self, cut: int) -> torch.Tensor:
        """(U,) the item at position ``len(s) - cut`` of each user (cut=1: last item)."""
        return torch.from_numpy(self.items[self.offsets[1:] - cut].copy())

    @cached_property
    def train_inputs(self) -> torch.Tensor:
        return self.window(0, 3)

    @cached_property
    def train_targets(self) -> torch.Tensor:
        return self.window(1, 2)

    def _history(self, cut: int) -> tuple[np.ndarray, np.ndarray]:
        keep = np.ones(len(self.items), dtype=bool)
        for c in range(1, cut + 1):
            keep[self.offsets[1:] - c] = False
        counts = self.lengths - cut
        ptr = np.zeros(self.num_users + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        return ptr, self.items[keep]

    def eval_split(self, which: str) -> EvalSplit:
        """``valid``: input ``s[:-2]`` -> ``s[-2]``, history ``s[:-2]``; ``test``: ``s[:-1]`` -> ``s[-1]``."""
        cut = {"valid": 2, "test": 1}.get(which)
        if cut is None:
            raise ValueError(f"split must be 'valid' or 'test', not {which!r}")
        ptr, hist = self._history(cut)
        return EvalSplit(self.window(0, cut), self.last(cut), ptr, hist)

    def training_part(self) -> "SequenceData":
        """Each user's training items ``s[:-2]`` (every one, not only the last max_len): what BPR-MF samples from
        and Caser slides its windows over."""
        ptr, items = self._history(2)
        return SequenceData(f"{self.name}-train", items, ptr, self.max_len)

    def subset(self, users: np.ndarray, name: str | None = None) -> "SequenceData":
        """The sequences of the given user rows (item ids unchanged), e.g. for quick presets and tests."""
        users = np.asarray(users)
        parts = [self.items[self.offsets[u] : self.offsets[u + 1]] for u in users]
        return SequenceData.from_lists([p.tolist() for p in parts], name or f"{self.name}-subset", self.max_len)
