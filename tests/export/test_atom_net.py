"""The ATOM-family network: iAFF ResNet-18 backbone (SPEC 1.3) and AtomNet (SPEC 1.5)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edge_tracker.errors import ConfigError, InputError
from export.models.atom_net import AtomNet
from export.models.config import AtomConfig
from export.models.fusion import IAFF
from export.models.resnet import BasicBlock, ResNet18

BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def torchvision_resnet18_keys() -> set[str]:
    """torchvision's resnet18 state-dict keys without fc, by the construction rule."""
    keys = {"conv1.weight"} | {f"bn1.{k}" for k in BN_KEYS}
    for layer in range(1, 5):
        for block in range(2):
            prefix = f"layer{layer}.{block}"
            keys |= {f"{prefix}.conv1.weight", f"{prefix}.conv2.weight"}
            keys |= {f"{prefix}.bn{i}.{k}" for i in (1, 2) for k in BN_KEYS}
            if layer > 1 and block == 0:
                keys |= {f"{prefix}.downsample.0.weight"} | {f"{prefix}.downsample.1.{k}" for k in BN_KEYS}
    return keys


def iaff_keys(prefix: str) -> set[str]:
    """Keys of one iAFF: two MS-CAMs, each a local and a global conv-bn-relu-conv-bn branch."""
    keys = set()
    for att in ("att1", "att2"):
        for branch, convs, bns in (("local_att", (0, 3), (1, 4)), ("global_att", (1, 4), (2, 5))):
            keys |= {f"{prefix}.{att}.{branch}.{i}.{p}" for i in convs for p in ("weight", "bias")}
            keys |= {f"{prefix}.{att}.{branch}.{i}.{k}" for i in bns for k in BN_KEYS}
    return keys


def iaff_params(channels: int, r: int = 4) -> int:
    hidden = channels // r
    branch = (channels * hidden + hidden) + 2 * hidden + (hidden * channels + channels) + 2 * channels
    return 2 * 2 * branch  # two MS-CAMs of two branches


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.rand(1, 3, 288, 288, generator=torch.Generator().manual_seed(0)) * 255


def test_plain_resnet18_matches_torchvision_keys_and_size():
    net = ResNet18(iaff_layers=())
    assert set(net.state_dict()) == torchvision_resnet18_keys()
    assert sum(p.numel() for p in net.parameters()) == 11_176_512


def test_iaff_resnet_adds_exactly_the_iaff_keys():
    net = ResNet18(iaff_layers=("layer3", "layer4"), iaff_reduction=4)
    extra = set(net.state_dict()) - torchvision_resnet18_keys()
    want = set().union(*(iaff_keys(f"layer{layer}.{block}.fuse") for layer in (3, 4) for block in (0, 1)))
    assert extra == want
    assert torchvision_resnet18_keys() <= set(net.state_dict())
    n_params = sum(p.numel() for p in net.parameters())
    assert n_params == 11_176_512 + 2 * iaff_params(256) + 2 * iaff_params(512)
    # a plain checkpoint loads; only the iAFF weights are left to train
    result = net.load_state_dict(ResNet18(iaff_layers=()).state_dict(), strict=False)
    # (BatchNorm never reports a missing num_batches_tracked: old checkpoints lack it)
    assert set(result.missing_keys) == {k for k in want if not k.endswith("num_batches_tracked")}
    assert not result.unexpected_keys


@pytest.mark.parametrize("iaff_layers", [(), ("layer3", "layer4")])
def test_resnet_feature_shapes_at_288(image, iaff_layers):
    net = ResNet18(iaff_layers=iaff_layers).eval()
    with torch.no_grad():
        feats = net(image, ["layer2", "layer3", "layer4"])
    assert list(feats) == ["layer2", "layer3", "layer4"]
    assert feats["layer2"].shape == (1, 128, 36, 36)
    assert feats["layer3"].shape == (1, 256, 18, 18)
    assert feats["layer4"].shape == (1, 512, 9, 9)


