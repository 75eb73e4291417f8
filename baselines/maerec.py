"""MAERec: Graph Masked Autoencoder for Sequential Recommendation (Ye et al., SIGIR 2023).

Follows the authors' code HKUDS/MAERec @bd92f2c (``main.py`` ``Coach.train_epoch`` / ``test_epoch``,
``model.py``, ``params.py`` defaults; the README's graph with distance 3), read beside the SSLRec port
HKUDS/SSLRec @7597c31 (``models/sequential/maerec.py``, ``config/modelconf/maerec.yml``). The item graph,
the path masking and the edge sampling are in ``baselines/maerec_graph.py``.

Network: an item table ``E`` (Xavier), a parameter-free LightGCN-style encoder over a graph ``G``:
``X = E + G E + G^2 E`` (``Encoder``); a causal post-LN Transformer (``SASRec`` of model.py) whose input is
``X[ids] + P`` (LayerNorm eps 1e-5, dropout), whose feed-forward block has **no residual** (Linear, GELU,
Linear, dropout, LayerNorm) and whose output is the **sum of the embedding output and every layer's output**;
every Linear and ``P`` are Xavier-initialised.

Per training step (``before_step`` and ``loss``), every ``mask_steps`` steps from the start of an epoch:
seed scores over the all-one graph and ``E`` (with Gumbel noise), the ``mask_candidates`` best seeds, and a new
masked graph ``G_m`` with its masked edges. Then:

1. ``rec``: SASRec BCE (one negative per position, non-pad targets) of the Transformer over ``X = enc(G_m)``,
   scored against ``X``;
2. ``recon``: ``recon_batch`` masked edges (u, v), each with ``recon_negatives`` absent edges; per edge the MLP
   decoder of ``sum_{i,j < gcn_layers} X_i[u] * X_j[v]`` (``X_0 = E``, ``X_1 = G_m E``) gives ``s = exp(MLP)``
   (the MLP ends in a sigmoid) and ``-sum(s_pos / (s_pos + sum s_neg + 1e-8) + 1e-8)`` (no log, as the original;
   ``recon_log: true`` is SSLRec's log-ratio);
3. ``reg``: the squared L2 norm of every parameter (weight ``reg``);
4. ``mask`` (mask steps only): ``-mean(seed scores) * reward``, reward 1 when the last ``rec`` decrease beats
   the mean decrease since the previous mask step, else ``eps`` (``calc_reward``).

``L = rec + recon_weight * recon + reg * reg + mask``. Scoring: ``X = enc(G)`` over the whole graph, the last
position's output dotted with ``X``; the mask id, which the original's item table does not have, scores -1e8.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from baselines.cl4srec import MASKED_SCORE  # the one finite 'never ranked' score
from baselines.maerec_graph import (EXPANSIONS, gumbel, item_graph, mask_paths, sample_negative_edges,
                                    seed_scores)
from elcrec.data.batches import Batch
from elcrec.data.sequences import SequenceData
from elcrec.models.base import EncoderConfig, RecModel, TrainContext
from elcrec.nn.dropout import Dropout
from elcrec.nn.encoder import LayerNorm, SelfAttention
from elcrec.nn.losses import bce_next_item

LN_EPS = 1e-5  # nn.LayerNorm's default, which MAERec's model.py uses


@dataclass
class MAERecConfig(EncoderConfig):
    """Defaults: HKUDS/MAERec params.py (the settings of every dataset in its README)."""

    hidden: int = 32  # latdim
    layers: int = 2  # num_trm_layers
    heads: int = 4  # num_attention_heads
    attn_dropout: float = 0.3
    hidden_dropout: float = 0.3
    gcn_layers: int = 2  # num_gcn_layers
    graph_distance: int = 3  # construct_graphs distance (README)
    mask_depth: int = 3
    path_prob: float = 0.5
    mask_candidates: int = 50  # num_mask_cand
    mask_steps: int = 10  # re-mask every N steps
    recon_batch: int = 2048  # con_batch: masked edges reconstructed per step
    recon_negatives: int = 40  # num_reco_neg
    reg: float = 1e-6
    recon_weight: float = 1.0  # the original adds the decoder loss unscaled (SSLRec: ssl_reg 1e-3)
    recon_log: bool = False  # SSLRec's decoder takes the log of the ratio; the original does not
    eps: float = 0.2  # reward of a mask step whose loss decrease is below average
    seed_expansion: str = "sum"  # sum (the original's nxtRows + nxtCols) | endpoints

    def validate(self) -> None:
        if self.seed_expansion not in EXPANSIONS:
            raise ValueError(f"seed_expansion must be one of {EXPANSIONS}, not {self.seed_expansion!r}")
        for key in ("gcn_layers", "graph_distance", "mask_depth", "mask_candidates", "mask_steps", "recon_batch"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, not {getattr(self, key)}")
        if self.recon_negatives < 2:
            raise ValueError(f"recon_negatives must be >= 2, not {self.recon_negatives}")


class FeedForward(nn.Module):
    """MAERec's ``IntermediateLayer``: Linear, GELU, Linear, dropout, LayerNorm, with no residual."""

    def __init__(self, hidden: int, p: float) -> None:
        super().__init__()
        self.dense_1, self.dense_2 = nn.Linear(hidden, 4 * hidden), nn.Linear(4 * hidden, hidden)
        self.dropout, self.LayerNorm = Dropout(p), LayerNorm(hidden, LN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense_2(torch.nn.functional.gelu(self.dense_1(x)))))


