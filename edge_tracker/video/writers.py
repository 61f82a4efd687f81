"""Video file writers that notice every failed write and lose at most about a second to a kill.

``open_video_writer(path, ...)`` picks by extension:

- ``.mp4``: :class:`Mp4FragmentWriter`, Motion JPEG in a fragmented MP4 written by ``fmp4.py``, one
  fragment per frame, each handed to the OS before ``write`` returns. A killed process leaves every
  frame written; a failed write (a full disk) raises at that frame. OpenCV's own MP4 writer puts the
  index at the end (a kill leaves a file that decodes to nothing) and cannot be told otherwise.
- ``.avi``, ``.mkv``: :class:`OpenCVVideoWriter`, OpenCV's FFmpeg writer with the MJPG codec. Both
  containers decode without their trailing index; FFmpeg holds up to 256 KiB in its own buffer, a
  few frames of MJPG (measured: 13 of 300 frames at 320x240 lost to SIGKILL; with mp4v 90 were).
  ``VideoWriter.write`` does not raise: its return value is checked (OpenCV >= 5 returns False on a
  failed write) and so is the file's growth (a writer that accepts frames while the file stays the
  same size for ``STALL_S`` seconds of video has failed silently).

Both ``fsync`` the file every ``sync_s`` seconds of video, so a power loss also costs at most about
that (the part still in FFmpeg's buffer aside). Every failure is an :class:`OSError` naming the cause.
"""

from __future__ import annotations

import errno
import logging
import math
import os

import cv2
import numpy as np

from edge_tracker.video.fmp4 import FragmentedMp4Writer

logger = logging.getLogger("edge_tracker.video")

JPEG_QUALITY = 90   # default for .mp4 frames: 10 KB per 320x240 frame, visually lossless on boxes and text
STALL_S = 20.0      # seconds of video an OpenCV writer may take without the file growing (its buffer: 256 KiB)
STALL_MIN_FRAMES = 64


class Mp4FragmentWriter:
    """BGR frames -> JPEG -> one fragment each of a fragmented MP4 (see the module docstring)."""

    codec = "Motion JPEG in fragmented MP4"

    def __init__(self, path: os.PathLike, width: int, height: int, fps: float, *, jpeg_quality: int = JPEG_QUALITY,
                 sync_s: float = 1.0):
        self.quality = int(jpeg_quality)
        self._file = FragmentedMp4Writer(path, width, height, fps, sync_every=_sync_frames(fps, sync_s)).open()

    @property
    def bytes_written(self) -> int:
        return self._file.bytes_written

    def write(self, image: np.ndarray) -> None:
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise OSError(errno.EIO, "OpenCV could not encode the frame as JPEG")
        self._file.write(jpeg.tobytes())

    def close(self) -> None:
        self._file.close()


class OpenCVVideoWriter:
    """OpenCV's FFmpeg writer (MJPG), its return value and the file's growth checked on every frame."""

    codec = "MJPG through OpenCV's FFmpeg writer"

    def __init__(self, path: os.PathLike, width: int, height: int, fps: float, *, sync_s: float = 1.0):
        self.path = os.fspath(path)
        self._writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
        if not self._writer.isOpened():
            raise OSError(errno.EIO, f"OpenCV cannot write {self.path} with the MJPG codec at {width}x{height}")
        self._sync_every = _sync_frames(fps, sync_s)
        self._stall_frames = max(STALL_MIN_FRAMES, math.ceil(STALL_S * fps))
        self._frames = 0
        self._size = self._last_growth = 0  # file size, and the frame count when it last grew

    @property
    def bytes_written(self) -> int:
        return self._size

    def write(self, image: np.ndarray) -> None:
        returned = self._writer.write(image)
        self._frames += 1
        if returned is False:  # OpenCV >= 5; 4.x returns None and only the growth check below sees failures
            raise OSError(errno.EIO, f"OpenCV's writer refused frame {self._frames - 1} (a full disk, or the "
                                     "device gone; OpenCV does not say which)")
        size = os.stat(self.path).st_size
        if size > self._size:
            self._size, self._last_growth = size, self._frames
        elif self._frames - self._last_growth > self._stall_frames:
            raise OSError(errno.EIO, f"the file has not grown in {self._frames - self._last_growth} frames: "
                                     "OpenCV's writer is failing without saying so")
        if self._sync_every and self._frames % self._sync_every == 0:
            _fsync_path(self.path)

    def close(self) -> None:
        self._writer.release()  # writes the index; on a full disk it cannot, and the file still decodes
        self._size = os.stat(self.path).st_size if os.path.exists(self.path) else 0


def open_video_writer(path: os.PathLike, width: int, height: int, fps: float, *, jpeg_quality: int = JPEG_QUALITY,
                      sync_s: float = 1.0):
    """The writer for ``path``'s extension (module docstring); OSError when it cannot start."""
    if os.fspath(path).lower().endswith(".mp4"):
        return Mp4FragmentWriter(path, width, height, fps, jpeg_quality=jpeg_quality, sync_s=sync_s)
    return OpenCVVideoWriter(path, width, height, fps, sync_s=sync_s)


def _sync_frames(fps: float, sync_s: float) -> int:
    return max(1, round(fps * sync_s)) if sync_s > 0 else 0


def _fsync_path(path: str) -> None:
    # OpenCV holds its own descriptor; fsync on another one of the same file flushes the same pages.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
