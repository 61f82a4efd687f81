"""SCS-Siam tracking: the SiamFC step math on a controlled response, and ORT vs PyTorch agreement."""

from __future__ import annotations

import numpy as np
import pytest

from edge_tracker.backends import load_runners
from edge_tracker.errors import ConfigError, InputError
from edge_tracker.trackers.siamfc import SiamParams, SiamTracker
from tests.conftest import read_otb_sequence
from tests.edge_tracker.stand_ins import FixedResponse as _FixedResponse
from tests.edge_tracker.stand_ins import meta as _meta


def _controlled_tracker(peak_cell, best_scale, params):
    """Tracker whose response peaks at ``peak_cell`` (dx, dy cells from centre) on scale ``best_scale``."""
    kernel = _meta("kernel", (1, 384, 7, 7))
    template = _FixedResponse("template", {"template": _meta("template", (1, 3, 135, 135))}, {"kernel": kernel},
                              lambda feed: {"kernel": np.zeros((1, 384, 7, 7), np.float32)})
    grid = np.arange(17) - 8.0

    def response(feed):
        out = np.zeros((3, 1, 17, 17), np.float32)
        for s in range(3):
            gauss = np.exp(-((grid[None] - peak_cell[0]) ** 2 + (grid[:, None] - peak_cell[1]) ** 2) / 2.0)
            out[s, 0] = gauss * (1.0 if s == best_scale else 0.5)
        return {"response": out}

    search = _FixedResponse("search", {"search": _meta("search", (3, 3, 263, 263)), "kernel": kernel},
                            {"response": _meta("response", (3, 1, 17, 17))}, response)
    return SiamTracker({"template": template, "search": search}, params)


@pytest.mark.parametrize("peak_cell, best_scale", [((2, -1), 1), ((-3, 0), 2), ((0, 0), 0)])
def test_step_moves_by_the_peak_offset_and_damps_the_scale(peak_cell, best_scale):
    params = SiamParams(window_influence=0.0)
    tracker = _controlled_tracker(peak_cell, best_scale, params)
    frame = np.full((400, 500, 3), 90, np.uint8)
    box = np.array([200.0, 150.0, 40.0, 60.0])
    tracker.initialize(frame, box)
    z_side = tracker.z_side
    assert z_side == pytest.approx(np.sqrt((40 + 50) * (60 + 50)))
    result = tracker.track(frame)
    factor = params.scale_step ** (best_scale - 1)
    expected_shift = np.array(peak_cell) * params.total_stride * z_side * factor / params.exemplar_size
    centre = result.box[:2] + result.box[2:] / 2
    np.testing.assert_allclose(centre - [220.0, 180.0], expected_shift, atol=0.3)
    scale = (1 - params.scale_lr) + params.scale_lr * factor
    np.testing.assert_allclose(result.box[2:], [40 * scale, 60 * scale], rtol=1e-9)
    assert result.state == "normal" and result.score == pytest.approx(1.0, abs=1e-6)
    assert set(result.timings_ms) == {"crop", "network", "post"}


def test_bad_initial_boxes_and_params():
    tracker = _controlled_tracker((0, 0), 1, SiamParams())
    frame = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(InputError, match="zero or negative size"):
        tracker.initialize(frame, (10, 10, 0, 5))
    with pytest.raises(InputError, match="outside the 100x100 frame"):
        tracker.initialize(frame, (150, 10, 5, 5))
    with pytest.raises(InputError, match="4 numbers"):
        tracker.initialize(frame, (1, 2, 3))
    with pytest.raises(ConfigError, match="window_influence"):
        SiamParams.from_dict({"window_influance": 0.2})


@pytest.fixture(scope="module")
def siam_models(exports):
    return exports("scs-siam")  # (checkpoint, onnx folder), shared with the other test modules


def _run(runners, frames, box):
    tracker = SiamTracker(runners)
    tracker.initialize(frames[0], box)
    return np.array([tracker.track(frame).box for frame in frames[1:]])


def test_onnxruntime_follows_pytorch_on_a_real_sequence(siam_models, shared_data):
    checkpoint, onnx_dir = siam_models
    frames, boxes = read_otb_sequence(shared_data / "sequences/otb/Crossing", list(range(30)))
    _, ort_runners = load_runners(onnx_dir, "ort", tracker="scs-siam")
    _, torch_runners = load_runners(checkpoint, "torch", tracker="scs-siam")
    ort_boxes = _run(ort_runners, frames, boxes[0])
    torch_boxes = _run(torch_runners, frames, boxes[0])
    assert np.max(np.abs(ort_boxes - torch_boxes)) <= 0.5
    assert np.ptp(ort_boxes[:, 0]) > 0  # the boxes really moved: agreement is not trivial


def test_wrong_tracker_export_is_refused(siam_models):
    _, onnx_dir = siam_models
    with pytest.raises(InputError, match="'scs-siam' export, but 'aff-atom'"):
        load_runners(onnx_dir, "ort", tracker="aff-atom")
