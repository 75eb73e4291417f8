"""Negative sampling for the next-item BCE (method doc §2.7), vectorised with rejection.

One negative per position, uniform over ``[1, item_size - 1]`` (so the mask id can be drawn, as in the
original ``neg_sample``), excluding every item of the user's *full* sequence (valid and test items included).
Membership is tested against sorted ``user * item_size + item`` keys, and rejected draws are redrawn until none
is left, which gives exactly the original's distribution.
"""
from __future__ import annotations

import numpy as np
import torch

from elcrec.data.sequences import SequenceData


class NegativeSampler:
    """Negatives uniform over ``[1, high - 1]`` (default ``item_size``: the mask id included), never an item of the
    user's sequence in ``data`` (BPR-MF and Caser pass the training part and ``high = num_items + 1``)."""

    def __init__(self, data: SequenceData, high: int | None = None) -> None:
        self.item_size = data.item_size if high is None else max(high, int(data.items.max()) + 1)
        users = np.repeat(np.arange(data.num_users, dtype=np.int64), data.lengths)
        self.keys = np.unique(users * self.item_size + data.items)

    def _seen(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users * self.item_size + items
        pos = np.searchsorted(self.keys, keys)
        return self.keys[np.minimum(pos, len(self.keys) - 1)] == keys

    def sample(self, users: np.ndarray, targets: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """(n, L) negatives for users ``users`` at the positions where ``targets`` > 0 (0 elsewhere, as the original)."""
        tgt = targets.numpy()
        rows, cols = np.nonzero(tgt > 0)
        out = np.zeros_like(tgt)
        out[rows, cols] = self.draw(np.asarray(users, dtype=np.int64)[rows], rng)
        return torch.from_numpy(out)

    def draw(self, owner: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One negative for each entry of ``owner`` (a user row), by rejection."""
        draws = rng.integers(1, self.item_size, len(owner))
        bad = np.flatnonzero(self._seen(owner, draws))
        while len(bad):
            draws[bad] = rng.integers(1, self.item_size, len(bad))
            bad = bad[self._seen(owner[bad], draws[bad])]
        return draws
