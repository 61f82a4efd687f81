"""Online-classifier pieces (SPEC 1.4, 1.6): response, mlu, grid resampling, confidence fusion."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from edge_tracker.errors import ConfigError, InputError
from export.models.classifier import (
    classifier_response,
    fuse_responses,
    fusion_weights,
    mlu,
    resample_matrix,
)


def grid_positions(size: int, stride: float) -> np.ndarray:
    """Pixel offsets of a centred response grid from the crop centre."""
    return (np.arange(size) - (size - 1) / 2) * stride


@pytest.mark.parametrize("k", [4, 3])
def test_classifier_response_equals_explicit_loop(k):
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(1, 5, 6, 7, generator=gen, dtype=torch.float64)
    proj = torch.randn(3, 5, 1, 1, generator=gen, dtype=torch.float64)
    filt = torch.randn(1, 3, k, k, generator=gen, dtype=torch.float64)
    got = classifier_response(feats, proj, filt).numpy()[0, 0]

    f, p, w = feats.numpy()[0], proj.numpy()[:, :, 0, 0], filt.numpy()[0]
    projected = np.einsum("dc,chw->dhw", p, f)
    pad = k // 2
    height, width = 6 + 2 * pad - k + 1, 7 + 2 * pad - k + 1
    want = np.zeros((height, width))
    for oy in range(height):
        for ox in range(width):
            for dy in range(k):
                for dx in range(k):
                    iy, ix = oy + dy - pad, ox + dx - pad
                    if 0 <= iy < 6 and 0 <= ix < 7:
                        want[oy, ox] += np.dot(projected[:, iy, ix], w[:, dy, dx])
    assert got.shape == ((7, 8) if k % 2 == 0 else (6, 7))  # even k: one cell more
    np.testing.assert_allclose(got, want, atol=1e-10, rtol=0)


def test_classifier_response_rejects_mismatched_shapes():
    feats = torch.zeros(1, 5, 6, 6)
    with pytest.raises(InputError, match="projection"):
        classifier_response(feats, torch.zeros(3, 4, 1, 1), torch.zeros(1, 3, 4, 4))
    with pytest.raises(InputError, match="filt"):
        classifier_response(feats, torch.zeros(3, 5, 1, 1), torch.zeros(1, 2, 4, 4))


@pytest.mark.parametrize("alpha", [0.05, 0.5, 2.0])
def test_mlu_matches_piecewise_formula(alpha):
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    want = torch.where(x >= 0, x, alpha * (torch.exp(x / alpha) - 1))
    torch.testing.assert_close(mlu(x, alpha), want, atol=1e-12, rtol=0)
    assert mlu(torch.tensor(-1e3, dtype=torch.float64), alpha) == pytest.approx(-alpha)
    with pytest.raises(ConfigError, match="alpha"):
        mlu(x, 0.0)


@pytest.mark.parametrize("src,dst,src_stride,dst_stride", [
    (10, 19, 32, 16),  # layer4 (9 + 1 cells) onto layer3 (18 + 1 cells): same extent, +-144 px
    (9, 18, 32, 16),
    (7, 12, 10, 6),
])
def test_resample_matrix_reproduces_a_linear_ramp(src, dst, src_stride, dst_stride):
    r = resample_matrix(src, dst, src_stride, dst_stride).double().numpy()
    assert r.shape == (dst, src)
    np.testing.assert_allclose(r.sum(axis=1), 1.0, atol=1e-6)
    src_pos, dst_pos = grid_positions(src, src_stride), grid_positions(dst, dst_stride)
    ramp = 0.7 + 0.013 * src_pos
    got = r @ ramp
    interior = np.abs(dst_pos) <= src_pos[-1]
    assert interior.sum() >= dst - 2
    np.testing.assert_allclose(got[interior], 0.7 + 0.013 * dst_pos[interior], atol=1e-6, rtol=0)
    # outside the source grid the border value is repeated
    np.testing.assert_allclose(got[dst_pos > src_pos[-1]], ramp[-1], atol=1e-6, rtol=0)
    np.testing.assert_allclose(got[dst_pos < src_pos[0]], ramp[0], atol=1e-6, rtol=0)


def test_resample_matrix_same_grid_is_identity():
    torch.testing.assert_close(resample_matrix(19, 19, 16, 16), torch.eye(19))
    # a one-cell source spreads its value everywhere
    torch.testing.assert_close(resample_matrix(1, 4, 32, 16), torch.ones(4, 1))


def test_fusion_weights_are_floored_peak_ratios():
    a = torch.zeros(1, 1, 5, 5)
    a[0, 0, 2, 3] = 0.8
    b = torch.full((1, 1, 3, 3), -0.04)
    b[0, 0, 1, 1] = 0.2
    c = torch.full((1, 1, 3, 3), -0.03)  # every value negative: confidence floored at eps
    eps = 1e-3
    weights = fusion_weights([a, b, c], eps)
    s = torch.tensor([0.8, 0.2, eps])
    torch.testing.assert_close(weights, s / s.sum())
    with pytest.raises(ConfigError, match="eps"):
        fusion_weights([a], 0.0)


def test_fuse_responses_weighted_sum_on_first_grid():
    gen = torch.Generator().manual_seed(3)
    f1 = torch.rand(1, 1, 19, 19, generator=gen, dtype=torch.float64)
    f2 = torch.rand(1, 1, 10, 10, generator=gen, dtype=torch.float64) * 0.5
    fused = fuse_responses([f1, f2], [16, 32], eps=1e-3)
    s1, s2 = f1.max(), f2.max()
    r = resample_matrix(10, 19, 32, 16).double()
    want = (s1 * f1 + s2 * (r @ f2 @ r.T)) / (s1 + s2)
    assert fused.shape == (1, 1, 19, 19)
    torch.testing.assert_close(fused, want, atol=1e-12, rtol=0)


def test_equal_maps_fuse_to_themselves():
    gen = torch.Generator().manual_seed(4)
    f = torch.rand(1, 1, 19, 19, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(fuse_responses([f, f.clone()], [16, 16], 1e-3), f, atol=1e-12, rtol=0)
    # one linear ramp seen on both grids fuses to the ramp on the first grid
    pos3 = torch.from_numpy(grid_positions(19, 16))
    pos4 = torch.from_numpy(grid_positions(10, 32))
    ramp3 = (0.5 + 1e-3 * pos3[:, None] - 2e-3 * pos3[None, :]).reshape(1, 1, 19, 19)
    ramp4 = (0.5 + 1e-3 * pos4[:, None] - 2e-3 * pos4[None, :]).reshape(1, 1, 10, 10)
    torch.testing.assert_close(fuse_responses([ramp3, ramp4], [16, 32], 1e-3), ramp3,
                               atol=1e-6, rtol=0)


def test_single_map_passes_through():
    f = torch.randn(1, 1, 7, 9)
    assert fuse_responses([f], [16], 1e-3) is f
    with pytest.raises(InputError, match="strides"):
        fuse_responses([f, f], [16], 1e-3)
    assert math.isclose(float(fusion_weights([f], 1e-3)[0]), 1.0)


def test_classifier_score_graph_exports_to_onnx_opset17():
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")

    class Scores(torch.nn.Module):
        def forward(self, f3, p3, w3, f4, p4, w4):
            responses = [mlu(classifier_response(f3, p3, w3), 0.05), mlu(classifier_response(f4, p4, w4), 0.05)]
            return fuse_responses(responses, [16, 32], 1e-3)

    gen = torch.Generator().manual_seed(5)
    args = (torch.randn(1, 8, 18, 18, generator=gen), torch.randn(4, 8, 1, 1, generator=gen),
            torch.randn(1, 4, 4, 4, generator=gen), torch.randn(1, 12, 9, 9, generator=gen),
            torch.randn(4, 12, 1, 1, generator=gen), torch.randn(1, 4, 4, 4, generator=gen))
    program = torch.onnx.export(Scores().eval(), args, dynamo=True, opset_version=17, verbose=False)
    model = program.model_proto
    assert {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {17}
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    (got,) = session.run(None, dict(zip(names, (a.numpy() for a in args))))
    assert got.shape == (1, 1, 19, 19)
    torch.testing.assert_close(torch.from_numpy(got), Scores()(*args), atol=1e-4, rtol=1e-5)
