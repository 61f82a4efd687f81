"""The preprocessing seam and the crop geometry that tracking, training and calibration share."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_tracker.errors import EdgeTrackerError, InputError
from edge_tracker.geometry import box_iou, crop_square, to_nchw
from edge_tracker.preprocess import (
    SIAMFC_EXEMPLAR_SIZE,
    SIAMFC_SEARCH_SIZE,
    SIAMFC_TEMPLATE_SIZE,
    CropWindow,
    OpenCVPreprocessor,
    Preprocessor,
    atom_sample_window,
    response_grid_side,
    siamfc_scale_factors,
    siamfc_search_windows,
    siamfc_template_side,
    siamfc_template_window,
)
from edge_tracker.trackers.siamfc import SiamTracker
from tests.edge_tracker.stand_ins import FixedResponse, meta

BOX = (40.0, 30.0, 20.0, 50.0)


def test_siamfc_geometry_follows_the_paper():
    # p = 0.5 * (20 + 50) = 35; z = sqrt(55 * 85)
    z = math.sqrt(55 * 85)
    assert siamfc_template_side(BOX) == pytest.approx(z)
    window = siamfc_template_window(BOX)
    assert window.center == (50.0, 55.0)
    assert window.side == pytest.approx(z * SIAMFC_TEMPLATE_SIZE / SIAMFC_EXEMPLAR_SIZE)
    factors = siamfc_scale_factors(3, 1.0375)
    np.testing.assert_allclose(factors, [1 / 1.0375, 1.0, 1.0375])
    windows = siamfc_search_windows((50.0, 55.0), z, factors)
    assert [w.center for w in windows] == [(50.0, 55.0)] * 3
    np.testing.assert_allclose([w.side for w in windows], z * SIAMFC_SEARCH_SIZE / SIAMFC_EXEMPLAR_SIZE * factors)
    # the exemplar keeps its resolution in every crop: crop pixels per image pixel are the same
    assert window.crop_pixel_size(SIAMFC_TEMPLATE_SIZE) == pytest.approx(windows[1].crop_pixel_size(SIAMFC_SEARCH_SIZE))


def test_atom_window_and_response_grid():
    window = atom_sample_window((50.0, 55.0), (20.0, 50.0))
    assert window.side == pytest.approx(5.0 * math.sqrt(1000.0)) and window.center == (50.0, 55.0)
    np.testing.assert_allclose(window.box_to_crop(BOX, 288), [(40 - (50 - window.side / 2)) * 288 / window.side,
                                                              (30 - (55 - window.side / 2)) * 288 / window.side,
                                                              20 * 288 / window.side, 50 * 288 / window.side], rtol=1e-6)
    assert response_grid_side(288, 16, 4) == 19 and response_grid_side(288, 32, 4) == 10
    assert response_grid_side(288, 16, 5) == 18
    with pytest.raises(InputError, match="positive number of pixels"):
        CropWindow((0.0, 0.0), 0.0)


def test_training_cuts_the_crops_the_trackers_cut():
    """Training's unjittered regions are the trackers' windows (one geometry, not two)."""
    from training.crops import SiamCropParams, _jittered_region

    rng = np.random.default_rng(0)
    center, side = _jittered_region(BOX, 0.0, 0.0, rng, 5.0)
    window = atom_sample_window((50.0, 55.0), (20.0, 50.0))
    assert (center, side) == (window.center, window.side)
    params = SiamCropParams()
    assert params.template_size == SIAMFC_EXEMPLAR_SIZE and params.context == 0.5


def test_opencv_preprocessor_equals_crop_square_per_window():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    windows = [CropWindow((30.0, 40.0), 50.0), CropWindow((150.0, 110.0), 80.0)]  # the second runs off the frame
    pad = frame.reshape(-1, 3).mean(axis=0)
    pre = OpenCVPreprocessor()
    with pytest.raises(EdgeTrackerError, match="before set_frame"):
        pre.crops(windows, 32, pad)
    pre.set_frame(frame)
    crops = pre.crops(windows, 32, pad)
    assert crops.shape == (2, 3, 32, 32) and crops.dtype == np.float32
    for i, window in enumerate(windows):
        np.testing.assert_array_equal(crops[i:i + 1], to_nchw(crop_square(frame, window.center, window.side, 32, pad)))
    np.testing.assert_allclose(crops[1, :, -1, -1], pad[::-1], rtol=1e-6)  # outside the frame: the mean, as RGB
    flat = np.empty_like(frame)
    flat[...] = (10, 20, 200)  # BGR
    pre.set_frame(flat)
    np.testing.assert_allclose(pre.crops(windows[:1], 8, None)[0, :, 4, 4], [200, 20, 10])  # RGB out


class _Recording(Preprocessor):
    """Wraps the OpenCV preprocessor and records every window a tracker asks for."""

    def __init__(self):
        self.inner, self.calls, self.frames = OpenCVPreprocessor(), [], 0

    def set_frame(self, frame):
        self.frames += 1
        self.inner.set_frame(frame)

    def crops(self, windows, out_size, pad_value):
        self.calls.append((list(windows), out_size))
        return self.inner.crops(windows, out_size, pad_value)


def test_siamfc_tracker_cuts_through_the_seam_with_the_shared_geometry():
    kernel = meta("kernel", (1, 384, 7, 7))
    runners = {
        "template": FixedResponse("template", {"template": meta("template", (1, 3, 135, 135))}, {"kernel": kernel},
                                  lambda feed: {"kernel": np.zeros((1, 384, 7, 7), np.float32)}),
        "search": FixedResponse("search", {"search": meta("search", (3, 3, 263, 263)), "kernel": kernel},
                                {"response": meta("response", (3, 1, 17, 17))},
                                lambda feed: {"response": np.ones((3, 1, 17, 17), np.float32)}),
    }
    recording = _Recording()
    tracker = SiamTracker(runners, preprocessor=recording)
    frame = np.random.default_rng(2).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    tracker.initialize(frame, BOX)
    tracker.track(frame)
    (template_windows, t_size), (search_windows, s_size) = recording.calls
    assert recording.frames == 2 and t_size == tracker.template_size and s_size == tracker.search_size
    assert template_windows == [siamfc_template_window(BOX, 0.5, tracker.template_size)]
    expected = siamfc_search_windows((50.0, 55.0), siamfc_template_side(BOX), tracker.scale_factors, tracker.search_size)
    assert search_windows == expected


def test_box_iou_is_one_definition_with_failed_boxes_scoring_zero():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, np.nan, 10], [0, 0, 0, 10]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5], [0, 0, 10, 10], [0, 0, 10, 10]], float)
    np.testing.assert_allclose(box_iou(a, b), [1.0, 50 / 150, 0.0, 0.0, 0.0])
    assert float(box_iou([0, 0, 2, 2], [1, 1, 2, 2])) == pytest.approx(1 / 7)
