"""SCS-Siam (SPEC 2): soft-mask feature fusion, template attention, SiamFC cross-correlation.

The network splits where the tracker's phases split: ``template_kernel`` runs once per sequence,
``search_features`` and ``correlate`` once per frame. ``forward`` chains them for training pairs.

Images are float32 ``[N, 3, H, W]``, RGB, values 0..255, fed as raw pixel values: SiamFC and
SCS-Siam train on unnormalised pixels, so there is no mean/std step here or in the runtime.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edge_tracker.errors import ConfigError
from export.models.config import SiamConfig
from export.models.siam_attention import ChannelAttention, SpatialAttention

FEATURE_CHANNELS = 384  # channels of psi's output (Conv6), the correlation kernel depth
TOTAL_STRIDE = 8  # response cell -> search-crop pixels (Conv1 s2, MaxPool1 s2, MaxPool2 s2)


def soft_mask(images: torch.Tensor, boxes: torch.Tensor, sigma: float) -> torch.Tensor:
    """Scale every pixel outside its image's box by ``sigma`` (SPEC 2.3); pixels inside are kept.

    Args:
        images: ``[N, C, H, W]`` float images (0..255).
        boxes: ``[N, 4]`` boxes ``x, y, w, h`` in pixels of that image, 0-based, ``(x, y)`` the
            top-left corner. Pixel ``(row r, col c)`` covers ``[c, c+1) x [r, r+1)`` and is inside
            when its centre ``(c + 0.5, r + 0.5)`` lies in ``[x, x + w) x [y, y + h)``; an integer
            box therefore keeps columns ``x .. x+w-1`` and rows ``y .. y+h-1``. Boxes may extend
            past the image.
        sigma: background weight in [0, 1]; 0.9 at training, 1 (no change) at inference.

    Returns:
        ``[N, C, H, W]``, same dtype and device as ``images``.
    """
    if images.dim() != 4:
        raise ValueError(f"images must be [N, C, H, W], got shape {tuple(images.shape)}")
    if boxes.shape != (images.shape[0], 4):
        raise ValueError(
            f"boxes must be [N, 4] xywh with N = {images.shape[0]} (one per image), "
            f"got shape {tuple(boxes.shape)}")
    if not 0.0 <= sigma <= 1.0:
        raise ValueError(f"sigma is the background weight and must be in [0, 1], got {sigma!r}")
    boxes = boxes.to(device=images.device, dtype=images.dtype)
    if bool((boxes[:, 2:] < 0).any()):
        raise ValueError(f"box widths and heights must be >= 0, got boxes {boxes.tolist()}")

    height, width = images.shape[-2:]
    cols = torch.arange(width, device=images.device, dtype=images.dtype) + 0.5
    rows = torch.arange(height, device=images.device, dtype=images.dtype) + 0.5
    x, y, w, h = boxes.unbind(dim=1)
    inside_x = (cols >= x[:, None]) & (cols < (x + w)[:, None])  # [N, W]
    inside_y = (rows >= y[:, None]) & (rows < (y + h)[:, None])  # [N, H]
    inside = inside_y[:, :, None] & inside_x[:, None, :]  # [N, H, W]
    weight = torch.where(inside, torch.ones((), dtype=images.dtype, device=images.device),
                         torch.full((), sigma, dtype=images.dtype, device=images.device))
    return images * weight[:, None]


class ScsSiamNet(nn.Module):
    """SCS-Siam and its ablation variants (SPEC 2.1-2.2), built from a ``SiamConfig``.

    Submodules: ``stem`` (B: Conv1 + BN + ReLU + MaxPool1, shared by image and soft-masked image),
    ``features`` (psi: Conv2 .. Conv6, no padding), ``channel_attention`` and ``spatial_attention``
    (None where the variant lacks them), and the scalar correlation bias ``corr_bias``.

    Shapes (Table 1): template 135 -> kernel ``[1, 384, 7, 7]``, search 263 -> ``[M, 384, 23, 23]``,
    response ``[M, 1, 17, 17]``; at training 127 / 255 give 6x6 / 22x22 features and 17x17.
    """

    def __init__(self, config: SiamConfig) -> None:
        super().__init__()
        if not isinstance(config, SiamConfig):
            raise ConfigError(f"ScsSiamNet needs a SiamConfig, got {type(config).__name__}")
        self.config = config
        self.stem = nn.Sequential(
            *_conv_bn_relu(3, 192, 11, stride=2),
            nn.MaxPool2d(3, stride=2),
        )
        self.features = nn.Sequential(
            *_conv_bn_relu(192, 256, 3),
            *_conv_bn_relu(256, 256, 3),
            nn.MaxPool2d(3, stride=2),
            *_conv_bn_relu(256, 512, 3),
            *_conv_bn_relu(512, 512, 3),
            # the last conv feeds the correlation directly: no BN/ReLU (SPEC 2.1 reading)
            nn.Conv2d(512, FEATURE_CHANNELS, 3),
        )
        self.channel_attention = (ChannelAttention(FEATURE_CHANNELS, config.channel_reduction)
                                  if config.channel_attention else None)
        self.spatial_attention = (SpatialAttention(FEATURE_CHANNELS, config.spatial_reduction)
                                  if config.spatial_attention else None)
        self.corr_bias = nn.Parameter(torch.zeros(()))

    def fuse_stem(self, image: torch.Tensor, masked: torch.Tensor | None = None) -> torch.Tensor:
        """Soft-mask fusion ``B(image) + B(masked)`` (SPEC eq. 2-3): ``[N, 3, H, W] -> [N, 192, h, w]``.

        ``masked=None`` is inference (sigma = 1, ``masked == image``): B runs once and the result
        is doubled, which is what an exported inference graph computes.
        """
        _check_images("image", image)
        if masked is None:
            return 2.0 * self.stem(image)
        if masked.shape != image.shape:
            raise ValueError(f"masked image must have the image's shape {tuple(image.shape)}, "
                             f"got {tuple(masked.shape)}")
        # One pass over both halves: in training mode BN then normalises the image and its masked
        # copy with the same batch statistics, so B really is one shared function of both.
        both = self.stem(torch.cat([image, masked], dim=0))
        plain, soft = both.chunk(2, dim=0)
        return plain + soft

    def template_kernel(self, template: torch.Tensor,
                        template_masked: torch.Tensor | None = None) -> torch.Tensor:
        """Correlation kernel ``Omega(Delta(psi(Z))) + psi(Z)`` (SPEC eq. 4): ``[N, 384, h, w]``.

        ``template`` ``[N, 3, H, W]`` (135 px at inference, 127 at training). A variant without an
        attention module uses the identity for that stage.
        """
        psi_z = self.features(self.fuse_stem(template, template_masked))
        attended = psi_z
        if self.channel_attention is not None:
            attended = self.channel_attention(attended)
        if self.spatial_attention is not None:
            attended = self.spatial_attention(attended)
        return attended + psi_z

    def search_features(self, search: torch.Tensor,
                        search_masked: torch.Tensor | None = None) -> torch.Tensor:
        """``psi(X)`` of search crops ``[M, 3, H, W]`` -> ``[M, 384, h, w]`` (263 px -> 23x23)."""
        return self.features(self.fuse_stem(search, search_masked))

    def correlate(self, kernel: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Cross-correlation ``response_scale * (kernel * features) + corr_bias``.

        Args:
            kernel: ``[1, C, h, w]`` (one target, inference) or ``[N, C, h, w]`` (training pairs).
            features: ``[M, C, H, W]``; with a batch-1 kernel every one of the M search crops
                (scales) is correlated with it; with a batch-N kernel M must equal N and pair i is
                correlated with kernel i.

        Returns:
            ``[M, 1, H - h + 1, W - w + 1]`` response (17x17 at 7 / 23 and at 6 / 22).
        """
        if kernel.dim() != 4 or features.dim() != 4 or kernel.shape[1] != features.shape[1]:
            raise ValueError(
                f"correlate needs kernel [N, C, h, w] and features [M, C, H, W] with the same C, "
                f"got kernel {tuple(kernel.shape)} and features {tuple(features.shape)}")
        if kernel.shape[2] > features.shape[2] or kernel.shape[3] > features.shape[3]:
            raise ValueError(
                f"kernel {tuple(kernel.shape)} is larger than the features {tuple(features.shape)}; "
                f"the search crop must be larger than the template crop")
        n = kernel.shape[0]
        if n == 1:
            raw = F.conv2d(features, kernel)
        elif n == features.shape[0]:
            # pair i against kernel i: fold the batch into channels and use one group per pair
            channels, height, width = features.shape[1:]
            raw = F.conv2d(features.reshape(1, n * channels, height, width), kernel, groups=n)
            raw = raw.reshape(n, 1, raw.shape[-2], raw.shape[-1])
        else:
            raise ValueError(
                f"kernel batch must be 1 (one target, M search scales) or equal the features batch "
                f"(training pairs), got kernel {tuple(kernel.shape)} and features "
                f"{tuple(features.shape)}")
        return raw * self.config.response_scale + self.corr_bias

    def forward(self, template: torch.Tensor, search: torch.Tensor,
                template_masked: torch.Tensor | None = None,
                search_masked: torch.Tensor | None = None) -> torch.Tensor:
        """Response ``[N, 1, 17, 17]`` of N training pairs (templates 127 px, searches 255 px)."""
        kernel = self.template_kernel(template, template_masked)
        return self.correlate(kernel, self.search_features(search, search_masked))


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int,
                  stride: int = 1) -> list[nn.Module]:
    # no conv bias: the BN shift that follows makes it redundant
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


def _check_images(name: str, images: torch.Tensor) -> None:
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"{name} must be [N, 3, H, W] RGB, got shape {tuple(images.shape)}")
