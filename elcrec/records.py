"""Published run records: a committed folder of small run files per GPU block, so that every user sees verdicts
without a GPU (issue 11). One torch-free implementation of the layout, the loader/validator and the archive import,
shared by ``benchmarks/import_records.py``, the workflow's ``records`` switch and the tests. Layout (docs/
published_records.md)::

    benchmarks/records/published/<block>/
      provenance.json   device, driver, torch, cuda, git_commit, command, date (PROVENANCE_KEYS) [+ anything else]
      plan.json         {"dataset": ..., "runs": [{"model", "seed", "status", "command", "seconds"}, ...]}
      runs/{dataset}/{model}/seed{n}/
        metrics.json  train_log.csv  profile.json  config.json  per_user_test.csv.gz  [pretrain_log.csv]
        (a run the block did not finish holds only metrics.json, whose status says why: "not run: compute ...")

Everything is read as JSON or CSV; nothing is unpickled. :func:`load_block` checks provenance, plan and every run
(metrics.json through :func:`elcrec.runfolder.read_run`, and its test metrics recomputed from its per-user ranks),
and raises :class:`~elcrec.errors.HarnessError` with one line naming the file and what to do.
"""
from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from elcrec.errors import HarnessError
from elcrec.fileio import write_json
from elcrec.runfolder import metrics_from_ranks, per_user_metrics, read_json, read_run, seed_of

if TYPE_CHECKING:
    import pandas as pd

PUBLISHED_ROOT = Path("benchmarks/records/published")
PROVENANCE_KEYS = ("device", "driver", "torch", "cuda", "git_commit", "command", "date")
PER_USER_PUBLISHED = "per_user_test.csv.gz"  # the trainer's per_user_test.csv, compressed
OK_FILES = ("metrics.json", "train_log.csv", "profile.json", "config.json", PER_USER_PUBLISHED)
OPTIONAL_FILES = ("pretrain_log.csv",)  # the models' extra_logs (S3-Rec's and DSSRec's pre-training)
RECORD_FILES = OK_FILES + OPTIONAL_FILES  # what a published run folder may hold (benchmarks/pack_runs.py packs it)
PER_USER_NAMES = ("per_user_test.csv", PER_USER_PUBLISHED)  # a local run, a published one
TOLERANCE = 1e-9  # metrics.json and the CSV hold the evaluator's float64 values in full precision
MAX_BLOCK_BYTES = 20 * 2**20  # the budget for all published records


def per_user_file(run: Path) -> Path | None:
    """The per-user test file of a run folder: ``per_user_test.csv`` (local) or ``.csv.gz`` (published)."""
    return next((run / n for n in PER_USER_NAMES if (run / n).is_file()), None)


@dataclass(frozen=True)
class Block:
    """One published block, checked: its name, folder, provenance, plan and run folders."""

    name: str
    path: Path
    provenance: dict[str, Any]
    plan: dict[str, Any]
    runs: list[Path] = field(default_factory=list)

    @property
    def runs_root(self) -> Path:
        return self.path / "runs"

    @property
    def synthetic(self) -> bool:
        return bool(self.provenance.get("synthetic"))

    def run_names(self) -> list[tuple[str, str, int]]:
        """(dataset, model, seed) of every run folder, in path order."""
        return [(r.parent.parent.name, r.parent.name, int(seed_of(r) or 0)) for r in self.runs]

    def describe(self) -> str:
        """One line that names the source of every output built from this block."""
        p = self.provenance
        synthetic = "SYNTHETIC FIXTURE (numbers are made up), " if self.synthetic else ""
        return (f"published records `{self.path}` ({synthetic}block {self.name}: code commit "
                f"{p['git_commit']}, device {p['device']}, driver {p['driver']}, torch {p['torch']}, CUDA {p['cuda']}, "
                f"trained {p['date']}; {len(self.runs)} run folders)")


def describe_source(records: str | Path | None, runs_root: str | Path = "results/runs") -> str:
    """The source line of a table or report: the published block (whose runs/ ``runs_root`` must be), or the
    local runs."""
    if records:
        block = load_block(records, check_ranks=False)
        if Path(runs_root).resolve() != block.runs_root.resolve():
            raise HarnessError(f"--runs {runs_root} is not the runs/ folder of --records {records}; published "
                               f"records are never mixed with other runs (use --runs {block.runs_root})")
        return "Source: " + block.describe() + "."
    return f"Source: local runs under `{runs_root}` (trained on this machine; not published records)."


