"""BGR frames -> JPEG -> a video file that notices every failed write and survives a kill.

``open_video_writer(path, ...)`` picks the container by extension: ``.mp4`` (fragmented MP4,
``fmp4.py``), ``.mkv`` (Matroska) or ``.avi`` (AVI 1.0, ``containers.py``), all Motion JPEG written by
edge_tracker, append-only, one frame per ``write`` to the OS. A killed process leaves every frame
written (a power loss: every frame up to the last ``fsync``, at most ``sync_s`` seconds back); a
failed write (a full disk) raises ``OSError`` at that frame and leaves the file ending on the frame
before. OpenCV's writer is not used for files: it holds 256 KiB in its own buffer (a kill lost 90 of
300 mp4v frames in .mkv/.avi, all of them in .mp4, whose index it writes last), its ``write`` does
not raise, and on a full disk it left files of 0 bytes (OpenCV 5.0, measured on a 1 MiB tmpfs).

Motion JPEG costs more bytes than mp4v (10 KB against 1.7 KB per 320x240 frame at quality 90), the
price of frames that each stand alone; ``jpeg_quality`` trades them back.
"""

from __future__ import annotations

import errno
import os

import cv2
import numpy as np

from edge_tracker.video.containers import AviWriter, MatroskaWriter
from edge_tracker.video.fmp4 import FragmentedMp4Writer

JPEG_QUALITY = 90   # 10 KB per 320x240 frame; boxes and the text line stay sharp
CONTAINERS = {".mp4": FragmentedMp4Writer, ".mkv": MatroskaWriter, ".avi": AviWriter}


class VideoWriter:
    """``write(image)`` per BGR ``[H, W, 3]`` uint8 frame, ``close()``; every failure an OSError."""

    def __init__(self, path: os.PathLike, width: int, height: int, fps: float, *, jpeg_quality: int = JPEG_QUALITY,
                 sync_s: float = 1.0):
        container = CONTAINERS[os.path.splitext(os.fspath(path))[1].lower()]
        sync_every = max(1, round(fps * sync_s)) if sync_s > 0 else 0
        self.quality = int(jpeg_quality)
        self._file = container(path, width, height, fps, sync_every=sync_every).open()

    @property
    def frames(self) -> int:
        return self._file.frames

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


def open_video_writer(path: os.PathLike, width: int, height: int, fps: float, *, jpeg_quality: int = JPEG_QUALITY,
                      sync_s: float = 1.0) -> VideoWriter:
    """The writer for ``path``'s extension (.mp4, .mkv, .avi); OSError when it cannot start."""
    return VideoWriter(path, width, height, fps, jpeg_quality=jpeg_quality, sync_s=sync_s)
