"""The classifier's learning on this CPU: both learners, updates whole or spread, over a long clip.

    .venv/bin/python -m benchmarks.learner_timing [--frames 4000] [--model EXPORT_DIR]
        [--learners numpy,graph] [--spread 0,10] [--lockstep [--sequence DIR]] [--json OUT] [--smoke]

AFF-ATOM (default: the demo checkpoint's export, built on first use) on ONNX Runtime's CPU tracks
one generated clip (``generate_sequence``, seed 11) once per configuration, learner x
``update_spread_frames``, each with a fresh tracker. Per configuration:

- first frame: ``initialize`` (backbone on the augmented copies and the first-frame learning), s;
- updates: filter updates completed; update per call: the update stage's time summed over the
  frames one update ran on (its whole cost), ms; worst update frame: the largest update stage of
  one frame, ms; update per frame: the update stage over all frames (inserting samples included), ms;
- frame time p50 / p99 / max and p99/p50 of the whole ``track()`` call, ms; FPS: frames / their
  summed ``track()`` time (the tracker alone, as the issue's figures);
- FLOPs of one call of each learning graph (``edge_tracker.profiling.roofline``: 2 per multiply-add)
  and its roofline bound on a Jetson Orin Nano at FP32 and FP16 (a projection, not a measurement).

``--lockstep``: on a real sequence (OTB Crossing by default), the numpy and graph learners track
frame by frame with every tracking state but the learner shared; printed from a shared first-frame
classifier (the updates alone differ) and from each learner's own first frame. ``--smoke``: 40
frames, spread 0 and 5, a synthetic sequence for the lockstep where the real data is absent.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import CROSSING, data_root, read_frames
from edge_tracker.errors import EdgeTrackerError
from edge_tracker.profiling.roofline import DEVICES, fps_bound, graph_cost
from edge_tracker.session import Session
from edge_tracker.trackers import build_tracker, tracker_params
from edge_tracker.trackers.learning import GRAPH_PHASES

TRACKER = "aff-atom"
DEFAULT_FRAMES = 4000
SMOKE_FRAMES = 40
CLIP_SEED = 11
ROOFLINE_DEVICE = "orin-nano"
NOT_SHARED = ("runners", "params", "preprocessor", "learner")  # lockstep: each tracker keeps these


@dataclass
class Run:
    """One configuration's figures (see the module docstring)."""

    learner: str
    spread: int
    frames: int
    first_frame_s: float
    updates: int
    update_per_call_ms: float
    worst_update_frame_ms: float
    update_per_frame_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    fps: float

    @property
    def ratio(self) -> float:
        return self.p99_ms / self.p50_ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=None,
                        help=f"frames of the generated clip, the first included (default {DEFAULT_FRAMES}; "
                             f"{SMOKE_FRAMES} with --smoke)")
    parser.add_argument("--model", type=Path, default=None, help="an AFF-ATOM export folder (default: the demo's)")
    parser.add_argument("--learners", default="numpy,graph", help="comma-separated from numpy,graph")
    parser.add_argument("--spread", default=None, help="update_spread_frames values, comma-separated (default 0,10)")
    parser.add_argument("--lockstep", action="store_true", help="also compare the learners frame by frame")
    parser.add_argument("--sequence", type=Path, default=None, help=f"lockstep sequence (default <data>/{CROSSING})")
    parser.add_argument("--json", type=Path, default=None, help="write every figure as JSON")
    parser.add_argument("--smoke", action="store_true", help="a quick run: few frames, synthetic lockstep if no data")
    args = parser.parse_args(argv)
    count = args.frames if args.frames is not None else (SMOKE_FRAMES if args.smoke else DEFAULT_FRAMES)
    learners = [name.strip() for name in args.learners.split(",") if name.strip()]
    spreads = [int(v) for v in (args.spread or ("0,5" if args.smoke else "0,10")).split(",")]
    if count < 12 or not set(learners) <= {"numpy", "graph"} or min(spreads) < 0:
        parser.error(f"need --frames >= 12 (got {count}), --learners from numpy,graph (got {args.learners}) "
                     f"and --spread values >= 0 (got {spreads})")
    try:
        model = args.model or _demo_model()
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores; {TRACKER} from {model}")
        from edge_tracker.datasets.synthetic import SyntheticConfig, generate_sequence

        clip = generate_sequence(CLIP_SEED, SyntheticConfig(num_frames=count))
        print(f"generated clip {clip.name}: {count} frames of {clip.frames.shape[2]}x{clip.frames.shape[1]}")
        runs = []
        with Session(model, tracker=TRACKER) as session:
            for learner in learners:
                for spread in spreads:
                    runs.append(timed_run(session, clip, learner, spread))
                    print(f"  done: learner={learner} update_spread_frames={spread}", flush=True)
            report(runs)
            costs = learning_costs(model)
            sequence = args.sequence or data_root() / CROSSING
            lock = lockstep(session, sequence, args.smoke) if args.lockstep else None
        if args.json:
            args.json.write_text(json.dumps({"machine": platform.machine(), "cores": os.cpu_count(), "model": str(model),
                                             "frames": count, "runs": [asdict(r) | {"ratio": r.ratio} for r in runs],
                                             "graphs": costs, "lockstep": lock}, indent=2) + "\n")
    except EdgeTrackerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _demo_model() -> Path:
    from edge_tracker.demo import demo_export

    return demo_export(TRACKER)


