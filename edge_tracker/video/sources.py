"""Frame sources: video files, folders of frames, and live cameras, behind one life cycle.

Every source is used the same way::

    with open_source("clip.mp4") as source:      # or csi://0, /dev/video0, rtsp://..., a folder
        while (frame := source.read()) is not None:
            ...

``read()`` returns None only at the end of the stream. Files and folders deliver every frame in
order; a frame that fails to decode is skipped with a warning and counted. Live sources (V4L2, CSI,
RTSP) capture in a thread that keeps only the newest frame (see ``live.py``), so ``read()`` always
returns the current scene and counts what it skipped.
"""

from __future__ import annotations

import functools
import glob
import logging
import math
import os
import re
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from edge_tracker.errors import EdgeTrackerError, InputError
from edge_tracker.video.live import CameraHandle, LatestFrameGrabber, Opener
from edge_tracker.video.uri import FRAME_EXTENSIONS, InputSpec, check_options, parse_input_uri

logger = logging.getLogger("edge_tracker.video")


@dataclass(frozen=True, eq=False)
class Frame:
    """One frame as a source delivers it."""

    index: int          # 0-based position among the frames this source delivered
    image: np.ndarray   # [H, W, 3] uint8, BGR
    timestamp: float    # seconds: stream time for files and folders, capture time for live sources
    source_index: int   # position in the underlying stream: video frame number, file position in the
    #                     folder, capture sequence number of a camera. It differs from ``index`` after
    #                     a skipped (undecodable) or dropped frame.


@dataclass
class SourceStats:
    """What a source delivered and what it had to leave out."""

    delivered: int = 0        # frames returned by read()
    decode_failures: int = 0  # files and folders: frames skipped because they did not decode
    dropped: int = 0          # live: frames replaced by a newer one before they were read
    reconnects: int = 0       # live: camera reopened after it was lost
    end_reason: str | None = None  # set when the stream ended for another reason than its end


class FrameSource:
    """Base of all sources: ``open()``, ``read()`` until None, ``close()``; or use ``with``.

    A source is single-use: once closed it cannot be reopened. Subclasses implement ``_open``,
    ``_next`` (returning ``(image, timestamp, source_index)`` or None at the end) and ``_close``.
    """

    def __init__(self, name: str):
        self.name = name
        self.nominal_fps: float | None = None  # the stream's frame rate if known, after open()
        self._stats = SourceStats()
        self._state = "new"  # new -> open -> closed
        self._finished = False

    @property
    def stats(self) -> SourceStats:
        return self._stats

    def open(self) -> "FrameSource":
        if self._state != "new":
            raise EdgeTrackerError(f"source {self.name} is {self._state}; a source opens once, create a "
                                   "new one (open_source(...)) to read it again")
        self._open()
        self._state = "open"
        logger.info("opened %s", self.name)
        return self

    def read(self) -> Frame | None:
        """The next frame, or None at the end of the stream (and on every call after it)."""
        if self._state != "open":
            raise EdgeTrackerError(f"source {self.name}: read() on a {self._state} source; use "
                                   "'with open_source(uri) as source:' or call open() first")
        if self._finished:
            return None
        item = self._next()
        if item is None:
            self._finished = True
            return None
        image, timestamp, source_index = item
        frame = Frame(self._stats.delivered, _to_bgr(image, self.name), float(timestamp), int(source_index))
        self._stats.delivered += 1
        return frame

    def close(self) -> None:
        """Release the device or file; idempotent."""
        if self._state == "open":
            self._close()
            stats = self.stats
            logger.info("closed %s: %d frames delivered, %d decode failures, %d dropped, %d reconnects%s",
                        self.name, stats.delivered, stats.decode_failures, stats.dropped,
                        stats.reconnects, f" ({stats.end_reason})" if stats.end_reason else "")
        self._state = "closed"

    def __enter__(self) -> "FrameSource":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self):
        while (frame := self.read()) is not None:
            yield frame

    def _open(self) -> None:
        raise NotImplementedError

    def _next(self) -> tuple[np.ndarray, float, int] | None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


