"""What every tracker returns, and the checks every tracker applies to a user's initial box."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_tracker.errors import InputError

# Localisation states (SPEC 1.6), the same names in both trackers; what each means and when a tracker
# reports it (target loss, re-detection): edge_tracker.trackers.loss. SCS-Siam never reports "hard_negative".
STATES = ("normal", "uncertain", "hard_negative", "not_found")


@dataclass(frozen=True)
class TrackResult:
    """One frame's answer.

    box: ``[4]`` float, xywh 0-based top-left in frame pixels (``edge_tracker.geometry``).
    score: the tracker's confidence (SCS-Siam: peak of the raw response; ATOM: classifier peak).
    state: one of ``STATES``.
    timings_ms: per-stage wall time of this frame, milliseconds.
    """

    box: np.ndarray
    score: float
    state: str
    timings_ms: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"box": [round(float(v), 2) for v in self.box], "score": round(float(self.score), 4),
                "state": self.state, "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()}}


def check_init_box(box, frame: np.ndarray) -> np.ndarray:
    """Validate a user's initial xywh box against the frame; return it as float64 ``[4]``."""
    try:
        array = np.asarray(box, dtype=np.float64).reshape(4)
    except (TypeError, ValueError) as err:
        raise InputError(f"initial box must be 4 numbers x, y, w, h; got {box!r}") from err
    if not np.all(np.isfinite(array)):
        raise InputError(f"initial box has a non-finite value: {array.tolist()}")
    x, y, w, h = array
    height, width = frame.shape[:2]
    if w <= 0 or h <= 0:
        raise InputError(f"initial box {array.tolist()} has zero or negative size; give w, h > 0")
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise InputError(f"initial box {array.tolist()} lies outside the {width}x{height} frame")
    return array


class OpenCVStyle:
    """OpenCV's tracker calls on top of ``initialize``/``track``: ``init(frame, box)`` and
    ``update(frame) -> (found, (x, y, w, h))``, so our trackers drop into code written for
    ``cv2.Tracker``. ``found`` is False only in the ``not_found`` state."""

    def init(self, frame: np.ndarray, box) -> None:
        self.initialize(frame, box)

    def update(self, frame: np.ndarray) -> tuple[bool, tuple[float, float, float, float]]:
        result = self.track(frame)
        return result.state != "not_found", tuple(float(v) for v in result.box)
