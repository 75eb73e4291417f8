"""Tests for the download step: mirror copy, sha256 verification, status.json and the offline failure modes.

A fake ``published`` dataset ("Tiny") is added to the registry for the test (``fetch`` calls
``registry.get_spec``, which reads ``registry.DATASETS`` at call time, so patching that dict is enough). Its
sha256 is computed here with hashlib. Nothing reaches the network: the ``offline`` fixture makes
``urllib.request.urlopen`` fail the test, and the download-path tests replace it with fakes.
"""
from __future__ import annotations

import hashlib
import http.client
import io
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from elcrec.data import fetch, registry
from elcrec.data.fetch import prepare_dataset, read_status
from elcrec.data.registry import DatasetSpec, RemoteFile
from elcrec.errors import ChecksumError, ConfigError, DataError, UnavailableError

TINY = b"1 1 2 3\n2 2 3 4 5\n3 5 4 1\n"
TINY_SHA = hashlib.sha256(TINY).hexdigest()
URL = "https://example.invalid/data/Tiny.txt"
ALT_URL = "https://mirror.example.invalid/Tiny.txt"
ATTR = b'{"1": [1], "2": [2]}\n'

BEAUTY_SHA = "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8"  # shared/data/MANIFEST.md


def tiny_spec(sha256: str | None = TINY_SHA, attributes: RemoteFile | None = None,
              alt_urls: tuple[str, ...] = ()) -> DatasetSpec:
    return DatasetSpec(
        name="Tiny",
        kind="published",
        description="three hand-made users",
        sequences=RemoteFile("Tiny.txt", URL, sha256, alt_urls),
        attributes=attributes,
        licence="test fixture",
    )


@pytest.fixture
def register(monkeypatch: pytest.MonkeyPatch, offline: None):
    """Add a spec to the registry for one test (restored afterwards)."""

    def _register(spec: DatasetSpec) -> DatasetSpec:
        monkeypatch.setitem(registry.DATASETS, spec.name, spec)
        return spec

    return _register


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "Tiny.txt").write_bytes(TINY)
    return folder


def all_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# ---------------------------------------------------------------------------------------------- success


def test_mirror_copy_writes_file_and_status(tmp_path: Path, mirror: Path, register) -> None:
    register(tiny_spec())
    data_dir = tmp_path / "data"
    path = prepare_dataset("Tiny", data_dir, mirror)
    assert path == data_dir / "Tiny" / "Tiny.txt"
    assert path.read_bytes() == TINY
    assert all_files(data_dir) == ["Tiny/Tiny.txt", "Tiny/status.json"]

    status = json.loads((data_dir / "Tiny" / "status.json").read_text())
    assert status["dataset"] == "Tiny"
    assert status["status"] == "ok"
    assert status["kind"] == "published"
    assert status["sha256"] == TINY_SHA
    assert status["mirror"] == str(mirror)
    assert status["files"] == [{"file": "Tiny.txt", "source": str(mirror / "Tiny.txt"), "sha256": TINY_SHA}]
    assert read_status("Tiny", data_dir) == status


