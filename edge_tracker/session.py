"""A tracking session: one model on one backend, and the frame loop that runs it.

``edge-tracker track``, ``edge-tracker eval``, the benchmarks (and the profiler to come) all start
here, so "which model, which runners, which parameters" and "source -> tracker -> sinks" are
written once:

- :class:`Session`: resolve the model (an export folder, a checkpoint, or a demo checkpoint) ->
  runners for (backend, device, precision) -> parameters (the checkpoint's recommendation, then the
  caller's) -> a fresh tracker per :meth:`Session.new_tracker` call, all sharing the runners.
- :func:`run_stream`: the frame loop over an opened source into opened sinks, with the initial
  frame apart, a status callback, Ctrl-C (and SIGTERM/SIGHUP, see ``edge_tracker.signals``) turned
  into a clean end, and per-stage times kept for the summary, in fixed memory (:class:`~edge_tracker.stats.StageStats`)
  for p50/p90/p99 figures.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_tracker.backends import LoadedModel, open_model
from edge_tracker.demo import resolve_model
from edge_tracker.errors import EdgeTrackerError, InputError
from edge_tracker.names import ATOM_TRACKERS
from edge_tracker.preprocess import Preprocessor
from edge_tracker.signals import interruption
from edge_tracker.stats import StageStats
from edge_tracker.trackers import build_tracker, tracker_params

logger = logging.getLogger("edge_tracker.session")

# The record of frame 0: its box is the initial box as given, not a tracker output.
INIT_STATE = "init"
FPS_SMOOTHING = 0.1  # weight of the newest frame in the exponential average of the period
LOOP_STAGES = ("read", "track", "write")  # what the loop itself times around the tracker's own stages
STAGE_SAMPLES_KEPT = 10_000  # per stage, for the summary's percentiles; memory stays fixed on an endless stream


class Session:
    """One model on one backend: ``with Session(...) as session: tracker = session.new_tracker()``.

    Args:
        model: export folder (``ort``), checkpoint (``torch``), or None for the demo checkpoint of
            ``tracker`` (default scs-siam; exported to ONNX on first use for ``ort``).
        tracker: the tracker the model must hold (checked), or None for whatever it holds.
        backend, device, precision: as for ``edge_tracker.backends.open_model``.
        params: typed parameter overrides (a dict), applied over the checkpoint's recommendation.
        param_texts: ``--param KEY=VALUE`` texts, applied last, typed like each field.
        preprocessor: a factory of the crop cutter each new tracker gets (default: OpenCV on the host).
    """

    def __init__(self, model: str | Path | None = None, *, tracker: str | None = None, backend: str = "ort",
                 device: str = "cpu", precision: str = "fp32", params: Mapping[str, Any] | None = None,
                 param_texts: Mapping[str, str] | None = None,
                 preprocessor: Callable[[], Preprocessor] | None = None) -> None:
        if tracker is not None and param_texts:
            tracker_params(tracker, params, param_texts)  # a misspelt --param fails before the model loads
        if backend == "trt":  # say what is missing before a demo export is built for nothing
            from edge_tracker.backends.trt_loader import check_available

            check_available()
        self.model = resolve_model(model, backend, tracker, precision)
        self.loaded: LoadedModel = open_model(self.model, backend, device, tracker, precision)
        try:
            self.name = self.loaded.tracker
            self.recommended = dict(self.loaded.recommended_params)
            if self.recommended:
                logger.info("tracking parameters from the checkpoint: %s (--param overrides them)", self.recommended)
            self.params = tracker_params(self.name, {**self.recommended, **dict(params or {})}, param_texts)
        except BaseException:
            self.loaded.close()
            raise
        self.backend, self.device, self.precision = backend, device, precision
        self._preprocessor = preprocessor

    @property
    def runners(self):
        return self.loaded.runners

    def new_tracker(self):
        """A fresh tracker on the session's runners (trackers keep their state, runners are shared)."""
        if self._preprocessor is not None:
            preprocessor = self._preprocessor()
        elif hasattr(self.loaded, "preprocessor"):  # a GPU backend cuts crops on its own device and stream
            preprocessor = self.loaded.preprocessor()
        else:
            preprocessor = None
        # AFF-ATOM keeps its features and learner state in buffers of its own: on the GPU where the
        # backend has device memory for it (TensorRT), else on the host
        device_memory = None
        if self.name in ATOM_TRACKERS and hasattr(self.loaded, "device_memory"):
            device_memory = self.loaded.device_memory()
        return build_tracker(self.name, self.loaded.runners, self.params, preprocessor, device_memory)

    __call__ = new_tracker  # a Session is a tracker factory (``edge_tracker.evaluation.run``)

    def with_params(self, texts: Mapping[str, str]) -> None:
        """Apply more ``--param`` texts on top of the current parameters (checked now)."""
        self.params = tracker_params(self.name, dataclasses.asdict(self.params), texts)

    def settings(self) -> dict[str, Any]:
        """What ran: tracker, model, backend, device, precision and every parameter (for reports)."""
        return {"tracker": self.name, "model": str(self.model), "backend": self.backend, "device": self.device,
                "precision": self.precision, "params": dataclasses.asdict(self.params)}

    def close(self) -> None:
        """Free the runners' sessions, engines and device memory."""
        self.loaded.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------------------------------
