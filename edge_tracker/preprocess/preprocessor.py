"""The preprocessing seam: frame in, network-ready crops out.

A tracker is given a :class:`Preprocessor` and never cuts crops itself. Per frame it calls
``set_frame(frame)`` once (a GPU implementation uploads the frame there, once) and then
``crops(windows, out_size, pad_value)`` for each network input: square windows
(``geometry.CropWindow``), bilinear resize to ``out_size``, the parts outside the image filled
with ``pad_value`` (the image mean, as SiamFC and ATOM pad), BGR uint8 ``[H, W, 3]`` ->
RGB float32 ``[N, 3, S, S]`` 0..255, the networks' input convention. The result is a host array
here; a GPU implementation returns a device array the runners read in place.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np

from edge_tracker.errors import EdgeTrackerError
from edge_tracker.geometry import crop_square, to_nchw
from edge_tracker.preprocess.geometry import CropWindow


class Preprocessor(abc.ABC):
    """Cuts network inputs from the current frame (see the module docstring)."""

    device = "cpu"  # where ``crops`` leaves its output: "cpu" or "cuda"

    @abc.abstractmethod
    def set_frame(self, frame: np.ndarray) -> None:
        """Make ``frame`` (BGR uint8 ``[H, W, 3]``) the one ``crops`` cuts from."""

    @abc.abstractmethod
    def crops(self, windows: Sequence[CropWindow], out_size: int, pad_value) -> object:
        """``[len(windows), 3, out_size, out_size]`` float32 RGB 0..255 crops of the current frame."""


class OpenCVPreprocessor(Preprocessor):
    """Host implementation: ``cv2.warpAffine`` per window (``edge_tracker.geometry.crop_square``)."""

    def __init__(self) -> None:
        self._frame: np.ndarray | None = None

    def set_frame(self, frame: np.ndarray) -> None:
        self._frame = frame

    def crops(self, windows: Sequence[CropWindow], out_size: int, pad_value) -> np.ndarray:
        if self._frame is None:
            raise EdgeTrackerError("crops() called before set_frame(frame)")
        parts = [to_nchw(crop_square(self._frame, w.center, w.side, out_size, pad_value=pad_value))
                 for w in windows]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
