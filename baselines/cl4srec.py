"""CL4SRec: Contrastive Learning for Sequential Recommendation (Xie et al., ICDE 2022).

The authors released no code. ELCRec's Table 12 points to HKUDS/SSLRec, so the default (``variant: sslrec``)
follows SSLRec @642e058 (``models/sequential/cl4srec.py``, the last change to the model, 2023-08-05) with its
configuration ``config/modelconf/cl4srec.yml`` @3697cde..642e058 (2 layers, 2 heads, hidden 64, dropout 0.1,
max_len 50, lmd 0.1, tau 1, Adam lr 1e-3, batch 512, 200 epochs); method doc §5.4. Per training step:

1. ``h = enc(input_ids)[:, -1]``; full-softmax cross-entropy of the next item, ``batch.target_pos[:, -1]``
   (the last item of ``s[:-2]``), over the item table **rows 0..item_num**: SSLRec slices
   ``token_emb.weight[:item_num + 1]``, so the pad row 0 is in the softmax and the mask token is not;
2. two augmented views per sequence with **two different operators** drawn from crop (keep eta = 0.6),
   mask (gamma = 0.3 of the items replaced by a dedicated mask token, id ``item_num + 1`` = ``item_size - 1``)
   and reorder (shuffle a beta = 0.6 span);
3. InfoNCE between the last-position outputs of the two views: dot product, temperature 1, positive = the
   other view, the 2N - 2 other in-batch views as negatives (``elcrec.nn.losses.nce_loss``, same arithmetic);
4. ``L = CE + 0.1 InfoNCE``.

SSLRec's attention mask is padding only (bidirectional); ``attention: bidirectional`` follows it.

``variant: iclrec`` (registry entry ``cl4srec-iclrec``) is the CL4SRec of the ICLRec codebase,
salesforce/ICLRec @2890e6c with ``--contrast_type InstanceCL``: SASRec BCE with one negative per position
+ ``cf_weight`` 0.1 x NCE of the flattened (50 x 64) outputs of two views, each view's operator drawn
independently from crop 0.2 / mask 0.7 (to the pad id 0) / reorder 0.2; causal attention, dropouts 0.5, and
ELCRec's protocol (batch 256, 300 epochs, patience 40). Settings whose default depends on the variant are
``None`` in the dataclass and resolved in ``__post_init__``; an explicit value always wins.

Deliberate deviations from SSLRec (variant ``sslrec``):

* **Augmentation rates.** ELCREC_METHOD.md §5.4 quotes eta 0.3 / gamma 0.7 / beta 0.6. Those are the values
  of SSLRec's first commit 0903d7d, whose CL4SRec cannot run (``-list`` in ``item_mask``, an undefined
  ``self.n_items``); every working version (ce5279e onwards, "cl4srec test passed" at 3697cde, HEAD) uses
  eta 0.6 / gamma 0.3 / beta 0.6, which we take. ``--set crop_keep=0.3 --set mask_ratio=0.7`` gives the others;
* **Backbone.** The shared S3-Rec/ICLRec encoder (post-LN, LayerNorm on the embeddings, additive -10000 mask)
  instead of SSLRec's BERT4Rec-style pre-LN blocks (no embedding LayerNorm, extra dropout after each block,
  -1e9 mask). Same depth, width, heads, FFN size, dropout rate and N(0, 0.02) initialisation;
* **Training samples.** By default one sample per user (``s[:-3]``, CE at the last position, target ``s[-3]``),
  the harness protocol. SSLRec's data handler has ``seq_aug: true``: every prefix of the training sequence
  ``s[:-2]`` is a sample of its own (prefix ``s[:t]`` -> ``s[t]``, t >= 1; SSLRec's ``_seq_aug`` range skips the
  prefix one item short of the whole sequence, and so do we: ``prefix_ends``), with its own two views, shuffled
  and batched 512 at a time, for 30 epochs (HEAD's cl4srec.yml; data_handler_sequential.py @140fe98).
  ``seq_aug: true`` here trains exactly that regime (``prefix_rows``; ``train_overrides`` become batch 512, 30 epochs). ``ce_positions: all`` with
  ``attention: causal`` is a cheaper relative: the CE on every position of one row per user (the prefix
  objective for the CE term only);
* **Second view.** SSLRec's ``item_mask`` and ``item_reorder`` write into ``seq[:]``, a numpy *view* of the
  sequence, so when the first view is a mask or a reorder the second view is built on the corrupted sequence
  (crop copies, so after a crop the second view starts from the original). ``chain_views: true`` reproduces
  that (``ChainedViewBuilder``); by default both views start from the original sequence, as the CL4SRec
  paper describes;
* **Augmentation details.** The shared vectorised operators (elcrec/data/augment.py): they act on the untruncated
  ``s[:-3]`` and then keep the last 50 (SSLRec augments the already truncated window); crop/reorder windows never
  end at the last item (ICLRec's off-by-one; SSLRec allows it); reorder is a proper shuffle of the window
  (SSLRec's HEAD writes the shuffled span two positions off its source, duplicating and dropping items);
* **Ranking.** The shared evaluator ranks every ``item_size`` id; SSLRec's ``full_predict`` never scores the
  mask token, so this variant scores it -1e8 (``rank_mask_token: false``) to keep it out of every top-K;
* both views are encoded in one call of 2N rows (SSLRec: one call each); rows are encoded independently, each
  with its own dropout, so the arithmetic is the same;
* no early stopping in SSLRec (its cl4srec.yml has none): the protocol's patience 40 applies; HEAD's yml
  (f707563, 2023-07-15) lowered the epochs to 30 for its prefix-augmented data; we keep the earlier 200 because
  one sample per user gives far fewer steps per epoch. The seed is the harness's run seed (SSLRec 2023).

Deviations of ``variant: iclrec`` from ICLRec's InstanceCL: none beyond the shared ones of ICLRec
(baselines/iclrec.py): the same encoder, BCE, NCELoss and augmentations.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

import numpy as np

from elcrec.data.augment import AugmentConfig, augment_flat, augment_views, draw_ops, pack_last
from elcrec.data.batches import Batch, EpochBuilder
from elcrec.data.sequences import SequenceData
from elcrec.models.base import BatchSource, EncoderConfig, RecModel
from elcrec.nn.losses import bce_next_item, nce_loss

VARIANTS = ("sslrec", "iclrec")
MASKED_SCORE = -1e8  # finite (the evaluator rejects inf); SSLRec masks with the same constant
# Defaults that differ between the variants; fields left at None take these.
VARIANT_DEFAULTS: dict[str, dict[str, Any]] = {
    "sslrec": {"attn_dropout": 0.1, "hidden_dropout": 0.1, "attention": "bidirectional", "crop_keep": 0.6,
               "mask_ratio": 0.3, "reorder_ratio": 0.6, "rank_mask_token": False},
    "iclrec": {"attn_dropout": 0.5, "hidden_dropout": 0.5, "attention": "causal", "crop_keep": 0.2,
               "mask_ratio": 0.7, "reorder_ratio": 0.2, "rank_mask_token": True},
}
TRAIN_OVERRIDES: dict[str, dict[str, Any]] = {
    "sslrec": {"batch_size": 512, "max_epochs": 200},
    "iclrec": {},  # ELCRec's protocol (batch 256, 300 epochs, patience 40) is ICLRec's
}


@dataclass
class CL4SRecConfig(EncoderConfig):
    variant: str = "sslrec"  # sslrec (HKUDS/SSLRec) | iclrec (ICLRec codebase, InstanceCL)
    attn_dropout: float | None = None  # sslrec 0.1 | iclrec 0.5
    hidden_dropout: float | None = None  # sslrec 0.1 | iclrec 0.5
    attention: str | None = None  # bidirectional (sslrec) | causal (iclrec)
    crop_keep: float | None = None  # eta: crop keeps this fraction; sslrec 0.6 | iclrec 0.2
    mask_ratio: float | None = None  # gamma: mask this fraction; sslrec 0.3 | iclrec 0.7
    reorder_ratio: float | None = None  # beta: shuffle a span of this fraction; sslrec 0.6 | iclrec 0.2
    rank_mask_token: bool | None = None  # whether the evaluator may rank the mask id; sslrec False | iclrec True
    cl_weight: float = 0.1  # lmd (SSLRec) / cf_weight (ICLRec)
    temperature: float = 1.0  # tau
    ce_positions: str = "last"  # sslrec only: last (SSLRec) | all (every non-pad position; needs causal)
    seq_aug: bool = False  # sslrec only: every prefix of s[:-2] a sample of its own (SSLRec's seq_aug: true)
    chain_views: bool = False  # sslrec only: the second view built on an in-place mask/reorder first view (SSLRec)

    def __post_init__(self) -> None:
        for key, value in VARIANT_DEFAULTS.get(self.variant, VARIANT_DEFAULTS["sslrec"]).items():
            if getattr(self, key) is None:
                setattr(self, key, value)

    def validate(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, not {self.variant!r}")
        if self.attention not in ("causal", "bidirectional"):
            raise ValueError(f"attention must be 'causal' or 'bidirectional', not {self.attention!r}")
        if self.ce_positions not in ("last", "all"):
            raise ValueError(f"ce_positions must be 'last' or 'all', not {self.ce_positions!r}")
        if self.ce_positions == "all" and self.attention != "causal":
            raise ValueError("ce_positions=all needs attention=causal (a bidirectional encoder sees the targets)")
        if self.variant != "sslrec" and (self.seq_aug or self.chain_views):
            raise ValueError("seq_aug and chain_views are SSLRec's (variant sslrec)")
        for key in ("crop_keep", "mask_ratio", "reorder_ratio"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"{key} must lie in [0, 1], not {getattr(self, key)}")


def prefix_ends(n_train: int) -> list[int]:
    """The prefix lengths t (sample ``T[:t] -> T[t]``) SSLRec's ``_seq_aug`` makes of a training sequence T of
    ``n_train`` items: the whole one (t = n_train - 1) and ``seq[:i] -> seq[i]`` for i in ``range(1, len(seq) - 1)``
    of its history ``seq = T[:-1]``, which skips t = n_train - 2 (SSLRec's range, kept)."""
    return list(range(1, n_train - 2)) + ([n_train - 1] if n_train >= 2 else [])


def prefix_rows(data: SequenceData) -> SequenceData:
    """SSLRec's ``seq_aug``: one row per sample ``T[:t] -> T[t]`` of each training sequence ``T = s[:-2]``.

    A row is ``T[:t + 1]`` plus two filler items, so the shared split reads input ``T[:t]`` and last target
    ``T[t]`` from it (the fillers stand where valid and test items stand and are never trained on).
    """
    rows = []
    for u in range(data.num_users):
        seq = data.items[data.offsets[u]:data.offsets[u + 1] - 2].tolist()
        rows += [seq[: t + 1] + [seq[t]] * 2 for t in prefix_ends(len(seq))]
    return SequenceData.from_lists(rows, f"{data.name}-prefixes", data.max_len)


class ChainedViewBuilder(EpochBuilder):
    """Views as SSLRec makes them: an in-place mask or reorder of view 1 is what view 2 starts from."""

    def views_for(self, users: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.augment is not None
        starts = self.data.offsets[:-1][users]
        lengths = self.data.lengths[users] - 3
        first, second = draw_ops(len(users), self.augment, rng)
        values, keep, seg = augment_flat(self.data.items, starts, lengths, first, self.augment, rng)
        view1 = pack_last(values[keep], seg[keep], len(users), self.data.max_len)
        flat_starts = np.cumsum(lengths) - lengths  # view 2 from the sequences as view 1 left them
        return view1, augment_views(values, flat_starts, lengths, second, self.augment, self.data.max_len, rng)


class CL4SRec(RecModel):
    name = "cl4srec"
    capture_blocker = None  # reviewed: the step reads fixed storage only (elcrec/steps.py)

    def __init__(self, item_size: int, cfg: CL4SRecConfig) -> None:
        super().__init__(item_size, cfg, causal=cfg.attention == "causal")
        self.mask_id = item_size - 1  # item_num + 1
        self.train_overrides = dict(TRAIN_OVERRIDES[cfg.variant])
        if cfg.seq_aug:
            self.train_overrides["max_epochs"] = 30  # HEAD's cl4srec.yml, for its prefix-augmented data
        if cfg.variant == "sslrec":
            self.needs_negatives = False
            self.augment = AugmentConfig(tau=cfg.crop_keep, gamma=cfg.mask_ratio, beta=cfg.reorder_ratio,
                                         mask_value=self.mask_id, distinct_pair=True)
            self.loss_weights = {"rec": 1.0, "cl": cfg.cl_weight}
        else:
            self.needs_negatives = True
            self.augment = AugmentConfig(tau=cfg.crop_keep, gamma=cfg.mask_ratio, beta=cfg.reorder_ratio,
                                         mask_value=0)
            self.loss_weights = {"rec": 1.0, "seq_cl": cfg.cl_weight}

    def epoch_builder(self, data: SequenceData, batch_size: int) -> BatchSource:
        rows = prefix_rows(data) if self.cfg.seq_aug else data
        builder = ChainedViewBuilder if self.cfg.chain_views else EpochBuilder
        return builder(rows, batch_size, self.needs_negatives, self.augment)

    # --- losses ----------------------------------------------------------------------------------------
    def softmax_ce(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean CE of ``targets`` (N,) over item rows 0..item_num (pad in, mask token out), as SSLRec."""
        table = self.encoder.item_embeddings.weight[: self.mask_id]
        if targets.numel() == 0:  # no user of the batch has a training target: a zero that keeps the graph
            return hidden.sum() * 0.0
        return F.cross_entropy(hidden @ table.T, targets)

    def softmax_ce_weighted(self, hidden: torch.Tensor, targets: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """``softmax_ce(hidden[keep], targets[keep])`` with fixed shapes: 0 when nothing is kept, as it."""
        table = self.encoder.item_embeddings.weight[: self.mask_id]
        logits = hidden.reshape(-1, hidden.shape[-1]) @ table.T
        ce = F.cross_entropy(logits, targets.reshape(-1), reduction="none")
        weight = keep.reshape(-1).to(ce.dtype)
        return (ce * weight).sum() / weight.sum().clamp(min=1.0)

    def _sslrec_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        enc = self.encoder
        if self.cfg.ce_positions == "last":
            keep = batch.target_pos[:, -1] > 0  # a user with < 4 items has no training target
            hidden = enc(batch.input_ids, last_only=True)[:, -1]
            targets = batch.target_pos[:, -1]
        else:
            keep = batch.target_pos > 0
            hidden, targets = enc(batch.input_ids), batch.target_pos
        if self.static_shapes:  # the same mean over the kept rows, without selecting them (no data-dependent shape)
            rec = self.softmax_ce_weighted(hidden, targets, keep)
        else:
            rec = self.softmax_ce(hidden[keep], targets[keep])
        assert batch.views is not None
        b = batch.input_ids.shape[0]
        z = enc(torch.cat(batch.views, 0), last_only=True)[:, -1]  # both views in one call (SSLRec: two)
        return {"rec": rec, "cl": nce_loss(z[:b], z[b:], self.cfg.temperature)}

    def _iclrec_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        enc = self.encoder
        assert batch.target_neg is not None and batch.views is not None
        seq_out = enc(batch.input_ids)
        rec = bce_next_item(seq_out, batch.target_pos, batch.target_neg, enc.item_embeddings.weight)
        b = batch.input_ids.shape[0]
        flat = enc(torch.cat(batch.views, 0)).reshape(2 * b, -1)
        return {"rec": rec, "seq_cl": nce_loss(flat[:b], flat[b:], self.cfg.temperature)}

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        return self._sslrec_loss(batch) if self.cfg.variant == "sslrec" else self._iclrec_loss(batch)

    def score(self, input_ids: torch.Tensor, user_ids: torch.Tensor | None = None) -> torch.Tensor:
        scores = self.encoder.score(input_ids)
        if not self.cfg.rank_mask_token:
            scores[:, self.mask_id] = MASKED_SCORE
        return scores