def test_resnet_stops_at_deepest_requested_layer(image):
    net = ResNet18().eval()
    called = []
    for name in ("layer1", "layer2", "layer3", "layer4"):
        getattr(net, name).register_forward_hook(lambda *_, n=name: called.append(n))
    with torch.no_grad():
        out = net(image, ["layer2"])
    assert called == ["layer1", "layer2"] and list(out) == ["layer2"]
    with pytest.raises(ConfigError, match="output_layers"):
        net(image, ["layer5"])


def test_iaff_block_replaces_the_residual_sum():
    torch.manual_seed(0)
    block = BasicBlock(8, 16, stride=2, iaff_reduction=4).double().eval()
    for m in block.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 8, 10, 10, dtype=torch.float64)
    residual = block.bn2(block.conv2(torch.relu(block.bn1(block.conv1(x)))))
    shortcut = block.downsample(x)
    assert isinstance(block.fuse, IAFF)
    torch.testing.assert_close(block(x), torch.relu(block.fuse(shortcut, residual)), atol=1e-12, rtol=0)
    plain = BasicBlock(8, 16, stride=2).double().eval()
    plain.load_state_dict(block.state_dict(), strict=False)
    torch.testing.assert_close(plain(x), torch.relu(shortcut + residual), atol=1e-12, rtol=0)


EXTRACT_SHAPES = {
    "aff-atom": {"cls_layer3": (1, 256, 18, 18), "cls_layer4": (1, 512, 9, 9),
                 "iou_layer3": (1, 256, 18, 18), "iou_layer4": (1, 512, 9, 9)},
    "atom": {"cls_layer3": (1, 256, 18, 18), "iou_layer2": (1, 128, 36, 36),
             "iou_layer3": (1, 256, 18, 18)},
}


@pytest.mark.parametrize("tracker", ["aff-atom", "atom"])
def test_atomnet_extract_keys_and_shapes(image, tracker):
    net = AtomNet(AtomConfig(tracker=tracker)).eval()
    with torch.no_grad():
        out = net.extract(image)
    assert {k: tuple(v.shape) for k, v in out.items()} == EXTRACT_SHAPES[tracker]
    with torch.no_grad():
        raw = net.backbone(net.normalize(image), ["layer2", "layer3", "layer4"])
        for layer in net.config.classifier_layers:
            torch.testing.assert_close(out[f"cls_{layer}"], raw[layer], atol=0, rtol=0)
        for layer in net.config.iou_layers:
            want = net.iou_attention[layer](raw[layer]) if tracker == "aff-atom" else raw[layer]
            torch.testing.assert_close(out[f"iou_{layer}"], want, atol=0, rtol=0)
    assert sorted(net.iou_attention) == (["layer3", "layer4"] if tracker == "aff-atom" else [])
    assert net.iou_net.input_dim == ((256, 512) if tracker == "aff-atom" else (128, 256))
    assert net.iou_net.prroi_pool3t.spatial_scale == (1 / 16 if tracker == "aff-atom" else 1 / 8)
    assert net.iou_net.prroi_pool4t.spatial_scale == (1 / 32 if tracker == "aff-atom" else 1 / 16)
    # normalisation constants are not checkpoint content
    assert not {"mean", "std"} & set(net.state_dict())


def test_atomnet_normalize_is_imagenet():
    net = AtomNet(AtomConfig(tracker="atom"))
    mean = torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
    img = torch.rand(2, 3, 4, 5) * 255
    torch.testing.assert_close(net.normalize(img), (img / 255 - mean) / std)
    with pytest.raises(InputError, match="RGB"):
        net.normalize(torch.zeros(1, 1, 4, 4))


