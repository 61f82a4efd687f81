"""The online classifier's network pieces (SPEC 1.4, 1.6): response, activation, multi-layer fusion.

The classifier's weights (a 1x1 projection and a small filter per layer) are learned online at
tracking time, so they are tensors passed in, not module parameters.

Response grid convention: a response map of ``n`` cells at ``stride`` pixels per cell is centred on
the crop: cell ``i`` sits ``(i - (n - 1) / 2) * stride`` pixels from the crop centre. This holds for
``classifier_response`` of a centred feature map with any filter size: an even ``k`` gives ``n + 1``
cells whose centres fall between feature cells, symmetric about the crop centre.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from edge_tracker.errors import ConfigError, InputError


def mlu(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """pytracking's "mlu" response activation: ``elu(leaky_relu(x, 1 / alpha), alpha)``.

    Piecewise: ``x`` for ``x >= 0`` and ``alpha * (exp(x / alpha) - 1)`` for ``x < 0``, so negative
    scores saturate at ``-alpha`` (SPEC 1.6: alpha = 0.05).
    """
    if not alpha > 0:
        raise ConfigError(f"the mlu threshold alpha must be > 0, got {alpha}")
    return F.elu(F.leaky_relu(x, 1.0 / alpha), alpha)


def classifier_response(features: torch.Tensor, projection: torch.Tensor, filt: torch.Tensor
                        ) -> torch.Tensor:
    """Raw classifier scores: a 1x1 projection, then the learned filter.

    Args:
        features: ``[N, C, H, W]`` backbone features (the tracker uses N = 1).
        projection: ``[D, C, 1, 1]`` learned projection (C -> D channels).
        filt: ``[1, D, kh, kw]`` learned filter.

    Returns:
        ``[N, 1, H + 1 - kh % 2, W + 1 - kw % 2]``: zero padding ``k // 2`` on each side, so an even
        filter (ATOM's 4x4) gives one cell more than the features and a grid centred on the crop.
        (pytracking's "same" convolution drops that last row/column and makes up for the half-cell
        shift with a Fourier-domain shift when it localises; keeping the cell keeps the grid centred.)
    """
    if features.dim() != 4:
        raise InputError(f"features must be [N, C, H, W], got {list(features.shape)}")
    if projection.dim() != 4 or projection.shape[1] != features.shape[1] or projection.shape[2:] != (1, 1):
        raise InputError(
            f"projection must be [D, {features.shape[1]}, 1, 1], got {list(projection.shape)}")
    if filt.dim() != 4 or filt.shape[0] != 1 or filt.shape[1] != projection.shape[0]:
        raise InputError(f"filt must be [1, {projection.shape[0]}, k, k], got {list(filt.shape)}")
    return filter_scores(project_features(features, projection), filt)


def project_features(features: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
    """``[N, C, H, W]`` features through the ``[D, C, 1, 1]`` projection -> ``[N, D, H, W]``."""
    return F.conv2d(features, projection)


def filter_scores(projected: torch.Tensor, filt: torch.Tensor) -> torch.Tensor:
    """Raw scores of projected features ``[N, D, H, W]`` under the ``[1, D, kh, kw]`` filter (padding k // 2)."""
    return F.conv2d(projected, filt, padding=(filt.shape[2] // 2, filt.shape[3] // 2))


def resample_matrix(src_size: int, dst_size: int, src_stride: float, dst_stride: float
                    ) -> torch.Tensor:
    """Linear interpolation from one centred response grid onto another, as a matrix.

    Destination cell ``d`` sits ``p = (d - (dst_size - 1) / 2) * dst_stride`` pixels from the crop
    centre, i.e. at source coordinate ``u = p / src_stride + (src_size - 1) / 2``. Points beyond the
    source grid take the value of the border cell (``u`` is clamped to ``[0, src_size - 1]``).

    Returns:
        ``[dst_size, src_size]`` float32 ``R`` with ``resampled = R @ values`` along that axis; every
        row sums to 1.
    """
    if src_size < 1 or dst_size < 1 or not src_stride > 0 or not dst_stride > 0:
        raise ConfigError(
            f"resample_matrix needs sizes >= 1 and strides > 0, got src_size={src_size}, "
            f"dst_size={dst_size}, src_stride={src_stride}, dst_stride={dst_stride}")
    dst = torch.arange(dst_size, dtype=torch.float64)
    u = (dst - (dst_size - 1) / 2) * (dst_stride / src_stride) + (src_size - 1) / 2
    u = u.clamp(0.0, src_size - 1)
    # weight of source cell i is the hat function max(0, 1 - |u - i|): linear interpolation
    src = torch.arange(src_size, dtype=torch.float64)
    weights = (1.0 - (u.unsqueeze(1) - src).abs()).clamp(min=0.0)
    return weights.to(torch.float32)


def fusion_weights(responses: Sequence[torch.Tensor], eps: float) -> torch.Tensor:
    """Confidence weights ``alpha_i = S_i / sum S`` with ``S_i = max(peak of map i, eps)`` (SPEC 1.4).

    Args:
        responses: activated response maps ``[1, 1, Hi, Wi]``.
        eps: floor of each confidence, > 0, so the weights stay defined when every peak is <= 0.

    Returns:
        ``[L]`` weights summing to 1.
    """
    if not eps > 0:
        raise ConfigError(f"the confidence floor eps must be > 0, got {eps}")
    if len(responses) == 0:
        raise InputError("fusion needs at least one response map")
    # amax over an explicit dim: the ONNX exporter has no lowering for a dim-less amax
    peaks = torch.stack([r.reshape(-1).amax(dim=0) for r in responses]).clamp(min=eps)
    return peaks / peaks.sum()


def fuse_responses(responses: Sequence[torch.Tensor], strides: Sequence[int], eps: float
                   ) -> torch.Tensor:
    """Fuse per-layer response maps on the first map's grid, weighted by confidence (SPEC 1.4).

    Args:
        responses: activated response maps ``[1, 1, Hi, Wi]``, the first one defines the grid.
        strides: pixels per cell of each map.
        eps: confidence floor (``AtomConfig.fusion_eps``).

    Returns:
        ``[1, 1, H0, W0]``: ``sum_i alpha_i * (Rh_i @ map_i @ Rw_i^T)``. A single map is returned as is.
    """
    if len(responses) != len(strides):
        raise InputError(f"got {len(responses)} response maps but {len(strides)} strides")
    for r in responses:
        if r.dim() != 4 or r.shape[:2] != (1, 1):
            raise InputError(f"response maps must be [1, 1, H, W], got {list(r.shape)}")
    alphas = fusion_weights(responses, eps)
    if len(responses) == 1:
        return responses[0]
    height, width = responses[0].shape[2:]
    fused = alphas[0] * responses[0]
    for alpha, response, stride in zip(alphas[1:], responses[1:], strides[1:]):
        rows = resample_matrix(response.shape[2], height, stride, strides[0]).to(response)
        cols = resample_matrix(response.shape[3], width, stride, strides[0]).to(response)
        fused = fused + alpha * (rows @ response @ cols.T)
    return fused
