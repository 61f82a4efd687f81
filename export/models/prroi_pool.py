"""Precise RoI Pooling (Jiang et al., ECCV 2018) in closed matrix form (SPEC 1.5).

The feature map is read as the bilinear interpolant ``f(y, x) = sum_ij F[i, j] k(y - i) k(x - j)``,
``k(t) = max(0, 1 - |t|)``, with cells outside the map counting as zero (as the CUDA original does).
The mean of ``f`` over a bin ``[y1, y2] x [x1, x2]`` factorises:

    bin value = Ky . F . Kx^T / bin_area,    K(a, b)[i] = Phi(b - i) - Phi(a - i),

with ``Phi`` the antiderivative of ``k``. Everything below is element-wise (Clip, Abs, Mul, Add,
Where) plus batched MatMul, so it exports to plain ONNX ops (opset 17) without a plugin, and it is
differentiable in the box coordinates (``Phi`` is C1). A bin of zero area (an empty or inverted box)
gives 0, as in the CUDA original.

Boxes: ``x1, y1, x2, y2`` in pixels of the network input, 0-based; ``spatial_scale`` maps them onto
the feature grid (feature cell ``j`` sits at input pixel ``j / spatial_scale``, no half-cell offset,
again as the original).
"""

from __future__ import annotations

import torch
from torch import nn

from edge_tracker.errors import ConfigError, InputError


def prroi_pool2d(features: torch.Tensor, rois: torch.Tensor, pooled_size: tuple[int, int],
                 spatial_scale: float) -> torch.Tensor:
    """Pool one ``[C, ph, pw]`` grid per RoI, pytracking's ``PrRoIPool2D`` call.

    Args:
        features: ``[B, C, H, W]`` feature maps.
        rois: ``[K, 5]`` rows ``(batch_index, x1, y1, x2, y2)``, coordinates in input pixels.
        pooled_size: ``(ph, pw)`` bins per RoI.
        spatial_scale: feature cells per input pixel (1 / stride).

    Returns:
        ``[K, C, ph, pw]``: the mean of the interpolated features over each bin.

    With ``B == 1`` the batch index is ignored and the one map is shared by all RoIs (the inference
    case: no gather in the graph). With ``B > 1`` each RoI's map is gathered by its batch index
    (float cast to int64 then ``index_select``, which exports as Gather); for RoIs grouped per image,
    ``prroi_pool_boxes`` avoids the per-RoI copy of the maps.
    """
    _check_features(features)
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise InputError(f"rois must be [K, 5] (batch_index, x1, y1, x2, y2), got {list(rois.shape)}")
    boxes = rois[:, 1:5]
    if features.shape[0] == 1:
        pooled = prroi_pool_boxes(features, boxes.unsqueeze(0), pooled_size, spatial_scale)
        return pooled[0]
    per_roi = features.index_select(0, rois[:, 0].round().to(torch.int64))
    pooled = prroi_pool_boxes(per_roi, boxes.unsqueeze(1), pooled_size, spatial_scale)
    return pooled[:, 0]


def prroi_pool_boxes(features: torch.Tensor, boxes: torch.Tensor, pooled_size: tuple[int, int],
                     spatial_scale: float) -> torch.Tensor:
    """Pool ``N`` boxes per image: the grouped form used by the IoU-Net.

    Args:
        features: ``[B, C, H, W]`` feature maps.
        boxes: ``[B, N, 4]`` ``x1, y1, x2, y2`` in input pixels; box ``[b, n]`` reads map ``b``.
        pooled_size: ``(ph, pw)`` bins per box.
        spatial_scale: feature cells per input pixel (1 / stride).

    Returns:
        ``[B, N, C, ph, pw]``.
    """
    _check_features(features)
    ph, pw = _check_pooled_size(pooled_size)
    if boxes.dim() != 3 or boxes.shape[2] != 4 or boxes.shape[0] != features.shape[0]:
        raise InputError(
            f"boxes must be [B, N, 4] x1y1x2y2 with B = {features.shape[0]} (the feature batch), "
            f"got {list(boxes.shape)}")
    batch, channels, height, width = features.shape
    num = boxes.shape[1]
    boxes = boxes.to(features.dtype) * spatial_scale
    x1, y1, x2, y2 = boxes.unbind(-1)  # each [B, N], feature cells
    ky, area_y = _bin_weights(y1, y2, ph, height)  # [B, N, ph, H], [B, N]
    kx, area_x = _bin_weights(x1, x2, pw, width)  # [B, N, pw, W], [B, N]

    # Contract W first with the boxes of one image side by side, so the maps are never copied per
    # box: [B, C*H, W] @ [B, W, N*pw] -> [B, C*H, N*pw].
    kx_t = kx.reshape(batch, num * pw, width).transpose(1, 2)
    rows = torch.matmul(features.reshape(batch, channels * height, width), kx_t)
    rows = rows.reshape(batch, channels, height, num, pw).permute(0, 3, 1, 2, 4)  # [B, N, C, H, pw]
    pooled = torch.matmul(ky.unsqueeze(2), rows)  # [B, N, 1, ph, H] @ [B, N, C, H, pw]

    area = (area_y * area_x).reshape(batch, num, 1, 1, 1)
    nonempty = area > 0
    # the safe denominator keeps the gradient finite where the Where picks the constant 0
    safe_area = torch.where(nonempty, area, torch.ones_like(area))
    return torch.where(nonempty, pooled / safe_area, torch.zeros_like(pooled))


