"""MS-CAM, AFF and iAFF (SPEC 1.1, 1.2) against direct computations from their weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edge_tracker.errors import InputError
from export.models.fusion import AFF, IAFF, MSCAM, ContextBatchNorm2d

C, R = 8, 4


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BN statistics, so no term of a formula can hide behind an identity."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.data = torch.randn(m.weight.shape, generator=gen, dtype=m.weight.dtype) * 0.5
            m.bias.data = torch.randn(m.bias.shape, generator=gen, dtype=m.bias.dtype) * 0.1
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.data = torch.rand(m.weight.shape, generator=gen, dtype=m.weight.dtype) + 0.5
            m.bias.data = torch.randn(m.bias.shape, generator=gen, dtype=m.bias.dtype) * 0.1
            m.running_mean = torch.randn(m.running_mean.shape, generator=gen, dtype=m.running_mean.dtype) * 0.1
            m.running_var = torch.rand(m.running_var.shape, generator=gen, dtype=m.running_var.dtype) + 0.5
    return module.double().eval()


def pwconv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    return torch.einsum("oc,nchw->nohw", conv.weight[:, :, 0, 0], x) + conv.bias.reshape(1, -1, 1, 1)


def bn_eval(x: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    shape = (1, -1, 1, 1)
    return ((x - bn.running_mean.reshape(shape)) / torch.sqrt(bn.running_var.reshape(shape) + bn.eps)
            * bn.weight.reshape(shape) + bn.bias.reshape(shape))


def direct_attention(cam: MSCAM, x: torch.Tensor) -> torch.Tensor:
    """SPEC 1.1 written out: sigmoid(BN(PW(relu(BN(PW(X))))) + same on GAP(X) with its own weights)."""
    loc, glob = cam.local_att, cam.global_att
    local = bn_eval(pwconv(torch.relu(bn_eval(pwconv(x, loc[0]), loc[1])), loc[3]), loc[4])
    pooled = x.mean(dim=(2, 3), keepdim=True)
    global_ = bn_eval(pwconv(torch.relu(bn_eval(pwconv(pooled, glob[1]), glob[2])), glob[4]), glob[5])
    return 1.0 / (1.0 + torch.exp(-(local + global_)))


def inputs(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(2, C, 5, 6, generator=gen, dtype=torch.float64),
            torch.randn(2, C, 5, 6, generator=gen, dtype=torch.float64))


def test_mscam_attention_equals_direct_computation_and_lies_in_unit_interval():
    cam = randomize(MSCAM(C, R))
    x, _ = inputs()
    attention = cam.attention(x)
    want = direct_attention(cam, x)
    torch.testing.assert_close(attention, want, atol=1e-12, rtol=0)
    assert attention.shape == x.shape
    assert attention.min() > 0 and attention.max() < 1
    # the global branch makes M depend on the whole map, not only on the pixel
    assert attention.std(dim=(2, 3)).min() > 0
    torch.testing.assert_close(cam(x), x * want, atol=1e-12, rtol=0)


def test_mscam_hidden_width_is_c_over_r():
    cam = MSCAM(64, 4)
    assert cam.local_att[0].weight.shape == (16, 64, 1, 1)
    assert cam.global_att[1].weight.shape == (16, 64, 1, 1)
    assert cam.local_att[3].weight.shape == (64, 16, 1, 1)
    assert cam.global_att[4].weight.shape == (64, 16, 1, 1)
    # local and global branches have their own weights
    assert cam.local_att[0].weight.data_ptr() != cam.global_att[1].weight.data_ptr()


def test_aff_equals_formula():
    aff = randomize(AFF(C, R), seed=2)
    x, y = inputs()
    m = direct_attention(aff.att, x + y)
    torch.testing.assert_close(aff(x, y), m * x + (1 - m) * y, atol=1e-12, rtol=0)


def test_iaff_equals_formula():
    iaff = randomize(IAFF(C, R), seed=3)
    x, y = inputs()
    m1 = direct_attention(iaff.att1, x + y)
    initial = m1 * x + (1 - m1) * y
    m2 = direct_attention(iaff.att2, initial)
    torch.testing.assert_close(iaff(x, y), m2 * x + (1 - m2) * y, atol=1e-12, rtol=0)
    # the two MS-CAMs are distinct modules with distinct weights
    assert not torch.equal(iaff.att1.local_att[0].weight, iaff.att2.local_att[0].weight)


@pytest.mark.parametrize("cls", [AFF, IAFF])
def test_neutral_attention_gives_the_mean(cls):
    fuse = randomize(cls(C, R), seed=4)
    # zero the last BN of every branch: all logits are 0, every attention map is 0.5
    for cam in (m for m in fuse.modules() if isinstance(m, MSCAM)):
        for branch in (cam.local_att, cam.global_att):
            nn.init.zeros_(branch[-1].weight)
            nn.init.zeros_(branch[-1].bias)
    x, y = inputs()
    torch.testing.assert_close(fuse(x, y), (x + y) / 2, atol=1e-12, rtol=0)


def test_fusion_rejects_mismatched_inputs():
    x, y = inputs()
    with pytest.raises(InputError, match="one shape"):
        IAFF(C, R).double()(x, y[:, :, :4])
    with pytest.raises(InputError, match=r"\[N, 8, H, W\]"):
        MSCAM(C, R).double().attention(x[:, :4])


def test_global_branch_trains_with_batch_of_one():
    cam = randomize(MSCAM(C, R), seed=5)
    x, _ = inputs()
    x1 = x[:1]
    eval_attention = cam.attention(x1)
    bn = cam.global_att[2]
    assert isinstance(bn, ContextBatchNorm2d)
    stats_before = (bn.running_mean.clone(), bn.running_var.clone())
    cam.train()
    # plain BatchNorm2d raises here ("Expected more than 1 value per channel when training")
    out = cam.global_att(x1)
    assert out.shape == (1, C, 1, 1)
    assert torch.equal(bn.running_mean, stats_before[0]) and torch.equal(bn.running_var, stats_before[1])
    # the global branch then behaves as in eval mode; only the local branch uses batch statistics
    cam.local_att.eval()
    torch.testing.assert_close(cam.attention(x1), eval_attention, atol=1e-12, rtol=0)
    # with a real batch the global BN uses batch statistics and updates its running stats
    cam.global_att(x)
    assert not torch.equal(bn.running_mean, stats_before[0])


def test_iaff_exports_to_onnx_opset17():
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    fuse = randomize(IAFF(C, R), seed=6).float()
    x, y = (t.float() for t in inputs())
    program = torch.onnx.export(fuse, (x, y), dynamo=True, opset_version=17, verbose=False)
    model = program.model_proto
    # global pooling must not become an opset-18 ReduceMean that cannot be converted down to 17
    assert {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {17}
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    (got,) = session.run(None, dict(zip(names, (x.numpy(), y.numpy()))))
    torch.testing.assert_close(torch.from_numpy(got), fuse(x, y), atol=1e-5, rtol=1e-5)
