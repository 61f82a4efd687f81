"""OpenCV's trackers behind the evaluation's tracker interface, to compare ours against.

``create(name)`` gives a fresh tracker with ``initialize(frame_bgr, box_xywh)`` and
``track(frame_bgr) -> [4] xywh``, the interface :mod:`edge_tracker.evaluation.run` drives.

Which OpenCV package has which tracker (checked on OpenCV 5.0; feature-detected here by the
``cv2.Tracker<Name>_create`` factory, never by comparing version strings):

- ``mil``, ``nano``: the main package (``opencv-python[-headless]``), always.
- ``kcf``, ``csrt``: only ``opencv-contrib-python[-headless]``. The contrib wheel is a superset of
  the main one, and the two install into the same ``cv2`` folder, so the main one has to go first:
  ``pip uninstall -y opencv-python-headless && pip install opencv-contrib-python-headless``
  (``make eval-deps``).
- ``nano`` (NanoTrack v2) also needs its two ONNX files, ``nanotrack_backbone_sim.onnx`` and
  ``nanotrack_head_sim.onnx`` (from HonglinChu/SiamTrackers, NanoTrack/models/nanotrackv2), in one
  folder given as ``nano_models``.

Choices, stated once:

- **Boxes in**: OpenCV's ``init`` takes an integer rectangle (a float tuple is refused). The box is
  converted by rounding its *edges* to the nearest pixel boundary (``x0 = round(x)``,
  ``x1 = round(x + w)``, ``w = x1 - x0``), so no edge moves by more than half a pixel, then clipped
  to the frame and kept at least 1 px wide and high: MIL asserts that the box lies inside the frame.
- **Boxes out**: ``update`` returns ``(ok, (x, y, w, h))`` with integers; they are returned as
  float64 in our convention, unchanged (OpenCV's rectangles are already 0-based, top-left).
- **Failure** (``ok`` False): the tracker's last box is kept (the initial box if it never
  succeeded), as OTB evaluations of OpenCV trackers usually do, rather than a NaN that would count
  as IoU 0. ``lost_frames`` counts such frames.
- **Threads**: OpenCV's own threading is left as it is (``cv2.getNumThreads()`` is recorded with
  the results by :mod:`edge_tracker.evaluation.run`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edge_tracker.errors import EdgeTrackerError, InputError

PEERS: tuple[str, ...] = ("kcf", "csrt", "mil", "nano")
"""OpenCV trackers that can be compared against, by the names the CLI takes."""

# name -> (the cv2 factory that must exist, the display name used as the tracker label)
_FACTORIES = {"kcf": ("TrackerKCF_create", "opencv-kcf"), "csrt": ("TrackerCSRT_create", "opencv-csrt"),
              "mil": ("TrackerMIL_create", "opencv-mil"), "nano": ("TrackerNano_create", "opencv-nano")}

NANO_FILES = {"backbone": "nanotrack_backbone_sim.onnx", "neckhead": "nanotrack_head_sim.onnx"}
"""``cv2.TrackerNano_Params`` field -> the file NanoTrack v2 ships for it."""

CONTRIB_FIX = ("pip uninstall -y opencv-python-headless && pip install opencv-contrib-python-headless "
               "(or: make eval-deps)")


def label(name: str) -> str:
    """The tracker label used in results for peer ``name`` (``"mil"`` -> ``"opencv-mil"``)."""
    _check_name(name)
    return _FACTORIES[name][1]


def _check_name(name: str) -> None:
    if name not in _FACTORIES:
        raise InputError(f"unknown OpenCV tracker {name!r}; choose from {list(PEERS)}")


def check_available(name: str, nano_models: str | Path | None = None) -> None:
    """Raise InputError saying what is missing and how to get it, unless peer ``name`` can run here."""
    _check_name(name)
    factory = _FACTORIES[name][0]
    if not hasattr(cv2, factory):
        where = ("only in opencv-contrib-python-headless" if name in ("kcf", "csrt")
                 else "in opencv-python-headless >= 4.7")
        fix = CONTRIB_FIX if name in ("kcf", "csrt") else "pip install -U opencv-python-headless"
        raise InputError(f"OpenCV tracker '{name}' is not available: this OpenCV ({cv2.__version__}, "
                         f"{Path(cv2.__file__).parent}) has no cv2.{factory}, which comes {where}. "
                         f"Fix: {fix}")
    if name == "nano":
        _nano_paths(nano_models)


def available_peers(nano_models: str | Path | None = None) -> tuple[str, ...]:
    """The names in :data:`PEERS` that can run with this OpenCV (``nano``: and these model files)."""
    found = []
    for name in PEERS:
        try:
            check_available(name, nano_models)
        except InputError:
            continue
        found.append(name)
    return tuple(found)


def _nano_paths(nano_models: str | Path | None) -> dict[str, Path]:
    """``{Params field: path}`` of NanoTrack's two ONNX files in ``nano_models``, checked."""
    what = (f"NanoTrack v2's {NANO_FILES['backbone']} and {NANO_FILES['neckhead']} "
            "(from HonglinChu/SiamTrackers, NanoTrack/models/nanotrackv2)")
    if nano_models is None:
        raise InputError(f"OpenCV tracker 'nano' needs a folder with {what}; pass it as nano_models= "
                         "(CLI: --nano-models DIR)")
    folder = Path(nano_models)
    if not folder.is_dir():
        raise InputError(f"nano models folder {folder} does not exist or is not a folder; it must hold {what}")
    paths = {field: folder / file for field, file in NANO_FILES.items()}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise InputError(f"nano models folder {folder} lacks {', '.join(missing)}; it must hold {what}")
    return paths


