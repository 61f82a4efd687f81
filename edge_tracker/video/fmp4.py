"""A fragmented MP4 writer of JPEG frames (Motion JPEG), one fragment per frame: what was written survives.

OpenCV's FFmpeg writer puts an MP4's index (``moov``) at the end of the file, written on release, and
holds about 256 KiB in its own buffer: a killed process leaves an MP4 that decodes to nothing. Here
the index comes first and describes no sample; each frame follows as its own fragment
(``moof`` + ``mdat``, ISO/IEC 14496-12 section 8.8), written to the OS in one ``write`` call. So after
SIGKILL every fragment written is readable, and after a power loss every fragment up to the last
``fsync`` (see ``sync_every``). A failed write raises ``OSError`` at once: nothing is silent.

The stream is Motion JPEG (every frame a key frame, so any prefix of the file decodes), signalled the
MPEG-4 way: an ``mp4v`` sample entry whose ``esds`` gives objectTypeIndication 0x6C (JPEG). FFmpeg,
OpenCV, VLC and mpv play it; browsers do not (nor do they play OpenCV's ``mp4v``).

Boxes are written big-endian as the standard lays them out; sizes are 32-bit (a fragment is one JPEG).
"""

from __future__ import annotations

import struct

from edge_tracker.video.containers import AppendOnlyVideo

TIMESCALE = 90_000  # ticks per second: 29.97 FPS is exactly 3003 ticks per frame
TRACK_ID = 1
UNITY_MATRIX = struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)
SYNC_SAMPLE_FLAGS = 0x02000000  # sample_depends_on = 2: depends on no other sample (an I-frame)


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


def _descriptor(tag: int, body: bytes) -> bytes:
    if len(body) >= 128:
        raise ValueError("descriptor too long for a one-byte size")
    return bytes([tag, len(body)]) + body


def init_segment(width: int, height: int) -> bytes:
    """``ftyp`` + ``moov`` of a one-track Motion JPEG movie with no samples (they come in fragments)."""
    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isom", b"iso5", b"iso6", b"mp41")
    mvhd = _full_box(b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, TIMESCALE, 0), struct.pack(">IH", 0x00010000, 0x0100),
                     bytes(10), UNITY_MATRIX, bytes(24), struct.pack(">I", TRACK_ID + 1))
    tkhd = _full_box(b"tkhd", 0, 0x3, struct.pack(">IIIII", 0, 0, TRACK_ID, 0, 0), bytes(8),
                     struct.pack(">hhH", 0, 0, 0), bytes(2), UNITY_MATRIX, struct.pack(">II", width << 16, height << 16))
    mdhd = _full_box(b"mdhd", 0, 0, struct.pack(">IIII", 0, 0, TIMESCALE, 0), struct.pack(">HH", 0x55C4, 0))  # "und"
    hdlr = _full_box(b"hdlr", 0, 0, struct.pack(">I4s", 0, b"vide"), bytes(12), b"edge_tracker video\x00")
    vmhd = _full_box(b"vmhd", 0, 1, bytes(8))
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))
    decoder_config = _descriptor(0x04, bytes([0x6C, (0x04 << 2) | 1]) + bytes(3) + struct.pack(">II", 0, 0))
    es = _descriptor(0x03, struct.pack(">HB", TRACK_ID, 0) + decoder_config + _descriptor(0x06, b"\x02"))
    esds = _full_box(b"esds", 0, 0, es)
    name = b"Motion JPEG"
    entry = _box(b"mp4v", bytes(6), struct.pack(">H", 1), bytes(16), struct.pack(">HH", width, height),
                 struct.pack(">II", 0x00480000, 0x00480000), bytes(4), struct.pack(">H", 1),
                 bytes([len(name)]) + name + bytes(31 - len(name)), struct.pack(">Hh", 0x0018, -1), esds)
    stbl = _box(b"stbl", _full_box(b"stsd", 0, 0, struct.pack(">I", 1), entry),
                _full_box(b"stts", 0, 0, struct.pack(">I", 0)), _full_box(b"stsc", 0, 0, struct.pack(">I", 0)),
                _full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)), _full_box(b"stco", 0, 0, struct.pack(">I", 0)))
    minf = _box(b"minf", vmhd, dinf, stbl)
    trak = _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf))
    mvex = _box(b"mvex", _full_box(b"trex", 0, 0, struct.pack(">IIIII", TRACK_ID, 1, 0, 0, 0)))
    return ftyp + _box(b"moov", mvhd, trak, mvex)


def fragment(sequence: int, decode_time: int, duration: int, sample: bytes) -> bytes:
    """``moof`` + ``mdat`` holding one sample (a JPEG) that starts at ``decode_time`` ticks."""
    tfhd = _full_box(b"tfhd", 0, 0x020000, struct.pack(">I", TRACK_ID))  # default-base-is-moof
    tfdt = _full_box(b"tfdt", 1, 0, struct.pack(">Q", decode_time))
    # data offset, first-sample flags, duration, size; the offset is patched in once the moof's size is known
    trun_fields = struct.pack(">IiIII", 1, 0, SYNC_SAMPLE_FLAGS, duration, len(sample))
    trun = _full_box(b"trun", 0, 0x000001 | 0x000004 | 0x000100 | 0x000200, trun_fields)
    moof = _box(b"moof", _full_box(b"mfhd", 0, 0, struct.pack(">I", sequence)), _box(b"traf", tfhd, tfdt, trun))
    offset_at = len(moof) - len(trun_fields) + 4  # the data offset follows the sample count
    moof = moof[:offset_at] + struct.pack(">i", len(moof) + 8) + moof[offset_at + 4:]
    return moof + struct.pack(">I4s", 8 + len(sample), b"mdat") + sample


class FragmentedMp4Writer(AppendOnlyVideo):
    """Append JPEG frames to a fragmented MP4 file (see :class:`AppendOnlyVideo` for the guarantees)."""

    def header(self) -> bytes:
        return init_segment(self.width, self.height)

    def frame_bytes(self, jpeg: bytes) -> bytes:
        return fragment(self.frames + 1, self.frames * self.duration, self.duration, jpeg)

    @property
    def duration(self) -> int:
        return max(1, round(TIMESCALE / self.fps))
