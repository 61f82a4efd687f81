"""Response-map labels and the balanced logistic loss shared by both recipes.

Maps are ``[N, 1, H, W]``; a cell is addressed by ``(row, col)`` = ``(y, x)`` in cell units, and a
label centre may be fractional (the target's exact position on the map).

The loss is SiamFC's (Bertinetto et al. 2016, eq. 1 and the balanced weights of its code): for a
score ``v`` and a label ``y`` in {+1, -1}, ``l(y, v) = log(1 + exp(-y v))``, averaged over the map
with weights that give the positives and the negatives half of the total each. Labels here are
stored as targets in [0, 1] (1 = positive, 0 = negative), which also admits soft (Gaussian) labels:

    loss = sum_c  0.5 * t_c / sum(t) * softplus(-v_c)  +  0.5 * (1 - t_c) / sum(1 - t) * softplus(v_c)

For hard labels this is exactly the SiamFC loss, since ``softplus(-v) = l(+1, v)`` and
``softplus(v) = l(-1, v)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def disc_labels(centers: torch.Tensor, size: tuple[int, int], radius: float) -> torch.Tensor:
    """1 within ``radius`` cells (Euclidean, inclusive) of each centre, 0 elsewhere.

    Args:
        centers: ``[N, 2]`` label centres ``(x, y)`` in cells (column, row), may be fractional.
        size: ``(H, W)`` of the map.
        radius: in cells (SiamFC: 16 px / total stride 8 = 2).

    Returns:
        ``[N, 1, H, W]`` float labels on ``centers``' device.
    """
    dist2 = _squared_distances(centers, size)
    return (dist2 <= radius * radius + 1e-9).to(centers.dtype)[:, None]


def gaussian_labels(centers: torch.Tensor, size: tuple[int, int], sigmas: torch.Tensor) -> torch.Tensor:
    """``exp(-d^2 / (2 sigma^2))`` around each centre; ``sigmas`` ``[N]`` in cells. ``[N, 1, H, W]``."""
    dist2 = _squared_distances(centers, size)
    return torch.exp(-dist2 / (2.0 * sigmas[:, None, None] ** 2))[:, None]


def balance_weights(labels: torch.Tensor) -> torch.Tensor:
    """Per-cell weights of ``balanced_logistic_loss``: positives and negatives each sum to 0.5 per map.

    Returns ``[N, 1, H, W]`` weights of the positive term (``w_pos * t``) plus those of the negative
    term (``w_neg * (1 - t)``); for hard labels each cell has exactly one of the two.
    """
    pos, neg = _term_weights(labels)
    return pos + neg


def balanced_logistic_loss(logits: torch.Tensor, labels: torch.Tensor,
                           valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over maps of the balanced logistic loss (see the module docstring).

    Args:
        logits: ``[N, 1, H, W]`` scores.
        labels: ``[N, 1, H, W]`` targets in [0, 1].
        valid: optional ``[N]`` bool; maps marked False (no label mass, e.g. the target outside the
            map) are left out. With no valid map the loss is 0, still connected to ``logits`` so
            that every parameter gets a (zero) gradient, as DistributedDataParallel requires.

    Returns:
        scalar tensor.
    """
    if logits.shape != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} differ in shape")
    pos_w, neg_w = _term_weights(labels)
    per_map = (pos_w * F.softplus(-logits) + neg_w * F.softplus(logits)).flatten(1).sum(dim=1)
    if valid is None:
        return per_map.mean()
    weight = valid.to(per_map.dtype)
    return (per_map * weight).sum() / weight.sum().clamp_min(1.0)


def _term_weights(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = labels.flatten(1)
    pos_total = flat.sum(dim=1).clamp_min(1e-12).reshape(-1, 1, 1, 1)
    neg_total = (1.0 - flat).sum(dim=1).clamp_min(1e-12).reshape(-1, 1, 1, 1)
    return 0.5 * labels / pos_total, 0.5 * (1.0 - labels) / neg_total


def _squared_distances(centers: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if centers.dim() != 2 or centers.shape[1] != 2:
        raise ValueError(f"centers must be [N, 2] (x, y) in cells, got {tuple(centers.shape)}")
    height, width = size
    cols = torch.arange(width, device=centers.device, dtype=centers.dtype)
    rows = torch.arange(height, device=centers.device, dtype=centers.dtype)
    dx = cols[None, None, :] - centers[:, 0, None, None]
    dy = rows[None, :, None] - centers[:, 1, None, None]
    return dx * dx + dy * dy  # [N, H, W]
