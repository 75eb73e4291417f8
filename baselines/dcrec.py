"""DCRec: Debiased Contrastive Learning for Sequential Recommendation (Yang et al., WWW 2023).

Follows the authors' code HKUDS/DCRec @2338233 (RecBole; ``recbole/model/sequential_recommender/dcrec.py``
``calculate_loss_graphcl`` and ``fast_predict``; ``run_DCRec.py`` graphs and BEST SETTINGS), read beside the
authors' second version in HKUDS/SSLRec @7597c31 (``models/sequential/dcrec_seq.py``, ``config/modelconf/
dcrec_seq.yml``). Graphs and GCN: ``baselines/dcrec_graphs.py``. Per training step, for the users whose training
input ``s[:-3]`` is not empty (target ``s[-3]``, last input item ``v``):

1. ``g_adj = LN(GCN(adj, drop(E)) + drop(E))`` and ``g_sim`` likewise over the co-interaction graph, ``E`` the
   item table (``gcn_forward``);
2. two encodings ``h, h'`` of the input (a bidirectional post-LN Transformer: RecBole's ``TransformerEncoder``
   with a padding-only mask, which is the shared encoder with ``causal=False``), last position;
3. conformity weights: the transition graph without the batch users' transitions gives ``g_aug``; the
   agreement ``sigmoid(mean(cos(g_adj[v], g_aug[v]), cos(g_adj[v], foreign(v)), cos(civil(v), foreign(v))))``
   is min-max scaled and rescaled to mean ``weight_mean``: ``w``; ``w = 0.5`` for one-item inputs;
   ``p = max(w) - w``;
4. ``kl = KL(sorted N(weight_mean, 0.1) samples || log_softmax(sorted w))`` (``cal_kl_1``);
5. ``cl = mean(w * nce(h', g_adj[v]) + p * nce(g_adj[v], g_sim[v]))``, ``nce`` the cosine InfoNCE of
   ``CLLayer.vanilla_loss`` (temperature ``cl_temp``; the positive stays in the denominator; ``+1e-8`` in the log);
6. fusion ``x = sum_c softmax_c((x_c W) . a) x_c`` over ``x_c in (h, g_adj[v], g_sim[v])``; the CE of the target
   over all item rows of ``E`` with logits ``x E^T + 1e-8``;
7. ``L = CE + cl_weight * cl + kl_weight * kl``.

Scoring fuses the eval-mode encoding with the two graph views the same way (``fast_predict``) and ranks all item
rows. Every deviation from the original is listed in docs/baselines_graph.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.dcrec_graphs import EdgeGraph, dual_neighbor_readout, gcn, similarity_graph, transition_graph
from elcrec.data.batches import Batch
from elcrec.data.sequences import SequenceData
from elcrec.models.base import EncoderConfig, RecModel, Scheduler
from elcrec.nn.encoder import LayerNorm

SIM_ROWS = ("original", "aligned")


@dataclass
class DCRecConfig(EncoderConfig):
    """Defaults: run_DCRec.py's settings shared by beauty and sports (per-dataset values in config/models)."""

    attn_dropout: float = 0.3  # attn_dropout_prob (beauty 0.1, sports 0.3)
    hidden_dropout: float = 0.5  # hidden_dropout_prob
    graph_dropout: float = 0.5  # graph_dropout_prob
    cl_weight: float = 0.1  # graphcl_coefficient
    cl_temp: float = 1.0
    weight_mean: float = 0.5
    sim_group: int = 4  # k of the co-interaction graph
    kl_weight: float = 1e-2
    batch_size: int = 512  # train_batch_size (beauty 2048)
    lr_step_epochs: int = 0  # schedule_step: StepLR(gamma 0.2) every N epochs; 0 = none (beauty 30)
    sim_rows: str = "original"  # original (the original's block-loop row order) | aligned
    eval_graph_dropout: bool = True  # the original drops graph edges when scoring too

    def validate(self) -> None:
        if self.sim_rows not in SIM_ROWS:
            raise ValueError(f"sim_rows must be one of {SIM_ROWS}, not {self.sim_rows!r}")
        if self.sim_group < 1:
            raise ValueError(f"sim_group must be >= 1, not {self.sim_group}")
        if not 0.0 <= self.graph_dropout < 1.0:
            raise ValueError(f"graph_dropout must lie in [0, 1), not {self.graph_dropout}")