def stamp_source(prefix: str | Path, line: str) -> None:
    """Name the source in a written table or report: a last line of ``prefix.md``, a first comment line of
    ``prefix.tex`` (the CSV stays tidy data)."""
    from elcrec.fileio import write_text

    md, tex = Path(f"{prefix}.md"), Path(f"{prefix}.tex")
    if md.is_file():
        write_text(md, md.read_text(encoding="utf-8").rstrip("\n") + f"\n\n{line}\n")
    if tex.is_file():
        write_text(tex, f"% {line}\n" + tex.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------------------- checks


def check_provenance(prov: dict[str, Any], where: Path) -> None:
    """Every key of PROVENANCE_KEYS is a non-empty string that does not say 'unavailable'."""
    bad = [k for k in PROVENANCE_KEYS
           if not isinstance(prov.get(k), str) or not prov[k].strip() or prov[k].startswith("unavailable")]
    if bad:
        raise HarnessError(f"{where}: provenance incomplete, missing or empty: {', '.join(bad)} (needs "
                           f"{', '.join(PROVENANCE_KEYS)}); fill them from the job's console log or re-run the job")


def read_ranks(path: Path) -> "pd.DataFrame":
    """A per-user test file (``.csv`` or ``.csv.gz``) with integer ``user`` and ``rank`` columns."""
    import pandas as pd  # not at import: the workflow parses with this module and stays light

    try:
        frame = pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable CSV or gzip stream
        raise HarnessError(f"{path}: cannot be read as CSV ({exc})") from None
    for col in ("user", "rank"):
        if col not in frame or not pd.api.types.is_integer_dtype(frame[col]):
            raise HarnessError(f"{path}: needs an integer column {col!r} (one row per test user)")
    if (frame["rank"] < 0).any() or frame["user"].duplicated().any() or frame.empty:
        raise HarnessError(f"{path}: ranks must be >= 0, one row per user, at least one user")
    return frame


def check_against_ranks(run: Path, test: dict[str, float]) -> None:
    """metrics.json's test metrics (and the per-user metric columns) equal those recomputed from the ranks."""
    path = per_user_file(run)
    if path is None:
        raise HarnessError(f"{run}: no per_user_test.csv(.gz); a published run needs its per-user ranks")
    frame = read_ranks(path)
    ranks = frame["rank"].to_numpy()
    for key, value in metrics_from_ranks(ranks).items():
        if abs(value - test[key]) > TOLERANCE:
            raise HarnessError(f"{run / 'metrics.json'}: test {key} = {test[key]!r} but its per-user ranks give "
                               f"{value!r}; the run folder is inconsistent, re-import it from the GPU job's archive")
    for key, values in per_user_metrics(ranks).items():
        if key in frame and not np.allclose(frame[key].to_numpy(float), values, rtol=0, atol=TOLERANCE):
            raise HarnessError(f"{path}: column {key} disagrees with the rank column; re-import the run")


def _check_run(run: Path, ranks: bool) -> str:
    for item in run.iterdir():
        if item.is_symlink() or not item.is_file() or item.name not in RECORD_FILES:
            raise HarnessError(f"{item}: not a published run file (allowed: {', '.join(RECORD_FILES)}); remove it")
    record = read_run(run)
    if record.ok:
        missing = [n for n in OK_FILES if not (run / n).is_file()]
        if missing:
            raise HarnessError(f"{run}: a finished run lacks {', '.join(missing)}; re-import it")
        if ranks:
            check_against_ranks(run, record.test)
    elif [p.name for p in run.iterdir()] != ["metrics.json"]:
        raise HarnessError(f"{run}: status {record.status!r} but it holds more than metrics.json")
    return record.status


def load_block(path: str | Path, *, check_ranks: bool = True) -> Block:
    """Load and check one block folder (see the module docstring); ``check_ranks=False`` skips the per-user
    recomputation (the workflow's parse step, which must stay quick; the import and the tests do it)."""
    path = Path(path)
    if not path.is_dir():
        raise HarnessError(f"{path}: no such published-records folder (expected benchmarks/records/published/"
                           "<block> with provenance.json, plan.json and runs/)")
    for name in ("provenance.json", "plan.json"):
        if not (path / name).is_file():
            raise HarnessError(f"{path / name}: missing; a published block needs provenance.json and plan.json")
    prov = read_json(path / "provenance.json")
    check_provenance(prov, path / "provenance.json")
    plan = read_json(path / "plan.json")
    entries = plan.get("runs")
    if not isinstance(entries, list) or not all(isinstance(r, dict) and {"model", "seed", "status"} <= set(r)
                                                for r in entries):
        raise HarnessError(f"{path / 'plan.json'}: 'runs' must be a list of {{model, seed, status}} objects")
    root = path / "runs"
    if not root.is_dir():
        raise HarnessError(f"{root}: missing; a published block keeps its run folders under runs/")
    links = [p for p in root.rglob("*") if p.is_symlink()]
    if links:
        raise HarnessError(f"{links[0]}: a link inside published records; records hold plain files only")
    runs = sorted(p for p in root.glob("*/*/*") if p.is_dir())
    statuses = {}
    for run in runs:
        if seed_of(run) is None:
            raise HarnessError(f"{run}: not a run folder (expected runs/{{dataset}}/{{model}}/seed<n>)")
        statuses[(run.parent.parent.name, run.parent.name, seed_of(run))] = _check_run(run, check_ranks)
    planned = {(str(plan.get("dataset", r.get("dataset"))), str(r["model"]), int(r["seed"])): str(r["status"])
               for r in entries}
    for key, status in planned.items():
        if (status == "ok") != (statuses.get(key) == "ok"):
            found = statuses.get(key, "no run folder")
            raise HarnessError(f"{path / 'plan.json'}: {'/'.join(map(str, key))} is {status!r} in the plan but "
                               f"{found!r} in runs/; the block is incomplete, re-import it")
    extra = sorted(set(statuses) - set(planned))
    if extra:
        raise HarnessError(f"{root}: run folder {'/'.join(map(str, extra[0]))} is not in plan.json")
    return Block(path.name, path, prov, plan, runs)


def published_blocks(root: str | Path = PUBLISHED_ROOT) -> list[Path]:
    """Every committed block folder under ``root`` (none is fine)."""
    root = Path(root)
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []


# ----------------------------------------------------------------------------------------------------- import


def _member_path(member: tarfile.TarInfo) -> PurePosixPath | None:
    """The path inside the block of one archive member (its top folder stripped); None for what is not kept
    (console logs, folders). Links, devices, absolute paths and '..' are refused."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts:
        raise HarnessError(f"archive member {member.name!r} points outside the archive; refusing to import it")
    if not (member.isfile() or member.isdir()):
        raise HarnessError(f"archive member {member.name!r} is a link or a special file; refusing to import it")
    parts = name.parts[1:]  # published_runs_<dataset>/...
    if member.isdir() or not parts or parts[0] == "logs":
        return None
    inner = PurePosixPath(*parts)
    if inner.name in ("provenance.json", "plan.json") and len(parts) == 1:
        return inner
    if parts[0] == "runs" and len(parts) == 5 and inner.name in RECORD_FILES:
        return inner
    raise HarnessError(f"archive member {member.name!r} is not part of the published layout; is this an archive "
                       "written by benchmarks/pack_runs.py?")


def _write_not_run_records(tmp: Path, plan: dict[str, Any]) -> None:
    """A metrics.json for every planned run that did not finish, so the tables say why ("not run: compute")."""
    for r in plan.get("runs", []):
        run = tmp / "runs" / str(plan["dataset"]) / str(r["model"]) / f"seed{r['seed']}"
        if r.get("status") != "ok" and not run.exists():
            run.mkdir(parents=True)
            write_json(run / "metrics.json", {"status": str(r["status"]), "model": r["model"],
                                              "dataset": plan["dataset"], "seed": int(r["seed"]), "test": None,
                                              "valid_best": None})


def import_archive(archive: str | Path, dest_root: str | Path, block: str) -> Block:
    """Unpack a ``pack_runs.py`` archive into ``dest_root/block`` (a new folder; an existing block is never
    touched): members are read as bytes into a temporary folder beside it, checked with :func:`load_block`, then
    renamed into place in one step."""
    dest_root, archive = Path(dest_root), Path(archive)
    if not block or "/" in block or block.startswith("."):
        raise HarnessError(f"block name {block!r}: use a plain folder name such as beauty-2026-12")
    dest = dest_root / block
    if dest.exists():
        raise HarnessError(f"{dest} exists; published blocks are never overwritten (choose another --block name)")
    dest_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".import-{block}-", dir=dest_root))
    try:
        try:
            tar = tarfile.open(archive, "r:*")
        except (OSError, tarfile.TarError) as exc:
            raise HarnessError(f"{archive}: cannot be opened as a tar archive ({exc})") from None
        total = 0
        with tar:
            for member in tar:
                inner = _member_path(member)
                if inner is None:
                    continue
                total += member.size
                if total > MAX_BLOCK_BYTES:
                    raise HarnessError(f"{archive}: more than {MAX_BLOCK_BYTES >> 20} MB of run files; "
                                       "published records must stay small (no weights, no logs)")
                target = tmp / inner
                if target.exists():
                    raise HarnessError(f"archive member {member.name!r} appears twice; refusing to import it")
                target.parent.mkdir(parents=True, exist_ok=True)
                data = tar.extractfile(member)
                assert data is not None  # a regular file
                with open(target, "wb") as fh:
                    shutil.copyfileobj(io.BufferedReader(data), fh)  # type: ignore[arg-type]
        if (tmp / "plan.json").is_file():
            _write_not_run_records(tmp, read_json(tmp / "plan.json"))
        load_block(tmp)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return load_block(dest)