def to_int_rect(box, frame_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """An xywh float box as the integer ``(x, y, w, h)`` OpenCV's ``init`` takes (see the module doc).

    Edges are rounded to the nearest pixel boundary, then clipped to the ``[H, W]`` frame; the
    result is at least 1 x 1 px.

    Raises:
        InputError: the box is not 4 finite numbers with w, h > 0, or lies wholly outside the frame.
    """
    values = np.asarray(box, dtype=np.float64).reshape(-1)
    if values.shape != (4,) or not np.isfinite(values).all() or values[2] <= 0 or values[3] <= 0:
        raise InputError(f"initial box must be 4 finite numbers x, y, w, h with w, h > 0; got {values.tolist()}")
    height, width = int(frame_shape[0]), int(frame_shape[1])
    x, y, w, h = values
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise InputError(f"initial box {values.tolist()} lies outside the {width}x{height} frame")
    x0 = min(max(int(round(x)), 0), width - 1)
    y0 = min(max(int(round(y)), 0), height - 1)
    x1 = min(max(int(round(x + w)), x0 + 1), width)
    y1 = min(max(int(round(y + h)), y0 + 1), height)
    return x0, y0, x1 - x0, y1 - y0


class PeerTracker:
    """One OpenCV tracker for one sequence: ``initialize(frame, box)`` then ``track(frame)``.

    Frames are BGR uint8 ``[H, W, 3]``, boxes xywh float pixels (0-based, top-left).
    """

    def __init__(self, name: str, tracker) -> None:
        self.name = name            # peer name, e.g. "mil"
        self.label = label(name)    # tracker label in results, e.g. "opencv-mil"
        self._tracker = tracker     # the cv2.Tracker
        self._last: np.ndarray | None = None
        self.lost_frames = 0        # frames where OpenCV reported failure (the last box was kept)

    def initialize(self, frame: np.ndarray, box) -> None:
        rect = to_int_rect(box, frame.shape)
        try:
            self._tracker.init(frame, rect)
        except cv2.error as err:
            raise EdgeTrackerError(f"OpenCV tracker '{self.name}' could not start on box {rect} of a "
                                   f"{frame.shape[1]}x{frame.shape[0]} frame: {err}") from err
        self._last = np.asarray(box, dtype=np.float64).reshape(4).copy()
        self.lost_frames = 0

    def track(self, frame: np.ndarray) -> np.ndarray:
        """``[4]`` float64 xywh: the new box, or the last one where OpenCV reports failure."""
        if self._last is None:
            raise EdgeTrackerError(f"OpenCV tracker '{self.name}': track() called before initialize(frame, box)")
        try:
            ok, rect = self._tracker.update(frame)
        except cv2.error as err:
            raise EdgeTrackerError(f"OpenCV tracker '{self.name}' failed on a {frame.shape[1]}x{frame.shape[0]} "
                                   f"frame: {err}") from err
        if ok:
            self._last = np.asarray(rect, dtype=np.float64).reshape(4)
        else:
            self.lost_frames += 1
        return self._last.copy()


def create(name: str, nano_models: str | Path | None = None) -> PeerTracker:
    """A new, uninitialised OpenCV tracker ``name`` (one of :data:`PEERS`).

    Raises:
        InputError: unknown name, or the tracker is not available here (the message says the fix).
    """
    check_available(name, nano_models)
    make_tracker = getattr(cv2, _FACTORIES[name][0])
    if name == "nano":
        params = cv2.TrackerNano_Params()
        for field, path in _nano_paths(nano_models).items():
            setattr(params, field, str(path))
        try:
            tracker = make_tracker(params)
        except cv2.error as err:
            raise InputError(f"OpenCV could not load the NanoTrack models in {nano_models} ({err}); they must "
                             f"be NanoTrack v2's {NANO_FILES['backbone']} and {NANO_FILES['neckhead']}") from err
    else:
        tracker = make_tracker()
    return PeerTracker(name, tracker)


def factory(name: str, nano_models: str | Path | None = None) -> Callable[[], PeerTracker]:
    """A checked factory of fresh ``name`` trackers, one per sequence (availability checked now)."""
    check_available(name, nano_models)

    def make() -> PeerTracker:
        return create(name, nano_models)

    return make