class FileSource(FrameSource):
    """Every frame of a video file, in order, through OpenCV's FFMPEG backend.

    Args:
        source: the file (path, ``file://`` URI or InputSpec of kind "file").
        max_consecutive_failures: failed decodes in a row after which the rest of the file counts as
            unreadable; failures followed by a good frame are skipped and counted.
    """

    def __init__(self, source: InputSpec | str | os.PathLike, *, max_consecutive_failures: int = 25):
        self.spec = _spec_of(source, ("file",))
        super().__init__(f"video file {self.spec.path}")
        self._max_failures = max(1, int(max_consecutive_failures))
        self._capture = None
        self._attempts = 0     # frames consumed from the file, decoded or not: the source index
        self._frame_count = 0  # the container's (estimated) frame count, 0 when unknown
        self._first = None

    def _open(self) -> None:
        capture = cv2.VideoCapture(str(self.spec.path))
        if not capture.isOpened():
            raise InputError(f"cannot open {self.spec.path} as a video: OpenCV's FFMPEG backend does not "
                             "recognise it. Expected a readable video (.mp4, .avi, .mkv, ...); check the "
                             "file plays (ffprobe) or convert it (ffmpeg -i IN -c:v libx264 OUT.mp4).")
        self._capture = capture
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.nominal_fps = fps if math.isfinite(fps) and fps > 0 else None
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self._frame_count = int(count) if math.isfinite(count) and count > 0 else 0
        # Decode the first frame now, so that a file with no decodable frame fails at open.
        self._first = self._decode_next()
        if self._first is None:
            capture.release()
            self._capture = None
            raise InputError(f"{self.spec.path} opens as a video but not one frame decodes; the file is "
                             "truncated or uses a codec this OpenCV lacks. Re-encode it, e.g. "
                             "ffmpeg -i IN -c:v libx264 OUT.mp4.")

    def _next(self):
        if self._first is not None:
            item, self._first = self._first, None
            return item
        return self._decode_next()

    def _decode_next(self):
        failed = 0
        while True:
            ok, image = self._capture.read()
            if ok and image is not None:
                source_index = self._attempts + failed
                self._attempts = source_index + 1
                if failed:  # the failed reads were frames after all, since a later one decoded
                    self._stats.decode_failures += failed
                    logger.warning("%s: %d frame(s) before frame %d failed to decode; skipped",
                                   self.name, failed, source_index)
                msec = self._capture.get(cv2.CAP_PROP_POS_MSEC)
                if math.isfinite(msec) and msec >= 0:
                    timestamp = msec / 1000.0
                else:
                    timestamp = source_index / (self.nominal_fps or 30.0)
                return image, timestamp, source_index
            # A failed read is either the end of the file or a frame that does not decode; only a
            # later successful read tells them apart, so failures are counted once one follows.
            failed += 1
            remaining = self._frame_count - self._attempts if self._frame_count else None
            if failed >= self._max_failures or (remaining is not None and failed >= remaining):
                if remaining is not None and remaining > failed:
                    logger.warning("%s ended after %d of the %d frames its header announces (truncated "
                                   "or corrupt file?)", self.name, self._attempts, self._frame_count)
                return None

    def _close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class FolderSource(FrameSource):
    """Every image of a folder (.jpg .jpeg .png .bmp), sorted by name with numbers compared as numbers.

    Args:
        source: the folder (path, ``file://`` URI or InputSpec of kind "folder").
        fps: frame rate used for timestamps (``source_index / fps`` seconds).
    """

    def __init__(self, source: InputSpec | str | os.PathLike, *, fps: float = 30.0):
        self.spec = _spec_of(source, ("folder",))
        super().__init__(f"frame folder {self.spec.path}")
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
            raise InputError(f"fps={fps!r} for {self.name}: expected a positive number of frames per second")
        self.nominal_fps = float(fps)
        self.files: list[Path] = []
        self._position = 0

    def _open(self) -> None:
        if not self.spec.path.is_dir():
            raise InputError(f"frame folder {self.spec.path} does not exist (any more); check the path")
        self.files = sorted((p for p in self.spec.path.iterdir()
                             if p.suffix.lower() in FRAME_EXTENSIONS and p.is_file()), key=_natural_key)
        if not self.files:
            raise InputError(f"frame folder {self.spec.path} holds no images; expected files ending in "
                             f"{', '.join(FRAME_EXTENSIONS)} (sorted by name)")

    def _next(self):
        while self._position < len(self.files):
            source_index, path = self._position, self.files[self._position]
            self._position += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                self._stats.decode_failures += 1
                logger.warning("%s: %s (frame %d) does not decode as an image; skipped", self.name,
                               path.name, source_index)
                continue
            return image, source_index / self.nominal_fps, source_index
        return None

    def _close(self) -> None:
        pass


