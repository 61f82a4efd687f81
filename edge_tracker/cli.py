"""edge-tracker: track one object on a camera, a video or a frame folder with an exported tracker.

Subcommands:
  track   follow one object through a video, a frame folder or a camera; write boxes and/or a video

Exit codes: 0 success, 1 a failure while tracking (a camera lost, a write failed; results so far
are kept), 2 bad arguments or input (nothing is tracked and no output is touched), 130 interrupted
(Ctrl-C; outputs are closed and the summary printed).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from edge_tracker.backends import BACKENDS, load_runners, model_tracking_params
from edge_tracker.command_line import key_value, logging_to_stderr, positive_int, tracker_params_from_text
from edge_tracker.demo import demo_checkpoint, resolve_model
from edge_tracker.errors import EdgeTrackerError, InputError
from edge_tracker.trackers import TRACKERS, build_tracker
from edge_tracker.video import (
    FrameSource,
    InputSpec,
    OutputSpec,
    open_sink,
    open_source,
    parse_input_uri,
    parse_output_uri,
)

logger = logging.getLogger("edge_tracker.cli")

DEVICES = ("auto", "cpu", "cuda")
# The record of frame 0: its box is the initial box as given, not a tracker output.
INIT_STATE = "init"
ROI_WINDOW = "edge-tracker: draw the target, then ENTER or SPACE (ESC or an empty box cancels)"
STATUS_INTERVAL_TTY_S = 0.1   # a terminal's status line is redrawn at most this often
STATUS_INTERVAL_LOG_S = 1.0   # a pipe or file gets one progress line per this many seconds
FPS_SMOOTHING = 0.1           # weight of the newest frame in the exponential average of the period

EPILOG = """\
examples:
  edge-tracker track clip.mp4 out.mp4 out.jsonl --init 204,150,17,50        (the SCS-Siam demo checkpoint)
  edge-tracker track clip.mp4 out.mp4 --tracker aff-atom --init 204,150,17,50   (the AFF-ATOM demo)
  edge-tracker track clip.mp4 out.mp4 out.jsonl --model out/scs-siam --init 204,150,17,50
  edge-tracker track /dev/video0 display://0 --model out/scs-siam          (draw the box with the mouse)
  edge-tracker track frames/ out.jsonl --backend torch --model net.safetensors --init "10 20 30 40"

