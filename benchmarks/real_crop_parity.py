"""Print ONNX Runtime vs PyTorch parity of every phase of every tracker on real crops.

The crops are cut from OTB Crossing frames 0 and 6 (``$EDGE_TRACKER_DATA``, else ../shared/data) by
each tracker's own crop geometry (``edge_tracker.preprocess``) and ``OpenCVPreprocessor``, as in
tracking: the template (SiamFC) or first sample (ATOM) around frame 0's box, the search pyramid or
next sample on frame 6 around that same position. Phases that take another phase's output get it
from ONNX Runtime, as the tracker would. Each phase is compared by ``edge_tracker.compare`` (the
exported graph against the phase in PyTorch) and its table printed; exit 1 if any is over the fp32
tolerance. Weights are seeded random with randomised BatchNorm statistics unless ``--checkpoint``
is given. From the repository root:

    .venv/bin/python -m benchmarks.real_crop_parity [--trackers NAME ...] [--sequence DIR]
        [--checkpoint FILE [--onnx EXPORT_DIR]] [--smoke]

``--smoke``: scs-siam only, and a synthetic sequence where the real data is absent (~20 s on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import CROSSING, Frames, data_root, export_onnx, read_frames, seeded_checkpoint
from edge_tracker.backends import open_model
from edge_tracker.errors import EdgeTrackerError
from edge_tracker.geometry import box_center
from edge_tracker.names import SIAM_TRACKERS, TRACKERS
from edge_tracker.preprocess import (
    OpenCVPreprocessor,
    atom_sample_window,
    siamfc_scale_factors,
    siamfc_search_windows,
    siamfc_template_side,
    siamfc_template_window,
)
from edge_tracker.trackers import tracker_params

FRAMES = (0, 6)  # first frame (template / first sample), a later one (search / next sample)
SMOKE_TRACKERS = ["scs-siam"]  # its export takes ~10 s on 2 cores; an ATOM export ~90 s
PROPOSAL_JITTER = 0.1  # relative jitter of the IoU-Net proposals around the frame-6 box
SEED = 0  # proposals, classifier projections and filters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trackers", nargs="+", choices=TRACKERS, default=None,
                        help="default: every tracker (scs-siam with --smoke)")
    parser.add_argument("--sequence", type=Path, default=None,
                        help=f"an OTB-layout sequence folder (default: <data>/{CROSSING})")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="weights to check (one tracker); default: seeded random weights")
    parser.add_argument("--onnx", type=Path, default=None,
                        help="an export folder of --checkpoint to check instead of exporting it here")
    parser.add_argument("--smoke", action="store_true", help="a quick run: scs-siam, synthetic frames if no data")
    args = parser.parse_args(argv)
    trackers = args.trackers or (SMOKE_TRACKERS if args.smoke else list(TRACKERS))
    if (args.checkpoint or args.onnx) and len(trackers) != 1:
        parser.error("--checkpoint and --onnx hold one tracker: give it with --trackers NAME")
    if args.onnx and not args.checkpoint:
        parser.error("--onnx needs the --checkpoint it was exported from (the PyTorch reference)")
    try:
        frames = read_frames(args.sequence or data_root() / CROSSING, FRAMES, smoke=args.smoke)
        if len(frames.indices) < 2:
            print(f"{frames.name} has fewer than {FRAMES[-1] + 1} frames", file=sys.stderr)
            return 2
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores; crops from {frames.describe()}")
        failed = total = 0
        for tracker in trackers:
            with tempfile.TemporaryDirectory() as tmp:
                checkpoint = args.checkpoint or seeded_checkpoint(tracker, Path(tmp))
                onnx_dir = args.onnx or export_onnx(tracker, checkpoint, Path(tmp) / "onnx")
                for result in check_tracker(tracker, checkpoint, onnx_dir, frames):
                    total += 1
                    failed += not result.passed
                    print(f"[{tracker}] {result}", flush=True)
    except EdgeTrackerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{total - failed} of {total} phase comparisons within tolerance")
    return 1 if failed else 0


def check_tracker(tracker: str, checkpoint: Path, onnx_dir: Path, frames: Frames):
    """Yield the comparison of each phase of ``tracker`` (ONNX Runtime vs PyTorch) on ``frames``' crops."""
    from export.checkpoint import load_model
    from export.parity import check_phase
    from export.phases import build_phases

    reference, _ = load_model(checkpoint, expect_tracker=tracker)
    phases = {phase.name: phase for phase in build_phases(reference)}
    loaded = open_model(onnx_dir, "ort", tracker=tracker)
    try:
        runners = {name: runner.activate() for name, runner in loaded.runners.items()}
        params = tracker_params(tracker, loaded.recommended_params)
        feeds = siam_feeds(runners, frames, params) if tracker in SIAM_TRACKERS else atom_feeds(runners, frames, params)
        for name, feed in feeds:
            yield check_phase(phases[name], runners[name], [feed])
    finally:
        loaded.close()


