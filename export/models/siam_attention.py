"""SCS-Siam attention on the template branch (SPEC 2.2): channel attention and spatial attention.

Both act on a feature map ``[N, C, H, W]`` and return one of the same shape. Fully connected layers
are 1x1 convolutions so the exported ONNX graph is Conv/GlobalPool/Sigmoid, without Flatten/Gemm.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edge_tracker.errors import ConfigError


def _bottleneck(channels: int, reduction: int, what: str) -> int:
    """Width of a C -> C / reduction bottleneck; raises ConfigError unless it divides evenly."""
    if channels <= 0 or reduction <= 0 or channels % reduction != 0:
        raise ConfigError(
            f"{what}: channels ({channels}) must be a positive multiple of reduction ({reduction}); "
            f"pick a reduction that divides {channels}")
    return channels // reduction


class ChannelAttention(nn.Module):
    """Delta of SPEC eq. 5: ``omega = sig(FC2(relu(FC1(GAP(P))))) + sig(FC2'(relu(FC1'(GMP(P)))))``.

    The average and the max branch each have their own FC1 (C -> C/reduction) and FC2 (back to C),
    with biases. ``omega`` is ``[N, C, 1, 1]`` in (0, 2): each branch contributes a sigmoid.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = _bottleneck(channels, reduction, "ChannelAttention")
        self.avg_fc1 = nn.Conv2d(channels, hidden, 1)
        self.avg_fc2 = nn.Conv2d(hidden, channels, 1)
        self.max_fc1 = nn.Conv2d(channels, hidden, 1)
        self.max_fc2 = nn.Conv2d(hidden, channels, 1)

    def weights(self, p: torch.Tensor) -> torch.Tensor:
        """Per-channel weights ``omega`` ``[N, C, 1, 1]`` of features ``p`` ``[N, C, H, W]``."""
        avg = F.adaptive_avg_pool2d(p, 1)
        peak = F.adaptive_max_pool2d(p, 1)
        avg_w = torch.sigmoid(self.avg_fc2(F.relu(self.avg_fc1(avg))))
        max_w = torch.sigmoid(self.max_fc2(F.relu(self.max_fc1(peak))))
        return avg_w + max_w

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        """``omega * p``: ``[N, C, H, W]`` -> ``[N, C, H, W]``."""
        return self.weights(p) * p


class SpatialAttention(nn.Module):
    """Omega of SPEC 2.2: a context model shared by all channels, then a per-channel transform.

    Context: ``a = softmax over H*W of PWConv_{C->1}(U)``, ``U_c = U * a`` (broadcast over C, so
    ``U_c`` stays ``[N, C, H, W]``; SPEC *(reading)* of the paper's Figure 6).
    Transform: ``t = sig(PWConv_{C/r->C}(relu(BN(PWConv_{C->C/r}(U_c)))))``; output ``V = U * t``.

    The context conv has no bias (a constant logit shift does not change a softmax, so a bias would
    be a parameter that never learns); the conv before BN has none either (BN's shift replaces it).
    """

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = _bottleneck(channels, reduction, "SpatialAttention")
        self.context_conv = nn.Conv2d(channels, 1, 1, bias=False)
        self.transform = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
        )

    def context(self, u: torch.Tensor) -> torch.Tensor:
        """Context weights ``a`` ``[N, 1, H, W]`` of ``u`` ``[N, C, H, W]``; each sample sums to 1."""
        logits = self.context_conv(u)
        return torch.softmax(logits.flatten(2), dim=-1).view_as(logits)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``u * t``: ``[N, C, H, W]`` -> ``[N, C, H, W]``."""
        t = torch.sigmoid(self.transform(u * self.context(u)))
        return u * t
