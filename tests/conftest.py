"""Shared pytest fixtures."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

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
