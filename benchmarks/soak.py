"""Soak: many frames through the live-source path, watching the process's memory and file descriptors.

``python -m benchmarks.soak [--tracker NAME ...] [--frames 100000]`` generates a clip, loops it as a
live camera (``LiveSource``: a capture thread, newest frame only, drops counted), and runs
``session.run_stream`` (the frame loop of ``edge-tracker track``) with a JSON lines sink, for each
tracker (default: both demo trackers). Every ``--sample-every`` tracked frames it records the resident
set size (``VmRSS`` of /proc/self/status) and the number of open descriptors (/proc/self/fd), and
reports start (after ``--warmup`` frames), end and max of both. It passes when RSS grows by less than
``--max-growth-mb`` (5 MB) from the end of the warm-up to the end and no descriptor is left open
(end <= start). ``--smoke``: 40 frames, 10 of warm-up, SCS-Siam only (the test suite runs it).

Exit codes: 0 every tracker passed, 1 one leaked, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edge_tracker.command_line import positive_int
from edge_tracker.datasets.synthetic import SyntheticConfig, generate_sequence
from edge_tracker.session import Session, run_stream
from edge_tracker.video.live import CameraHandle
from edge_tracker.video.sinks import JsonlSink
from edge_tracker.video.sources import LiveSource

TRACKERS = ("scs-siam", "aff-atom")
SMOKE = {"frames": 40, "warmup": 10, "sample_every": 5, "progress_every": 0.0}


@dataclass
class Curve:
    """One tracker's soak: samples of (tracked frames, RSS in MB, open descriptors)."""

    tracker: str
    warmup: int
    samples: list = field(default_factory=list)
    dropped: int = 0
    seconds: float = 0.0

    def after_warmup(self) -> list:
        return [s for s in self.samples if s[0] >= self.warmup] or self.samples[-1:]

    def figures(self) -> dict:
        kept = self.after_warmup()
        rss, fds = [s[1] for s in kept], [s[2] for s in kept]
        return {"rss_mb": {"start": rss[0], "end": rss[-1], "max": max(rss), "growth": rss[-1] - rss[0]},
                "fds": {"start": fds[0], "end": fds[-1], "max": max(fds), "growth": fds[-1] - fds[0]}}


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise OSError("no VmRSS in /proc/self/status (not Linux?)")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def looped_camera(frames: list, fps: float):
    """An opener of a camera that delivers ``frames`` over and over at ``fps`` (0: as fast as read)."""
    def opener():
        cycle = itertools.cycle(frames)
        period = 1.0 / fps if fps > 0 else 0.0
        next_due = time.monotonic()

        def grab():
            nonlocal next_due
            if period:
                next_due += period
                time.sleep(max(0.0, next_due - time.monotonic()))
            return next(cycle)
        return CameraHandle(grab=grab)
    return opener


def soak(tracker: str, model, frames: list, args) -> Curve:
    curve = Curve(tracker, args.warmup)
    started, last_print = time.perf_counter(), [time.perf_counter()]

    def sample(frame, record, stats):
        tracked = frame.index  # frame 0 initialised; frame.index tracked frames so far
        if tracked % args.sample_every == 0:
            curve.samples.append((tracked, round(rss_mb(), 2), open_fds()))
            now = time.perf_counter()
            if args.progress_every > 0 and now - last_print[0] >= args.progress_every:
                last_print[0] = now
                _, rss, fds = curve.samples[-1]
                print(f"{tracker}: {tracked} of {args.frames} frames, {tracked / (now - started):.1f} FPS, "
                      f"RSS {rss:.1f} MB, {fds} descriptors", flush=True)

    with Session(model, tracker=tracker, device="cpu") as session, open(os.devnull, "w") as devnull:
        box = tuple(float(v) for v in frames[1])
        source = LiveSource(looped_camera(frames[0], args.camera_fps), name="looped clip", stall_timeout=30.0)
        start = time.perf_counter()
        with source:
            run = run_stream(session.new_tracker(), session.name, source, lambda _: [JsonlSink(devnull)],
                             init_box=box, max_frames=args.frames + 1, status=sample, input_uri="looped clip",
                             live=True)
        curve.seconds = time.perf_counter() - start
        curve.dropped = source.stats.dropped
    if run.exit_code != 0:
        raise RuntimeError(f"{tracker}: the run ended with {run.end}")
    return curve


def report(curves: list[Curve], max_growth_mb: float) -> tuple[str, bool]:
    lines = [f"{'tracker':<9} {'frames':>7} {'FPS':>6} {'dropped':>8}  RSS MB start / end / max (growth)      "
             "FDs start / end / max"]
    passed = True
    for curve in curves:
        f = curve.figures()
        tracked = curve.samples[-1][0] if curve.samples else 0
        ok = f["rss_mb"]["growth"] < max_growth_mb and f["fds"]["end"] <= f["fds"]["start"]
        passed = passed and ok
        lines.append(f"{curve.tracker:<9} {tracked:>7} {tracked / max(curve.seconds, 1e-9):>6.1f} {curve.dropped:>8}  "
                     f"{f['rss_mb']['start']:8.1f} / {f['rss_mb']['end']:8.1f} / {f['rss_mb']['max']:8.1f} "
                     f"({f['rss_mb']['growth']:+.1f})   {f['fds']['start']:4d} / {f['fds']['end']:4d} / "
                     f"{f['fds']['max']:4d}  {'pass' if ok else 'LEAK'}")
    lines.append(f"pass: RSS growth after warm-up < {max_growth_mb:g} MB and no descriptor left open")
    return "\n".join(lines), passed


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracker", action="append", choices=TRACKERS, default=None,
                        help="tracker to soak (repeatable; default: both)")
    parser.add_argument("--model", type=Path, default=None, help="export folder (one --tracker only); default: demo")
    parser.add_argument("--frames", type=positive_int, default=100_000, help="frames to track per tracker")
    parser.add_argument("--warmup", type=positive_int, default=1_000, help="frames before the RSS start point")
    parser.add_argument("--sample-every", type=positive_int, default=100, help="frames between samples")
    parser.add_argument("--camera-fps", type=float, default=30.0, help="rate of the looped camera (0: unpaced)")
    parser.add_argument("--max-growth-mb", type=float, default=5.0, help="RSS growth allowed after warm-up")
    parser.add_argument("--progress-every", type=float, default=60.0,
                        help="seconds between progress lines (0: none)")
    parser.add_argument("--json", type=Path, default=None,
                        help="write the curves (every sample) as JSON, rewritten as each tracker finishes")
    parser.add_argument("--smoke", action="store_true", help="40 frames of SCS-Siam: the test suite's run")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.smoke:
        vars(args).update(SMOKE)
        args.tracker = args.tracker or ["scs-siam"]
    trackers = args.tracker or list(TRACKERS)
    if args.model is not None and len(trackers) != 1:
        print("--model holds one tracker: give one --tracker with it", file=sys.stderr)
        return 2
    sequence = generate_sequence(0, SyntheticConfig(num_frames=60))
    clip = ([frame for frame in sequence.frames], sequence.boxes[0])
    curves = []
    for tracker in trackers:
        curves.append(soak(tracker, args.model, clip, args))
        print(f"{tracker}: {curves[-1].samples[-1][0]} frames in {curves[-1].seconds:.0f} s", flush=True)
        if args.json is not None:  # after each tracker: a long soak's finished curves survive a later failure
            args.json.write_text(json.dumps([{**asdict(c), "figures": c.figures()} for c in curves], indent=1) + "\n")
    text, passed = report(curves, args.max_growth_mb)
    print(text)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
