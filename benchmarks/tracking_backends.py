"""Tracking on a real sequence: FPS per backend and ONNX Runtime vs PyTorch box agreement.

Seeded random weights unless ``--checkpoint`` is given, so the boxes say nothing about accuracy;
the point is speed and backend agreement on identical frames. From the repository root:

    .venv/bin/python -m benchmarks.tracking_backends --tracker aff-atom [--frames 120]
        [--sequence ../shared/data/sequences/otb/Crossing] [--checkpoint FILE] [--lockstep]

Free-running, each backend tracks on its own. With ``--lockstep`` the PyTorch tracker is also given
the ONNX Runtime tracker's state before every frame, so the figure is each frame's own
disagreement, not an accumulated one (an untrained tracker drifts, and drift amplifies any
difference).
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edge_tracker.backends import load_runners
from edge_tracker.datasets.readers import load_sequence
from edge_tracker.trackers import TRACKERS, build_tracker
from tests.conftest import SHARED_DATA


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracker", choices=TRACKERS, default="scs-siam")
    parser.add_argument("--frames", type=int, default=120, help="frames to track, including the first")
    parser.add_argument("--sequence", type=Path, default=SHARED_DATA / "sequences/otb/Crossing")
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: seeded random weights")
    parser.add_argument("--lockstep", action="store_true",
                        help="also compare frame by frame from a shared state")
    args = parser.parse_args(argv)
    if not args.sequence.exists():
        print(f"no tracking data at {args.sequence}", file=sys.stderr)
        return 2
    sequence = load_sequence(args.sequence)
    count = min(args.frames, len(sequence))
    frames = [sequence.frame(i) for i in range(count)]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores; {args.tracker} on "
          f"{sequence.name} frames 0-{count - 1}")
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or _seeded_checkpoint(args.tracker, Path(tmp))
        from export.pipeline import export_tracker

        export_tracker(args.tracker, Path(tmp) / "onnx", checkpoint=checkpoint, progress=False)
        tracked = {}
        for backend, source in (("ort", Path(tmp) / "onnx"), ("torch", checkpoint)):
            name, runners = load_runners(source, backend, tracker=args.tracker)
            tracker = build_tracker(name, runners)
            start = time.perf_counter()
            tracker.initialize(frames[0], sequence.init_box)
            init_s = time.perf_counter() - start
            start = time.perf_counter()
            results = [tracker.track(frame) for frame in frames[1:]]
            elapsed = time.perf_counter() - start
            tracked[backend] = np.array([r.box for r in results])
            stages = {key: np.mean([r.timings_ms.get(key, 0.0) for r in results])
                      for key in results[0].timings_ms}
            states = {s: sum(r.state == s for r in results) for s in {r.state for r in results}}
            print(f"{backend:5s}: {len(results) / elapsed:5.2f} FPS over {len(results)} frames, first frame "
                  f"{init_s:.2f} s; mean ms/frame " + ", ".join(f"{k} {v:.0f}" for k, v in stages.items())
                  + f"; states {states}")
        diff = np.abs(tracked["ort"] - tracked["torch"]).max(axis=1)
        first_over = int(np.argmax(diff > 0.5)) + 1 if (diff > 0.5).any() else None
        print(f"free-running: max |ort - torch| box difference over {count - 1} frames: {diff.max():.3f} px "
              f"(median {np.median(diff):.3f}; first frame above 0.5 px: {first_over})")
        if args.lockstep:
            trackers = {}
            for backend, source in (("ort", Path(tmp) / "onnx"), ("torch", checkpoint)):
                name, runners = load_runners(source, backend, tracker=args.tracker)
                trackers[backend] = build_tracker(name, runners)
                trackers[backend].initialize(frames[0], sequence.init_box)
            diffs, same_state = [], 0
            for frame in frames[1:]:
                for key, value in vars(trackers["ort"]).items():
                    if key not in ("runners", "params"):
                        setattr(trackers["torch"], key, copy.deepcopy(value))
                ours, reference = trackers["ort"].track(frame), trackers["torch"].track(frame)
                diffs.append(float(np.abs(ours.box - reference.box).max()))
                same_state += ours.state == reference.state
            print(f"lockstep: max |ort - torch| box difference per frame over {count - 1} frames: "
                  f"{max(diffs):.3f} px (median {np.median(diffs):.3f}); same state on {same_state} of "
                  f"{count - 1} frames")
    return 0


def _seeded_checkpoint(tracker: str, folder: Path) -> Path:
    import torch

    from export.checkpoint import save_checkpoint
    from export.models import build_model, default_config

    torch.manual_seed(2)
    model = build_model(default_config(tracker))
    return save_checkpoint(folder / "net.safetensors", model, model.config)


if __name__ == "__main__":
    sys.exit(main())
