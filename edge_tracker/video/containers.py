"""Video files of JPEG frames written by edge_tracker itself, append-only, so what was written survives.

OpenCV's FFmpeg writer keeps up to 256 KiB in its own buffer, puts an MP4's index at the end, and on a
full disk returns False and then leaves a file of 0 bytes (measured with OpenCV 5.0 on a 1 MiB tmpfs).
These writers hand each frame to the OS in one ``write`` before returning, cut a frame the disk took
only in part, ``fsync`` every ``sync_every`` frames, and raise ``OSError`` on any failure. Every frame
is a JPEG (Motion JPEG: each frame a key frame, so any prefix of the file decodes).

- :class:`MatroskaWriter` (``.mkv``): an EBML header, a Segment of unknown size (the live-streaming
  form), Info and Tracks (``V_MJPEG``), then one Cluster per frame; on close the Segment's size and
  the Duration are filled in.
- :class:`AviWriter` (``.avi``): AVI 1.0 with an ``MJPG`` stream; the sizes and the ``idx1`` index are
  written on close; a killed file has zero sizes, which FFmpeg reads up to the end of the data.
  AVI 1.0 ends at 4 GiB: a longer recording stops with a message naming ``.mkv``/``.mp4``.
- ``fmp4.FragmentedMp4Writer`` (``.mp4``): fragmented MP4, one fragment per frame.
"""

from __future__ import annotations

import errno
import os
import struct