def test_second_prepare_does_not_copy_again(tmp_path: Path, mirror: Path, register,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    register(tiny_spec())
    data_dir = tmp_path / "data"
    first = prepare_dataset("Tiny", data_dir, mirror)
    inode, mtime = first.stat().st_ino, first.stat().st_mtime_ns
    (mirror / "Tiny.txt").unlink()  # a new copy would now be impossible

    def no_copy(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was copied again")

    monkeypatch.setattr(fetch, "obtain", no_copy)
    second = prepare_dataset("Tiny", data_dir, mirror)
    assert second == first
    assert (second.stat().st_ino, second.stat().st_mtime_ns) == (inode, mtime)


def test_mirror_from_environment(tmp_path: Path, mirror: Path, register, monkeypatch: pytest.MonkeyPatch) -> None:
    register(tiny_spec())
    monkeypatch.setenv("ELCREC_DATA_MIRROR", str(mirror))
    monkeypatch.setenv("ELCREC_DATA_DIR", str(tmp_path / "envdata"))
    path = prepare_dataset("Tiny")
    assert path == tmp_path / "envdata" / "Tiny" / "Tiny.txt"
    assert path.read_bytes() == TINY


def test_mirror_that_is_not_a_folder(tmp_path: Path, register) -> None:
    register(tiny_spec())
    with pytest.raises(DataError) as err:
        prepare_dataset("Tiny", tmp_path / "data", tmp_path / "no-such-mirror")
    assert str(tmp_path / "no-such-mirror") in str(err.value)


def test_attributes_are_copied_and_verified(tmp_path: Path, mirror: Path, register) -> None:
    (mirror / "Tiny_item2attributes.json").write_bytes(ATTR)
    attr_sha = hashlib.sha256(ATTR).hexdigest()
    register(tiny_spec(attributes=RemoteFile("Tiny_item2attributes.json", URL + ".json", attr_sha)))
    data_dir = tmp_path / "data"
    prepare_dataset("Tiny", data_dir, mirror)
    assert (data_dir / "Tiny" / "item2attributes.json").read_bytes() == ATTR
    status = read_status("Tiny", data_dir)
    assert [f["sha256"] for f in status["files"]] == [TINY_SHA, attr_sha]


def test_missing_attributes_only_warn(tmp_path: Path, mirror: Path, register, capsys) -> None:
    register(tiny_spec(attributes=RemoteFile("Tiny_item2attributes.json", URL + ".json", "0" * 64)))
    data_dir = tmp_path / "data"
    assert prepare_dataset("Tiny", data_dir, mirror) == data_dir / "Tiny" / "Tiny.txt"
    assert read_status("Tiny", data_dir)["status"] == "ok"
    assert "Tiny_item2attributes.json" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- checksums


def test_sha256_mismatch_raises_and_leaves_nothing(tmp_path: Path, mirror: Path, register) -> None:
    wrong = hashlib.sha256(b"another file").hexdigest()
    register(tiny_spec(sha256=wrong))
    data_dir = tmp_path / "data"
    with pytest.raises(ChecksumError) as err:
        prepare_dataset("Tiny", data_dir, mirror)
    message = str(err.value)
    assert "Tiny.txt" in message
    assert wrong in message  # expected
    assert TINY_SHA in message  # actual
    assert all_files(data_dir) == []  # no Tiny.txt, no .Tiny.txt.*.part, no status.json
    assert read_status("Tiny", data_dir) is None


def test_prepared_file_modified_afterwards(tmp_path: Path, mirror: Path, register) -> None:
    register(tiny_spec())
    data_dir = tmp_path / "data"
    path = prepare_dataset("Tiny", data_dir, mirror)
    path.write_bytes(TINY.replace(b"5 4 1", b"5 4 2"))
    modified_sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ChecksumError) as err:
        prepare_dataset("Tiny", data_dir, mirror)
    assert str(path) in str(err.value)
    assert modified_sha in str(err.value) and TINY_SHA in str(err.value)


# ----------------------------------------------------------------------------------------- unavailability


def test_file_missing_from_mirror(tmp_path: Path, register) -> None:
    register(tiny_spec())
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    data_dir = tmp_path / "data"
    with pytest.raises(UnavailableError) as err:
        prepare_dataset("Tiny", data_dir, empty)
    message = str(err.value)
    assert URL in message
    assert "--data-mirror" in message
    assert str(empty) in message
    assert all_files(data_dir) == []


def test_allow_unavailable_records_status(tmp_path: Path, register, capsys) -> None:
    register(tiny_spec())
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    data_dir = tmp_path / "data"
    assert prepare_dataset("Tiny", data_dir, empty, allow_unavailable=True) is None
    status = json.loads((data_dir / "Tiny" / "status.json").read_text())
    assert status["dataset"] == "Tiny"
    assert status["status"] == "unavailable"
    assert URL in status["error"]
    assert all_files(data_dir) == ["Tiny/status.json"]
    assert "Tiny is unavailable" in capsys.readouterr().err

    # once the mirror has the file, the next prepare fetches it (the unavailable status is not "ready")
    (empty / "Tiny.txt").write_bytes(TINY)
    assert prepare_dataset("Tiny", data_dir, empty) == data_dir / "Tiny" / "Tiny.txt"
    assert read_status("Tiny", data_dir)["status"] == "ok"


def test_unknown_dataset_lists_known_names(tmp_path: Path, offline: None) -> None:
    with pytest.raises(ConfigError) as err:
        prepare_dataset("Beuaty", tmp_path / "data")
    message = str(err.value)
    assert "'Beuaty'" in message
    for name in ("Beauty", "Sports_and_Outdoors", "Toys_and_Games", "Yelp", "ml-1m", "MIND-small"):
        assert name in message
    assert not (tmp_path / "data").exists()


# ------------------------------------------------------------------------------- no mirror: the download path


def test_download_failure_names_every_url(tmp_path: Path, register, monkeypatch: pytest.MonkeyPatch) -> None:
    register(tiny_spec(alt_urls=(ALT_URL,)))
    tried: list[str] = []

    def refuse(request: urllib.request.Request, *args: object, **kwargs: object) -> None:
        tried.append(request.full_url)
        raise urllib.error.URLError("no route to host (test)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    data_dir = tmp_path / "data"
    with pytest.raises(UnavailableError) as err:
        prepare_dataset("Tiny", data_dir)
    assert tried == [URL, ALT_URL]
    message = str(err.value)
    assert URL in message and ALT_URL in message
    assert "no route to host (test)" in message
    assert "--data-mirror" in message
    assert all_files(data_dir) == []


class FakeResponse(io.BytesIO):
    def __init__(self, body: bytes) -> None:
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body))}


