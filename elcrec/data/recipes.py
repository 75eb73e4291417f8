"""Recipes that turn raw public dataset archives into the harness's sequence format.

Output format (shared with the mirrored ICLRec files): one line per user, ``user_id item_id item_id ...``,
single spaces, LF after every line, user ids 1..N in line order, item ids contiguous 1..M, items in
chronological order.

**ML-1M** (:func:`build_ml1m`) follows SASRec's ml-1m as regrouped by ICLRec: every rating is an interaction,
movies with fewer than 5 ratings are dropped in a single pass, each user's items are stably sorted by
timestamp, lines follow the GroupLens UserID (written as the user id), and items are renumbered by first
appearance.

**MIND-small** (:func:`build_mind`): the ELCRec paper publishes no recipe, so this one is the harness's choice:

1. read ``behaviors.tsv`` from every given zip, in the given order (train, then dev);
2. per user, start with the History field of the user's earliest impression by Time (clicks before the log
   period, already oldest first), then append the clicked (``-1``) news of all the user's impressions in
   Time order (stable: ties keep file order, train before dev; listed order within an impression);
3. keep only the first occurrence of each news id within a user;
4. iterative 5-core: drop users with < 5 items and items with < 5 users until nothing changes;
5. users are numbered 1..N by first appearance in the files, news 1..M by first appearance scanning users in
   that order.
"""
from __future__ import annotations

import io
import os
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from elcrec.data.registry import ATTRIBUTE_FILE
from elcrec.errors import DataError
from elcrec.fileio import atomic_path

PathLike = str | os.PathLike[str]

_REDOWNLOAD = "the download may be corrupt: delete {zip} and download it again"
_ML1M_BAD_LINE = re.compile(rb"^(?!\d+::\d+::\d+::\d+\r?$)", re.M)
_MIND_TIME = "%m/%d/%Y %I:%M:%S %p"
_MIND_HISTORY = re.compile(r"(?:N\d+(?: N\d+)*)?")
_MIND_IMPRESSIONS = re.compile(r"(?:N\d+-[01](?: N\d+-[01])*)?")
_MIND_CLICK = re.compile(r"(N\d+)-1\b")


def _read_member(zip_path: PathLike, name: str) -> tuple[str, bytes]:
    """Return ``(member, bytes)`` of the member called ``name`` (any folder; shortest path wins).

    A missing, corrupt or truncated archive becomes a :class:`DataError` that says what to do.
    """
    hint = _REDOWNLOAD.format(zip=zip_path)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            candidates = [m for m in zf.namelist() if m == name or m.endswith("/" + name)]
            if not candidates:
                raise DataError(f"{zip_path}: the archive holds no {name}; {hint}")
            member = min(candidates, key=len)
            return member, zf.read(member)
    except FileNotFoundError:
        raise DataError(f"{zip_path}: file not found; download it first") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise DataError(f"{zip_path}: not a readable zip archive ({exc}); {hint}") from None


def _line_error(zip_path: PathLike, member: str, line_no: int, what: str) -> DataError:
    return DataError(f"{zip_path}:{member}, line {line_no}: {what}; {_REDOWNLOAD.format(zip=zip_path)}")


def _write_sequences(out_path: PathLike, user_ids: np.ndarray, users: np.ndarray, items: np.ndarray,
                     original_ids: list[np.ndarray] | None = None) -> dict:
    """Write grouped long-format rows (``users`` contiguous per user) with items renumbered by first appearance.

    ``user_ids`` is the id written for each group, in order. Written as bytes so lines end in LF everywhere.
    ``original_ids``, when given a list, receives the original id of each new id 1..M (entry M-1 is item M).
    """
    codes, uniques = pd.factorize(items, sort=False)
    if original_ids is not None:
        original_ids.append(np.asarray(uniques))
    tokens = (codes + 1).astype(str)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ends = np.r_[starts[1:], len(users)]
    lines = [f"{uid} " + " ".join(tokens[s:e].tolist()) + "\n"
             for uid, s, e in zip(user_ids.tolist(), starts, ends)]
    with atomic_path(out_path) as tmp:
        tmp.write_bytes("".join(lines).encode("ascii"))
    return {"users": int(len(starts)), "items": int(len(uniques)), "interactions": int(len(items))}


