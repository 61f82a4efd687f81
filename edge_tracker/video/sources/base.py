"""The life cycle every frame source shares, and the small pieces all kinds of source use.

``FrameSource`` fixes the contract (open once, ``read()`` until None, close); subclasses in
``files.py`` and ``cameras.py`` only say how to open, how to get the next image and how to close.
Also here, because files, cameras and RTSP all need them: the check that an input is of the kind a
source reads (``_spec_of``), the conversion of a delivered image to ``[H, W, 3]`` uint8 BGR
(``_to_bgr``) and the adapter from an OpenCV ``VideoCapture`` to a ``CameraHandle``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from edge_tracker.errors import EdgeTrackerError, InputError
from edge_tracker.video.live import CameraHandle
from edge_tracker.video.uri import InputSpec, parse_input_uri

# One logger for all of video I/O: users turn its messages on or off as one thing.
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


def _spec_of(source, kinds: tuple[str, ...]) -> InputSpec:
    """``source`` (InputSpec, URI or path) as an InputSpec, refused unless its kind is in ``kinds``."""
    spec = source if isinstance(source, InputSpec) else parse_input_uri(source)
    if spec.kind not in kinds:
        raise InputError(f"input '{spec.uri}' is a {spec.kind} input; this source reads "
                         f"{' or '.join(kinds)} inputs. Use open_source(uri) to pick the right one.")
    return spec


def _to_bgr(image, name: str) -> np.ndarray:
    """``image`` as [H, W, 3] uint8 BGR: gray [H, W] or [H, W, 1] and BGRA [H, W, 4] are converted.

    Anything else (another dtype or shape) raises InputError naming the source ``name``.
    """
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


def _capture_handle(capture) -> CameraHandle:
    """A CameraHandle over an opened ``cv2.VideoCapture``: a failed read grabs None."""
    def grab():
        ok, image = capture.read()
        return image if ok else None
    return CameraHandle(grab=grab, close=capture.release)
