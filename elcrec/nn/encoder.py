"""The SASRec-family Transformer encoder shared by ELCRec, ICLRec, S3-Rec, SASRec and CL4SRec.

It follows the S3-Rec/ICLRec/ELCRec PyTorch implementation (ELCRec ``src/models.py`` and ``src/modules.py``
@ad6e1c8; method doc §2.1) closely enough that the official checkpoints load unchanged:

* parameter names are the official ones (``item_embeddings``, ``position_embeddings``, ``LayerNorm``,
  ``item_encoder.layer.{i}.attention.{query,key,value,dense,LayerNorm}``,
  ``item_encoder.layer.{i}.intermediate.{dense_1,dense_2,LayerNorm}``);
* post-LN blocks, erf-GELU, LayerNorm eps 1e-12, dropout on embeddings, attention probabilities and both
  residual branches;
* the attention mask is *additive* ``(1 - mask) * -10000`` over keys (non-pad AND causal). It is not -inf:
  a left-pad query whose keys are all masked then attends uniformly instead of producing NaN, and those pad
  outputs enter mean pooling in ELCRec/ICLRec, so the constant matters for faithfulness;
* N(0, 0.02) initialisation of every Linear/Embedding (the pad row included, as in the original), zero biases.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from elcrec.nn.dropout import Dropout, dropout

MASK_VALUE = -10000.0
LN_EPS = 1e-12


class LayerNorm(nn.Module):
    """TF-style LayerNorm with the official parameter names (``weight``, ``bias``) and eps 1e-12."""

    def __init__(self, hidden: int, eps: float = LN_EPS) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden))
        self.bias = nn.Parameter(torch.zeros(hidden))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)


class SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, attn_dropout: float, hidden_dropout: float) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not a multiple of the number of heads {heads}")
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.attn_dropout = attn_dropout
        self.dense = nn.Linear(hidden, hidden)
        self.LayerNorm = LayerNorm(hidden)
        self.out_dropout = Dropout(hidden_dropout)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, length, h = x.shape
        return x.view(b, length, self.heads, h // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """``last_only`` computes the last query position alone (all keys still attend): for scoring."""
        q_in = x[:, -1:] if last_only else x
        if last_only:
            additive_mask = additive_mask[..., -1:, :]
        q, k, v = self._split(self.query(q_in)), self._split(self.key(x)), self._split(self.value(x))
        # softmax(q k^T / sqrt(d) + mask) with dropout on the probabilities: the original's arithmetic.
        if self.training and self.attn_dropout > 0:
            scores = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5) + additive_mask
            ctx = dropout(torch.softmax(scores, -1), self.attn_dropout, True) @ v
        else:  # fused kernel when there is no dropout (evaluation)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=additive_mask)
        ctx = ctx.transpose(1, 2).reshape(q_in.shape)
        return self.LayerNorm(self.out_dropout(self.dense(ctx)) + q_in)


class Intermediate(nn.Module):
    def __init__(self, hidden: int, hidden_dropout: float) -> None:
        super().__init__()
        self.dense_1 = nn.Linear(hidden, hidden * 4)
        self.dense_2 = nn.Linear(hidden * 4, hidden)
        self.LayerNorm = LayerNorm(hidden)
        self.dropout = Dropout(hidden_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense_2(F.gelu(self.dense_1(x)))) + x)


class Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, attn_dropout: float, hidden_dropout: float) -> None:
        super().__init__()
        self.attention = SelfAttention(hidden, heads, attn_dropout, hidden_dropout)
        self.intermediate = Intermediate(hidden, hidden_dropout)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        return self.intermediate(self.attention(x, additive_mask, last_only))


class Stack(nn.Module):
    def __init__(self, layers: int, **kw: float | int) -> None:
        super().__init__()
        self.layer = nn.ModuleList([Layer(**kw) for _ in range(layers)])  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        for i, block in enumerate(self.layer):
            x = block(x, additive_mask, last_only and i == len(self.layer) - 1)
        return x


class SASRecEncoder(nn.Module):
    """Item/position embeddings + Transformer stack; ``forward`` returns (B, L, hidden)."""

    def __init__(
        self,
        item_size: int,
        hidden: int = 64,
        layers: int = 2,
        heads: int = 2,
        max_len: int = 50,
        attn_dropout: float = 0.5,
        hidden_dropout: float = 0.5,
        init_range: float = 0.02,
        causal: bool = True,
    ) -> None:
        super().__init__()
        self.item_size, self.hidden, self.max_len, self.causal = item_size, hidden, max_len, causal
        self.init_range = init_range
        self.item_embeddings = nn.Embedding(item_size, hidden, padding_idx=0)
        self.position_embeddings = nn.Embedding(max_len, hidden)
        self.LayerNorm = LayerNorm(hidden)
        self.dropout = Dropout(hidden_dropout)
        self.item_encoder = Stack(
            layers, hidden=hidden, heads=heads, attn_dropout=attn_dropout, hidden_dropout=hidden_dropout
        )
        self.register_buffer("_causal", torch.tril(torch.ones(max_len, max_len, dtype=torch.bool)), persistent=False)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(mean=0.0, std=self.init_range)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()
        if isinstance(module, LayerNorm):
            module.weight.data.fill_(1.0)
            module.bias.data.zero_()

    def additive_mask(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, 1, L, L) float mask: 0 where a query may attend a key, -10000 elsewhere."""
        length = input_ids.shape[1]
        keep = (input_ids > 0)[:, None, None, :]
        if self.causal:
            keep = keep & self._causal[:length, :length]
        return (~keep).to(self.item_embeddings.weight.dtype) * MASK_VALUE

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        emb = self.item_embeddings(input_ids) + self.position_embeddings(positions)[None]
        return self.dropout(self.LayerNorm(emb))

    def forward(self, input_ids: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """(B, L, hidden) outputs of the last layer; (B, 1, hidden) for the last position with ``last_only``."""
        return self.item_encoder(self.embed(input_ids), self.additive_mask(input_ids), last_only)

    def score_all(self, last_hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every item id (pad and mask id included) by the tied item-embedding table."""
        return last_hidden @ self.item_embeddings.weight.T

    def score(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The evaluator's entry point: full-ranking scores from the last position."""
        return self.score_all(self(input_ids, last_only=True)[:, -1, :])
