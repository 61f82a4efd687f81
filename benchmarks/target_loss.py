"""Target loss: generated clips where the target leaves the view wholly and comes back, both trackers.

    .venv/bin/python -m benchmarks.target_loss [--tracker NAME ...] [--model EXPORT_DIR] [--clips 4]
        [--frames 100] [--json OUT] [--smoke]

Clips: ``generate_sequence(seed, ...)`` for seeds 0..clips-1 with the default nuisances (noise,
distractors, lighting), no occluder, and ``leave_frames=15, leave_at=0.3, return_shift=0.3``: from
30% of the clip the target crosses the nearest border, is wholly out of view (NaN ground truth) for
15 frames, and comes back 0.3 x that border's length away from where it left. Each tracker (default:
both demo checkpoints, ONNX Runtime on the CPU) runs each clip three times, with fresh trackers:

- ``off``: ``lost_after_frames=0``, the behaviour before issue 16 (no loss state, no re-detection);
- ``hold``: loss reported, ``redetect=false`` (the box holds; only where it was lost is searched);
- ``redetect``: the defaults (loss reported, wider search while lost).

Per clip: **report**: the first ``not_found`` frame from the last wholly visible frame before the
absence on, minus the first absent frame (negative: reported while part of the target still
showed; the visible share then is given too); **recover**: the first frame from the return on
(first visible frame after the absence) with IoU > 0.5 and a state other than ``not_found``, minus
the return frame; **AUC return**: the success AUC (OTB: IoU thresholds 0..1, strict) over the
frames from the return to the end. The table gives the mean over clips of each (report and recover
over the clips where it happened, with the count). ``--smoke``: one 30-frame clip (the test suite).

Exit codes: 0 done, 2 bad arguments or no model.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from edge_tracker.command_line import positive_int
from edge_tracker.datasets.synthetic import SyntheticConfig, generate_sequence
from edge_tracker.errors import EdgeTrackerError
from edge_tracker.evaluation.metrics import iou, success_curve
from edge_tracker.profiling.machine import cpu_name
from edge_tracker.session import Session
from edge_tracker.trackers import build_tracker, tracker_params

TRACKERS = ("scs-siam", "aff-atom")
VARIANTS = {"off": {"lost_after_frames": 0}, "hold": {"redetect": False}, "redetect": {}}
CLIP = {"leave_frames": 15, "leave_at": 0.3, "return_shift": 0.3, "occlusion_probability": 0.0}
SMOKE_CLIP = {"leave_frames": 4, "leave_at": 0.3, "leave_speed": 12.0, "return_shift": 0.3,
              "occlusion_probability": 0.0}


def leave_clips(count: int, frames: int, smoke: bool = False) -> list:
    """The generated leave-and-return clips (see the module doc), seeds 0..count-1."""
    settings = SMOKE_CLIP if smoke else CLIP
    return [generate_sequence(seed, SyntheticConfig.from_dict({"num_frames": frames, **settings}),
                              name=f"leave_seed{seed}") for seed in range(count)]


def track_clip(session: Session, overrides: dict, clip) -> tuple[np.ndarray, list[str], float]:
    """A fresh tracker with ``overrides`` over ``clip``: boxes ``[N, 4]`` (frame 0: the given box),
    states (frame 0: ``init``) and the seconds spent in ``track()``."""
    params = tracker_params(session.name, {**session.recommended, **overrides})
    tracker = build_tracker(session.name, session.runners, params)
    tracker.initialize(clip.frames[0], clip.boxes[0])
    boxes, states, seconds = [clip.boxes[0].copy()], ["init"], 0.0
    for frame in clip.frames[1:]:
        start = time.perf_counter()
        result = tracker.track(frame)
        seconds += time.perf_counter() - start
        boxes.append(result.box)
        states.append(result.state)
    return np.array(boxes), states, seconds


def clip_figures(clip, boxes: np.ndarray, states: list[str]) -> dict:
    """Frames to report the loss and to recover, success AUC after the return (module doc)."""
    absent = np.flatnonzero(~np.isfinite(clip.boxes).all(axis=1))
    if absent.size == 0:
        raise EdgeTrackerError(f"clip {clip.name} has no absent frame; it cannot measure a loss")
    first_absent = int(absent[0])
    after = np.flatnonzero(np.isfinite(clip.boxes).all(axis=1) & (np.arange(len(clip)) > first_absent))
    back = int(after[0]) if after.size else len(clip)
    visible_before = np.flatnonzero((clip.visible >= 1.0) & (np.arange(len(clip)) < first_absent))
    since = int(visible_before[-1]) if visible_before.size else 1
    lost = [t for t in range(max(since, 1), back) if states[t] == "not_found"]
    overlaps = iou(boxes, clip.boxes)
    found = [t for t in range(back, len(clip)) if overlaps[t] > 0.5 and states[t] != "not_found"]
    auc = float(np.mean(success_curve(overlaps[back:]))) if back < len(clip) else float("nan")
    return {"clip": clip.name, "first_absent": first_absent, "return": back,
            "report": lost[0] - first_absent if lost else None,
            "visible_at_report": float(clip.visible[lost[0]]) if lost else None,
            "recover": found[0] - back if found else None, "auc_return": auc}


def summary(rows: list[dict]) -> dict:
    """Means over clips: report and recover over the clips where they happened."""
    reported = [r["report"] for r in rows if r["report"] is not None]
    recovered = [r["recover"] for r in rows if r["recover"] is not None]
    visible = [r["visible_at_report"] for r in rows if r["visible_at_report"] is not None]
    return {"clips": len(rows), "reported": len(reported), "recovered": len(recovered),
            "report_mean": float(np.mean(reported)) if reported else None,
            "visible_at_report_mean": float(np.mean(visible)) if visible else None,
            "recover_mean": float(np.mean(recovered)) if recovered else None,
            "auc_return_mean": float(np.nanmean([r["auc_return"] for r in rows]))}


def table(results: dict) -> str:
    def fmt(value, spec):
        return "-" if value is None else format(value, spec)

    lines = [(f"{'tracker':9} {'variant':9} {'reported':>8} {'report (frames)':>15} {'visible then':>12} "
              f"{'recovered':>9} {'recover (frames)':>16} {'AUC return':>10} {'FPS':>6}")]
    for (tracker, variant), entry in results.items():
        s = entry["summary"]
        lines.append(f"{tracker:9} {variant:9} {s['reported']:>4}/{s['clips']:<3} {fmt(s['report_mean'], '+.1f'):>15} "
                     f"{fmt(s['visible_at_report_mean'], '.2f'):>12} {s['recovered']:>5}/{s['clips']:<3} "
                     f"{fmt(s['recover_mean'], '.1f'):>16} {s['auc_return_mean']:>10.3f} {entry['fps']:>6.1f}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.target_loss", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracker", action="append", choices=TRACKERS, default=None,
                        help="tracker to measure (repeatable; default: both)")
    parser.add_argument("--model", type=Path, default=None, help="export folder (one --tracker only); default: demo")
    parser.add_argument("--clips", type=positive_int, default=4, help="generated clips, seeds 0.. (default 4)")
    parser.add_argument("--frames", type=positive_int, default=100, help="frames per clip (default 100)")
    parser.add_argument("--json", type=Path, default=None, help="write every clip's figures as JSON")
    parser.add_argument("--smoke", action="store_true", help="one 30-frame clip: the test suite's run")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    trackers = args.tracker or list(TRACKERS)
    if args.model is not None and len(trackers) != 1:
        print("--model holds one tracker: give one --tracker with it", file=sys.stderr)
        return 2
    if args.smoke:
        args.clips, args.frames = 1, 30
    print(f"machine: {cpu_name()}, {platform.platform()}; ONNX Runtime on the CPU", flush=True)
    clips = leave_clips(args.clips, args.frames, smoke=args.smoke)
    print(f"clips: {args.clips} x {args.frames} frames, target absent over frames "
          + ", ".join(f"{int(np.flatnonzero(np.isnan(c.boxes[:, 0]))[0])}-"
                      f"{int(np.flatnonzero(np.isnan(c.boxes[:, 0]))[-1])}" for c in clips), flush=True)
    results = {}
    try:
        for name in trackers:
            with Session(args.model, tracker=name) as session:
                for variant, overrides in VARIANTS.items():
                    rows, frames, seconds = [], 0, 0.0
                    for clip in clips:
                        boxes, states, spent = track_clip(session, overrides, clip)
                        rows.append({**clip_figures(clip, boxes, states), "states": states})
                        frames, seconds = frames + len(clip) - 1, seconds + spent
                    results[(name, variant)] = {"rows": rows, "summary": summary(rows),
                                                "fps": frames / max(seconds, 1e-9)}
                    print(f"{name} {variant}: {frames} frames in {seconds:.0f} s", flush=True)
    except EdgeTrackerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table(results))
    if args.json is not None:
        args.json.write_text(json.dumps([{"tracker": t, "variant": v, **entry} for (t, v), entry in results.items()],
                                        indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
