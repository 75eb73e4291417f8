"""The download step: obtain a dataset from its origin or an offline mirror, verify it, and build it.

One function, :func:`prepare_dataset`, serves the CLI, Snakemake and the loaders. It writes
``DATA_DIR/NAME/NAME.txt`` (plus ``item2attributes.json`` where S3-Rec publishes one) and
``DATA_DIR/NAME/status.json`` (the source, checksums and statistics, or why the dataset is unavailable).

Mirror (``--data-mirror DIR``, ``ELCREC_DATA_MIRROR``, Snakemake ``--config data_mirror=DIR``): files are taken
from DIR by their file name instead of the internet, and verified in the same way. A mirror never falls back to
the internet, so a test run cannot reach out by accident.
"""
from __future__ import annotations

import http.client
import os
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tqdm import tqdm

from elcrec.data.registry import ATTRIBUTE_FILE, DatasetSpec, RemoteFile, get_spec
from elcrec.errors import ChecksumError, DataError, UnavailableError
from elcrec.fileio import atomic_path, sha256_file, write_json

MIRROR_ENV = "ELCREC_DATA_MIRROR"
DATA_DIR_ENV = "ELCREC_DATA_DIR"
STATUS = "status.json"


def resolve_mirror(mirror: str | os.PathLike[str] | None) -> Path | None:
    """The mirror folder from the argument, else the environment; it must exist when given."""
    value = mirror if mirror not in (None, "") else os.environ.get(MIRROR_ENV) or None
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise DataError(f"data mirror {path} is not a folder; pass an existing folder (e.g. ../shared/data)")
    return path


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV, "data"))


def _how_to_mirror(remote: RemoteFile) -> str:
    return (
        f"Download {remote.url} by hand (accepting its licence), put it as {remote.name} in a folder, and pass that "
        f"folder with --data-mirror DIR (or set {MIRROR_ENV}=DIR, or snakemake --config data_mirror=DIR)."
    )


def _download(url: str, dest: Path) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "elcrec-harness"})
    with urllib.request.urlopen(request, timeout=60) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=Path(url).name, disable=None) as bar:
            received = 0
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                received += len(block)
                bar.update(len(block))
    if total is not None and received != total:
        raise http.client.IncompleteRead(b"", total - received)


def verify(path: Path, remote: RemoteFile, shown_as: str | Path) -> str:
    """Check ``path`` against the registry's sha256 (when one is published); return the actual digest."""
    actual = sha256_file(path)
    if remote.sha256 is not None and actual != remote.sha256:
        raise ChecksumError(
            f"{shown_as}: sha256 mismatch for {remote.name}: expected {remote.sha256}, got {actual}. "
            "The file is corrupt, truncated or a different version; nothing was written. "
            f"Replace it with the original from {remote.url}."
        )
    return actual


def obtain(remote: RemoteFile, dest: Path, mirror: Path | None) -> dict[str, str]:
    """Copy ``remote`` from the mirror or download it to ``dest``, verified; return its provenance."""
    with atomic_path(dest) as tmp:
        if mirror is not None:
            source = mirror / remote.name
            if not source.is_file():
                raise UnavailableError(f"{remote.name} is not in the data mirror {mirror}. {_how_to_mirror(remote)}")
            shutil.copyfile(source, tmp)
            shown: str | Path = source
        else:
            errors = []
            for url in (remote.url, *remote.alt_urls):
                try:
                    _download(url, tmp)
                    shown = url
                    break
                except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as exc:
                    errors.append(f"{url}: {getattr(exc, 'reason', exc)}")
            else:
                raise UnavailableError(
                    f"could not download {remote.name} ({'; '.join(errors)}). {_how_to_mirror(remote)}"
                )
        digest = verify(tmp, remote, shown)
    return {"file": remote.name, "source": str(shown), "sha256": digest}


