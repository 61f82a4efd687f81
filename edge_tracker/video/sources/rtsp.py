"""Opening an RTSP stream through OpenCV's FFMPEG backend, tuned for latency.

``CaptureSource`` (``cameras.py``) calls ``_open_rtsp`` through this module, so a test replaces it
with ``monkeypatch.setattr(edge_tracker.video.sources.rtsp, "_open_rtsp", fake)`` before the source
is created.
"""

from __future__ import annotations

import os
import threading

import cv2

from edge_tracker.errors import InputError
from edge_tracker.video.live import CameraHandle
from edge_tracker.video.sources.base import _capture_handle
from edge_tracker.video.uri import InputSpec

# OpenCV takes FFMPEG demuxer options only from this environment variable, read when a capture opens;
# the lock keeps two threads from opening streams with each other's options.
_FFMPEG_OPTIONS_LOCK = threading.Lock()


def _open_rtsp(spec: InputSpec, timeout_s: float, transport: str) -> CameraHandle:
    """Open ``spec.url``; ``timeout_s`` (seconds) bounds connecting and each read; ``transport`` tcp|udp."""
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
    # FFMPEG's own frame queue is latency the tracker would see (DESIGN principle 6).
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return _capture_handle(capture)
