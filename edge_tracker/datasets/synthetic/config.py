"""What shapes a synthetic sequence: :class:`SyntheticConfig` (validated on construction), the kinds
of background, texture and shape it can name, and the fixed rendering resolutions it does not expose.

Lengths are frame pixels, speeds pixels (or degrees) per frame, intensities 8-bit levels (0..255).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edge_tracker.errors import ConfigError
from edge_tracker.params import params_from_dict

BACKGROUNDS = ("mixed", "noise", "stripes", "checker", "blobs", "constant")
TEXTURES = ("noise", "stripes", "checker", "blobs")  # what "mixed" draws from
SHAPES = ("ellipse", "rounded_rect", "polygon")

# Fixed resolutions shared by textures, shapes and rendering. They are not config fields: changing
# one changes every generated frame, and byte-identical output per seed is a promise of the generator.
_SUPERSAMPLE = 2.0  # object textures are rendered at this many texels per base-size pixel
_SUBPIXEL_BITS = 4  # cv2.fillPoly fractional bits: vertices are placed to 1/16 px


@dataclass(frozen=True)
class SyntheticConfig:
    """Everything that shapes a synthetic sequence; every nuisance can be turned off (0).

    Lengths are in frame pixels, speeds in pixels (or degrees) per frame, intensities in 8-bit
    levels (0..255). Build from a dict with ``SyntheticConfig.from_dict`` (unknown keys are
    refused with the valid ones listed); ``SyntheticConfig.clean(...)`` turns all nuisances off.
    """

    # -- frame --------------------------------------------------------------------------------
    width: int = 320  # frame width, px
    height: int = 240  # frame height, px
    num_frames: int = 100  # frames per sequence, >= 1
    # -- target appearance --------------------------------------------------------------------
    object_size_min: float = 28.0  # smallest initial target size sqrt(w*h) of its base rectangle, px
    object_size_max: float = 64.0  # largest initial target size, px
    aspect_min: float = 0.5  # smallest initial aspect ratio w/h of the base rectangle
    aspect_max: float = 2.0  # largest initial aspect ratio w/h (drawn log-uniformly in between)
    similar_palette_probability: float = 0.3  # chance the target reuses a jittered background palette
    # -- target motion ------------------------------------------------------------------------
    speed_min: float = 0.5  # slowest target speed, px/frame (the velocity is clamped into the range)
    speed_max: float = 4.0  # fastest target speed, px/frame
    acceleration_std: float = 0.3  # std of the Gaussian velocity change per axis, px/frame^2
    max_outside: float = 0.25  # share of the box width/height that may leave the frame before a bounce, 0..0.5
    # -- leaving the view and coming back (off unless leave_frames > 0) -----------------------
    leave_frames: int = 0  # frames the target spends wholly outside the frame (NaN ground truth); 0: never leaves
    leave_at: float = 0.4  # the target starts to leave at this share of the sequence, 0 < leave_at < 1
    leave_speed: float = 6.0  # px/frame while it leaves and comes back, straight through the nearest border
    return_shift: float = 0.0  # it comes back this share of the border's length away from where it left, 0..1
    # -- target deformation -------------------------------------------------------------------
    scale_step_std: float = 0.006  # std of the log-scale random walk's per-frame kick (0: constant scale)
    scale_min: float = 0.6  # lower limit of the scale relative to frame 0, <= 1
    scale_max: float = 1.6  # upper limit of the scale relative to frame 0, >= 1
    rotation_speed_max: float = 1.0  # rotation speed drawn uniformly in +-this, deg/frame (clockwise +)
    aspect_step_std: float = 0.004  # std of the log-aspect random walk's per-frame kick (0: constant)
    aspect_change_max: float = 1.3  # the aspect ratio stays within [a0 / this, a0 * this], >= 1
    # -- occlusion ----------------------------------------------------------------------------
    occlusion_probability: float = 0.3  # chance a sequence has an occluder crossing the target, 0..1
    occluder_size_min: float = 0.6  # smallest occluder size, as a multiple of the target's initial size
    occluder_size_max: float = 1.2  # largest occluder size, as a multiple of the target's initial size
    occluder_speed_min: float = 1.5  # slowest occluder speed, px/frame (faster if needed to start clear)
    occluder_speed_max: float = 5.0  # fastest occluder speed, px/frame (before that adjustment)
    # -- distractors --------------------------------------------------------------------------
    distractors_max: int = 2  # 0..this look-alike objects (drawn uniformly), moving on their own
    # -- motion blur --------------------------------------------------------------------------
    motion_blur_probability: float = 0.3  # chance a sequence has motion blur, 0..1
    motion_blur_exposure: float = 0.6  # blur length = this x the object's displacement that frame
    # -- illumination -------------------------------------------------------------------------
    gain_step_std: float = 0.01  # std of the log-gain random walk's per-frame kick (0: gain 1)
    gain_min: float = 0.7  # lower limit of the global gain, <= 1
    gain_max: float = 1.3  # upper limit of the global gain, >= 1
    offset_step_std: float = 0.5  # std of the brightness-offset random walk's kick, levels/frame
    offset_max: float = 20.0  # the offset stays within +-this, levels
    light_gradient_strength: float = 0.25  # brightness factor varies by +-this across the frame, 0..1
    light_rotation_speed_max: float = 2.0  # the gradient direction turns at up to this, deg/frame
    # -- camera -------------------------------------------------------------------------------
    camera_speed_max: float = 0.5  # background drift speed, px/frame (within a 24 px margin)
    noise_std: float = 3.0  # std of additive Gaussian pixel noise, levels
    jpeg_quality: int = 0  # re-encode each frame as JPEG at this quality, 1..100 (0: off)
    # -- background ---------------------------------------------------------------------------
    background: str = "mixed"  # one of BACKGROUNDS; "mixed" picks a textured kind per sequence
    background_color: tuple[int, int, int] | None = None  # BGR colour of "constant" (None: random)

    def __post_init__(self) -> None:
        if self.background_color is not None:
            try:
                color = tuple(int(v) for v in self.background_color)
            except (TypeError, ValueError) as err:
                raise ConfigError(f"background_color must be 3 integers B, G, R in 0..255 or None; "
                                  f"got {self.background_color!r}") from err
            if len(color) != 3 or not all(0 <= v <= 255 for v in color):
                raise ConfigError(f"background_color must be 3 integers B, G, R in 0..255 or None; "
                                  f"got {self.background_color!r}")
            object.__setattr__(self, "background_color", color)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("background", "background_color"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{f.name} must be a finite number; got {value!r}")
            if value < 0:
                raise ConfigError(f"{f.name} must be >= 0; got {value!r}")
        for name in ("width", "height", "num_frames", "distractors_max", "jpeg_quality", "leave_frames"):
            if int(getattr(self, name)) != getattr(self, name):
                raise ConfigError(f"{name} must be an integer; got {getattr(self, name)!r}")
        if self.width < 16 or self.height < 16:
            raise ConfigError(f"frame size {self.width}x{self.height} is too small; width and height must be >= 16")
        if self.num_frames < 1:
            raise ConfigError(f"num_frames must be >= 1; got {self.num_frames}")
        if self.jpeg_quality > 100:
            raise ConfigError(f"jpeg_quality must be 0 (off) or 1..100; got {self.jpeg_quality}")
        if self.background not in BACKGROUNDS:
            raise ConfigError(f"background must be one of {list(BACKGROUNDS)}; got {self.background!r}")
        positive = ("object_size_min", "aspect_min", "scale_min", "gain_min", "aspect_change_max")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0; got {getattr(self, name)!r}")
        for low, high in (("object_size_min", "object_size_max"), ("aspect_min", "aspect_max"),
                          ("speed_min", "speed_max"), ("occluder_size_min", "occluder_size_max"),
                          ("occluder_speed_min", "occluder_speed_max"), ("scale_min", "scale_max"),
                          ("gain_min", "gain_max")):
            if getattr(self, low) > getattr(self, high):
                raise ConfigError(f"{low} ({getattr(self, low)}) must not exceed {high} ({getattr(self, high)})")
        for name in ("similar_palette_probability", "occlusion_probability", "motion_blur_probability",
                     "light_gradient_strength"):
            if getattr(self, name) > 1:
                raise ConfigError(f"{name} must lie in 0..1; got {getattr(self, name)!r}")
        if self.max_outside > 0.5:
            raise ConfigError(f"max_outside must lie in 0..0.5 (0.5 lets the centre reach the border); "
                              f"got {self.max_outside}")
        if self.occlusion_probability > 0 and self.occluder_size_min <= 0:
            raise ConfigError("occluder_size_min must be > 0 when occlusion_probability > 0")
        if not self.scale_min <= 1.0 <= self.scale_max:
            raise ConfigError(f"scale limits are relative to frame 0, so scale_min <= 1 <= scale_max; "
                              f"got {self.scale_min}..{self.scale_max}")
        if not self.gain_min <= 1.0 <= self.gain_max:
            raise ConfigError(f"gain limits must bracket 1 (gain_min <= 1 <= gain_max); "
                              f"got {self.gain_min}..{self.gain_max}")
        if not 0 < self.leave_at < 1:
            raise ConfigError(f"leave_at must lie strictly between 0 and 1 (a share of the sequence; frame 0 "
                              f"shows the target); got {self.leave_at}")
        if self.leave_frames > 0 and self.leave_speed <= 0:
            raise ConfigError(f"leave_speed must be > 0 when leave_frames > 0; got {self.leave_speed}")
        if self.return_shift > 1:
            raise ConfigError(f"return_shift must lie in 0..1 (a share of the border's length); got {self.return_shift}")
        if self.aspect_change_max < 1:
            raise ConfigError(f"aspect_change_max is a factor >= 1; got {self.aspect_change_max}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyntheticConfig:
        """Build from a dict, refusing unknown keys (``ConfigError`` lists the valid ones)."""
        return params_from_dict(cls, dict(data))

    @classmethod
    def clean(cls, **changes: Any) -> SyntheticConfig:
        """A config with every nuisance off (no occluder, distractors, blur, illumination change,
        background drift, noise or JPEG), with ``changes`` applied on top. Motion and deformation
        keep their defaults unless changed."""
        base = dict(occlusion_probability=0.0, distractors_max=0, motion_blur_probability=0.0,
                    gain_step_std=0.0, offset_step_std=0.0, light_gradient_strength=0.0,
                    camera_speed_max=0.0, noise_std=0.0, jpeg_quality=0)
        base.update(changes)
        return cls.from_dict(base)


def _resolve_config(config: SyntheticConfig | Mapping[str, Any] | None) -> SyntheticConfig:
    """``generate_sequence``'s ``config`` argument as a config: None -> defaults, a dict -> from_dict."""
    if config is None:
        return SyntheticConfig()
    if isinstance(config, SyntheticConfig):
        return config
    if isinstance(config, Mapping):
        return SyntheticConfig.from_dict(config)
    raise ConfigError(f"config must be a SyntheticConfig, a dict or None; got {type(config).__name__}")
