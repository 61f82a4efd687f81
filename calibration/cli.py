"""python -m calibration build: a calibration set cut from real frames by the tracker itself.

Exit codes as every command of the package: 0 done; 1 failed while building; 2 bad arguments or
input (a source that cannot be read, a folder without images, a box that is not X,Y,W,H, an
output that cannot be written); 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edge_tracker.command_line import (
    logging_to_stderr,
    parse_or_exit_code,
    positive_int,
    run_command,
    verbosity_options,
)
from edge_tracker.names import TRACKERS

logger = logging.getLogger("edge_tracker.calibration")

EPILOG = """\
examples:
  python -m calibration build ../shared/data/sequences/otb/Car1 ../shared/data/sequences/vot/hand1 \\
      --tracker scs-siam --out out/calib/scs-siam
  python -m calibration build my_clip.mp4@204,150,17,50 --tracker aff-atom --model out/aff-atom --out calib/

A SOURCE is an annotated sequence folder (OTB, VOT, UAV123, UAVDT, DTB70, GOT-10k, LaSOT, TrackingNet),
or a video file / frame folder with the target's box in its first frame: PATH@X,Y,W,H (pixels)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m calibration", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    build = commands.add_parser("build", parents=[verbosity_options("no progress bar; warnings and errors only")],
                                help="build a calibration set from sequences or videos",
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
                                description="Run the FP32 tracker over the sources, keep every phase's feeds "
                                            "(crops, features, filters, proposals) and write them as .npz shards "
                                            "with a manifest.")
    build.add_argument("sources", nargs="+", metavar="SOURCE", help="sequence folder, or VIDEO|FOLDER@X,Y,W,H")
    build.add_argument("--tracker", choices=TRACKERS, required=True, help="the tracker the set is for")
    build.add_argument("--model", type=Path, default=None, metavar="EXPORT_DIR",
                       help="FP32 export folder (python -m export onnx); default: the tracker's demo checkpoint")
    build.add_argument("--out", type=Path, required=True, help="folder for the shards and manifest.json")
    build.add_argument("--size", type=positive_int, default=500,
                       help="network images per every-frame phase (default 500; a 3-scale search feed counts 3)")
    build.add_argument("--episode-length", type=positive_int, default=10, metavar="N",
                       help="frames tracked from each (jittered) start box, the first included (default 10)")
    build.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_or_exit_code(build_parser(), argv)
    if isinstance(args, int):
        return args
    with logging_to_stderr(args.verbose, args.quiet):
        return run_command(lambda: _build(args), logger)


def _build(args: argparse.Namespace) -> int:
    from calibration.builder import SamplingParams, build_calibration_set
    from calibration.sources import parse_source
    from edge_tracker.command_line import check_output_file
    from edge_tracker.errors import InputError

    if args.out.exists() and not args.out.is_dir():
        raise InputError(f"--out {args.out} is a file; give a folder for the calibration set")
    check_output_file(args.out / "manifest.json" if args.out.is_dir() else args.out, str(args.out))
    sources = [parse_source(text) for text in args.sources]  # every source checked before any work
    params = SamplingParams(size=args.size, episode_length=args.episode_length, seed=args.seed)
    manifest = build_calibration_set(sources, args.out, tracker=args.tracker, model=args.model, params=params,
                                     progress=not args.quiet)
    counts = ", ".join(f"{phase} {count}" for phase, count in manifest["counts"].items())
    print(f"{manifest['tracker']}: calibration set -> {args.out} ({counts} feeds; "
          f"{sum(len(s['episodes']) for s in manifest['sources'])} episodes from {len(sources)} source(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