def test_atomnet_forward_is_reference_modulation_and_test_prediction():
    net = AtomNet(AtomConfig(tracker="aff-atom")).eval()
    gen = torch.Generator().manual_seed(1)
    train = torch.rand(1, 2, 3, 128, 128, generator=gen) * 255  # 1 reference image, 2 sequences
    test = torch.rand(1, 2, 3, 128, 128, generator=gen) * 255
    bb = torch.tensor([[[30.0, 20.0, 50.0, 60.0], [10.0, 40.0, 70.0, 30.0]]])
    props = torch.rand(1, 2, 3, 4, generator=gen) * 40 + torch.tensor([10.0, 10.0, 20.0, 20.0])
    with torch.no_grad():
        got = net(train, test, bb, props)
        assert got.shape == (1, 2, 3)
        ref = [net.extract(train[0])[f"iou_{layer}"] for layer in ("layer3", "layer4")]
        cur = [net.extract(test[0])[f"iou_{layer}"] for layer in ("layer3", "layer4")]
        want = net.iou_net.predict_iou(net.iou_net.get_modulation(ref, bb[0]),
                                       net.iou_net.get_iou_feat(cur), props[0])
    torch.testing.assert_close(got[0], want, atol=1e-5, rtol=1e-5)


def test_atomnet_rejects_other_configs():
    with pytest.raises(ConfigError, match="AtomConfig"):
        AtomNet({"tracker": "atom"})  # type: ignore[arg-type]


def resnet18_params(width: int) -> int:
    """Weights of a plain ResNet-18 trunk of stem width ``width``, by the construction rule."""
    total = 3 * width * 7 * 7 + 2 * width  # conv1 + bn1
    inplanes = width
    for index in range(4):
        planes = width * 2 ** index
        total += inplanes * planes * 9 + planes * planes * 9 + 4 * planes  # block 0: two convs, two BNs
        if index > 0:
            total += inplanes * planes + 2 * planes  # block 0's 1x1 downsample + BN
        total += 2 * planes * planes * 9 + 4 * planes  # block 1
        inplanes = planes
    return total


def test_width_scales_every_layer_and_the_count_follows_the_rule(image):
    assert resnet18_params(64) == 11_176_512  # the rule reproduces torchvision's count
    net = ResNet18(iaff_layers=(), width=32).eval()
    assert sum(p.numel() for p in net.parameters()) == resnet18_params(32)
    with torch.no_grad():
        feats = net(image, ("layer1", "layer2", "layer3", "layer4"))
    assert {name: tuple(f.shape[1:]) for name, f in feats.items()} == {
        "layer1": (32, 72, 72), "layer2": (64, 36, 36), "layer3": (128, 18, 18), "layer4": (256, 9, 9)}
    assert net.channels == {"conv1": 32, "layer1": 32, "layer2": 64, "layer3": 128, "layer4": 256}


def test_narrow_aff_atom_feeds_its_heads_the_narrow_channels(image):
    config = AtomConfig(backbone_width=32, iou_pred_dim=128, iou_inter_dim=128)
    assert [config.layer_channels(name) for name in ("layer1", "layer2", "layer3", "layer4")] == [32, 64, 128, 256]
    net = AtomNet(config).eval()
    with torch.no_grad():
        out = net.extract(image)
    assert {name: tuple(f.shape[1:]) for name, f in out.items()} == {
        "cls_layer3": (128, 18, 18), "cls_layer4": (256, 9, 9),
        "iou_layer3": (128, 18, 18), "iou_layer4": (256, 9, 9)}
    boxes = torch.tensor([[[100.0, 100.0, 60.0, 80.0]]])
    with torch.no_grad():
        iou = net(image[None], image[None], boxes, boxes)
    assert iou.shape == (1, 1, 1) and torch.isfinite(iou).all()
    # the demo size: under a third of the paper's network
    full = sum(p.numel() for p in AtomNet(AtomConfig()).parameters())
    assert sum(p.numel() for p in net.parameters()) < full / 3


def test_width_must_split_into_whole_mscam_bottlenecks():
    with pytest.raises(ConfigError, match="multiple of mscam_reduction"):
        AtomConfig(backbone_width=30)
    with pytest.raises(ConfigError, match="backbone_width must be > 0"):
        AtomConfig(backbone_width=0)
