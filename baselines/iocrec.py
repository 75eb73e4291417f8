"""IOCRec: multi-intention oriented contrastive learning for sequential recommendation (Li et al., WSDM 2023).

No official code was released; this follows the third-party re-implementation the issue names,
LFM-bot/IOCRec @a1b91db (``src/model/cl_based_seq_recommender/iocrec.py``: IOCRec, GlobalSeqEncoder,
DisentangleEncoder, IOCRec_config; ``src/model/sequential_encoder.py`` Transformer; ``src/model/loss.py``
InfoNCELoss; ``src/model/data_augmentation.py`` Crop/Mask/Reorder). Per training step:

1. sequences are **right-aligned** as in the original (items at columns 0..n-1, position ids = columns): the
   harness's left-padded inputs are rolled, which changes nothing else;
2. local encoding: the causal post-LN Transformer (3 blocks, 2 heads, FFN width ``ffn_hidden``) over item +
   position embeddings, (B, L, D); global encoding: ``softmax(Q_s K(E)^T) V(E)`` with a learned (L, D) query
   ``Q_s`` over the raw item embeddings E (no mask: pad keys take part, as in the original), dropout;
3. each encoding is disentangled into K intents per position, ``LN5(p(k | i) * w_i * h_i)`` with
   p(k | i) = softmax_k(LN1(h_i) . LN2(c_k) / sqrt D) over K learned prototypes c_k and w_i = softmax_i over the
   L positions of ``q . (k_i + relu(W k_i)) / sqrt D`` (k_i = LN4(h_i + phi_i), q = LN3(h_n + phi_n + rho), n the
   last item); local and global intents are added, (B, K, L, D);
4. recommendation: the K intents at the last item score every item id by dot product; the max over the K
   intents is the logit of a full-softmax cross-entropy of the next item;
5. contrast: two views (crop keeps 0.4, mask 0.3 of the items to a dedicated mask id, reorder 0.2; one operator
   drawn per view, with replacement) go through 2-3; their (B*K, L*D) intent views are contrasted with the
   symmetric in-batch InfoNCE (dot product, temperature 1): ``L = CE + 0.1 InfoNCE``.

Scoring ranks by the max over intents of step 4 (every item id, as the original's full ranking). Settings are
``IOCRec_config`` (hidden 64, FFN 128, 3 blocks, 2 heads, dropouts 0.5, K 4, lambda 0.1, tau 1); protocol of
``runIOCRec.py`` as ``train_overrides`` (150 epochs, patience 10 on HR@10, batch 256, lr 1e-3). Deviations in
docs/baselines_intent.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from elcrec.data.augment import AugmentConfig
from elcrec.data.batches import Batch
from elcrec.models.base import EncoderConfig, RecModel
from elcrec.nn.dropout import Dropout
from elcrec.nn.losses import nce_loss


@dataclass
class IOCRecConfig(EncoderConfig):
    layers: int = 3  # num_blocks
    ffn_hidden: int = 128  # the feed-forward width (the shared encoder's default is 4 * hidden)
    k: int = 4  # k_intention
    cl_weight: float = 0.1  # lamda
    temperature: float = 1.0  # tao
    crop_ratio: float = 0.4
    mask_ratio: float = 0.3
    reorder_ratio: float = 0.2

    def validate(self) -> None:
        if self.k < 1 or self.ffn_hidden < 1:
            raise ValueError(f"k and ffn_hidden must be positive, not {self.k} and {self.ffn_hidden}")
        for key in ("crop_ratio", "mask_ratio", "reorder_ratio"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"{key} must lie in [0, 1], not {getattr(self, key)}")


def right_align(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded (B, L) ids -> right-padded ids and the lengths (at least 1, so that index n - 1 exists)."""
    length = (ids > 0).sum(1)
    cols = torch.arange(ids.shape[1], device=ids.device)
    shifted = ids.gather(1, (cols[None, :] + (ids.shape[1] - length)[:, None]) % ids.shape[1])
    return shifted, length.clamp(min=1)


class GlobalSeqEncoder(nn.Module):
    def __init__(self, hidden: int, max_len: int, dropout: float) -> None:
        super().__init__()
        self.Q_s = nn.Parameter(torch.randn(max_len, hidden))
        self.K_linear = nn.Linear(hidden, hidden)
        self.V_linear = nn.Linear(hidden, hidden)
        self.dropout = Dropout(dropout)

    def forward(self, item_emb: torch.Tensor) -> torch.Tensor:
        attn = torch.softmax(self.Q_s @ self.K_linear(item_emb).transpose(1, 2), -1)  # (B, L, L)
        return self.dropout(attn @ self.V_linear(item_emb))


