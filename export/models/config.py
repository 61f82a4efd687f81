"""Architecture records: what a checkpoint must say to rebuild its network exactly.

One frozen dataclass per network family. A record is stored inside every checkpoint and every ONNX
manifest, so a file always says which network it holds. ``config_from_dict`` rejects unknown keys
and names the valid ones: a misspelled key is an error, never silently ignored.

Image convention for every network here: float32 ``[N, 3, H, W]``, RGB, values 0..255. Each network
normalises internally, so the runtime only crops and resizes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Union

from edge_tracker.errors import ConfigError
from edge_tracker.names import ATOM_TRACKERS, SIAM_TRACKERS, TRACKERS  # noqa: F401 - re-exported
from edge_tracker.preprocess.geometry import ATOM_SAMPLE_SIZE, SIAMFC_SEARCH_SIZE, SIAMFC_TEMPLATE_SIZE


@dataclass(frozen=True)
class SiamConfig:
    """SCS-Siam and its ablation variants (SPEC 2)."""

    tracker: str = "scs-siam"  # "scs-siam" (channel then spatial), "sca-siam" (channel), "ssa-siam" (spatial)
    template_size: int = SIAMFC_TEMPLATE_SIZE  # template crop side at inference, px (127 at training)
    search_size: int = SIAMFC_SEARCH_SIZE  # search crop side at inference, px (255 at training)
    num_scales: int = 3  # search scales batched into one inference call
    channel_reduction: int = 16  # channel attention bottleneck: C -> C / channel_reduction
    spatial_reduction: int = 8  # spatial attention transform bottleneck: C -> C / spatial_reduction
    response_scale: float = 0.001  # multiplies the raw cross-correlation, as SiamFC does

    def __post_init__(self) -> None:
        _check_choice("tracker", self.tracker, SIAM_TRACKERS)
        _check_positive(self, "template_size", "search_size", "num_scales", "channel_reduction",
                        "spatial_reduction")

    @property
    def channel_attention(self) -> bool:
        return self.tracker in ("scs-siam", "sca-siam")

    @property
    def spatial_attention(self) -> bool:
        return self.tracker in ("scs-siam", "ssa-siam")


@dataclass(frozen=True)
class AtomConfig:
    """AFF-ATOM (SPEC 1) and the plain ATOM configuration it is compared with."""

    tracker: str = "aff-atom"  # "aff-atom" (iAFF ResNet-18, layer3+layer4) or "atom" (plain, pytracking shapes)
    sample_size: int = ATOM_SAMPLE_SIZE  # side of the square search crop fed to the backbone, px
    mscam_reduction: int = 4  # MS-CAM bottleneck ratio r (SPEC 1.1)
    backbone_width: int = 64  # ResNet-18 stem/layer1 channels, doubled per layer (64: the standard trunk)
    iou_pred_dim: int = 256  # IoU-Net modulation / test-feature channels (pytracking pred_input_dim)
    iou_inter_dim: int = 256  # IoU-Net fully connected width (pytracking pred_inter_dim)
    cls_proj_dim: int = 64  # online classifier: channels after the learned 1x1 projection
    cls_filter_size: int = 4  # online classifier: side of the learned filter, feature cells
    response_alpha: float = 0.05  # "mlu" response activation threshold (SPEC 1.6)
    fusion_eps: float = 1e-3  # floor of a layer's confidence in the fused response (SPEC 1.4)
    num_proposals: int = 10  # boxes refined per frame by the IoU-Net (classifier box + jittered)
    refine_iterations: int = 5  # gradient-ascent steps, unrolled inside the refinement graph
    refine_step: float = 1.0  # step length: box += step * grad * [w, h, w, h]
    refine_step_decay: float = 1.0  # step length multiplier after each step
    # the classifier's learning graphs (export/classifier_phases.py): sizes and counts they fix
    learner_init_samples: int = 30  # first-frame sample slots of classifier_init (unused slots weigh 0)
    learner_memory_size: int = 250  # sample-memory slots of the update graphs (memory_size may be smaller)
    learner_init_cg_iterations: int = 10  # CG iterations of classifier_init's one Gauss-Newton step
    learner_update_cg_iterations: int = 5  # CG iterations of classifier_update's Gauss-Newton step

    def __post_init__(self) -> None:
        _check_choice("tracker", self.tracker, ATOM_TRACKERS)
        _check_positive(self, "sample_size", "mscam_reduction", "backbone_width", "iou_pred_dim", "iou_inter_dim",
                        "cls_proj_dim", "cls_filter_size", "num_proposals", "response_alpha",
                        "fusion_eps")
        if self.refine_iterations < 0:
            raise ConfigError(f"refine_iterations must be >= 0, got {self.refine_iterations}")
        _check_positive(self, "learner_init_samples", "learner_memory_size", "learner_init_cg_iterations",
                        "learner_update_cg_iterations")
        if self.backbone_width % self.mscam_reduction != 0:
            raise ConfigError(
                f"backbone_width ({self.backbone_width}) must be a multiple of mscam_reduction "
                f"({self.mscam_reduction}), so that every MS-CAM bottleneck has whole channels")
        if self.sample_size % 32 != 0:
            raise ConfigError(
                f"sample_size must be a multiple of 32 (the layer4 stride), got {self.sample_size}; "
                f"try {round(self.sample_size / 32) * 32}")

    def layer_channels(self, layer: str) -> int:
        """Channels of a backbone layer's output: ``backbone_width * 2 ** (k - 1)`` for layer k."""
        return self.backbone_width * LAYER_CHANNELS[layer] // LAYER_CHANNELS["layer1"]

    @property
    def iaff(self) -> bool:
        """iAFF residual fusion in layer3/layer4 (SPEC 1.3)."""
        return self.tracker == "aff-atom"

    @property
    def iou_layers(self) -> tuple[str, str]:
        """Backbone layers the IoU-Net reads (AFF-ATOM: MS-CAM refined layer3/4; ATOM: layer2/3)."""
        return ("layer3", "layer4") if self.tracker == "aff-atom" else ("layer2", "layer3")

    @property
    def classifier_layers(self) -> tuple[str, ...]:
        """Backbone layers that get an online classifier (SPEC 1.4)."""
        return ("layer3", "layer4") if self.tracker == "aff-atom" else ("layer3",)


