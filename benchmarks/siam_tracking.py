"""SCS-Siam tracking on a real sequence: FPS per backend and ORT vs PyTorch box agreement.

Seeded random weights (no trained checkpoint yet), so the boxes say nothing about accuracy; the
point is speed and backend agreement on identical frames. Run from the repository root:

    .venv/bin/python -m benchmarks.siam_tracking [FRAMES]
"""

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from edge_tracker.backends import load_runners
from edge_tracker.trackers.siamfc import SiamTracker
from export.checkpoint import save_checkpoint
from export.models import build_model, default_config
from export.pipeline import export_tracker
from tests.conftest import SHARED_DATA, read_otb_sequence


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 120
    sequence = SHARED_DATA / "sequences/otb/Crossing"
    if not sequence.is_dir():
        print(f"no tracking data at {sequence}", file=sys.stderr)
        return 2
    frames, boxes = read_otb_sequence(sequence, list(range(count)))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(2)
        model = build_model(default_config("scs-siam"))
        checkpoint = save_checkpoint(Path(tmp) / "net.safetensors", model, model.config)
        export_tracker("scs-siam", Path(tmp) / "onnx", checkpoint=checkpoint, progress=False)
        tracked = {}
        for backend, source in (("ort", Path(tmp) / "onnx"), ("torch", checkpoint)):
            _, runners = load_runners(source, backend)
            tracker = SiamTracker(runners)
            tracker.initialize(frames[0], boxes[0])
            start = time.perf_counter()
            results = [tracker.track(frame) for frame in frames[1:]]
            elapsed = time.perf_counter() - start
            tracked[backend] = np.array([r.box for r in results])
            network = np.mean([r.timings_ms["network"] for r in results])
            print(f"{backend:5s}: {len(results) / elapsed:.1f} FPS over {len(results)} frames "
                  f"(network {network:.0f} ms/frame; target 73 FPS)")
    diff = float(np.abs(tracked["ort"] - tracked["torch"]).max())
    print(f"max |ort - torch| box difference over {count - 1} frames: {diff:.3f} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
