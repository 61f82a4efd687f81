"""PrRoIPool in matrix form against a dense numerical integral of the bilinear interpolant."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edge_tracker.errors import ConfigError, InputError
from export.models.prroi_pool import PrRoIPool2D, prroi_pool2d, prroi_pool_boxes

SCALE = 0.5  # feature cells per input pixel in these tests


def bilinear(features: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of ``[C, H, W]`` at points ``(ys, xs)``; cells off the map count as 0."""
    channels, height, width = features.shape
    y0 = np.floor(ys).astype(int)
    x0 = np.floor(xs).astype(int)
    out = np.zeros((channels, ys.size))
    for dy in (0, 1):
        for dx in (0, 1):
            iy, ix = y0 + dy, x0 + dx
            weight = (1 - np.abs(ys - iy)) * (1 - np.abs(xs - ix))
            inside = (iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)
            values = features[:, np.clip(iy, 0, height - 1), np.clip(ix, 0, width - 1)]
            out += np.where(inside, weight * values, 0.0)
    return out


def dense_prroi(features: np.ndarray, box: tuple[float, float, float, float], pooled: tuple[int, int],
                samples: int = 120) -> np.ndarray:
    """Mean of the interpolant over each bin by a midpoint rule on a ``samples x samples`` grid."""
    x1, y1, x2, y2 = (c * SCALE for c in box)
    ph, pw = pooled
    bin_h, bin_w = max(y2 - y1, 0) / ph, max(x2 - x1, 0) / pw
    out = np.zeros((features.shape[0], ph, pw))
    if bin_h == 0 or bin_w == 0:
        return out
    mid = (np.arange(samples) + 0.5) / samples
    for py in range(ph):
        for px in range(pw):
            ys, xs = np.meshgrid(y1 + (py + mid) * bin_h, x1 + (px + mid) * bin_w, indexing="ij")
            out[:, py, px] = bilinear(features, ys.ravel(), xs.ravel()).mean(axis=1)
    return out


BOXES = {
    "inside": (1.3, 2.1, 9.7, 8.9),
    "partly_outside": (-3.4, 5.2, 6.1, 16.0),  # left of x = 0 and below the last row
    "straddles_margin": (-5.0, -4.0, 3.0, 1.0),  # reaches past the zero margin at -1 cell
    "fully_outside": (20.0, 1.0, 26.0, 5.0),  # x from 10 to 13 cells on a 7-wide map
    "integer_corners": (2.0, 2.0, 8.0, 10.0),
}