class MAERecTransformer(nn.Module):
    """Item table + MAERec's SASRec: the input embeddings come from the graph encoder's output."""

    def __init__(self, item_size: int, cfg: MAERecConfig) -> None:
        super().__init__()
        h = cfg.hidden
        self.item_embeddings = nn.Embedding(item_size, h)
        self.position_embeddings = nn.Embedding(cfg.max_len, h)
        self.LayerNorm = LayerNorm(h, LN_EPS)
        self.dropout = Dropout(cfg.hidden_dropout)
        self.attention = nn.ModuleList(SelfAttention(h, cfg.heads, cfg.attn_dropout, cfg.hidden_dropout)
                                       for _ in range(cfg.layers))
        self.feed_forward = nn.ModuleList(FeedForward(h, cfg.hidden_dropout) for _ in range(cfg.layers))
        for block in self.attention:
            block.LayerNorm.eps = LN_EPS
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.xavier_uniform_(module.weight)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)
        self.register_buffer("_causal", torch.tril(torch.ones(cfg.max_len, cfg.max_len, dtype=torch.bool)),
                             persistent=False)

    def forward(self, input_ids: torch.Tensor, table: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """(B, L, H) sum of the embedding output and every layer's output ((B, 1, H) with ``last_only``)."""
        length = input_ids.shape[1]
        x = self.dropout(self.LayerNorm(table[input_ids] + self.position_embeddings.weight[:length][None]))
        keep = (input_ids > 0)[:, None, None, :] & self._causal[:length, :length]
        mask = (~keep).to(x.dtype) * -10000.0
        total = x[:, -1:] if last_only else x
        for i, (attn, ffn) in enumerate(zip(self.attention, self.feed_forward)):
            last = last_only and i == len(self.attention) - 1
            x = ffn(attn(x, mask, last))
            total = total + (x[:, -1:] if last_only and not last else x)
        return total


class Decoder(nn.Module):
    """MAERec's edge decoder: an MLP over the products of the first ``gcn_layers`` embedding layers."""

    def __init__(self, hidden: int, gcn_layers: int) -> None:
        super().__init__()
        self.gcn_layers = gcn_layers
        self.MLP = nn.Sequential(nn.Linear(hidden * gcn_layers**2, hidden * gcn_layers), nn.ReLU(),
                                 nn.Linear(hidden * gcn_layers, hidden), nn.ReLU(), nn.Linear(hidden, 1), nn.Sigmoid())
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def edge_scores(self, layers: list[torch.Tensor], u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        feats = [layers[i][u] * layers[j][v] for i in range(self.gcn_layers) for j in range(self.gcn_layers)]
        return torch.exp(self.MLP(torch.cat(feats, -1)).squeeze(-1))

    def forward(self, layers: list[torch.Tensor], pos: torch.Tensor, neg: torch.Tensor, log: bool) -> torch.Tensor:
        pos_scr = self.edge_scores(layers, pos[:, 0], pos[:, 1])  # (P,)
        neg_scr = self.edge_scores(layers, neg[..., 0], neg[..., 1]).sum(-1) + pos_scr  # (P,)
        ratio = pos_scr / (neg_scr + 1e-8) + 1e-8
        return -(torch.log(ratio) if log else ratio).sum()


def mask_reward(history: list[float], eps: float) -> float:
    """``calc_reward``: 1 when the last decrease of the main loss beats the mean decrease before it, else eps."""
    if len(history) < 3:
        return 1.0
    current = history[-2] - history[-1]
    mean = sum(history[i] - history[i + 1] for i in range(len(history) - 2)) / (len(history) - 2)
    return 1.0 if current > mean else eps


class MAERec(RecModel):
    name = "maerec"
    needs_negatives = True
    augment = None
    train_overrides: ClassVar[dict[str, Any]] = {"max_epochs": 20}  # params.py: 20 epochs, batch 256, lr 1e-3

    def __init__(self, item_size: int, cfg: MAERecConfig) -> None:
        super().__init__(item_size, cfg, shared_encoder=False)  # MAERec's Transformer is its own
        self.encoder = MAERecTransformer(item_size, cfg)
        self.decoder = Decoder(cfg.hidden, cfg.gcn_layers)
        self.item_size = item_size
        self.loss_weights = {"rec": 1.0, "recon": cfg.recon_weight, "reg": cfg.reg, "mask": 1.0}
        self.adj: torch.Tensor | None = None
        self.ones: torch.Tensor | None = None
        self.edge_keys: torch.Tensor | None = None
        self._masked: tuple[torch.Tensor, torch.Tensor] | None = None
        self._seed_scores: torch.Tensor | None = None
        self._history: list[float] = []

    # --- data ------------------------------------------------------------------------------------------
    def prepare(self, data: SequenceData) -> None:
        adj, ones, keys = item_graph(data, self.cfg.graph_distance)
        device = self.encoder.item_embeddings.weight.device
        self.adj, self.ones, self.edge_keys = adj.to(device), ones.to(device), torch.from_numpy(keys).to(device)

    def _apply(self, fn, *args, **kwargs):  # noqa: ANN001, ANN202 - keep the graphs on the model's device
        out = super()._apply(fn, *args, **kwargs)
        device = self.encoder.item_embeddings.weight.device
        if self.adj is not None:
            self.adj, self.ones = self.adj.to(device), self.ones.to(device)  # type: ignore[union-attr]
            self.edge_keys = self.edge_keys.to(device)  # type: ignore[union-attr]
        self._masked = None
        return out

    def _graph(self) -> torch.Tensor:
        if self.adj is None:
            raise RuntimeError("MAERec needs its item graph: call prepare(data) first (the trainer does)")
        return self.adj

    # --- per-step masking ------------------------------------------------------------------------------
    def on_epoch_start(self, ctx: TrainContext) -> None:
        self._history = []

    def before_step(self, ctx: TrainContext, step: int) -> None:
        if step % self.cfg.mask_steps == 0 or self._masked is None:
            self.resample_mask()
        else:
            self._seed_scores = None

    def resample_mask(self) -> None:
        """New seeds (scores keep their graph for the mask loss) and a new masked graph."""
        adj, table = self._graph(), self.encoder.item_embeddings.weight
        scores = seed_scores(self.ones, table, self.cfg.mask_depth, self.cfg.path_prob)  # type: ignore[arg-type]
        scores = scores + gumbel(scores.shape, scores.device)
        seeds = torch.topk(scores, min(self.cfg.mask_candidates, len(scores))).indices
        self._seed_scores = scores
        self._masked = mask_paths(adj, seeds, self.cfg.mask_depth, self.cfg.path_prob, self.cfg.seed_expansion)

    # --- network and losses ----------------------------------------------------------------------------
    def propagate(self, graph: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(sum of the layers, [E, G E, G^2 E, ...]) of the parameter-free graph encoder."""
        layers = [self.encoder.item_embeddings.weight]
        for _ in range(self.cfg.gcn_layers):
            layers.append(torch.sparse.mm(graph, layers[-1]))
        return torch.stack(layers).sum(0), layers

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        if self._masked is None:
            self.resample_mask()
        assert self._masked is not None and batch.target_neg is not None
        masked_adj, masked_edges = self._masked
        table, layers = self.propagate(masked_adj)
        if bool((batch.target_pos > 0).any()):
            rec = bce_next_item(self.encoder(batch.input_ids, table), batch.target_pos, batch.target_neg, table)
        else:  # no user of the batch has a training target: a zero that keeps the graph (the BCE would be 0/0)
            rec = table.sum() * 0.0
        pos = masked_edges[torch.randperm(len(masked_edges), device=masked_edges.device)[: self.cfg.recon_batch]]
        neg = sample_negative_edges(pos, self.edge_keys, self.item_size, self.item_size - 1,  # type: ignore[arg-type]
                                    self.cfg.recon_negatives)
        recon = self.decoder(layers, pos, neg, self.cfg.recon_log)
        reg = sum(p.pow(2).sum() for p in self.parameters())
        self._history.append(float(rec.detach()))
        mask = rec.new_zeros(())
        if self._seed_scores is not None:
            mask = -self._seed_scores.mean() * mask_reward(self._history, self.cfg.eps)
            self._history = self._history[-1:]
            self._seed_scores = None
        return {"rec": rec, "recon": recon, "reg": reg, "mask": mask}  # type: ignore[dict-item]

    def score(self, input_ids: torch.Tensor, user_ids: torch.Tensor | None = None) -> torch.Tensor:
        table, _ = self.propagate(self._graph())
        scores = self.encoder(input_ids, table, last_only=True)[:, -1] @ table.T
        scores[:, self.item_size - 1] = MASKED_SCORE  # the mask id: not an item of the original
        return scores
