"""BERT4Rec: a bidirectional Transformer trained with the cloze (masked item) objective.

Sun et al., CIKM 2019; the original is FeiSun/BERT4Rec @615eaf2 (TensorFlow: ``gen_data_fin.py`` builds the
masked training instances, ``run.py`` ``get_masked_lm_output`` the loss, ``bert_train/bert_config_*_64.json``
the network, ``run_*.sh`` the per-dataset settings).

* Network: the shared encoder with ``causal=False`` (padding-only attention), plus the original's output head:
  ``Dense(H, gelu) -> LayerNorm`` on the hidden state, then logits against the tied item table plus a per-item
  ``output_bias``.
* Cloze masking (``create_masked_lm_predictions`` with ``mask_prob=1.0``): per sequence of n items exactly
  ``min(max_predictions, max(1, round_half_up(n * mask_prob)))`` positions, drawn uniformly without replacement,
  are replaced by the mask id (item_size - 1; always the mask token, never a random or kept item). The original
  also writes, per sequence, one copy with only the last item masked (``mask_last``) beside its
  ``dupe_factor`` randomly masked copies; here each training row is such a last-item copy with probability
  ``1 / (dupe_factor + 1)``.
* Loss: full softmax cross-entropy over all item ids at the masked positions (the original computes
  ``log_softmax`` over the whole vocabulary; it does not sample), summed and divided by (count + 1e-5).
* Training input: the training part of the sequence ``s[:-2]`` (last max_len items), rebuilt from the batch as
  ``cat(input_ids, target_pos[:, -1:])[:, -max_len:]``; one row per user per epoch.
* Scoring: the evaluation input shifted left by one with the mask id appended; the last position's logits.

* Optimiser (``optimizer: bert``, the default; ``optimization.py`` ``create_optimizer`` and ``run_*.sh``):
  BERT's AdamWeightDecay (Adam moments without bias correction, eps 1e-6, decoupled weight decay 0.01 on every
  parameter except LayerNorm and bias ones) at peak lr 1e-4, linear warm-up over the first 100 steps (the very
  first update has lr 0), then linear decay to 0 at the original's 400,000-step budget (``num_train_steps``),
  and the global gradient norm clipped at 5 (``clip_by_global_norm``) (elcrec/nn/optim.py). The variant
  ``bert4rec-adam`` (``optimizer: adam``) keeps the harness's shared constant Adam at lr 1e-3 instead.

Masking draws come from torch's global RNG, which the trainer seeds per epoch, so runs are reproducible.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from elcrec.data.batches import Batch
from elcrec.models.base import EncoderConfig, RecModel
from elcrec.nn.encoder import LayerNorm
from elcrec.nn.optim import AdamWeightDecay, warmup_linear_decay

LOSS_EPS = 1e-5  # get_masked_lm_output: numerator / (sum of label weights + 1e-5)
OPTIMIZERS = ("bert", "adam")


@dataclass
class BERT4RecConfig(EncoderConfig):
    attn_dropout: float = 0.2  # bert_config_*_64.json: attention_probs_dropout_prob
    hidden_dropout: float = 0.5  # bert_config_beauty_64.json (ml-1m: 0.2)
    mask_prob: float = 0.2  # masked_lm_prob (run_ml-1m.sh / run_ml-20m.sh; run_beauty.sh uses 0.6)
    max_predictions: int = 20  # max_predictions_per_seq (flag default; run_beauty.sh 30)
    dupe_factor: int = 10  # randomly masked copies per last-item copy (gen_data_fin.py)
    optimizer: str = "bert"  # bert: the original's AdamWeightDecay schedule; adam: the harness's shared Adam
    bert_lr: float = 1e-4  # learning_rate (run_*.sh)
    warmup_steps: int = 100  # num_warmup_steps
    train_steps: int = 400_000  # num_train_steps: the linear decay reaches 0 here
    bert_weight_decay: float = 0.01  # weight_decay_rate
    bert_eps: float = 1e-6  # epsilon
    clip_norm: float = 5.0  # clip_by_global_norm

    def validate(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, not {self.optimizer!r}")
        if self.warmup_steps < 0 or self.train_steps < 1:
            raise ValueError("warmup_steps must be >= 0 and train_steps >= 1")
        if not 0.0 < self.mask_prob <= 1.0:
            raise ValueError(f"mask_prob must be in (0, 1], not {self.mask_prob}")
        if self.max_predictions < 1:
            raise ValueError("max_predictions must be >= 1")
        if self.dupe_factor < 0:
            raise ValueError("dupe_factor must be >= 0")

    @property
    def last_only_share(self) -> float:
        """Share of training rows masked at the last item only: 1 of every dupe_factor + 1 copies."""
        return 1.0 / (self.dupe_factor + 1)


class BERT4Rec(RecModel):
    name = "bert4rec"
    capture_blocker = None  # reviewed: the step reads fixed storage only (elcrec/steps.py)
    needs_negatives = False
    augment = None
    # BERT4Rec trains 400,000 steps of 256 instances (about 4,500 passes over Beauty's users); it needs far
    # more epochs than the causal models: a cap of 1,000 epochs (88,000 steps on Beauty, where the decaying lr
    # is still 0.78e-4) with the protocol's early stopping (patience 40) lets it run until validation NDCG@20
    # stops improving.
    train_overrides = {"max_epochs": 1000}

    def __init__(self, item_size: int, cfg: BERT4RecConfig) -> None:
        super().__init__(item_size, cfg, causal=False)
        self.mask_id = item_size - 1
        self.transform_dense = nn.Linear(cfg.hidden, cfg.hidden)  # cls/predictions/transform/dense
        self.transform_norm = LayerNorm(cfg.hidden)  # cls/predictions/transform/LayerNorm
        self.output_bias = nn.Parameter(torch.zeros(item_size))  # cls/predictions/output_bias
        self.encoder._init_weights(self.transform_dense)
        self.loss_weights = {"cloze": 1.0}
        self.grad_clip = cfg.clip_norm if cfg.optimizer == "bert" else None

    def decay_groups(self) -> list[dict]:
        """BERT's ``exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"]``: no decay on those."""
        norms = {id(p) for m in self.modules() if isinstance(m, LayerNorm) for p in m.parameters()}
        skip = [p for n, p in self.named_parameters() if id(p) in norms or "bias" in n]
        rest = [p for n, p in self.named_parameters() if not (id(p) in norms or "bias" in n)]
        return [{"params": rest, "weight_decay": self.cfg.bert_weight_decay}, {"params": skip, "weight_decay": 0.0}]

    def make_optimizer(self, cfg, steps_per_epoch: int):  # noqa: ANN001, ANN201
        if self.cfg.optimizer == "adam":
            return super().make_optimizer(cfg, steps_per_epoch)
        optim = AdamWeightDecay(self.decay_groups(), lr=self.cfg.bert_lr, eps=self.cfg.bert_eps)
        return optim, warmup_linear_decay(optim, self.cfg.warmup_steps, self.cfg.train_steps)

    def training_sequences(self, batch: Batch) -> torch.Tensor:
        """(B, max_len) ``s[:-2]`` of each user: the training input plus its last target, left-padded."""
        return torch.cat([batch.input_ids, batch.target_pos[:, -1:]], 1)[:, -self.cfg.max_len :]

    def cloze_mask(self, seqs: torch.Tensor) -> torch.Tensor:
        """(B, L) bool: the positions to mask (from torch's global RNG)."""
        real = seqs > 0
        n = real.sum(1)
        want = torch.floor(n.double() * self.cfg.mask_prob + 0.5).long()  # Python 2 round(): half away from 0
        count = torch.minimum(want.clamp(min=1).clamp(max=self.cfg.max_predictions), n)
        keys = torch.rand(seqs.shape, device=seqs.device).masked_fill(~real, 2.0)
        rank = keys.argsort(1).argsort(1)
        masked = rank < count[:, None]
        last_only = torch.rand(seqs.shape[0], device=seqs.device) < self.cfg.last_only_share
        last = torch.zeros_like(masked)
        last[:, -1] = real[:, -1]
        return torch.where(last_only[:, None], last, masked)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(N, H) hidden states -> (N, item_size) logits over every item id (pad and mask included)."""
        h = self.transform_norm(F.gelu(self.transform_dense(hidden)))
        return h @ self.encoder.item_embeddings.weight.T + self.output_bias

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        seqs = self.training_sequences(batch)
        masked = self.cloze_mask(seqs)
        out = self.encoder(seqs.masked_fill(masked, self.mask_id))
        if self.static_shapes:
            nll = self.masked_nll_fixed_shape(out, seqs, masked)
        else:
            nll = F.cross_entropy(self.logits(out[masked]), seqs[masked], reduction="sum")
        return {"cloze": nll / (masked.sum().to(nll.dtype) + LOSS_EPS)}

    def masked_nll_fixed_shape(self, out: torch.Tensor, seqs: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """The summed NLL of the masked positions without a data-dependent shape (static step modes).

        A row has at most ``max_predictions`` masked positions (one for a last-item copy), so the
        ``min(max_predictions, L)`` largest entries of its mask hold them all; the picked unmasked ones get
        weight 0. Same terms as ``out[masked]``, summed in another order.
        """
        picks = min(self.cfg.max_predictions, seqs.shape[1])
        chosen = masked.to(out.dtype).topk(picks, dim=1).indices  # (B, P): every masked position, then fillers
        hidden = out.gather(1, chosen[..., None].expand(-1, -1, out.shape[-1]))
        weight = masked.gather(1, chosen).to(out.dtype)
        nll = F.cross_entropy(self.logits(hidden.reshape(-1, out.shape[-1])), seqs.gather(1, chosen).reshape(-1),
                              reduction="none")
        return (nll * weight.reshape(-1)).sum()

    def score(self, input_ids: torch.Tensor, user_ids: torch.Tensor | None = None) -> torch.Tensor:
        mask = torch.full_like(input_ids[:, :1], self.mask_id)
        shifted = torch.cat([input_ids[:, 1:], mask], 1)
        return self.logits(self.encoder(shifted, last_only=True)[:, -1])
