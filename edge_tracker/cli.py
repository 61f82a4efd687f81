"""edge-tracker: track one object on a camera, a video or a frame folder with an exported tracker.

Subcommands:
  track    follow one object through a video, a frame folder or a camera; write boxes and/or a video
  profile  per-stage latency against the 73 FPS target, by backend and precision
  eval     accuracy beside OpenCV's trackers on annotated sequences

Exit codes: 0 success, 1 a failure while tracking (a camera lost, a write failed; results so far
are kept), 2 bad arguments or input (nothing is tracked and no output is touched), 130 interrupted
(Ctrl-C), 143 stopped by SIGTERM, 129 by SIGHUP (outputs are closed and the summary printed).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import math
import re
import sys
from pathlib import Path

import cv2

from edge_tracker.backends import BACKENDS, PRECISIONS
from edge_tracker.command_line import (
    check_output_file,
    key_value,
    logging_to_stderr,
    parse_or_exit_code,
    positive_int,
    run_command,
    verbosity_options,
)
from edge_tracker.demo import demo_checkpoint
from edge_tracker.errors import InputError
from edge_tracker.names import TRACKERS
from edge_tracker.session import Session, StatusLine, run_stream
from edge_tracker.trackers import tracker_params
from edge_tracker.video import (
    FLIP_METHODS,
    RTSP_CODECS,
    InputSpec,
    OutputSpec,
    display_missing,
    open_sink,
    open_source,
    parse_input_uri,
    parse_output_uri,
)

logger = logging.getLogger("edge_tracker.cli")

DEVICES = ("auto", "cpu", "cuda")
ROI_WINDOW = "edge-tracker: draw the target, then ENTER or SPACE (ESC or an empty box cancels)"

EPILOG = """\
examples:
  edge-tracker track clip.mp4 out.mp4 out.jsonl --init 204,150,17,50        (the SCS-Siam demo checkpoint)
  edge-tracker track clip.mp4 out.mp4 --tracker aff-atom --init 204,150,17,50   (the AFF-ATOM demo)
  edge-tracker track clip.mp4 out.mp4 out.jsonl --model out/scs-siam --init 204,150,17,50
  edge-tracker track /dev/video0 display://0 --model out/scs-siam          (draw the box with the mouse)
  edge-tracker track csi://0 out.jsonl --input-width 1920 --input-height 1080 --input-rate 60 \
      --input-flip rotate-180 --init 900,500,80,120 --headless           (a Jetson CSI camera)
  edge-tracker track frames/ out.jsonl --backend torch --model net.safetensors --init "10 20 30 40"

