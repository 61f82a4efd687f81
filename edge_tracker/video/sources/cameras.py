"""Live cameras: V4L2 devices, Jetson CSI sensors through GStreamer, RTSP streams (``rtsp.py``).

``LiveSource`` wraps any camera behind a ``LatestFrameGrabber`` (``live.py``), so ``read()`` always
returns the current scene and counts what it skipped; ``CaptureSource`` builds the camera's opener
from a URI. The openers run in the capture thread, and again on each reconnect.

Tests replace the camera's opening here, in the module that looks the names up:
``monkeypatch.setattr(cameras, "_opencv_has_gstreamer", lambda: False)`` for CSI, and
``monkeypatch.setattr(rtsp, "_open_rtsp", fake)`` for RTSP, before the source is created.
"""

from __future__ import annotations

import functools
import glob
import re
from fractions import Fraction

import cv2
import numpy as np

from edge_tracker.errors import InputError
from edge_tracker.params import check_fps
from edge_tracker.video.live import CameraHandle, LatestFrameGrabber, Opener
from edge_tracker.video.sources import rtsp
from edge_tracker.video.sources.base import FrameSource, SourceStats, _capture_handle, _spec_of, logger
from edge_tracker.video.uri import InputSpec


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
            opener = functools.partial(rtsp._open_rtsp, spec, open_timeout_s, rtsp_transport)
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

    ``width`` and ``height`` are pixels, ``fps`` frames per second (29.97 and 59.94 mean the NTSC
    rates). The sensor delivers NV12 in NVMM (GPU) memory; nvvidconv flips and converts to BGRx on
    the VIC engine, videoconvert drops the x. ``appsink drop=true max-buffers=1`` keeps GStreamer
    itself from queueing frames (DESIGN principle 6), ``sync=false`` from pacing them to the clock.
    """
    for label, value, lowest in (("sensor_id", sensor_id, 0), ("width", width, 1), ("height", height, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lowest:
            raise InputError(f"csi_pipeline: {label}={value!r}; expected an integer >= {lowest}")
    fps = check_fps(fps, "csi_pipeline")
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


@functools.lru_cache(maxsize=1)
def _opencv_has_gstreamer() -> bool:
    # Read once: the build information is a long string and does not change while running.
    match = re.search(r"GStreamer:\s*(\w+)", cv2.getBuildInformation())
    return bool(match) and match.group(1).upper() == "YES"


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
