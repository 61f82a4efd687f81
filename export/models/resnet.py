"""ResNet-18 trunk, optionally with iAFF residual fusion in chosen layers (SPEC 1.3).

A BasicBlock computes ``relu(shortcut(x) + residual(x))``; in the layers named in ``iaff_layers`` the
sum becomes ``relu(iAFF(shortcut(x), residual(x)))``. With ``iaff_layers=()`` this is a plain ResNet-18.

State-dict keys are torchvision's / pytracking's (``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
``layer2.0.downsample.0``/``.1``), so a plain ATOM or ImageNet ResNet-18 checkpoint loads as is; the
iAFF modules add keys under their block (``layer3.0.fuse.att1.local_att.0.weight``, ...). There is no
avgpool/fc: the trackers only read feature maps.

Input: ``[N, 3, H, W]`` already normalised (the tracker networks normalise; see ``AtomNet``).
Output strides: conv1 2, layer1 4, layer2 8, layer3 16, layer4 32.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from edge_tracker.errors import ConfigError, InputError
from export.models.fusion import IAFF

LAYER_NAMES = ("layer1", "layer2", "layer3", "layer4")
OUTPUT_NAMES = ("conv1",) + LAYER_NAMES


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut; ``fuse`` (an iAFF) replaces the residual sum if given."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, iaff_reduction: int | None = None
                 ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        self.fuse = IAFF(planes, iaff_reduction) if iaff_reduction is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.downsample is None else self.downsample(x)
        if self.fuse is None:
            return self.relu(shortcut + residual)
        return self.relu(self.fuse(shortcut, residual))


class ResNet18(nn.Module):
    """ResNet-18 feature trunk; ``forward(x, output_layers)`` returns the requested feature maps.

    Args:
        iaff_layers: layers whose blocks fuse with iAFF instead of a sum; ``()`` is plain ResNet-18.
        iaff_reduction: MS-CAM bottleneck ratio r inside the iAFF modules.
        width: channels of the stem and layer1, doubled per layer (64 is ResNet-18; 32 has 1/4 of its
            weights and about 1/4 of its multiply-adds).
    """

    strides = {"conv1": 2, "layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}

    def __init__(self, iaff_layers: Sequence[str] = ("layer3", "layer4"), iaff_reduction: int = 4,
                 width: int = 64) -> None:
        super().__init__()
        unknown = sorted(set(iaff_layers) - set(LAYER_NAMES))
        if unknown:
            raise ConfigError(f"iaff_layers {unknown} are not ResNet layers; valid: {list(LAYER_NAMES)}")
        self.iaff_layers = tuple(name for name in LAYER_NAMES if name in iaff_layers)
        self.channels = {"conv1": width, **{name: width * 2 ** i for i, name in enumerate(LAYER_NAMES)}}
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = width
        for index, name in enumerate(LAYER_NAMES):
            planes = width * 2 ** index
            reduction = iaff_reduction if name in self.iaff_layers else None
            stride = 1 if index == 0 else 2
            layer = nn.Sequential(BasicBlock(inplanes, planes, stride, reduction),
                                  BasicBlock(planes, planes, 1, reduction))
            self.add_module(name, layer)
            inplanes = planes
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's initialisation; real weights come from a checkpoint
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor, output_layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """Feature maps of ``output_layers`` (names in ``OUTPUT_NAMES``), ``{name: [N, C, H/s, W/s]}``.

        Computes only up to the deepest requested layer. ``conv1`` is the stem output after ReLU,
        before the max pool (pytracking's convention).
        """
        if isinstance(output_layers, str):
            output_layers = (output_layers,)
        wanted = set(output_layers)
        unknown = sorted(wanted - set(OUTPUT_NAMES))
        if unknown or not wanted:
            raise ConfigError(
                f"output_layers must name at least one of {list(OUTPUT_NAMES)}, got {list(output_layers)}")
        if x.dim() != 4 or x.shape[1] != 3:
            raise InputError(f"ResNet18 input must be [N, 3, H, W], got {list(x.shape)}")
        deepest = max(OUTPUT_NAMES.index(name) for name in wanted)
        outputs: dict[str, torch.Tensor] = {}
        x = self.relu(self.bn1(self.conv1(x)))
        if "conv1" in wanted:
            outputs["conv1"] = x
        x = self.maxpool(x)
        for name in OUTPUT_NAMES[1:deepest + 1]:
            x = getattr(self, name)(x)
            if name in wanted:
                outputs[name] = x
        return {name: outputs[name] for name in output_layers}