Boxes are x,y,w,h in pixels, 0-based, (x, y) the top-left corner. The JSON lines output has one
record per frame: frame, source_index, timestamp, box, score, state, fps, time_ms, timings_ms.
Frame 0 is the initialisation frame: its record holds the initial box, state "init" and no score.
A box with a negative x needs the = form: --init=-5,10,40,40."""


# -- parser ----------------------------------------------------------------------------------------


def _model_options() -> argparse.ArgumentParser:
    """Which network runs where; shared with the profile and eval subcommands to come."""
    group = argparse.ArgumentParser(add_help=False)
    model = group.add_argument_group("model")
    model.add_argument("--model", type=Path, default=None, metavar="DIR|CHECKPOINT",
                       help="export folder (from `python -m export onnx`) for --backend ort, or a "
                            ".safetensors checkpoint for --backend torch; omitted: the demo checkpoint of "
                            "--tracker (default scs-siam), exported to ONNX on first use")
    model.add_argument("--backend", choices=list(BACKENDS), default="ort",
                       help="ort: ONNX Runtime (default; no torch needed); torch: the PyTorch reference")
    model.add_argument("--precision", choices=PRECISIONS, default="fp32",
                       help="graph precision to run (default fp32; fp16/int8 need a built variant)")
    model.add_argument("--tracker", choices=TRACKERS, default=None,
                       help="tracker the model must be; default: the one the model records")
    model.add_argument("--device", type=_device, default="auto", metavar="{auto,cpu,cuda,cuda:N}",
                       help="auto (default): CUDA where the backend has it, else CPU")
    model.add_argument("--param", action="append", default=[], type=key_value, metavar="KEY=VALUE",
                       dest="params", help="override a tracking parameter (repeatable), e.g. "
                                           "--param window_influence=0.2")
    return group


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-tracker", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n")[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    track = commands.add_parser(
        "track", parents=[verbosity_options("warnings and errors only; no status line"), _model_options()],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        help="track one object through a video, frame folder or camera",
        description="Track one object from INPUT and write every frame's result to each OUTPUT.\n"
                    "The initial box comes from --init or is drawn with the mouse on the first frame.")
    track.add_argument("input", metavar="INPUT",
                       help="video file or file://PATH, folder of frames, /dev/videoN, v4l2://N, "
                            "csi://N, rtsp://HOST[:PORT]/PATH")
    track.add_argument("outputs", nargs="*", metavar="OUTPUT",
                       help="display://0 (a window), a video with the box drawn (.mp4 .avi .mkv), "
                            "JSON lines of results (.jsonl); none: only the summary")
    track.add_argument("--init", type=_box, default=None, metavar="X,Y,W,H",
                       help="initial box in pixels of the first frame (commas or spaces); "
                            "omitted: draw it with the mouse")
    track.add_argument("--max-frames", type=positive_int, default=None, metavar="N",
                       help="stop after N frames, the initialisation frame included")
    track.add_argument("--headless", action="store_true",
                       help="never open a window (then --init is required and display:// refused)")
    track.add_argument("--init-on-first-readable", action="store_true",
                       help="when frame 0 of a file or folder does not decode, put the --init box on the first "
                            "frame that does (default: refuse, exit 2: the box was given for frame 0)")
    camera = track.add_argument_group(
        "camera input (csi://N, /dev/videoN, rtsp://; named as jetson-inference names them; refused for a file "
        "or folder, which is read as recorded)")
    camera.add_argument("--input-width", type=positive_int, default=None, metavar="PIXELS",
                        help="capture width (CSI default 1280; V4L2: the camera's default); with --input-height")
    camera.add_argument("--input-height", type=positive_int, default=None, metavar="PIXELS",
                        help="capture height (CSI default 720); with --input-width")
    camera.add_argument("--input-rate", type=_frame_rate, default=None, metavar="FPS",
                        help="capture frame rate (CSI default 30; 29.97 and 59.94 are the NTSC rates)")
    camera.add_argument("--input-flip", choices=list(FLIP_METHODS), default=None,
                        help="flip or rotate the image (nvvidconv's flip-method on a Jetson, in software elsewhere)")
    camera.add_argument("--input-codec", choices=list(RTSP_CODECS), default=None,
                        help="RTSP on a Jetson: the stream's codec for the hardware decoder (default h264)")
    commands.add_parser("profile", add_help=False,
                        help="per-stage latency against the 73 FPS target by backend and precision, with a "
                             "roofline projection for Jetsons (edge-tracker profile --help)")
    commands.add_parser("eval", add_help=False,
                        help="accuracy (success AUC, precision@20) and FPS on annotated sequences, beside "
                             "OpenCV's KCF/CSRT/MIL/NanoTrack (edge-tracker eval --help)")
    return parser


def _device(text: str) -> str:
    if text in DEVICES or re.fullmatch(r"cuda:\d+", text):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not a device: auto, cpu, cuda or cuda:N (GPU N)")


def _frame_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a frame rate: a positive number such as 30 or 59.94")
    return value


def _box(text: str) -> tuple[float, float, float, float]:
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"{text!r} is not 4 numbers x,y,w,h (pixels, 0-based top-left), "
                                         "e.g. 204,150,17,50")
    return values


# -- entry point -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (see the module docstring)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["profile"]:  # its own parser: edge_tracker/profiling/cli.py
        from edge_tracker.profiling.cli import main as profile_main

        return profile_main(argv[1:], prog="edge-tracker profile")
    if argv[:1] == ["eval"]:  # its own parser: edge_tracker/evaluation/cli.py
        from edge_tracker.evaluation.cli import main as eval_main

        return eval_main(argv[1:], prog="edge-tracker eval")
    args = parse_or_exit_code(build_parser(), argv)
    if isinstance(args, int):
        return args
    with logging_to_stderr(args.verbose, args.quiet):
        return run_command(lambda: _cmd_track(args), logger)


# -- track -----------------------------------------------------------------------------------------


def _cmd_track(args: argparse.Namespace) -> int:
    # Everything that can be checked without the model is checked first, so a typo costs no load.
    input_spec = parse_input_uri(args.input)
    camera = _camera_options(args, input_spec)
    outputs = [parse_output_uri(text) for text in args.outputs]
    _check_outputs(outputs, input_spec, args.headless)
    if args.init is None:
        _check_can_draw(args.headless)
    if args.model is not None:
        _check_model_path(args.model, args.backend)
    elif args.tracker is not None:
        demo_checkpoint(args.tracker)  # no demo for this tracker: say so before anything is opened
    texts = dict(args.params)
    if args.tracker:
        tracker_params(args.tracker, texts=texts)  # a misspelt --param fails before the model loads

    with Session(args.model, tracker=args.tracker, backend=args.backend, device=args.device,
                 precision=args.precision, param_texts=texts) as session:
        logger.info("tracker %s on %s (%s, device %s, %s)", session.name, session.model, args.backend,
                    args.device, args.precision)
        return _track(args, session, input_spec, outputs, camera)


def _camera_options(args: argparse.Namespace, spec: InputSpec) -> dict:
    """The --input-* options as CaptureSource keywords; refused where they cannot apply."""
    given = {"--input-width": args.input_width, "--input-height": args.input_height,
             "--input-rate": args.input_rate, "--input-flip": args.input_flip, "--input-codec": args.input_codec}
    named = [name for name, value in given.items() if value is not None]
    if named and not spec.is_live:
        # Refused rather than ignored: a user who sets a size expects frames of that size, and the
        # --init box is in pixels of the frames as read; resizing a recording is ffmpeg's job.
        raise InputError(f"{', '.join(named)} set the mode of a camera or stream, but {spec.uri} is a "
                         f"{spec.kind}, read as recorded; drop {'them' if len(named) > 1 else 'it'} (to resize or "
                         "rotate a recording: ffmpeg -i IN -vf scale=W:H,transpose=1 OUT)")
    if (args.input_width is None) != (args.input_height is None):
        raise InputError("--input-width and --input-height go together: give both (e.g. --input-width 1280 "
                         "--input-height 720) or neither")
    if spec.kind == "rtsp" and (args.input_width or args.input_rate):
        raise InputError(f"{spec.uri}: an RTSP stream arrives in the sender's size and rate; set them on the "
                         "camera or server and drop --input-width/--input-height/--input-rate")
    if args.input_codec is not None and spec.kind != "rtsp":
        raise InputError(f"--input-codec names an RTSP stream's codec, but {spec.uri} is a {spec.kind} camera")
    options = {"width": args.input_width, "height": args.input_height, "fps": args.input_rate,
               "flip": args.input_flip, "codec": args.input_codec}
    return {key: value for key, value in options.items() if value is not None}


def _track(args, session: Session, input_spec: InputSpec, outputs: list[OutputSpec], camera: dict) -> int:
    status = StatusLine(sys.stderr, quiet=args.quiet, live=input_spec.is_live)

    def open_sinks(source):
        # A window is the output most likely to fail at open: open it before any file is created.
        fps = {"fps": source.nominal_fps or 30.0}
        return [open_sink(outputs[i], **(fps if outputs[i].kind == "video" else {})) for i in _display_first(outputs)]

    with open_source(input_spec, **camera) as source:
        try:
            run = run_stream(session.new_tracker(), session.name, source, open_sinks, init_box=args.init,
                             select_box=_select_box, max_frames=args.max_frames, status=status,
                             input_uri=input_spec.uri, live=input_spec.is_live,
                             init_on_first_readable=args.init_on_first_readable)
        finally:
            status.finish()
    run.source = dataclasses.replace(source.stats)  # after close: a live frame left unread counts as dropped
    run.outputs = _in_output_order(run.outputs, outputs)
    print(run.summary())
    return run.exit_code


def _display_first(outputs: list[OutputSpec]) -> list[int]:
    return sorted(range(len(outputs)), key=lambda i: outputs[i].kind != "display")


def _in_output_order(written: list, outputs: list[OutputSpec]) -> list:
    """The sinks were opened display first; report them in the order the user gave them."""
    by_position = dict(zip(_display_first(outputs), written))
    return [by_position[i] for i in range(len(outputs)) if i in by_position]


# -- checks before anything is loaded --------------------------------------------------------------


def _check_outputs(outputs: list[OutputSpec], input_spec: InputSpec, headless: bool) -> None:
    """Refuse outputs that cannot be written, without creating or truncating any file."""
    displays = [spec.uri for spec in outputs if spec.kind == "display"]
    if headless and displays:
        raise InputError(f"--headless never opens a window, but {', '.join(displays)} asks for one; drop "
                         "--headless or write to a file (out.mp4, out.jsonl) instead")
    if displays and display_missing():
        raise InputError(f"{displays[0]}: no display is available (DISPLAY is not set); write to a file "
                         "instead (out.mp4, out.jsonl), or over ssh use ssh -X, or export DISPLAY=:0 for "
                         "the Jetson's own screen")
    seen: dict[Path, str] = {}
    input_path = input_spec.path.resolve() if input_spec.kind == "file" else None
    for spec in outputs:
        if spec.path is None:
            continue
        path = spec.path.resolve()
        if path in seen:
            raise InputError(f"outputs '{seen[path]}' and '{spec.uri}' are the same file; give each "
                             "output its own path")
        if path == input_path:
            raise InputError(f"output '{spec.uri}' is the input file; writing it would destroy the input. "
                             "Choose another output path")
        seen[path] = spec.uri
        check_output_file(spec.path, spec.uri, example="out" + spec.path.suffix)


def _check_can_draw(headless: bool) -> None:
    if headless:
        raise InputError("no initial box: with --headless it cannot be drawn with the mouse; pass "
                         "--init x,y,w,h (pixels of the first frame, 0-based top-left corner)")
    if display_missing():
        raise InputError("no initial box, and no display to draw it on (DISPLAY is not set); pass "
                         "--init x,y,w,h (pixels of the first frame, 0-based top-left corner)")


def _check_model_path(model: Path, backend: str) -> None:
    if backend == "ort" and not model.exists():
        raise InputError(f"--model {model}: no such export folder; make one with `python -m export onnx "
                         f"--tracker NAME [--checkpoint FILE] --out {model}`")
    if backend == "torch" and not model.exists():
        raise InputError(f"--model {model}: no such checkpoint; give a .safetensors checkpoint")
    if backend == "ort" and model.is_file():
        raise InputError(f"--model {model} is a file, but --backend ort runs an export folder; use "
                         f"--backend torch for a checkpoint, or export it: python -m export onnx "
                         f"--tracker NAME --checkpoint {model} --out DIR")
    if backend == "torch" and model.is_dir():
        raise InputError(f"--model {model} is a folder, but --backend torch runs a .safetensors "
                         "checkpoint; use --backend ort for an export folder")


def _select_box(image) -> tuple[float, float, float, float]:
    """Let the user draw the initial box on ``image`` (BGR); xywh in pixels."""
    try:
        x, y, w, h = cv2.selectROI(ROI_WINDOW, image, showCrosshair=True, fromCenter=False)
    except cv2.error as err:
        raise InputError("this OpenCV cannot open windows to draw the initial box in (probably "
                         "opencv-python-headless); pass --init x,y,w,h, or install opencv-python") from err
    finally:
        with contextlib.suppress(cv2.error):  # the window may be gone already, or was never made
            cv2.destroyWindow(ROI_WINDOW)
    if w <= 0 or h <= 0:
        raise InputError("no initial box was drawn (ESC or an empty selection cancels); draw one and "
                         "press ENTER or SPACE, or pass --init x,y,w,h")
    logger.info("initial box drawn: --init %d,%d,%d,%d", x, y, w, h)
    return float(x), float(y), float(w), float(h)
