"""What the benchmarks share: where the data is, the frames they run on, seeded random weights.

Benchmarks import the package and this module, never a test module (a benchmark that borrows test
helpers breaks unseen when the tests change). ``tests/benchmarks/test_smoke.py`` runs every
benchmark's ``--smoke`` mode, so a broken benchmark fails the test suite instead.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ENV = "EDGE_TRACKER_DATA"
CROSSING = Path("sequences/otb/Crossing")  # the OTB sequence the benchmarks default to
SMOKE_SEED = 0  # the synthetic sequence of smoke runs where the real data is absent


def data_root() -> Path:
    """The real tracking data: ``$EDGE_TRACKER_DATA``, else ``<repo>/../shared/data`` (read when called)."""
    return Path(os.environ.get(DATA_ENV) or REPO_ROOT.parent / "shared" / "data")


@dataclass(frozen=True)
class Frames:
    """Frames of one sequence a benchmark runs on, and their boxes."""

    name: str
    indices: tuple[int, ...]   # frame numbers in the sequence
    images: list[np.ndarray]   # BGR uint8 [H, W, 3], one per index
    boxes: np.ndarray          # [len(indices), 4] float64 xywh, 0-based (edge_tracker.geometry)
    synthetic: bool            # True: generated (no real data here), False: read from disk

    def describe(self) -> str:
        kind = "synthetic sequence" if self.synthetic else "sequence"
        return f"{kind} {self.name}, frames {list(self.indices)}" if len(self.indices) <= 4 else \
            f"{kind} {self.name}, frames {self.indices[0]}-{self.indices[-1]}"


def read_frames(sequence: Path, indices: Sequence[int], *, smoke: bool) -> Frames:
    """Frames ``indices`` of the sequence folder ``sequence`` (indices past its end are left out).

    Where ``sequence`` does not exist, a smoke run gets a sequence from
    ``edge_tracker.datasets.synthetic.generate_sequence`` instead; a full run gets an InputError
    naming the folder and the variable that points elsewhere.
    """
    from edge_tracker.errors import InputError

    indices = tuple(int(i) for i in indices)
    if sequence.exists():
        from edge_tracker.datasets.readers import load_sequence

        loaded = load_sequence(sequence)
        kept = tuple(i for i in indices if i < len(loaded))
        return Frames(loaded.name, kept, [loaded.frame(i) for i in kept], loaded.boxes[list(kept)].copy(), False)
    if not smoke:
        raise InputError(f"no tracking data at {sequence}: set {DATA_ENV} to the folder holding "
                         f"sequences/, pass --sequence, or run with --smoke (a synthetic sequence)")
    from edge_tracker.datasets.synthetic import generate_sequence

    generated = generate_sequence(SMOKE_SEED, {"num_frames": max(indices) + 1})
    return Frames(generated.name, indices, [generated.frames[i] for i in indices],
                  generated.boxes[list(indices)].copy(), True)


def seeded_checkpoint(tracker: str, folder: Path, seed: int = 11) -> Path:
    """A checkpoint of ``tracker`` with seeded random weights and non-trivial BatchNorm statistics.

    Random weights say nothing about accuracy; they exercise every operator (BN folding included)
    with realistic magnitudes, which is what parity and speed figures need.
    """
    import torch

    from export.checkpoint import save_checkpoint
    from export.models import build_model, default_config

    torch.manual_seed(seed)
    model = build_model(default_config(tracker))
    randomise_batchnorm(model, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(folder / f"{tracker}-seed{seed}.safetensors", model, model.config,
                           meta={"weights": f"random, seed {seed}"})


def randomise_batchnorm(model, seed: int = 5) -> None:
    """Non-trivial BN statistics (a fresh BN is the identity, and folding it would go untested)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            n = module.num_features
            module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
            module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            module.weight.data.copy_(0.5 + torch.rand(n, generator=generator))
            module.bias.data.copy_(0.1 * torch.randn(n, generator=generator))


def export_onnx(tracker: str, checkpoint: Path, out_dir: Path) -> Path:
    """Export ``checkpoint`` to ``out_dir`` (verified against PyTorch, as ``python -m export onnx`` does)."""
    from export.pipeline import export_tracker

    export_tracker(tracker, out_dir, checkpoint=checkpoint, progress=False)
    return out_dir