@pytest.fixture(scope="module")
def features() -> torch.Tensor:
    return torch.randn(2, 3, 6, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


@pytest.mark.parametrize("pooled", [(1, 1), (3, 3), (5, 5), (2, 4)])
@pytest.mark.parametrize("case", sorted(BOXES))
def test_prroi_matches_dense_integral(features, case, pooled):
    box = BOXES[case]
    rois = torch.tensor([[1.0, *box]], dtype=torch.float64)
    got = prroi_pool2d(features, rois, pooled, SCALE)[0].numpy()
    want = dense_prroi(features[1].numpy(), box, pooled)
    assert got.shape == (3, *pooled)
    np.testing.assert_allclose(got, want, atol=1e-3, rtol=0)
    if case == "fully_outside":
        assert np.all(got == 0.0)


def test_prroi_constant_map_inside_is_constant():
    # a box well inside a constant map averages to that constant, whatever the bins
    feats = torch.full((1, 2, 8, 8), 3.5, dtype=torch.float64)
    rois = torch.tensor([[0, 2.2, 3.1, 9.9, 11.7]], dtype=torch.float64)
    got = prroi_pool2d(feats, rois, (3, 2), SCALE)
    torch.testing.assert_close(got, torch.full_like(got, 3.5), atol=1e-12, rtol=0)


@pytest.mark.parametrize("box", [(3.0, 2.0, 3.0, 8.0), (3.0, 2.0, 9.0, 2.0), (9.0, 8.0, 3.0, 2.0)])
def test_prroi_empty_or_inverted_box_is_zero(features, box):
    rois = torch.tensor([[0.0, *box]], dtype=torch.float64)
    got = prroi_pool2d(features, rois, (3, 3), SCALE)
    assert torch.equal(got, torch.zeros_like(got))


def test_prroi_batch_index_selects_map(features):
    rois = torch.tensor([[1.0, *BOXES["inside"]], [0.0, *BOXES["partly_outside"]],
                         [1.0, *BOXES["straddles_margin"]]], dtype=torch.float64)
    got = prroi_pool2d(features, rois, (3, 3), SCALE)
    for k in range(3):
        b = int(rois[k, 0])
        single = prroi_pool2d(features[b:b + 1], rois[k:k + 1], (3, 3), SCALE)
        torch.testing.assert_close(got[k:k + 1], single, atol=1e-12, rtol=0)


def test_prroi_grouped_boxes_match_roi_form(features):
    boxes = torch.tensor([[BOXES["inside"], BOXES["partly_outside"]],
                          [BOXES["straddles_margin"], BOXES["integer_corners"]]], dtype=torch.float64)
    grouped = prroi_pool_boxes(features, boxes, (2, 3), SCALE)
    rois = torch.cat((torch.tensor([[0.0], [0.0], [1.0], [1.0]], dtype=torch.float64),
                      boxes.reshape(4, 4)), dim=1)
    torch.testing.assert_close(grouped.reshape(4, 3, 2, 3), prroi_pool2d(features, rois, (2, 3), SCALE),
                               atol=1e-12, rtol=0)


@pytest.mark.parametrize("batch", [1, 2])
def test_prroi_gradient_in_box_matches_finite_differences(features, batch):
    feats = features[:batch].clone().requires_grad_(True)
    coords = torch.tensor([BOXES["inside"], BOXES["partly_outside"], BOXES["straddles_margin"]],
                          dtype=torch.float64, requires_grad=True)
    index = torch.tensor([[0.0], [batch - 1.0], [0.0]], dtype=torch.float64)

    def pool(f, c):
        return prroi_pool2d(f, torch.cat((index, c), dim=1), (3, 2), SCALE)

    assert torch.autograd.gradcheck(pool, (feats, coords), eps=1e-6, atol=1e-6)
    # and the box gradient is really there (not identically zero)
    (grad,) = torch.autograd.grad(pool(feats, coords).sum(), coords)
    assert grad.abs().sum() > 1e-3


def test_prroi_module_matches_function(features):
    module = PrRoIPool2D(5, 5, SCALE)
    rois = torch.tensor([[0.0, *BOXES["inside"]]], dtype=torch.float64)
    torch.testing.assert_close(module(features, rois), prroi_pool2d(features, rois, (5, 5), SCALE))


def test_prroi_rejects_bad_input(features):
    with pytest.raises(InputError, match="rois"):
        prroi_pool2d(features, torch.zeros(3, 4, dtype=torch.float64), (3, 3), SCALE)
    with pytest.raises(ConfigError, match="pooled_size"):
        PrRoIPool2D(0, 3, SCALE)
    with pytest.raises(ConfigError, match="spatial_scale"):
        PrRoIPool2D(3, 3, 0.0)


@pytest.mark.parametrize("batch", [1, 2])
def test_prroi_exports_to_onnx_opset17(batch):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    module = PrRoIPool2D(3, 4, SCALE).eval()
    feats = torch.randn(batch, 3, 7, 9, generator=torch.Generator().manual_seed(1))
    rois = torch.tensor([[0, 1.3, 2.2, 9.7, 11.1], [batch - 1, -3.0, -2.0, 5.0, 6.5],
                         [0, 4.0, 4.0, 4.0, 9.0]])
    program = torch.onnx.export(module, (feats, rois), dynamo=True, opset_version=17, verbose=False)
    model = program.model_proto
    assert {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {17}
    ops = {node.op_type for node in model.graph.node}
    allowed = {"Abs", "Add", "Cast", "Clip", "Div", "Gather", "Greater", "MatMul", "Mul", "Reshape",
               "Round", "Slice", "Squeeze", "Sub", "Transpose", "Unsqueeze", "Where", "Constant",
               "Expand", "Shape", "Concat", "Split", "Max", "Min", "Identity"}
    assert ops <= allowed, f"unexpected ONNX ops {sorted(ops - allowed)}"
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    (got,) = session.run(None, dict(zip(names, (feats.numpy(), rois.numpy()))))
    np.testing.assert_allclose(got, module(feats, rois).numpy(), atol=1e-5, rtol=0)