def siam_feeds(runners, frames: Frames, params):
    """The template crop around frame 0's box; the scale pyramid on the later frame; its kernel from ORT."""
    template_size = runners["template"].input_metadata()["template"].shape[-1]
    num_scales, _, _, search_size = runners["search"].input_metadata()["search"].shape
    first, later = frames.images
    box = frames.boxes[0]
    mean = first.reshape(-1, 3).mean(axis=0)  # the trackers pad with the first frame's mean colour
    crops = OpenCVPreprocessor()
    crops.set_frame(first)
    template = crops.crops([siamfc_template_window(box, params.context, template_size, params.exemplar_size)],
                           template_size, mean)
    kernel = runners["template"].infer({"template": template})["kernel"]
    windows = siamfc_search_windows(box_center(box), siamfc_template_side(box, params.context),
                                    siamfc_scale_factors(num_scales, params.scale_step), search_size,
                                    params.exemplar_size)
    crops.set_frame(later)
    search = crops.crops(windows, search_size, mean)
    return [("template", {"template": template}), ("search", {"search": search, "kernel": kernel})]


def atom_feeds(runners, frames: Frames, params):
    """The samples of frame 0 and the later frame around frame 0's target; the other phases' inputs from ORT."""
    rng = np.random.default_rng(SEED)
    size = runners["backbone"].input_metadata()["image"].shape[-1]
    first, later = frames.images
    box, later_box = frames.boxes
    mean = first.reshape(-1, 3).mean(axis=0)
    window = atom_sample_window(box_center(box), box[2:], params.search_area_scale)
    crops = OpenCVPreprocessor()
    crops.set_frame(first)
    first_sample = crops.crops([window], size, mean)
    crops.set_frame(later)
    sample = crops.crops([window], size, mean)  # the next frame's sample, around the last position
    features0 = runners["backbone"].infer({"image": first_sample})
    features = runners["backbone"].infer({"image": sample})
    iou0 = {name: value for name, value in features0.items() if name.startswith("iou_")}
    modulation_feed = {**iou0, "box": window.box_to_crop(box, size)[None]}
    modulation = runners["iou_modulation"].infer(modulation_feed)

    num_proposals = runners["iou_refine"].input_metadata()["proposals"].shape[1]
    target = window.box_to_crop(later_box, size)
    jitter = 1 + PROPOSAL_JITTER * rng.standard_normal((1, num_proposals, 4))
    refine_feed = {name: value for name, value in features.items() if name.startswith("iou_")}
    refine_feed.update(modulation, proposals=(target[None, None] * jitter).astype(np.float32))

    # the online-learned projections and filters: random, at the magnitudes the solver produces
    classifier_feed = {}
    for name, meta in runners["classifier"].input_metadata().items():
        if name.startswith("cls_"):
            classifier_feed[name] = features[name]
        elif name.startswith("projection_"):
            classifier_feed[name] = (rng.standard_normal(meta.shape) / np.sqrt(meta.shape[1])).astype(np.float32)
        else:
            classifier_feed[name] = (rng.standard_normal(meta.shape) / 16).astype(np.float32)
    return [("backbone", {"image": sample}), ("iou_modulation", modulation_feed), ("iou_refine", refine_feed),
            ("classifier", classifier_feed)]


if __name__ == "__main__":
    sys.exit(main())
