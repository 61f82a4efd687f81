"""The numpy twin of ``crop_resize.cu``: the kernel's float32 arithmetic, operation for operation.

:func:`crop_reference` performs exactly the float32 operations the kernel performs, in the same
order (explicitly rounded products and sums, no fused multiply-add), so the kernel's output must
equal it bit for bit; a GPU test compares the two. The twin itself is checked in CI against
:class:`~edge_tracker.preprocess.OpenCVPreprocessor` (``cv2.warpAffine``) on real frames, so the
kernel inherits that agreement.

:func:`window_params` is the host side both share: the crop mapping of ``geometry.crop_square``
as ``(step, x0, y0)`` per window, computed in float64 and rounded to float32 once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge_tracker.errors import EdgeTrackerError, InputError
from edge_tracker.preprocess.geometry import CropWindow
from edge_tracker.preprocess.preprocessor import Preprocessor

F32 = np.float32


def window_params(windows: Sequence[CropWindow], out_size: int) -> np.ndarray:
    """``[len(windows), 3]`` float32 ``(step, x0, y0)``: crop pixel (u, v) samples ``(step*u + x0, step*v + y0)``.

    ``step = side / out_size``; ``x0 = cx - side/2 + step/2 - 1/2`` (pixel centres on the integers,
    OpenCV's convention), the mapping of ``edge_tracker.geometry.crop_square``.
    """
    if not windows:
        raise InputError("crops() needs at least one window")
    if not (isinstance(out_size, int | np.integer) and out_size >= 1):
        raise InputError(f"crop size must be a whole number of pixels >= 1, got {out_size!r}")
    params = np.empty((len(windows), 3), np.float64)
    for i, window in enumerate(windows):
        step = window.side / out_size
        params[i] = (step, window.center[0] - window.side / 2 + step / 2 - 0.5,
                     window.center[1] - window.side / 2 + step / 2 - 0.5)
    if not np.isfinite(params).all():
        raise InputError(f"crop windows must have finite centres and sides, got {list(windows)}")
    return params.astype(F32)


def pad_triplet(frame: np.ndarray, pad_value) -> np.ndarray:
    """The pad value as float32 BGR ``[3]``: ``pad_value`` broadcast, or the frame's mean colour when None."""
    if pad_value is None:
        return frame.reshape(-1, 3).mean(axis=0).astype(F32)
    pad = np.broadcast_to(np.asarray(pad_value, dtype=np.float64), (3,))
    if not np.isfinite(pad).all():
        raise InputError(f"pad value must be finite, got {pad_value!r}")
    return pad.astype(F32)


def crop_reference(frame: np.ndarray, windows: Sequence[CropWindow], out_size: int, pad_value=None) -> np.ndarray:
    """``[len(windows), 3, out_size, out_size]`` float32 RGB crops, as ``crop_resize.cu`` computes them."""
    frame = check_frame(frame)
    height, width = frame.shape[:2]
    pad = pad_triplet(frame, pad_value)
    params = window_params(windows, out_size)
    index = np.arange(out_size, dtype=F32)
    out = np.empty((len(windows), 3, out_size, out_size), F32)
    for n, (step, ox, oy) in enumerate(params):
        sx = step * index + ox  # float32 product, then float32 sum: __fmul_rn then __fadd_rn
        sy = step * index + oy
        left, top = np.floor(sx), np.floor(sy)
        ax, ay = sx - left, sy - top
        bx, by = F32(1) - ax, F32(1) - ay
        x0 = np.clip(left, -2, width).astype(np.int64)
        y0 = np.clip(top, -2, height).astype(np.int64)
        for c in range(3):
            p00, p01 = _taps(frame, y0, x0, c, pad[c]), _taps(frame, y0, x0 + 1, c, pad[c])
            p10, p11 = _taps(frame, y0 + 1, x0, c, pad[c]), _taps(frame, y0 + 1, x0 + 1, c, pad[c])
            upper = p00 * bx[None, :] + p01 * ax[None, :]
            lower = p10 * bx[None, :] + p11 * ax[None, :]
            out[n, 2 - c] = upper * by[:, None] + lower * ay[:, None]
    return out


def _taps(frame: np.ndarray, rows: np.ndarray, cols: np.ndarray, channel: int, pad: np.float32) -> np.ndarray:
    """``[len(rows), len(cols)]`` float32 samples of one channel; the pad value outside the frame."""
    height, width = frame.shape[:2]
    inside = ((rows >= 0) & (rows < height))[:, None] & ((cols >= 0) & (cols < width))[None, :]
    values = frame[np.clip(rows, 0, height - 1)[:, None], np.clip(cols, 0, width - 1)[None, :], channel]
    return np.where(inside, values.astype(F32), pad)


def check_frame(frame) -> np.ndarray:
    """A BGR uint8 ``[H, W, 3]`` frame as a C-contiguous array, or InputError."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise InputError(f"a frame is a BGR uint8 [H, W, 3] array, got {got}")
    return np.ascontiguousarray(frame)


class KernelTwinPreprocessor(Preprocessor):
    """The kernel's numpy twin behind the preprocessing seam (host arrays; for tests and comparisons)."""

    def __init__(self) -> None:
        self._frame: np.ndarray | None = None

    def set_frame(self, frame: np.ndarray) -> None:
        self._frame = check_frame(frame)

    def crops(self, windows: Sequence[CropWindow], out_size: int, pad_value) -> np.ndarray:
        if self._frame is None:
            raise EdgeTrackerError("crops() called before set_frame(frame)")
        return crop_reference(self._frame, windows, out_size, pad_value)