Boxes are x,y,w,h in pixels, 0-based, (x, y) the top-left corner. The JSON lines output has one
record per frame: frame, source_index, timestamp, box, score, state, fps, time_ms, timings_ms.
Frame 0 is the initialisation frame: its record holds the initial box, state "init" and no score.
A box with a negative x needs the = form: --init=-5,10,40,40."""


# -- parser ----------------------------------------------------------------------------------------


def _common_options() -> argparse.ArgumentParser:
    """Options every subcommand takes (after the subcommand: ``edge-tracker track ... -v``)."""
    common = argparse.ArgumentParser(add_help=False)
    verbosity = common.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbosity.add_argument("-q", "--quiet", action="store_true",
                           help="warnings and errors only; no status line")
    return common


def _model_options() -> argparse.ArgumentParser:
    """Which network runs where; shared with the profile and eval subcommands to come."""
    group = argparse.ArgumentParser(add_help=False)
    model = group.add_argument_group("model")
    model.add_argument("--model", type=Path, default=None, metavar="DIR|CHECKPOINT",
                       help="export folder (from `python -m export onnx`) for --backend ort, or a "
                            ".safetensors checkpoint for --backend torch; omitted: the demo checkpoint of "
                            "--tracker (default scs-siam), exported to ONNX on first use")
    model.add_argument("--backend", choices=BACKENDS, default="ort",
                       help="ort: ONNX Runtime (default; no torch needed); torch: the PyTorch reference")
    model.add_argument("--tracker", choices=TRACKERS, default=None,
                       help="tracker the model must be; default: the one the model records")
    model.add_argument("--device", choices=DEVICES, default="auto",
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
        "track", parents=[_common_options(), _model_options()],
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
    commands.add_parser("eval", add_help=False,
                        help="accuracy (success AUC, precision@20) and FPS on annotated sequences, beside "
                             "OpenCV's KCF/CSRT/MIL/NanoTrack (edge-tracker eval --help)")
    return parser


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
    if argv[:1] == ["eval"]:  # its own parser: edge_tracker/evaluation/__main__.py
        from edge_tracker.evaluation.__main__ import main as eval_main

        return eval_main(argv[1:], prog="edge-tracker eval")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse exits on --help (0) and on bad arguments (2)
        return stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 2
    with logging_to_stderr(args.verbose, args.quiet):
        try:
            if args.command == "track":
                return _cmd_track(args)
        except EdgeTrackerError as err:
            logger.error("%s", err)
            return 2
        except KeyboardInterrupt:
            logger.error("interrupted before tracking started")
            return 130
    parser.error(f"unknown command {args.command}")
    return 2


# -- track -----------------------------------------------------------------------------------------


def _cmd_track(args: argparse.Namespace) -> int:
    # Everything that can be checked without the model is checked first, so a typo costs no load.
    input_spec = parse_input_uri(args.input)
    outputs = [parse_output_uri(text) for text in args.outputs]
    _check_outputs(outputs, input_spec, args.headless)
    if args.init is None:
        _check_can_draw(args.headless)
    if args.model is not None:
        _check_model_path(args.model, args.backend)
    elif args.tracker is not None:
        demo_checkpoint(args.tracker)  # no demo for this tracker: say so before anything is opened
    overrides = dict(args.params)
    if args.tracker:
        tracker_params_from_text(args.tracker, overrides)  # a misspelt --param fails before the model loads

    model = resolve_model(args.model, args.backend, args.tracker)
    name, runners = load_runners(model, args.backend, args.device, args.tracker)
    try:
        recommended = model_tracking_params(model, args.backend)
        if recommended:
            logger.info("tracking parameters from the checkpoint: %s (--param overrides them)", recommended)
        params = tracker_params_from_text(name, overrides, base=recommended)
        tracker = build_tracker(name, runners, params)
        logger.info("tracker %s on %s (%s, device %s)", name, model, args.backend, args.device)
        return _track(args, tracker, name, input_spec, outputs)
    finally:
        for runner in runners.values():
            runner.deactivate()


def _track(args, tracker, name: str, input_spec: InputSpec, outputs: list[OutputSpec]) -> int:
    run = _Run(tracker=name, input_uri=input_spec.uri, live=input_spec.is_live)
    status = _StatusLine(sys.stderr, quiet=args.quiet, live=input_spec.is_live)
    sinks: dict[int, object] = {}  # position in OUTPUT order -> open sink
    with open_source(input_spec) as source:
        first = source.read()
        if first is None:
            end = source.stats.end_reason
            raise InputError(f"input '{input_spec.uri}' delivered no frame{f' ({end})' if end else ''}; "
                             "nothing to track")
        box = args.init if args.init is not None else _select_box(first.image)
        start = time.perf_counter()
        tracker.initialize(first.image, box)  # a box outside the frame or of zero size fails here
        run.init_ms = 1e3 * (time.perf_counter() - start)
        with contextlib.ExitStack() as stack:
            # A window is the output most likely to fail at open: open it before any file is created.
            for position in sorted(range(len(outputs)), key=lambda i: outputs[i].kind != "display"):
                spec = outputs[position]
                options = {"fps": source.nominal_fps or 30.0} if spec.kind == "video" else {}
                sinks[position] = stack.enter_context(open_sink(spec, **options))
            ordered = [sinks[i] for i in range(len(outputs))]
            try:
                _write(ordered, first, {"box": [float(v) for v in box], "score": None, "state": INIT_STATE,
                                      "fps": None, "time_ms": run.init_ms,
                                      "timings_ms": {"initialize": run.init_ms}})
                run.frames = 1
                _loop(args, tracker, source, ordered, run, status)
            except KeyboardInterrupt:
                run.end, run.exit_code = "interrupted (Ctrl-C)", 130
            except EdgeTrackerError as err:
                logger.error("%s", err)
                run.end, run.exit_code = "failed (see the error above); results so far are kept", 1
            finally:
                status.finish()
    run.source = dataclasses.replace(source.stats)  # after close: a live frame left unread counts as dropped
    run.outputs = [(sinks[i].name, sinks[i].frames_written) for i in sorted(sinks)]
    print(run.summary())
    return run.exit_code


def _loop(args, tracker, source: FrameSource, sinks, run: "_Run", status: "_StatusLine") -> None:
    period = None  # exponential average of the end-to-end frame period (read, track, write), s
    run.loop_start = run.loop_end = previous = time.perf_counter()
    while args.max_frames is None or run.frames < args.max_frames:
        frame = source.read()
        if frame is None:
            reason = source.stats.end_reason  # set when a camera was lost or stalled (already logged)
            run.end, run.exit_code = (f"stopped: {reason}", 1) if reason else ("end of stream", 0)
            return
        t_read = time.perf_counter()
        result = tracker.track(frame.image)
        t_track = time.perf_counter()
        step, previous = t_track - previous, t_track
        period = step if period is None else (1 - FPS_SMOOTHING) * period + FPS_SMOOTHING * step
        record = result.as_dict()
        timings = record.pop("timings_ms")
        record.update(fps=1.0 / period if period > 0 else None, time_ms=1e3 * (t_track - t_read),
                      timings_ms=timings)
        _write(sinks, frame, record)
        t_write = time.perf_counter()
        run.add(read=t_read - run.loop_end, track=t_track - t_read, write=t_write - t_track,
                stages=result.timings_ms)
        run.frames += 1
        run.loop_end = t_write
        status.update(frame.index, record["fps"], result.state, result.score, source.stats)
        if any(sink.stop_requested for sink in sinks):
            run.end = "stopped from the window"
            return
    run.end = f"--max-frames {args.max_frames} reached"


def _write(sinks, frame, record: dict) -> None:
    for sink in sinks:
        sink.write(frame, record)


# -- checks before anything is loaded --------------------------------------------------------------


def _check_outputs(outputs: list[OutputSpec], input_spec: InputSpec, headless: bool) -> None:
    """Refuse outputs that cannot be written, without creating or truncating any file."""
    displays = [spec.uri for spec in outputs if spec.kind == "display"]
    if headless and displays:
        raise InputError(f"--headless never opens a window, but {', '.join(displays)} asks for one; drop "
                         "--headless or write to a file (out.mp4, out.jsonl) instead")
    if displays and _display_missing():
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
        folder = spec.path.parent if str(spec.path.parent) else Path(".")
        if not folder.is_dir():
            raise InputError(f"cannot write output '{spec.uri}': the folder {folder} does not exist; create "
                             f"it (mkdir -p {folder}) or choose another path")
        if spec.path.is_dir():
            raise InputError(f"cannot write output '{spec.uri}': {spec.path} is a folder; give a file name "
                             f"such as {spec.path / ('out' + spec.path.suffix)}")
        writable = os.access(spec.path, os.W_OK) if spec.path.exists() else os.access(folder, os.W_OK | os.X_OK)
        if not writable:
            raise InputError(f"cannot write output '{spec.uri}': permission denied; choose a writable path")


def _display_missing() -> bool:
    return sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                     or os.environ.get("WAYLAND_DISPLAY"))


def _check_can_draw(headless: bool) -> None:
    if headless:
        raise InputError("no initial box: with --headless it cannot be drawn with the mouse; pass "
                         "--init x,y,w,h (pixels of the first frame, 0-based top-left corner)")
    if _display_missing():
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


# -- status and summary ----------------------------------------------------------------------------


class _StatusLine:
    """One status line on a terminal (redrawn in place), a progress line per second elsewhere."""

    def __init__(self, stream, quiet: bool, live: bool, clock=time.monotonic):
        self.stream, self.quiet, self.live, self.clock = stream, quiet, live, clock
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last: float | None = None
        self._width = 0

    def update(self, index: int, fps, state: str, score: float, stats) -> None:
        if self.quiet:
            return
        now = self.clock()
        interval = STATUS_INTERVAL_TTY_S if self.tty else STATUS_INTERVAL_LOG_S
        if self._last is not None and now - self._last < interval:
            return
        if self._last is None and not self.tty:
            self._last = now  # a log gets its first line after a second, not at frame 1
            return
        self._last = now
        text = f"frame {index}  {fps or 0:6.1f} FPS  {state:<13} score {score:.3f}"
        if self.live:
            text += f"  dropped {stats.dropped}"
        if stats.decode_failures:
            text += f"  undecodable {stats.decode_failures}"
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0


@dataclass
class _Run:
    """What one tracking run did, for the summary."""

    tracker: str
    input_uri: str
    live: bool
    frames: int = 0              # frames with a result written, the initialisation frame included
    init_ms: float = 0.0
    loop_start: float = 0.0
    loop_end: float | None = None
    end: str = "end of stream"
    exit_code: int = 0
    source: object = None        # SourceStats at the end
    outputs: list = field(default_factory=list)   # (sink name, frames written)
    _sums: dict = field(default_factory=dict)     # stage -> total seconds over tracked frames
    _tracked: int = 0

    def add(self, read: float, track: float, write: float, stages: dict[str, float]) -> None:
        self._tracked += 1
        for stage, ms in stages.items():
            self._sums[stage] = self._sums.get(stage, 0.0) + ms / 1e3
        for stage, seconds in (("read", read), ("track", track), ("write", write)):
            self._sums[stage] = self._sums.get(stage, 0.0) + seconds

    def summary(self) -> str:
        tracked = self._tracked
        lines = [f"{self.tracker}: {self.frames} frame(s) of {self.input_uri} "
                 f"(1 initialisation + {tracked} tracked); {self.end}"]
        if self.frames:
            lines.append(f"  initialisation (frame 0): {self.init_ms:.1f} ms")
        if tracked:
            wall = (self.loop_end or self.loop_start) - self.loop_start
            track_s = self._sums["track"]
            lines.append(f"  FPS: {tracked / wall if wall > 0 else float('inf'):.1f} end to end (read, track, "
                         f"write), {tracked / track_s if track_s > 0 else float('inf'):.1f} tracker alone")
            tracker_stages = [s for s in self._sums if s not in ("read", "track", "write")]
            parts = [f"{s} {1e3 * self._sums[s] / tracked:.2f}"
                     for s in ["read", *tracker_stages, "track", "write"]]
            lines.append(f"  mean latency per frame, ms: {', '.join(parts)}")
        stats = self.source
        if stats is not None:
            text = f"  input: {stats.delivered} frame(s) read, {stats.decode_failures} undecodable (skipped)"
            if self.live:
                text += f", {stats.dropped} dropped, {stats.reconnects} reconnect(s)"
            lines.append(text)
        if self.outputs:
            lines.append("  outputs: " + "; ".join(f"{name} ({count} frames)" for name, count in self.outputs))
        else:
            lines.append("  outputs: none (give out.jsonl, out.mp4 or display://0 to keep the results)")
        return "\n".join(lines)
