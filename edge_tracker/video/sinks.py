"""Frame sinks: a video with the box drawn, JSON lines of results, a window.

Every sink is used the same way::

    with open_sink("out.jsonl") as sink:      # or out.mp4, display://0
        sink.write(frame, {"box": [x, y, w, h], "score": 0.93, "state": "tracking", "fps": 81.2})

``result["box"]`` is xywh in pixels (``edge_tracker.geometry``'s convention) or None when the target
is lost; the other keys are optional. Output paths are checked when the sink opens, before any frame
is processed, and results already written stay readable whatever happens later (DESIGN principle 7):
every write is checked, and a failed one (a full disk) raises InputError naming the output and what
it holds, and sets ``sink.failure`` (the reason) for the run's summary; later writes are refused.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from edge_tracker.errors import EdgeTrackerError, InputError
from edge_tracker.params import check_fps
from edge_tracker.video.display import display_missing
from edge_tracker.video.drawing import BOX_COLOR, checked_box, draw_result
from edge_tracker.video.sources import Frame
from edge_tracker.video.uri import OutputSpec, check_options, parse_output_uri
from edge_tracker.video.writers import JPEG_QUALITY, open_video_writer

logger = logging.getLogger("edge_tracker.video")

# Keys each JSON line takes from the Frame; a result may not use them for something else.
FRAME_KEYS = ("frame", "source_index", "timestamp")


class FrameSink:
    """Base of all sinks: ``open()``, ``write(frame, result)`` per frame, ``close()``; or use ``with``.

    ``stop_requested`` turns True when the user asks to stop through the sink (a closed window, q);
    ``failure`` says why writing stopped (a full disk, ...), None while every write succeeded.
    """

    def __init__(self, name: str):
        self.name = name
        self.frames_written = 0
        self.stop_requested = False
        self.failure: str | None = None
        self._state = "new"  # new -> open -> closed

    def open(self) -> "FrameSink":
        if self._state != "new":
            raise EdgeTrackerError(f"sink {self.name} is {self._state}; a sink opens once, create a new one")
        self._open()
        self._state = "open"
        logger.info("opened %s", self.name)
        return self

    def write(self, frame: Frame, result: Mapping) -> None:
        """Record one frame and the tracker's result for it."""
        if self._state != "open":
            raise EdgeTrackerError(f"sink {self.name}: write() on a {self._state} sink; use "
                                   "'with open_sink(uri) as sink:' or call open() first")
        if self.failure:
            raise InputError(f"{self.name}: an earlier write failed ({self.failure}); no more frames are "
                             "written")
        self._write(frame, result, checked_box(result, self.name))
        self.frames_written += 1

    def close(self) -> None:
        """Finish the output; idempotent."""
        if self._state == "open":
            self._close()
            logger.info("closed %s: %d frames written", self.name, self.frames_written)
        self._state = "closed"

    def __enter__(self) -> "FrameSink":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def _open(self) -> None:
        raise NotImplementedError

    def _write(self, frame: Frame, result: Mapping, box: tuple[float, float, float, float] | None) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