# The frame loop
# --------------------------------------------------------------------------------------------------

@dataclass
class StreamRun:
    """What one run of :func:`run_stream` did, for the summary and the profiler."""

    tracker: str
    input_uri: str
    live: bool
    frames: int = 0              # frames with a result written, the initialisation frame included
    init_ms: float = 0.0
    wall_s: float = 0.0          # the loop's time over tracked frames (read, track, write)
    end: str = "end of stream"
    exit_code: int = 0
    source: Any = None           # the source's SourceStats at the end
    outputs: list = field(default_factory=list)  # (sink name, frames written)
    failures: dict = field(default_factory=dict)  # sink name -> why its writing stopped (a full disk, ...)
    # bounded: a live stream may run for days; count, mean and max stay exact (edge_tracker.stats)
    stages: StageStats = field(default_factory=lambda: StageStats(keep=STAGE_SAMPLES_KEPT))

    @property
    def tracked(self) -> int:
        return self.stages.count("track")

    def stage_order(self) -> list[str]:
        """read, the tracker's stages in their order, track, write."""
        inner = [s for s in self.stages.stages if s not in LOOP_STAGES]
        return ["read", *inner, "track", "write"]

    def summary(self) -> str:
        tracked = self.tracked
        lines = [f"{self.tracker}: {self.frames} frame(s) of {self.input_uri} "
                 f"(1 initialisation + {tracked} tracked); {self.end}"]
        if self.frames:
            lines.append(f"  initialisation (frame 0): {self.init_ms:.1f} ms")
        if tracked:
            track_s = self.stages.total_ms("track") / 1e3
            lines.append(f"  FPS: {_rate(tracked, self.wall_s):.1f} end to end (read, track, write), "
                         f"{_rate(tracked, track_s):.1f} tracker alone")
            parts = [f"{s.stage} {s.mean:.2f}" for s in self.stages.summaries(self.stage_order())]
            lines.append(f"  mean latency per frame, ms: {', '.join(parts)}")
            lines.append(self.stages.table(self.stage_order(), indent="    "))
        stats = self.source
        if stats is not None:
            text = f"  input: {stats.delivered} frame(s) read, {stats.decode_failures} undecodable (skipped)"
            if self.live:
                text += f", {stats.dropped} dropped, {stats.reconnects} reconnect(s)"
            lines.append(text)
        if self.outputs:
            lines.append("  outputs: " + "; ".join(
                f"{name} ({count} frames{f'; writing stopped: {self.failures[name]}' if name in self.failures else ''})"
                for name, count in self.outputs))
        else:
            lines.append("  outputs: none (give out.jsonl, out.mp4 or display://0 to keep the results)")
        return "\n".join(lines)


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def run_stream(tracker, name: str, source, open_sinks: Callable[[Any], Sequence[Any]], *,
               init_box=None, select_box: Callable[[Any], Any] | None = None, max_frames: int | None = None,
               status: Callable[[Any, dict, Any], None] | None = None, input_uri: str = "",
               live: bool = False, init_on_first_readable: bool = False) -> StreamRun:
    """Track one object from ``source`` (opened) into the sinks ``open_sinks(source)`` returns.

    The first frame initialises the tracker with ``init_box`` (or ``select_box(image)``); sinks are
    opened only then, so a bad box or a cancelled selection touches no output. ``init_box`` belongs
    to the stream's frame 0: when that frame does not decode (a file or folder skipped it), the
    run is refused (InputError) unless ``init_on_first_readable`` says to put the box on the first
    frame that does. Every later frame: read -> ``tracker.track`` -> each sink's ``write(frame,
    record)`` -> ``status(frame, record, source_stats)``. Ends at the end of the stream, a lost
    camera (exit code 1), ``max_frames``, a sink asking to stop (a window closed), a tracking error
    or a failed write (exit 1, results so far kept), Ctrl-C (exit 130) or SIGTERM/SIGHUP (143/129);
    the sinks are closed in every case. ``open_sinks`` returns context managers that the loop
    enters and exits.
    """
    run = StreamRun(tracker=name, input_uri=input_uri, live=live)
    first = source.read()
    if first is None:
        end = source.stats.end_reason
        raise InputError(f"input '{input_uri}' delivered no frame{f' ({end})' if end else ''}; nothing to track")
    skipped = getattr(first, "source_index", 0)
    if init_box is not None and not live and skipped:
        if not init_on_first_readable:
            raise InputError(
                f"frame 0 of '{input_uri}' does not decode, and the --init box was given for it; the first "
                f"readable frame is frame {skipped}. Repair the input, give the box of frame {skipped}, or "
                "pass --init-on-first-readable to initialise on that frame with this box")
        logger.warning("frame 0 of '%s' does not decode: initialising on frame %d with the --init box "
                       "(--init-on-first-readable)", input_uri, skipped)
    box = init_box if init_box is not None else select_box(first.image)
    start = time.perf_counter()
    tracker.initialize(first.image, box)  # a box outside the frame or of zero size fails here
    run.init_ms = 1e3 * (time.perf_counter() - start)
    with contextlib.ExitStack() as stack:
        sinks = [stack.enter_context(sink) for sink in open_sinks(source)]
        try:
            _write(sinks, first, {"box": [float(v) for v in box], "score": None, "state": INIT_STATE, "fps": None,
                                  "time_ms": run.init_ms, "timings_ms": {"initialize": run.init_ms}})
            run.frames = 1
            _loop(tracker, source, sinks, run, max_frames, status)
        except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM/SIGHUP through edge_tracker.signals
            signal_name, run.exit_code = interruption(err)
            run.end = "interrupted (Ctrl-C)" if signal_name == "Ctrl-C" else f"stopped by {signal_name}"
        except EdgeTrackerError as err:
            logger.error("%s", err)
            run.end, run.exit_code = "failed (see the error above); results so far are kept", 1
        finally:
            run.outputs = [(sink.name, sink.frames_written) for sink in sinks]
    run.outputs = [(sink.name, sink.frames_written) for sink in sinks]  # after close: final counts
    run.failures = {sink.name: sink.failure for sink in sinks if getattr(sink, "failure", None)}
    return run


