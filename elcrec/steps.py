"""Static-shape training steps: the trainer's epoch loop without per-step host work (``TrainConfig.step_mode``).

The eager loop (``Trainer.train_epoch``) is the reference: it builds each batch on the host, copies it to the
device, and reads every loss back with ``.item()``, a host synchronisation per step. On a GPU that makes a step
of a small model cost its ~hundreds of kernel launches plus a round trip, not its arithmetic. The modes here
compute the same function (the same batches, dropout draws, losses and Adam updates) with less host work:

* ``static``: the epoch's batches, negatives and views are built once and moved to the device in one copy
  (``EpochBuilder.stage``); every batch is a slice of it with a fixed shape (full batches, then the partial last
  batch with its own shape, never dropped); the loss terms are summed on the device and read once at the end
  of the epoch, where the NaN/inf check runs (the device also keeps the first step with a non-finite term and
  which terms, so the error still names the epoch, the step and the terms). Models
  whose loss needs data-dependent shapes (a boolean-mask selection) switch to a fixed-shape form of the same
  loss while ``model.static_shapes`` is set (BERT4Rec, CL4SRec).
* ``graphed`` (CUDA): ``static`` whose step (forward, backward, fused Adam with ``capturable=True``, the
  ``after_step`` hook and the loss sums) is captured once per batch shape in a CUDA graph and replayed; each
  step copies its slice into the graph's input buffers and replays. Dropout stays per-step random: CUDA
  graphs register torch's default generator and advance its Philox offset on every replay, so each replay
  draws new masks (the same ones an eager step would draw from the same generator state). The first
  ``WARMUP_STEPS`` steps of each shape run eagerly on a side stream (cuBLAS/autograd lazy initialisation must
  not be captured); they are real training steps. A model whose step cannot be captured names the reason in
  ``capture_blocker`` and runs ``static``; a capture that fails falls back the same way and says why.
* ``compiled`` (CUDA): ``static`` whose loss (forward and backward) goes through
  ``torch.compile(mode="reduce-overhead")`` (Inductor kernels replayed from CUDA graphs); the fused Adam step
  stays eager. Inductor draws dropout with its own RNG, so masks differ from eager's (same distribution).

What is not captured, by design: per-epoch host work (ICLRec's faiss k-means and CoSeRec's views run in
``on_epoch_start``, before the epoch's first step, and write into fixed device buffers that the graph reads)
and ``on_train_start`` (ELCRec's k-means, S3-Rec's pre-training: variable-width length groups with host reads).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from elcrec.data.batches import Batch
from elcrec.errors import HarnessError
from elcrec.models.base import RecModel

STEP_MODES = ("auto", "eager", "static", "graphed", "compiled")
WARMUP_STEPS = 2  # eager steps of each batch shape before its capture


def resolve_step_mode(mode: str, device: torch.device) -> str:
    """``auto`` is ``graphed`` on CUDA and ``eager`` (the reference loop) on CPU, where staging saves no launches
    (``python -m benchmarks.bench_epoch --modes eager static``, docs/performance.md); graphed and compiled need CUDA."""
    if mode not in STEP_MODES:
        raise HarnessError(f"step_mode must be one of {', '.join(STEP_MODES)}, not {mode!r}")
    if mode == "auto":
        return "graphed" if device.type == "cuda" else "eager"
    if mode in ("graphed", "compiled") and device.type != "cuda":
        raise HarnessError(f"step_mode {mode} needs a CUDA device (this run is on {device}); use static or eager")
    return mode


def apply_update(model: RecModel, optim: torch.optim.Optimizer, sched: Any) -> None:
    """One update after ``backward`` (every step mode): gradient clipping, optimiser, scheduler, the model's hook."""
    if model.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), model.grad_clip)
    optim.step()
    if sched is not None:
        sched.step()
    model.after_step()