class VideoSink(FrameSink):
    """A video file with the result drawn on every frame; what was written survives a kill.

    Motion JPEG in a fragmented MP4 (``.mp4``), Matroska (``.mkv``) or AVI (``.avi``), written
    append-only, a frame per write (``writers.py``): a killed process leaves a file that decodes up
    to its last frame, and a failed write (a full disk) ends the sink with an InputError naming the
    file and the frames it holds (it ends on a whole frame).

    The writer is created on the first frame, from its size; every later frame must have that size.

    Args:
        target: ``out.mp4|.avi|.mkv``, ``file://...`` or an OutputSpec of kind "video".
        fps: frame rate written into the file.
        color: box colour, BGR.
        jpeg_quality: JPEG quality of ``.mp4`` frames, 1..100.
        sync_s: force the file to the disk every this many seconds of video (0: leave it to the OS);
            bounds what a power loss costs.
    """

    def __init__(self, target: OutputSpec | str | os.PathLike, *, fps: float = 30.0,
                 color: tuple[int, int, int] = BOX_COLOR, jpeg_quality: int = JPEG_QUALITY, sync_s: float = 1.0):
        self.spec = _spec_of(target, "video")
        super().__init__(f"video file {self.spec.path}")
        self.fps = check_fps(fps, self.name)
        self.color = tuple(int(c) for c in color)
        if not (isinstance(jpeg_quality, int) and 1 <= jpeg_quality <= 100):
            raise InputError(f"jpeg_quality={jpeg_quality!r} for {self.name}: expected a whole number 1..100")
        if not (isinstance(sync_s, (int, float)) and math.isfinite(sync_s) and sync_s >= 0):
            raise InputError(f"sync_s={sync_s!r} for {self.name}: expected seconds >= 0 (0: never)")
        self.jpeg_quality, self.sync_s = jpeg_quality, float(sync_s)
        self._writer = None
        self._size = None
        self._created = False

    def _open(self) -> None:
        # Creating the (empty) file proves the path is writable now, not after the first frame's work.
        self._created = _probe_writable(self.spec.path, self.spec.uri)

    def _write(self, frame, result, box) -> None:
        height, width = frame.image.shape[:2]
        if self._writer is None:
            try:
                self._writer = open_video_writer(self.spec.path, width, height, self.fps,
                                                 jpeg_quality=self.jpeg_quality, sync_s=self.sync_s)
            except OSError as err:
                self._fail(err)
            self._size = (width, height)
        elif (width, height) != self._size:
            # A writer would drop such a frame without a word.
            raise InputError(f"frame {frame.index} is {width}x{height} but {self.name} was started at "
                             f"{self._size[0]}x{self._size[1]}; a video has one frame size")
        try:
            self._writer.write(draw_result(frame.image, result, self.color))
        except OSError as err:
            self._fail(err)

    def _fail(self, err: OSError):
        self.failure = err.strerror or str(err)
        raise InputError(f"writing {self.name} failed at frame {self.frames_written}: {self.failure}. The "
                         f"file holds {self.frames_written} frames and stays readable; free disk space or write "
                         "to another path.") from err

    def _close(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except OSError as err:
                logger.warning("%s: closing failed: %s", self.name, err.strerror or err)
            self._writer = None
        elif self._created and self.spec.path.exists() and self.spec.path.stat().st_size == 0:
            self.spec.path.unlink()  # the probe file, when no frame came
            logger.warning("%s: no frame was written; no file left behind", self.name)


class JsonlSink(FrameSink):
    """One JSON object per frame: ``frame``, ``source_index``, ``timestamp``, then the result's keys.

    Each line reaches the operating system before ``write()`` returns, so a crash or Ctrl-C loses
    nothing already written. Floats are rounded to ``digits`` decimals; NaN and infinity become null.

    Args:
        target: ``out.jsonl``, ``file://out.jsonl``, an OutputSpec of kind "jsonl", or an open text
            stream (e.g. ``sys.stdout``; flushed per line, not closed).
        digits: decimals kept for floats (3: a thousandth of a pixel, a microsecond in ``time_ms``).
        append: add to an existing file instead of replacing it.
        fsync: also force every line to the disk; survives power loss (a drone's battery), costs a
            disk write per frame.
    """

    def __init__(self, target, *, digits: int = 3, append: bool = False, fsync: bool = False):
        if hasattr(target, "write") and not isinstance(target, (str, os.PathLike)):
            self.spec, self._stream = None, target
            super().__init__(f"JSON lines stream {getattr(target, 'name', type(target).__name__)}")
        else:
            self.spec, self._stream = _spec_of(target, "jsonl"), None
            super().__init__(f"JSON lines file {self.spec.path}")
        self.digits = int(digits)
        self.append = bool(append)
        self.fsync = bool(fsync)
        self.bytes_written = 0
        self._file = None

    def _open(self) -> None:
        if self.spec is None:
            return
        _check_folder(self.spec.path, self.spec.uri)
        try:
            # Unbuffered: each line is one write to the OS, so nothing waits in a Python buffer.
            self._file = open(self.spec.path, "ab" if self.append else "wb", buffering=0)
        except OSError as err:
            raise InputError(f"cannot write results to {self.spec.path} ({self.spec.uri}): {err.strerror}; "
                             "choose a writable path") from err
        self.bytes_written = self._file.tell() if self.append else 0

    def _write(self, frame, result, box) -> None:
        line = json.dumps(self._record(frame, result, box), allow_nan=False, separators=(",", ":")) + "\n"
        try:
            if self._stream is not None:
                self._stream.write(line)
                self._stream.flush()
            else:
                self._write_all(line.encode("utf-8"))
        except OSError as err:
            self.failure = err.strerror or str(err)
            self._restore_last_line()
            raise InputError(
                f"writing results to {self.name} failed after {self.frames_written} complete lines "
                f"({self.bytes_written} bytes) were written: {err.strerror or err}. Those lines are intact "
                "and readable; free disk space or write to another path.") from err
        self.bytes_written += len(line.encode("utf-8"))

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            count = self._file.write(view)
            if count is None:  # a non-blocking file: not the case for regular files, but not a loop
                raise OSError("the output file would block")
            view = view[count:]
        if self.fsync:
            os.fsync(self._file.fileno())

    def _restore_last_line(self) -> None:
        # A half-written line would make the file invalid JSON lines; cut back to the last whole one.
        if self._file is None:
            return
        try:
            self._file.truncate(self.bytes_written)
        except OSError as err:  # e.g. a device such as /dev/full; the whole lines are there either way
            logger.debug("%s: could not cut the partial line: %s", self.name, err)

    def _record(self, frame: Frame, result: Mapping, box) -> dict:
        record = {"frame": frame.index, "source_index": frame.source_index,
                  "timestamp": round(frame.timestamp, self.digits)}
        for key, value in result.items():
            if key in FRAME_KEYS:
                raise InputError(f"result key '{key}' clashes with the frame's own '{key}' in {self.name}; "
                                 f"rename it (reserved: {', '.join(FRAME_KEYS)})")
            record[str(key)] = list(box) if key == "box" and box is not None else value
        return _jsonable(record, self.digits, self.name)

    def _close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError as err:
                logger.warning("%s: closing failed: %s", self.name, err)
            self._file = None


class DisplaySink(FrameSink):
    """An OpenCV window showing the frame and the result; q, Esc or closing the window stops.

    Args:
        target: ``display://N`` or an OutputSpec of kind "display". OpenCV opens its windows on the
            default screen, so N other than 0 is logged and otherwise ignored.
        title: window title.
        color: box colour, BGR.
    """

    def __init__(self, target: OutputSpec | str = "display://0", *, title: str = "edge_tracker",
                 color: tuple[int, int, int] = BOX_COLOR):
        self.spec = _spec_of(target, "display")
        super().__init__(f"window '{title}' ({self.spec.uri})")
        self.title = title
        self.color = tuple(int(c) for c in color)

    def _open(self) -> None:
        if display_missing():
            raise InputError(f"{self.spec.uri}: no display is available (DISPLAY is not set). Run with "
                             "--headless, or write to a file instead (out.mp4, out.jsonl); over ssh, "
                             "use ssh -X or export DISPLAY=:0 for the Jetson's own screen.")
        if self.spec.index:
            logger.warning("%s: OpenCV windows open on the default screen; display %d is not selected",
                           self.spec.uri, self.spec.index)
        try:
            cv2.namedWindow(self.title, cv2.WINDOW_AUTOSIZE)
        except cv2.error as err:
            reason = str(getattr(err, "err", "") or err).strip()
            raise InputError(f"{self.spec.uri}: this OpenCV cannot open windows ({reason}); it is "
                             "probably opencv-python-headless. Install opencv-python (or JetPack's OpenCV), "
                             "or run with --headless.") from err

    def _write(self, frame, result, box) -> None:
        cv2.imshow(self.title, draw_result(frame.image, result, self.color))
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27) or cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            self.stop_requested = True

    def _close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
        except cv2.error as err:  # the user may have closed it already
            logger.debug("%s: destroyWindow: %s", self.name, err)


