"""The spatial-domain learning (export/models/classifier_learning.py) against torch autograd and conv2d.

Small float64 cases: the explicit adjoints, gradients and Gauss-Newton products the graphs are made
of are exactly what autograd computes from the loss written the plain way.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from export.models.classifier import mlu
from export.models.classifier_learning import (
    SHIFTS,
    FilterLinearization,
    JointLinearization,
    cg_step,
    dot,
    filter_adjoint,
    filter_response,
    gauss_newton_step,
)

ALPHA = 0.05
DOUBLE = torch.float64


def _case(count=5, channels=6, dim=4, side=7, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    features = torch.relu(torch.randn(count, channels, side, side, generator=g, dtype=DOUBLE))
    cells = side + 2 * (k // 2) - k + 1
    labels = torch.rand(count, cells, cells, generator=g, dtype=DOUBLE)
    weights = torch.rand(count, generator=g, dtype=DOUBLE)
    weights[-1] = 0  # an empty slot
    projection = torch.randn(dim, channels, generator=g, dtype=DOUBLE) / channels ** 0.5
    filt = 0.3 * torch.randn(1, dim, k, k, generator=g, dtype=DOUBLE)
    regs = torch.tensor([0.1], dtype=DOUBLE), torch.tensor([1e-2], dtype=DOUBLE)
    return features, labels, weights / weights.sum(), projection, filt, regs


def _loss(features, labels, weights, projection, filt, filter_reg, projection_reg=None):
    """SPEC 1.6's loss with conv2d, the plain way."""
    raw = F.conv2d(F.conv2d(features, projection[:, :, None, None]), filt, padding=filt.shape[-1] // 2)[:, 0]
    loss = (weights[:, None, None] * (mlu(raw, ALPHA) - labels) ** 2).sum() + filter_reg * (filt ** 2).sum()
    if projection_reg is not None:
        loss = loss + projection_reg * (projection ** 2).sum()
    return loss.reshape(())


@pytest.mark.parametrize("shifts", SHIFTS)
@pytest.mark.parametrize("k, side", [(4, 7), (3, 6), (5, 5)])
def test_response_is_conv2d_and_the_adjoint_is_its_transpose(shifts, k, side):
    g = torch.Generator().manual_seed(k)
    samples = torch.randn(3, 5, side, side, generator=g, dtype=DOUBLE)
    filt = torch.randn(1, 5, k, k, generator=g, dtype=DOUBLE, requires_grad=True)
    want = F.conv2d(samples, filt, padding=k // 2)[:, 0]
    got = filter_response(samples, filt, shifts)
    torch.testing.assert_close(got, want)
    grad = torch.randn(want.shape, generator=g, dtype=DOUBLE)
    want.backward(grad)
    torch.testing.assert_close(filter_adjoint(samples, grad, k, shifts), filt.grad)


@pytest.mark.parametrize("shifts", SHIFTS)
def test_filter_problem_gradient_and_normal_operator_match_autograd(shifts):
    features, labels, weights, projection, filt, (filter_reg, _) = _case()
    samples = F.conv2d(features, projection[:, :, None, None])
    point = FilterLinearization(samples, labels, weights, filt, filter_reg, ALPHA, shifts)
    leaf = filt.clone().requires_grad_(True)
    loss = _loss(features, labels, weights, projection, leaf, filter_reg)
    loss.backward()
    torch.testing.assert_close(point.loss.reshape(()), loss.detach())
    torch.testing.assert_close(point.gradient()[0], leaf.grad / 2)  # J^T W e + R f is half the gradient

    # (J^T W J + R) v, with J the Jacobian of the activated residuals: autograd's jvp then vjp
    v = torch.randn(filt.shape, dtype=DOUBLE, generator=torch.Generator().manual_seed(9))

    def residuals(f):
        return mlu(F.conv2d(samples, f, padding=2)[:, 0], ALPHA) - labels

    _, jv = torch.func.jvp(residuals, (filt,), (v,))
    _, pullback = torch.func.vjp(residuals, filt)
    (jtwjv,) = pullback(weights[:, None, None] * jv)
    torch.testing.assert_close(point.normal((v,))[0], jtwjv + filter_reg * v)


def test_joint_problem_gradient_and_normal_operator_match_autograd():
    features, labels, weights, projection, filt, (filter_reg, projection_reg) = _case(seed=3)
    point = JointLinearization(features, labels, weights, projection, filt, filter_reg, projection_reg, ALPHA)
    p_leaf, f_leaf = projection.clone().requires_grad_(True), filt.clone().requires_grad_(True)
    _loss(features, labels, weights, p_leaf, f_leaf, filter_reg, projection_reg).backward()
    d_proj, d_filt = point.gradient()
    torch.testing.assert_close(d_proj, p_leaf.grad / 2)
    torch.testing.assert_close(d_filt, f_leaf.grad / 2)

    def residuals(p, f):
        raw = F.conv2d(F.conv2d(features, p[:, :, None, None]), f, padding=2)[:, 0]
        return mlu(raw, ALPHA) - labels

    g = torch.Generator().manual_seed(4)
    v = (torch.randn(projection.shape, generator=g, dtype=DOUBLE), torch.randn(filt.shape, generator=g, dtype=DOUBLE))
    _, jv = torch.func.jvp(residuals, (projection, filt), v)
    _, pullback = torch.func.vjp(residuals, projection, filt)
    jtwjv = pullback(weights[:, None, None] * jv)
    got = point.normal(v)
    torch.testing.assert_close(got[0], jtwjv[0] + projection_reg * v[0])
    torch.testing.assert_close(got[1], jtwjv[1] + filter_reg * v[1])


def test_unrolled_cg_solves_the_normal_equations_and_a_step_lowers_the_loss():
    features, labels, weights, projection, filt, (filter_reg, _) = _case(seed=5)
    samples = F.conv2d(features, projection[:, :, None, None])
    point = FilterLinearization(samples, labels, weights, filt, filter_reg, ALPHA)
    (solution,), norms = gauss_newton_step(point, cg_iterations=filt.numel())
    assert norms.shape == (filt.numel() + 1,) and norms[-1] < 1e-10 * norms[0]
    # exact CG in as many iterations as unknowns: the Gauss-Newton equations hold
    (lhs,) = point.normal((solution - filt,))
    rhs = -point.gradient()[0]
    assert float((lhs - rhs).abs().max()) < 1e-5 * float(rhs.abs().max())
    after = FilterLinearization(samples, labels, weights, solution, filter_reg, ALPHA)
    assert after.loss < point.loss


def test_cg_steps_one_by_one_are_the_fused_step_and_a_converged_state_stays_put():
    features, labels, weights, projection, filt, (filter_reg, _) = _case(seed=6)
    samples = F.conv2d(features, projection[:, :, None, None])
    point = FilterLinearization(samples, labels, weights, filt, filter_reg, ALPHA)
    (fused,), _ = gauss_newton_step(point, cg_iterations=4)
    x, residual = (filt,), tuple(-g for g in point.gradient())
    direction = residual
    for _ in range(4):
        x, residual, direction = cg_step(point.normal, x, residual, direction)
    torch.testing.assert_close(x[0], fused, rtol=0, atol=0)
    zero = (torch.zeros_like(filt),)
    still, _, _ = cg_step(point.normal, x, zero, zero)  # no residual: a zero step, not NaN
    torch.testing.assert_close(still[0], x[0], rtol=0, atol=0)
    assert float(dot(still, still)) > 0