class AppendOnlyVideo:
    """Base of the writers: ``open()``, ``write(jpeg)`` per frame, ``close()``.

    Subclasses give the bytes of the header (:meth:`header`), of one frame (:meth:`frame_bytes`) and
    what to write when the file is finished (:meth:`finish`, optional).

    Args:
        path: the file, created (or truncated) by :meth:`open`.
        width, height: frame size in pixels.
        fps: frames per second (constant frame rate).
        sync_every: ``fsync`` after this many frames (0: leave it to the OS).
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float, sync_every: int = 0):
        self.path = os.fspath(path)
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.sync_every = int(sync_every)
        self.frames = 0
        self.bytes_written = 0
        self._fd: int | None = None

    def header(self) -> bytes:
        raise NotImplementedError

    def frame_bytes(self, jpeg: bytes) -> bytes:
        raise NotImplementedError

    def finish(self) -> None:
        """Complete the file on a clean close (sizes, an index); the default writes nothing."""

    def open(self) -> AppendOnlyVideo:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            self._append(self.header())
        except OSError:
            self.close()
            raise
        return self

    def write(self, jpeg: bytes) -> None:
        """Append one frame (a JPEG file's bytes); OSError (e.g. ENOSPC) when the disk refuses it.

        A frame the disk took only in part is cut off again, so the file ends on a whole frame.
        """
        self._append(self.frame_bytes(jpeg))
        self.frames += 1
        if self.sync_every and self.frames % self.sync_every == 0:
            os.fsync(self._fd)

    def _append(self, data: bytes) -> None:
        whole = self.bytes_written
        view = memoryview(data)
        try:
            while view:
                count = os.write(self._fd, view)
                view = view[count:]
                self.bytes_written += count
        except OSError:
            try:
                os.ftruncate(self._fd, whole)
                self.bytes_written = whole
            except OSError:  # the frame's head may stay; a reader stops at it
                pass
            raise

    def _patch(self, offset: int, data: bytes) -> None:
        os.pwrite(self._fd, data, offset)

    def close(self) -> None:
        if self._fd is None:
            return
        try:
            self.finish()
        finally:
            fd, self._fd = self._fd, None
            os.close(fd)


# -- Matroska -----------------------------------------------------------------------------------------

def _ebml_size(size: int) -> bytes:
    for length in range(1, 9):
        if size < (1 << (7 * length)) - 1:
            return (size | (1 << (7 * length))).to_bytes(length, "big")
    raise ValueError(f"EBML element of {size} bytes is too large")


def _element(element_id: int, payload: bytes) -> bytes:
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big") + _ebml_size(len(payload)) + payload


def _uint(element_id: int, value: int) -> bytes:
    return _element(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


UNKNOWN_SIZE = bytes([0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])  # an 8-byte size of all ones


class MatroskaWriter(AppendOnlyVideo):
    """Motion JPEG in Matroska, one Cluster per frame (see the module docstring)."""

    def header(self) -> bytes:
        ebml = _element(0x1A45DFA3, _uint(0x4286, 1) + _uint(0x42F7, 1) + _uint(0x42F2, 4) + _uint(0x42F3, 8)
                        + _element(0x4282, b"matroska") + _uint(0x4287, 4) + _uint(0x4285, 2))
        duration = _element(0x4489, struct.pack(">d", 0.0))  # filled in on close
        info = _element(0x1549A966, _uint(0x2AD7B1, 1_000_000)  # timestamps in milliseconds
                        + _element(0x4D80, b"edge_tracker") + _element(0x5741, b"edge_tracker") + duration)
        video = _element(0xE0, _uint(0xB0, self.width) + _uint(0xBA, self.height))
        track = _element(0xAE, _uint(0xD7, 1) + _uint(0x73C5, 1) + _uint(0x83, 1) + _uint(0x9C, 0)
                         + _element(0x86, b"V_MJPEG") + _uint(0x23E383, round(1e9 / self.fps)) + video)
        segment = bytes([0x18, 0x53, 0x80, 0x67]) + UNKNOWN_SIZE
        self._segment_at = len(ebml) + 4           # the Segment's size field
        self._duration_at = len(ebml) + len(segment) + len(info) - 8
        return ebml + segment + info + _element(0x1654AE6B, track)

    def frame_bytes(self, jpeg: bytes) -> bytes:
        block = bytes([0x81]) + struct.pack(">hB", 0, 0x80) + jpeg  # track 1, at the cluster's time, key frame
        return _element(0x1F43B675, _uint(0xE7, round(self.frames * 1000 / self.fps)) + _element(0xA3, block))

    def finish(self) -> None:
        size = self.bytes_written - self._segment_at - 8
        self._patch(self._segment_at, (size | (1 << 56)).to_bytes(8, "big"))  # an 8-byte EBML size
        self._patch(self._duration_at, struct.pack(">d", self.frames * 1000 / self.fps))


# -- AVI ----------------------------------------------------------------------------------------------

AVI_LIMIT = (1 << 32) - (1 << 20)  # RIFF sizes are 32-bit; a margin for the index


class AviWriter(AppendOnlyVideo):
    """Motion JPEG in AVI 1.0 (see the module docstring)."""

    def header(self) -> bytes:
        scale, rate = 1000, round(self.fps * 1000)
        avih = struct.pack("<14I", round(1e6 / self.fps), 0, 0, 0x10, 0, 0, 1, 0, self.width, self.height, 0, 0, 0, 0)
        strh = struct.pack("<4s4sIHHIIIIIIII4h", b"vids", b"MJPG", 0, 0, 0, 0, scale, rate, 0, 0, 0, 0xFFFFFFFF, 0,
                           0, 0, self.width, self.height)
        strf = struct.pack("<IiiHH4sIiiII", 40, self.width, self.height, 1, 24, b"MJPG", self.width * self.height * 3,
                           0, 0, 0, 0)
        strl = b"LIST" + struct.pack("<I", 4 + 8 + len(strh) + 8 + len(strf)) + b"strl" + \
            b"strh" + struct.pack("<I", len(strh)) + strh + b"strf" + struct.pack("<I", len(strf)) + strf
        hdrl_body = b"hdrl" + b"avih" + struct.pack("<I", len(avih)) + avih + strl
        hdrl = b"LIST" + struct.pack("<I", len(hdrl_body)) + hdrl_body
        self._frames_at = 12 + 8 + 4 + 8 + 16   # RIFF, LIST hdrl, 'hdrl', avih chunk head, 4 fields
        self._length_at = 12 + 8 + 4 + 8 + len(avih) + 12 + 8 + 32  # strh's dwLength
        self._movi_at = 12 + len(hdrl)          # the 'LIST' of movi
        self._index: list[tuple[int, int]] = []  # (offset from 'movi', size) per frame
        # Sizes stay 0 until close: FFmpeg then reads the data up to the end of the file.
        return b"RIFF" + struct.pack("<I", 0) + b"AVI " + hdrl + b"LIST" + struct.pack("<I", 0) + b"movi"

    def frame_bytes(self, jpeg: bytes) -> bytes:
        if self.bytes_written + len(jpeg) + 8 + 16 * (self.frames + 1) > AVI_LIMIT:
            raise OSError(errno.EFBIG, "AVI 1.0 files end at 4 GiB; record to .mkv or .mp4 for longer runs")
        offset = self.bytes_written - (self._movi_at + 8)
        self._index.append((offset, len(jpeg)))
        return b"00dc" + struct.pack("<I", len(jpeg)) + jpeg + (b"\0" if len(jpeg) % 2 else b"")

    def finish(self) -> None:
        index = b"".join(struct.pack("<4sIII", b"00dc", 0x10, offset, size) for offset, size in self._index)
        movi_end = self.bytes_written
        self._append(b"idx1" + struct.pack("<I", len(index)) + index)
        self._patch(4, struct.pack("<I", self.bytes_written - 8))
        self._patch(self._movi_at + 4, struct.pack("<I", movi_end - self._movi_at - 8))
        self._patch(self._frames_at, struct.pack("<I", self.frames))
        self._patch(self._length_at, struct.pack("<I", self.frames))
