"""The one trainer for every model: its optimiser, early stopping, best state, one test evaluation, resume, logs.

The optimiser (and an optional lr schedule, stepped after every update, and gradient clipping) is the model's
``make_optimizer``/``grad_clip``; the default is the protocol's Adam. Batches come from the model's
``epoch_builder`` (default: one row per user).

Protocol (method doc §3.4): Adam (lr 1e-3, betas 0.9/0.999, no weight decay) over all parameters, batch 256,
up to 300 epochs, validation NDCG@20 after every epoch, early stopping with patience 40 (a new best must be
strictly better), the best state reloaded for one test evaluation.

Determinism and resume: the model is initialised under ``torch.manual_seed(seed)``; every epoch's randomness
(user order, negatives, views, dropout) derives from ``(seed, epoch)`` alone, and the model, optimiser and
early-stopping state are saved atomically after every epoch. A run killed at any point restarts from the last
finished epoch and ends with the same numbers as an uninterrupted run (on CPU).

Divergence and non-convergence are results, not crashes (the paper prints "-" for them): a non-finite loss (in
a phase such as pre-training, or in training) ends the run with status ``diverged`` and the error text in
metrics.json; a run that early stopping ended without any epoch beating the first one (``best_epoch == 0`` and
fewer epochs than ``max_epochs``) ends with status ``not_converged``. Both write metrics.json, so the workflow goes
on; tables show "-" for them (docs/protocol.md, "Run outcomes").
"""
from __future__ import annotations

import copy
import dataclasses
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from elcrec.data.sequences import SequenceData
from elcrec.errors import ConfigError, DivergedError, HarnessError
from elcrec.fileio import atomic_path
from elcrec.evaluate import HISTORY_RULES, METRIC_KEYS, TIE_RULES, rank_targets
from elcrec.models.base import Phase, RecModel, TrainContext
from elcrec.profiling import Profiler
from elcrec.runs import RESUME, SNAPSHOTS_PARTIAL, load_resume, save_model, save_torch, write_outputs
from elcrec.steps import NonFiniteLoss, StaticSteps, apply_update, resolve_step_mode


@dataclass
class TrainConfig:
    batch_size: int = 256
    lr: float = 1e-3
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    weight_decay: float = 0.0
    max_epochs: int = 300
    patience: int = 40
    early_stopping_metric: str = "NDCG@20"
    eval_batch_size: int = 512
    history: str = "zero"
    ties: str = "pessimistic"
    # How each epoch's steps run (elcrec/steps.py): eager (the reference loop), static (the epoch staged on the
    # device, fixed shapes, loss sums read once per epoch), graphed (static + each step replayed from a CUDA
    # graph), compiled (static + torch.compile reduce-overhead); auto = graphed on CUDA, eager on CPU.
    step_mode: str = "auto"

    def validate(self) -> None:
        """Refuse values that would train nothing or score garbage (ConfigError: one line from the CLI)."""
        positive = ("batch_size", "max_epochs", "patience", "eval_batch_size")
        bad = [f"{k}={getattr(self, k)!r} (must be >= 1)" for k in positive
               if isinstance(getattr(self, k), bool) or not isinstance(getattr(self, k), int) or getattr(self, k) < 1]
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            bad.append(f"lr={self.lr!r} (must be a finite number > 0)")
        for key in ("adam_beta1", "adam_beta2"):
            if not 0.0 <= getattr(self, key) < 1.0:
                bad.append(f"{key}={getattr(self, key)!r} (must lie in [0, 1))")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            bad.append(f"weight_decay={self.weight_decay!r} (must be >= 0)")
        if self.early_stopping_metric not in METRIC_KEYS:
            bad.append(f"early_stopping_metric={self.early_stopping_metric!r} (one of {', '.join(METRIC_KEYS)})")
        if self.history not in HISTORY_RULES or self.ties not in TIE_RULES:
            bad.append(f"history={self.history!r} / ties={self.ties!r} (one of {HISTORY_RULES} / {TIE_RULES})")
        if bad:
            raise ConfigError("invalid training settings: " + "; ".join(bad) + ". Fix them (--set KEY=VALUE, "
                              "--max-epochs) and run again")


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed every generator; ``deterministic`` also makes torch use its deterministic kernels.

    With more than one CPU thread, the backward of advanced indexing (``weight[idx]``: index_put_ with
    accumulate) adds duplicate indices in a thread-dependent order, so two runs of one seed drift apart in the
    last bits from the first step (measured: Beauty-sub10, 2 threads, epoch-0 loss 18.243939 vs 18.243631).
    Deterministic mode sorts the indices first; see docs/reliability.md for what it costs. On CUDA it also needs
    cuBLAS's fixed workspace (CUBLAS_WORKSPACE_CONFIG, set here before CUDA starts unless already set).
    """
    import os
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # warn_only: an op without a deterministic kernel (some CUDA ones) warns instead of stopping a long run
    torch.use_deterministic_algorithms(deterministic, warn_only=True)


def epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, 7]).generate_state(1)[0])


def run_phase(phase: Phase) -> list[dict[str, float]]:
    """Run a model's phase (:class:`~elcrec.models.base.Phase`) to the end; returns its per-epoch log."""
    for epoch in tqdm(range(phase.epochs), desc=phase.title, disable=None):
        t0 = time.perf_counter()
        batches = phase.batches(epoch)
        sums = {k: torch.zeros((), device=phase.device) for k in phase.terms}
        for batch in tqdm(batches, total=phase.num_batches, leave=False, desc=f"{phase.name} epoch {epoch}",
                          disable=None):
            for k, v in phase.step(batch).items():
                sums[k] += v.detach()
        # per-example averages (sum over batches / (batches * batch size)), as S3-Rec's original prints them
        row = {f"{phase.name}_{k}": v.item() / (phase.num_batches * phase.examples_per_batch) for k, v in sums.items()}
        if not all(np.isfinite(v) for v in row.values()):
            raise DivergedError(f"{phase.title} diverged at epoch {epoch}: {row}; {phase.hint}")
        row.update(epoch=epoch, seconds=time.perf_counter() - t0)
        phase.log.append(row)
        losses = " ".join(f"{k.removeprefix(phase.name + '_')} {v:.4f}" for k, v in row.items()
                          if k.startswith(phase.name + "_"))
        tqdm.write(f"{phase.title} epoch {epoch + 1}/{phase.epochs}: {losses} ({row['seconds']:.1f} s)")
    return phase.log


