"""Shared pytest fixtures."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only reference folder (``$ELCREC_SHARED`` or ``<repo>/../shared``).

    Tests that need it skip where it is absent, except under ``ELCREC_REQUIRE_SHARED=1`` (CI), where a missing
    folder is a failure rather than a silently skipped check.
    """
    path = Path(os.environ.get("ELCREC_SHARED") or REPO_ROOT.parent / "shared")
    if not path.is_dir():
        reason = f"shared reference folder not found at {path} (set ELCREC_SHARED)"
        if os.environ.get("ELCREC_REQUIRE_SHARED") == "1":
            pytest.fail(reason + " and ELCREC_REQUIRE_SHARED=1", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No data-path environment leaks in, and any attempt to reach the internet fails the test loudly.

    ``urllib.request.urlopen`` raises AssertionError (not URLError/OSError, which the fetch code catches), so a
    test that reaches out by accident fails instead of connecting. Tests that exercise the download path patch
    ``urlopen`` again with their own fake.
    """
    monkeypatch.delenv("ELCREC_DATA_MIRROR", raising=False)
    monkeypatch.delenv("ELCREC_DATA_DIR", raising=False)

    def _no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a test tried to reach the network: urlopen{args!r}")

    monkeypatch.setattr("urllib.request.urlopen", _no_network)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors: one thread is as fast, and OpenMP spin-waits make 2 threads crawl on a loaded 2-core box."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def tiny_workflow(shared_dir: Path, tmp_path_factory) -> Path:
    """The whole workflow on the tiny preset, run once locally (about two minutes on 2 cores), shared by tests."""
    from tests.workflow_run import snakemake

    work = tmp_path_factory.mktemp("tiny-workflow")
    result = snakemake(work, shared_dir, "all")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return work
