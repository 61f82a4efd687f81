"""The AFF-ATOM / ATOM network: backbone, IoU-Net input attention, IoU-Net (SPEC 1.3, 1.5).

Images: float32 ``[N, 3, H, W]``, RGB, values 0..255 (the 288x288 search crop at tracking time);
normalisation (/255, ImageNet mean/std) happens inside. Boxes: ``x, y, w, h``, 0-based, top-left, in
pixels of that image.

``extract`` gives every feature map the tracker needs from one backbone pass:
``cls_<layer>`` (raw backbone features, read by the online classifier) for each of
``config.classifier_layers`` and ``iou_<layer>`` for each of ``config.iou_layers`` (MS-CAM refined
for AFF-ATOM, raw for ATOM).

State-dict prefixes: ``backbone.`` (torchvision ResNet-18 keys, pytracking's ``feature_extractor.``),
``iou_attention.<layer>.`` (AFF-ATOM only) and ``iou_net.`` (pytracking's ``bb_regressor.``).
"""

from __future__ import annotations

import torch
from torch import nn

from edge_tracker.errors import ConfigError, InputError
from export.models.config import LAYER_STRIDES, AtomConfig
from export.models.fusion import MSCAM
from export.models.iounet import AtomIoUNet
from export.models.resnet import ResNet18

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class AtomNet(nn.Module):
    """Backbone + IoU-Net of one ATOM-family tracker, built from its ``AtomConfig``."""

    def __init__(self, config: AtomConfig) -> None:
        super().__init__()
        if not isinstance(config, AtomConfig):
            raise ConfigError(f"AtomNet needs an AtomConfig, got {type(config).__name__}")
        self.config = config
        self.backbone = ResNet18(iaff_layers=("layer3", "layer4") if config.iaff else (),
                                 iaff_reduction=config.mscam_reduction, width=config.backbone_width)
        # SPEC 1.5: AFF-ATOM's IoU-Net reads MS-CAM refined features; plain ATOM reads them raw
        self.iou_attention = nn.ModuleDict(
            {layer: MSCAM(config.layer_channels(layer), config.mscam_reduction) for layer in config.iou_layers}
            if config.iaff else {})
        layer_a, layer_b = config.iou_layers
        self.iou_net = AtomIoUNet(
            input_dim=(config.layer_channels(layer_a), config.layer_channels(layer_b)),
            pred_input_dim=(config.iou_pred_dim, config.iou_pred_dim),
            pred_inter_dim=(config.iou_inter_dim, config.iou_inter_dim),
            spatial_scales=(1.0 / LAYER_STRIDES[layer_a], 1.0 / LAYER_STRIDES[layer_b]),
        )
        # constants, not weights: kept out of the state dict so checkpoints hold learned values only
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` RGB 0..255 -> ImageNet-normalised input of the backbone."""
        if image.dim() != 4 or image.shape[1] != 3:
            raise InputError(f"images must be [N, 3, H, W] RGB 0..255, got {list(image.shape)}")
        return (image / 255.0 - self.mean) / self.std

    def extract(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Classifier and IoU-Net features of ``[N, 3, H, W]`` RGB 0..255 images.

        Returns:
            ``{"cls_<layer>": [N, C, H/s, W/s], "iou_<layer>": [N, C, H/s, W/s]}``.
        """
        layers = tuple(dict.fromkeys(self.config.classifier_layers + self.config.iou_layers))
        feats = self.backbone(self.normalize(image), layers)
        out = {f"cls_{layer}": feats[layer] for layer in self.config.classifier_layers}
        out.update({f"iou_{layer}": self._refine(layer, feats[layer]) for layer in self.config.iou_layers})
        return out

    def iou_features(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The two IoU-Net inputs (layer a, layer b) of ``[N, 3, H, W]`` RGB 0..255 images."""
        feats = self.backbone(self.normalize(image), self.config.iou_layers)
        return [self._refine(layer, feats[layer]) for layer in self.config.iou_layers]

    def forward(self, train_imgs: torch.Tensor, test_imgs: torch.Tensor, train_bb: torch.Tensor,
                test_proposals: torch.Tensor) -> torch.Tensor:
        """IoU-Net training pass, as pytracking's ATOMnet: reference-frame modulation, test-frame IoUs.

        Args:
            train_imgs: ``[I1, S, 3, H, W]`` (or ``[S, 3, H, W]``) reference images, RGB 0..255.
            test_imgs: ``[I2, S, 3, H, W]`` (or ``[S, 3, H, W]``) test images, RGB 0..255.
            train_bb: ``[I1, S, 4]`` target boxes in the reference images, xywh.
            test_proposals: ``[I2, S, N, 4]`` proposals in the test images, xywh.

        Returns:
            ``[I2, S, N]`` predicted IoUs.
        """
        for name, imgs in (("train_imgs", train_imgs), ("test_imgs", test_imgs)):
            if imgs.dim() not in (4, 5):
                raise InputError(f"{name} must be [images, sequences, 3, H, W], got {list(imgs.shape)}")
        num_sequences = train_imgs.shape[-4]
        num_train = train_imgs.shape[0] if train_imgs.dim() == 5 else 1
        num_test = test_imgs.shape[0] if test_imgs.dim() == 5 else 1
        if test_imgs.shape[-4] != num_sequences:
            raise InputError(
                f"train_imgs and test_imgs hold {num_sequences} and {test_imgs.shape[-4]} sequences")
        if train_bb.numel() != num_train * num_sequences * 4:
            raise InputError(
                f"train_bb must be [{num_train}, {num_sequences}, 4] xywh, got {list(train_bb.shape)}")
        if test_proposals.shape[-1] != 4 or test_proposals.numel() % (num_test * num_sequences * 4):
            raise InputError(
                f"test_proposals must be [{num_test}, {num_sequences}, N, 4] xywh, "
                f"got {list(test_proposals.shape)}")
        train_feat = self.iou_features(train_imgs.reshape(-1, *train_imgs.shape[-3:]))
        test_feat = self.iou_features(test_imgs.reshape(-1, *test_imgs.shape[-3:]))
        return self.iou_net(train_feat, test_feat,
                            train_bb.reshape(num_train, num_sequences, 4),
                            test_proposals.reshape(num_test, num_sequences, -1, 4))

    def _refine(self, layer: str, feat: torch.Tensor) -> torch.Tensor:
        return self.iou_attention[layer](feat) if layer in self.iou_attention else feat
