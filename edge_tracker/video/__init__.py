"""Video I/O by URI, as jetson-inference users know it: sources (files, frame folders, V4L2, CSI,
RTSP) and sinks (video files with the box drawn, JSON lines of results, a window).

``open_source(uri)`` and ``open_sink(uri)`` return unopened objects with a strict life cycle; use them
with ``with``. Live sources never queue frames: see ``live.py``. ``display_missing()`` says whether a
window can be shown at all.
"""

from edge_tracker.video.display import display_missing
from edge_tracker.video.live import CameraHandle, Grabbed, GrabberStats, LatestFrameGrabber
from edge_tracker.video.sinks import DisplaySink, FrameSink, JsonlSink, VideoSink, draw_result, open_sink
from edge_tracker.video.sources import (
    CSI_FLIP_METHODS,
    FLIP_METHODS,
    RTSP_CODECS,
    CaptureSource,
    FileSource,
    FolderSource,
    Frame,
    FrameSource,
    LiveSource,
    SourceStats,
    csi_pipeline,
    open_source,
    rtsp_pipeline,
    usb_pipeline,
)
from edge_tracker.video.uri import InputSpec, OutputSpec, parse_input_uri, parse_output_uri

__all__ = [
    "CSI_FLIP_METHODS",
    "FLIP_METHODS",
    "RTSP_CODECS",
    "CameraHandle",
    "CaptureSource",
    "DisplaySink",
    "FileSource",
    "FolderSource",
    "Frame",
    "FrameSink",
    "FrameSource",
    "Grabbed",
    "GrabberStats",
    "InputSpec",
    "JsonlSink",
    "LatestFrameGrabber",
    "LiveSource",
    "OutputSpec",
    "SourceStats",
    "VideoSink",
    "csi_pipeline",
    "display_missing",
    "draw_result",
    "open_sink",
    "open_source",
    "parse_input_uri",
    "parse_output_uri",
    "rtsp_pipeline",
    "usb_pipeline",
]
