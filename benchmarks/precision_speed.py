"""FP32 vs FP16 vs INT8 on ONNX Runtime's CPU: per phase and end to end, as ratios from one run.

Needs a build with precision variants (``python -m export build --precision fp32,fp16,int8 ...``).
Per phase, each variant runs the build's own calibration feeds (real crops), the variants taking
turns feed by feed so that a busy machine slows them alike; the figure is the median of the
runners' own inference times. End to end, a ``Session`` per precision tracks the same frames.

    .venv/bin/python -m benchmarks.precision_speed --model out/scs-siam [--sequence DIR] [--frames 60]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import CROSSING, data_root, read_frames
from edge_tracker.backends.onnxruntime import OnnxRuntimeRunner
from edge_tracker.manifest import MANIFEST_NAME
from edge_tracker.session import Session


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a build folder with precision variants")
    parser.add_argument("--precision", default=None, help="comma-separated (default: every variant built)")
    parser.add_argument("--sequence", type=Path, default=None, help="default: OTB Crossing in the data folder")
    parser.add_argument("--frames", type=int, default=60, help="frames tracked end to end, the first included")
    parser.add_argument("--feeds", type=int, default=8, help="calibration feeds timed per phase")
    parser.add_argument("--repeats", type=int, default=3, help="runs of every feed per variant")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: its default)")
    parser.add_argument("--smoke", action="store_true", help="a few feeds and frames (synthetic if no data)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.frames, args.feeds, args.repeats = min(args.frames, 6), min(args.feeds, 2), 1
    manifest = json.loads((args.model / MANIFEST_NAME).read_text())
    built = manifest.get("precisions", ["fp32"])
    precisions = args.precision.split(",") if args.precision else built
    from calibration.store import CalibrationSet

    calibration = CalibrationSet(manifest["calibration"]["folder"])
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"{platform.platform()}; {manifest['tracker']} from {args.model}; ONNX Runtime threads "
          f"{args.threads or 'default'}")
    print(f"per phase: median of the runner's inference times over {args.feeds} calibration feeds x "
          f"{args.repeats}, variants taking turns")
    print(f"  {'phase':<15}" + "".join(f"{p:>10}" for p in precisions) +
          "".join(f"{'fp32/' + p:>12}" for p in precisions if p != "fp32"))
    for phase in manifest["phases"]:
        runners = {p: OnnxRuntimeRunner(args.model / phase["variants"][p]["file"], threads=args.threads).activate()
                   for p in precisions}
        times: dict[str, list[float]] = {p: [] for p in precisions}
        feeds = list(calibration.feeds(phase["name"], limit=args.feeds))
        for runner in runners.values():
            runner.infer(feeds[0])  # warm-up: first-run allocations
        for _ in range(args.repeats):
            for feed in feeds:
                for p, runner in runners.items():
                    runner.infer(feed)
                    times[p].append(runner.last_inference_ms)
        medians = {p: float(np.median(v)) for p, v in times.items()}
        print(f"  {phase['name']:<15}" + "".join(f"{medians[p]:10.2f}" for p in precisions) +
              "".join(f"{medians['fp32'] / medians[p]:12.2f}" for p in precisions if p != "fp32"))
        for runner in runners.values():
            runner.deactivate()

    sequence = args.sequence or data_root() / CROSSING
    frames = read_frames(sequence, range(args.frames), smoke=args.smoke)
    print(f"end to end on {frames.describe()} ({len(frames.images) - 1} tracked frames; the precisions' "
          "trackers take turns frame by frame):")
    per_frame: dict[str, list[float]] = {p: [] for p in precisions}
    sessions = {p: Session(args.model, precision=p, device="cpu") for p in precisions}
    try:
        trackers = {p: session.new_tracker() for p, session in sessions.items()}
        for tracker in trackers.values():
            tracker.initialize(frames.images[0], frames.boxes[0])
        for image in frames.images[1:]:
            for p, tracker in trackers.items():
                start = time.perf_counter()
                tracker.track(image)
                per_frame[p].append(time.perf_counter() - start)
    finally:
        for session in sessions.values():
            session.close()
    fps = {p: len(v) / sum(v) for p, v in per_frame.items()}
    for p in precisions:
        print(f"  {p:<5} {fps[p]:7.2f} FPS tracker alone, median frame {1e3 * np.median(per_frame[p]):7.1f} ms"
              + (f", {fps[p] / fps['fp32']:.2f}x fp32" if p != "fp32" and "fp32" in fps else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
