"""Caser: convolutional sequence embedding (Tang & Wang, WSDM 2018), as its authors' PyTorch code trains it.

Follows graytowne/caser_pytorch (``caser.py`` @3e9ccfc, ``train_caser.py`` @4d9ee96, ``interactions.py``
@26ef449), the code ELCRec's Table 12 names; written anew. RecBole's ``caser.py`` simplifies it (one target, no
windows); this module keeps the original's windows and targets.

* Training instances (``Interactions.to_sequence(L, T)``): every window of ``L + T`` consecutive items of a
  user's training items ``s[:-2]`` (step 1), the first L the input and the last T the targets; a user with fewer
  than ``L + T`` items gives one window, left-padded with 0 (so with fewer than T items a pad id becomes a
  target, as in the original; never on 5-core data, where every user has at least 3 training items).
* Negatives (``_generate_negative_samples``): ``neg_samples * T`` per window, each uniform over the items the
  user has not trained on, drawn anew every epoch; windows are shuffled every epoch, batches of 512.
* Network: user and item embeddings (d = 50, N(0, 1/d)), a vertical convolution (nv = 4 filters of L x 1) and
  horizontal ones (nh = 16 filters of each height 1..L, ReLU, max-pooled over time), dropout 0.5,
  ``z = ReLU(W1 [v; h] + b1)``, ``x = [z; e_u]``; the score of item i is ``<x, W2_i> + b2_i`` with output tables
  W2 (N(0, 1/2d)) and b2 (zeros) apart from the input embeddings.
* Loss: ``-mean(log sigmoid(pos)) - mean(log(1 - sigmoid(neg)))`` over the T targets and the negatives.
* Optimiser: Adam, lr 1e-3, weight decay (``l2``) 1e-6, 50 epochs (``train_caser.py`` defaults).
* Scoring: the last L items of the evaluation input and the user.

Deviations: ``log sigmoid`` is computed as ``logsigmoid`` (the same value without the overflow to -inf of
``log(sigmoid(x))`` at large |x|); the harness evaluates every epoch with its own full-ranking evaluator and
keeps the best epoch on validation NDCG@20 (the original prints test metrics every epoch); the seed is the run
seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from elcrec.data.batches import Batch, epoch_rng
from elcrec.data.negatives import NegativeSampler
from elcrec.data.sequences import SequenceData
from elcrec.models.base import RecModel, num_users_of


@dataclass
class CaserConfig:
    hidden: int = 50  # d
    L: int = 5  # input window
    T: int = 3  # targets per window
    nv: int = 4  # vertical filters
    nh: int = 16  # horizontal filters per height
    dropout: float = 0.5  # drop
    neg_samples: int = 3  # negatives per target
    num_users: int = 0  # rows of the user table; the trainer fills it from the dataset
    max_len: int = 50  # length of the evaluation inputs (the model reads their last L items)

    def validate(self) -> None:
        if min(self.L, self.T, self.neg_samples) < 1:
            raise ValueError("L, T and neg_samples must be >= 1")
        if self.L > self.max_len:
            raise ValueError(f"L ({self.L}) cannot exceed max_len ({self.max_len})")


def caser_windows(train: SequenceData, L: int, T: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(users, inputs (N, L), targets (N, T)) of ``Interactions.to_sequence``, windows of a user from the end."""
    width = L + T
    counts = np.maximum(train.lengths - width + 1, 1)
    users = np.repeat(np.arange(train.num_users), counts)
    first = np.cumsum(counts) - counts
    j = np.arange(len(users)) - np.repeat(first, counts)  # 0 = the window that ends at the last item
    ends = train.offsets[1:][users] - j
    idx = ends[:, None] - width + np.arange(width)[None, :]
    windows = np.where(idx >= train.offsets[:-1][users][:, None], train.items[np.clip(idx, 0, None)], 0)
    return users, windows[:, :L], windows[:, L:]


