"""The online classifier's learning in the spatial domain, written to export (SPEC 1.6).

The same least-squares problems as the numpy twin (``edge_tracker.trackers.learning``), with the
same loss, Gauss-Newton linearisation and conjugate gradient, but every product a matrix product or
a convolution, so the exported graphs hold only ops TensorRT's parser reads (MatMul, Conv, Slice,
Mul, ReduceSum, Where, Exp, Elu, LeakyRelu...; no DFT):

- the response ``r = conv(Z, f)`` of projected samples ``Z`` ``[N, D, H, W]`` and a filter ``f``
  ``[1, D, k, k]`` (zero padding ``k // 2``): the filter's taps mix the channels (MatMul), then each
  tap's map is shifted into place (``filter_response``);
- its adjoint in the filter, ``df[d, a, b] = sum_n sum_uv u[n, u, v] Zpad[n, d, u + a, v + b]``: the
  shifted windows of ``u``, then a MatMul per sample and a sum over samples (``filter_adjoint``);
- the projection ``P`` ``[D, C]`` enters through the filter it is seen through: a change ``dP``
  moves the response by ``conv(X, dP^T f)``, and the adjoint in ``P`` is ``f G^T`` with ``G`` the
  filter adjoint of the raw features ``X``.

Loss over samples ``n`` with weights ``w_n`` (summing to 1 over the used slots; empty slots weigh 0)::

    L(P, f) = sum_n w_n ||mlu(r_n) - y_n||^2 + filter_reg ||f||^2 + projection_reg ||P||^2

A Gauss-Newton step solves ``(J^T W J + R) delta = -(J^T W e + R x)`` with a fixed number of
conjugate-gradient iterations from ``delta = 0``, unrolled (the counts come from the export config).
Where the numpy twin stops early (a squared residual at or below 1e-30, or no curvature along the
direction) the graph takes zero steps instead, so both give the same iterate.

Vectors of the solver are tuples of tensors (projection and filter jointly, or the filter alone).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from export.models.classifier import mlu

Vector = tuple[torch.Tensor, ...]

# Below this a squared residual or a curvature counts as zero (the numpy twin's 1e-30 break, and
# "no curvature" when p.Ap <= 0); a guarded division then gives a zero step instead of NaN.
TINY = 1e-30


def mlu_gain(raw: torch.Tensor, alpha: float) -> torch.Tensor:
    """Derivative of ``mlu`` at ``raw``: 1 for ``raw >= 0``, ``exp(raw / alpha)`` below."""
    return torch.where(raw >= 0, torch.ones_like(raw), torch.exp(torch.clamp(raw, max=0.0) / alpha))


SHIFTS = ("slices", "conv")  # how a filter's k x k taps are shifted into place (see filter_response)


def filter_response(samples: torch.Tensor, filt: torch.Tensor, shifts: str = "slices") -> torch.Tensor:
    """``[N, D, H, W]`` samples and ``[1, D, k, k]`` filter -> raw response ``[N, Ho, Wo]``.

    As a product and a shifted sum: the filter's ``k * k`` taps mix the channels (one MatMul,
    ``[k^2, D] x [D, H W]`` per sample), then each tap's map is added at its shift: ``"slices"``
    (k^2 Slice + Add: the fewest operations, fastest on ONNX Runtime's CPU) or ``"conv"`` (one Conv
    with a constant one-hot kernel: k^2 times the multiply-adds of that sum, but one node, which keeps
    a long unrolled graph small enough to export in seconds).
    """
    count, dim, height, width = samples.shape
    k = filt.shape[-1]
    pad = k // 2
    taps = filt.reshape(dim, k * k).transpose(0, 1)  # [k^2, D]
    mixed = (taps @ samples.reshape(count, dim, height * width)).reshape(count, k * k, height, width)
    if shifts == "conv":
        return F.conv2d(mixed, _shift_kernel(k, samples), padding=pad)[:, 0]
    out_h, out_w = height + 2 * pad - k + 1, width + 2 * pad - k + 1
    mixed = _zero_pad(mixed, pad)
    total = mixed[:, 0:1, 0:out_h, 0:out_w]
    for tap in range(1, k * k):
        a, b = divmod(tap, k)
        total = total + mixed[:, tap:tap + 1, a:a + out_h, b:b + out_w]
    return total[:, 0]


def filter_adjoint(samples: torch.Tensor, grad: torch.Tensor, filter_size: int, shifts: str = "slices"
                   ) -> torch.Tensor:
    """Adjoint of ``f -> filter_response(samples, f)`` applied to ``grad`` ``[N, Ho, Wo]`` -> ``[1, D, k, k]``.

    ``df[d, a, b] = sum_n sum_yx Z[n, d, y, x] grad[n, y + p - a, x + p - b]``: the ``k * k`` shifted
    windows of ``grad`` (``shifts`` as in ``filter_response``), then one MatMul per sample and a sum
    over the samples. Works for any channel count: raw features ``[N, C, H, W]`` give ``[1, C, k, k]``.
    """
    count, dim, height, width = samples.shape
    k = filter_size
    margin = k - 1 - k // 2  # grad index y + p - a runs from p - k + 1 to H - 1 + p
    if shifts == "conv":
        kernel = _shift_kernel(k, samples).flip(-1, -2).transpose(0, 1)  # [k^2, 1, k, k]
        windows = F.conv2d(grad.unsqueeze(1), kernel, padding=margin)  # [N, k^2, H, W]
    else:
        padded = _zero_pad(grad, margin)
        windows = torch.stack([padded[:, k - 1 - a:k - 1 - a + height, k - 1 - b:k - 1 - b + width]
                               for a in range(k) for b in range(k)], dim=1)
    windows = windows.reshape(count, k * k, height * width)
    per_sample = samples.reshape(count, dim, height * width) @ windows.transpose(1, 2)  # [N, D, k^2]
    return per_sample.sum(dim=0).reshape(1, dim, k, k)


def _shift_kernel(k: int, like: torch.Tensor) -> torch.Tensor:
    """``[1, k^2, k, k]`` one-hot: channel ``a * k + b`` has its 1 at ``(a, b)`` (a constant in the graph)."""
    return torch.eye(k * k, dtype=like.dtype, device=like.device).reshape(1, k * k, k, k)


def _zero_pad(x: torch.Tensor, margin: int) -> torch.Tensor:
    """Zeros around the last two axes, as Concat with constants (opset 18's Pad has no opset-17 adapter)."""
    if margin == 0:
        return x
    rows = torch.zeros(*x.shape[:-2], margin, x.shape[-1], dtype=x.dtype, device=x.device)
    x = torch.cat([rows, x, rows], dim=-2)
    cols = torch.zeros(*x.shape[:-1], margin, dtype=x.dtype, device=x.device)
    return torch.cat([cols, x, cols], dim=-1)


def dot(a: Vector, b: Vector) -> torch.Tensor:
    """Euclidean inner product of two vectors (tuples of tensors): a 0-d tensor."""
    total = (a[0] * b[0]).sum()
    for u, v in zip(a[1:], b[1:]):
        total = total + (u * v).sum()
    return total


def _safe_ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    positive = denominator > TINY
    return torch.where(positive, numerator / torch.where(positive, denominator, torch.ones_like(denominator)),
                       torch.zeros_like(numerator))


# ----------------------------------------------------------------------------------------- problems

class FilterLinearization:
    """The update problem (filter only, projected samples fixed) linearised at ``filt``.

    Args:
        samples: ``[M, D, H, W]`` projected samples (the memory).
        labels: ``[M, Ho, Wo]``; weights: ``[M]`` (0 for an empty slot).
        filt: ``[1, D, k, k]`` where to linearise; filter_reg: ``[1]``; alpha: mlu threshold.
    """

    def __init__(self, samples, labels, weights, filt, filter_reg, alpha: float, shifts: str = "slices") -> None:
        self.samples, self.point, self.filter_reg, self.shifts = samples, (filt,), filter_reg, shifts
        raw = filter_response(samples, filt, shifts)
        gain = mlu_gain(raw, alpha)
        self.residual = mlu(raw, alpha) - labels
        w = weights[:, None, None]
        self.weighted_gain = w * gain  # J^T W e = A^T (w g e)
        self.curvature = w * gain * gain  # J^T W J v = A^T (w g^2 A v)
        self.loss = (w * self.residual * self.residual).sum() + filter_reg * (filt * filt).sum()

    def gradient(self) -> Vector:
        """``J^T W e + R f``: half the gradient of the loss."""
        (filt,) = self.point
        data = filter_adjoint(self.samples, self.weighted_gain * self.residual, filt.shape[-1], self.shifts)
        return (data + self.filter_reg * filt,)

    def normal(self, v: Vector) -> Vector:
        return normal_filter(self.samples, self.curvature, self.filter_reg, v, self.shifts)


def normal_filter(samples, curvature, filter_reg, v: Vector, shifts: str = "slices") -> Vector:
    """``(J^T W J + R) v`` of the update problem, from its curvature ``w g^2`` ``[M, Ho, Wo]``."""
    (d_filt,) = v
    change = filter_response(samples, d_filt, shifts)
    return (filter_adjoint(samples, curvature * change, d_filt.shape[-1], shifts) + filter_reg * d_filt,)


class JointLinearization:
    """The first-frame problem (projection and filter jointly) linearised at ``(projection, filt)``.

    Args:
        features: ``[N, C, H, W]`` raw features; labels ``[N, Ho, Wo]``; weights ``[N]``.
        projection: ``[D, C]``; filt: ``[1, D, k, k]``; filter_reg, projection_reg: ``[1]``.
    """

    def __init__(self, features, labels, weights, projection, filt, filter_reg, projection_reg,
                 alpha: float, shifts: str = "conv") -> None:
        self.features, self.point, self.shifts = features, (projection, filt), shifts
        self.filter_reg, self.projection_reg = filter_reg, projection_reg
        self.k = filt.shape[-1]
        self.samples = project(features, projection)
        raw = filter_response(self.samples, filt, shifts)
        gain = mlu_gain(raw, alpha)
        self.residual = mlu(raw, alpha) - labels
        w = weights[:, None, None]
        self.weighted_gain = w * gain
        self.curvature = w * gain * gain
        self.loss = ((w * self.residual * self.residual).sum() + filter_reg * (filt * filt).sum()
                     + projection_reg * (projection * projection).sum())
        self.filter_matrix = filt.reshape(projection.shape[0], self.k * self.k)  # [D, k^2]

    def jacobian(self, v: Vector) -> torch.Tensor:
        """Change of the raw response ``[N, Ho, Wo]`` under ``(dP, df)``."""
        d_proj, d_filt = v
        seen = (d_proj.transpose(0, 1) @ self.filter_matrix).reshape(1, -1, self.k, self.k)  # [1, C, k, k]
        return filter_response(self.features, seen, self.shifts) + filter_response(self.samples, d_filt, self.shifts)

    def adjoint(self, grad: torch.Tensor) -> Vector:
        """``A^T grad`` for ``grad`` ``[N, Ho, Wo]`` -> ``(dP [D, C], df [1, D, k, k])``."""
        d_filt = filter_adjoint(self.samples, grad, self.k, self.shifts)
        seen = filter_adjoint(self.features, grad, self.k, self.shifts).reshape(-1, self.k * self.k)  # [C, k^2]
        return self.filter_matrix @ seen.transpose(0, 1), d_filt

    def gradient(self) -> Vector:
        projection, filt = self.point
        d_proj, d_filt = self.adjoint(self.weighted_gain * self.residual)
        return d_proj + self.projection_reg * projection, d_filt + self.filter_reg * filt

    def normal(self, v: Vector) -> Vector:
        d_proj, d_filt = self.adjoint(self.curvature * self.jacobian(v))
        return d_proj + self.projection_reg * v[0], d_filt + self.filter_reg * v[1]


def project(features: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
    """``[N, C, H, W]`` features through the ``[D, C]`` projection -> ``[N, D, H, W]`` (a 1x1 Conv)."""
    return F.conv2d(features, projection[:, :, None, None])


# ----------------------------------------------------------------------------------------- solver

def cg_step(apply: Callable[[Vector], Vector], x: Vector, residual: Vector, direction: Vector
            ) -> tuple[Vector, Vector, Vector]:
    """One conjugate-gradient iteration on ``apply(x) = b``: ``(x, r, p) -> (x', r', p')``.

    ``r = b - apply(x)`` is carried and ``rho = r . r`` recomputed (a few thousand numbers), so the
    state between calls is three vectors: what ``classifier_cg_step`` passes from frame to frame.
    """
    rho = dot(residual, residual)
    image = apply(direction)
    step = _safe_ratio(rho, dot(direction, image))
    x = tuple(xi + step * di for xi, di in zip(x, direction))
    residual = tuple(ri - step * qi for ri, qi in zip(residual, image))
    beta = _safe_ratio(dot(residual, residual), rho)
    direction = tuple(ri + beta * di for ri, di in zip(residual, direction))
    return x, residual, direction


def gauss_newton_step(linearization, cg_iterations: int) -> tuple[Vector, torch.Tensor]:
    """One Gauss-Newton step: ``cg_iterations`` of CG on the normal equations from ``delta = 0``.

    Returns the new point and ``r . r`` at the start and after each CG iteration (``[cg + 1]``).
    """
    residual = tuple(-g for g in linearization.gradient())
    direction = residual
    x = linearization.point  # the iterate x + delta, so that delta = 0 needs no zeros in the graph
    norms = [dot(residual, residual)]
    for _ in range(cg_iterations):
        x, residual, direction = cg_step(linearization.normal, x, residual, direction)
        norms.append(dot(residual, residual))
    return x, torch.stack(norms)
