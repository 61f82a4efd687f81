"""Where calibration frames come from, and the boxes the tracker is started on.

A source is given on the command line as:

- ``PATH``: an annotated sequence in any layout ``edge_tracker.datasets.readers`` knows (OTB, VOT,
  UAV123, UAVDT, DTB70, GOT-10k, LaSOT, TrackingNet). Episodes start at ground-truth boxes.
- ``PATH@X,Y,W,H``: a video file or a folder of frames, with the target's box in its first frame
  (pixels, 0-based top-left). Later episodes start where the FP32 tracker found the target.

Frames are read lazily (a source is never loaded whole: videos can be long).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge_tracker.datasets.readers import list_frames, load_sequence
from edge_tracker.errors import InputError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")


@dataclass
class Source:
    """One calibration source: its frames and what is known of the target."""

    uri: str
    kind: str                       # "sequence", "video" or "frames"
    path: Path
    length: int                     # frames available
    boxes: np.ndarray | None = None  # [length, 4] ground truth (NaN rows: absent) for sequences
    first_box: np.ndarray | None = None  # the given box on frame 0, for videos and frame folders
    _sequence: object = field(default=None, repr=False)
    _frames: list[Path] | None = field(default=None, repr=False)

    def box_at(self, index: int) -> np.ndarray | None:
        """The known box at ``index``: ground truth where present, the given first box on frame 0."""
        if self.boxes is not None:
            box = self.boxes[index]
            return box.copy() if np.all(np.isfinite(box)) and box[2] > 0 and box[3] > 0 else None
        return self.first_box.copy() if index == 0 else None

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(index, BGR uint8 frame)`` for ``start <= index < stop``; unreadable frames are refused."""
        stop = self.length if stop is None else min(stop, self.length)
        if self.kind == "video":
            capture = cv2.VideoCapture(str(self.path))
            try:
                capture.set(cv2.CAP_PROP_POS_FRAMES, start)
                for index in range(start, stop):
                    ok, image = capture.read()
                    if not ok:
                        return  # the container's count was optimistic: end of stream
                    yield index, image
            finally:
                capture.release()
            return
        for index in range(start, stop):
            if self._sequence is not None:
                yield index, self._sequence.frame(index)
                continue
            image = cv2.imread(str(self._frames[index]), cv2.IMREAD_COLOR)
            if image is None:
                raise InputError(f"calibration source {self.uri}: cannot read frame {self._frames[index]}")
            yield index, image


def parse_source(text: str) -> Source:
    """A :class:`Source` from ``PATH`` or ``PATH@X,Y,W,H``; InputError naming the problem and the fix."""
    path_text, at, box_text = text.rpartition("@") if "@" in text else (text, "", "")
    path = Path(path_text)
    if not path.exists():
        raise InputError(f"calibration source {text!r}: {path} does not exist")
    if not at:
        if not path.is_dir():
            raise InputError(f"calibration source {text!r}: a video needs the target's first box, as "
                             f"{path}@X,Y,W,H (pixels of its first frame)")
        sequence = load_sequence(path)  # InputError for a folder that is no annotated sequence
        return Source(text, "sequence", path, len(sequence), boxes=np.asarray(sequence.boxes, np.float64),
                      _sequence=sequence)
    box = _box(box_text, text)
    if path.is_dir():
        frames = list_frames(path)
        if not frames:
            raise InputError(f"calibration source {text!r}: the folder {path} holds no images (.jpg, .png, ...)")
        return Source(text, "frames", path, len(frames), first_box=box, _frames=frames)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"calibration source {text!r}: {path.name} is neither a folder nor a video "
                         f"({', '.join(VIDEO_SUFFIXES)})")
    capture = cv2.VideoCapture(str(path))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    ok = capture.isOpened() and capture.read()[0]
    capture.release()
    if not ok or count <= 0:
        raise InputError(f"calibration source {text!r}: OpenCV cannot read frames from {path}")
    return Source(text, "video", path, count, first_box=box)


def _box(text: str, source: str) -> np.ndarray:
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values) or values[2] <= 0 or values[3] <= 0:
        raise InputError(f"calibration source {source!r}: {text!r} is not a box X,Y,W,H with W, H > 0 "
                         "(pixels of the first frame, 0-based top-left), e.g. clip.mp4@204,150,17,50")
    return np.array(values, dtype=np.float64)


def jitter_box(box: np.ndarray, rng: np.random.Generator, position: float, scale: float) -> np.ndarray:
    """``box`` moved by N(0, position * sqrt(w h)) per axis and resized by exp(N(0, scale)) per axis.

    The imprecision of a box a user draws or a detector gives: the template the tracker learns
    from, and so every later crop, is off-centre and off-size by about this much.
    """
    if position == 0 and scale == 0:
        return np.array(box, dtype=np.float64)  # exactly the box (no round trip through the centre)
    x, y, w, h = (float(v) for v in box)
    side = math.sqrt(w * h)
    cx, cy = x + w / 2 + rng.normal(0.0, position * side), y + h / 2 + rng.normal(0.0, position * side)
    w, h = w * math.exp(rng.normal(0.0, scale)), h * math.exp(rng.normal(0.0, scale))
    return np.array([cx - w / 2, cy - h / 2, w, h])
