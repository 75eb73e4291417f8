"""Per-epoch training batches, built once per epoch as tensors and then sliced (no per-sample Python).

An epoch is a pure function of ``(seed, epoch)``: the user order (the original's ``RandomSampler``, no
``drop_last``), one negative per position, and the two augmented views per user when the model asks for them.
That is what makes an interrupted run resume to the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from elcrec.data.augment import AugmentConfig, augment_views, draw_ops
from elcrec.data.negatives import NegativeSampler
from elcrec.data.sequences import SequenceData


@dataclass
class Batch:
    users: torch.Tensor  # (B,) row indices into the dataset
    input_ids: torch.Tensor  # (B, L)
    target_pos: torch.Tensor  # (B, L)
    target_neg: torch.Tensor | None = None  # (B, L)
    views: tuple[torch.Tensor, torch.Tensor] | None = None  # two (B, L) augmented inputs
    user_ids: torch.Tensor | None = None  # (B,) user ids, only for models with ``needs_user_ids`` (BPR-MF, Caser)

    def to(self, device: torch.device | str) -> "Batch":
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        views = None if self.views is None else (move(self.views[0]), move(self.views[1]))
        return Batch(move(self.users), move(self.input_ids), move(self.target_pos), move(self.target_neg), views,
                     move(self.user_ids))

    def __len__(self) -> int:
        return int(self.users.shape[0])


def epoch_rng(seed: int, epoch: int, stream: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, stream])


class EpochBuilder:
    """Builds every batch of one epoch for the model's needs (negatives, views)."""

    def __init__(self, data: SequenceData, batch_size: int, negatives: bool, augment: AugmentConfig | None,
                 user_ids: bool = False) -> None:
        self.data, self.batch_size, self.augment, self.user_ids = data, batch_size, augment, user_ids
        self.sampler = NegativeSampler(data) if negatives else None
        self.inputs, self.targets = data.train_inputs, data.train_targets

    def views_for(self, users: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Two augmented views of each user's untruncated training input ``s[:-3]``."""
        assert self.augment is not None
        starts = self.data.offsets[:-1][users]
        lengths = self.data.lengths[users] - 3
        first, second = draw_ops(len(users), self.augment, rng)
        return (augment_views(self.data.items, starts, lengths, first, self.augment, self.data.max_len, rng),
                augment_views(self.data.items, starts, lengths, second, self.augment, self.data.max_len, rng))

    def epoch(self, seed: int, epoch: int) -> Iterator[Batch]:
        rng = epoch_rng(seed, epoch)
        order = rng.permutation(self.data.num_users)
        negs = self.sampler.sample(order, self.targets[order], rng) if self.sampler else None
        views = self.views_for(order, rng) if self.augment else None
        order_t = torch.from_numpy(order)
        for lo in range(0, len(order), self.batch_size):
            sl = slice(lo, lo + self.batch_size)
            users = order_t[sl]
            yield Batch(
                users=users,
                input_ids=self.inputs[users],
                target_pos=self.targets[users],
                target_neg=None if negs is None else negs[sl],
                views=None if views is None else (views[0][sl], views[1][sl]),
                user_ids=users if self.user_ids else None,  # the row index is the user id (sequences.py)
            )

    def num_batches(self) -> int:
        return -(-self.data.num_users // self.batch_size)
