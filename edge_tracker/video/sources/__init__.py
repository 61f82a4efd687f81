"""Frame sources: video files, folders of frames, and live cameras, behind one life cycle.

Every source is used the same way::

    with open_source("clip.mp4") as source:      # or csi://0, /dev/video0, rtsp://..., a folder
        while (frame := source.read()) is not None:
            ...

``read()`` returns None only at the end of the stream. Files and folders deliver every frame in
order; a frame that fails to decode is skipped with a warning and counted. Live sources (V4L2, CSI,
RTSP) capture in a thread that keeps only the newest frame (see ``live.py``), so ``read()`` always
returns the current scene and counts what it skipped.

One module per job: ``base`` (Frame, SourceStats, the FrameSource life cycle, shared conversion),
``files`` (FileSource, FolderSource), ``cameras`` (LiveSource, CaptureSource: V4L2, CSI, RTSP),
``pipelines`` (the Jetson GStreamer pipeline strings, flips) and ``rtsp`` (opening a stream through
FFMPEG). This package re-exports the public names only: a private helper is patched in the module that defines it (see ``cameras``), since replacing a
re-exported copy here would not reach the code that calls it.
"""

from __future__ import annotations

import os

from edge_tracker.video.sources.base import Frame, FrameSource, SourceStats
from edge_tracker.video.sources.cameras import CaptureSource, LiveSource
from edge_tracker.video.sources.pipelines import (
    CSI_FLIP_METHODS,
    FLIP_METHODS,
    RTSP_CODECS,
    csi_pipeline,
    flip_image,
    rtsp_pipeline,
    usb_pipeline,
)
from edge_tracker.video.sources.files import FileSource, FolderSource
from edge_tracker.video.uri import InputSpec, check_options, parse_input_uri

__all__ = [
    "CSI_FLIP_METHODS",
    "FLIP_METHODS",
    "RTSP_CODECS",
    "CaptureSource",
    "FileSource",
    "FolderSource",
    "Frame",
    "FrameSource",
    "LiveSource",
    "SourceStats",
    "csi_pipeline",
    "flip_image",
    "open_source",
    "rtsp_pipeline",
    "usb_pipeline",
]


def open_source(uri_or_spec: InputSpec | str | os.PathLike, **options) -> FrameSource:
    """Create the source for an input URI; it is not opened yet (use ``with`` or ``open()``).

    ``options`` go to the source class (FileSource, FolderSource or CaptureSource); an option that
    class does not take raises InputError listing the ones it does.
    """
    spec = uri_or_spec if isinstance(uri_or_spec, InputSpec) else parse_input_uri(uri_or_spec)
    cls = {"file": FileSource, "folder": FolderSource}.get(spec.kind, CaptureSource)
    check_options(cls, options, f"a {spec.kind} input ({spec.uri})")
    return cls(spec, **options)