def dataset_dir(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    return Path(data_dir or default_data_dir()) / name


def sequence_path(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    return dataset_dir(name, data_dir) / f"{name}.txt"


def _check_expected(spec: DatasetSpec, built: dict[str, int], path: Path) -> None:
    wrong = {k: (v, built.get(k)) for k, v in spec.expected.items() if built.get(k) != v}
    if wrong:
        detail = ", ".join(f"{k} {got} (expected {exp})" for k, (exp, got) in wrong.items())
        raise DataError(f"{path}: the built {spec.name} file has {detail}; the raw archive differs from the "
                        "one the recipe was written for. Delete the raw files and download them again")


def _builder(spec: DatasetSpec) -> Any:
    """The recipe's build function (imported on use: the recipes need pandas, status look-ups do not)."""
    from elcrec.data import recipes

    return getattr(recipes, f"build_{spec.recipe}")


def _build(spec: DatasetSpec, folder: Path, mirror: Path | None) -> dict[str, Any]:
    """Run a recipe dataset's builder, or take a verified prebuilt copy from the mirror when it has one."""
    out = folder / spec.filename
    if mirror is not None and spec.sequences is not None and (mirror / spec.sequences.name).is_file():
        return {"method": "prebuilt copy from the mirror", "files": [obtain(spec.sequences, out, mirror)]}
    raw_dir = folder / "raw"
    provenance = []
    for remote in spec.raw:
        target = raw_dir / remote.name
        if target.is_file():
            provenance.append({"file": remote.name, "source": "cached", "sha256": sha256_file(target)})
        else:
            provenance.append(obtain(remote, target, mirror))
    builder = _builder(spec)
    raw_paths = [raw_dir / r.name for r in spec.raw]
    built = builder(raw_paths[0], out) if len(raw_paths) == 1 else builder(raw_paths, out)
    try:
        _check_expected(spec, built, out)
    except DataError:
        out.unlink(missing_ok=True)
        raise
    return {"method": f"recipe {spec.recipe} (elcrec.data.recipes.build_{spec.recipe})", "files": provenance,
            "built_sha256": sha256_file(out)}


def _derive(spec: DatasetSpec, folder: Path, data_dir: Any, mirror: Any) -> dict[str, Any]:
    """Build a derived dataset from its (prepared, verified) parent."""
    assert spec.parent is not None
    parent = prepare_dataset(spec.parent, data_dir, mirror)
    assert parent is not None
    out = folder / spec.filename
    built = _builder(spec)(parent, out, **spec.params)
    try:
        _check_expected(spec, built, out)
    except DataError:
        out.unlink(missing_ok=True)
        raise
    files = [{"file": parent.name, "source": str(parent), "sha256": sha256_file(parent)}]
    derived_attributes = folder / ATTRIBUTE_FILE
    if derived_attributes.is_file():
        files.append({"file": derived_attributes.name, "derived_from": str(parent.parent / ATTRIBUTE_FILE),
                      "sha256": sha256_file(derived_attributes)})
    return {"method": f"derived from {spec.parent} by recipes.build_{spec.recipe}({spec.params})", "files": files}


def read_status(name: str, data_dir: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The dataset's status.json, or None if it was never prepared; a corrupt or incomplete one is a DataError."""
    import json

    path = dataset_dir(name, data_dir) / STATUS
    if not path.is_file():
        return None
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        status = None
    if not isinstance(status, dict) or status.get("status") not in ("ok", "unavailable") or (
            status["status"] == "ok" and not isinstance(status.get("sha256"), str)):
        raise DataError(f"{path} is corrupt or incomplete; run `python -m elcrec download --dataset {name}` to "
                        "prepare the dataset again (it rewrites the file)")
    return status


def check_unchanged(name: str, data_dir: str | os.PathLike[str] | None = None) -> None:
    """Raise ChecksumError when the prepared sequence file no longer has the sha256 its status.json recorded."""
    folder = dataset_dir(name, data_dir)
    status, seq = read_status(name, data_dir), folder / get_spec(name).filename
    if status is None or status["status"] != "ok":
        return
    if not seq.is_file():
        raise DataError(f"{seq} is missing; run `python -m elcrec download --dataset {name}` to prepare it again")
    actual = sha256_file(seq)
    if actual != status["sha256"]:
        raise ChecksumError(
            f"{seq}: the file changed since it was prepared (sha256 {actual}, recorded {status['sha256']}); "
            f"delete {folder} and prepare the dataset again"
        )


def _is_ready(spec: DatasetSpec, folder: Path) -> bool:
    """True when a previous prepare finished and the sequence file still has the digest it recorded.

    A corrupt or incomplete status.json means "not prepared": the caller prepares again and rewrites it.
    """
    if not ((folder / STATUS).is_file() and (folder / spec.filename).is_file()):
        return False
    try:
        status = read_status(spec.name, folder.parent)
    except DataError:
        return False
    if status is None or status["status"] != "ok":
        return False
    check_unchanged(spec.name, folder.parent)
    return True


def prepare_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
    allow_unavailable: bool = False,
) -> Path | None:
    """Make ``DATA_DIR/NAME/NAME.txt`` exist and be verified; return its path (None if unavailable and allowed)."""
    spec = get_spec(name)
    folder = dataset_dir(name, data_dir)
    if _is_ready(spec, folder):
        return folder / spec.filename
    mirror_path = resolve_mirror(mirror)
    try:
        if spec.kind == "published":
            assert spec.sequences is not None
            info: dict[str, Any] = {"method": "published file", "files": [
                obtain(spec.sequences, folder / spec.filename, mirror_path)]}
        elif spec.kind == "derived":
            info = _derive(spec, folder, data_dir, mirror)
        else:
            info = _build(spec, folder, mirror_path)
    except UnavailableError as exc:
        if not allow_unavailable:
            raise
        print(f"WARNING: dataset {name} is unavailable: {exc}", file=sys.stderr)
        write_json(folder / STATUS, {"dataset": name, "status": "unavailable", "error": str(exc)})
        return None
    if spec.attributes is not None:
        try:
            info["files"].append(obtain(spec.attributes, folder / ATTRIBUTE_FILE, mirror_path))
        except UnavailableError as exc:  # only S3-Rec's attribute objectives need it
            print(f"WARNING: {name}: item attributes unavailable ({exc}); S3-Rec's AAP/MAP cannot run", file=sys.stderr)
    seq = folder / spec.filename
    write_json(folder / STATUS, {
        "dataset": name, "status": "ok", "kind": spec.kind, "description": spec.description,
        "mirror": str(mirror_path) if mirror_path else None, "sha256": sha256_file(seq), **info,
        "licence": spec.licence,
    })
    return seq
