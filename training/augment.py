"""Tracking augmentations on training crops (numpy + OpenCV), each with its box bookkeeping.

Crops are ``[S, S, 3]`` float BGR as ``edge_tracker.geometry.crop_square`` cuts them; boxes are xywh
in crop pixels, continuous coordinates (pixel ``u`` covers ``[u, u + 1)``). What each is for:

- ``stretch``: the crop resampled about its centre by ``(ax, ay)`` per axis: the target's aspect
  ratio (and size) changes between the two frames of a pair, as when an object turns or a camera
  zooms, which the IoU-Net must size and the Siamese matcher must tolerate.
- ``motion_blur``: a line kernel of ``length`` px at ``angle``: the blur of fast motion and of a
  shaking camera (OTB's MB attribute; drones).
- ``colour_gains``: one gain per channel: white-balance and illumination-colour changes (the
  brightness jitter already in ``training.crops`` scales all channels alike).
- ``far_box``: a box of a given size placed where it overlaps a reference box by at most a given
  IoU: hard negatives cut from the same frame (background that the tracker must not take for the
  target).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge_tracker.geometry import box_iou


def stretch(crop: np.ndarray, box: np.ndarray, ax: float, ay: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample ``crop`` about its centre, x by ``ax`` and y by ``ay``; returns the crop and the box.

    Crop point ``x`` moves to ``S/2 + ax (x - S/2)`` (and ``y`` alike), so the box's width becomes
    ``ax w``. Parts that come from outside the crop are filled with the crop's mean colour (the
    padding ``crop_square`` uses).
    """
    size = crop.shape[1], crop.shape[0]
    # OpenCV indexes pixel centres at integers: continuous u + 0.5 -> integer u
    matrix = np.array([[ax, 0.0, (1.0 - ax) * (size[0] / 2.0 - 0.5)],
                       [0.0, ay, (1.0 - ay) * (size[1] / 2.0 - 0.5)]])
    fill = tuple(float(v) for v in crop.reshape(-1, crop.shape[-1]).mean(axis=0))
    out = cv2.warpAffine(np.asarray(crop, np.float32), matrix, size, flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
    x, y, w, h = (float(v) for v in box)
    moved = np.array([size[0] / 2.0 + ax * (x - size[0] / 2.0), size[1] / 2.0 + ay * (y - size[1] / 2.0),
                      ax * w, ay * h], np.float32)
    return out, moved


def motion_blur(crop: np.ndarray, length: int, angle: float) -> np.ndarray:
    """Convolve with a normalised line of ``length`` px (odd, >= 1) at ``angle`` radians."""
    length = max(1, int(length) | 1)
    kernel = np.zeros((length, length), np.float32)
    half = length // 2
    dx, dy = math.cos(angle), math.sin(angle)
    for t in np.linspace(-half, half, 4 * length):
        kernel[round(half + t * dy), round(half + t * dx)] = 1.0
    kernel /= kernel.sum()
    return cv2.filter2D(np.asarray(crop, np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT)


def colour_gains(crop: np.ndarray, gains) -> np.ndarray:
    """Multiply channel c by ``gains[c]`` (BGR order)."""
    return np.asarray(crop, np.float32) * np.asarray(gains, np.float32).reshape(1, 1, -1)


def far_box(reference, size: tuple[float, float], area: tuple[float, float], rng: np.random.Generator,
            max_iou: float = 0.1, tries: int = 50) -> np.ndarray | None:
    """A box of ``size`` (w, h) lying inside ``area`` (W, H) with IoU <= ``max_iou`` with ``reference``.

    Its centre is uniform over the positions that keep the box inside the area. None when ``tries``
    draws all overlap too much (the reference fills the area).
    """
    w, h = float(size[0]), float(size[1])
    span_x, span_y = max(float(area[0]) - w, 0.0), max(float(area[1]) - h, 0.0)
    for _ in range(tries):
        candidate = np.array([rng.uniform(0.0, span_x), rng.uniform(0.0, span_y), w, h])
        if float(box_iou(candidate, reference)) <= max_iou:
            return candidate
    return None
