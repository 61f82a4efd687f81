"""ATOM's first-frame augmentation (pytracking's set): the crops the classifier first learns from.

One crop of twice the sample region is cut from the frame, so rotations and shifts bring in real
image rather than padding; every copy is the central ``size`` x ``size`` part of a transformed
version of it: identity, left-right flip, the ``ROTATIONS``, the ``BLURS`` and the ``SHIFTS`` of
``atom_params`` (``AtomParams.num_init_samples`` counts them).
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_tracker.geometry import crop_square, to_nchw
from edge_tracker.trackers.atom_params import BLURS, ROTATIONS, SHIFTS


def augmented_crops(frame: np.ndarray, center, side: float, size: int,
                    mean_color: np.ndarray) -> tuple[list[np.ndarray], list[tuple[float, float]]]:
    """The first-frame crops (NCHW network inputs, ``size`` px) around ``center`` (image px) of a
    sample of ``side`` image px, and where the target centre sits in each (crop px from the centre)."""
    big = crop_square(frame, tuple(center), 2 * side, 2 * size, pad_value=mean_color)
    lo = size // 2

    def central(image):
        return to_nchw(image[lo: lo + size, lo: lo + size])

    crops, shifts = [central(big), central(big[:, ::-1])], [(0.0, 0.0), (0.0, 0.0)]
    pivot = (size - 0.5, size - 0.5)  # centre of the 2x patch in OpenCV's pixel-centre coordinates
    for angle in ROTATIONS:
        matrix = cv2.getRotationMatrix2D(pivot, angle, 1.0)
        rotated = cv2.warpAffine(big, matrix, big.shape[1::-1], flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
        crops.append(central(rotated))
        shifts.append((0.0, 0.0))
    for sigma_y, sigma_x in BLURS:
        crops.append(central(cv2.GaussianBlur(big, (0, 0), sigmaX=sigma_x, sigmaY=sigma_y)))
        shifts.append((0.0, 0.0))
    for fx, fy in SHIFTS:
        dx, dy = int(fx * size / 2), int(fy * size / 2)
        matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
        moved = cv2.warpAffine(big, matrix, big.shape[1::-1], flags=cv2.INTER_NEAREST,
                               borderMode=cv2.BORDER_REPLICATE)
        crops.append(central(moved))
        shifts.append((float(dx), float(dy)))
    return crops, shifts