def cosine_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per-row ``CLLayer.vanilla_loss``: -log(1e-8 + e^{cos(z1_i, z2_i)/t} / sum_j e^{cos(z1_i, z2_j)/t})."""
    sim = torch.exp(F.normalize(z1) @ F.normalize(z2).T / temperature)
    return -torch.log(1e-8 + sim.diag() / sim.sum(1))


def kl_to_prior(prior: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``cal_kl_1(prior, weights)`` on sorted inputs: KL with log-target, batchmean."""
    target = torch.log(prior.clamp(min=1e-8) + 1e-8)
    inp = torch.log_softmax(weights + 1e-8, dim=0)
    return F.kl_div(inp, target, reduction="batchmean", log_target=True)


def conformity_weights(views: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], lengths: torch.Tensor,
                       weight_mean: float) -> torch.Tensor:
    """``_subgraph_agreement`` from (g_adj[v], g_aug[v], civil(v), foreign(v)), then 0.5 for one-item inputs."""
    adj, aug, civil, foreign = views
    agree = (F.cosine_similarity(adj, aug, eps=1e-12) + F.cosine_similarity(adj, foreign, eps=1e-12)
             + F.cosine_similarity(civil, foreign, eps=1e-12)) / 3
    agree = torch.sigmoid(agree)
    spread = agree.max() - agree.min()
    # one distinct value (e.g. a batch of one): the original divides 0 by 0; every weight is then the mean
    agree = (agree - agree.min()) / spread if spread > 0 else torch.ones_like(agree)
    agree = (weight_mean / agree.mean()) * agree
    return torch.where(lengths == 1, torch.full_like(agree, 0.5), agree)


