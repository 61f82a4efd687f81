"""Boxes and crops: the one place that states the box convention.

**Box convention** everywhere in edge_tracker: ``x, y, w, h`` as float, 0-based, ``(x, y)`` the
top-left corner, in pixels of the image the box refers to. Pixel ``(c, r)`` covers
``[c, c+1) x [r, r+1)``, so its centre is ``(c + 0.5, r + 0.5)``. File formats with other
conventions (OTB's 1-based boxes, VOT polygons) are converted where they are read.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_tracker.errors import InputError


def box_center(box) -> tuple[float, float]:
    """Centre ``(cx, cy)`` of an xywh box, in pixels."""
    x, y, w, h = (float(v) for v in box)
    return x + w / 2.0, y + h / 2.0


def crop_square(image: np.ndarray, center: tuple[float, float], side: float, out_size: int,
                pad_value=None, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Cut a square of ``side`` pixels centred on ``center`` and resize it to ``out_size``.

    Args:
        image: ``[H, W, 3]`` uint8 or float image.
        center: ``(cx, cy)`` in pixels (see the module's convention).
        side: side of the square region in image pixels, > 0.
        out_size: side of the output, pixels.
        pad_value: fill for the parts outside the image; default the per-channel image mean
            (SiamFC and ATOM pad with the mean).

    Returns:
        ``[out_size, out_size, 3]`` float32 crop. Crop pixel ``(u, v)`` samples image point
        ``(cx - side/2 + (u + 0.5) * side/out_size, ...)``: pixel centres map to pixel centres.
    """
    if side <= 0 or not np.isfinite(side):
        raise InputError(f"crop side must be a positive number of pixels, got {side}")
    scale = out_size / side
    if pad_value is None:
        pad_value = image.reshape(-1, image.shape[-1]).mean(axis=0)
    cx, cy = center
    # Affine map image -> crop: u = (x - (cx - side/2)) * scale, in continuous coordinates; OpenCV
    # indexes pixel centres at integers, hence the half-pixel terms.
    tx = -(cx - side / 2.0) * scale + 0.5 * scale - 0.5
    ty = -(cy - side / 2.0) * scale + 0.5 * scale - 0.5
    matrix = np.array([[scale, 0.0, tx], [0.0, scale, ty]], dtype=np.float64)
    crop = cv2.warpAffine(image.astype(np.float32), matrix, (out_size, out_size), flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT,
                          borderValue=tuple(float(v) for v in np.broadcast_to(pad_value, (3,))))
    return crop


def box_to_crop(box, center: tuple[float, float], side: float, out_size: int) -> np.ndarray:
    """Map an xywh image box into the coordinates of ``crop_square(image, center, side, out_size)``."""
    scale = out_size / side
    x, y, w, h = (float(v) for v in box)
    return np.array([(x - (center[0] - side / 2.0)) * scale, (y - (center[1] - side / 2.0)) * scale,
                     w * scale, h * scale], dtype=np.float32)


def to_nchw(crop: np.ndarray, bgr: bool = True) -> np.ndarray:
    """``[H, W, 3]`` crop -> ``[1, 3, H, W]`` float32 RGB 0..255, the networks' input convention."""
    rgb = crop[..., ::-1] if bgr else crop
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32)


def box_iou(a, b) -> np.ndarray:
    """Intersection over union of xywh boxes ``a`` and ``b`` (``[..., 4]``, broadcast), float64.

    0 where either box has no area or a non-finite value (a failed prediction scores 0, never NaN).
    The evaluation's success metric, the training proposals and the trackers all use this one.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        width = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
        height = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
        inter = np.clip(width, 0.0, None) * np.clip(height, 0.0, None)
        union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
        valid = (np.isfinite(a).all(axis=-1) & np.isfinite(b).all(axis=-1) & (a[..., 2] > 0) & (a[..., 3] > 0)
                 & (b[..., 2] > 0) & (b[..., 3] > 0) & (union > 0))
        return np.where(valid, inter / np.where(valid, union, 1.0), 0.0)