class LiveSource(FrameSource):
    """A live camera behind a LatestFrameGrabber: ``read()`` returns the newest frame not yet seen.

    Use it directly for a camera OpenCV does not open (give an ``opener``, see ``live.py``);
    CaptureSource builds the opener from a URI.

    Args:
        opener: opens the camera and returns a CameraHandle or a grab callable.
        name: the camera's name in messages.
        reconnect, max_reconnects, max_failures, backoff_s: see LatestFrameGrabber.
        stall_timeout: seconds a single camera call may block before the stream is ended as stalled
            (a driver that hangs instead of failing); None waits forever.
    """

    def __init__(self, opener: Opener, *, name: str = "camera", reconnect: bool = False,
                 max_reconnects: int = 5, max_failures: int = 5, backoff_s: float = 0.5,
                 stall_timeout: float | None = 15.0):
        super().__init__(name)
        self._grabber = LatestFrameGrabber(opener, name=name, reconnect=reconnect,
                                           max_reconnects=max_reconnects, max_failures=max_failures,
                                           backoff_s=backoff_s)
        self._stall_timeout = stall_timeout

    @property
    def stats(self) -> SourceStats:
        grabbed = self._grabber.stats
        self._stats.dropped = grabbed.dropped
        self._stats.reconnects = grabbed.reconnects
        self._stats.end_reason = self._stats.end_reason or grabbed.end_reason
        return self._stats

    def _open(self) -> None:
        self._grabber.start()

    def _next(self):
        # Wait in short slices so that a capture thread stuck inside a camera call is noticed.
        while True:
            grabbed = self._grabber.read(timeout=0.25)
            if grabbed is not None:
                return grabbed.image, grabbed.timestamp, grabbed.seq
            if self._grabber.ended:
                return None
            blocked = self._grabber.blocked_s
            if self._stall_timeout is not None and blocked > self._stall_timeout:
                self._stats.end_reason = (f"camera {self.name} stalled: a camera call has blocked for "
                                          f"{blocked:.1f} s")
                logger.error("%s; ending the stream", self._stats.end_reason)
                self._grabber.stop(timeout=0.1)
                return None

    def _close(self) -> None:
        self._grabber.stop()


class CaptureSource(LiveSource):
    """A V4L2, CSI or RTSP camera opened through OpenCV.

    Args:
        source: ``/dev/videoN``, ``v4l2://N``, ``csi://N``, ``rtsp://...`` or an InputSpec.
        width, height, fps: requested capture mode; None keeps the device default (CSI: 1280x720 at
            30 FPS, a mode every Jetson CSI sensor driver offers).
        flip: CSI only, nvvidconv flip method (a name of ``CSI_FLIP_METHODS`` or 0..7).
        open_timeout_s: RTSP: give up connecting, or reading a frame, after this many seconds.
        rtsp_transport: "tcp" (default: no smeared frames from lost UDP packets) or "udp".
        reconnect, max_reconnects, max_failures, backoff_s, stall_timeout: see LiveSource.
    """

    def __init__(self, source: InputSpec | str, *, width: int | None = None, height: int | None = None,
                 fps: float | None = None, flip: str | int = "none", open_timeout_s: float = 5.0,
                 rtsp_transport: str = "tcp", reconnect: bool = False, max_reconnects: int = 5,
                 max_failures: int = 5, backoff_s: float = 0.5, stall_timeout: float | None = 15.0):
        spec = _spec_of(source, ("v4l2", "csi", "rtsp"))
        if rtsp_transport not in ("tcp", "udp"):
            raise InputError(f"rtsp_transport={rtsp_transport!r}: expected 'tcp' or 'udp'")
        if spec.kind == "csi":
            width, height, fps = width or 1280, height or 720, fps or 30
            pipeline = csi_pipeline(spec.index, width, height, fps, flip)  # checks the arguments now
            opener = functools.partial(_open_csi, spec, pipeline)
        elif spec.kind == "v4l2":
            opener = functools.partial(_open_v4l2, spec, width, height, fps)
        else:
            opener = functools.partial(_open_rtsp, spec, open_timeout_s, rtsp_transport)
        super().__init__(opener, name=spec.uri, reconnect=reconnect, max_reconnects=max_reconnects,
                         max_failures=max_failures, backoff_s=backoff_s, stall_timeout=stall_timeout)
        self.spec = spec
        self.nominal_fps = float(fps) if fps else None