class Trainer:
    def __init__(self, model: RecModel, data: SequenceData, cfg: TrainConfig, out: Path, device: torch.device,
                 seed: int, meta: dict[str, Any], dataset_dir: Path | None = None) -> None:
        self.model, self.data, self.cfg, self.out = model.to(device), data, cfg, out
        self.device, self.seed, self.meta, self.dataset_dir = device, seed, meta, dataset_dir
        model.prepare(data)
        self.builder = model.epoch_builder(data, cfg.batch_size)
        # the model's optimiser (default: the shared fused Adam, no schedule); the scheduler steps after every step
        self.optim, self.sched = model.make_optimizer(cfg, self.builder.num_batches())
        self.step_mode = resolve_step_mode(cfg.step_mode, device)
        if self.step_mode != "eager" and not hasattr(self.builder, "stage"):  # a model's own batch source
            print(f"step_mode {self.step_mode}: {model.name} builds its own batches (no staged epoch); runs eager")
            self.step_mode = "eager"
        self.steps = (None if self.step_mode == "eager"
                      else StaticSteps(model, self.optim, self.sched, device, self.step_mode))
        self.valid_split, self.test_split = data.eval_split("valid"), data.eval_split("test")
        cfg.validate()

    def context(self, epoch: int) -> TrainContext:
        return TrainContext(self.data, self.device, self.seed, epoch, self.cfg.batch_size, self.dataset_dir)

    def save_snapshot(self, name: str) -> None:
        rng = np.random.default_rng([self.seed, 99])  # the same users in every snapshot of a run
        n = min(self.model.snapshot_users, self.data.num_users)
        users = np.sort(rng.choice(self.data.num_users, n, replace=False))
        arrays = self.model.snapshot(self.context(0), users)
        if arrays is None:
            return
        # Staged beside the run until it finishes (like resume.pt): the workflow declares snapshots/ as an output,
        # and Snakemake deletes a failed job's outputs, which would lose the early snapshots of a resumed run.
        with atomic_path(self.out / SNAPSHOTS_PARTIAL / f"{name}.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)

    # --- evaluation ------------------------------------------------------------------------------------
    def evaluate(self, which: str):  # noqa: ANN201
        self.model.eval()
        split = self.valid_split if which == "valid" else self.test_split
        result = rank_targets(self.model.score, split, self.data.item_size, history=self.cfg.history,
                              ties=self.cfg.ties, batch_size=self.cfg.eval_batch_size, device=self.device,
                              user_ids=self.model.needs_user_ids)
        self.model.train()
        return result

    # --- one epoch -------------------------------------------------------------------------------------
    def train_epoch(self, epoch: int) -> dict[str, float]:
        torch.manual_seed(epoch_seed(self.seed, epoch))  # dropout of this epoch
        self.model.train()
        ctx = self.context(epoch)
        self.model.on_epoch_start(ctx)
        if self.steps is not None:
            return self.train_epoch_static(epoch)
        sums: dict[str, float] = {}
        steps = 0
        bar = tqdm(self.builder.epoch(self.seed, epoch), total=self.builder.num_batches(), leave=False,
                   desc=f"epoch {epoch}", disable=None)
        for step, batch in enumerate(bar):
            self.model.before_step(ctx, step)
            terms = self.model.loss(batch.to(self.device))
            total = sum(self.model.loss_weights[k] * v for k, v in terms.items())
            if not torch.isfinite(total):
                bad = [k for k, v in terms.items() if not torch.isfinite(v)]
                raise DivergedError(
                    f"loss is {total.item()} at epoch {epoch}, step {step} (terms {bad or 'sum'} non-finite): training "
                    "diverged; train again with a lower learning rate (--set lr=...) and --overwrite"
                )
            self.optim.zero_grad(set_to_none=True)
            total.backward()
            apply_update(self.model, self.optim, self.sched)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v.item()
            sums["total"] = sums.get("total", 0.0) + total.item()
            steps += 1
            bar.set_postfix(loss=f"{sums['total'] / steps:.4f}")
        return {f"loss_{k}": v / steps for k, v in sums.items()}

    def train_epoch_static(self, epoch: int) -> dict[str, float]:
        """The epoch staged on the device and run by ``self.steps``; the NaN check reads the epoch's sums."""
        assert self.steps is not None
        staged = self.builder.stage(self.seed, epoch).to(self.device)  # type: ignore[attr-defined]
        try:
            ctx = self.context(epoch)
            names, means = self.steps.run_epoch(staged, self.builder.bounds(),  # type: ignore[attr-defined]
                                                before_step=lambda step: self.model.before_step(ctx, step))
        except NonFiniteLoss as bad:
            raise HarnessError(
                f"loss is non-finite at epoch {epoch}, step {bad.step} (terms {bad.terms or 'sum'} non-finite; found "
                f"at the end of the epoch by step_mode {self.step_mode}): training diverged. The run can be resumed "
                f"from {self.out / RESUME} after lowering the learning rate"
            ) from None
        return {f"loss_{k}": v for k, v in zip(names, means)}

    # --- the whole run ---------------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        state = load_resume(self.out)
        if state is None:
            prof = Profiler(self.device)
            diverged = None
            try:
                with prof.phase("init"):
                    self.model.on_train_start(self.context(0))
                    self.model.train()
                    for phase in self.model.phases(self.context(0)):
                        run_phase(phase)
            except DivergedError as exc:  # e.g. a pre-training loss turned NaN
                diverged = str(exc)
            start, best_score, best_epoch, bad, log = 0, -math.inf, -1, 0, []
            best_state = copy.deepcopy(self.model.state_dict())
        else:
            same = lambda cfg: {k: v for k, v in (cfg or {}).items() if k != "step_mode"}  # noqa: E731 (same arithmetic)
            if state.get("meta") != self.meta or same(state.get("train")) != same(dataclasses.asdict(self.cfg)):
                raise HarnessError(
                    f"{self.out / RESUME} belongs to a run with other settings (model, data or protocol); delete it "
                    "or train with --overwrite to start this run from scratch"
                )
            self.model.load_state_dict(state["model"])
            self.optim.load_state_dict(state["optim"])
            if self.sched is not None:
                self.sched.load_state_dict(state["sched"])
            prof = Profiler(self.device, state["profile"])
            start, best_score, best_epoch = state["epoch"] + 1, state["best_score"], state["best_epoch"]
            bad, log, best_state = state["bad_epochs"], state["log"], state["best_state"]
            diverged = None
            print(f"resuming {self.out} after epoch {state['epoch']}")
        key = self.cfg.early_stopping_metric
        bar = tqdm(range(start, self.cfg.max_epochs), initial=start, total=self.cfg.max_epochs, desc="epochs",
                   disable=None)
        for epoch in bar:
            if bad >= self.cfg.patience or diverged:
                break
            if epoch in self.model.snapshot_epochs:
                self.save_snapshot(f"epoch{epoch:03d}")
            t0 = time.perf_counter()
            try:
                with prof.phase("train"):
                    row = {"epoch": epoch, **self.train_epoch(epoch)}
            except DivergedError as exc:
                diverged = str(exc)
                break
            t1 = time.perf_counter()
            with prof.phase("valid"):
                valid = self.evaluate("valid").metrics
            prof.add_epoch(time.perf_counter() - t0)
            row.update({f"valid_{k}": v for k, v in valid.items()})
            row.update({"train_seconds": t1 - t0, "valid_seconds": time.perf_counter() - t1})
            log.append(row)
            if valid[key] > best_score:
                best_score, best_epoch, bad = valid[key], epoch, 0
                best_state = copy.deepcopy(self.model.state_dict())
            else:
                bad += 1
            bar.set_postfix(loss=f"{row['loss_total']:.4f}", **{key: f"{valid[key]:.4f}"}, best=f"{best_score:.4f}")
            # one plain line per epoch too: logs written by the workflow are not terminals, where tqdm stays quiet
            tqdm.write(f"epoch {epoch}: loss {row['loss_total']:.4f} ("
                       + ", ".join(f"{k[5:]} {v:.4f}" for k, v in row.items() if k.startswith("loss_") and k != "loss_total")
                       + f"); valid {key} {valid[key]:.4f} (best {best_score:.4f} at epoch {best_epoch}); "
                       f"{row['train_seconds']:.1f}s + {row['valid_seconds']:.1f}s")
            save_torch({"epoch": epoch, "model": self.model.state_dict(), "optim": self.optim.state_dict(),
                        "sched": None if self.sched is None else self.sched.state_dict(),
                        "best_state": best_state, "best_score": best_score, "best_epoch": best_epoch,
                        "bad_epochs": bad, "log": log, "profile": prof.state, "meta": self.meta,
                        "train": dataclasses.asdict(self.cfg)}, self.out / RESUME)
        epochs_run = len(log)
        if diverged:
            return self.finish_diverged(diverged, log, prof, best_epoch)
        self.model.load_state_dict(best_state)
        with prof.phase("test"):
            test = self.evaluate("test")
        if self.model.snapshot_epochs:
            self.save_snapshot("final")
        if (self.out / SNAPSHOTS_PARTIAL).is_dir():
            shutil.rmtree(self.out / "snapshots", ignore_errors=True)
            (self.out / SNAPSHOTS_PARTIAL).replace(self.out / "snapshots")
        best_row = next((r for r in log if r["epoch"] == best_epoch), {})
        metrics = {
            **run_status(best_epoch, epochs_run, self.cfg),
            "model": self.meta["model"], "dataset": self.meta["dataset"], "seed": self.seed,
            "test": test.metrics,
            "valid_best": {k: best_row.get(f"valid_{k}") for k in METRIC_KEYS},
            "best_epoch": best_epoch, "epochs": epochs_run, "stopped_early": epochs_run < self.cfg.max_epochs,
            "early_stopping_metric": key,
        }
        save_model(self.out / "model.pt", self.model.official_state_dict(), {**self.meta, "best_epoch": best_epoch})
        extra = {f"{name}.csv": pd.DataFrame(rows).to_csv(index=False)
                 for name, rows in self.model.extra_logs().items()}  # written even when empty: a declared output
        write_outputs(self.out, {
            **extra,
            "per_user_test.csv": test.per_user().to_csv(index=False),
            "train_log.csv": pd.DataFrame(log).to_csv(index=False),
            "profile.json": {**prof.summary(epochs_run), "step_mode": self.step_mode,
                             "step_notes": [] if self.steps is None else self.steps.notes},
            "config.json": {**self.meta, "train": dataclasses.asdict(self.cfg)},
            "metrics.json": metrics,
        })
        (self.out / RESUME).unlink(missing_ok=True)
        return metrics

    def finish_diverged(self, error: str, log: list[dict[str, Any]], prof: Profiler, best_epoch: int) -> dict[str, Any]:
        """The record of a diverged run: status, error text, the epochs that finished; no test evaluation."""
        tqdm.write(f"diverged: {error}")
        best_row = next((r for r in log if r["epoch"] == best_epoch), None)
        metrics = {"status": "diverged", "error": error, "model": self.meta["model"], "dataset": self.meta["dataset"],
                   "seed": self.seed, "test": None,
                   "valid_best": None if best_row is None else {k: best_row.get(f"valid_{k}") for k in METRIC_KEYS},
                   "best_epoch": best_epoch, "epochs": len(log), "early_stopping_metric": self.cfg.early_stopping_metric}
        write_outputs(self.out, {
            "train_log.csv": pd.DataFrame(log).to_csv(index=False),
            "profile.json": prof.summary(len(log)),
            "config.json": {**self.meta, "train": dataclasses.asdict(self.cfg)},
            "metrics.json": metrics,
        })
        (self.out / RESUME).unlink(missing_ok=True)
        return metrics


def run_status(best_epoch: int, epochs_run: int, cfg: TrainConfig) -> dict[str, str]:
    """``ok``, or ``not_converged`` (with the reason) when early stopping ended a run whose first epoch stayed best."""
    if best_epoch == 0 and epochs_run < cfg.max_epochs:
        return {"status": "not_converged",
                "error": f"validation {cfg.early_stopping_metric} never rose above its epoch-0 value in "
                         f"{epochs_run - 1} further epochs (patience {cfg.patience}): not converged"}
    return {"status": "ok"}
