"""SCS-Siam training (SPEC 2.3-2.4): soft-masked SiamFC pairs, balanced logistic loss, SGD.

One step: template and search crops (127 / 255 px) and their soft-masked copies (every pixel outside
the target box times 0.9) go through ``ScsSiamNet.forward`` -> ``[N, 1, 17, 17]`` responses; the label
is +1 within 16 px (2 cells at total stride 8) of the target's position on the map and -1 elsewhere;
the loss is the logistic loss with positives and negatives weighted to half of the total each.
SGD, momentum 0.9, weight decay 1e-5; the learning rate decays exponentially, per step, from 1e-2 to
1e-5 over the run. BatchNorm runs in training mode.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from export.models.scs_siam import TOTAL_STRIDE, ScsSiamNet, soft_mask
from training.config import TrainConfig
from training.crops import SiamCropParams, siam_pair
from training.losses import balanced_logistic_loss, disc_labels

SOFT_MASK_SIGMA = 0.9  # background weight of the soft-masked copies at training (SPEC 2.3)
LABEL_RADIUS_PX = 16.0  # positives within this many search-crop px of the target (SiamFC)


def response_centers(template_box: torch.Tensor, search_box: torch.Tensor, stride: int = TOTAL_STRIDE
                     ) -> torch.Tensor:
    """Where each pair's target lies on its response map, ``[N, 2]`` ``(x, y)`` in cells.

    Response cell ``u`` correlates the template with the search window shifted by ``stride * u`` px,
    so a target at search-crop position ``p`` answers at ``u = (p - c) / stride``, ``c`` the target's
    centre in the template crop (both crops pass through the same network, so any fixed alignment
    offset of its feature grid cancels). With the target centred in both crops (127 / 255) this is
    cell 8 of 17, the centre; the search-crop shift augmentation moves it by up to one cell.
    """
    template_center = template_box[:, :2] + template_box[:, 2:] / 2.0
    search_center = search_box[:, :2] + search_box[:, 2:] / 2.0
    return (search_center - template_center) / stride


class SiamObjective(nn.Module):
    """Loss of a batch of pairs; wraps the network so that DistributedDataParallel sees one module.

    ``forward(batch)`` takes the collated output of ``training.crops.siam_pair`` (uint8 crops, boxes in
    crop px) and returns ``{"loss": the balanced logistic loss}``.
    """

    def __init__(self, net: ScsSiamNet, sigma: float = SOFT_MASK_SIGMA,
                 radius_px: float = LABEL_RADIUS_PX) -> None:
        super().__init__()
        self.net = net
        self.sigma = sigma
        self.radius_px = radius_px

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        template = batch["template"].float()
        search = batch["search"].float()
        template_box = batch["template_box"].float()
        search_box = batch["search_box"].float()
        response = self.net(template, search, soft_mask(template, template_box, self.sigma),
                            soft_mask(search, search_box, self.sigma))
        labels = disc_labels(response_centers(template_box, search_box), tuple(response.shape[-2:]),
                             self.radius_px / TOTAL_STRIDE)
        if "negative" in batch:  # a negative pair's search crop holds no target: every cell is negative
            labels = labels * (1.0 - batch["negative"].float().reshape(-1, 1, 1, 1))
        loss = balanced_logistic_loss(response, labels)
        return {"loss": loss}


def build_objective(net: nn.Module, config: TrainConfig) -> SiamObjective:
    if not isinstance(net, ScsSiamNet):
        raise TypeError(f"the siam recipe trains ScsSiamNet, got {type(net).__name__}")
    return SiamObjective(net)


def build_optimizer(objective: nn.Module, config: TrainConfig):
    """SGD with momentum and weight decay; lr x gamma per step, gamma so that lr reaches lr_end."""
    params = [p for p in objective.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    gamma = (config.lr_end / config.lr) ** (1.0 / config.steps)
    return optimizer, torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)


# The "tracking" augmentations (issue 17; docs/training.md, "Augmentations", says why each value).
TRACKING_SIAM = {"aspect_jitter": 0.1, "blur_probability": 0.1, "blur_max_length": 9, "colour": 0.1,
                 "negative_probability": 0.2, "distractor_fraction": 0.5}


def crop_params(config: TrainConfig) -> SiamCropParams:
    """The crop and augmentation parameters of a run (``config.augment``: basic or tracking)."""
    extra = TRACKING_SIAM if config.augment == "tracking" else {}
    return SiamCropParams(template_size=config.template_size, search_size=config.search_size, **extra)


def sample_maker(config: TrainConfig):
    """``(frame, box, frame, box, rng, other) -> sample`` of this recipe (picklable, for worker processes)."""
    return functools.partial(siam_pair, params=crop_params(config))