class DisentangleEncoder(nn.Module):
    def __init__(self, k: int, hidden: int, max_len: int) -> None:
        super().__init__()
        self.intentions = nn.Parameter(torch.randn(k, hidden))
        self.pos_fai = nn.Embedding(max_len, hidden)
        self.rou = nn.Parameter(torch.randn(hidden))
        self.W = nn.Linear(hidden, hidden)
        self.layer_norm_1, self.layer_norm_2, self.layer_norm_3, self.layer_norm_4, self.layer_norm_5 = (
            nn.LayerNorm(hidden) for _ in range(5))  # torch's eps 1e-5, as the original

    def weights(self, h: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        """(B, L, K): p(k | i) * w_i of every position."""
        b, l, d = h.shape
        score = torch.softmax(self.layer_norm_1(h) @ self.layer_norm_2(self.intentions).T / math.sqrt(d), -1)
        last = length - 1
        query = self.layer_norm_3(h[torch.arange(b, device=h.device), last] + self.pos_fai(last) + self.rou)
        key = self.layer_norm_4(h + self.pos_fai.weight[:l])
        key = key + torch.relu(self.W(key))
        attn = torch.softmax((key @ query[:, :, None]).squeeze(-1) / math.sqrt(d), -1)  # (B, L)
        return score * attn[:, :, None]

    def forward(self, h: torch.Tensor, length: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """(B, K, L, D) intents of every position, or (B, K, D) of the last item with ``last_only`` (same values)."""
        w = self.weights(h, length)
        if last_only:
            idx = torch.arange(h.shape[0], device=h.device)
            return self.layer_norm_5(w[idx, length - 1][:, :, None] * h[idx, length - 1][:, None, :])
        return self.layer_norm_5(w.transpose(1, 2)[..., None] * h[:, None])


class IOCRec(RecModel):
    name = "iocrec"
    needs_negatives = False
    # runIOCRec.py: --epoch_num 150, --patience 10, --valid_metric hit@10, --train_batch 256, --learning_rate 1e-3
    train_overrides = {"max_epochs": 150, "patience": 10, "early_stopping_metric": "HR@10", "batch_size": 256,
                       "lr": 1e-3}

    def __init__(self, item_size: int, cfg: IOCRecConfig) -> None:
        super().__init__(item_size, cfg, causal=True)
        self.mask_id = item_size - 1
        h = cfg.hidden
        for layer in self.encoder.item_encoder.layer:  # the original's FFN width
            layer.intermediate.dense_1 = nn.Linear(h, cfg.ffn_hidden)
            layer.intermediate.dense_2 = nn.Linear(cfg.ffn_hidden, h)
        self.global_encoder = GlobalSeqEncoder(h, cfg.max_len, cfg.hidden_dropout)
        self.disentangle = DisentangleEncoder(cfg.k, h, cfg.max_len)
        self.apply(self._init_weights)
        self.augment = AugmentConfig(tau=cfg.crop_ratio, gamma=cfg.mask_ratio, beta=cfg.reorder_ratio,
                                     mask_value=self.mask_id)
        self.loss_weights = {"rec": 1.0, "cl": cfg.cl_weight}

    def _init_weights(self, module: nn.Module) -> None:
        """The original's ``_init_weights``: N(0, init_range) weights of every Linear and Embedding (pad row
        included); its bias branch is unreachable, so Linear biases keep PyTorch's default U(+-1/sqrt(fan_in))."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(0.0, self.cfg.init_range)
        if isinstance(module, nn.Linear) and module.bias is not None:
            bound = 1 / math.sqrt(module.in_features)
            module.bias.data.uniform_(-bound, bound)

    def intents(self, ids: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """Local + global intents of left-padded ids: (B, K, L, D), or (B, K, D) at the last item."""
        x, length = right_align(ids)
        local = self.encoder(x)
        global_ = self.global_encoder(self.encoder.item_embeddings(x))
        return self.disentangle(local, length, last_only) + self.disentangle(global_, length, last_only)

    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, item_size): the max over the K intents of the last item's dot products with every item id."""
        return (self.intents(ids, last_only=True) @ self.encoder.item_embeddings.weight.T).max(1).values

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.views is not None
        keep = batch.target_pos[:, -1] > 0  # a user with < 4 items has no training target
        logits = self.logits(batch.input_ids[keep])
        rec = F.cross_entropy(logits, batch.target_pos[keep, -1]) if keep.any() else logits.sum() * 0.0
        b = batch.input_ids.shape[0]
        z = self.intents(torch.cat(batch.views, 0)).flatten(2)  # (2B, K, L * D); both views in one call
        z = z.reshape(2 * b * self.cfg.k, -1)
        return {"rec": rec, "cl": nce_loss(z[: b * self.cfg.k], z[b * self.cfg.k :], self.cfg.temperature)}

    def score(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.logits(input_ids)