class PrRoIPool2D(nn.Module):
    """Module form with pytracking's signature: ``PrRoIPool2D(ph, pw, spatial_scale)(features, rois)``."""

    def __init__(self, pooled_height: int, pooled_width: int, spatial_scale: float) -> None:
        super().__init__()
        self.pooled_size = _check_pooled_size((pooled_height, pooled_width))
        if not spatial_scale > 0:
            raise ConfigError(f"spatial_scale must be > 0 (1 / stride), got {spatial_scale}")
        self.spatial_scale = float(spatial_scale)

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]``, ``[K, 5]`` (batch_index, x1, y1, x2, y2) -> ``[K, C, ph, pw]``."""
        return prroi_pool2d(features, rois, self.pooled_size, self.spatial_scale)

    def pool_boxes(self, features: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]``, ``[B, N, 4]`` x1y1x2y2 -> ``[B, N, C, ph, pw]``."""
        return prroi_pool_boxes(features, boxes, self.pooled_size, self.spatial_scale)

    def extra_repr(self) -> str:
        return f"pooled_size={self.pooled_size}, spatial_scale={self.spatial_scale}"


def _antiderivative(t: torch.Tensor) -> torch.Tensor:
    """Phi(t) = integral of max(0, 1 - |s|) from -inf to t.

    On [-1, 0] it is (t + 1)^2 / 2 and on [0, 1] it is 1 - (1 - t)^2 / 2; both equal
    1/2 + t - t|t|/2, so one branch-free expression of the clipped argument covers every case.
    """
    t = t.clamp(-1.0, 1.0)
    return 0.5 + t - 0.5 * t * t.abs()


def _bin_weights(start: torch.Tensor, end: torch.Tensor, bins: int, size: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Integration weights of ``bins`` equal bins of ``[start, end]`` over grid cells ``0..size-1``.

    Args:
        start, end: ``[B, N]`` in feature cells.

    Returns:
        ``K [B, N, bins, size]`` (``K[.., p, i]`` = integral of ``k(t - i)`` over bin ``p``) and the
        bin length ``[B, N]``, floored at 0 as the original does for inverted boxes.
    """
    length = (end - start).clamp(min=0.0) / bins
    steps = torch.arange(bins + 1, dtype=start.dtype, device=start.device)
    edges = start.unsqueeze(-1) + length.unsqueeze(-1) * steps  # [B, N, bins + 1]
    cells = torch.arange(size, dtype=start.dtype, device=start.device)
    phi = _antiderivative(edges.unsqueeze(-1) - cells)  # [B, N, bins + 1, size]
    return phi[..., 1:, :] - phi[..., :-1, :], length


def _check_features(features: torch.Tensor) -> None:
    if features.dim() != 4:
        raise InputError(f"features must be [B, C, H, W], got {list(features.shape)}")


def _check_pooled_size(pooled_size: tuple[int, int]) -> tuple[int, int]:
    if len(pooled_size) != 2 or min(int(pooled_size[0]), int(pooled_size[1])) < 1:
        raise ConfigError(f"pooled_size must be two ints >= 1 (ph, pw), got {pooled_size!r}")
    return int(pooled_size[0]), int(pooled_size[1])
