"""Tracking on a real sequence: FPS and per-stage latency per backend, and their box agreement.

One checkpoint, two ``edge_tracker.session.Session``s: ``ort`` on its ONNX export, ``torch`` (the
PyTorch reference) on the checkpoint itself. Seeded random weights unless ``--checkpoint`` is given,
so the boxes say nothing about accuracy; the point is speed and backend agreement on identical
frames. From the repository root:

    .venv/bin/python -m benchmarks.tracking_backends --tracker aff-atom [--frames 120]
        [--sequence ../shared/data/sequences/otb/Crossing] [--checkpoint FILE [--onnx EXPORT_DIR]]
        [--lockstep] [--smoke]

Free-running, each backend tracks on its own. With ``--lockstep`` the PyTorch tracker is also given
the ONNX Runtime tracker's state before every frame, so the figure is each frame's own
disagreement, not an accumulated one (an untrained tracker drifts, and drift amplifies any
difference). ``--smoke``: 8 frames, and a synthetic sequence where the real data is absent.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import CROSSING, Frames, data_root, export_onnx, read_frames, seeded_checkpoint
from edge_tracker.backends.base import Runner
from edge_tracker.errors import EdgeTrackerError
from edge_tracker.names import DEFAULT_TRACKER, TRACKERS
from edge_tracker.session import Session
from edge_tracker.stats import StageStats

DEFAULT_FRAMES = 120
SMOKE_FRAMES = 8
DRIFT_PX = 0.5  # a box difference above this is reported as the first frame of disagreement
NOT_STATE = ("params", "preprocessor")  # tracker attributes --lockstep does not copy (besides runners)


@dataclass
class Tracked:
    """One backend's run over the frames."""

    boxes: np.ndarray  # [frames - 1, 4] xywh, the tracked frames
    states: list[str]
    init_ms: float
    stages: StageStats  # the tracker's own stages, and "track" (the whole call)

    def fps(self) -> float:
        seconds = self.stages.total_ms("track") / 1e3
        return len(self.states) / seconds if seconds > 0 else float("inf")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracker", choices=TRACKERS, default=DEFAULT_TRACKER)
    parser.add_argument("--frames", type=int, default=None,
                        help=f"frames to track, the first included (default {DEFAULT_FRAMES}; "
                             f"{SMOKE_FRAMES} with --smoke)")
    parser.add_argument("--sequence", type=Path, default=None,
                        help=f"a sequence folder (default: <data>/{CROSSING})")
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: seeded random weights")
    parser.add_argument("--onnx", type=Path, default=None,
                        help="an export folder of --checkpoint to run instead of exporting it here")
    parser.add_argument("--lockstep", action="store_true", help="also compare frame by frame from a shared state")
    parser.add_argument("--smoke", action="store_true", help="a quick run: few frames, synthetic if no data")
    args = parser.parse_args(argv)
    count = args.frames if args.frames is not None else (SMOKE_FRAMES if args.smoke else DEFAULT_FRAMES)
    if count < 2:
        parser.error(f"--frames must be at least 2 (one to initialise, one to track), got {count}")
    if args.onnx and not args.checkpoint:
        parser.error("--onnx needs the --checkpoint it was exported from (the torch backend runs that)")
    try:
        frames = read_frames(args.sequence or data_root() / CROSSING, range(count), smoke=args.smoke)
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores; {args.tracker} on {frames.describe()}")
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = args.checkpoint or seeded_checkpoint(args.tracker, Path(tmp))
            models = {"ort": args.onnx or export_onnx(args.tracker, checkpoint, Path(tmp) / "onnx"),
                      "torch": checkpoint}
            tracked = {}
            for backend, model in models.items():
                with Session(model, tracker=args.tracker, backend=backend) as session:
                    tracked[backend] = track(session, frames)
                report(backend, tracked[backend])
            diff = np.abs(tracked["ort"].boxes - tracked["torch"].boxes).max(axis=1)
            over = np.flatnonzero(diff > DRIFT_PX)
            first_over = int(over[0]) + 1 if over.size else None
            print(f"free-running: max |ort - torch| box difference over {len(diff)} frames: {diff.max():.3f} px "
                  f"(median {np.median(diff):.3f}; first frame above {DRIFT_PX} px: {first_over})")
            if args.lockstep:
                lockstep(models, args.tracker, frames)
    except EdgeTrackerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def track(session: Session, frames: Frames) -> Tracked:
    """Initialise a fresh tracker on the first frame, track the rest, keep every stage's time."""
    tracker = session.new_tracker()
    start = time.perf_counter()
    tracker.initialize(frames.images[0], frames.boxes[0])
    init_ms = 1e3 * (time.perf_counter() - start)
    stages, boxes, states = StageStats(), [], []
    for image in frames.images[1:]:
        start = time.perf_counter()
        result = tracker.track(image)
        stages.add_all(result.timings_ms)
        stages.add("track", 1e3 * (time.perf_counter() - start))
        boxes.append(result.box)
        states.append(result.state)
    return Tracked(np.array(boxes), states, init_ms, stages)


def report(backend: str, run: Tracked) -> None:
    states = {s: run.states.count(s) for s in dict.fromkeys(run.states)}
    print(f"{backend:5s}: {run.fps():6.2f} FPS over {len(run.states)} frames (tracker alone), first frame "
          f"{run.init_ms / 1e3:.2f} s; states {states}")
    print(run.stages.table(indent="  "))  # per stage: mean, p50, p90, p99, max


def lockstep(models: dict[str, Path], tracker_name: str, frames: Frames) -> None:
    """Each frame tracked by both backends from the ORT tracker's state: per-frame disagreement."""
    with Session(models["ort"], tracker=tracker_name, backend="ort") as ort, \
            Session(models["torch"], tracker=tracker_name, backend="torch") as reference:
        ours, theirs = ort.new_tracker(), reference.new_tracker()
        for tracker in (ours, theirs):
            tracker.initialize(frames.images[0], frames.boxes[0])
        diffs, same_state = [], 0
        for image in frames.images[1:]:
            _copy_state(ours, theirs)
            a, b = ours.track(image), theirs.track(image)
            diffs.append(float(np.abs(a.box - b.box).max()))
            same_state += a.state == b.state
    print(f"lockstep: max |ort - torch| box difference per frame over {len(diffs)} frames: "
          f"{max(diffs):.3f} px (median {np.median(diffs):.3f}); same state on {same_state} of {len(diffs)} frames")


def _copy_state(source, target) -> None:
    """Give ``target`` a copy of ``source``'s tracking state (not its runners, parameters or preprocessor)."""
    for key, value in vars(source).items():
        runners = isinstance(value, Runner) or (isinstance(value, dict) and value
                                                and all(isinstance(v, Runner) for v in value.values()))
        if key not in NOT_STATE and not runners:
            setattr(target, key, copy.deepcopy(value))


if __name__ == "__main__":
    sys.exit(main())
