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

    def rows(self, lo: int, hi: int) -> "Batch":
        """Rows ``lo:hi`` as views (no copy): a batch of a staged epoch."""
        cut = lambda t: None if t is None else t[lo:hi]  # noqa: E731
        views = None if self.views is None else (cut(self.views[0]), cut(self.views[1]))
        return Batch(cut(self.users), cut(self.input_ids), cut(self.target_pos), cut(self.target_neg), views,
                     cut(self.user_ids))

    def tensors(self) -> list[torch.Tensor]:
        """Every tensor of the batch in a fixed order (what a static-shape step copies into its buffers)."""
        out = [self.users, self.input_ids, self.target_pos]
        out += [] if self.target_neg is None else [self.target_neg]
        out += [] if self.views is None else list(self.views)
        return out + ([] if self.user_ids is None else [self.user_ids])


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

    def stage(self, seed: int, epoch: int) -> Batch:
        """The whole epoch as one batch in training order (users shuffled; negatives and views drawn for all)."""
        rng = epoch_rng(seed, epoch)
        order = rng.permutation(self.data.num_users)
        negs = self.sampler.sample(order, self.targets[order], rng) if self.sampler else None
        views = self.views_for(order, rng) if self.augment else None
        users = torch.from_numpy(order)
        return Batch(users=users, input_ids=self.inputs[users], target_pos=self.targets[users], target_neg=negs,
                     views=views, user_ids=users if self.user_ids else None)  # the row index is the user id

    def bounds(self) -> list[tuple[int, int]]:
        """(lo, hi) rows of each batch: full batches, then the partial last one with its own size (never dropped)."""
        n = self.data.num_users
        return [(lo, min(lo + self.batch_size, n)) for lo in range(0, n, self.batch_size)]

    def epoch(self, seed: int, epoch: int) -> Iterator[Batch]:
        staged = self.stage(seed, epoch)
        for lo, hi in self.bounds():
            yield staged.rows(lo, hi)

    def num_batches(self) -> int:
        return -(-self.data.num_users // self.batch_size)