def open_sink(uri_or_spec: OutputSpec | str | os.PathLike, **options) -> FrameSink:
    """Create the sink for an output URI; it is not opened yet (use ``with`` or ``open()``).

    ``options`` go to the sink class; one it does not take raises InputError listing the valid ones.
    """
    spec = uri_or_spec if isinstance(uri_or_spec, OutputSpec) else parse_output_uri(uri_or_spec)
    cls = {"video": VideoSink, "jsonl": JsonlSink, "display": DisplaySink}[spec.kind]
    check_options(cls, options, f"a {spec.kind} output ({spec.uri})")
    return cls(spec, **options)


# -- helpers -------------------------------------------------------------------------------------


def _spec_of(target, kind: str) -> OutputSpec:
    spec = target if isinstance(target, OutputSpec) else parse_output_uri(target)
    if spec.kind != kind:
        raise InputError(f"output '{spec.uri}' is a {spec.kind} output, not a {kind} one; use "
                         "open_sink(uri) to pick the right sink")
    return spec


def _check_folder(path: Path, uri: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"cannot write {path} ({uri}): the folder {folder} does not exist; create it "
                         f"(mkdir -p {folder}) or choose another path")
    if path.is_dir():
        raise InputError(f"cannot write {path} ({uri}): it is a folder; give a file name such as "
                         f"{path / ('out' + path.suffix)}")


def _probe_writable(path: Path, uri: str) -> bool:
    """Check ``path`` can be written by creating it if needed; return whether it was created."""
    _check_folder(path, uri)
    existed = path.exists()
    try:
        with open(path, "ab"):  # append mode: an existing file stays as it is until the first frame
            pass
    except OSError as err:
        raise InputError(f"cannot write {path} ({uri}): {err.strerror}; choose a writable path") from err
    return not existed


def _jsonable(value, digits: int, name: str, key: str = ""):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return round(float(value), digits) if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, digits, name, key) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, digits, name, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    raise InputError(f"{name}: result value of '{key}' is a {type(value).__name__}, which JSON cannot hold; "
                     "give numbers, strings, lists, dicts or None")