class StaticSteps:
    """Runs the steps of one staged epoch; loss sums stay on the device until the epoch ends."""

    def __init__(self, model: RecModel, optim: torch.optim.Optimizer, sched: Any, device: torch.device,
                 mode: str) -> None:
        self.model, self.optim, self.sched, self.device, self.mode = model, optim, sched, device, mode
        self.names: list[str] | None = None  # loss-term names, fixed by the first step
        self.sums: torch.Tensor | None = None  # [term..., total] summed over the epoch's steps, on the device
        self.step_no = self.first_bad = self.bad_terms = torch.empty(0)  # made with the sums (see _accumulate)
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, Batch]] = {}
        self.seen: dict[tuple, int] = {}  # eager steps run per graph key
        self.not_captured: str | None = (model.capture_blocker or _hook_blocker(model)
                                         or _optimizer_blocker(model, optim, sched) if mode == "graphed" else None)
        if mode == "graphed" and self.not_captured is None:
            for group in optim.param_groups:  # torch Adam: its step count moves to the device, replayable
                group["capturable"] = True
        self.compiled: Callable | None = None
        self.notes: list[str] = []  # what fell back and why (printed once, kept for the profile)
        if self.not_captured:
            self.note(f"{model.name}: step not captured in a CUDA graph ({self.not_captured}); runs static")

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"step_mode {self.mode}: {text}", flush=True)

    # --- one step --------------------------------------------------------------------------------------
    def _weighted(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(total loss, [term..., total] detached): the model's terms in a fixed order."""
        terms = self.model.loss(batch)
        if self.names is None:
            self.names = list(terms)
        elif list(terms) != self.names:
            raise HarnessError(f"{self.model.name}.loss changed its terms within a run: {list(terms)} vs {self.names}")
        total = sum(self.model.loss_weights[k] * v for k, v in terms.items())
        return total, torch.stack([*(v.detach() for v in terms.values()), total.detach()])  # type: ignore[union-attr]

    def _body(self, batch: Batch) -> None:
        """Forward, backward, Adam, hook, sums: what a graph captures (no host reads)."""
        total, row = self._weighted(batch)
        self.optim.zero_grad(set_to_none=True)
        total.backward()
        self._update()
        self._accumulate(row)

    def _update(self) -> None:
        apply_update(self.model, self.optim, self.sched)

    def _accumulate(self, row: torch.Tensor) -> None:
        """Add the step's terms to the sums and remember the first step with a non-finite term, on the device."""
        if self.sums is None:
            self.sums = torch.zeros_like(row)
            self.step_no = torch.zeros((), dtype=torch.long, device=row.device)
            self.first_bad = torch.full((), -1, dtype=torch.long, device=row.device)
            self.bad_terms = torch.zeros(row.shape, dtype=torch.bool, device=row.device)
        self.sums.add_(row)
        bad = ~torch.isfinite(row)
        fresh = bad.any() & (self.first_bad < 0)
        self.first_bad.copy_(torch.where(fresh, self.step_no, self.first_bad))
        self.bad_terms.copy_(torch.where(fresh, bad, self.bad_terms))
        self.step_no.add_(1)

    def _compiled_body(self, batch: Batch) -> None:
        if self.compiled is None:
            layout = _layout(batch)

            def loss_fn(*tensors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                return self._weighted(_rebuild(tensors, layout))

            self.compiled = torch.compile(loss_fn, mode="reduce-overhead", dynamic=False)
        torch.compiler.cudagraph_mark_step_begin()
        total, row = self.compiled(*batch.tensors())
        self.optim.zero_grad(set_to_none=True)
        total.backward()
        self._update()
        self._accumulate(row.clone())  # the compiled graph's outputs are overwritten by its next replay

    def _graphed_body(self, batch: Batch) -> None:
        key = (len(batch), self.model.step_signature())
        if self.not_captured is None and key in self.graphs:
            graph, inputs = self.graphs[key]
            for dst, src in zip(inputs.tensors(), batch.tensors()):
                dst.copy_(src, non_blocking=True)
            graph.replay()
            return
        count = self.seen.get(key, 0)
        if self.not_captured is not None or count < WARMUP_STEPS:
            self.seen[key] = count + 1
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                self._body(batch)
            torch.cuda.current_stream(self.device).wait_stream(side)
            return
        self._capture(key, batch)
        self._graphed_body(batch)

    def _capture(self, key: tuple, batch: Batch) -> None:
        inputs = _rebuild(tuple(t.clone() for t in batch.tensors()), _layout(batch))
        assert self.sums is not None  # warm-up steps made it
        graph = torch.cuda.CUDAGraph()
        self.optim.zero_grad(set_to_none=True)
        try:
            with torch.cuda.graph(graph):
                self._body(inputs)
        except Exception as exc:  # noqa: BLE001 - any capture error: run the step uncaptured and say why
            torch.cuda.synchronize(self.device)
            self.not_captured = f"capture failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            self.note(f"{self.model.name}: {self.not_captured}; runs static")
            self.optim.zero_grad(set_to_none=True)
            return
        self.graphs[key] = (graph, inputs)

    # --- one epoch -------------------------------------------------------------------------------------
    def run_epoch(self, staged: Batch, bounds: list[tuple[int, int]],
                  before_step: Callable[[int], None] = lambda step: None) -> tuple[list[str], list[float]]:
        """Train on every batch ``staged.rows(lo, hi)``; returns the term names and the mean of each (+ total).

        ``before_step(step)`` runs the model's per-step hook (MAERec's path masking) before each step, as the eager
        loop does; a model that overrides that hook is never captured (see ``_hook_blocker``)."""
        if self.sums is not None:
            self.sums.zero_()
            self.step_no.zero_()
            self.first_bad.fill_(-1)
            self.bad_terms.zero_()
        self.model.static_shapes = True
        try:
            for step, (lo, hi) in enumerate(bounds):
                before_step(step)
                batch = staged.rows(lo, hi)
                if self.mode == "graphed":
                    self._graphed_body(batch)
                elif self.mode == "compiled":
                    self._compiled_body(batch)
                else:
                    self._body(batch)
        finally:
            self.model.static_shapes = False
        assert self.sums is not None and self.names is not None
        means = (self.sums / len(bounds)).tolist()  # the epoch's one host read (the failure record below: only on NaN)
        names = [*self.names, "total"]
        if not all(math.isfinite(v) for v in means):
            bad = [k for k, flag in zip(names, self.bad_terms.tolist()) if flag and k != "total"]
            raise NonFiniteLoss(int(self.first_bad), bad, means[-1])
        return names, means


class NonFiniteLoss(Exception):
    """A loss term was NaN/inf at ``step`` (0-based, within the epoch); the trainer words the error."""

    def __init__(self, step: int, terms: list[str], total: float) -> None:
        super().__init__(f"step {step}: {terms}")
        self.step, self.terms, self.total = step, terms, total


def _layout(batch: Batch) -> tuple[bool, bool, bool]:
    return batch.target_neg is not None, batch.views is not None, batch.user_ids is not None


def _rebuild(tensors: tuple[torch.Tensor, ...], layout: tuple[bool, bool, bool]) -> Batch:
    """The inverse of ``Batch.tensors`` for a batch with the given (negatives, views, user ids) layout."""
    has_neg, has_views, has_ids = layout
    users, input_ids, target_pos, *rest = tensors
    neg = rest.pop(0) if has_neg else None
    views = (rest.pop(0), rest.pop(0)) if has_views else None
    return Batch(users, input_ids, target_pos, neg, views, rest.pop(0) if has_ids else None)


def _hook_blocker(model: RecModel) -> str | None:
    """Why the step cannot be replayed: a ``before_step`` hook does host work (graph sampling) every step."""
    if type(model).before_step is not RecModel.before_step:
        return "its before_step hook does host work before every step"
    return None


def _optimizer_blocker(model: RecModel, optim: torch.optim.Optimizer, sched: Any) -> str | None:
    """Why the model's update cannot be replayed from a graph: only the shared fused Adam, unscheduled, is."""
    if sched is not None:
        return "its learning-rate schedule changes the rate every step, which a graph would freeze"
    if type(optim) is not torch.optim.Adam:
        return f"its optimiser {type(optim).__name__} is not the capturable torch Adam"
    return None