def build_ml1m(zip_path: PathLike, out_path: PathLike) -> dict:
    """Build ICLRec's ml-1m sequence file from GroupLens ``ml-1m.zip``; return users/items/interactions."""
    member, data = _read_member(zip_path, "ratings.dat")
    # Validate every line with one regex pass (fast), so the parser below can trust the text.
    body = data[:-1] if data.endswith(b"\n") else data
    if not body:
        raise DataError(f"{zip_path}:{member} is empty; {_REDOWNLOAD.format(zip=zip_path)}")
    bad = _ML1M_BAD_LINE.search(body)
    if bad is not None:
        line_no = body.count(b"\n", 0, bad.start()) + 1
        raise _line_error(zip_path, member, line_no, "expected UserID::MovieID::Rating::Timestamp (four integers)")
    try:
        frame = pd.read_csv(io.BytesIO(data.replace(b"::", b"\t")), sep="\t", header=None, dtype=np.int64,
                            engine="c", names=["user", "item", "rating", "ts"])
    except (ValueError, OverflowError) as exc:  # e.g. an integer beyond int64
        hint = _REDOWNLOAD.format(zip=zip_path)
        raise DataError(f"{zip_path}:{member}: unreadable ratings ({exc}); {hint}") from None
    user = frame["user"].to_numpy()
    item = frame["item"].to_numpy()
    ts = frame["ts"].to_numpy()

    # Single-pass filter: counts over all ratings, movies with < 5 ratings dropped once (SASRec's ml-1m).
    values, counts = np.unique(item, return_counts=True)
    keep = np.isin(item, values[counts >= 5])
    user, item, ts = user[keep], item[keep], ts[keep]

    # Stable by timestamp, then stable by user: within a user, equal timestamps keep ratings.dat order.
    order = np.argsort(ts, kind="stable")
    order = order[np.argsort(user[order], kind="stable")]
    user, item = user[order], item[order]

    user_ids = np.unique(user)
    if not np.array_equal(user_ids, np.arange(1, len(user_ids) + 1)):
        raise DataError(f"{zip_path}:{member}: after filtering, the UserIDs are not 1..{len(user_ids)}, so they "
                        f"cannot be written as the user ids; {_REDOWNLOAD.format(zip=zip_path)}")
    return _write_sequences(out_path, user_ids, user, item)


def _read_behaviors(zip_path: PathLike) -> pd.DataFrame:
    """Parse and validate one MIND ``behaviors.tsv`` (rows in file order); fail on the first bad line."""
    member, data = _read_member(zip_path, "behaviors.tsv")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = data.count(b"\n", 0, exc.start) + 1
        raise _line_error(zip_path, member, line_no, "not UTF-8 text") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    rows = [line.rstrip("\r").split("\t") for line in lines]
    for i, row in enumerate(rows):
        if len(row) != 5:
            raise _line_error(zip_path, member, i + 1, f"expected 5 tab-separated fields, found {len(row)}")
    frame = pd.DataFrame(rows, columns=["impression", "user", "time", "history", "impressions"])
    checks = [
        (frame["user"].str.len() > 0, "empty UserID"),
        (frame["history"].str.fullmatch(_MIND_HISTORY), "History must be space-separated news ids like N1234"),
        (frame["impressions"].str.fullmatch(_MIND_IMPRESSIONS),
         "Impressions must be space-separated tokens like N1234-1 or N1234-0"),
    ]
    times = pd.to_datetime(frame["time"], format=_MIND_TIME, errors="coerce")
    checks.append((times.notna(), f"Time not in the form {_MIND_TIME!r} (e.g. 11/11/2019 9:05:58 AM)"))
    for ok, what in checks:
        bad = np.flatnonzero(~ok.to_numpy(dtype=bool))
        if len(bad):
            raise _line_error(zip_path, member, int(bad[0]) + 1, what)
    frame["time"] = times
    return frame[["user", "time", "history", "impressions"]]


