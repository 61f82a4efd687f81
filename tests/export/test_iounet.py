"""AtomIoUNet: pytracking's key names and shapes, output shapes, batching, box gradients."""

from __future__ import annotations

import pytest
import torch

from edge_tracker.errors import InputError
from export.models.iounet import AtomIoUNet

CONV_BLOCKS = ("conv3_1r", "conv3_1t", "conv3_2t", "fc3_1r", "conv4_1r", "conv4_1t", "conv4_2t",
               "fc34_3r", "fc34_4r")
LINEAR_BLOCKS = ("fc3_rt", "fc4_rt")
BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def pytracking_keys() -> set[str]:
    """The state-dict keys of pytracking's AtomIoUNet, by its construction rule."""
    keys = {"iou_predictor.weight", "iou_predictor.bias"}
    for name in CONV_BLOCKS:  # Sequential(Conv2d(bias=True), BatchNorm2d, ReLU)
        keys |= {f"{name}.0.weight", f"{name}.0.bias"} | {f"{name}.1.{k}" for k in BN_KEYS}
    for name in LINEAR_BLOCKS:  # LinearBlock: linear, bn (BatchNorm2d), relu
        keys |= {f"{name}.linear.weight", f"{name}.linear.bias"} | {f"{name}.bn.{k}" for k in BN_KEYS}
    return keys


def expected_shapes(a: int, b: int, pred: int = 256, inter: int = 256) -> dict[str, tuple[int, ...]]:
    return {
        "conv3_1r.0.weight": (128, a, 3, 3), "conv3_1t.0.weight": (256, a, 3, 3),
        "conv3_2t.0.weight": (pred, 256, 3, 3), "fc3_1r.0.weight": (256, 128, 3, 3),
        "conv4_1r.0.weight": (256, b, 3, 3), "conv4_1t.0.weight": (256, b, 3, 3),
        "conv4_2t.0.weight": (pred, 256, 3, 3), "fc34_3r.0.weight": (pred, 512, 1, 1),
        "fc34_4r.0.weight": (pred, 512, 1, 1), "fc3_rt.linear.weight": (inter, pred * 25),
        "fc4_rt.linear.weight": (inter, pred * 9), "iou_predictor.weight": (1, 2 * inter),
    }


def param_count(a: int, b: int, pred: int = 256, inter: int = 256) -> int:
    """Weights + biases + BN affine of pytracking's AtomIoUNet."""
    conv = lambda cin, cout, k: cin * cout * k * k + cout + 2 * cout  # noqa: E731
    return (conv(a, 128, 3) + conv(a, 256, 3) + conv(256, pred, 3) + conv(128, 256, 3)
            + conv(b, 256, 3) + conv(b, 256, 3) + conv(256, pred, 3)
            + 2 * conv(512, pred, 1)
            + (pred * 25 * inter + inter + 2 * inter) + (pred * 9 * inter + inter + 2 * inter)
            + 2 * inter + 1)


@pytest.mark.parametrize("dims", [(128, 256), (256, 512)])
def test_iounet_has_pytracking_keys_and_shapes(dims):
    net = AtomIoUNet(input_dim=dims)
    state = net.state_dict()
    assert set(state) == pytracking_keys()
    for key, shape in expected_shapes(*dims).items():
        assert tuple(state[key].shape) == shape, key
    assert sum(p.numel() for p in net.parameters()) == param_count(*dims)
    pools = {name: (m.pooled_size, m.spatial_scale) for name, m in net.named_children() if "prroi" in name}
    assert pools == {"prroi_pool3r": ((3, 3), 1 / 8), "prroi_pool3t": ((5, 5), 1 / 8),
                     "prroi_pool4r": ((1, 1), 1 / 16), "prroi_pool4t": ((3, 3), 1 / 16)}


def small_net(seed: int = 0) -> AtomIoUNet:
    """AFF-ATOM shaped (layer3/layer4 inputs, strides 16/32) with narrow widths, float64, eval."""
    torch.manual_seed(seed)
    net = AtomIoUNet(input_dim=(16, 24), pred_input_dim=(32, 32), pred_inter_dim=(24, 24),
                     spatial_scales=(1 / 16, 1 / 32))
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net.double().eval()


