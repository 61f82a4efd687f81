"""Target loss, shared by both trackers: when the target is lost, when it is found again, where to look.

The states a tracker reports (``TrackResult.state``, :data:`edge_tracker.trackers.base.STATES`):

- ``normal`` (and ATOM's ``hard_negative``): tracking; the tracker moves and learns.
- ``uncertain``: ATOM's two comparable peaks, or, in both trackers, a frame whose response says
  "not here" before the loss is confirmed (fewer than ``lost_after_frames`` such frames in a row).
  SCS-Siam keeps tracking through it; AFF-ATOM holds its box and does not learn.
- ``not_found``: the target is lost (``lost_after_frames`` low frames in a row). The box holds
  where the target was last seen (its size that of the last confident frame), kept inside the
  frame; with ``redetect`` the tracker searches wider (SCS-Siam: tiles of search windows over the
  frame; AFF-ATOM: a larger sample area) until a frame's response passes the *found* test, which is
  stricter than the *low* test (hysteresis), and that frame is ``normal`` again.

With ``lost_after_frames = 0`` a tracker behaves as before issue 16 (SCS-Siam always ``normal``,
AFF-ATOM ``not_found`` on any single frame below its threshold, no re-detection).

Every reported box is clipped to the frame (the ground truth of a partly visible target is, too).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np


class LossMonitor:
    """Counts low frames and says when the loss is confirmed; ``found()`` ends it.

    ``lost_after_frames``: low frames in a row that confirm the loss (0: never lost).
    """

    def __init__(self, lost_after_frames: int) -> None:
        self.lost_after_frames = lost_after_frames
        self.low_run = 0
        self.lost = False

    def observe(self, low: bool) -> str:
        """One tracking frame's verdict -> ``"tracking"``, ``"doubt"`` (low, not yet lost) or ``"lost"``."""
        if self.lost_after_frames == 0:
            return "tracking"
        self.low_run = self.low_run + 1 if low else 0
        if self.low_run >= self.lost_after_frames:
            self.lost = True
            return "lost"
        return "doubt" if low else "tracking"

    def found(self) -> None:
        self.lost, self.low_run = False, 0


class ReferencePeak:
    """The mean peak score of the first ``frames`` tracked frames (the target is assumed in view then)."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.peaks: list[float] = []

    def add(self, peak: float) -> None:
        if len(self.peaks) < self.frames:
            self.peaks.append(float(peak))

    @property
    def ready(self) -> bool:
        return len(self.peaks) >= self.frames

    @property
    def value(self) -> float:
        return float(np.mean(self.peaks)) if self.peaks else math.nan


class RecentPeak:
    """The median peak of the last ``frames`` confident frames: a reference that follows slow changes
    of the target's look (light, pose), so that only a sudden drop reads as a loss."""

    def __init__(self, frames: int) -> None:
        self.peaks: deque[float] = deque(maxlen=frames)

    def add(self, peak: float) -> None:
        self.peaks.append(float(peak))

    @property
    def value(self) -> float:
        return float(np.median(self.peaks)) if self.peaks else math.nan


def peak_to_sidelobe(response: np.ndarray, exclude: int) -> float:
    """Peak-to-sidelobe ratio of a 2-D response (MOSSE, Bolme et al. 2010): ``(peak - mean) / std`` of
    the cells farther than ``exclude`` cells from the peak on either axis. ``inf`` on a flat sidelobe."""
    row, col = np.unravel_index(int(np.argmax(response)), response.shape)
    mask = np.ones(response.shape, dtype=bool)
    mask[max(row - exclude, 0): row + exclude + 1, max(col - exclude, 0): col + exclude + 1] = False
    sidelobe = response[mask]
    if sidelobe.size < 2:
        return math.inf
    spread = float(sidelobe.std())
    return math.inf if spread == 0 else float((response[row, col] - sidelobe.mean()) / spread)


def clip_box(box: np.ndarray, width: float, height: float) -> np.ndarray:
    """The part of xywh ``box`` inside the ``width x height`` frame (a box wholly outside: a 1 px box at
    the nearest border, so a reported box always has an area)."""
    x0 = min(max(box[0], 0.0), width - 1.0)
    y0 = min(max(box[1], 0.0), height - 1.0)
    x1 = min(max(box[0] + box[2], x0 + 1.0), float(width))
    y1 = min(max(box[1] + box[3], y0 + 1.0), float(height))
    return np.array([x0, y0, x1 - x0, y1 - y0], dtype=np.float64)


def tile_centres(width: float, height: float, spacing: float, near) -> np.ndarray:
    """``[K, 2]`` window centres tiling the frame at most ``spacing`` apart, nearest to ``near`` first."""
    axes = []
    for extent in (width, height):
        count = max(1, math.ceil(extent / spacing))
        axes.append((np.arange(count) + 0.5) * extent / count)
    grid = np.stack(np.meshgrid(*axes), axis=-1).reshape(-1, 2)
    order = np.argsort(np.hypot(*(grid - np.asarray(near, dtype=np.float64)).T), kind="stable")
    return grid[order]