def build_mind(zip_paths: list[PathLike], out_path: PathLike) -> dict:
    """Build the MIND-small sequence file (recipe in the module docstring); return users/items/interactions."""
    if not zip_paths:
        raise DataError("build_mind needs at least one MIND zip (MINDsmall_train.zip, MINDsmall_dev.zip)")
    imp = pd.concat([_read_behaviors(p) for p in zip_paths], ignore_index=True)  # train rows, then dev rows

    # Users numbered by first appearance in the files; impressions ordered by (user, Time, file order).
    imp["ucode"] = pd.factorize(imp["user"], sort=False)[0]
    imp = imp.sort_values("time", kind="stable").sort_values("ucode", kind="stable")
    first = ~imp["ucode"].duplicated()
    clicks = imp["impressions"].str.findall(_MIND_CLICK).str.join(" ")
    seq = (imp["history"].where(first, "") + " " + clicks).str.split()
    events = pd.DataFrame({"user": imp["ucode"].to_numpy(), "item": seq.to_numpy()}).explode("item").dropna()
    user = events["user"].to_numpy(dtype=np.int64)
    item = pd.factorize(events["item"], sort=False)[0].astype(np.int64)  # integer codes: fast counting
    keep = ~pd.Series(user * (item.max(initial=0) + 1) + item).duplicated().to_numpy()  # first occurrence
    user, item = user[keep], item[keep]

    while True:  # iterative 5-core on (user, item) codes
        keep = (np.bincount(user)[user] >= 5) & (np.bincount(item)[item] >= 5)
        if keep.all():
            break
        user, item = user[keep], item[keep]
    if len(user) == 0:
        raise DataError(f"{', '.join(map(str, zip_paths))}: no user is left after the 5-core filter; "
                        "the files are too small or not MIND behaviors")
    user_ids = np.arange(1, len(np.unique(user)) + 1)
    return _write_sequences(out_path, user_ids, user, item)


def build_subsample(parent_path: PathLike, out_path: PathLike, every: int) -> dict:
    """Every ``every``-th user of a sequence file (users 1, 1+every, ...), items renumbered 1..M by first appearance.

    For quick presets and CI: a deterministic, much smaller dataset with the same format and split; its numbers are
    not comparable with the full dataset's. Where the parent folder holds S3-Rec's ``item2attributes.json``, the
    subsample gets its own, keyed by the new item ids (attribute ids unchanged), so S3-Rec's AAP/MAP run on it too.
    """
    from elcrec.data.sequences import parse_sequence_file

    items, offsets = parse_sequence_file(parent_path)
    keep = np.arange(0, len(offsets) - 1, every)
    lengths = (offsets[1:] - offsets[:-1])[keep]
    rows = np.repeat(np.arange(len(keep)), lengths)
    flat = np.concatenate([items[offsets[u] : offsets[u + 1]] for u in keep])
    original: list[np.ndarray] = []
    built = _write_sequences(out_path, np.arange(1, len(keep) + 1), rows, flat, original)
    parent_attributes = Path(parent_path).parent / ATTRIBUTE_FILE
    if parent_attributes.is_file():
        remap_attributes(parent_attributes, Path(out_path).parent / ATTRIBUTE_FILE, original[0])
    return built



def remap_attributes(parent: PathLike, out: PathLike, original_ids: np.ndarray) -> int:
    """Write S3-Rec's ``{item id: [attribute ids]}`` for renumbered items: new id i+1 takes the entry of
    ``original_ids[i]``. Items the parent file lists no attributes for stay absent, as there. Returns the count.
    """
    import json

    try:
        table = json.loads(Path(parent).read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{parent}: not a readable item2attributes JSON ({exc}); delete it and prepare the parent "
                        "dataset again") from None
    derived = {str(new): table[str(old)] for new, old in enumerate(original_ids.tolist(), start=1)
               if str(old) in table}
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(derived))
    return len(derived)