def timed_run(session: Session, clip, learner: str, spread: int) -> Run:
    """One fresh tracker over the clip; every frame's ``track()`` and update-stage times."""
    params = {**session.recommended, "learner": learner, "update_spread_frames": spread}
    tracker = build_tracker(session.name, session.runners, tracker_params(session.name, params))
    start = time.perf_counter()
    tracker.initialize(clip.frames[0], clip.boxes[0])
    first = time.perf_counter() - start
    frame_ms, update_ms, per_update, current = [], [], [], 0.0
    for image in clip.frames[1:]:
        done = tracker.learner.updates_done
        working = tracker.learner.updating
        start = time.perf_counter()
        result = tracker.track(image)
        frame_ms.append(1e3 * (time.perf_counter() - start))
        update_ms.append(result.timings_ms["update"])
        if working or tracker.learner.updating or tracker.learner.updates_done > done:
            current += update_ms[-1]  # a frame with update work: its update stage counts for that update
        if tracker.learner.updates_done > done:
            per_update.append(current)
            current = 0.0
    frames = np.array(frame_ms)
    worst = max((u for u in update_ms), default=0.0)
    return Run(learner, spread, len(frames), first, tracker.learner.updates_done,
               float(np.mean(per_update)) if per_update else 0.0, worst, float(np.mean(update_ms)),
               float(np.percentile(frames, 50)), float(np.percentile(frames, 99)), float(frames.max()),
               len(frames) / (frames.sum() / 1e3))


def report(runs: list[Run]) -> None:
    print(f"\n  {'learner':7s} {'spread':>6s} {'first frame':>11s} {'updates':>7s} {'update/call':>11s} "
          f"{'worst frame':>11s} {'update/frame':>12s} {'p50':>7s} {'p99':>7s} {'p99/p50':>7s} {'max':>7s} {'FPS':>6s}")
    for r in runs:
        print(f"  {r.learner:7s} {r.spread:6d} {r.first_frame_s:9.2f} s {r.updates:7d} {r.update_per_call_ms:8.1f} ms "
              f"{r.worst_update_frame_ms:8.1f} ms {r.update_per_frame_ms:9.1f} ms {r.p50_ms:7.1f} {r.p99_ms:7.1f} "
              f"{r.ratio:7.2f} {r.max_ms:7.1f} {r.fps:6.1f}")
    print("  (times in ms unless marked; frame times are whole track() calls)")


def learning_costs(model: Path) -> dict[str, dict[str, float]]:
    """FLOPs of one call of each learning graph, and its roofline bound on an Orin Nano (calls/s)."""
    device = DEVICES[ROOFLINE_DEVICE]
    costs = {}
    print(f"\n  learning graphs: GFLOPs per call (2 per multiply-add); roofline bound on {device.name}, "
          "calls/s (a projection)")
    for name in GRAPH_PHASES:
        path = Path(model) / f"{name}.onnx"
        cost = graph_cost(path)
        bound = {precision: fps_bound(graph_cost(path, precision), device, precision) for precision in ("fp32", "fp16")}
        costs[name] = {"gflops": cost.flops / 1e9, "mbytes": cost.bytes / 1e6,
                       **{f"bound_{p}_per_s": v for p, v in bound.items()}}
        print(f"  {name:22s} {cost.flops / 1e9:7.3f} GFLOPs {cost.bytes / 1e6:8.1f} MB   "
              f"fp32 <= {bound['fp32']:7.0f}/s   fp16 <= {bound['fp16']:7.0f}/s")
    return costs


def lockstep(session: Session, sequence: Path, smoke: bool) -> dict[str, dict[str, float]]:
    """numpy vs graph learner, all tracking state but the learner shared before each frame."""
    frames = read_frames(sequence, range(10**5 if not smoke else 24), smoke=smoke)
    print(f"\n  lockstep on {frames.describe()}: per-frame max |numpy - graph| box difference")
    results = {}
    for shared in (True, False):
        trackers = [build_tracker(session.name, session.runners,
                                  tracker_params(session.name, {**session.recommended, "learner": learner}))
                    for learner in ("numpy", "graph")]
        for tracker in trackers:
            tracker.initialize(frames.images[0], frames.boxes[0])
        if shared:
            trackers[1].learner.load_state(trackers[0].learner.state())
        differences, same = [], 0
        for image in frames.images[1:]:
            for key, value in vars(trackers[0]).items():
                if key not in NOT_SHARED:
                    setattr(trackers[1], key, copy.deepcopy(value))
            a, b = (tracker.track(image) for tracker in trackers)
            differences.append(float(np.abs(a.box - b.box).max()))
            same += a.state == b.state
        d = np.array(differences)
        label = "shared first frame" if shared else "own first frames"
        results[label] = {"frames": len(d), "max_px": float(d.max()), "median_px": float(np.median(d)),
                          "p95_px": float(np.percentile(d, 95)), "same_state": same,
                          "updates": [t.learner.updates_done for t in trackers]}
        print(f"  {label:18s}: max {d.max():.4f} px, median {np.median(d):.4f}, 95th percentile "
              f"{np.percentile(d, 95):.4f} over {len(d)} frames; same state on {same}; "
              f"updates {results[label]['updates'][0]} (numpy) / {results[label]['updates'][1]} (graph)")
    return results


if __name__ == "__main__":
    sys.exit(main())
