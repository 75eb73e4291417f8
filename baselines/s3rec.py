"""S3-Rec: self-supervised pre-training (AAP, MIP, MAP, SP) of the SASRec encoder, then SASRec fine-tuning.

Zhou et al., CIKM 2020; the original is RUCAIBox/CIKM2020-S3Rec @2a81540 (``models.py`` S3RecModel,
``datasets.py`` PretrainDataset, ``run_pretrain.py``, ``run_finetune_full.py``); method doc §5.2.

Pre-training (``on_train_start``, so that its time counts in the run's profile as the paper's Table 11 does):

* the encoder is **bidirectional**: the additive mask hides padding keys only (-1e8, as the original);
* the examples are every prefix of each user's ``s[-(max_len + 2):-2]`` (the training part, last 50 items);
* MIP/MAP input: each item but the last is replaced by the mask id (item_size - 1) with probability ``mask_p``;
  the last one always is; every masked position gets one negative item drawn uniformly from
  ``[1, item_size - 1]`` outside the prefix;
* SP: a segment of length ~ U{1..L//2} starting at ~ U{0..L - len} is masked in the context input; the
  positive input keeps only the segment (the rest of the prefix becomes the mask id), the negative input puts a
  same-length slice of the concatenation of all users' full sequences there; prefixes of length 1 use the
  prefix itself for all three;
* losses as ``S3RecModel.pretrain``: BCE *sums* (not means) — AAP over non-masked real positions x all
  attributes, MIP ``BCE(sigmoid(sigmoid(W h.e+) - sigmoid(W h.e-)), 1)`` over masked positions, MAP over masked
  positions x all attributes, SP over the batch; weighted 0.2 / 1 / 1 / 0.5; Adam lr 1e-3, batch 100.

Without attributes (``use_attributes=False``, registry ``s3rec-noattr``) only MIP and SP are pre-trained and the
model has neither the attribute table nor the AAP/MAP heads. With ``pretrained=PATH`` a released checkpoint is
loaded instead of pre-training. Fine-tuning is SASRec's BCE on the causal encoder, with the original's
fine-tuning protocol (patience 10, 200 epochs) as ``train_overrides``.

The batches are built per batch with vectorised numpy (no per-example Python); randomness comes from a
numpy generator seeded by ``(seed, pre-training epoch)`` and dropout from torch seeded the same way, so a
pre-training run is a pure function of the seed (on CPU).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from elcrec.data.batches import Batch, epoch_rng
from elcrec.data.registry import ATTRIBUTE_FILE
from elcrec.data.sequences import SequenceData
from elcrec.errors import CheckpointError, ConfigError, DataError, HarnessError
from elcrec.models.base import EncoderConfig, Phase, RecModel, TrainContext
from elcrec.nn.losses import bce_next_item

PRETRAIN_MASK_VALUE = -1e8  # the original's additive padding mask in pre-training (fine-tuning uses -10000)
PRETRAIN_STREAM = 53  # numpy stream id of the pre-training draws (the trainer's epochs use stream 0)
LENGTH_GROUPS = 4  # pre-training rows are encoded in this many length-sorted groups (see encode_bidirectional)
ATTRIBUTE_KEYS = ("attribute_embeddings.", "aap_norm.", "map_norm.")


@dataclass
class S3RecConfig(EncoderConfig):
    use_attributes: bool = True  # AAP + MAP need data/NAME/item2attributes.json
    attribute_size: int = 0  # rows of the attribute table: max attribute id + 1 (per dataset in the YAML)
    pretrained: str = ""  # a pre-trained checkpoint to fine-tune from instead of pre-training here
    pretrain_epochs: int = 300  # the original's pre_epochs; the YAML sets the checkpoint the paper used
    pretrain_batch_size: int = 100
    pretrain_lr: float = 1e-3
    mask_p: float = 0.2
    aap_weight: float = 0.2
    mip_weight: float = 1.0
    map_weight: float = 1.0
    sp_weight: float = 0.5
    # Length groups of the bidirectional pre-training encoder (encode_bidirectional): 0 = auto, i.e. LENGTH_GROUPS
    # on CPU (a third of the work) and 1 on GPU (each group costs kernel launches and a host sync). Same outputs.
    pretrain_groups: int = 0

    def validate(self) -> None:
        if self.use_attributes and self.attribute_size < 2:
            raise ValueError(
                "S3-Rec with attributes needs attribute_size (max attribute id + 1 of the dataset's "
                "item2attributes.json); it is set in config/models/s3rec.yaml for the datasets S3-Rec ships "
                "attributes for. Set it with --set attribute_size=N, or use the model s3rec-noattr (MIP + SP only)"
            )
        if not 0.0 <= self.mask_p <= 1.0:
            raise ValueError(f"mask_p must be in [0, 1], not {self.mask_p}")
        if self.pretrain_epochs < 0 or self.pretrain_batch_size < 1 or self.pretrain_groups < 0:
            raise ValueError("pretrain_epochs and pretrain_groups must be >= 0 and pretrain_batch_size >= 1")


# ------------------------------------------------------------------------------------------------ data


def read_item_attributes(dataset_dir: Path | None, item_size: int, attribute_size: int) -> torch.Tensor:
    """(item_size, attribute_size) bool multi-hot of ``dataset_dir/item2attributes.json`` (id string -> ids).

    Items missing from the file have no attribute (the original's ``try/except``)."""
    path = None if dataset_dir is None else Path(dataset_dir) / ATTRIBUTE_FILE
    if path is None or not path.is_file():
        where = "the dataset folder is unknown" if path is None else f"{path} does not exist"
        raise DataError(
            f"S3-Rec's AAP/MAP objectives need item attributes, but {where}. Run `python -m elcrec download "
            "--dataset NAME` (it fetches S3-Rec's NAME_item2attributes.json for Beauty, Sports_and_Outdoors, "
            "Toys_and_Games and Yelp into data/NAME/), or train --model s3rec-noattr (MIP + SP only), or "
            "fine-tune from a pre-trained checkpoint with --set pretrained=PATH"
        )
    try:
        raw = json.loads(path.read_text())
        items = np.fromiter((int(k) for k in raw), dtype=np.int64, count=len(raw))
        counts = np.fromiter((len(v) for v in raw.values()), dtype=np.int64, count=len(raw))
        attrs = np.fromiter((int(a) for v in raw.values() for a in v), dtype=np.int64, count=int(counts.sum()))
    except (ValueError, TypeError, AttributeError) as exc:
        raise DataError(f"{path}: not a JSON object of item id -> list of attribute ids ({exc}); delete it and "
                        "download it again") from None
    if len(attrs) and attrs.min() < 0:
        raise DataError(f"{path}: negative attribute id {attrs.min()}")
    found = int(attrs.max()) + 1 if len(attrs) else 1
    if found != attribute_size:
        raise ConfigError(
            f"{path} has attribute ids up to {found - 1}, so S3-Rec's attribute table needs {found} rows, but "
            f"attribute_size is {attribute_size}; set --set attribute_size={found} (or fix config/models/s3rec.yaml)"
        )
    if len(items) and (items.min() < 1 or items.max() > item_size - 2):
        raise DataError(f"{path}: item ids {items.min()}..{items.max()} do not fit this dataset's 1..{item_size - 2}"
                        "; the attribute file belongs to another dataset")
    table = torch.zeros(item_size, attribute_size, dtype=torch.bool)
    table[torch.from_numpy(np.repeat(items, counts)), torch.from_numpy(attrs)] = True
    return table


@dataclass
class PretrainBatch:
    """One pre-training batch, every tensor (B, L) and left-padded with 0 (attributes: (B, L, A) bool)."""

    pos_items: torch.Tensor  # the prefix itself
    masked_items: torch.Tensor  # MIP/MAP/AAP input: masked positions hold the mask id
    neg_items: torch.Tensor  # a MIP negative at masked positions, the item itself elsewhere
    masked_segment: torch.Tensor  # SP context: the segment replaced by the mask id
    pos_segment: torch.Tensor  # the segment, the rest of the prefix as the mask id
    neg_segment: torch.Tensor  # a random slice of the long sequence at the segment's place
    attributes: torch.Tensor | None = None  # multi-hot attributes of pos_items

    def to(self, device: torch.device | str) -> "PretrainBatch":
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return PretrainBatch(*(move(getattr(self, f)) for f in self.__dataclass_fields__))

    def __len__(self) -> int:
        return int(self.pos_items.shape[0])


class PretrainSampler:
    """The original ``PretrainDataset``, vectorised: examples are (user, prefix length) pairs."""

    def __init__(self, data: SequenceData, max_len: int, mask_p: float, attributes: torch.Tensor | None = None):
        self.max_len, self.mask_p, self.attributes = max_len, mask_p, attributes
        self.item_size = data.item_size
        self.mask_id = data.item_size - 1
        self.items = data.items
        self.long_sequence = data.items  # all users' full sequences concatenated (get_user_seqs_long)
        hi = data.offsets[1:] - 2  # s[:-2] ...
        lo = np.maximum(data.offsets[:-1], hi - max_len)  # ... its last max_len items
        n = hi - lo
        if (n < 1).any():
            raise DataError("S3-Rec pre-training needs every user to have at least 3 items")
        first = np.repeat(np.cumsum(n) - n, n)
        self.lengths = np.arange(int(n.sum()), dtype=np.int64) - first + 1  # prefix lengths 1..n per user
        self.starts = np.repeat(lo, n)  # absolute index of each prefix's first item
        self.ends = self.starts + self.lengths  # ... and one past its last

    def __len__(self) -> int:
        return len(self.lengths)

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def prefixes(self, ids: np.ndarray) -> np.ndarray:
        idx = self.ends[ids, None] - self.max_len + np.arange(self.max_len)[None, :]
        keep = idx >= self.starts[ids, None]
        return np.where(keep, self.items[np.clip(idx, 0, None)], 0)

    def mip_mask(self, lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(B, L) bool: each real position but the last masked with probability mask_p, the last always."""
        real = np.arange(self.max_len)[None, :] >= (self.max_len - lengths)[:, None]
        masked = (rng.random(real.shape) < self.mask_p) & real
        masked[:, -1] = True
        return masked

    def negatives(self, prefixes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(B, L) items uniform on [1, item_size - 1] (mask id included, as ``neg_sample``), not in the prefix."""
        neg = rng.integers(1, self.item_size, prefixes.shape)
        rows, cols = np.nonzero((neg[:, :, None] == prefixes[:, None, :]).any(-1))
        while len(rows):
            neg[rows, cols] = rng.integers(1, self.item_size, len(rows))
            bad = (neg[rows, cols][:, None] == prefixes[rows]).any(-1)
            rows, cols = rows[bad], cols[bad]
        return neg

    def segments(self, lengths: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(segment length, start in the prefix, start in the long sequence); length 0 for prefixes of length 1."""
        has = lengths >= 2
        seg = rng.integers(1, np.maximum(lengths // 2, 1) + 1)
        start = rng.integers(0, lengths - seg + 1)
        neg_start = rng.integers(0, len(self.long_sequence) - seg + 1)
        return np.where(has, seg, 0), np.where(has, start, 0), np.where(has, neg_start, 0)

    def batch(self, ids: np.ndarray, rng: np.random.Generator) -> PretrainBatch:
        lengths = self.lengths[ids]
        pos = self.prefixes(ids)
        masked = self.mip_mask(lengths, rng)
        neg = self.negatives(pos, rng)
        seg, start, neg_start = self.segments(lengths, rng)
        cols = np.arange(self.max_len)[None, :]
        real = cols >= (self.max_len - lengths)[:, None]
        offset = (self.max_len - lengths + start)[:, None]  # the segment's first column
        in_seg = (cols >= offset) & (cols < offset + seg[:, None])
        background = np.where(real, self.mask_id, 0)
        src = np.clip(neg_start[:, None] + cols - offset, 0, len(self.long_sequence) - 1)
        has = (seg > 0)[:, None]
        t = torch.from_numpy
        pos_t = t(pos)
        return PretrainBatch(
            pos_items=pos_t,
            masked_items=t(np.where(masked, self.mask_id, pos)),
            neg_items=t(np.where(masked, neg, pos)),
            masked_segment=t(np.where(in_seg, self.mask_id, pos)),
            pos_segment=t(np.where(has, np.where(in_seg, pos, background), pos)),
            neg_segment=t(np.where(has, np.where(in_seg, self.long_sequence[src], background), pos)),
            attributes=None if self.attributes is None else self.attributes[pos_t],
        )

    def epoch(self, rng: np.random.Generator, batch_size: int) -> Iterator[PretrainBatch]:
        order = rng.permutation(len(self))  # RandomSampler, no drop_last
        for lo in range(0, len(order), batch_size):
            yield self.batch(order[lo : lo + batch_size], rng)


# ------------------------------------------------------------------------------------------------ model


def pretrain_groups(cfg: S3RecConfig, device: torch.device) -> int:
    """The configured number of length groups, or the device's best when it is 0 (auto)."""
    return cfg.pretrain_groups or (LENGTH_GROUPS if device.type == "cpu" else 1)


def _bce_sum(prob: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``nn.BCELoss(reduction='none')`` summed: the original's arithmetic (log clamped at -100)."""
    return F.binary_cross_entropy(prob, target, reduction="sum")


class S3Rec(RecModel):
    name = "s3rec"
    capture_blocker = None  # reviewed: the step reads fixed storage only (elcrec/steps.py)
    needs_negatives = True
    # run_finetune_full.py: EarlyStopping(patience=10), --epochs 200, --batch_size 256, --lr 0.001
    train_overrides = {"patience": 10, "max_epochs": 200, "batch_size": 256, "lr": 1e-3}

    def __init__(self, item_size: int, cfg: S3RecConfig) -> None:
        super().__init__(item_size, cfg, causal=True)
        self.mask_id = item_size - 1
        h = cfg.hidden
        if cfg.use_attributes:
            self.attribute_embeddings = nn.Embedding(cfg.attribute_size, h, padding_idx=0)
            self.aap_norm = nn.Linear(h, h)
        self.mip_norm = nn.Linear(h, h)
        if cfg.use_attributes:
            self.map_norm = nn.Linear(h, h)
        self.sp_norm = nn.Linear(h, h)
        for module in self.children():
            if module is not self.encoder:
                self.encoder._init_weights(module)  # N(0, init_range), zero biases (the pad row included)
        self.loss_weights = {"rec": 1.0}
        self.pretrain_weights = {"mip": cfg.mip_weight, "sp": cfg.sp_weight}
        if cfg.use_attributes:
            self.pretrain_weights = {"aap": cfg.aap_weight, **self.pretrain_weights, "map": cfg.map_weight}
        self.pretrain_log: list[dict[str, float]] = []

    # --- fine-tuning (SASRec) --------------------------------------------------------------------------
    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        out = self.encoder(batch.input_ids)
        return {"rec": bce_next_item(out, batch.target_pos, batch.target_neg, self.encoder.item_embeddings.weight)}

    # --- pre-training ----------------------------------------------------------------------------------
    def encode_bidirectional(self, ids: torch.Tensor, groups: int = 1, last_only: bool = False) -> torch.Tensor:
        """(B, L, H) with padding-only attention (-1e8 on pad keys), as ``S3RecModel.pretrain``; (B, H) of the
        last position alone with ``last_only`` (the last layer then computes that query only).

        With ``groups`` > 1 the rows are sorted by length and encoded in that many groups, each cut to its
        longest row (position ids kept). Pad keys get exactly zero attention weight (exp(-1e8) underflows), and
        every other operation is per position, so the outputs at real positions are the same as with one
        full-width pass; only the pad positions (zeros here) and the dropout draws differ. Pre-training prefixes
        are short (Beauty: 7 items on average of 50 columns), so this does a third of the work.
        """
        enc = self.encoder
        n, width = ids.shape
        lengths = (ids != 0).sum(1)
        dtype = enc.item_embeddings.weight.dtype
        shape = (n, enc.hidden) if last_only else (n, width, enc.hidden)
        out = torch.zeros(shape, dtype=dtype, device=ids.device)
        for rows in lengths.argsort().chunk(max(1, min(groups, n))):
            w = max(int(lengths[rows].max()), 1)
            sub = ids[rows, width - w :]
            positions = torch.arange(width - w, width, device=ids.device)
            x = enc.dropout(enc.LayerNorm(enc.item_embeddings(sub) + enc.position_embeddings(positions)[None]))
            mask = (sub == 0).to(dtype)[:, None, None, :] * PRETRAIN_MASK_VALUE
            if last_only:
                out[rows] = enc.item_encoder(x, mask, last_only=True)[:, -1]
            else:
                out[rows, width - w :] = enc.item_encoder(x, mask)
        return out

    def _attribute_bce(self, head: nn.Linear, hidden: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        prob = torch.sigmoid(head(hidden) @ self.attribute_embeddings.weight.T)
        return _bce_sum(prob, target.to(prob.dtype))

    def pretrain_losses(self, batch: PretrainBatch, groups: int = LENGTH_GROUPS) -> dict[str, torch.Tensor]:
        """Unweighted summed AAP, MIP, MAP (with attributes) and SP losses of one batch."""
        b = len(batch)
        seq_out = self.encode_bidirectional(batch.masked_items, groups)
        # SP uses the last position of each of its three inputs only: one call, last query only.
        segments = torch.cat([batch.masked_segment, batch.pos_segment, batch.neg_segment])
        context, pos_seg, neg_seg = self.encode_bidirectional(segments, groups, last_only=True).split(b)
        masked = batch.masked_items == self.mask_id
        terms: dict[str, torch.Tensor] = {}
        if self.cfg.use_attributes:
            if batch.attributes is None:
                raise HarnessError("S3-Rec with attributes got a pre-training batch without attributes")
            plain = ~masked & (batch.masked_items != 0)
            terms["aap"] = self._attribute_bce(self.aap_norm, seq_out[plain], batch.attributes[plain])
        emb = self.encoder.item_embeddings
        h = self.mip_norm(seq_out[masked])
        pos_score = torch.sigmoid((h * emb(batch.pos_items[masked])).sum(-1))
        neg_score = torch.sigmoid((h * emb(batch.neg_items[masked])).sum(-1))
        mip = torch.sigmoid(pos_score - neg_score)
        terms["mip"] = _bce_sum(mip, torch.ones_like(mip))
        if self.cfg.use_attributes:
            terms["map"] = self._attribute_bce(self.map_norm, seq_out[masked], batch.attributes[masked])
        ctx = self.sp_norm(context)
        sp = torch.sigmoid(torch.sigmoid((ctx * pos_seg).sum(-1)) - torch.sigmoid((ctx * neg_seg).sum(-1)))
        terms["sp"] = _bce_sum(sp, torch.ones_like(sp))
        return terms

    def pretrain_step(self, batch: PretrainBatch, optim: torch.optim.Optimizer, groups: int) -> dict[str, torch.Tensor]:
        """One optimiser step on the weighted pre-training loss; returns the unweighted terms."""
        terms = self.pretrain_losses(batch, groups)
        total = sum(self.pretrain_weights[k] * v for k, v in terms.items())
        optim.zero_grad(set_to_none=True)
        total.backward()  # type: ignore[union-attr]
        optim.step()
        return terms

    def phases(self, ctx: TrainContext) -> list[Phase]:
        """The pre-training phase (AAP/MIP/MAP/SP, its own Adam), unless a checkpoint is given or epochs is 0."""
        cfg = self.cfg
        if cfg.pretrained or cfg.pretrain_epochs <= 0:
            return []
        if ctx.data.item_size != self.encoder.item_size:
            raise HarnessError(f"the data has {ctx.data.item_size} item ids, the model {self.encoder.item_size}")
        attributes = (read_item_attributes(ctx.dataset_dir, self.encoder.item_size, cfg.attribute_size)
                      if cfg.use_attributes else None)
        sampler = PretrainSampler(ctx.data, cfg.max_len, cfg.mask_p, attributes)
        optim = torch.optim.Adam(self.parameters(), lr=cfg.pretrain_lr, betas=(0.9, 0.999), weight_decay=0.0)
        groups = pretrain_groups(cfg, ctx.device)

        def batches(epoch: int) -> Iterator[PretrainBatch]:
            rng = epoch_rng(ctx.seed, epoch, PRETRAIN_STREAM)
            torch.manual_seed(int(np.random.SeedSequence([ctx.seed, epoch, PRETRAIN_STREAM]).generate_state(1)[0]))
            return sampler.epoch(rng, cfg.pretrain_batch_size)

        return [Phase("pretrain", "S3-Rec pre-training", cfg.pretrain_epochs,
                      sampler.num_batches(cfg.pretrain_batch_size), cfg.pretrain_batch_size,
                      tuple(self.pretrain_weights), ctx.device, batches,
                      lambda batch: self.pretrain_step(batch.to(ctx.device), optim, groups),
                      log=self.pretrain_log, hint="lower pretrain_lr")]

    def extra_logs(self) -> dict[str, list[dict[str, float]]]:
        return {"pretrain_log": self.pretrain_log}

    def on_train_start(self, ctx: TrainContext) -> None:
        if self.cfg.pretrained:
            self.load_pretrained(self.cfg.pretrained)

    # --- checkpoints -----------------------------------------------------------------------------------
    def load_official_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if not self.cfg.use_attributes:  # the attribute-free model has no table and no AAP/MAP heads
            state = {k: v for k, v in state.items() if not k.startswith(ATTRIBUTE_KEYS)}
        super().load_official_state_dict(state)

    def load_pretrained(self, path: str | Path) -> None:
        from elcrec.checkpoint import check_item_size, load_state_dict

        state, _ = load_state_dict(path)
        check_item_size(state, self.encoder.item_size, "this dataset", path)
        rows = state.get("attribute_embeddings.weight")
        if self.cfg.use_attributes and rows is not None and rows.shape[0] != self.cfg.attribute_size:
            raise CheckpointError(f"{path} has {rows.shape[0]} attribute rows but attribute_size is "
                                  f"{self.cfg.attribute_size}: it was pre-trained on another dataset")
        try:
            self.load_official_state_dict(state)
        except RuntimeError as exc:
            raise CheckpointError(f"{path} does not fit S3-Rec with these settings (layers {self.cfg.layers}, "
                                  f"hidden {self.cfg.hidden}): {exc}") from None