def test_download_success_is_verified(tmp_path: Path, register, monkeypatch: pytest.MonkeyPatch) -> None:
    register(tiny_spec(alt_urls=(ALT_URL,)))

    def serve(request: urllib.request.Request, *args: object, **kwargs: object) -> FakeResponse:
        if request.full_url == URL:
            raise urllib.error.URLError("first origin down")
        return FakeResponse(TINY)

    monkeypatch.setattr(urllib.request, "urlopen", serve)
    data_dir = tmp_path / "data"
    path = prepare_dataset("Tiny", data_dir)
    assert path.read_bytes() == TINY
    status = read_status("Tiny", data_dir)
    assert status["mirror"] is None
    assert status["files"] == [{"file": "Tiny.txt", "source": ALT_URL, "sha256": TINY_SHA}]


def test_downloaded_file_with_wrong_hash(tmp_path: Path, register, monkeypatch: pytest.MonkeyPatch) -> None:
    register(tiny_spec())
    corrupt = TINY[:-4] + b"9\n"
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: FakeResponse(corrupt))
    data_dir = tmp_path / "data"
    with pytest.raises(ChecksumError) as err:
        prepare_dataset("Tiny", data_dir)
    assert hashlib.sha256(corrupt).hexdigest() in str(err.value) and URL in str(err.value)
    assert all_files(data_dir) == []


class DroppedResponse(FakeResponse):
    """A chunked response whose connection drops mid-body: http.client's _read_chunked raises IncompleteRead."""

    def read(self, size: int | None = -1) -> bytes:
        raise http.client.IncompleteRead(TINY[:5], len(TINY) - 5)


def test_dropped_connection_tries_next_url(tmp_path: Path, register, monkeypatch: pytest.MonkeyPatch) -> None:
    register(tiny_spec(alt_urls=(ALT_URL,)))

    def serve(request: urllib.request.Request, *args: object, **kwargs: object) -> FakeResponse:
        return DroppedResponse(TINY) if request.full_url == URL else FakeResponse(TINY)

    monkeypatch.setattr(urllib.request, "urlopen", serve)
    data_dir = tmp_path / "data"
    path = prepare_dataset("Tiny", data_dir)
    assert path.read_bytes() == TINY
    assert read_status("Tiny", data_dir)["files"][0]["source"] == ALT_URL


# ------------------------------------------------------------------------------ the real registry and mirror


def test_real_beauty_from_shared_mirror(tmp_path: Path, shared_dir: Path, offline: None) -> None:
    data_dir = tmp_path / "data"
    path = prepare_dataset("Beauty", data_dir, shared_dir / "data")
    assert path == data_dir / "Beauty" / "Beauty.txt"
    status = read_status("Beauty", data_dir)
    assert status["status"] == "ok"
    assert status["sha256"] == BEAUTY_SHA
    assert status["sha256"] == registry.DATASETS["Beauty"].sequences.sha256
    assert hashlib.sha256(path.read_bytes()).hexdigest() == BEAUTY_SHA
    assert (data_dir / "Beauty" / "item2attributes.json").is_file()
