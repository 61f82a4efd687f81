"""SCS-Siam network (SPEC 2): shapes, parameter counts, and each block against a direct computation."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from export.models.config import SiamConfig  # noqa: E402
from export.models.scs_siam import ScsSiamNet, soft_mask  # noqa: E402
from export.models.siam_attention import ChannelAttention, SpatialAttention  # noqa: E402

C = 384  # psi output channels


def _net(tracker: str, dtype: torch.dtype = torch.float64, seed: int = 0) -> ScsSiamNet:
    torch.manual_seed(seed)
    net = ScsSiamNet(SiamConfig(tracker=tracker)).to(dtype).eval()
    _randomise_bn(net)
    return net


def _randomise_bn(module: torch.nn.Module) -> None:
    """Give every BN non-trivial running statistics and affine terms, so eval-mode BN is tested."""
    for bn in module.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            with torch.no_grad():
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.5, 2.0)
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.2, 0.2)


def _images(n: int, size: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.rand(n, 3, size, size, dtype=dtype) * 255.0


def _count(module: torch.nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


# --- Table 1 shapes ---------------------------------------------------------------------------

def test_inference_shapes_match_table_1():
    torch.manual_seed(0)
    net = ScsSiamNet(SiamConfig()).eval()
    with torch.no_grad():
        kernel = net.template_kernel(_images(1, 135, torch.float32))
        features = net.search_features(_images(3, 263, torch.float32))
        response = net.correlate(kernel, features)
    assert kernel.shape == (1, 384, 7, 7)
    assert features.shape == (3, 384, 23, 23)
    assert response.shape == (3, 1, 17, 17)
    assert response.dtype == torch.float32


def test_training_pairs_give_17x17_response():
    torch.manual_seed(0)
    net = ScsSiamNet(SiamConfig()).train()
    templates, searches = _images(2, 127, torch.float32), _images(2, 255, torch.float32)
    boxes_t = torch.tensor([[32.0, 40.0, 64.0, 48.0]] * 2)
    boxes_s = torch.tensor([[96.0, 100.0, 64.0, 48.0]] * 2)
    response = net(templates, searches, soft_mask(templates, boxes_t, 0.9),
                   soft_mask(searches, boxes_s, 0.9))
    assert response.shape == (2, 1, 17, 17)
    with torch.no_grad():
        assert net.template_kernel(templates).shape == (2, 384, 6, 6)
        assert net.search_features(searches).shape == (2, 384, 22, 22)


# --- parameter counts -------------------------------------------------------------------------

def _conv(cin: int, cout: int, k: int, bias: bool) -> int:
    return cin * cout * k * k + (cout if bias else 0)


# B + psi by hand: bias-free convs before BN (gamma + beta each), Conv6 with bias
BACKBONE_PARAMS = (
    _conv(3, 192, 11, False) + 2 * 192
    + _conv(192, 256, 3, False) + 2 * 256
    + _conv(256, 256, 3, False) + 2 * 256
    + _conv(256, 512, 3, False) + 2 * 512
    + _conv(512, 512, 3, False) + 2 * 512
    + _conv(512, 384, 3, True)
)
# two branches, each FC1 C -> C/16 and FC2 C/16 -> C with biases
CHANNEL_PARAMS = 2 * (_conv(C, C // 16, 1, True) + _conv(C // 16, C, 1, True))
# context conv C -> 1 (no bias), C -> C/8 (no bias), BN(C/8), C/8 -> C (bias)
SPATIAL_PARAMS = _conv(C, 1, 1, False) + _conv(C, C // 8, 1, False) + 2 * (C // 8) \
    + _conv(C // 8, C, 1, True)


def test_backbone_has_about_6_4_million_parameters():
    net = ScsSiamNet(SiamConfig())
    backbone = _count(net.stem) + _count(net.features)
    assert backbone == BACKBONE_PARAMS == 6_414_144
    assert 6_300_000 < backbone < 6_500_000  # SPEC 2.1: 6.4 M


@pytest.mark.parametrize("tracker, channel, spatial, total", [
    ("sca-siam", 37_680, 0, 6_451_825),
    ("ssa-siam", 0, 37_728, 6_451_873),
    ("scs-siam", 37_680, 37_728, 6_489_553),
])
def test_attention_parameters_match_hand_count(tracker, channel, spatial, total):
    net = ScsSiamNet(SiamConfig(tracker=tracker))
    assert _count(net.channel_attention) == channel
    assert _count(net.spatial_attention) == spatial
    assert channel in (0, CHANNEL_PARAMS) and spatial in (0, SPATIAL_PARAMS)
    assert _count(net) == BACKBONE_PARAMS + channel + spatial + 1 == total  # + corr_bias


# --- channel attention ------------------------------------------------------------------------

def test_channel_weights_lie_in_open_interval_0_2():
    torch.manual_seed(1)
    ca = ChannelAttention(64).double()
    for scale in (1.0, 10.0):
        omega = ca.weights(torch.randn(4, 64, 5, 5, dtype=torch.float64) * scale)
        assert omega.shape == (4, 64, 1, 1)
        assert bool((omega > 0).all()) and bool((omega < 2).all())
    # Large magnitudes saturate both sigmoids: mathematically still inside (0, 2), but in floating
    # point a sigmoid rounds to exactly 0 or 1, so only the closed interval can hold; and no NaN/inf.
    for scale in (1e3, 1e6):
        omega = ca.float().weights(torch.randn(4, 64, 5, 5) * scale)
        assert bool(torch.isfinite(omega).all())
        assert bool((omega >= 0).all()) and bool((omega <= 2).all())


def test_channel_attention_equals_direct_computation():
    torch.manual_seed(2)
    ca = ChannelAttention(32, reduction=16).double()
    p = torch.randn(3, 32, 4, 5, dtype=torch.float64) * 3.0
    w = {name: _np(t) for name, t in ca.state_dict().items()}

    def branch(prefix: str, pooled: np.ndarray) -> np.ndarray:  # pooled [N, C]
        hidden = pooled @ w[f"{prefix}_fc1.weight"][:, :, 0, 0].T + w[f"{prefix}_fc1.bias"]
        out = np.maximum(hidden, 0) @ w[f"{prefix}_fc2.weight"][:, :, 0, 0].T + w[f"{prefix}_fc2.bias"]
        return _sigmoid(out)

    pn = _np(p)
    omega = branch("avg", pn.mean(axis=(2, 3))) + branch("max", pn.max(axis=(2, 3)))
    assert ca.avg_fc1.out_channels == 2 and ca.max_fc1.out_channels == 2
    np.testing.assert_allclose(_np(ca.weights(p))[:, :, 0, 0], omega, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_np(ca(p)), omega[:, :, None, None] * pn, rtol=1e-12, atol=1e-12)
    # the two branches have their own weights
    assert not torch.equal(ca.avg_fc1.weight, ca.max_fc1.weight)


# --- spatial attention ------------------------------------------------------------------------

def test_context_softmax_sums_to_one_per_sample():
    torch.manual_seed(3)
    sa = SpatialAttention(16).double().eval()
    a = sa.context(torch.randn(4, 16, 6, 7, dtype=torch.float64) * 5.0)
    assert a.shape == (4, 1, 6, 7)
    assert bool((a > 0).all())
    np.testing.assert_allclose(_np(a.sum(dim=(1, 2, 3))), np.ones(4), rtol=0, atol=1e-12)


def test_spatial_attention_equals_direct_computation():
    torch.manual_seed(4)
    sa = SpatialAttention(16, reduction=8).double().eval()
    _randomise_bn(sa)
    u = torch.randn(2, 16, 5, 6, dtype=torch.float64)
    w = {name: _np(t) for name, t in sa.state_dict().items()}
    un = _np(u)

    logits = np.einsum("c,nchw->nhw", w["context_conv.weight"][0, :, 0, 0], un)
    flat = np.exp(logits.reshape(2, -1) - logits.reshape(2, -1).max(axis=1, keepdims=True))
    a = (flat / flat.sum(axis=1, keepdims=True)).reshape(2, 1, 5, 6)
    u_c = un * a  # broadcast over channels: [N, C, H, W]
    h = np.einsum("kc,nchw->nkhw", w["transform.0.weight"][:, :, 0, 0], u_c)
    bn = lambda key: w[f"transform.1.{key}"][None, :, None, None]  # noqa: E731
    h = (h - bn("running_mean")) / np.sqrt(bn("running_var") + sa.transform[1].eps)
    h = np.maximum(h * bn("weight") + bn("bias"), 0)
    t = _sigmoid(np.einsum("ck,nkhw->nchw", w["transform.3.weight"][:, :, 0, 0], h)
                 + w["transform.3.bias"][None, :, None, None])

    np.testing.assert_allclose(_np(sa.context(u)), a, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(_np(sa(u)), un * t, rtol=1e-12, atol=1e-12)


# --- soft mask --------------------------------------------------------------------------------

def test_soft_mask_scales_outside_the_box_only():
    torch.manual_seed(5)
    images = _images(2, 12, torch.float32)[:, :, :10]  # H=10, W=12
    boxes = torch.tensor([[2.0, 3.0, 4.0, 5.0], [0.0, 0.0, 12.0, 10.0]])
    out = soft_mask(images, boxes, 0.9)
    inside = torch.zeros(10, 12, dtype=torch.bool)
    inside[3:8, 2:6] = True  # rows y..y+h-1, cols x..x+w-1
    assert torch.equal(out[0][:, inside], images[0][:, inside])
    assert torch.equal(out[0][:, ~inside], images[0][:, ~inside] * 0.9)
    assert torch.equal(out[1], images[1])  # box covers the whole image


def test_soft_mask_fractional_box_uses_pixel_centres():
    images = torch.full((1, 3, 4, 6), 100.0)
    out = soft_mask(images, torch.tensor([[1.4, 0.6, 2.2, 2.0]]), 0.5)
    # centres 0.5, 1.5, ...: cols with 1.4 <= c+0.5 < 3.6 -> 1, 2, 3; rows 0.6 <= r+0.5 < 2.6 -> 1, 2
    expected = torch.full((4, 6), 50.0)
    expected[1:3, 1:4] = 100.0
    assert torch.equal(out[0, 0], expected) and torch.equal(out[0, 2], expected)


@pytest.mark.parametrize("boxes, sigma, match", [
    (torch.zeros(2, 4), 0.9, "boxes must be"),
    (torch.zeros(1, 3), 0.9, "boxes must be"),
    (torch.tensor([[0.0, 0.0, -1.0, 2.0]]), 0.9, "widths and heights"),
    (torch.zeros(1, 4), 1.5, "sigma"),
])
def test_soft_mask_rejects_bad_input(boxes, sigma, match):
    with pytest.raises(ValueError, match=match):
        soft_mask(torch.zeros(1, 3, 8, 8), boxes, sigma)


def test_fusion_at_sigma_1_equals_twice_b_of_template():
    net = _net("scs-siam")
    template = _images(2, 95)
    masked = soft_mask(template, torch.tensor([[20.0, 30.0, 40.0, 25.0]] * 2), 1.0)
    assert torch.equal(masked, template)
    calls = []
    net.stem.register_forward_hook(lambda mod, inp, out: calls.append(inp[0].shape[0]))
    with torch.no_grad():
        fused = net.fuse_stem(template, masked)
        single = net.fuse_stem(template)
        direct = 2.0 * net.stem(template)
    assert calls == [4, 2, 2]  # masked path: one pass over both halves; masked=None: B once
    torch.testing.assert_close(single, direct, rtol=0, atol=0)
    torch.testing.assert_close(fused, direct, rtol=1e-12, atol=1e-9)


def test_fusion_at_sigma_0_9_differs_from_inference_fusion():
    net = _net("scs-siam")
    template = _images(1, 95)
    masked = soft_mask(template, torch.tensor([[20.0, 30.0, 40.0, 25.0]]), 0.9)
    with torch.no_grad():
        fused = net.fuse_stem(template, masked)
        torch.testing.assert_close(fused, net.stem(template) + net.stem(masked), rtol=1e-12,
                                   atol=1e-9)
        assert not torch.allclose(fused, net.fuse_stem(template))


# --- variant wiring ---------------------------------------------------------------------------

@pytest.mark.parametrize("tracker, has_channel, has_spatial", [
    ("scs-siam", True, True), ("sca-siam", True, False), ("ssa-siam", False, True),
])
def test_variant_kernel_equals_hand_wiring(tracker, has_channel, has_spatial):
    net = _net(tracker)
    assert isinstance(net.channel_attention, ChannelAttention) == has_channel
    assert isinstance(net.spatial_attention, SpatialAttention) == has_spatial
    assert (net.channel_attention is None) != has_channel
    assert (net.spatial_attention is None) != has_spatial
    template = _images(1, 103)  # psi output 3x3
    with torch.no_grad():
        psi_z = net.features(2.0 * net.stem(template))
        attended = psi_z
        if has_channel:
            attended = net.channel_attention(attended)
        if has_spatial:
            attended = net.spatial_attention(attended)
        kernel = net.template_kernel(template)
    assert kernel.shape == (1, 384, 3, 3)
    torch.testing.assert_close(kernel, attended + psi_z, rtol=1e-12, atol=1e-12)


def test_scs_siam_applies_channel_before_spatial():
    net = _net("scs-siam")
    template = _images(1, 103)
    with torch.no_grad():
        psi_z = net.features(2.0 * net.stem(template))
        channel_first = net.spatial_attention(net.channel_attention(psi_z)) + psi_z
        spatial_first = net.channel_attention(net.spatial_attention(psi_z)) + psi_z
        kernel = net.template_kernel(template)
    torch.testing.assert_close(kernel, channel_first, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(kernel, spatial_first)


# --- correlation ------------------------------------------------------------------------------

def _xcorr(kernel: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """Valid cross-correlation of one [C, h, w] kernel over one [C, H, W] feature map."""
    _, h, w = kernel.shape
    _, height, width = feature.shape
    out = np.zeros((height - h + 1, width - w + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(kernel * feature[:, i:i + h, j:j + w])
    return out


@pytest.fixture(scope="module")
def corr_net() -> ScsSiamNet:
    net = ScsSiamNet(SiamConfig(tracker="ssa-siam", response_scale=0.01)).double()
    with torch.no_grad():
        net.corr_bias.fill_(0.25)
    return net


def test_correlate_one_kernel_over_m_scales(corr_net):
    torch.manual_seed(6)
    kernel = torch.randn(1, 3, 2, 3, dtype=torch.float64)
    features = torch.randn(4, 3, 5, 6, dtype=torch.float64)
    response = corr_net.correlate(kernel, features)
    assert response.shape == (4, 1, 4, 4)
    for m in range(4):
        expected = 0.01 * _xcorr(_np(kernel[0]), _np(features[m])) + 0.25
        np.testing.assert_allclose(_np(response[m, 0]), expected, rtol=1e-12, atol=1e-12)


def test_correlate_training_pairs_grouped(corr_net):
    torch.manual_seed(7)
    kernel = torch.randn(3, 4, 3, 2, dtype=torch.float64)
    features = torch.randn(3, 4, 6, 5, dtype=torch.float64)
    response = corr_net.correlate(kernel, features)
    assert response.shape == (3, 1, 4, 4)
    for n in range(3):
        expected = 0.01 * _xcorr(_np(kernel[n]), _np(features[n])) + 0.25
        np.testing.assert_allclose(_np(response[n, 0]), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel_shape, features_shape", [
    ((2, 4, 3, 3), (3, 4, 6, 6)),  # batch mismatch
    ((1, 4, 3, 3), (3, 5, 6, 6)),  # channel mismatch
    ((1, 4, 7, 7), (1, 4, 6, 6)),  # kernel larger than features
])
def test_correlate_rejects_mismatched_shapes(corr_net, kernel_shape, features_shape):
    with pytest.raises(ValueError, match=r"\(%s\).*\(%s\)" % (
            ", ".join(map(str, kernel_shape)), ", ".join(map(str, features_shape)))):
        corr_net.correlate(torch.zeros(kernel_shape, dtype=torch.float64),
                           torch.zeros(features_shape, dtype=torch.float64))