ModelConfig = Union[SiamConfig, AtomConfig]

# the standard ResNet-18 (backbone_width 64); AtomConfig.layer_channels scales them
LAYER_CHANNELS = {"layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512}
LAYER_STRIDES = {"layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}


def default_config(tracker: str) -> ModelConfig:
    """The default architecture record for a tracker name."""
    _check_choice("tracker", tracker, TRACKERS)
    return SiamConfig(tracker=tracker) if tracker in SIAM_TRACKERS else AtomConfig(tracker=tracker)


def config_from_dict(data: dict[str, Any]) -> ModelConfig:
    """Rebuild a config from ``config_to_dict`` output; unknown keys are an error."""
    if not isinstance(data, dict) or "tracker" not in data:
        raise ConfigError(f"an architecture record must be a dict with a 'tracker' key, got {data!r}")
    _check_choice("tracker", data["tracker"], TRACKERS)
    cls = SiamConfig if data["tracker"] in SIAM_TRACKERS else AtomConfig
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - valid)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown} for {cls.__name__}; valid keys are {sorted(valid)}")
    return cls(**data)


def config_to_dict(config: ModelConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def config_to_json(config: ModelConfig) -> str:
    return json.dumps(config_to_dict(config), sort_keys=True)


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {list(choices)}, got {value!r}")


def _check_positive(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if not value > 0:
            raise ConfigError(f"{name} must be > 0, got {value!r}")