def _loop(tracker, source, sinks, run: StreamRun, max_frames: int | None, status) -> None:
    period = None  # exponential average of the end-to-end frame period (read, track, write), s
    loop_start = loop_end = previous = time.perf_counter()
    try:
        while max_frames is None or run.frames < max_frames:
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
            run.stages.add("read", 1e3 * (t_read - loop_end))
            run.stages.add_all(result.timings_ms)
            run.stages.add("track", 1e3 * (t_track - t_read))
            run.stages.add("write", 1e3 * (t_write - t_track))
            run.frames += 1
            loop_end = t_write
            if status is not None:
                status(frame, record, source.stats)
            if any(sink.stop_requested for sink in sinks):
                run.end = "stopped from the window"
                return
        run.end = f"--max-frames {max_frames} reached"
    finally:
        run.wall_s = loop_end - loop_start


def _write(sinks, frame, record: dict) -> None:
    for sink in sinks:
        sink.write(frame, record)


class StatusLine:
    """One status line on a terminal (redrawn in place), a progress line per second elsewhere.

    Call it as :func:`run_stream`'s ``status``; :meth:`finish` ends the line.
    """

    TTY_INTERVAL_S = 0.1  # a terminal's status line is redrawn at most this often
    LOG_INTERVAL_S = 1.0  # a pipe or file gets one progress line per this many seconds

    def __init__(self, stream, quiet: bool, live: bool, clock=time.monotonic):
        self.stream, self.quiet, self.live, self.clock = stream, quiet, live, clock
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last: float | None = None
        self._width = 0

    def __call__(self, frame, record: dict, stats) -> None:
        self.update(frame.index, record.get("fps"), record["state"], record["score"], stats)

    def update(self, index: int, fps, state: str, score: float, stats) -> None:
        if self.quiet:
            return
        now = self.clock()
        interval = self.TTY_INTERVAL_S if self.tty else self.LOG_INTERVAL_S
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
        try:
            if self.tty:
                self.stream.write("\r" + text.ljust(self._width))
                self._width = len(text)
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed or its reader gone: status is not worth a stop
            self.quiet = True

    def finish(self) -> None:
        if self.tty and self._width and not self.quiet:
            with contextlib.suppress(OSError, ValueError):
                self.stream.write("\n")
                self.stream.flush()
            self._width = 0
