"""ICLRec: Intent Contrastive Learning for sequential recommendation (Chen et al., WWW 2022).

Follows the official code, salesforce/ICLRec @2890e6c (``src/trainers.py`` ``ICLRecTrainer.iteration``,
``src/models.py`` ``KMeans``, ``src/modules.py`` ``NCELoss``/``PCLoss``, ``src/main.py`` and
``src/scripts/run_*.sh``), as summarised in ../shared/docs/ELCREC_METHOD.md §5.1. An EM loop:

* E-step, at the start of **every** epoch (``on_epoch_start``): the model in eval mode encodes every user's
  training input; the outputs are mean-pooled (pads included) and clustered by faiss k-means (k = 256,
  20 iterations, 5 restarts, seed = run seed, max 4096 points per centroid). The original builds one
  ``faiss.Clustering`` object and calls ``train`` on it every epoch, and faiss starts a call from the centroids
  the object already holds: the first k-means starts from random points, every later one from the previous
  epoch's centroids (and its 5 restarts continue one another, the best is kept). We pass the previous
  centroids as ``init``, which computes the same (``KMeans.train``, models.py; faiss ``Clustering.cpp``
  ``n_input_centroids``). The raw centroids are kept for the
  assignment and their L2-normalised copies serve as intents; both are fixed for the epoch and are buffers, not
  parameters: no gradient reaches them.
* M-step, per batch (``contrast_type = Hybrid``, the scripts' setting):

  1. ``seq_out = enc(input_ids)``; SASRec BCE with one negative per position;
  2. seq-CL: the two augmented views in one batch of 2B, outputs flattened (50 x 64, no fusion), NT-Xent with
     dot products and temperature 1 (``cf_weight`` 0.1);
  3. intent of each sequence = the raw centroid nearest (L2) to the *detached* mean-pooled ``seq_out`` (the
     original queries a faiss index that holds the raw centroids), positive = that centroid normalised;
  4. intent-CL: the views are encoded a *second* time (fresh dropout), mean-pooled and contrasted with the
     intents, ``[NCE(v1, intent) + NCE(v2, intent)] / 2`` (``intent_cf_weight`` 0.1);
  5. ``L = rec + 0.1 seq_cl + 0.1 intent_cl``, one Adam step.

``contrast_type = IntentCL`` (the ml-1m script) drops the seq-CL term and its encoder pass; ``InstanceCL`` drops
the intent part and the k-means (the ICLRec-codebase CL4SRec; see baselines/cl4srec.py ``variant: iclrec``).
Augmentations as ELCRec: crop keeps 20%, mask 70% to the pad id 0, reorder 20%, one operator drawn per view.

Per-dataset settings (config/models/iclrec.yaml, from the scripts): layers Beauty 1, Sports 2, Toys 3, Yelp 2;
ml-1m ``IntentCL``, ``cf_weight`` 0, 2 layers, **max_len 200** (the protocol's is 50; we follow the script).
The dataclass defaults are ``main.py``'s argparse defaults (e.g. ``intent_cf_weight`` 0.3, 2 layers); the YAML
carries what every script sets (``intent_cf_weight`` 0.1).

``official_state_dict`` is the ICLRec checkpoint layout (encoder keys only; the centroids are not saved, as in
the original), so the released ``ICLRec-*-1.pt`` files load with ``load_official_state_dict``.

Deliberate deviations from the original code:

* faiss k-means runs on the CPU (``IndexFlatL2``); the original uses ``GpuIndexFlatL2`` (faiss-gpu). Same
  algorithm, seed, settings and warm start (below); float summation order can differ, so centroids are not
  bit-identical;
* the nearest-centroid query is an exact argmin of squared L2 distances in torch instead of a faiss search
  (same result up to float ties);
* if there are no more users than clusters the harness refuses (``ConfigError`` from ``faiss_kmeans``) instead
  of the original skipping the training and keeping its previous (initially uninitialised) centroids;
* false-negative masking (``--de_noise``) is not implemented (off in every script); the unused projection head
  that the original builds but never trains is left out; the seed is the harness's run seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from elcrec.data.augment import AugmentConfig
from elcrec.data.batches import Batch
from elcrec.models.base import EncoderConfig, RecModel, TrainContext
from elcrec.models.kmeans import faiss_kmeans
from elcrec.nn.losses import bce_next_item, intent_nce_loss, nce_loss, squared_distance

CONTRAST_TYPES = ("Hybrid", "IntentCL", "InstanceCL")


@dataclass
class ICLRecConfig(EncoderConfig):
    k: int = 256  # num_intent_clusters
    contrast_type: str = "Hybrid"  # Hybrid (scripts) | IntentCL (ml-1m script) | InstanceCL
    cf_weight: float = 0.1  # seq-CL weight (beta in the paper)
    intent_cf_weight: float = 0.3  # intent-CL weight (lambda); main.py default, every script sets 0.1
    rec_weight: float = 1.0
    temperature: float = 1.0
    warm_up_epochs: int = 0  # warm_up_epoches: epochs before the k-means and intent-CL start
    kmeans_iters: int = 20
    kmeans_redo: int = 5
    tau: float = 0.2  # crop keeps this fraction ("tao")
    gamma: float = 0.7  # mask this fraction (to the pad id 0)
    beta: float = 0.2  # reorder this fraction

    def validate(self) -> None:
        if self.contrast_type not in CONTRAST_TYPES:
            raise ValueError(f"contrast_type must be one of {CONTRAST_TYPES}, not {self.contrast_type!r}")
        if self.k < 1:
            raise ValueError(f"k must be positive, not {self.k}")


class ICLRec(RecModel):
    name = "iclrec"
    capture_blocker = None  # reviewed: the step reads fixed storage only (elcrec/steps.py)
    needs_negatives = True

    def __init__(self, item_size: int, cfg: ICLRecConfig) -> None:
        super().__init__(item_size, cfg)
        self.augment = AugmentConfig(tau=cfg.tau, gamma=cfg.gamma, beta=cfg.beta, mask_value=0)
        self.uses_seq_cl = cfg.contrast_type in ("Hybrid", "InstanceCL")
        self.uses_intents = cfg.contrast_type in ("Hybrid", "IntentCL")
        # Fixed for an epoch, rebuilt by k-means at every epoch start: buffers, never parameters, so Adam and
        # autograd never see them. The raw centroids and the count of k-means runs are persistent, because the
        # next epoch's k-means starts from them (a resumed run must too); official_state_dict leaves them out,
        # so checkpoints keep ICLRec's layout.
        self.register_buffer("raw_centroids", torch.zeros(cfg.k, cfg.hidden))
        self.register_buffer("kmeans_runs", torch.zeros((), dtype=torch.long))
        self.register_buffer("centroids", torch.zeros(cfg.k, cfg.hidden), persistent=False)
        self.epoch_started = False  # on_epoch_start has run at least once
        self.intents_ready = False  # k-means ran for the current epoch (False during warm-up)
        self.loss_weights = {"rec": cfg.rec_weight}
        if self.uses_seq_cl:
            self.loss_weights["seq_cl"] = cfg.cf_weight
        if self.uses_intents:
            self.loss_weights["intent_cl"] = cfg.intent_cf_weight

    # --- E-step (the k-means data: RecModel.pooled_train_embeddings, eval mode, batches of batch_size) -----
    def on_epoch_start(self, ctx: TrainContext) -> None:
        self.epoch_started = True
        self.intents_ready = False
        if not self.uses_intents or ctx.epoch < self.cfg.warm_up_epochs:
            return
        # the original keeps one faiss Clustering object: from its second run on, k-means starts from the
        # centroids of the run before (kmeans.py faiss_kmeans ``init``)
        warm = self.raw_centroids.cpu().numpy() if self.kmeans_runs.item() > 0 else None
        raw = faiss_kmeans(self.pooled_train_embeddings(ctx), self.cfg.k, ctx.seed,
                           self.cfg.kmeans_iters, self.cfg.kmeans_redo, init=warm)
        raw_t = torch.from_numpy(raw).to(self.raw_centroids)
        self.raw_centroids.copy_(raw_t)
        self.kmeans_runs += 1
        self.centroids.copy_(F.normalize(raw_t, dim=1))
        self.intents_ready = True

    KMEANS_STATE = ("raw_centroids", "kmeans_runs")

    def official_state_dict(self) -> dict[str, torch.Tensor]:
        """ICLRec's checkpoint layout: the encoder keys only (the original saves no centroids)."""
        return {k: v for k, v in super().official_state_dict().items() if k not in self.KMEANS_STATE}

    def load_official_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        own = self.state_dict()
        super().load_official_state_dict({**{k: own[k] for k in self.KMEANS_STATE}, **state})

    def step_signature(self) -> tuple:
        return (self.intents_ready,)  # warm-up epochs have no intent-CL term

    def assign_intents(self, seq_out: torch.Tensor) -> torch.Tensor:
        """Cluster id of each sequence: the raw centroid nearest to its detached mean-pooled output."""
        with torch.no_grad():
            return squared_distance(seq_out.detach().mean(1), self.raw_centroids).argmin(-1)

    # --- M-step ----------------------------------------------------------------------------------------
    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        if self.uses_intents and not self.epoch_started:
            raise RuntimeError("ICLRec.loss needs the epoch's intents: call on_epoch_start(ctx) first")
        enc = self.encoder
        assert batch.target_neg is not None and batch.views is not None
        seq_out = enc(batch.input_ids)
        terms = {"rec": bce_next_item(seq_out, batch.target_pos, batch.target_neg, enc.item_embeddings.weight)}
        b = batch.input_ids.shape[0]
        views = torch.cat(batch.views, 0)
        if self.uses_seq_cl:
            flat = enc(views).reshape(2 * b, -1)  # flattened (L x hidden), no fusion
            terms["seq_cl"] = nce_loss(flat[:b], flat[b:], self.cfg.temperature)
        if self.uses_intents and self.intents_ready:
            intents = self.centroids[self.assign_intents(seq_out)]
            pooled = enc(views).mean(1)  # a second encoder pass of the views (fresh dropout), as the original
            terms["intent_cl"] = intent_nce_loss(pooled[:b], pooled[b:], intents, self.cfg.temperature)
        return terms