class DCRec(RecModel):
    name = "dcrec"
    needs_negatives = False
    augment = None

    def __init__(self, item_size: int, cfg: DCRecConfig) -> None:
        super().__init__(item_size, cfg, causal=False)
        h = cfg.hidden
        self.attn_weights = nn.Parameter(torch.empty(h, h).normal_(0.0, 0.02))
        self.attn = nn.Parameter(torch.empty(1, h).normal_(0.0, 0.02))
        self.layernorm = LayerNorm(h)
        self.loss_weights = {"rec": 1.0, "cl": cfg.cl_weight, "kl": cfg.kl_weight}
        # RecBole's run_DCRec.py: 300 epochs, stopping_step 20; the batch size is per dataset
        self.train_overrides = {"batch_size": cfg.batch_size, "max_epochs": 300, "patience": 20}
        self.adj: EdgeGraph | None = None
        self.sim: EdgeGraph | None = None
        self.user_edges: tuple[np.ndarray, np.ndarray] | None = None

    # --- data and optimiser ----------------------------------------------------------------------------
    def prepare(self, data: SequenceData) -> None:
        device = self.attn.device
        adj, self.user_edges = transition_graph(data)
        self.adj = adj.to(device)
        self.sim = similarity_graph(data, self.cfg.sim_group, self.cfg.sim_rows).to(device)

    def _apply(self, fn, *args, **kwargs):  # noqa: ANN001, ANN202 - keep the graphs on the model's device
        out = super()._apply(fn, *args, **kwargs)
        device = self.attn.device
        if self.adj is not None:
            self.adj, self.sim = self.adj.to(device), self.sim.to(device)  # type: ignore[union-attr]
        return out

    def make_optimizer(self, cfg: Any, steps_per_epoch: int) -> tuple[torch.optim.Optimizer, Scheduler]:
        optim, _ = super().make_optimizer(cfg, steps_per_epoch)
        if self.cfg.lr_step_epochs <= 0:
            return optim, None
        # RecBole steps StepLR once per epoch; the trainer steps a scheduler after every optimiser step
        return optim, torch.optim.lr_scheduler.StepLR(optim, step_size=self.cfg.lr_step_epochs * steps_per_epoch,
                                                      gamma=0.2)

    # --- the network -----------------------------------------------------------------------------------
    def graph_view(self, graph: EdgeGraph, drop: bool = True) -> torch.Tensor:
        """``gcn_forward``: LN(GCN(graph, dropout(E)) + dropout(E)) over the whole item table."""
        table = self.encoder.dropout(self.encoder.item_embeddings.weight)
        return self.layernorm(gcn(graph, table, self.cfg.graph_dropout if drop else 0.0) + table)

    def fuse(self, seq: torch.Tensor, adj: torch.Tensor, sim: torch.Tensor) -> torch.Tensor:
        mixed = torch.stack((seq, adj, sim), 0)  # (3, B, H)
        weights = ((mixed @ self.attn_weights[None]) * self.attn).sum(-1)
        return (mixed * torch.softmax(weights, 0)[..., None]).sum(0)

    def _graphs(self) -> tuple[EdgeGraph, EdgeGraph]:
        if self.adj is None or self.sim is None:
            raise RuntimeError("DCRec needs its item graphs: call prepare(data) first (the trainer does)")
        return self.adj, self.sim

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        adj_graph, sim_graph = self._graphs()
        keep = batch.target_pos[:, -1] > 0  # a user with < 4 items has no training row
        if not bool(keep.any()):  # no user of the batch has a training row: zeros that keep the graph
            zero = self.attn.sum() * 0.0
            return {"rec": zero, "cl": zero, "kl": zero}
        inputs, target, users = batch.input_ids[keep], batch.target_pos[keep, -1], batch.users[keep]
        last = inputs[:, -1]
        ptr, keys = self.user_edges  # type: ignore[misc]
        u = users.cpu().numpy()
        removed = torch.from_numpy(np.concatenate([keys[ptr[i]:ptr[i + 1]] for i in u]) if len(u) else
                                   np.zeros(0, np.int64)).to(last.device)
        aug_graph = adj_graph.without(removed)
        g_adj = self.graph_view(adj_graph)
        g_sim = self.graph_view(sim_graph)
        h = self.encoder(inputs, last_only=True)[:, -1]
        h_aug = self.encoder(inputs, last_only=True)[:, -1]
        g_aug = self.graph_view(aug_graph)[last]
        civil, foreign = dual_neighbor_readout(adj_graph, removed, last, g_adj)
        w = conformity_weights((g_adj[last], g_aug, civil, foreign), (inputs > 0).sum(1), self.cfg.weight_mean)
        prior = torch.normal(self.cfg.weight_mean, 0.1, size=w.shape, device=w.device)
        kl = kl_to_prior(prior.sort()[0], w.sort()[0])
        p = w.max() - w
        cl = (w * cosine_nce(h_aug, g_adj[last], self.cfg.cl_temp)
              + p * cosine_nce(g_adj[last], g_sim[last], self.cfg.cl_temp)).mean()
        x = self.fuse(h, g_adj[last], g_sim[last])
        rec = F.cross_entropy(x @ self.encoder.item_embeddings.weight.T + 1e-8, target)
        return {"rec": rec, "cl": cl, "kl": kl}

    def score(self, input_ids: torch.Tensor, user_ids: torch.Tensor | None = None) -> torch.Tensor:
        adj_graph, sim_graph = self._graphs()
        last = input_ids[:, -1]
        drop = self.cfg.eval_graph_dropout or self.training
        h = self.encoder(input_ids, last_only=True)[:, -1]
        x = self.fuse(h, self.graph_view(adj_graph, drop)[last], self.graph_view(sim_graph, drop)[last])
        return x @ self.encoder.item_embeddings.weight.T
