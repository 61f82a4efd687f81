"""Sources that read stored frames: a video file, or a folder of images.

Both deliver every frame in order; a frame that fails to decode is skipped with a warning and
counted in ``stats.decode_failures``, so ``Frame.source_index`` then runs ahead of ``Frame.index``.
Timestamps are stream time in seconds (the container's for a video, ``source_index / fps`` for a
folder).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import cv2

from edge_tracker.errors import InputError
from edge_tracker.params import check_fps
from edge_tracker.video.sources.base import FrameSource, _spec_of, logger
from edge_tracker.video.uri import FRAME_EXTENSIONS, InputSpec


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
        self.nominal_fps = check_fps(fps, self.name)
        self.files: list[Path] = []
        self._position = 0

    def _open(self) -> None:
        if not self.spec.path.is_dir():
            raise InputError(f"frame folder {self.spec.path} does not exist (any more); check the path")
        self.files = sorted((p for p in self.spec.path.iterdir()
                             if p.suffix.lower() in FRAME_EXTENSIONS and p.is_file()), key=_natural_key)
        if not self.files:
            inner = [p for p in sorted(self.spec.path.iterdir()) if p.is_dir() and _has_frames(p)]
            hint = (f"; its subfolder {inner[0].name}/ holds frames (an annotated sequence keeps them there): "
                    f"give {inner[0]}" if inner else "")
            raise InputError(f"frame folder {self.spec.path} holds no images; expected files ending in "
                             f"{', '.join(FRAME_EXTENSIONS)} (sorted by name){hint}")

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


def _natural_key(path: Path):
    # frame2.jpg before frame10.jpg: unpadded numbering is common in exported frame folders.
    parts = re.split(r"(\d+)", path.name)
    return [int(part) if i % 2 else part for i, part in enumerate(parts)]


def _has_frames(folder: Path) -> bool:
    return any(p.suffix.lower() in FRAME_EXTENSIONS and p.is_file() for p in folder.iterdir())