class CaserWindows:
    """Every epoch: all windows shuffled, ``neg_samples * T`` fresh negatives each, batches of ``batch_size``."""

    def __init__(self, data: SequenceData, batch_size: int, cfg: CaserConfig) -> None:
        train = data.training_part()
        self.users, self.inputs, self.targets = caser_windows(train, cfg.L, cfg.T)
        self.batch_size, self.n_neg = batch_size, cfg.neg_samples * cfg.T
        self.negatives = NegativeSampler(train, high=data.num_items + 1)

    def num_batches(self) -> int:
        return -(-len(self.users) // self.batch_size)

    def epoch(self, seed: int, epoch: int) -> Iterator[Batch]:
        rng = epoch_rng(seed, epoch)
        order = rng.permutation(len(self.users))
        users = self.users[order]
        negs = torch.from_numpy(self.negatives.draw(np.repeat(users, self.n_neg), rng).reshape(-1, self.n_neg))
        users_t = torch.from_numpy(users)
        inputs, targets = torch.from_numpy(self.inputs[order]), torch.from_numpy(self.targets[order])
        for lo in range(0, len(order), self.batch_size):
            sl = slice(lo, lo + self.batch_size)
            yield Batch(users=users_t[sl], input_ids=inputs[sl], target_pos=targets[sl], target_neg=negs[sl],
                        user_ids=users_t[sl])


class Caser(RecModel):
    name = "caser"
    needs_negatives = False
    needs_user_ids = True
    train_overrides: ClassVar[dict[str, Any]] = {"batch_size": 512, "weight_decay": 1e-6, "max_epochs": 50}

    def __init__(self, item_size: int, cfg: CaserConfig) -> None:
        super().__init__(item_size, cfg, shared_encoder=False)
        d = cfg.hidden
        self.user_embeddings = nn.Embedding(num_users_of("Caser", cfg), d)
        self.item_embeddings = nn.Embedding(item_size, d)
        self.conv_v = nn.Conv2d(1, cfg.nv, (cfg.L, 1))
        self.conv_h = nn.ModuleList([nn.Conv2d(1, cfg.nh, (h, d)) for h in range(1, cfg.L + 1)])
        self.fc1 = nn.Linear(cfg.nv * d + cfg.nh * cfg.L, d)
        self.W2 = nn.Embedding(item_size, 2 * d)
        self.b2 = nn.Embedding(item_size, 1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.user_embeddings.weight.data.normal_(0, 1.0 / d)
        self.item_embeddings.weight.data.normal_(0, 1.0 / d)
        self.W2.weight.data.normal_(0, 1.0 / (2 * d))
        self.b2.weight.data.zero_()
        self.loss_weights = {"bce": 1.0}

    def epoch_builder(self, data: SequenceData, batch_size: int) -> CaserWindows:
        return CaserWindows(data, batch_size, self.cfg)

    def sequence_vector(self, seqs: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """x = [z; e_u] (B, 2d) of (B, L) item windows and (B,) users."""
        emb = self.item_embeddings(seqs).unsqueeze(1)  # (B, 1, L, d)
        out_v = self.conv_v(emb).reshape(len(seqs), -1)
        out_h = [F.relu(conv(emb).squeeze(3)).amax(2) for conv in self.conv_h]
        z = F.relu(self.fc1(self.dropout(torch.cat([out_v, *out_h], 1))))
        return torch.cat([z, self.user_embeddings(users)], 1)

    def item_scores(self, x: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(B, K) ``<x, W2_i> + b2_i`` for (B, K) items."""
        return (self.W2(items) * x[:, None, :]).sum(-1) + self.b2(items).squeeze(-1)

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.user_ids is not None and batch.target_neg is not None
        x = self.sequence_vector(batch.input_ids, batch.user_ids)
        pos, neg = self.item_scores(x, batch.target_pos), self.item_scores(x, batch.target_neg)
        return {"bce": -F.logsigmoid(pos).mean() - F.logsigmoid(-neg).mean()}

    def score(self, input_ids: torch.Tensor, user_ids: torch.Tensor | None = None) -> torch.Tensor:
        if user_ids is None:
            raise ValueError("Caser scores users: pass user_ids")
        x = self.sequence_vector(input_ids[:, -self.cfg.L:], user_ids)
        return x @ self.W2.weight.T + self.b2.weight.T
