"""SASRec (Kang & McAuley, ICDM 2018) as the PyTorch model of the S3-Rec / ICLRec / ELCRec code family.

Follows RUCAIBox/CIKM2020-S3Rec @2a81540 (``run_finetune_full.py`` with no pre-trained checkpoint, which the
S3-Rec README calls "the same as SASRec"; ``trainers.py`` ``FinetuneTrainer`` and ``Trainer.cross_entropy``).
The same network and loss are ICLRec's (salesforce/ICLRec @2890e6c) and ELCRec's backbone (method doc §2.1,
§2.7): a causal post-LN Transformer over left-padded inputs, tied item embeddings, and per training step

    L = BCE(next item, one random negative per position), averaged over the non-pad target positions

with one training sequence per user (``s[:-3] -> s[1:-2]``). Nothing is added to the shared encoder.

Defaults are ``run_finetune_full.py``'s: 2 layers, 2 heads, hidden 64, both dropouts 0.5, max_len 50, Adam lr
1e-3, batch 256, **200 epochs, early stopping patience 10** on validation NDCG@20 (``train_overrides``).

Deliberate deviations from the original code:

* the seed is the harness's run seed (S3-Rec's default is 42);
* S3-Rec's model also carries an attribute table and four pre-training heads that fine-tuning never uses;
  they are left out (no effect on the forward pass; the checkpoint holds the encoder keys only);
* evaluation is the shared evaluator (the same full-ranking rule, history scored 0).

Not the TensorFlow ``kang205/SASRec`` code (hidden 50, batch 128, its own negative sampling and evaluator).
Where ELCRec's Table 1 SASRec cells come from is only partly known: the four Toys cells equal S3-Rec's
full-ranking table (which this code produced), the others do not (Beauty HR@5/HR@20: paper .0374/.0901,
S3-Rec's table .0387/.0902), so they were re-run or taken from another paper.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from elcrec.data.batches import Batch
from elcrec.models.base import EncoderConfig, RecModel
from elcrec.nn.losses import bce_next_item


@dataclass
class SASRecConfig(EncoderConfig):
    """The encoder settings alone; the defaults of EncoderConfig are S3-Rec's (2 layers, dropouts 0.5)."""


class SASRec(RecModel):
    name = "sasrec"
    capture_blocker = None  # reviewed: the step reads fixed storage only (elcrec/steps.py)
    needs_negatives = True
    augment = None
    train_overrides: ClassVar[dict[str, Any]] = {"max_epochs": 200, "patience": 10}

    def __init__(self, item_size: int, cfg: SASRecConfig) -> None:
        super().__init__(item_size, cfg)
        self.loss_weights = {"rec": 1.0}

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.target_neg is not None
        seq_out = self.encoder(batch.input_ids)
        return {"rec": bce_next_item(seq_out, batch.target_pos, batch.target_neg,
                                     self.encoder.item_embeddings.weight)}
