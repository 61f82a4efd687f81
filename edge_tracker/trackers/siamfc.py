"""SCS-Siam tracking: the SiamFC procedure (SPEC 2.5) around the exported template/search graphs.

Per frame: cut the search crops at 3 scales around the last position, one batched ``search`` call,
upsample each 17x17 response x16 (bicubic), penalise the off-centre scales, mix in a cosine window,
move to the peak and damp the scale change. All network work is in the graphs; this file is numpy.

Geometry: the template covers the target plus context ``context * (w + h)`` on each axis,
``z_side = sqrt((w + c)(h + c))`` image pixels mapped onto ``exemplar_size`` (127, the training
template) pixels. Inference crops keep that resolution and are larger (135 / 263 px), so one
response cell is always ``total_stride`` crop pixels = ``total_stride * z_side / exemplar_size``
image pixels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from edge_tracker.backends.base import Runner
from edge_tracker.errors import EdgeTrackerError
from edge_tracker.params import Range, check_ranges, params_from_dict
from edge_tracker.preprocess import (
    SIAMFC_CONTEXT,
    SIAMFC_EXEMPLAR_SIZE,
    OpenCVPreprocessor,
    Preprocessor,
    siamfc_scale_factors,
    siamfc_search_windows,
    siamfc_template_side,
    siamfc_template_window,
)
from edge_tracker.trackers.base import OpenCVStyle, TrackResult, check_init_box


@dataclass(frozen=True)
class SiamParams:
    """SiamFC tracking parameters (SCS-Siam paper and SiamFC defaults)."""

    exemplar_size: int = SIAMFC_EXEMPLAR_SIZE  # training template side, px: fixes crop pixels per image pixel
    context: float = SIAMFC_CONTEXT  # context margin added to each side, as a fraction of (w + h)
    scale_step: float = 1.0375  # ratio between neighbouring search scales
    scale_penalty: float = 0.9745  # multiplies the responses of the off-centre scales
    scale_lr: float = 0.59  # damping of the scale update (1: jump to the best scale)
    response_upsample: int = 16  # bicubic upsampling of the 17x17 response
    window_influence: float = 0.176  # weight of the cosine window in the final score map
    total_stride: int = 8  # crop pixels per response cell
    min_side: float = 4.0  # smallest target side kept, image pixels (stops a collapse to 0)

    def __post_init__(self) -> None:
        check_ranges(self, SIAM_PARAM_RANGES)

    @classmethod
    def from_dict(cls, data: dict) -> "SiamParams":
        return params_from_dict(cls, data)


# The valid values of each parameter; a value outside is refused where the params object is built.
SIAM_PARAM_RANGES = {
    "exemplar_size": Range(1, None, integer=True),
    "context": Range(0, 4),  # beyond 4 x (w + h) of context the target is a speck in the template
    "scale_step": Range(1, 2),  # 1: three equal scales (no scale search); 2 doubles the box per frame
    "scale_penalty": Range(0, 1, low_open=True),
    "scale_lr": Range(0, 1),
    "response_upsample": Range(1, 32, integer=True),  # 17 x 32 = 544 px maps; more is memory, not accuracy
    "window_influence": Range(0, 1),
    "total_stride": Range(1, None, integer=True),
    "min_side": Range(0, None, low_open=True),
}


class SiamTracker(OpenCVStyle):
    """``initialize(frame, box)`` then ``track(frame)``; frames BGR uint8 ``[H, W, 3]``.

    ``preprocessor`` cuts the crops (default: OpenCV on the host; a GPU kernel on the GPU path).
    """

    def __init__(self, runners: dict[str, Runner], params: SiamParams | None = None,
                 preprocessor: Preprocessor | None = None) -> None:
        missing = {"template", "search"} - set(runners)
        if missing:
            raise EdgeTrackerError(f"SCS-Siam needs phase runners 'template' and 'search'; missing {sorted(missing)}")
        self.params = params or SiamParams()
        self.preprocessor = preprocessor or OpenCVPreprocessor()
        self.template_runner = runners["template"].activate()
        self.search_runner = runners["search"].activate()
        self.template_size = self.template_runner.input_metadata()["template"].shape[-1]
        search_shape = self.search_runner.input_metadata()["search"].shape
        self.num_scales, self.search_size = search_shape[0], search_shape[-1]
        self.response_size = self.search_runner.output_metadata()["response"].shape[-1]
        p = self.params
        self.scale_factors = siamfc_scale_factors(self.num_scales, p.scale_step)
        self.upsampled = self.response_size * p.response_upsample
        hann = np.hanning(self.upsampled)
        self.window = np.outer(hann, hann) / np.outer(hann, hann).sum()
        self.kernel: np.ndarray | None = None

    # --------------------------------------------------------------------------------- API
    def initialize(self, frame: np.ndarray, box) -> None:
        x, y, w, h = check_init_box(box, frame)
        self.center = np.array([x + w / 2, y + h / 2])
        self.target = np.array([w, h], dtype=np.float64)
        self.mean_color = frame.reshape(-1, 3).mean(axis=0)
        self.z_side = siamfc_template_side((x, y, w, h), self.params.context)
        window = siamfc_template_window((x, y, w, h), self.params.context, self.template_size,
                                        self.params.exemplar_size)
        self.preprocessor.set_frame(frame)
        template = self.preprocessor.crops([window], self.template_size, self.mean_color)
        # the kernel stays where the template phase computed it (on the GPU under TensorRT): every
        # frame's search phase reads it there, and it never crosses the bus
        self.kernel = self.template_runner.infer({"template": template}, copy_outputs_to_host=False)["kernel"]

    def track(self, frame: np.ndarray) -> TrackResult:
        if self.kernel is None:
            raise EdgeTrackerError("track() called before initialize(frame, box)")
        p = self.params
        start = time.perf_counter()
        windows = siamfc_search_windows(self.center, self.z_side, self.scale_factors, self.search_size,
                                        p.exemplar_size)
        self.preprocessor.set_frame(frame)
        crops = self.preprocessor.crops(windows, self.search_size, self.mean_color)
        t_crop = time.perf_counter()
        response = self.search_runner.infer({"search": crops, "kernel": self.kernel})["response"][:, 0]
        t_net = time.perf_counter()

        up = np.stack([cv2.resize(r, (self.upsampled, self.upsampled), interpolation=cv2.INTER_CUBIC)
                       for r in response])
        centre = self.num_scales // 2
        penalties = np.full(self.num_scales, p.scale_penalty)
        penalties[centre] = 1.0
        best = int(np.argmax(up.reshape(self.num_scales, -1).max(axis=1) * penalties))
        score_map = up[best] - up[best].min()
        score_map /= max(score_map.sum(), 1e-12)
        score_map = (1 - p.window_influence) * score_map + p.window_influence * self.window
        row, col = np.unravel_index(int(np.argmax(score_map)), score_map.shape)

        # peak offset: upsampled cells -> response cells -> crop pixels -> image pixels
        offset_cells = (np.array([col, row], dtype=np.float64) - (self.upsampled - 1) / 2) / p.response_upsample
        image_per_crop_px = self.z_side * self.scale_factors[best] / p.exemplar_size
        self.center = self.center + offset_cells * p.total_stride * image_per_crop_px
        scale = (1 - p.scale_lr) + p.scale_lr * self.scale_factors[best]
        self.target = np.maximum(self.target * scale, p.min_side)
        self.z_side *= scale
        height, width = frame.shape[:2]
        self.center = np.clip(self.center, 0, [width, height])
        t_post = time.perf_counter()

        box = np.array([*(self.center - self.target / 2), *self.target])
        return TrackResult(box=box, score=float(response[best].max()), state="normal",
                           timings_ms={"crop": 1e3 * (t_crop - start),
                                       "network": _inference_ms(self.search_runner, t_crop, t_net),
                                       "post": 1e3 * (t_post - t_net)})


def _inference_ms(runner: Runner, start: float, end: float) -> float:
    """The runner's own record of its last inference (CUDA events on a GPU), else the host interval."""
    measured = runner.last_inference_ms
    return measured if measured is not None else 1e3 * (end - start)
