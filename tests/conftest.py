"""Shared test fixtures: the optional real data in ../shared/data, skipped with a reason when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("EDGE_TRACKER_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the real tracking data; tests that need it skip when it is not on this machine."""
    if not (SHARED_DATA / "sequences").is_dir():
        pytest.skip(f"real tracking data not found at {SHARED_DATA} (set EDGE_TRACKER_DATA to use it)")
    return SHARED_DATA
