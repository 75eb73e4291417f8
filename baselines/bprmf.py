"""BPR-MF: matrix factorisation trained with the pairwise BPR loss (Rendle et al., UAI 2009).

The implementation ELCRec's Table 12 names is NGCF's baseline, xiangwang1223/neural_graph_collaborative_filtering
(``NGCF/BPRMF.py`` @04dada5, ``NGCF/utility/load_data.py`` ``Data.sample`` and ``NGCF/utility/parser.py``
@2178526); this module follows it (written anew; RecBole's ``general_recommender/bpr.py`` computes the same loss).

* Network: a user table and an item table (64-d, Xavier-uniform as ``tf.contrib.layers.xavier_initializer``);
  the score of item i for user u is ``<e_u, e_i>``, for every item id at once in :meth:`score`.
* Sampling (``Data.sample``), ``n_train // batch_size + 1`` batches per epoch: each batch holds ``batch_size``
  *distinct* users drawn uniformly (``random.sample``; with replacement when there are fewer users), for each
  one positive drawn uniformly from the user's training items and one negative drawn uniformly from the items
  the user has not trained on. Training items are ``s[:-2]`` (valid and test items stay unseen), all of them.
* Loss (``create_bpr_loss``): ``-mean(log sigmoid(<u,i> - <u,j>)) + reg * (|u|^2 + |i|^2 + |j|^2) / 2 / batch_size``
  (``tf.nn.l2_loss`` halves the squared norm), ``reg = regs[0] = 1e-5``.
* Optimiser: ``tf.train.RMSPropOptimizer(lr)`` with its sparse row updates (elcrec/nn/optim.py ``TFRMSProp``),
  lr 0.01, batch 1024, 500 epochs (parser defaults); NGCF tests every 10 epochs and stops after 10 tests
  without a better recall@20, which is patience 100 here (validation NDCG@20 after every epoch).

Deviations: item ids start at 1 (0 is padding, item_size - 1 the mask id, as every model of the harness): the
pad and mask rows are never sampled and are set to zero, so they score 0 for every user; evaluation is the
shared full-ranking evaluator (NGCF ranks test items among all non-training items); the seed is the run seed.
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
from elcrec.nn.optim import TFRMSProp

OPTIMIZERS = ("rmsprop", "adam")


@dataclass
class BPRMFConfig:
    hidden: int = 64  # embed_size
    reg: float = 1e-5  # regs[0], the "decay" of the L2 term
    optimizer: str = "rmsprop"  # rmsprop: NGCF's tf RMSProp; adam: the harness's shared Adam
    num_users: int = 0  # rows of the user table; the trainer fills it from the dataset
    max_len: int = 50  # length of the evaluation inputs (unused by the model)

    def validate(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, not {self.optimizer!r}")


class BPRSampler:
    """NGCF's ``Data.sample``: per batch, distinct users with one positive and one negative each."""

    def __init__(self, data: SequenceData, batch_size: int) -> None:
        self.train = data.training_part()
        self.batch_size = batch_size
        self.negatives = NegativeSampler(self.train, high=data.num_items + 1)

    def num_batches(self) -> int:
        return len(self.train.items) // self.batch_size + 1  # n_batch = n_train // batch_size + 1

    def sample(self, rng: np.random.Generator) -> Batch:
        n_users = self.train.num_users
        if self.batch_size <= n_users:
            users = rng.choice(n_users, self.batch_size, replace=False)
        else:
            users = rng.integers(0, n_users, self.batch_size)
        starts, lengths = self.train.offsets[users], self.train.lengths[users]
        pos = self.train.items[starts + rng.integers(0, lengths)]
        neg = self.negatives.draw(users, rng)
        users_t = torch.from_numpy(users)
        return Batch(users=users_t, input_ids=torch.zeros(len(users), 0, dtype=torch.long),
                     target_pos=torch.from_numpy(pos), target_neg=torch.from_numpy(neg), user_ids=users_t)

    def epoch(self, seed: int, epoch: int) -> Iterator[Batch]:
        rng = epoch_rng(seed, epoch)
        for _ in range(self.num_batches()):
            yield self.sample(rng)


def bpr_loss(u: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, reg: float, batch_size: int) -> tuple[
        torch.Tensor, torch.Tensor]:
    """(mf loss, L2 term) of ``create_bpr_loss`` for the embeddings of a batch."""
    diff = (u * pos).sum(-1) - (u * neg).sum(-1)
    l2 = (u.pow(2).sum() + pos.pow(2).sum() + neg.pow(2).sum()) / 2
    return -F.logsigmoid(diff).mean(), reg * l2 / batch_size


class BPRMF(RecModel):
    name = "bpr-mf"
    needs_negatives = False
    needs_user_ids = True
    train_overrides: ClassVar[dict[str, Any]] = {"lr": 0.01, "batch_size": 1024, "max_epochs": 500, "patience": 100}

    def __init__(self, item_size: int, cfg: BPRMFConfig) -> None:
        super().__init__(item_size, cfg, shared_encoder=False)
        self.user_embeddings = nn.Embedding(num_users_of("BPR-MF", cfg), cfg.hidden)
        self.item_embeddings = nn.Embedding(item_size, cfg.hidden)
        nn.init.xavier_uniform_(self.user_embeddings.weight)
        nn.init.xavier_uniform_(self.item_embeddings.weight)
        with torch.no_grad():  # pad and mask ids: never trained, score 0
            self.item_embeddings.weight[0].zero_()
            self.item_embeddings.weight[-1].zero_()
        self.loss_weights = {"bpr": 1.0, "reg": 1.0}
        self.batch_size = 0  # set by epoch_builder: the L2 term divides by the configured batch size

    def epoch_builder(self, data: SequenceData, batch_size: int) -> BPRSampler:
        self.batch_size = batch_size
        return BPRSampler(data, batch_size)

    def make_optimizer(self, cfg: Any, steps_per_epoch: int) -> tuple[torch.optim.Optimizer, None]:
        if self.cfg.optimizer == "adam":
            return super().make_optimizer(cfg, steps_per_epoch)
        return TFRMSProp(self.parameters(), lr=cfg.lr, sparse_rows=True), None

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.user_ids is not None and batch.target_neg is not None
        bpr, reg = bpr_loss(self.user_embeddings(batch.user_ids), self.item_embeddings(batch.target_pos),
                            self.item_embeddings(batch.target_neg), self.cfg.reg, self.batch_size or len(batch))
        return {"bpr": bpr, "reg": reg}

    def score(self, input_ids: torch.Tensor, user_ids: torch.Tensor | None = None) -> torch.Tensor:
        if user_ids is None:
            raise ValueError("BPR-MF scores users: pass user_ids")
        return self.user_embeddings(user_ids) @ self.item_embeddings.weight.T
