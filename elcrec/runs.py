"""The run directory: what a finished run leaves, written atomically, and the resumable state.

``results/runs/{dataset}/{model}/seed{seed}/``:
  metrics.json        test metrics and best validation metrics (evaluator keys), status, epochs
  per_user_test.csv   per-user rank and metrics on the test split (for paired tests)
  train_log.csv       one row per epoch: every loss term, the total, validation metrics, seconds
  profile.json        time and peak memory (see elcrec.profiling)
  config.json         the resolved model and training configuration
  model.pt            the best state in the official layout + meta (loadable by ``python -m elcrec evaluate``)
  resume.pt           while training: model, optimiser, early-stopping and profiler state after the last epoch
A run with metrics.json is finished and is never overwritten unless asked; so is a run whose model.pt exists
without resume.pt (Snakemake deletes metrics.json before re-running a job it sees as changed). One process
at a time trains into a folder (``run_lock``), and ``--overwrite`` trains aside and swaps the new run in only
when it has finished (``run_slot``). docs/reliability.md lists every guarantee and its test.
"""
from __future__ import annotations

import io
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from elcrec.errors import HarnessError
from elcrec.fileio import write_bytes, write_json
from elcrec.runfolder import FINAL_FILES, RESUME  # noqa: F401 (the layout lives there)

from elcrec.runset import write_not_run  # noqa: E402,F401 - torch-free, beside the run-folder view

SNAPSHOTS_PARTIAL = "snapshots.partial"  # while training: the snapshots taken so far (moved to snapshots/ at the end)

if TYPE_CHECKING:  # torch is imported where it is used
    import torch


def finished_reason(out: Path) -> str | None:
    """Why ``out`` holds a finished (or unreadable) run that must not be overwritten silently; None if it does not."""
    metrics = out / "metrics.json"
    if metrics.exists():
        try:
            status = read_json(metrics).get("status")
        except (OSError, ValueError, AttributeError):
            return f"{metrics} is unreadable or empty"
        if not (isinstance(status, str) and status.startswith("not run")):
            return "it holds a finished run (metrics.json)"
    elif (out / "model.pt").exists() and not (out / RESUME).exists():
        # model.pt is written only when a run ends, and resume.pt is removed right after metrics.json is written
        return "it holds a finished run whose metrics.json was removed (Snakemake deletes it before re-running a job)"
    return None


def prepare_run_dir(out: Path, overwrite: bool) -> None:
    """Refuse to touch a finished run unless asked; ``overwrite`` also discards a half-finished one (in place)."""
    if out.exists() and not out.is_dir():
        raise HarnessError(f"--out {out} is a file, not a folder; pass a folder for the run")
    reason = finished_reason(out)
    if reason and not overwrite:
        raise HarnessError(f"{out}: {reason}; pass --overwrite to train it again (the old run is replaced only "
                           "when the new one has finished)")
    if overwrite:
        for name in (*FINAL_FILES, RESUME, "snapshots", SNAPSHOTS_PARTIAL):
            remove(out / name)
    out.mkdir(parents=True, exist_ok=True)


def _sibling(out: Path, suffix: str) -> Path:
    """A hidden path beside the run folder (``.seed1.lock``): report readers glob ``seed*`` and never see it."""
    return out.parent / f".{out.name}.{suffix}"


@contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the run folder ``out`` for the block, or refuse at once if another process does.

    ``flock`` locks are released by the kernel when their process dies, so a run killed with -9 leaves no stale
    lock; the lock file itself stays (deleting it would let a third process lock a new file while a second one
    still waits on the old inode).
    """
    import fcntl

    out.parent.mkdir(parents=True, exist_ok=True)
    path = _sibling(out, "lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise HarnessError(f"{out} is being trained by another process (pid {holder}, lock {path}); wait for it "
                               "to finish or pass another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def run_slot(out: Path, overwrite: bool) -> Iterator[Path]:
    """Lock ``out`` and yield the folder to train in.

    Without ``overwrite`` that is ``out`` itself (a finished run is refused; a half-finished one resumes). With
    ``overwrite`` over a non-empty folder it is a fresh folder beside it, which replaces ``out`` only when the block
    succeeds: a failed or killed re-run leaves the old run byte-identical, and nothing of it (snapshots/) mixes
    with the new one.
    """
    with run_lock(out):
        if not overwrite or not out.is_dir() or not any(out.iterdir()):
            prepare_run_dir(out, overwrite)
            yield out
            return
        stage = _sibling(out, "overwrite")
        remove(stage)  # what an earlier interrupted --overwrite left
        stage.mkdir()
        yield stage
        old = _sibling(out, "replaced")
        remove(old)
        os.replace(out, old)
        os.replace(stage, out)
        remove(old)


def save_torch(obj: Any, path: Path) -> None:
    """Serialise in memory, then write atomically: a full disk raises a plain OSError (ENOSPC), not a torch error."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(path, buffer.getvalue())


def load_resume(out: Path) -> dict[str, Any] | None:
    """The resumable state, loaded with ``weights_only=True``: tensors and plain containers only, never code.

    A pickle that would run code, or any object outside torch's allow-list, is refused with the path.
    """
    import torch

    path = out / RESUME
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable or unsafe file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise HarnessError(f"{path} is unreadable or not a plain-data checkpoint ({first[:200]}); delete it to "
                           "start the run from scratch") from None
    if not isinstance(state, dict):
        raise HarnessError(f"{path}: expected a dict of training state, found {type(state).__name__}; delete it")
    return state


def save_model(path: Path, official_state: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    save_torch({"state_dict": official_state, "meta": meta}, path)


def write_outputs(out: Path, files: dict[str, Any]) -> None:
    """Write the final files: JSON for dicts, text for strings; the metrics file last (it marks completion)."""
    for name, content in sorted(files.items(), key=lambda kv: kv[0] == "metrics.json"):
        if isinstance(content, str):
            from elcrec.fileio import write_text

            write_text(out / name, content)
        else:
            write_json(out / name, content)


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
