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


def read_otb_sequence(root: Path, indices: list[int]):
    """Frames (BGR uint8) and 0-based xywh boxes of an OTB-layout sequence at ``indices``.

    A deliberately small reader for tests; the full dataset readers live with the training code.
    """
    import cv2
    import numpy as np

    text = (root / "groundtruth_rect.txt").read_text().replace("\t", ",").replace(" ", ",")
    rows = [[float(v) for v in line.split(",") if v] for line in text.splitlines() if line.strip()]
    frames = sorted((root / "img").glob("*.jpg"))
    images = [cv2.imread(str(frames[i]), cv2.IMREAD_COLOR) for i in indices]
    boxes = [np.array(rows[i], dtype=np.float64) - np.array([1.0, 1.0, 0.0, 0.0]) for i in indices]
    return images, boxes