# nvvidconv's flip-method values, under the names jetson-utils uses for --input-flip.
CSI_FLIP_METHODS = {
    "none": 0, "counterclockwise": 1, "rotate-180": 2, "clockwise": 3,
    "horizontal": 4, "upper-right-diagonal": 5, "vertical": 6, "upper-left-diagonal": 7,
}


def csi_pipeline(sensor_id: int = 0, width: int = 1280, height: int = 720, fps: float = 30,
                 flip: str | int = "none") -> str:
    """GStreamer pipeline string for a Jetson CSI camera, for ``cv2.VideoCapture(p, cv2.CAP_GSTREAMER)``.

    The sensor delivers NV12 in NVMM (GPU) memory; nvvidconv flips and converts to BGRx on the VIC
    engine, videoconvert drops the x. ``appsink drop=true max-buffers=1`` keeps GStreamer itself from
    queueing frames (DESIGN principle 6), ``sync=false`` from pacing them to the clock.
    """
    for label, value, lowest in (("sensor_id", sensor_id, 0), ("width", width, 1), ("height", height, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lowest:
            raise InputError(f"csi_pipeline: {label}={value!r}; expected an integer >= {lowest}")
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise InputError(f"csi_pipeline: fps={fps!r}; expected a positive frame rate such as 30 or 59.94")
    if isinstance(flip, str):
        if flip not in CSI_FLIP_METHODS:
            raise InputError(f"csi_pipeline: flip={flip!r}; expected one of {', '.join(CSI_FLIP_METHODS)} "
                             "or a flip-method number 0..7")
        flip_method = CSI_FLIP_METHODS[flip]
    elif isinstance(flip, (int, np.integer)) and not isinstance(flip, bool) and 0 <= flip <= 7:
        flip_method = int(flip)
    else:
        raise InputError(f"csi_pipeline: flip={flip!r}; expected a name ({', '.join(CSI_FLIP_METHODS)}) "
                         "or a flip-method number 0..7")
    rate = _caps_rate(fps)
    return (f"nvarguscamerasrc sensor-id={int(sensor_id)} ! "
            f"video/x-raw(memory:NVMM), width=(int){int(width)}, height=(int){int(height)}, "
            f"framerate=(fraction){rate.numerator}/{rate.denominator}, format=(string)NV12 ! "
            f"nvvidconv flip-method={flip_method} ! video/x-raw, format=(string)BGRx ! "
            f"videoconvert ! video/x-raw, format=(string)BGR ! "
            f"appsink drop=true max-buffers=1 sync=false")


def _caps_rate(fps: float) -> Fraction:
    # "29.97" and "59.94" mean the NTSC rates 30000/1001 and 60000/1001, which is what sensor modes
    # report; a plain decimal fraction (2997/100) would match no mode.
    ntsc = round(fps * 1.001)
    if ntsc > 0 and abs(fps - ntsc / 1.001) < 0.005 and abs(fps - ntsc) > 0.005:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(fps).limit_denominator(1000)


def open_source(uri_or_spec: InputSpec | str | os.PathLike, **options) -> FrameSource:
    """Create the source for an input URI; it is not opened yet (use ``with`` or ``open()``).

    ``options`` go to the source class (FileSource, FolderSource or CaptureSource); an option that
    class does not take raises InputError listing the ones it does.
    """
    spec = uri_or_spec if isinstance(uri_or_spec, InputSpec) else parse_input_uri(uri_or_spec)
    cls = {"file": FileSource, "folder": FolderSource}.get(spec.kind, CaptureSource)
    check_options(cls, options, f"a {spec.kind} input ({spec.uri})")
    return cls(spec, **options)


# -- helpers -------------------------------------------------------------------------------------


def _spec_of(source, kinds: tuple[str, ...]) -> InputSpec:
    spec = source if isinstance(source, InputSpec) else parse_input_uri(source)
    if spec.kind not in kinds:
        raise InputError(f"input '{spec.uri}' is a {spec.kind} input; this source reads "
                         f"{' or '.join(kinds)} inputs. Use open_source(uri) to pick the right one.")
    return spec


def _natural_key(path: Path):
    # frame2.jpg before frame10.jpg: unpadded numbering is common in exported frame folders.
    parts = re.split(r"(\d+)", path.name)
    return [int(part) if i % 2 else part for i, part in enumerate(parts)]


def _to_bgr(image, name: str) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise InputError(f"{name} delivered a {getattr(image, 'dtype', type(image).__name__)} image; "
                         "expected uint8 BGR [H, W, 3]")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise InputError(f"{name} delivered an image of shape {image.shape}; expected [H, W, 3] BGR")


@functools.lru_cache(maxsize=1)
def _opencv_has_gstreamer() -> bool:
    match = re.search(r"GStreamer:\s*(\w+)", cv2.getBuildInformation())
    return bool(match) and match.group(1).upper() == "YES"


def _capture_handle(capture) -> CameraHandle:
    def grab():
        ok, image = capture.read()
        return image if ok else None
    return CameraHandle(grab=grab, close=capture.release)


def _open_csi(spec: InputSpec, pipeline: str) -> CameraHandle:
    if not _opencv_has_gstreamer():
        raise InputError(
            f"{spec.uri} needs OpenCV built with GStreamer and NVIDIA's nvarguscamerasrc, i.e. a Jetson "
            f"with JetPack; this OpenCV ({cv2.__version__}) has no GStreamer support. On a Jetson, use "
            "the OpenCV that JetPack installs (pip uninstall opencv-python opencv-python-headless) and "
            f"check the camera with: gst-launch-1.0 nvarguscamerasrc sensor-id={spec.index} num-buffers=30 "
            "! fakesink. Elsewhere, use /dev/videoN, rtsp://... or a file.")
    capture = cv2.VideoCapture(pipeline, cv2.CAP_GSTREAMER)
    if not capture.isOpened():
        raise InputError(
            f"could not open CSI camera {spec.index} ({spec.uri}) with the GStreamer pipeline: {pipeline}. "
            "Check the sensor is connected and nvargus-daemon runs (sudo systemctl restart nvargus-daemon), that "
            "the mode exists (width/height/fps), and test with gst-launch-1.0 nvarguscamerasrc "
            f"sensor-id={spec.index} num-buffers=30 ! fakesink.")
    return _capture_handle(capture)


def _open_v4l2(spec: InputSpec, width, height, fps) -> CameraHandle:
    if not spec.path.exists():
        present = sorted(glob.glob("/dev/video*")) or ["none"]
        raise InputError(f"V4L2 camera {spec.path} ({spec.uri}) does not exist; cameras present: "
                         f"{', '.join(present)}. Check it is plugged in (v4l2-ctl --list-devices).")
    capture = cv2.VideoCapture(str(spec.path), cv2.CAP_V4L2)
    if not capture.isOpened():
        raise InputError(f"could not open V4L2 camera {spec.path} ({spec.uri}): it is busy (another "
                         "program uses it), not a capture node, or not readable by this user (add the "
                         "user to the 'video' group).")
    # The driver queues several buffers by default: that queue is latency the tracker would see.
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, width), (cv2.CAP_PROP_FRAME_HEIGHT, height),
                        (cv2.CAP_PROP_FPS, fps)):
        if value:
            capture.set(prop, float(value))
    got = (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT),
           capture.get(cv2.CAP_PROP_FPS))
    if any(want and abs(float(want) - have) > 0.5 for want, have in zip((width, height, fps), got)):
        logger.warning("%s: asked for %sx%s at %s FPS, the driver chose %.0fx%.0f at %.1f FPS",
                       spec.uri, width, height, fps, *got)
    return _capture_handle(capture)


