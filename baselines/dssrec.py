"""DSSRec: disentangled self-supervision for sequential recommendation (Ma et al., KDD 2020), pre-training then
fine-tuning.

The authors released no code; this follows the third-party implementation the issue names,
abinashsinha330/DSSRec @eb0ca62 (built on S3-Rec's code: ``models.py`` DSSRecModel/DSSRecModel2, ``modules.py``
DSSEncoder, ``datasets.py`` PretrainDataset, ``trainers.py`` DSSPretrainer/FineTrainer, ``utils.py`` defaults,
``pretrainer.py``, ``finetuner.py``). Every difference is listed in docs/baselines_intent.md.

Pre-training (a ``Phase`` the one trainer runs before training, as S3-Rec's; ``elcrec.train.run_phase``):

* examples: each user's training part ``s[:-2]`` when the user has at most ``max_len`` items, otherwise windows
  of ``s`` ending ``sliding_window * max_len`` items apart (``__split_sequence_disent``);
* per example of length m, a split point t ~ U{1..m-2} (t = 1 for m = 2): input sub-sequence ``w[:t]``, label
  sub-sequence ``w[t:]`` *reversed* (its last column is the next item), next item ``w[t]`` (m = 1: all three are
  the one item); both sub-sequences are left-padded and encoded by the causal SASRec encoder;
* the intent encoder (``IntentEncoder``, the original's DSSEncoder) turns the (B, L, D) outputs into K intent
  encodings: p(k | i) = softmax_k(LN(z_i) . LN(prototype_k) / sqrt(D)), p(i) = softmax_i(key_i . query / sqrt(D))
  with key_i = LN(z_i + alpha_i) + relu(W LN(z_i + alpha_i)) and query = LN(b' + alpha_L + z_L), then
  e_k = LN(beta_k + sum_i p(k | i) p(i) z_i) with separate beta for input and label sequences. Padding
  positions take part, as in the original (no mask);
* seq2item: ``sum_b -log2(max_k exp(e_bk . n_b / sqrt D) / sum_k sum_b' exp(e_bk . n_b' / sqrt D))``;
* seq2seq: ``l_bk = -log2(exp(e_bk . f_bk / sqrt D) / sum_j sum_b' exp(e_bk . f_b'j / sqrt D))`` (e: input,
  f: label encodings); confidence-based selection keeps the terms not above the ``floor(lambda * B * K)``-th
  smallest and sums them;
* ``L = s2i_weight * seq2item + s2s_weight * seq2seq``, Adam lr 1e-3, batch 256.

The backbone is S3-Rec's SASRec encoder except for its feed-forward block (``ReluFeedForward``: width D, ReLU
after both layers, PyTorch's default init), as DSSRec's ``modules.py``; 1 attention head by default.

Fine-tuning: ``finetune: sasrec`` (the original's default ``loss_type DSS``) is SASRec's BCE on the pre-trained
causal encoder (the intent encoder is unused); ``finetune: intents`` (``DSS-2``) scores an item by the max over
the K intent encodings of the input, in the BCE and in ranking. Protocol of ``finetuner.py`` as
``train_overrides``: patience 10 on NDCG@20, 200 epochs, batch 256, lr 1e-3.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch import nn

from baselines.s3rec import PRETRAIN_STREAM
from elcrec.data.batches import Batch, epoch_rng
from elcrec.data.sequences import SequenceData
from elcrec.errors import DataError
from elcrec.models.base import EncoderConfig, Phase, RecModel, TrainContext
from elcrec.nn.dropout import Dropout
from elcrec.nn.encoder import LayerNorm
from elcrec.nn.losses import EPS, bce_next_item

FINETUNE = ("sasrec", "intents")
LN2 = math.log(2.0)


@dataclass
class DSSRecConfig(EncoderConfig):
    heads: int = 1  # utils.py --num_attention_heads
    k: int = 4  # --num_intents
    lambda_: float = 0.5  # --lambda_: the fraction of seq2seq terms kept (confidence-based intent selection)
    s2i_weight: float = 1.0
    s2s_weight: float = 1.0
    pretrain_epochs: int = 30  # finetuner.py loads the checkpoint after --ckp 30 epochs (--pre_epochs is 300)
    pretrain_batch_size: int = 256  # --pre_batch_size
    pretrain_lr: float = 1e-3  # --lr (the pre-trainer uses the one Adam of trainers.py)
    sliding_window: float = 0.5  # --prop_sliding_window
    finetune: str = "sasrec"  # sasrec (--loss_type DSS, default) | intents (DSS-2)

    def validate(self) -> None:
        if self.finetune not in FINETUNE:
            raise ValueError(f"finetune must be one of {FINETUNE}, not {self.finetune!r}")
        if self.k < 1 or not 0.0 < self.lambda_ <= 1.0:
            raise ValueError(f"k must be >= 1 and lambda_ in (0, 1], not k={self.k}, lambda_={self.lambda_}")
        if self.pretrain_epochs < 0 or self.pretrain_batch_size < 1 or not 0.0 < self.sliding_window <= 1.0:
            raise ValueError("pretrain_epochs must be >= 0, pretrain_batch_size >= 1, sliding_window in (0, 1]")


# ------------------------------------------------------------------------------------------------ data


@dataclass
class DSSBatch:
    """One pre-training batch: left-padded (B, L) input and reversed label sub-sequences, (B,) next items."""

    inputs: torch.Tensor
    labels: torch.Tensor
    next_items: torch.Tensor

    def to(self, device: torch.device | str) -> "DSSBatch":
        return DSSBatch(*(getattr(self, f).to(device, non_blocking=True) for f in self.__dataclass_fields__))

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


def pretrain_windows(data: SequenceData, max_len: int, sliding_window: float) -> tuple[np.ndarray, np.ndarray]:
    """(absolute start, length) of every pre-training example (``__split_sequence_disent``).

    A user with n <= max_len items gives ``s[:-2]``; a longer one gives ``s[i - 2 : i + max_len - 2]`` for
    i = n - max_len, n - max_len - step, ... > 0 and i = 0, the start clamped at 0 (the original's slice
    ``s[-2:48]`` for i = 0, or ``s[-1:49]`` for i = 1, is empty and crashes its split-point draw).
    """
    step = int(sliding_window * max_len)
    starts, lengths = [], []
    for lo, hi in zip(data.offsets[:-1].tolist(), data.offsets[1:].tolist()):
        n = hi - lo
        if n <= max_len:
            starts.append(lo)
            lengths.append(n - 2)
            continue
        for i in [0, *range(n - max_len, 0, -step)[::-1]]:
            a, b = max(i - 2, 0), i + max_len - 2
            starts.append(lo + a)
            lengths.append(b - a)
    lengths_a = np.asarray(lengths, dtype=np.int64)
    if (lengths_a < 1).any():
        raise DataError("DSSRec pre-training needs every user to have at least 3 items")
    return np.asarray(starts, dtype=np.int64), lengths_a


def left_pad(items: np.ndarray, first: np.ndarray, count: np.ndarray, max_len: int, reverse: bool = False) -> torch.Tensor:
    """(B, max_len): ``items[first:first + count]`` per row (reversed if asked), its last max_len kept, left-padded."""
    r = np.arange(max_len)[None, :][:, ::-1]  # distance of each column from the last one
    if reverse:  # the last column holds the first item
        idx, ok = first[:, None] + r, r < count[:, None]
    else:
        idx, ok = first[:, None] + count[:, None] - 1 - r, r < count[:, None]
    return torch.from_numpy(np.where(ok, items[np.where(ok, idx, 0)], 0).astype(np.int64))


class DSSSampler:
    """The original ``PretrainDataset`` (loss_type DSS), vectorised; a split point is drawn per example and epoch."""

    def __init__(self, data: SequenceData, max_len: int, sliding_window: float) -> None:
        self.items, self.max_len = data.items, max_len
        self.starts, self.lengths = pretrain_windows(data, max_len, sliding_window)

    def __len__(self) -> int:
        return len(self.lengths)

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def split_points(self, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """t ~ U{1..m-2} for m >= 3, 1 for m = 2, 0 for m = 1 (whose input and label are the item itself)."""
        draw = 1 + np.floor(rng.random(len(m)) * np.maximum(m - 2, 1)).astype(np.int64)
        return np.where(m >= 3, draw, np.where(m == 2, 1, 0))

    def batch(self, ids: np.ndarray, rng: np.random.Generator) -> DSSBatch:
        start, m = self.starts[ids], self.lengths[ids]
        t = self.split_points(m, rng)
        single = m == 1
        return DSSBatch(
            inputs=left_pad(self.items, start, np.where(single, 1, t), self.max_len),
            labels=left_pad(self.items, start + t, m - t, self.max_len, reverse=True),
            next_items=torch.from_numpy(self.items[start + t].astype(np.int64)),
        )

    def epoch(self, rng: np.random.Generator, batch_size: int) -> Iterator[DSSBatch]:
        order = rng.permutation(len(self))  # RandomSampler, no drop_last
        for lo in range(0, len(order), batch_size):
            yield self.batch(order[lo : lo + batch_size], rng)


# ------------------------------------------------------------------------------------------------ model


class ReluFeedForward(nn.Module):
    """DSSRec's ``PointWiseFeedForward``: two width-D kernel-1 convolutions, each followed by ReLU, dropout, then
    the residual LayerNorm (S3-Rec's is width 4D with one GELU). Linear = Conv1d(kernel 1), both with PyTorch's
    default init, which the original keeps (its N(0, 0.02) init touches Linear and Embedding only)."""

    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.conv1d_1 = nn.Linear(hidden, hidden)
        self.conv1d_2 = nn.Linear(hidden, hidden)
        self.LayerNorm = LayerNorm(hidden)
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(torch.relu(self.conv1d_2(torch.relu(self.conv1d_1(x))))) + x)


class IntentEncoder(nn.Module):
    """The original's DSSEncoder: K intent encodings of a (B, L, D) sequence encoding."""

    def __init__(self, hidden: int, k: int, max_len: int) -> None:
        super().__init__()
        scale = 1 / math.sqrt(hidden)
        self.prototypes = nn.Parameter(torch.randn(k, hidden) * scale)
        self.layernorm1, self.layernorm2, self.layernorm3, self.layernorm4, self.layernorm5 = (
            LayerNorm(hidden) for _ in range(5))
        self.w = nn.Linear(hidden, hidden)  # PyTorch's default init: the original's init ran before it existed
        self.b_prime = nn.Parameter(torch.zeros(hidden))
        self.alphas = nn.Parameter(torch.zeros(max_len, hidden))
        self.beta_input_seq = nn.Parameter(torch.randn(k, hidden) * scale)
        self.beta_label_seq = nn.Parameter(torch.randn(k, hidden) * scale)

    def forward(self, z: torch.Tensor, is_input: bool) -> torch.Tensor:
        """(B, K, D) from z (B, L, D)."""
        d = z.shape[-1]
        p_k = torch.softmax(self.layernorm1(z) @ self.layernorm2(self.prototypes).T / math.sqrt(d), -1)  # (B, L, K)
        keys = self.layernorm3(z + self.alphas)
        keys = keys + torch.relu(self.w(keys))
        query = self.layernorm4(self.b_prime + self.alphas[-1] + z[:, -1])  # (B, D)
        p_i = torch.softmax((keys @ query[:, :, None]).squeeze(-1) / math.sqrt(d), -1)  # (B, L)
        beta = self.beta_input_seq if is_input else self.beta_label_seq
        return self.layernorm5(beta + (p_k * p_i[:, :, None]).transpose(1, 2) @ z)


def seq2item_loss(enc: torch.Tensor, next_emb: torch.Tensor) -> torch.Tensor:
    """Summed over the batch: -log2 of max_k exp(e_bk . n_b / sqrt D) over the exp-sum against every next item."""
    logits = torch.einsum("bkd,cd->bkc", enc, next_emb) / math.sqrt(enc.shape[-1])  # (B, K, B')
    own = logits.diagonal(dim1=0, dim2=2).T.max(-1).values  # (B,): max_k of e_bk . n_b
    return ((logits.flatten(1).logsumexp(-1) - own) / LN2).sum()


def seq2seq_loss(inp: torch.Tensor, lab: torch.Tensor, lambda_: float) -> torch.Tensor:
    """The confident seq2seq terms: l_bk = -log2(exp(e_bk . f_bk) / sum_j sum_b' exp(e_bk . f_b'j)) (dots / sqrt D),
    summed over those not above the floor(lambda * B * K)-th smallest."""
    b, k, d = inp.shape
    logits = torch.einsum("bkd,cjd->bkcj", inp, lab) / math.sqrt(d)  # (B, K, B', K')
    own = (inp * lab).sum(-1) / math.sqrt(d)  # (B, K)
    terms = ((logits.flatten(2).logsumexp(-1) - own) / LN2).flatten()
    kth = max(1, int(math.floor(lambda_ * b * k)))
    threshold = torch.kthvalue(terms.detach(), kth).values
    return (terms * (terms <= threshold)).sum()


class DSSRec(RecModel):
    name = "dssrec"
    needs_negatives = True
    # finetuner.py: EarlyStopping(patience=10) on NDCG@20, --epochs 200, --batch_size 256, --lr 0.001 (S3-Rec's)
    train_overrides = {"patience": 10, "max_epochs": 200, "batch_size": 256, "lr": 1e-3}

    def __init__(self, item_size: int, cfg: DSSRecConfig) -> None:
        super().__init__(item_size, cfg, causal=True)
        for layer in self.encoder.item_encoder.layer:  # DSSRec's feed-forward block, not S3-Rec's
            layer.intermediate = ReluFeedForward(cfg.hidden, cfg.hidden_dropout)
        self.intent_encoder = IntentEncoder(cfg.hidden, cfg.k, cfg.max_len)
        self.loss_weights = {"rec": 1.0}
        self.pretrain_weights = {"seq2item": cfg.s2i_weight, "seq2seq": cfg.s2s_weight}
        self.pretrain_log: list[dict[str, float]] = []

    # --- pre-training ----------------------------------------------------------------------------------
    def pretrain_losses(self, batch: DSSBatch) -> dict[str, torch.Tensor]:
        b = len(batch)
        z = self.encoder(torch.cat([batch.inputs, batch.labels]))  # one causal pass (the original: two)
        inp = self.intent_encoder(z[:b], is_input=True)
        lab = self.intent_encoder(z[b:], is_input=False)
        return {"seq2item": seq2item_loss(inp, self.encoder.item_embeddings(batch.next_items)),
                "seq2seq": seq2seq_loss(inp, lab, self.cfg.lambda_)}

    def phases(self, ctx: TrainContext) -> list[Phase]:
        """The pre-training phase (seq2item + seq2seq, its own Adam), seeded as S3-Rec's; none if epochs is 0."""
        cfg = self.cfg
        if cfg.pretrain_epochs <= 0:
            return []
        sampler = DSSSampler(ctx.data, cfg.max_len, cfg.sliding_window)
        optim = torch.optim.Adam(self.parameters(), lr=cfg.pretrain_lr, betas=(0.9, 0.999), weight_decay=0.0)

        def batches(epoch: int) -> Iterator[DSSBatch]:
            rng = epoch_rng(ctx.seed, epoch, PRETRAIN_STREAM)
            torch.manual_seed(int(np.random.SeedSequence([ctx.seed, epoch, PRETRAIN_STREAM]).generate_state(1)[0]))
            return sampler.epoch(rng, cfg.pretrain_batch_size)

        def step(batch: DSSBatch) -> dict[str, torch.Tensor]:
            terms = self.pretrain_losses(batch.to(ctx.device))
            total = sum(self.pretrain_weights[k] * v for k, v in terms.items())
            optim.zero_grad(set_to_none=True)
            total.backward()  # type: ignore[union-attr]
            optim.step()
            return terms

        return [Phase("pretrain", "DSSRec pre-training", cfg.pretrain_epochs,
                      sampler.num_batches(cfg.pretrain_batch_size), cfg.pretrain_batch_size,
                      tuple(self.pretrain_weights), ctx.device, batches, step, log=self.pretrain_log,
                      hint="lower pretrain_lr")]

    def extra_logs(self) -> dict[str, list[dict[str, float]]]:
        return {"pretrain_log": self.pretrain_log}

    # --- fine-tuning -----------------------------------------------------------------------------------
    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.target_neg is not None
        out = self.encoder(batch.input_ids)
        table = self.encoder.item_embeddings.weight
        if self.cfg.finetune == "sasrec":
            return {"rec": bce_next_item(out, batch.target_pos, batch.target_neg, table)}
        intents = self.intent_encoder(out, is_input=True)  # (B, K, D): dss_cross_entropy of DSS-2
        pos = torch.einsum("bld,bkd->blk", table[batch.target_pos], intents).max(-1).values
        neg = torch.einsum("bld,bkd->blk", table[batch.target_neg], intents).max(-1).values
        is_target = (batch.target_pos > 0).to(out.dtype)
        loss = -torch.log(torch.sigmoid(pos) + EPS) - torch.log(1 - torch.sigmoid(neg) + EPS)
        return {"rec": (loss * is_target).sum() / is_target.sum()}

    def score(self, input_ids: torch.Tensor) -> torch.Tensor:
        if self.cfg.finetune == "sasrec":
            return self.encoder.score(input_ids)
        intents = self.intent_encoder(self.encoder(input_ids), is_input=True)
        return (intents @ self.encoder.item_embeddings.weight.T).max(1).values  # dss_predict_full
