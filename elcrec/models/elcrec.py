"""ELCRec: End-to-end Learnable Clustering for intent learning in Recommendation (Liu et al., NeurIPS 2024).

Follows the official code, yueliu1999/ELCRec @ad6e1c8 (``src/trainers.py`` L135-333, ``src/models.py``),
as described in ../shared/docs/ELCREC_METHOD.md §2. Per training step (code order):

1. ``seq_out = enc(input_ids)`` (train mode); next-item BCE with one negative per position.
2. seq-CL: both augmented views encoded in one batch of 2B; every position is fused with its nearest centre
   (squared distance on the *un-normalised* outputs): ``shift`` adds it, ``concat`` appends it; the result is
   flattened and NT-Xent'd (dot product, temperature 1).
3. The centres are re-normalised in place (``C.data = normalize(C.data)``).
4. ELCM: ``h = normalize(mean_t seq_out)``; ``L_cluster = mean_{B x k} ||h - C||^2 - mean_{k x k} ||C - C||^2``.
5. intent-CL: the views are encoded *again* (fresh dropout), mean-pooled, and contrasted with the centre nearest
   to the original sequence's ``h`` (a learnable row of C).
6. ``L = rec + 0.1 seq_cl + 0.1 intent_cl + alpha cluster``; one Adam step over all parameters, C included.

The centres are initialised once, before the first epoch, by faiss k-means (20 iterations, 5 restarts, seed =
run seed) on the eval-mode mean-pooled embeddings of every user's training input, then L2-normalised.

Paper-versus-code differences are options (defaults = code); see docs/elcrec.md:
``center_mean`` (k2 | k(k-1)), ``fusion_assign`` (position | sequence), ``center_init`` (kmeans | random).
The ablation variants B, B+ICL, B+ELCM switch ``use_icl`` / ``use_elcm`` (registry entries).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from elcrec.data.augment import AugmentConfig
from elcrec.data.batches import Batch
from elcrec.models.base import EncoderConfig, RecModel, TrainContext
from elcrec.models.kmeans import faiss_kmeans
from elcrec.nn.losses import bce_next_item, intent_nce_loss, nce_loss, squared_distance

FUSIONS = ("concat", "shift", "none")


@dataclass
class ELCRecConfig(EncoderConfig):
    k: int = 256  # number of intent centres
    alpha: float = 1.0  # weight of the ELCM cluster loss ("trade_off")
    fusion: str = "concat"  # concat | shift | none: how seq-CL fuses each position with its centre
    fusion_assign: str = "position"  # position (code) | sequence (paper Eq. 5: one centre per sequence)
    seq_cl_weight: float = 0.1  # cf_weight
    intent_cl_weight: float = 0.1  # intent_cf_weight
    temperature: float = 1.0
    center_mean: str = "k2"  # k2 (code: mean over all k*k, diagonal included) | k(k-1) (paper Eq. 3)
    center_init: str = "kmeans"  # kmeans (code) | random (paper: "learnable neural parameters")
    kmeans_iters: int = 20
    kmeans_redo: int = 5
    use_icl: bool = True  # fusion in seq-CL + intent-CL
    use_elcm: bool = True  # the cluster loss
    tau: float = 0.2  # crop keeps this fraction
    gamma: float = 0.7  # mask this fraction (to the pad id 0)
    beta: float = 0.2  # reorder this fraction
    # Snapshots for the t-SNE figure (paper Figure 6: before epochs 0, 50, 100, 150, 200 and of the final model):
    # sampled users' embeddings, intents and the centres; () disables.
    snapshot_epochs: tuple[int, ...] = (0, 50, 100, 150, 200)
    snapshot_users: int = 2000

    def validate(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, not {self.fusion!r}")
        if self.fusion_assign not in ("position", "sequence"):
            raise ValueError(f"fusion_assign must be 'position' or 'sequence', not {self.fusion_assign!r}")
        if self.center_mean not in ("k2", "k(k-1)"):
            raise ValueError(f"center_mean must be 'k2' or 'k(k-1)', not {self.center_mean!r}")
        if self.center_init not in ("kmeans", "random"):
            raise ValueError(f"center_init must be 'kmeans' or 'random', not {self.center_init!r}")


class ELCRec(RecModel):
    name = "elcrec"
    capture_blocker = None  # reviewed: the step reads fixed storage only (elcrec/steps.py)

    def __init__(self, item_size: int, cfg: ELCRecConfig) -> None:
        super().__init__(item_size, cfg)
        self.augment = AugmentConfig(tau=cfg.tau, gamma=cfg.gamma, beta=cfg.beta, mask_value=0)
        self.snapshot_epochs, self.snapshot_users = tuple(cfg.snapshot_epochs), cfg.snapshot_users
        self.uses_centres = cfg.use_icl or cfg.use_elcm
        # The original leaves this uninitialised until k-means; zeros make an un-initialised use visible.
        self.cluster_centers = nn.Parameter(torch.zeros(cfg.k, cfg.hidden)) if self.uses_centres else None
        self.loss_weights = {"rec": 1.0, "seq_cl": cfg.seq_cl_weight}
        if cfg.use_icl:
            self.loss_weights["intent_cl"] = cfg.intent_cl_weight
        if cfg.use_elcm:
            self.loss_weights["cluster"] = cfg.alpha

    # --- centres ---------------------------------------------------------------------------------------
    def on_train_start(self, ctx: TrainContext) -> None:
        if self.cluster_centers is None:
            return
        if self.cfg.center_init == "kmeans":
            centroids = faiss_kmeans(self.pooled_train_embeddings(ctx), self.cfg.k, ctx.seed,
                                     self.cfg.kmeans_iters, self.cfg.kmeans_redo)
            self.cluster_centers.data = F.normalize(torch.from_numpy(centroids), dim=1).to(ctx.device, self.dtype())
        else:
            generator = torch.Generator().manual_seed(ctx.seed)
            init = torch.randn(self.cfg.k, self.cfg.hidden, generator=generator)
            self.cluster_centers.data = F.normalize(init, dim=1).to(ctx.device, self.dtype())

    def dtype(self) -> torch.dtype:
        """The parameters' dtype (float64 in exact tests): the k-means centres are cast to it."""
        return self.encoder.item_embeddings.weight.dtype

    @torch.no_grad()
    def assign_intents(self, input_ids: torch.Tensor, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
        """Eval-mode mean-pooled embeddings and the nearest (normalised) centre of each sequence, as ELCM assigns."""
        if self.cluster_centers is None:
            raise ValueError(f"{self.name} variant without centres has no intents")
        pooled = self.pooled_embeddings(input_ids, batch_size, self.cluster_centers.device)
        centres = F.normalize(self.cluster_centers.detach().cpu(), dim=1)
        ids = squared_distance(F.normalize(pooled, dim=1), centres).argmin(-1)
        return pooled, ids

    def snapshot(self, ctx: TrainContext, users: np.ndarray) -> dict[str, np.ndarray] | None:
        """What the t-SNE figure needs: sampled users' embeddings, their intents, and the centres (None for the
        variants without centres)."""
        if self.cluster_centers is None:
            return None
        pooled, ids = self.assign_intents(ctx.data.train_inputs[torch.from_numpy(users)])
        return {"users": users, "embeddings": pooled.numpy(), "assign": ids.numpy(),
                "centres": self.cluster_centers.detach().cpu().numpy()}

    # --- losses ----------------------------------------------------------------------------------------
    def _fuse(self, views_out: torch.Tensor) -> torch.Tensor:
        """Fuse each position (or each sequence) with its nearest centre, then flatten (seq-CL input)."""
        if not self.cfg.use_icl or self.cfg.fusion == "none":
            return views_out.reshape(views_out.shape[0], -1)
        centres = self.cluster_centers
        b, length, hidden = views_out.shape
        with torch.no_grad():  # the assignment is an argmin: no gradient flows through it
            if self.cfg.fusion_assign == "position":
                idx = squared_distance(views_out.reshape(-1, hidden), centres).argmin(-1).view(b, length)
            else:
                idx = squared_distance(views_out.mean(1), centres).argmin(-1)[:, None].expand(b, length)
        nearest = centres[idx]
        fused = views_out + nearest if self.cfg.fusion == "shift" else torch.cat([views_out, nearest], -1)
        return fused.reshape(b, -1)

    def cluster_loss(self, h: torch.Tensor, centres: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ELCM loss on normalised h and centres, sample-centre distances) per the code's arithmetic."""
        d_hc = squared_distance(h, centres)
        d_cc = squared_distance(centres, centres)
        k = centres.shape[0]
        centre_term = d_cc.mean() if self.cfg.center_mean == "k2" else d_cc.sum() / (k * (k - 1))
        return d_hc.mean() - centre_term, d_hc

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        enc = self.encoder
        assert batch.views is not None
        b = batch.input_ids.shape[0]
        # The original's three encoder calls per step (B sequences, the 2B views for seq-CL, the same 2B views again
        # for intent-CL: five passes of the batch, each with its own dropout). One concatenated call would be the
        # same arithmetic, but measured 18% slower per step on a 2-core CPU (larger activations fall out of cache).
        seq_out = enc(batch.input_ids)
        views = torch.cat(batch.views, 0)
        views_out = enc(views)
        terms = {"rec": bce_next_item(seq_out, batch.target_pos, batch.target_neg, enc.item_embeddings.weight)}
        flat = self._fuse(views_out)
        terms["seq_cl"] = nce_loss(flat[:b], flat[b:], self.cfg.temperature)
        if self.cluster_centers is not None:
            with torch.no_grad():  # the original's in-place renormalisation (in the same storage: graph-safe)
                self.cluster_centers.data.copy_(F.normalize(self.cluster_centers.data, dim=1))
            h = F.normalize(seq_out.mean(1), dim=1)
            cluster, d_hc = self.cluster_loss(h, self.cluster_centers)
            if self.cfg.use_elcm:
                terms["cluster"] = cluster
            if self.cfg.use_icl:
                intents = self.cluster_centers[d_hc.detach().argmin(-1)]
                pooled = enc(views).mean(1)  # the views encoded again (fresh dropout), as the original
                terms["intent_cl"] = intent_nce_loss(pooled[:b], pooled[b:], intents, self.cfg.temperature)
        return terms
