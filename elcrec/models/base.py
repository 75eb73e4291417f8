"""The model contract every model (ELCRec and each baseline) implements, so one trainer serves them all.

A model is an ``nn.Module`` holding a :class:`SASRecEncoder` as ``encoder`` (official parameter names below it)
plus whatever it adds, and it declares:

* ``loss(batch) -> {term: tensor}``: unweighted named loss terms; ``loss_weights`` says how the trainer sums
  them (and every term is logged on its own);
* ``score(input_ids, user_ids=None) -> (B, item_size)``: full-ranking scores for the evaluator;
* what its batches need: ``needs_negatives``, ``augment`` (an :class:`AugmentConfig` or None) and
  ``needs_user_ids`` (batches carry ``user_ids`` and the evaluator passes ``user_ids`` to ``score``: BPR-MF,
  Caser); a model whose training instances are not one row per user (BPR-MF's sampled triples, Caser's
  sliding windows) returns its own builder from ``epoch_builder``;
* its optimiser: ``make_optimizer(cfg, steps_per_epoch) -> (optimizer, scheduler or None)`` (default: the
  shared Adam, no schedule) and ``grad_clip`` (max global gradient norm, or None);
* ``train_overrides``: protocol settings of its original code that differ from the shared defaults;
* optional hooks: ``prepare(data)`` (item graphs from the training data; also on resume and evaluation),
  ``on_train_start(ctx)`` (ELCRec's k-means initialisation), ``on_epoch_start(ctx)`` (ICLRec's per-epoch
  k-means), ``before_step(ctx, step)`` (MAERec's per-step path masking), ``after_step()``;
* optional phases before the main training: ``phases(ctx)`` returns :class:`Phase` objects (S3-Rec's
  pre-training) that the trainer runs, logs and checks for divergence;
* optional snapshots for figures: ``snapshot(ctx, users)`` (ELCRec's intents for the t-SNE figure), taken by the
  trainer before each epoch in ``snapshot_epochs`` and at the end, for ``snapshot_users`` users; both settings
  belong to the model's config.
* for the static-shape step modes (elcrec/steps.py): ``static_shapes`` is True while they run, and ``loss`` must
  then avoid data-dependent shapes and host reads (a fixed-shape form of the same loss); ``capture_blocker``
  says why a model's step cannot be captured in a CUDA graph (None: it can); ``step_signature()`` names the
  Python-side state that changes what a step computes (one graph is captured per signature and batch size).

``official_state_dict`` / ``load_official_state_dict`` convert to and from the original repositories' flat
layout, so checkpoints move both ways between this harness and the original code.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Protocol

import numpy as np
import torch
from torch import nn

from elcrec.data.augment import AugmentConfig
from elcrec.data.batches import Batch, EpochBuilder
from elcrec.data.sequences import SequenceData
from elcrec.nn.encoder import SASRecEncoder

if TYPE_CHECKING:
    from elcrec.train import TrainConfig

Scheduler = Any  # a torch.optim.lr_scheduler.LRScheduler (stepped after every optimiser step)


class BatchSource(Protocol):
    """What the trainer needs from an epoch builder (EpochBuilder, or a model's own)."""

    def epoch(self, seed: int, epoch: int) -> Iterator[Batch]: ...

    def num_batches(self) -> int: ...


@dataclass
class EncoderConfig:
    """The backbone settings of §2.1; defaults are the official ones."""

    hidden: int = 64
    layers: int = 2
    heads: int = 2
    max_len: int = 50
    attn_dropout: float = 0.5
    hidden_dropout: float = 0.5
    init_range: float = 0.02

    def encoder_kwargs(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(EncoderConfig)}


@dataclass
class TrainContext:
    """What hooks may use: the data, the device, the seed and the epoch."""

    data: SequenceData
    device: torch.device
    seed: int
    epoch: int = 0
    batch_size: int = 256
    dataset_dir: Path | None = None  # data/NAME/: item2attributes.json for S3-Rec lives here


@dataclass
class Phase:
    """A phase the trainer runs before the main training, with its own batches and optimiser (S3-Rec's
    pre-training). Each epoch's per-example mean of every loss term is logged as ``<name>_<term>`` into ``log``;
    a non-finite one stops the run with ``hint``."""

    name: str  # prefix of the logged terms ("pretrain")
    title: str  # for progress lines and errors ("S3-Rec pre-training")
    epochs: int
    num_batches: int  # per epoch
    examples_per_batch: int
    terms: tuple[str, ...]  # the loss terms ``step`` returns, in log order
    device: torch.device
    batches: Callable[[int], Iterable[Any]]  # epoch -> that epoch's batches (the model seeds its own sampling)
    step: Callable[[Any], dict[str, torch.Tensor]]  # one optimiser step on a batch -> the unweighted terms
    log: list[dict[str, float]] = field(default_factory=list)
    hint: str = ""  # what to change when the loss diverges


def num_users_of(name: str, cfg: Any) -> int:
    """The ``num_users`` a user-embedding model was configured with (filled by ``registry.build_model``)."""
    if getattr(cfg, "num_users", 0) < 1:
        raise ValueError(f"{name} embeds users: build it with registry.build_model(..., num_users=N)")
    return int(cfg.num_users)


class RecModel(nn.Module):
    name: ClassVar[str] = "base"
    needs_negatives: ClassVar[bool] = True
    needs_user_ids: ClassVar[bool] = False
    augment: AugmentConfig | None = None
    grad_clip: float | None = None  # clip the global gradient norm to this before each step (BERT4Rec: 5)
    loss_weights: dict[str, float]
    # Training-protocol defaults of the original code where they differ from ELCRec's (e.g. S3-Rec's patience
    # 10); applied by the CLI unless the user sets the key. Keys are fields of elcrec.train.TrainConfig.
    train_overrides: ClassVar[dict[str, Any]] = {}
    # Snapshots for figures: the epochs before which the trainer takes one (and one at the end when any), and for
    # how many users. Set from the model's config by models that implement ``snapshot``.
    snapshot_epochs: tuple[int, ...] = ()
    snapshot_users: int = 0
    # Why the step cannot be replayed from a CUDA graph (step_mode graphed then runs it static), None when it can.
    # A graph reads the storage it captured: a model qualifies once its step and hooks keep every tensor the step
    # reads in fixed storage (in-place updates, no rebinding) and make no host reads; new models start unreviewed.
    capture_blocker: ClassVar[str | None] = "not yet reviewed for CUDA-graph capture (see RecModel.capture_blocker)"
    static_shapes: bool = False  # set by the trainer's static-shape step modes (elcrec/steps.py)

    def __init__(self, item_size: int, cfg: Any, causal: bool = True, shared_encoder: bool = True) -> None:
        """Check ``cfg`` (its ``validate()``, where it has one) and keep it as ``self.cfg``; build the shared
        SASRec encoder unless ``shared_encoder=False`` (BPR-MF, GRU4Rec, Caser and MAERec build their own)."""
        validate = getattr(cfg, "validate", None)
        if validate is not None:
            validate()
        super().__init__()
        self.cfg = cfg
        if shared_encoder:
            self.encoder = SASRecEncoder(item_size, causal=causal, **cfg.encoder_kwargs())
        self.loss_weights = {}

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def score(self, input_ids: torch.Tensor, user_ids: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoder.score(input_ids)

    def epoch_builder(self, data: SequenceData, batch_size: int) -> BatchSource:
        """The batches of every epoch: by default one row per user (the shared EpochBuilder)."""
        return EpochBuilder(data, batch_size, self.needs_negatives, self.augment, user_ids=self.needs_user_ids)

    def make_optimizer(self, cfg: "TrainConfig", steps_per_epoch: int) -> tuple[torch.optim.Optimizer, Scheduler]:
        """The shared protocol: Adam over all parameters (fused: one kernel, the same arithmetic), no schedule."""
        optim = torch.optim.Adam(self.parameters(), lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2), fused=True,
                                 weight_decay=cfg.weight_decay)
        return optim, None

    @torch.no_grad()
    def pooled_embeddings(self, inputs: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
        """Eval-mode mean-pooled encodings of ``inputs`` (the k-means data of ELCRec and ICLRec), on the CPU."""
        was_training = self.training
        self.eval()
        out = [self.encoder(inputs[i : i + batch_size].to(device)).mean(1).cpu()
               for i in range(0, len(inputs), batch_size)]
        self.train(was_training)
        return torch.cat(out)

    def pooled_train_embeddings(self, ctx: TrainContext) -> np.ndarray:
        """The pooled encodings of every user's training input, batched as the original's cluster loader."""
        return self.pooled_embeddings(ctx.data.train_inputs, ctx.batch_size, ctx.device).numpy()

    def prepare(self, data: SequenceData) -> None:
        """Called with the dataset whenever the model is set up for it (training, resume, evaluation of a saved
        model): fixed structures derived from the training data, such as item graphs, are built here."""

    def on_train_start(self, ctx: TrainContext) -> None:
        """Called once before the first epoch of a fresh run (not on resume)."""

    def on_epoch_start(self, ctx: TrainContext) -> None:
        """Called before every epoch, resumed ones included."""

    def before_step(self, ctx: TrainContext, step: int) -> None:
        """Called before every training step (``step`` counts from 0 within the epoch), e.g. graph re-sampling."""

    def after_step(self) -> None:
        """Called after every optimiser step (inside the captured graph in step_mode graphed: device work only)."""

    def step_signature(self) -> tuple:
        """Python-side state that changes the step's arithmetic (ICLRec: intents ready or warm-up)."""
        return ()

    def phases(self, ctx: TrainContext) -> list[Phase]:
        """Phases to run once before the first epoch of a fresh run, after ``on_train_start``."""
        return []

    def snapshot(self, ctx: TrainContext, users: np.ndarray) -> dict[str, np.ndarray] | None:
        """Arrays saved as ``snapshots/<name>.npz`` for figures; None when there is nothing to show."""
        return None

    def extra_logs(self) -> dict[str, list[dict[str, Any]]]:
        """Extra per-epoch tables the run directory should keep (NAME.csv), e.g. S3-Rec's pre-training log."""
        return {}

    def official_state_dict(self) -> dict[str, torch.Tensor]:
        """The flat layout of the original code: encoder keys at the top level, extras beside them."""
        return {k.removeprefix("encoder."): v.detach().clone() for k, v in self.state_dict().items()}

    def load_official_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        own = set(self.encoder.state_dict()) if hasattr(self, "encoder") else set()
        self.load_state_dict({(f"encoder.{k}" if k in own else k): v for k, v in state.items()})
