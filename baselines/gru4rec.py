"""GRU4Rec (Hidasi et al., ICLR 2016; Tan et al., DLRS 2016) as RecBole implements it for next-item prediction.

Follows RUCAIBox/RecBole (``recbole/model/sequential_recommender/gru4rec.py`` @b616af6,
``recbole/properties/model/GRU4Rec.yaml`` @0bb184a), written anew. ELCRec's Table 12 names
slientGe/Sequential_Recommendation_Tensorflow, which was not reviewed; the GRU4Rec authors' own code
(hidasib/GRU4Rec, session-parallel mini-batches) is under a non-commercial licence and was not used.

* Network: item embedding (64-d, Xavier-normal, pad row included) -> dropout 0.3 -> one GRU layer (hidden 128,
  **no biases**, Xavier-uniform input and hidden weights) -> Linear(128, 64); the output at a position is
  scored against the item table (tied), over every item id.
* Hidden state: every sequence starts from a zero state at its first real item. Our inputs are left-padded, so
  the rows are right-aligned (``right_align``) before the GRU, as RecBole's right-padded inputs are: padding
  never enters the state, and the state after item t is that of the unpadded prefix (tested).
* Loss: RecBole's ``loss_type: CE``, softmax cross-entropy over all item ids, on every prefix of the training
  sequence (RecBole's default data augmentation: each prefix -> its next item is one instance). Here one row per
  user carries all of its prefixes (the GRU is causal, so position t sees exactly prefix t), and the loss is the
  mean over all (user, position) instances of the batch.
* Scoring: the output at the last real item of the evaluation input.

Settings: RecBole's defaults (``GRU4Rec.yaml``; lr 1e-3, Adam, early stopping after 10 epochs without a better
validation metric, up to 300 epochs). Deviations: RecBole batches 2048 prefixes; a batch here is 256 users
(about 1,800 prefixes on Beauty), and ``train_overrides`` set patience 10; a prefix of a sequence longer than
max_len + 3 sees the items since the start of the user's training window, not its own last 50 items.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from elcrec.data.batches import Batch
from elcrec.models.base import RecModel


@dataclass
class GRU4RecConfig:
    hidden: int = 64  # embedding_size
    gru_hidden: int = 128  # hidden_size
    layers: int = 1  # num_layers
    dropout: float = 0.3  # dropout_prob (on the input embeddings)
    max_len: int = 50  # MAX_ITEM_LIST_LENGTH


def right_align(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(aligned, lengths, index): left-padded rows moved to the left edge (padding after the items).

    ``aligned = ids.gather(1, index)`` where real; ``index`` maps each aligned position back to its column.
    """
    length = (ids > 0).sum(1)
    cols = torch.arange(ids.shape[1], device=ids.device)
    index = (cols[None, :] + (ids.shape[1] - length)[:, None]).clamp(max=ids.shape[1] - 1)
    aligned = ids.gather(1, index).masked_fill(cols[None, :] >= length[:, None], 0)
    return aligned, length, index


class GRU4Rec(RecModel):
    name = "gru4rec"
    needs_negatives = False
    train_overrides: ClassVar[dict[str, Any]] = {"patience": 10}

    def __init__(self, item_size: int, cfg: GRU4RecConfig) -> None:
        super().__init__(item_size, cfg, shared_encoder=False)
        self.item_embeddings = nn.Embedding(item_size, cfg.hidden, padding_idx=0)
        self.emb_dropout = nn.Dropout(cfg.dropout)
        self.gru = nn.GRU(cfg.hidden, cfg.gru_hidden, num_layers=cfg.layers, bias=False, batch_first=True)
        self.dense = nn.Linear(cfg.gru_hidden, cfg.hidden)
        nn.init.xavier_normal_(self.item_embeddings.weight)  # RecBole re-initialises the pad row too
        nn.init.xavier_uniform_(self.gru.weight_hh_l0)
        nn.init.xavier_uniform_(self.gru.weight_ih_l0)
        self.loss_weights = {"ce": 1.0}

    def states(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(outputs, lengths, index): (B, L, hidden) outputs of the right-aligned rows (see ``right_align``)."""
        aligned, length, index = right_align(input_ids)
        out, _ = self.gru(self.emb_dropout(self.item_embeddings(aligned)))
        return self.dense(out), length, index

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        out, length, index = self.states(batch.input_ids)
        targets = batch.target_pos.gather(1, index)  # the same alignment as the inputs
        real = torch.arange(out.shape[1], device=out.device)[None, :] < length[:, None]
        logits = out[real] @ self.item_embeddings.weight.T
        return {"ce": F.cross_entropy(logits, targets[real])}

    def score(self, input_ids: torch.Tensor, user_ids: torch.Tensor | None = None) -> torch.Tensor:
        out, length, _ = self.states(input_ids)
        last = out[torch.arange(out.shape[0], device=out.device), (length - 1).clamp(min=0)]
        return last @ self.item_embeddings.weight.T
