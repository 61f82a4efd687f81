"""edge-tracker profile: per-stage latency of a tracker against the 73 FPS target, by backend and precision.

Exit codes as every command of the package: 0 done (whatever the verdict); 1 a failure while
profiling; 2 bad arguments or input; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
from pathlib import Path

from edge_tracker.backends import BACKENDS, PRECISIONS
from edge_tracker.command_line import (
    check_output_file,
    choice_list,
    logging_to_stderr,
    parse_or_exit_code,
    positive_int,
    run_command,
    verbosity_options,
)
from edge_tracker.errors import InputError
from edge_tracker.names import TRACKERS

logger = logging.getLogger("edge_tracker.profiling")

EPILOG = """\
examples:
  edge-tracker profile ../shared/data/sequences/otb/Crossing --tracker scs-siam --model out/scs-siam \\
      --precision fp32,int8 --json profile.json --plot profile.png
  edge-tracker profile clip.mp4 --init 204,150,17,50 --tracker aff-atom --backend ort,trt --precision fp16
  edge-tracker profile --project orin-nano --model out/scs-siam        (a roofline projection, nothing run)

INPUT: a video, a frame folder, a camera URI, or an annotated sequence folder (its first box is the
initial box). Every backend x precision runs on the same frames, taking turns frame by frame."""


def build_parser(prog: str = "edge-tracker profile") -> argparse.ArgumentParser:
    from edge_tracker.profiling.roofline import DEVICES

    parser = argparse.ArgumentParser(prog=prog, parents=[verbosity_options()], epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("input", nargs="?", metavar="INPUT", help="video, frame folder, camera, or sequence folder")
    parser.add_argument("--tracker", choices=TRACKERS, default=None, help="default: the one the model holds")
    parser.add_argument("--model", type=Path, default=None,
                        help="export or build folder; default: the tracker's demo checkpoint")
    parser.add_argument("--backend", type=choice_list(list(BACKENDS)), default=["ort"], metavar="LIST",
                        help=f"comma-separated from {','.join(BACKENDS)} (default ort)")
    parser.add_argument("--precision", type=choice_list(PRECISIONS), default=["fp32"], metavar="LIST",
                        help=f"comma-separated from {','.join(PRECISIONS)} (default fp32)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--init", default=None, metavar="X,Y,W,H", help="initial box (default: a sequence's first box)")
    parser.add_argument("--frames", type=positive_int, default=120, help="frames read, the first included (default 120)")
    parser.add_argument("--warmup", type=int, default=5, help="tracked frames not counted (default 5)")
    parser.add_argument("--target-fps", type=float, default=73.0, help="the target of the verdicts (default 73)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", dest="params",
                        help="a tracking parameter (repeatable)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="write every figure as JSON")
    parser.add_argument("--plot", type=Path, default=None, metavar="FILE.png", help="per-stage bars and a frame trace")
    parser.add_argument("--project", choices=sorted(DEVICES), default=None, metavar="DEVICE",
                        help=f"print a roofline projection for a Jetson ({', '.join(sorted(DEVICES))}) and exit")
    return parser


def main(argv: list[str] | None = None, prog: str = "edge-tracker profile") -> int:
    args = parse_or_exit_code(build_parser(prog), argv)
    if isinstance(args, int):
        return args
    with logging_to_stderr(args.verbose, args.quiet):
        return run_command(lambda: _profile(args), logger)


def _profile(args: argparse.Namespace) -> int:
    if args.project:
        return _project(args)
    if args.input is None:
        raise InputError("no INPUT: give a video, a frame folder, a camera or a sequence folder (or --project DEVICE)")
    if not math.isfinite(args.target_fps) or args.target_fps <= 0:
        raise InputError(f"--target-fps must be a positive number, got {args.target_fps}")
    if args.warmup < 0:
        raise InputError(f"--warmup must be >= 0, got {args.warmup}")
    for path, example in ((args.json, "profile.json"), (args.plot, "profile.png")):
        if path is not None:
            check_output_file(path, example=example)
    from edge_tracker.command_line import key_value
    from edge_tracker.profiling.machine import describe_machine
    from edge_tracker.profiling.run import profile, read_frames, table
    from edge_tracker.profiling.tegrastats import TegrastatsSampler
    from edge_tracker.video import open_source, parse_input_uri

    texts = dict(key_value(text) for text in args.params)
    images, read_ms, init = _frames(args, open_source, parse_input_uri, read_frames)
    combinations = [(b, p) for b in args.backend for p in args.precision]
    with TegrastatsSampler() as power:
        name, results = profile(images, read_ms, init, combinations, model=args.model, tracker=args.tracker,
                                device=args.device, warmup=args.warmup, param_texts=texts)
    machine = describe_machine()
    print(f"{name} on {args.input}: {len(images)} frames ({args.warmup} warm-up); {machine['cpu']}, "
          f"{machine['cpu_count']} CPUs" + (f", {machine['gpu']}" if "gpu" in machine else ""))
    print(table(results, args.target_fps))
    if power.samples:
        print(f"tegrastats: {power.summary()}")
    if args.json is not None:
        document = {"tracker": name, "input": args.input, "frames": len(images), "warmup": args.warmup,
                    "target_fps": args.target_fps, "machine": machine, "tegrastats": power.summary(),
                    "tegrastats_samples": power.samples, "combinations": [r.as_dict(args.target_fps) for r in results]}
        args.json.write_text(json.dumps(document, indent=1) + "\n")
        logger.info("wrote %s", args.json)
    if args.plot is not None:
        from edge_tracker.profiling.plot import plot_profile

        plot_profile(results, args.target_fps, args.plot, title=f"{name} on {Path(args.input).name}")
        logger.info("wrote %s", args.plot)
    return 0


def _frames(args, open_source, parse_input_uri, read_frames):
    init = None
    if args.init is not None:
        parts = [p for p in re.split(r"[,\s]+", args.init.strip()) if p]
        try:
            init = [float(p) for p in parts]
        except ValueError:
            init = []
        if len(init) != 4:
            raise InputError(f"--init {args.init!r} is not 4 numbers x,y,w,h (pixels, 0-based top-left)")
    folder = Path(args.input)
    if init is None and folder.is_dir():
        from edge_tracker.datasets.readers import load_sequence

        try:
            sequence = load_sequence(folder)
        except InputError as err:
            raise InputError(f"{folder} is no annotated sequence ({err}); give --init X,Y,W,H") from err
        count = min(args.frames, len(sequence))
        images, read_ms = [], []
        import time

        for index in range(count):
            start = time.perf_counter()
            images.append(sequence.frame(index))
            read_ms.append(1e3 * (time.perf_counter() - start))
        return images, read_ms, sequence.boxes[0].tolist()
    if init is None:
        raise InputError(f"no initial box for {args.input}: give --init X,Y,W,H (or an annotated sequence folder)")
    with open_source(parse_input_uri(args.input)) as source:
        images, read_ms = read_frames(source, args.frames)
    return images, read_ms, init


def _project(args: argparse.Namespace) -> int:
    from edge_tracker.demo import resolve_model
    from edge_tracker.profiling.roofline import DEVICES, project
    from edge_tracker.profiling.run import every_frame_graphs

    device = DEVICES[args.project]
    model = resolve_model(args.model, "ort", args.tracker)
    phases, every = every_frame_graphs(model)
    rows = project(phases, every, device)
    print(f"roofline PROJECTION (an upper bound, not a measurement) for {device.name}: the per-frame graphs "
          f"{', '.join(every)} of {model}")
    print(f"  figures: {device.source}")
    print(f"  {'precision':<10}{'GFLOP/frame':>12}{'MB/frame':>10}{'FPS bound':>11}")
    for row in rows:
        print(f"  {row['precision']:<10}{row['gflops_per_frame']:12.2f}{row['mbytes_per_frame']:10.1f}"
              f"{row['fps_bound']:11.0f}")
    if len(rows) < 3:
        print("  (precisions without graphs in this model are left out: python -m export build --precision ...)")
    return 0
