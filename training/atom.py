"""AFF-ATOM and ATOM training: IoU-Net regression plus a correlation loss that trains the backbone.

ATOM trains only its IoU-Net, on top of an ImageNet ResNet-18 that stays frozen. There are no
ImageNet weights here, and AFF-ATOM's iAFF backbone has none anywhere, so the backbone gets its own
signal (docs/training.md explains the choice):

- **IoU loss** (ATOM): MSE between the predicted and the true IoU of 16 proposals per test crop,
  both on pytracking's scale ``2 IoU - 1`` (so a pytracking checkpoint and ours predict alike).
  Gradients reach the IoU-Net, AFF-ATOM's MS-CAM input attention and the backbone.
- **Correlation loss** on every classifier layer (``cls_layer3``; ``cls_layer4`` too for AFF-ATOM):
  a ``k x k`` template cut from the reference crop's features around the (centred) target is
  cross-correlated with the test crop's features (zero padding, output on the feature grid), a
  BatchNorm "adjust" (one scale and one bias, as SiamFC's) makes it a score map, and the balanced
  logistic loss compares it with a Gaussian label at the target's true position in the test crop,
  sigma = 1/4 of the target size in cells (ATOM's classifier label), at least 0.5 cell. This is the
  task the online classifier solves at run time (a small filter that fires on the target and not
  on its surroundings), so it teaches the features it needs: discriminative and locally aligned.

Total loss = ``iou_mse + corr_weight * mean over layers of the correlation losses`` (lambda = 1 by
default). Adam, lr 1e-3 after a linear warm-up (5% of the run, at most 1000 steps), x0.2 every 30%
of the run (pytracking: Adam 1e-3, StepLR 15 of 50 epochs, gamma 0.2). BatchNorm in training mode,
except a frozen backbone (``--freeze-backbone``), whose weights and BN statistics stay fixed; the
correlation loss is then off (it trains only the backbone). The "adjust" layers live in the
objective, not in the network: they are saved in ``last.pt`` but not in the exported checkpoint,
which the tracker does not need them in.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from edge_tracker.errors import ConfigError
from export.models.atom_net import AtomNet
from export.models.config import LAYER_STRIDES
from training.config import TrainConfig
from training.crops import AtomCropParams, atom_pair
from training.losses import balanced_logistic_loss, gaussian_labels

SEARCH_AREA_FACTOR = 5.0  # crop side / sqrt(target area) (ATOM)
LABEL_SIGMA_FACTOR = 0.25  # label sigma / target size, both in feature cells (ATOM's classifier)
MIN_LABEL_SIGMA = 0.5  # cells; keeps layer4's label (target ~1.8 cells) from collapsing to one cell
LR_STEP_FRACTION = 0.3  # the learning rate drops x LR_GAMMA every this fraction of the run
LR_GAMMA = 0.2
WARMUP_STEPS_MAX = 1000  # linear learning-rate warm-up: 5% of the run, at most this many steps


def template_cells(sample_size: int, stride: int) -> int:
    """Odd template side in cells covering the target (``sample_size / 5`` px): 5 on layer3, 3 on layer4."""
    target_cells = sample_size / SEARCH_AREA_FACTOR / stride
    return 2 * math.ceil(target_cells / 2.0) + 1


def correlation_map(template: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Cross-correlate each sample's template with its own features, zero-padded to the same grid.

    Args:
        template: ``[N, C, k, k]``, k odd. features: ``[N, C, H, W]``.

    Returns:
        ``[N, 1, H, W]``, the mean product per template element (sum / (C k k)); cell ``u`` holds the
        template centred on feature cell ``u``.
    """
    n, channels, height, width = features.shape
    k = template.shape[-1]
    raw = F.conv2d(features.reshape(1, n * channels, height, width), template, padding=k // 2, groups=n)
    return raw.reshape(n, 1, height, width) / float(channels * k * k)


class AtomObjective(nn.Module):
    """Loss of a batch of ATOM pairs; wraps the network so that DistributedDataParallel sees one module.

    ``forward(batch)`` takes the collated output of ``training.crops.atom_pair`` and returns
    ``{"loss", "iou_mse", "corr"}`` (``corr`` only when the correlation loss is on).
    """

    def __init__(self, net: AtomNet, corr_weight: float = 1.0, freeze_backbone: bool = False) -> None:
        super().__init__()
        self.net = net
        self.corr_weight = corr_weight
        self.freeze_backbone = freeze_backbone
        config = net.config
        if freeze_backbone:
            net.backbone.requires_grad_(False)
        elif config.tracker == "atom":
            # plain ATOM reads layer2/layer3 only; layer4 exists in the network but is never run
            net.backbone.layer4.requires_grad_(False)
        layers = config.classifier_layers if corr_weight > 0 and not freeze_backbone else ()
        # SiamFC's "adjust": one learned scale and bias on each correlation map (BatchNorm on 1 channel)
        self.adjust = nn.ModuleDict({layer: nn.BatchNorm2d(1) for layer in layers})

    def train(self, mode: bool = True) -> AtomObjective:
        super().train(mode)
        if self.freeze_backbone:
            self.net.backbone.eval()  # frozen means the BN statistics too
        return self

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        train_image = batch["train_image"].float()
        test_image = batch["test_image"].float()
        train_box = batch["train_box"].float()
        test_box = batch["test_box"].float()
        proposals = batch["proposals"].float()
        n = train_image.shape[0]
        # one backbone pass over both crops (BatchNorm sees the reference and test crops together)
        feats = self.net.extract(torch.cat([train_image, test_image]))
        iou_layers = self.net.config.iou_layers
        predicted = self.net.iou_net([feats[f"iou_{layer}"][:n] for layer in iou_layers],
                                     [feats[f"iou_{layer}"][n:] for layer in iou_layers],
                                     train_box[None], proposals[None])[0]
        iou_mse = F.mse_loss(predicted, 2.0 * batch["proposal_iou"].float() - 1.0)
        out = {"iou_mse": iou_mse.detach()}
        loss = iou_mse
        if len(self.adjust):
            negative = batch["negative"].float() if "negative" in batch else torch.zeros_like(train_box[:, 0])
            corr = torch.stack([self._correlation_loss(layer, feats[f"cls_{layer}"], train_box, test_box, n,
                                                       negative) for layer in self.adjust]).mean()
            loss = loss + self.corr_weight * corr
            out["corr"] = corr.detach()
        out["loss"] = loss
        return out

    def _correlation_loss(self, layer: str, feats: torch.Tensor, train_box: torch.Tensor,
                          test_box: torch.Tensor, n: int, negative: torch.Tensor) -> torch.Tensor:
        stride = LAYER_STRIDES[layer]
        size = feats.shape[-1] * stride  # the crop side (a multiple of 32)
        k = template_cells(size, stride)
        # The reference crop is centred on its target (no jitter), at size / 2 px: cut the k x k
        # template around the cell that holds that point.
        center_cell = int((size / 2.0) // stride)
        lo = center_cell - k // 2
        if lo < 0 or lo + k > min(feats.shape[-2:]):
            raise ConfigError(f"a {size} px crop gives {layer} a {tuple(feats.shape[-2:])} grid, too small for "
                              f"the {k}x{k} correlation template; use a sample size of at least 96 px")
        template = feats[:n, :, lo:lo + k, lo:lo + k]
        score = self.adjust[layer](correlation_map(template, feats[n:]))
        # Cell u holds the template moved by (u - center_cell) * stride px: the target, at
        # test-centre - train-centre px from where the template was cut, answers at:
        train_center = train_box[:, :2] + train_box[:, 2:] / 2.0
        test_center = test_box[:, :2] + test_box[:, 2:] / 2.0
        centers = center_cell + (test_center - train_center) / stride
        target_cells = torch.sqrt(test_box[:, 2] * test_box[:, 3]) / stride
        sigmas = (LABEL_SIGMA_FACTOR * target_cells).clamp_min(MIN_LABEL_SIGMA)
        height, width = score.shape[-2:]
        labels = gaussian_labels(centers, (height, width), sigmas)
        # a target whose centre left the crop has no place on the map: leave that pair out
        valid = ((centers[:, 0] >= 0) & (centers[:, 0] <= width - 1)
                 & (centers[:, 1] >= 0) & (centers[:, 1] <= height - 1))
        # a distractor pair (another sequence's test crop): no cell holds the target, all are negatives
        labels = labels * (1.0 - negative.reshape(-1, 1, 1, 1))
        valid = valid | (negative > 0)
        return balanced_logistic_loss(score, labels, valid)


def build_objective(net: nn.Module, config: TrainConfig) -> AtomObjective:
    if not isinstance(net, AtomNet):
        raise TypeError(f"the atom recipe trains AtomNet, got {type(net).__name__}")
    return AtomObjective(net, corr_weight=config.corr_weight, freeze_backbone=config.freeze_backbone)


class WarmupStepSchedule:
    """Learning-rate factor of step ``t``: linear warm-up over ``warmup`` steps, then x ``gamma`` every
    ``step_size`` steps. A class, not a lambda, so that ``LambdaLR.state_dict`` stores its values."""

    def __init__(self, warmup: int, step_size: int, gamma: float) -> None:
        self.warmup, self.step_size, self.gamma = warmup, step_size, gamma

    def __call__(self, step: int) -> float:
        warm = min(1.0, (step + 1) / self.warmup) if self.warmup > 0 else 1.0
        return warm * self.gamma ** (step // self.step_size)


def build_optimizer(objective: nn.Module, config: TrainConfig):
    """Adam; linear warm-up, then the learning rate x0.2 every 30% of the run (pytracking's StepLR
    15 of 50 epochs). The warm-up (5% of the run, at most 1000 steps) is ours: pytracking starts
    Adam at full rate on a pretrained, frozen backbone; from scratch the first full-rate steps make
    the IoU predictions jump (seen on CPU test runs)."""
    params = [p for p in objective.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    schedule = WarmupStepSchedule(warmup=min(WARMUP_STEPS_MAX, config.steps // 20),
                                  step_size=max(1, round(LR_STEP_FRACTION * config.steps)), gamma=LR_GAMMA)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=schedule)


# The "tracking" augmentations (issue 17; docs/training.md, "Augmentations", says why each value).
TRACKING_ATOM = {"aspect_jitter": 0.1, "blur_probability": 0.1, "blur_max_length": 9, "colour": 0.1,
                 "hard_negative_proposals": 2, "negative_probability": 0.05}


def crop_params(config: TrainConfig) -> AtomCropParams:
    """The crop and augmentation parameters of a run (``config.augment``: basic or tracking)."""
    extra = TRACKING_ATOM if config.augment == "tracking" else {}
    return AtomCropParams(sample_size=config.sample_size, search_area_factor=SEARCH_AREA_FACTOR, **extra)


def sample_maker(config: TrainConfig):
    """``(frame, box, frame, box, rng, other) -> sample`` of this recipe (picklable, for worker processes)."""
    return functools.partial(atom_pair, params=crop_params(config))