# OpenCV takes FFMPEG demuxer options only from this environment variable, read when a capture opens;
# the lock keeps two threads from opening streams with each other's options.
_FFMPEG_OPTIONS_LOCK = threading.Lock()


def _open_rtsp(spec: InputSpec, timeout_s: float, transport: str) -> CameraHandle:
    # nobuffer/low_delay: hand each frame over as soon as it is decoded instead of buffering ahead.
    options = f"rtsp_transport;{transport}|fflags;nobuffer|flags;low_delay"
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(timeout_s * 1000),
              cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(timeout_s * 1000)]
    with _FFMPEG_OPTIONS_LOCK:
        previous = os.environ.get("OPENCV_FFMPEG_CAPTURE_OPTIONS")
        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = options
        try:
            capture = cv2.VideoCapture(spec.url, cv2.CAP_FFMPEG, params)
        finally:
            if previous is None:
                os.environ.pop("OPENCV_FFMPEG_CAPTURE_OPTIONS", None)
            else:
                os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = previous
    if not capture.isOpened():
        raise InputError(f"could not open the stream {spec.url} within {timeout_s:g} s: check the host is "
                         "reachable, the path and credentials are right (rtsp://user:pass@host:port/path), "
                         "and try rtsp_transport='udp' if the server refuses TCP; test with ffplay URL.")
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return _capture_handle(capture)
