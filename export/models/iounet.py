"""ATOM's IoU predictor (Danelljan et al., CVPR 2019), shaped like pytracking's ``AtomIoUNet``.

Submodule names and shapes are pytracking's, so its ``bb_regressor`` state dict maps key for key.
Layer "a" is the shallower input (ATOM: layer2, stride 8; AFF-ATOM: layer3, stride 16), layer "b" the
deeper one (ATOM: layer3; AFF-ATOM: layer4). pytracking's names say 3 and 4 for a and b regardless.

Boxes are ``x, y, w, h`` (0-based, top-left) in pixels of the network input; they become x1y1x2y2 only
where they enter PrRoIPool.

Reference branch (first frame + target box): two modulation vectors ``[B, pred_input_dim, 1, 1]``.
Test branch: features of the current crop, modulated channel-wise, pooled per proposal (5x5 on a,
3x3 on b), two fully connected blocks, one linear unit -> the predicted IoU.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from edge_tracker.errors import ConfigError, InputError
from export.models.prroi_pool import PrRoIPool2D


def conv_bn_relu(in_planes: int, out_planes: int, kernel_size: int = 3, padding: int = 1
                 ) -> nn.Sequential:
    """pytracking's ``conv``: Conv2d with bias, BatchNorm2d, ReLU (keys ``.0``, ``.1``)."""
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, kernel_size=kernel_size, padding=padding, bias=True),
        nn.BatchNorm2d(out_planes),
        nn.ReLU(),
    )


class LinearBlock(nn.Module):
    """pytracking's LinearBlock: flatten ``[N, C, s, s]``, Linear to ``out_planes``, BN, ReLU -> ``[N, out]``.

    The BatchNorm is a BatchNorm2d on ``[N, out, 1, 1]``, as pytracking has it (checkpoint keys
    ``linear.*`` and ``bn.*``).
    """

    def __init__(self, in_planes: int, out_planes: int, input_size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_planes * input_size * input_size, out_planes)
        self.bn = nn.BatchNorm2d(out_planes)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x.reshape(x.shape[0], -1))
        x = self.bn(x.reshape(x.shape[0], x.shape[1], 1, 1))
        return self.relu(x).reshape(x.shape[0], -1)