def features(batch: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    # a 160x160 crop: layer3 10x10, layer4 5x5
    return (torch.randn(batch, 16, 10, 10, generator=gen, dtype=torch.float64),
            torch.randn(batch, 24, 5, 5, generator=gen, dtype=torch.float64))


def proposals(batch: int, num: int, seed: int = 2) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(batch, num, 2, generator=gen, dtype=torch.float64) * 80 + 10
    wh = torch.rand(batch, num, 2, generator=gen, dtype=torch.float64) * 50 + 20
    return torch.cat((xy, wh), dim=-1)


def test_iounet_stage_shapes():
    net = small_net()
    feats = features(2)
    bb = torch.tensor([[30.0, 40.0, 60.0, 50.0], [20.0, 25.0, 90.0, 70.0]], dtype=torch.float64)
    mod_a, mod_b = net.get_modulation(feats, bb)
    assert mod_a.shape == (2, 32, 1, 1) and mod_b.shape == (2, 32, 1, 1)
    c_a, c_b = net.get_iou_feat(feats)
    assert c_a.shape == (2, 32, 10, 10) and c_b.shape == (2, 32, 5, 5)
    iou = net.predict_iou((mod_a, mod_b), (c_a, c_b), proposals(2, 7))
    assert iou.shape == (2, 7)
    assert iou.std() > 0


def test_predict_iou_rows_are_independent_images():
    # batching must not mix images: each row equals the prediction for that image alone
    net = small_net()
    feats = features(3)
    bb = proposals(3, 1, seed=5)[:, 0]
    props = proposals(3, 4)
    mod = net.get_modulation(feats, bb)
    iou_feat = net.get_iou_feat(feats)
    batched = net.predict_iou(mod, iou_feat, props)
    for b in range(3):
        one = net.predict_iou([m[b:b + 1] for m in mod], [f[b:b + 1] for f in iou_feat], props[b:b + 1])
        torch.testing.assert_close(batched[b:b + 1], one, atol=1e-12, rtol=0)


def test_forward_uses_first_reference_image_per_sequence():
    net = small_net()
    images_ref, images_test, seqs, num = 2, 3, 2, 5
    ref = [f.reshape(images_ref, seqs, *f.shape[1:]) for f in features(images_ref * seqs, seed=6)]
    test = [f.reshape(images_test, seqs, *f.shape[1:]) for f in features(images_test * seqs, seed=7)]
    bb1 = proposals(images_ref, seqs, seed=8)
    props = proposals(images_test * seqs, num, seed=9).reshape(images_test, seqs, num, 4)
    got = net(ref, test, bb1, props)
    assert got.shape == (images_test, seqs, num)
    for s in range(seqs):
        mod = net.get_modulation([f[0, s:s + 1] for f in ref], bb1[0, s:s + 1])
        for i in range(images_test):
            iou_feat = net.get_iou_feat([f[i, s:s + 1] for f in test])
            want = net.predict_iou(mod, iou_feat, props[i, s:s + 1])
            torch.testing.assert_close(got[i, s:s + 1], want, atol=1e-10, rtol=0)


def test_predict_iou_is_differentiable_in_proposals():
    net = small_net()
    feats = features(1)
    mod = net.get_modulation(feats, torch.tensor([[40.0, 30.0, 60.0, 70.0]], dtype=torch.float64))
    iou_feat = net.get_iou_feat(feats)
    props = proposals(1, 3).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: net.predict_iou(mod, iou_feat, p), (props,),
                                    eps=1e-6, atol=1e-6)
    (grad,) = torch.autograd.grad(net.predict_iou(mod, iou_feat, props).sum(), props)
    assert grad.abs().min() > 0


def test_iounet_rejects_bad_input():
    net = small_net()
    feats = features(1)
    with pytest.raises(InputError, match="bb must be"):
        net.get_modulation(feats, torch.zeros(1, 5, dtype=torch.float64))
    with pytest.raises(InputError, match="layer a"):
        net.get_iou_feat((feats[1], feats[1]))
    with pytest.raises(InputError, match="proposals"):
        net.predict_iou(net.get_modulation(feats, torch.ones(1, 4, dtype=torch.float64)),
                        net.get_iou_feat(feats), torch.zeros(2, 3, 4, dtype=torch.float64))
