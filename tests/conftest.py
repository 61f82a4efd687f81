"""Shared test fixtures: the optional real data in ../shared/data, skipped with a reason when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.common import randomise_batchnorm  # noqa: F401 - one definition, shared with the benchmarks

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("EDGE_TRACKER_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the real tracking data; tests that need it skip when it is not on this machine."""
    if not (SHARED_DATA / "sequences").is_dir():
        pytest.skip(f"real tracking data not found at {SHARED_DATA} (set EDGE_TRACKER_DATA to use it)")
    return SHARED_DATA


def read_otb_sequence(root: Path, indices: list[int]):
    """Frames (BGR uint8) and 0-based xywh boxes of an OTB-layout sequence at ``indices``."""
    from edge_tracker.datasets.readers import load_otb

    sequence = load_otb(root)
    return [sequence.frame(i) for i in indices], [sequence.boxes[i].copy() for i in indices]


@pytest.fixture(scope="session")
def exports(tmp_path_factory):
    """``exports(tracker) -> (checkpoint, onnx_dir)``: one seeded export per tracker per test session.

    Exporting an ATOM tracker takes 1.5 min on 2 cores, so every test module that needs exported
    graphs shares these. The weights are seeded random with non-trivial BatchNorm statistics (so BN
    folding is exercised); the export goes through the CLI, as a user runs it.
    """
    cache: dict[str, tuple[Path, Path]] = {}

    def get(tracker: str) -> tuple[Path, Path]:
        if tracker not in cache:
            import torch

            from export.checkpoint import save_checkpoint
            from export.cli import main as export_main
            from export.models import build_model, default_config

            root = tmp_path_factory.mktemp(tracker)
            torch.manual_seed(11)
            model = build_model(default_config(tracker))
            randomise_batchnorm(model)
            checkpoint = save_checkpoint(root / "net.safetensors", model, model.config, meta={"test": True})
            out_dir = root / "onnx"
            code = export_main(["-q", "onnx", "--tracker", tracker, "--checkpoint", str(checkpoint),
                                "--out", str(out_dir)])
            assert code == 0, f"export of {tracker} failed with exit code {code}"
            cache[tracker] = (checkpoint, out_dir)
        return cache[tracker]

    return get