class AtomIoUNet(nn.Module):
    """IoU prediction from two backbone layers.

    Args:
        input_dim: channels of layers a and b.
        pred_input_dim: channels of the modulation vectors / test features per layer.
        pred_inter_dim: widths of the fully connected blocks per layer.
        spatial_scales: 1 / stride of layers a and b (pytracking hard-codes 1/8, 1/16).
    """

    def __init__(self, input_dim: Sequence[int] = (128, 256), pred_input_dim: Sequence[int] = (256, 256),
                 pred_inter_dim: Sequence[int] = (256, 256),
                 spatial_scales: Sequence[float] = (1 / 8, 1 / 16)) -> None:
        super().__init__()
        for name, value in (("input_dim", input_dim), ("pred_input_dim", pred_input_dim),
                            ("pred_inter_dim", pred_inter_dim), ("spatial_scales", spatial_scales)):
            if len(value) != 2 or min(value) <= 0:
                raise ConfigError(f"{name} must be two positive numbers (layer a, layer b), got {value!r}")
        self.input_dim = tuple(input_dim)
        scale_a, scale_b = spatial_scales
        # _r: reference branch, _t: test branch
        self.conv3_1r = conv_bn_relu(input_dim[0], 128)
        self.conv3_1t = conv_bn_relu(input_dim[0], 256)
        self.conv3_2t = conv_bn_relu(256, pred_input_dim[0])
        self.prroi_pool3r = PrRoIPool2D(3, 3, scale_a)
        self.prroi_pool3t = PrRoIPool2D(5, 5, scale_a)
        self.fc3_1r = conv_bn_relu(128, 256, kernel_size=3, padding=0)  # 3x3 pooled -> 1x1

        self.conv4_1r = conv_bn_relu(input_dim[1], 256)
        self.conv4_1t = conv_bn_relu(input_dim[1], 256)
        self.conv4_2t = conv_bn_relu(256, pred_input_dim[1])
        self.prroi_pool4r = PrRoIPool2D(1, 1, scale_b)
        self.prroi_pool4t = PrRoIPool2D(3, 3, scale_b)

        self.fc34_3r = conv_bn_relu(256 + 256, pred_input_dim[0], kernel_size=1, padding=0)
        self.fc34_4r = conv_bn_relu(256 + 256, pred_input_dim[1], kernel_size=1, padding=0)

        self.fc3_rt = LinearBlock(pred_input_dim[0], pred_inter_dim[0], 5)
        self.fc4_rt = LinearBlock(pred_input_dim[1], pred_inter_dim[1], 3)
        self.iou_predictor = nn.Linear(pred_inter_dim[0] + pred_inter_dim[1], 1, bias=True)
        self._init_weights()

    def _init_weights(self) -> None:
        # pytracking's initialisation, BN weights U(0, 1) included (its comment: PyTorch <= 1.1 default)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, mode="fan_in")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, feat1: Sequence[torch.Tensor], feat2: Sequence[torch.Tensor], bb1: torch.Tensor,
                proposals2: torch.Tensor) -> torch.Tensor:
        """Training pass, as pytracking: modulation from the first reference image of each sequence.

        Args:
            feat1: (a, b) reference features, ``[I1, S, C, H, W]`` or ``[I1 * S, C, H, W]``.
            feat2: (a, b) test features, ``[I2, S, C, H, W]`` or ``[I2 * S, C, H, W]``.
            bb1: ``[I1, S, 4]`` reference target boxes, xywh.
            proposals2: ``[I2, S, N, 4]`` test proposals, xywh.

        Returns:
            ``[I2, S, N]`` predicted IoUs.
        """
        if bb1.dim() != 3 or bb1.shape[-1] != 4:
            raise InputError(f"bb1 must be [images, sequences, 4] xywh, got {list(bb1.shape)}")
        if proposals2.dim() != 4 or proposals2.shape[-1] != 4:
            raise InputError(
                f"proposals2 must be [images, sequences, proposals, 4] xywh, got {list(proposals2.shape)}")
        num_images, num_sequences = proposals2.shape[:2]
        feat1 = [f[0] if f.dim() == 5 else f.reshape(-1, num_sequences, *f.shape[-3:])[0] for f in feat1]
        modulation = self.get_modulation(feat1, bb1[0])
        iou_feat = self.get_iou_feat(feat2)
        # every test image of a sequence shares that sequence's modulation
        modulation = [m.reshape(1, num_sequences, -1).expand(num_images, -1, -1)
                      .reshape(num_images * num_sequences, -1) for m in modulation]
        proposals = proposals2.reshape(num_images * num_sequences, -1, 4)
        return self.predict_iou(modulation, iou_feat, proposals).reshape(num_images, num_sequences, -1)

    def get_modulation(self, feats: Sequence[torch.Tensor], bb: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """Modulation vectors from reference features and the target box.

        Args:
            feats: (a, b) reference features ``[B, C, H, W]``.
            bb: ``[B, 4]`` target boxes, xywh in input pixels.

        Returns:
            ``(mod_a, mod_b)``, each ``[B, pred_input_dim, 1, 1]``.
        """
        feat_a, feat_b = self._check_feats(feats)
        if bb.dim() != 2 or bb.shape != (feat_a.shape[0], 4):
            raise InputError(f"bb must be [{feat_a.shape[0]}, 4] xywh, got {list(bb.shape)}")
        boxes = _xywh_to_xyxy(bb).unsqueeze(1)  # [B, 1, 4]
        batch = bb.shape[0]
        c_a = self.conv3_1r(feat_a)
        roi_a = self.prroi_pool3r.pool_boxes(c_a, boxes).reshape(batch, -1, 3, 3)
        c_b = self.conv4_1r(feat_b)
        roi_b = self.prroi_pool4r.pool_boxes(c_b, boxes).reshape(batch, -1, 1, 1)
        fc_ab = torch.cat((self.fc3_1r(roi_a), roi_b), dim=1)  # [B, 512, 1, 1]
        return self.fc34_3r(fc_ab), self.fc34_4r(fc_ab)

    def get_iou_feat(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Test-branch features ``(c_a, c_b)``, ``[B, pred_input_dim, H, W]`` each; 5-D input is flattened."""
        feats = [f.reshape(-1, *f.shape[-3:]) if f.dim() == 5 else f for f in feats]
        feat_a, feat_b = self._check_feats(feats)
        return self.conv3_2t(self.conv3_1t(feat_a)), self.conv4_2t(self.conv4_1t(feat_b))

    def predict_iou(self, modulation: Sequence[torch.Tensor], iou_feat: Sequence[torch.Tensor],
                    proposals: torch.Tensor) -> torch.Tensor:
        """Predicted IoU of each proposal with the target.

        Args:
            modulation: (mod_a, mod_b), ``[B, D]`` or ``[B, D, 1, 1]``.
            iou_feat: (c_a, c_b) from ``get_iou_feat``, ``[B, D, H, W]``.
            proposals: ``[B, N, 4]`` boxes, xywh in input pixels.

        Returns:
            ``[B, N]`` predicted IoUs (differentiable in ``proposals``).
        """
        mod_a, mod_b = modulation
        c_a, c_b = iou_feat
        batch = c_a.shape[0]
        if proposals.dim() != 3 or proposals.shape[0] != batch or proposals.shape[2] != 4:
            raise InputError(f"proposals must be [{batch}, N, 4] xywh, got {list(proposals.shape)}")
        if mod_a.shape[0] != batch or mod_b.shape[0] != batch or c_b.shape[0] != batch:
            raise InputError(
                f"modulation and IoU features must share the batch size, got {mod_a.shape[0]}, "
                f"{mod_b.shape[0]}, {batch}, {c_b.shape[0]}")
        num = proposals.shape[1]
        att_a = c_a * mod_a.reshape(batch, -1, 1, 1)
        att_b = c_b * mod_b.reshape(batch, -1, 1, 1)
        boxes = _xywh_to_xyxy(proposals)
        # [B, N, C, s, s] -> [B * N, C, s, s]: box n of image b is row b * N + n, as in pytracking
        roi_a = self.prroi_pool3t.pool_boxes(att_a, boxes).reshape(batch * num, -1, 5, 5)
        roi_b = self.prroi_pool4t.pool_boxes(att_b, boxes).reshape(batch * num, -1, 3, 3)
        fc_ab = torch.cat((self.fc3_rt(roi_a), self.fc4_rt(roi_b)), dim=1)
        return self.iou_predictor(fc_ab).reshape(batch, num)

    def _check_feats(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        if len(feats) != 2:
            raise InputError(f"the IoU-Net reads two feature layers, got {len(feats)}")
        feat_a, feat_b = feats
        for feat, channels, name in ((feat_a, self.input_dim[0], "a"), (feat_b, self.input_dim[1], "b")):
            if feat.dim() != 4 or feat.shape[1] != channels:
                raise InputError(f"layer {name} features must be [B, {channels}, H, W], got {list(feat.shape)}")
        if feat_a.shape[0] != feat_b.shape[0]:
            raise InputError(f"layers a and b have batch {feat_a.shape[0]} and {feat_b.shape[0]}")
        return feat_a, feat_b


def _xywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """``[..., 4]`` xywh -> x1y1x2y2 (same units)."""
    return torch.cat((boxes[..., 0:2], boxes[..., 0:2] + boxes[..., 2:4]), dim=-1)
