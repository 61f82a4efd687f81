"""Attentional feature fusion (Dai et al., WACV 2021): MS-CAM, AFF and iAFF (SPEC 1.1, 1.2).

Shapes: every feature here is ``[N, C, H, W]`` float32; attention maps ``M(X)`` have the same shape
(the global branch is ``[N, C, 1, 1]`` and broadcasts over ``H, W``).

Key names follow the authors' PyTorch code (``local_att``: conv, bn, relu, conv, bn at indices
0, 1, 2, 3, 4; ``global_att``: the average pool at index 0, then conv, bn, relu, conv, bn at 1..5), so a
state dict of one of their MS-CAM blocks maps onto ``MSCAM`` key for key.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edge_tracker.errors import ConfigError, InputError


class ContextBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d for the 1x1 global-context branch, usable in training with a single sample.

    After global average pooling a batch of one holds one value per channel, and training-mode batch
    norm cannot compute a variance from it (PyTorch raises). The branch keeps BatchNorm, as the
    reference code does, so checkpoints keep their keys and eval mode is unchanged; only in that one
    degenerate training case (``N * H * W == 1``) the running statistics are used instead of batch
    statistics, and they are not updated.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] * x.shape[2] * x.shape[3] == 1:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                training=False, momentum=0.0, eps=self.eps)
        return super().forward(x)


class GlobalAvgPool2d(nn.Module):
    """Global average pooling ``[N, C, H, W] -> [N, C, 1, 1]``.

    Same values as ``nn.AdaptiveAvgPool2d(1)``, but written as an average pool over the whole map:
    the dynamo exporter turns the adaptive pool into an opset-18 ReduceMean (axes as an input) that
    the ONNX version converter cannot bring down to opset 17, while AveragePool exports at 17.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, kernel_size=(x.shape[2], x.shape[3]))


class MSCAM(nn.Module):
    """Multi-scale channel attention: ``M(X) = sigmoid(L(X) + g(X))`` and ``X' = X * M(X)``.

    Args:
        channels: C, the channels of X.
        reduction: bottleneck ratio r; the hidden width is ``C // r`` (at least 1).
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        if channels < 1 or reduction < 1:
            raise ConfigError(
                f"MSCAM needs channels >= 1 and reduction >= 1, got channels={channels}, "
                f"reduction={reduction}")
        hidden = max(channels // reduction, 1)
        self.channels = channels
        self.local_att = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=1),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, kernel_size=1),
            nn.BatchNorm2d(channels),
        )
        self.global_att = nn.Sequential(
            GlobalAvgPool2d(),
            nn.Conv2d(channels, hidden, kernel_size=1),
            ContextBatchNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, kernel_size=1),
            ContextBatchNorm2d(channels),
        )

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """``L(X) + g(X)`` before the sigmoid, ``[N, C, H, W]``."""
        _check_features(x, self.channels, "MSCAM input")
        return self.local_att(x) + self.global_att(x)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """``M(X)``, ``[N, C, H, W]`` with values in (0, 1)."""
        return torch.sigmoid(self.logits(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The refined feature ``X * M(X)``, ``[N, C, H, W]``."""
        return x * self.attention(x)


class AFF(nn.Module):
    """Attentional feature fusion: ``Z = M(X + Y) * X + (1 - M(X + Y)) * Y`` (SPEC 1.2)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.att = MSCAM(channels, reduction)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Fuse two same-shape features ``[N, C, H, W]`` into one of that shape."""
        _check_same_shape(x, y)
        return _blend(self.att.attention(x + y), x, y)


class IAFF(nn.Module):
    """Iterative AFF: the initial sum is itself an AFF with its own MS-CAM (SPEC 1.2).

    ``I = M1(X + Y) * X + (1 - M1(X + Y)) * Y``, then ``Z = M2(I) * X + (1 - M2(I)) * Y``.
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.att1 = MSCAM(channels, reduction)
        self.att2 = MSCAM(channels, reduction)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Fuse two same-shape features ``[N, C, H, W]`` into one of that shape."""
        _check_same_shape(x, y)
        initial = _blend(self.att1.attention(x + y), x, y)
        return _blend(self.att2.attention(initial), x, y)


def _blend(weight: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # y + w * (x - y) is w * x + (1 - w) * y with one multiplication fewer
    return y + weight * (x - y)


def _check_features(x: torch.Tensor, channels: int, what: str) -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise InputError(f"{what} must be [N, {channels}, H, W], got {list(x.shape)}")


def _check_same_shape(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape:
        raise InputError(
            f"feature fusion needs two tensors of one shape, got {list(x.shape)} and {list(y.shape)}")
