"""Crop geometry of each tracker: where in the image a crop is cut, and at what size.

A crop is a square :class:`CropWindow` (centre and side in image pixels, the box convention of
``edge_tracker.geometry``) resized to a network input side. Tracking, training and calibration
all call the functions below, so a network is trained and calibrated on the crops it tracks with.

**SiamFC** (Bertinetto et al. 2016, SCS-Siam SPEC 2.5): the template covers the target plus a
context margin ``p = context * (w + h)`` on each axis, a square of side
``z = sqrt((w + p)(h + p))`` image pixels mapped onto ``exemplar_size`` (127) crop pixels. Every crop
keeps that resolution: the inference template (135 px) and search crops (263 px) are larger
windows at the same crop-pixels-per-image-pixel, and the search crops of the scale pyramid are
``z * search_size / exemplar_size * scale`` image pixels wide.

**ATOM** (Danelljan et al. 2019, SPEC 1.6): a square of side ``search_area_scale * sqrt(w * h)``
(5x the target's geometric-mean side) around the target, resized to ``sample_size`` (288).

**Classifier response grid**: a ``k x k`` filter with ``k // 2`` zero padding over an ``n x n``
feature map gives ``n + 1 - k % 2`` cells a side, centred on the crop (``export.models.classifier``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge_tracker.errors import InputError
from edge_tracker.geometry import box_center, box_to_crop

SIAMFC_EXEMPLAR_SIZE = 127  # training template side, px: fixes crop pixels per image pixel
SIAMFC_INSTANCE_SIZE = 255  # training search side, px
SIAMFC_TEMPLATE_SIZE = 135  # inference template side, px (the exported template graph's input)
SIAMFC_SEARCH_SIZE = 263  # inference search side, px (the exported search graph's input)
SIAMFC_CONTEXT = 0.5  # context margin p = context * (w + h)
ATOM_SAMPLE_SIZE = 288  # ATOM's sample side, px (18 x 16)
ATOM_SEARCH_AREA_SCALE = 5.0  # ATOM's sample side = this * sqrt(w * h)


@dataclass(frozen=True)
class CropWindow:
    """A square region of the image: ``center`` (cx, cy) and ``side``, image pixels."""

    center: tuple[float, float]
    side: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.side) and self.side > 0):
            raise InputError(f"crop side must be a positive number of pixels, got {self.side}")

    def box_to_crop(self, box, out_size: int) -> np.ndarray:
        """An xywh image box in the pixels of this window resized to ``out_size`` (float32 ``[4]``)."""
        return box_to_crop(box, self.center, self.side, out_size)

    def crop_pixel_size(self, out_size: int) -> float:
        """Image pixels per crop pixel once resized to ``out_size``."""
        return self.side / out_size


def siamfc_template_side(box, context: float = SIAMFC_CONTEXT) -> float:
    """``z = sqrt((w + p)(h + p))``, ``p = context * (w + h)``: the exemplar's side in image pixels."""
    w, h = float(box[2]), float(box[3])
    pad = context * (w + h)
    return math.sqrt((w + pad) * (h + pad))


def siamfc_template_window(box, context: float = SIAMFC_CONTEXT, crop_size: int = SIAMFC_TEMPLATE_SIZE,
                           exemplar_size: int = SIAMFC_EXEMPLAR_SIZE) -> CropWindow:
    """The template window around ``box`` (xywh) for a ``crop_size`` crop at the exemplar resolution."""
    return CropWindow(box_center(box), siamfc_template_side(box, context) * crop_size / exemplar_size)


def siamfc_scale_factors(num_scales: int, scale_step: float) -> np.ndarray:
    """``[num_scales]`` search-scale factors ``scale_step ** k``, k centred on 0 (SiamFC's pyramid)."""
    half = (num_scales - 1) / 2
    return scale_step ** np.linspace(-half, half, num_scales)


def siamfc_search_windows(center, z_side: float, scale_factors, search_size: int = SIAMFC_SEARCH_SIZE,
                          exemplar_size: int = SIAMFC_EXEMPLAR_SIZE) -> list[CropWindow]:
    """One search window per scale around ``center``, for ``search_size`` crops at the exemplar resolution.

    ``z_side`` is the current exemplar side (image pixels), which the tracker rescales as the target does.
    """
    side = z_side * search_size / exemplar_size
    center = (float(center[0]), float(center[1]))
    return [CropWindow(center, side * float(factor)) for factor in scale_factors]


def atom_sample_window(center, target_size, search_area_scale: float = ATOM_SEARCH_AREA_SCALE) -> CropWindow:
    """ATOM's sample window: side ``search_area_scale * sqrt(w * h)`` around ``center`` (image px)."""
    side = float(search_area_scale * np.sqrt(np.prod(np.asarray(target_size, dtype=np.float64))))
    return CropWindow((float(center[0]), float(center[1])), side)


def response_grid_side(input_side: int, stride: int, filter_size: int) -> int:
    """Cells per side of a classifier response: ``input_side // stride + 1 - filter_size % 2``."""
    return input_side // stride + 1 - filter_size % 2
