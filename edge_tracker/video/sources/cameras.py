"""Live cameras: V4L2 devices, Jetson CSI sensors through GStreamer, RTSP streams (``rtsp.py``).

``LiveSource`` wraps any camera behind a ``LatestFrameGrabber`` (``live.py``), so ``read()`` always
returns the current scene and counts what it skipped; ``CaptureSource`` builds the camera's opener
from a URI. The openers run in the capture thread, and again on each reconnect.

Tests replace the camera's opening here, in the module that looks the names up:
``monkeypatch.setattr(cameras, "_opencv_has_gstreamer", lambda: False)`` for CSI,
``monkeypatch.setattr(cameras, "_jetson_gstreamer", lambda: False)`` to take the plain OpenCV path
for V4L2 and RTSP, and ``monkeypatch.setattr(rtsp, "_open_rtsp", fake)`` for RTSP, before the source
is created.
"""

from __future__ import annotations

import functools
import glob
import re
import shutil
import subprocess
from pathlib import Path

import cv2

from edge_tracker.errors import InputError
from edge_tracker.video.live import CameraHandle, LatestFrameGrabber, Opener
from edge_tracker.video.sources import rtsp
from edge_tracker.video.sources.pipelines import (  # noqa: F401 - CSI_FLIP_METHODS: re-exported
    CSI_FLIP_METHODS,
    RTSP_CODECS,
    USB_DECODERS,
    csi_pipeline,
    flip_image,
    flip_method,
    rtsp_pipeline,
    usb_pipeline,
)
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

    On a Jetson whose OpenCV has GStreamer, USB cameras and RTSP streams are decoded by the hardware
    (``pipelines.py``: ``nvv4l2decoder``, ``nvvidconv``); where that pipeline cannot open (no
    GStreamer, a camera without MJPEG, a stream of another codec) OpenCV's V4L2 or FFMPEG backend is
    used, with a warning. CSI cameras always need GStreamer.

    Args:
        source: ``/dev/videoN``, ``v4l2://N``, ``csi://N``, ``rtsp://...`` or an InputSpec.
        width, height, fps: requested capture mode; None keeps the device default (CSI: 1280x720 at
            30 FPS, a mode every Jetson CSI sensor driver offers). RTSP streams keep the sender's mode.
        flip: nvvidconv flip method (a name of ``CSI_FLIP_METHODS`` or 0..7): in the GStreamer
            pipeline, or applied to each frame where the camera is opened without one.
        codec: RTSP on a Jetson: the stream's codec, ``h264`` or ``h265`` (``--input-codec``).
        open_timeout_s: RTSP: give up connecting, or reading a frame, after this many seconds.
        rtsp_transport: "tcp" (default: no smeared frames from lost UDP packets) or "udp".
        reconnect, max_reconnects, max_failures, backoff_s, stall_timeout: see LiveSource.
    """

    def __init__(self, source: InputSpec | str, *, width: int | None = None, height: int | None = None,
                 fps: float | None = None, flip: str | int = "none", codec: str = "h264",
                 open_timeout_s: float = 5.0, rtsp_transport: str = "tcp", reconnect: bool = False,
                 max_reconnects: int = 5, max_failures: int = 5, backoff_s: float = 0.5,
                 stall_timeout: float | None = 15.0):
        spec = _spec_of(source, ("v4l2", "csi", "rtsp"))
        if rtsp_transport not in ("tcp", "udp"):
            raise InputError(f"rtsp_transport={rtsp_transport!r}: expected 'tcp' or 'udp'")
        flip_method(flip, f"flip for {spec.uri}")  # checked now, not in the capture thread
        if spec.kind == "csi":
            width, height, fps = width or 1280, height or 720, fps or 30
            pipeline = csi_pipeline(spec.index, width, height, fps, flip)  # checks the arguments now
            opener = functools.partial(_open_csi, spec, pipeline)
        elif spec.kind == "v4l2":
            usb_pipeline(str(spec.path), width, height, fps, flip)  # checks the mode now
            opener = functools.partial(_open_v4l2, spec, width, height, fps, flip)
        else:
            if width is not None or height is not None or fps is not None:
                raise InputError(f"{spec.uri}: an RTSP stream arrives in the sender's size and rate; "
                                 "set them on the camera or server, not with width/height/fps")
            rtsp_pipeline(spec.url, codec, 0, rtsp_transport, flip)  # checks the codec and URL now
            opener = functools.partial(_open_stream, spec, open_timeout_s, rtsp_transport, codec, flip)
        super().__init__(opener, name=spec.uri, reconnect=reconnect, max_reconnects=max_reconnects,
                         max_failures=max_failures, backoff_s=backoff_s, stall_timeout=stall_timeout)
        self.spec = spec
        self.nominal_fps = float(fps) if fps else None


def _jetson_gstreamer() -> bool:
    """True on a Jetson (L4T) whose OpenCV has GStreamer: the hardware pipelines can be tried."""
    return Path("/etc/nv_tegra_release").is_file() and _opencv_has_gstreamer()


@functools.lru_cache(maxsize=None)
def _gst_has(element: str) -> bool:
    """Whether GStreamer has ``element`` installed (``gst-inspect-1.0 --exists``)."""
    if shutil.which("gst-inspect-1.0") is None:
        return False
    try:
        return subprocess.run(["gst-inspect-1.0", "--exists", element], capture_output=True,
                              timeout=10, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _open_gstreamer(pipeline: str) -> CameraHandle | None:
    capture = cv2.VideoCapture(pipeline, cv2.CAP_GSTREAMER)
    if capture.isOpened():
        return _capture_handle(capture)
    capture.release()
    return None


def _flipped(handle: CameraHandle, flip: str | int) -> CameraHandle:
    if flip_method(flip) == 0:
        return handle

    def grab():
        image = handle.grab()
        return None if image is None else flip_image(image, flip)
    return CameraHandle(grab=grab, close=handle.close)


def _open_stream(spec: InputSpec, timeout_s: float, transport: str, codec: str, flip) -> CameraHandle:
    """RTSP: NVDEC through GStreamer on a Jetson, else (or if that fails) OpenCV's FFMPEG backend."""
    if _jetson_gstreamer() and _gst_has("nvv4l2decoder"):
        pipeline = rtsp_pipeline(spec.url, codec, 0, transport, flip)
        handle = _open_gstreamer(pipeline)
        if handle is not None:
            logger.info("%s: decoding on the Jetson's NVDEC: %s", spec.uri, pipeline)
            return handle
        logger.warning("%s: the hardware-decoding pipeline did not open (is the stream %s? "
                       "--input-codec h264|h265); trying OpenCV's FFMPEG backend: %s", spec.uri, codec, pipeline)
    return _flipped(rtsp._open_rtsp(spec, timeout_s, transport), flip)


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


def _open_v4l2(spec: InputSpec, width, height, fps, flip="none") -> CameraHandle:
    if not spec.path.exists():
        present = sorted(glob.glob("/dev/video*")) or ["none"]
        raise InputError(f"V4L2 camera {spec.path} ({spec.uri}) does not exist; cameras present: "
                         f"{', '.join(present)}. Check it is plugged in (v4l2-ctl --list-devices).")
    if _jetson_gstreamer():
        # MJPEG decoded on NVJPG where an element for it is installed, then the camera's raw format.
        for decoder in [d for d in USB_DECODERS if d is None or _gst_has(d)]:
            pipeline = usb_pipeline(str(spec.path), width, height, fps, flip, decoder)
            handle = _open_gstreamer(pipeline)
            if handle is not None:
                logger.info("%s: opened through GStreamer: %s", spec.uri, pipeline)
                return handle
        logger.warning("%s: no GStreamer pipeline opened (check the mode with v4l2-ctl --list-formats-ext); "
                       "using OpenCV's V4L2 backend", spec.uri)
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
    return _flipped(_capture_handle(capture), flip)
