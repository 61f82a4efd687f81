"""Procedural tracking sequences: textured objects moving over textured backgrounds.

Used for tests, smoke training, pretraining (SiamFC template/search pairs, ATOM's IoU predictor)
and for a demo clip that needs no downloaded data. numpy + OpenCV only, and deterministic: the same
``seed`` and config give byte-identical frames and boxes (every random draw comes from a
``np.random.default_rng`` built from the seed; no global RNG state is read or changed).

A sequence renders, per frame and in this order:

1. the **background**: a procedural texture (fractal value noise, stripes, checker, blobs, or a
   constant colour) larger than the frame, seen through a slowly drifting camera window;
2. the **distractors** (0..``distractors_max``): objects with textures of the target's kind and
   a jittered copy of its palette, each with its own motion, drawn *behind* the target;
3. the **target**: a random shape (ellipse, rounded rectangle, star-shaped polygon) with its own
   texture and a shaded rim, moved by a smooth random velocity that bounces off the borders,
   with a log-scale random walk, a constant rotation speed and an aspect-ratio random walk;
4. the **occluder** (with probability ``occlusion_probability``): an object on a straight line
   that crosses the target's path mid-sequence, drawn *in front of* the target;
5. **motion blur** (with probability ``motion_blur_probability`` per sequence): each moving
   object's layer is smeared along its own per-frame displacement;
6. **illumination**: a global gain/offset drift and a rotating linear light gradient;
7. **camera noise**: additive Gaussian noise and, optionally, a JPEG round trip.

**Ground-truth box** (the convention of ``edge_tracker.geometry``: float ``x, y, w, h``, 0-based,
``(x, y)`` the top-left corner, pixel ``(c, r)`` covering ``[c, c+1) x [r, r+1)``): the
axis-aligned bounding box of the part of the target that lies inside the frame ``[0, W] x [0, H]``,
computed exactly: the target's outline polygon, after its scale, aspect change, rotation and
sub-pixel translation, is clipped to the frame rectangle and the box bounds what remains. It is the
target's extent whether visible or hidden by the occluder (occlusion does not shrink it), and it
ignores the motion-blur smear. The mask that is composited is the area coverage of the same
polygon, so the box agrees with the rendered pixels to within one pixel.

**Visible fraction**: ``visible[t]`` = (share of the target's area that lies inside the frame) x
(share of its in-frame area not covered by the occluder), each measured on the rasterised masks;
1.0 exactly when the target is wholly inside the frame and not overlapped by the occluder.

CLI: ``python -m edge_tracker.datasets.synthetic OUT_DIR --count N --seed S --frames F [--video]``
writes GOT-10k style folders ``OUT_DIR/synthetic_0000/`` (``00000001.jpg ...``,
``groundtruth.txt``, ``absence.label``, ``cover.label``) and ``OUT_DIR/list.txt``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_tracker.errors import ConfigError, EdgeTrackerError, InputError
from edge_tracker.trackers.base import params_from_dict

BACKGROUNDS = ("mixed", "noise", "stripes", "checker", "blobs", "constant")
TEXTURES = ("noise", "stripes", "checker", "blobs")  # what "mixed" draws from
SHAPES = ("ellipse", "rounded_rect", "polygon")

_SUPERSAMPLE = 2.0  # object textures are rendered at this many texels per base-size pixel
_CAMERA_MARGIN = 24  # background texture extends this many px beyond each frame border
_OUTLINE_POINTS = 64  # vertices of the ellipse / rounded-rectangle outlines
_SUBPIXEL_BITS = 4  # cv2.fillPoly fractional bits: vertices are placed to 1/16 px
_MASK_SUPERSAMPLE = 4  # masks are filled at this many samples per pixel and axis, then averaged


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
        for name in ("width", "height", "num_frames", "distractors_max", "jpeg_quality"):
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


@dataclass
class SyntheticSequence:
    """A rendered sequence and its ground truth.

    frames: ``[N, H, W, 3]`` uint8 BGR.
    boxes: ``[N, 4]`` float64 xywh target boxes (see the module docstring for the definition).
    visible: ``[N]`` float64 visible fraction of the target, 0..1.
    occluder_boxes: ``[N, 4]`` float64 xywh box of the occluder clipped to the frame; NaN rows
        where there is no occluder or it is outside the frame.
    """

    name: str
    seed: int
    config: SyntheticConfig
    frames: np.ndarray
    boxes: np.ndarray
    visible: np.ndarray
    occluder_boxes: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)  # what was drawn: background kind, shape, ...

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def write(self, folder: str | Path, jpeg_quality: int = 95) -> Path:
        """Write a GOT-10k style folder and return its path.

        Files: ``00000001.jpg ...`` (one per frame, in order), ``groundtruth.txt`` (``x,y,w,h``
        per line, ``%.2f``, 0-based), ``absence.label`` (1 where the target is wholly hidden, else
        0) and ``cover.label`` (``round(8 * visible)``, at least 1 while any part is visible).
        """
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(f"cannot create the folder {folder}: {err}") from err
        for index, frame in enumerate(self.frames, start=1):
            path = folder / f"{index:08d}.jpg"
            if not cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]):
                raise InputError(f"OpenCV could not write {path}; check that the folder is writable")
        np.savetxt(folder / "groundtruth.txt", self.boxes, fmt="%.2f", delimiter=",")
        absent = (self.visible <= 0).astype(np.int64)
        cover = np.where(absent == 1, 0, np.clip(np.rint(self.visible * 8), 1, 8)).astype(np.int64)
        np.savetxt(folder / "absence.label", absent, fmt="%d")
        np.savetxt(folder / "cover.label", cover, fmt="%d")
        return folder

    def write_video(self, path: str | Path, fps: float = 30.0) -> Path:
        """Write the frames as an MPEG-4 (``mp4v``) video and return its path."""
        path = Path(path)
        if fps <= 0:
            raise InputError(f"fps must be a positive number of frames per second; got {fps!r}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(f"cannot create the folder {path.parent}: {err}") from err
        height, width = self.frames.shape[1:3]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height))
        if not writer.isOpened():
            raise InputError(f"OpenCV cannot write {path} with the mp4v codec at {width}x{height}; check "
                             f"that the folder is writable and the name ends in .mp4 (or try .avi)")
        try:
            for frame in self.frames:
                writer.write(frame)
        finally:
            writer.release()
        return path


# -------------------------------------------------------------------------------------------------
# Textures
# -------------------------------------------------------------------------------------------------

def random_palette(rng: np.random.Generator, size: int | None = None) -> np.ndarray:
    """``[k, 3]`` float32 BGR colours (k = 2..5), ordered by brightness.

    Hues are spread around a random base hue by a random amount, so palettes range from nearly
    monochrome to multicoloured; saturation and value are drawn widely.
    """
    k = int(rng.integers(2, 6)) if size is None else size
    hue0 = rng.uniform(0, 180)
    spread = rng.uniform(5, 60)
    hsv = np.empty((1, k, 3), np.float32)
    hsv[0, :, 0] = (hue0 + rng.normal(0, spread, k)) % 180
    hsv[0, :, 1] = rng.uniform(30, 255, k)
    hsv[0, :, 2] = rng.uniform(35, 255, k)
    bgr = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)[0].astype(np.float32)
    return bgr[np.argsort(bgr.sum(axis=1))]


def jitter_palette(rng: np.random.Generator, palette: np.ndarray, amount: float = 18.0) -> np.ndarray:
    """A similar palette: every colour moved by up to ``amount`` levels per channel."""
    return np.clip(palette + rng.uniform(-amount, amount, palette.shape), 0, 255).astype(np.float32)


def apply_palette(values: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Map a ``[h, w]`` field in 0..1 through a palette (piecewise linear) to ``[h, w, 3]`` float32."""
    stops = np.linspace(0.0, 1.0, len(palette))
    levels = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(levels, stops, palette[:, c]) for c in range(3)], axis=1).astype(np.float32)
    index = np.clip(values * 255.0 + 0.5, 0, 255).astype(np.intp)
    return lut[index]


def fractal_noise(rng: np.random.Generator, height: int, width: int, cells: float | None = None,
                  octaves: int | None = None, persistence: float | None = None) -> np.ndarray:
    """Multi-octave value noise, ``[height, width]`` float32 normalised to 0..1.

    Octave ``i`` is a random grid of about ``cells * 2**i`` cells across the longer side, upsampled
    with bicubic interpolation and weighted by ``persistence**i``.
    """
    cells = rng.uniform(2.0, 6.0) if cells is None else cells
    octaves = int(rng.integers(3, 6)) if octaves is None else octaves
    persistence = rng.uniform(0.4, 0.65) if persistence is None else persistence
    longer = max(height, width)
    total = np.zeros((height, width), np.float32)
    for i in range(octaves):
        n = cells * 2 ** i
        gh = max(2, int(math.ceil(n * height / longer)) + 1)
        gw = max(2, int(math.ceil(n * width / longer)) + 1)
        if gh > height or gw > width:
            break
        grid = rng.random((gh, gw), dtype=np.float32)
        total += persistence ** i * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    low, high = float(total.min()), float(total.max())
    return (total - low) / max(high - low, 1e-6)


def _coordinates(height: int, width: int, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates rotated by ``angle`` radians: ``(u, v)``, each ``[h, w]`` float32."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    c, s = math.cos(angle), math.sin(angle)
    return xs * c + ys * s, -xs * s + ys * c


def make_texture(rng: np.random.Generator, height: int, width: int, kind: str, palette: np.ndarray,
                 texel: float = 1.0) -> np.ndarray:
    """A procedural ``[height, width, 3]`` float32 BGR texture (levels 0..255).

    kind: ``noise`` (fractal value noise through the palette), ``stripes`` (sine stripes at a random
    angle, period and sharpness, domain-warped by noise), ``checker`` (a rotated, softened
    checkerboard), ``blobs`` (anti-aliased ellipses of palette colours over noise) or
    ``constant`` (the palette's first colour). ``texel`` is texels per frame pixel: feature
    sizes scale with it so a supersampled texture looks the same once warped into the frame.
    Every non-constant kind is modulated by a low-frequency brightness noise.
    """
    if kind == "constant":
        return np.broadcast_to(palette[0], (height, width, 3)).astype(np.float32)
    if kind == "noise":
        image = apply_palette(fractal_noise(rng, height, width), palette)
    elif kind == "stripes":
        u, _ = _coordinates(height, width, rng.uniform(0, math.pi))
        period = rng.uniform(5.0, 24.0) * texel
        warp = (fractal_noise(rng, height, width, octaves=2) - 0.5) * rng.uniform(0, 2.5)
        wave = np.sin(2 * math.pi * u / period + warp * 2 * math.pi)
        sharp = rng.uniform(1.0, 6.0)
        image = apply_palette(0.5 + 0.5 * np.tanh(sharp * wave) / math.tanh(sharp), palette)
    elif kind == "checker":
        u, v = _coordinates(height, width, rng.uniform(0, math.pi / 2))
        cell = rng.uniform(6.0, 22.0) * texel
        board = ((np.floor(u / cell) + np.floor(v / cell)) % 2).astype(np.float32)
        board = cv2.GaussianBlur(board, (0, 0), 0.6 * texel)
        field_ = 0.75 * board + 0.25 * fractal_noise(rng, height, width)
        image = apply_palette(field_, palette)
    elif kind == "blobs":
        image = apply_palette(fractal_noise(rng, height, width), palette[: max(2, len(palette) // 2 + 1)])
        count = int(rng.integers(4, 14))
        scale = max(height, width)
        for _ in range(count):
            colour = palette[int(rng.integers(len(palette)))] + rng.uniform(-20, 20, 3)
            centre = (int(rng.uniform(0, width) * 16), int(rng.uniform(0, height) * 16))
            axes = (int(rng.uniform(0.04, 0.22) * scale * 16), int(rng.uniform(0.04, 0.22) * scale * 16))
            cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360,
                        tuple(float(c) for c in np.clip(colour, 0, 255)), -1, cv2.LINE_AA, _SUBPIXEL_BITS)
        image = cv2.GaussianBlur(image, (0, 0), 0.7 * texel)
    else:
        raise ConfigError(f"unknown texture kind {kind!r}; choose one of {list(TEXTURES) + ['constant']}")
    light = 0.85 + 0.3 * fractal_noise(rng, height, width, cells=rng.uniform(1.0, 2.5), octaves=2)
    return np.clip(image * light[..., None], 0, 255).astype(np.float32)


# -------------------------------------------------------------------------------------------------
# Shapes and objects
# -------------------------------------------------------------------------------------------------

def random_outline(rng: np.random.Generator, width: float, height: float, kind: str | None = None) -> np.ndarray:
    """A closed outline ``[n, 2]`` float64 (x, y) centred on the origin, inside ``width x height`` px.

    kind: ``ellipse`` (filling the rectangle), ``rounded_rect`` (corner radius 10-50% of the
    shorter half side) or ``polygon`` (5-9 vertices at jittered angles and 60-100% of the
    ellipse radius: star-shaped about the origin, so the origin is always inside).
    """
    kind = SHAPES[int(rng.integers(len(SHAPES)))] if kind is None else kind
    hw, hh = width / 2.0, height / 2.0
    if kind == "ellipse":
        t = np.linspace(0, 2 * math.pi, _OUTLINE_POINTS, endpoint=False)
        return np.stack([hw * np.cos(t), hh * np.sin(t)], axis=1)
    if kind == "rounded_rect":
        r = rng.uniform(0.1, 0.5) * min(hw, hh)
        per = _OUTLINE_POINTS // 4
        points = []
        for cx, cy, start in ((hw - r, hh - r, 0.0), (-hw + r, hh - r, 0.5 * math.pi),
                              (-hw + r, -hh + r, math.pi), (hw - r, -hh + r, 1.5 * math.pi)):
            t = np.linspace(start, start + 0.5 * math.pi, per)
            points.append(np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1))
        return np.concatenate(points)
    if kind == "polygon":
        n = int(rng.integers(5, 10))
        t = (np.arange(n) + rng.uniform(-0.3, 0.3, n)) * (2 * math.pi / n) + rng.uniform(0, 2 * math.pi)
        radius = rng.uniform(0.6, 1.0, n)
        return np.stack([hw * radius * np.cos(t), hh * radius * np.sin(t)], axis=1)
    raise ConfigError(f"unknown shape {kind!r}; choose one of {list(SHAPES)}")


def _polygon_bounds(points: np.ndarray) -> tuple[float, float, float, float]:
    return float(points[:, 0].min()), float(points[:, 1].min()), float(points[:, 0].max()), float(points[:, 1].max())


@dataclass
class _Sprite:
    """An object's appearance: outline (base px, centred) and a supersampled shaded texture."""

    outline: np.ndarray  # [n, 2] base-size px around the object's centre
    texture: np.ndarray  # [ph, pw, 3] float32, _SUPERSAMPLE texels per base px, centre at (pw/2, ph/2)
    info: dict[str, Any]


def make_sprite(rng: np.random.Generator, width: float, height: float, kind: str, palette: np.ndarray,
                shape: str | None = None) -> _Sprite:
    """Texture an outline and shade its rim (darker or lighter band) plus a directional light."""
    outline = random_outline(rng, width, height, shape)
    x0, y0, x1, y1 = _polygon_bounds(outline)
    half_w = max(abs(x0), abs(x1)) + 2.0
    half_h = max(abs(y0), abs(y1)) + 2.0
    pw = int(math.ceil(2 * half_w * _SUPERSAMPLE))
    ph = int(math.ceil(2 * half_h * _SUPERSAMPLE))
    texture = make_texture(rng, ph, pw, kind, palette, texel=_SUPERSAMPLE)
    # Patch mask from the outline: patch continuous coords = base * S + (pw/2, ph/2); fillPoly
    # takes OpenCV pixel-index coordinates (continuous - 0.5).
    idx = (outline * _SUPERSAMPLE + (pw / 2.0, ph / 2.0) - 0.5) * (1 << _SUBPIXEL_BITS)
    mask = np.zeros((ph, pw), np.uint8)
    cv2.fillPoly(mask, [np.rint(idx).astype(np.int32)], 255, cv2.LINE_8, _SUBPIXEL_BITS)
    distance = cv2.distanceTransform(mask, cv2.DIST_L2, 5) / _SUPERSAMPLE  # base px from the edge
    rim = np.exp(-distance / rng.uniform(1.2, 4.0))[..., None]
    strength = rng.uniform(0.3, 0.6)
    if rng.random() < 0.7:
        texture = texture * (1.0 - strength * rim)
    else:
        texture = texture + (255.0 - texture) * (0.6 * strength * rim)
    u, _ = _coordinates(ph, pw, rng.uniform(0, 2 * math.pi))
    u = (u - u.mean()) / max(float(np.abs(u - u.mean()).max()), 1.0)
    texture = texture * (1.0 + rng.uniform(0.05, 0.2) * u)[..., None]
    texture = np.clip(texture, 0, 255).astype(np.float32)
    return _Sprite(outline, texture, {"shape": shape, "texture": kind})


def rasterise(polygon: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area coverage ``[height, width]`` float32 0..1 of a polygon given in continuous pixel coords.

    Filled at 4x4 supersampling and box-averaged. ``cv2.fillPoly`` fills the sample points within
    half a sample of the polygon (rounding both span ends outward); filling the polygon moved by
    half a sample and eroding by one sample right/down makes the fill take exactly the samples
    whose centres lie inside, so edges land within ~0.05 px of the outline (a LINE_AA fill bleeds
    by up to a pixel).
    """
    ss = _MASK_SUPERSAMPLE
    canvas = np.zeros((height * ss + 1, width * ss + 1), np.uint8)
    points = (np.asarray(polygon, np.float64) * ss - 0.5 + 0.5) * (1 << _SUBPIXEL_BITS)
    cv2.fillPoly(canvas, [np.rint(points).astype(np.int32)], 255, cv2.LINE_8, _SUBPIXEL_BITS)
    canvas = cv2.erode(canvas, np.ones((2, 2), np.uint8), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT,
                       borderValue=0)
    small = cv2.resize(canvas[: height * ss, : width * ss], (width, height), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) * np.float32(1.0 / 255.0)


def _affine(centre: tuple[float, float], scale: float, aspect: float, angle_deg: float) -> np.ndarray:
    """2x3 map of base px (centred) to frame continuous coords: rotate(diag(s*sqrt(a), s/sqrt(a)))."""
    theta = math.radians(angle_deg)
    c, s = math.cos(theta), math.sin(theta)
    sx, sy = scale * math.sqrt(aspect), scale / math.sqrt(aspect)
    return np.array([[c * sx, -s * sy, centre[0]], [s * sx, c * sy, centre[1]]], np.float64)


@dataclass
class _Layer:
    """A rendered object on a canvas at integer frame offset ``(x0, y0)`` (may reach outside)."""

    x0: int
    y0: int
    alpha: np.ndarray  # [h, w] float32 0..1, the unblurred mask
    premultiplied: np.ndarray  # [h, w, 3] float32 colour * alpha (blurred when blur is on)
    coverage: np.ndarray  # [h, w] float32 alpha after blur (what is composited)
    outline: np.ndarray  # [n, 2] outline in frame continuous coordinates


def _line_kernel(dx: float, dy: float, length: float) -> np.ndarray | None:
    """Normalised anti-aliased line kernel of ``length`` px along ``(dx, dy)``; None when < 1.5 px."""
    norm = math.hypot(dx, dy)
    if length < 1.5 or norm == 0:
        return None
    half = int(math.ceil(length / 2.0)) + 1
    size = 2 * half + 1
    kernel = np.zeros((size, size), np.float32)
    ux, uy = dx / norm * length / 2.0, dy / norm * length / 2.0
    one = 1 << _SUBPIXEL_BITS
    p0 = (int(round((half - ux) * one)), int(round((half - uy) * one)))
    p1 = (int(round((half + ux) * one)), int(round((half + uy) * one)))
    cv2.line(kernel, p0, p1, 1.0, 1, cv2.LINE_AA, _SUBPIXEL_BITS)
    total = float(kernel.sum())
    return kernel / total if total > 0 else None


def render_sprite(sprite: _Sprite, matrix: np.ndarray, blur: np.ndarray | None = None) -> _Layer:
    """Warp a sprite with the 2x3 base->frame ``matrix`` onto a canvas just covering it.

    The mask is rasterised from the transformed outline (anti-aliased, 1/16 px vertices), so it is
    exact to the outline; the texture is warped bilinearly after an anti-alias Gaussian whenever
    it is shrunk. ``blur`` (a normalised kernel) smears the colour and the coverage alike.
    """
    outline = sprite.outline @ matrix[:, :2].T + matrix[:, 2]
    pad = 2 + (blur.shape[0] // 2 if blur is not None else 0)
    x0 = int(math.floor(outline[:, 0].min())) - pad
    y0 = int(math.floor(outline[:, 1].min())) - pad
    w = int(math.ceil(outline[:, 0].max())) + pad - x0
    h = int(math.ceil(outline[:, 1].max())) + pad - y0
    alpha = rasterise(outline - (x0, y0), h, w)
    # Patch continuous p = S*b + c0  ->  frame continuous f = A b + t = (A/S) p + (t - A c0 / S).
    ph, pw = sprite.texture.shape[:2]
    linear = matrix[:, :2] / _SUPERSAMPLE
    shift = matrix[:, 2] - linear @ np.array([pw / 2.0, ph / 2.0])
    # OpenCV indexes pixel centres: frame idx = f - 0.5 - (x0, y0), patch idx = p - 0.5.
    offset = shift + linear @ np.array([0.5, 0.5]) - 0.5 - np.array([x0, y0], np.float64)
    warp = np.concatenate([linear, offset[:, None]], axis=1)
    texture = sprite.texture
    frobenius, det = float((linear ** 2).sum()), abs(float(np.linalg.det(linear)))
    # Smallest singular value of the 2x2 map: frame px per texel along the most shrunk axis.
    shrink = math.sqrt(max(0.5 * (frobenius - math.sqrt(max(frobenius ** 2 - 4 * det ** 2, 0.0))), 0.0))
    if shrink < 1.0:
        texture = cv2.GaussianBlur(texture, (0, 0), 0.5 * math.sqrt(1.0 / shrink ** 2 - 1.0) + 1e-3)
    colour = cv2.warpAffine(texture, warp, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    premultiplied = colour * alpha[..., None]
    coverage = alpha
    if blur is not None:
        premultiplied = cv2.filter2D(premultiplied, -1, blur, borderType=cv2.BORDER_CONSTANT)
        coverage = cv2.filter2D(alpha, -1, blur, borderType=cv2.BORDER_CONSTANT)
    return _Layer(x0, y0, alpha, premultiplied, coverage, outline)


def _clip(layer: _Layer, width: int, height: int):
    """Frame slices and canvas slices of the part of ``layer`` inside the frame (None if none)."""
    fx0, fy0 = max(layer.x0, 0), max(layer.y0, 0)
    fx1 = min(layer.x0 + layer.alpha.shape[1], width)
    fy1 = min(layer.y0 + layer.alpha.shape[0], height)
    if fx0 >= fx1 or fy0 >= fy1:
        return None
    frame = (slice(fy0, fy1), slice(fx0, fx1))
    canvas = (slice(fy0 - layer.y0, fy1 - layer.y0), slice(fx0 - layer.x0, fx1 - layer.x0))
    return frame, canvas


def _composite(image: np.ndarray, layer: _Layer) -> None:
    """``image = image * (1 - coverage) + premultiplied`` where the layer overlaps the frame."""
    slices = _clip(layer, image.shape[1], image.shape[0])
    if slices is None:
        return
    frame, canvas = slices
    cov = layer.coverage[canvas][..., None]
    image[frame] = image[frame] * (1.0 - cov) + layer.premultiplied[canvas]


def _frame_alpha(layer: _Layer, width: int, height: int) -> np.ndarray:
    """The layer's unblurred mask placed in a ``[height, width]`` frame canvas."""
    out = np.zeros((height, width), np.float32)
    slices = _clip(layer, width, height)
    if slices is not None:
        out[slices[0]] = layer.alpha[slices[1]]
    return out


def clip_polygon(points: np.ndarray, width: float, height: float) -> np.ndarray:
    """The part of a polygon ``[n, 2]`` inside ``[0, width] x [0, height]`` (Sutherland-Hodgman).

    The polygon may be non-convex; the result then may contain zero-width bridges along the
    border, which do not change its bounding box. Empty ``[0, 2]`` when nothing is inside.
    """
    poly = np.asarray(points, np.float64)
    for axis, limit, keep_below in ((0, 0.0, False), (0, float(width), True), (1, 0.0, False),
                                    (1, float(height), True)):
        if len(poly) == 0:
            break
        value = poly[:, axis] - limit
        inside = value <= 0 if keep_below else value >= 0
        if inside.all():
            continue
        nxt = np.roll(poly, -1, axis=0)
        nxt_value, nxt_inside = np.roll(value, -1), np.roll(inside, -1)
        out = []
        for i in range(len(poly)):
            if inside[i]:
                out.append(poly[i])
            if inside[i] != nxt_inside[i]:
                t = value[i] / (value[i] - nxt_value[i])
                crossing = poly[i] + t * (nxt[i] - poly[i])
                crossing[axis] = limit
                out.append(crossing)
        poly = np.array(out, np.float64).reshape(-1, 2)
    return poly


def _clipped_box(outline: np.ndarray, width: int, height: int) -> np.ndarray:
    """xywh bounding box of the part of ``outline`` inside the frame; NaNs when none is."""
    inside = clip_polygon(outline, width, height)
    if len(inside) == 0:
        return np.full(4, np.nan)
    x0, y0, x1, y1 = _polygon_bounds(inside)
    return np.array([x0, y0, x1 - x0, y1 - y0], np.float64)


# -------------------------------------------------------------------------------------------------
# Motion
# -------------------------------------------------------------------------------------------------

def bounded_walk(rng: np.random.Generator, n: int, step_std: float, low: float, high: float,
                 momentum: float = 0.9) -> np.ndarray:
    """A smooth random walk ``[n]`` starting at 0 and reflected into ``[low, high]`` (low <= 0 <= high).

    ``v = momentum * v + N(0, step_std)``, ``x += v``; on reaching a limit the walk reflects and
    its velocity flips. ``step_std == 0`` gives all zeros (and draws nothing).
    """
    out = np.zeros(n, np.float64)
    if step_std <= 0 or n < 2:
        return out
    kicks = rng.normal(0.0, step_std, n)
    x = v = 0.0
    for t in range(1, n):
        v = momentum * v + kicks[t]
        x += v
        if x > high:
            x, v = 2 * high - x, -abs(v)
        if x < low:
            x, v = 2 * low - x, abs(v)
        x = min(max(x, low), high)
        out[t] = x
    return out


@dataclass
class _Track:
    """Per-frame state of one object: centre (frame continuous px), scale, aspect factor, angle."""

    centre: np.ndarray  # [N, 2]
    scale: np.ndarray  # [N]
    aspect: np.ndarray  # [N] multiplies w/h of the base shape
    angle: np.ndarray  # [N] degrees

    def matrix(self, t: int) -> np.ndarray:
        return _affine((self.centre[t, 0], self.centre[t, 1]), self.scale[t], self.aspect[t], self.angle[t])

    def velocity(self, t: int) -> tuple[float, float]:
        """Displacement into frame ``t`` (out of frame 0 for t = 0), px."""
        if len(self.centre) < 2:
            return 0.0, 0.0
        a, b = (t - 1, t) if t > 0 else (0, 1)
        d = self.centre[b] - self.centre[a]
        return float(d[0]), float(d[1])


def _centre_limits(extent: tuple[float, float], size: float, frame: float,
                   outside: float) -> tuple[float, float]:
    """Range of the centre along one axis so at most ``outside`` x the box size leaves the frame."""
    low_offset, high_offset = extent
    low = -low_offset - outside * size
    high = frame - high_offset + outside * size
    if low > high:  # larger than the frame: keep it centred
        low = high = (low + high) / 2.0
    return low, high


def simulate_track(rng: np.random.Generator, sprite: _Sprite, cfg: SyntheticConfig, *,
                   avoid: np.ndarray | None = None) -> _Track:
    """Smooth random motion bouncing off the borders, with the configured deformations.

    Velocity: ``v += N(0, acceleration_std)`` per axis each frame, its magnitude clamped to
    ``[speed_min, speed_max]``. The centre reflects off limits that let at most ``max_outside``
    of the current box leave the frame (frame 0 starts wholly inside). ``avoid``: an xywh box
    that the object's frame-0 box should not overlap (tried 50 times).
    """
    n, width, height = cfg.num_frames, cfg.width, cfg.height
    log_scale = bounded_walk(rng, n, cfg.scale_step_std, math.log(cfg.scale_min), math.log(cfg.scale_max))
    limit = math.log(cfg.aspect_change_max)
    log_aspect = bounded_walk(rng, n, cfg.aspect_step_std, -limit, limit)
    spin = rng.uniform(-cfg.rotation_speed_max, cfg.rotation_speed_max)
    scale, aspect = np.exp(log_scale), np.exp(log_aspect)
    angle = spin * np.arange(n, dtype=np.float64)
    extents = []
    for t in range(n):
        pts = sprite.outline @ _affine((0.0, 0.0), scale[t], aspect[t], angle[t])[:, :2].T
        extents.append(_polygon_bounds(pts))

    x_lim = _centre_limits((extents[0][0], extents[0][2]), 0, width, 0.0)
    y_lim = _centre_limits((extents[0][1], extents[0][3]), 0, height, 0.0)
    position = np.array([rng.uniform(*x_lim), rng.uniform(*y_lim)])
    if avoid is not None:
        for _ in range(50):
            box = (position[0] + extents[0][0], position[1] + extents[0][1],
                   extents[0][2] - extents[0][0], extents[0][3] - extents[0][1])
            if not _boxes_overlap(box, avoid, margin=4.0):
                break
            position = np.array([rng.uniform(*x_lim), rng.uniform(*y_lim)])
    heading = rng.uniform(0, 2 * math.pi)
    velocity = rng.uniform(cfg.speed_min, cfg.speed_max) * np.array([math.cos(heading), math.sin(heading)])
    accel = rng.normal(0.0, cfg.acceleration_std, (n, 2)) if cfg.acceleration_std > 0 else np.zeros((n, 2))
    centre = np.zeros((n, 2))
    centre[0] = position
    for t in range(1, n):
        velocity = velocity + accel[t]
        speed = float(np.hypot(*velocity))
        if speed > 0:
            velocity *= min(max(speed, cfg.speed_min), cfg.speed_max) / speed
        elif cfg.speed_min > 0:
            velocity = np.array([cfg.speed_min, 0.0])
        position = position + velocity
        x0, y0, x1, y1 = extents[t]
        for axis, (low_off, high_off, size, frame) in enumerate(((x0, x1, x1 - x0, width), (y0, y1, y1 - y0, height))):
            low, high = _centre_limits((low_off, high_off), size, frame, cfg.max_outside)
            if position[axis] < low:
                position[axis], velocity[axis] = 2 * low - position[axis], abs(velocity[axis])
            if position[axis] > high:
                position[axis], velocity[axis] = 2 * high - position[axis], -abs(velocity[axis])
            position[axis] = min(max(position[axis], low), high)
        centre[t] = position
    return _Track(centre, scale, aspect, angle)


def _boxes_overlap(a, b, margin: float = 0.0) -> bool:
    return (a[0] < b[0] + b[2] + margin and b[0] < a[0] + a[2] + margin
            and a[1] < b[1] + b[3] + margin and b[1] < a[1] + a[3] + margin)


def _occluder_track(rng: np.random.Generator, sprite: _Sprite, target_sprite: _Sprite, target: _Track,
                    cfg: SyntheticConfig) -> _Track:
    """A straight path that puts the occluder over the target at a frame in 25..75% of the sequence.

    At that frame the occluder's centre is within a quarter of the target's shorter half side of
    the target's centre (both shapes contain their centres, so they overlap); its speed is raised
    where needed so that it starts clear of the target at frame 0.
    """
    n = cfg.num_frames
    low = min(max(1, n // 4), n - 1)  # never frame 0 unless there is no other
    t_cross = int(rng.integers(low, max(low, (3 * n) // 4) + 1))
    tx0, ty0, tx1, ty1 = _polygon_bounds(target_sprite.outline)
    reach = 0.25 * min(tx1 - tx0, ty1 - ty0) / 2.0 * target.scale[t_cross] * rng.uniform(0.0, 1.0)
    angle = rng.uniform(0, 2 * math.pi)
    meet = target.centre[t_cross] + reach * np.array([math.cos(angle), math.sin(angle)])
    heading = rng.uniform(0, 2 * math.pi)
    direction = np.array([math.cos(heading), math.sin(heading)])
    speed = rng.uniform(cfg.occluder_speed_min, cfg.occluder_speed_max)
    # Bounding radii: the target's at its largest possible scale and stretch, the occluder's.
    target_radius = (math.hypot(max(-tx0, tx1), max(-ty0, ty1)) * target.scale[0]
                     * cfg.scale_max * math.sqrt(cfg.aspect_change_max))
    ox0, oy0, ox1, oy1 = _polygon_bounds(sprite.outline)
    radius = target_radius + math.hypot(max(-ox0, ox1), max(-oy0, oy1)) + 2.0
    if t_cross > 0:
        # Clear at frame 0: |meet - speed * t_cross * direction - target_0| >= radius.
        d = meet - target.centre[0]
        along = float(d @ direction)
        disc = along ** 2 - float(d @ d) + radius ** 2
        if disc > 0:
            speed = max(speed, (along + math.sqrt(disc)) / t_cross)
    spin = rng.uniform(-cfg.rotation_speed_max, cfg.rotation_speed_max)
    frames = np.arange(n, dtype=np.float64)
    centre = meet + speed * (frames - t_cross)[:, None] * direction
    return _Track(centre, np.ones(n), np.ones(n), float(rng.uniform(0, 360)) + spin * frames)


@functools.lru_cache(maxsize=1)
def _normal_quantiles() -> np.ndarray:
    """Standard-normal quantiles at the 65536 probabilities ``(i + 0.5) / 65536``, float32."""
    x = np.linspace(-6.0, 6.0, 120001)
    cdf = 0.5 * (1.0 + np.frompyfunc(math.erf, 1, 1)(x / math.sqrt(2.0)).astype(np.float64))
    return np.interp((np.arange(65536) + 0.5) / 65536.0, cdf, x).astype(np.float32)


def gaussian_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Independent standard-normal samples, float32: uniform 16-bit integers through the inverse CDF.

    Several times faster than ``Generator.standard_normal``; the 65536-level quantisation is far
    below what an 8-bit frame can show.
    """
    return _normal_quantiles()[rng.integers(0, 65536, shape, dtype=np.uint16)]


def _camera_path(rng: np.random.Generator, n: int, speed_max: float, margin: int) -> np.ndarray:
    """Background window offset ``[n, 2]`` within ``[0, 2*margin]``: constant speed, bounces at the ends."""
    path = np.full((n, 2), float(margin))
    if speed_max <= 0 or margin == 0:
        return path
    heading = rng.uniform(0, 2 * math.pi)
    velocity = rng.uniform(0, speed_max) * np.array([math.cos(heading), math.sin(heading)])
    position = np.array([float(margin), float(margin)]) + rng.uniform(-margin / 2, margin / 2, 2)
    for t in range(n):
        path[t] = position
        position = position + velocity
        for axis in range(2):
            if position[axis] < 0:
                position[axis], velocity[axis] = -position[axis], abs(velocity[axis])
            if position[axis] > 2 * margin:
                position[axis], velocity[axis] = 4 * margin - position[axis], -abs(velocity[axis])
    return path


# -------------------------------------------------------------------------------------------------
# The scene
# -------------------------------------------------------------------------------------------------

def _resolve_config(config: SyntheticConfig | Mapping[str, Any] | None) -> SyntheticConfig:
    if config is None:
        return SyntheticConfig()
    if isinstance(config, SyntheticConfig):
        return config
    if isinstance(config, Mapping):
        return SyntheticConfig.from_dict(config)
    raise ConfigError(f"config must be a SyntheticConfig, a dict or None; got {type(config).__name__}")


@dataclass
class _Scene:
    """Everything drawn up front for one sequence; ``render(t)`` only draws camera noise."""

    cfg: SyntheticConfig
    background: np.ndarray  # [H + 2m, W + 2m, 3] float32
    camera: np.ndarray  # [N, 2] window offset into the background, px
    target: tuple[_Sprite, _Track]
    distractors: list[tuple[_Sprite, _Track]]
    occluder: tuple[_Sprite, _Track] | None
    blurred: bool
    log_gain: np.ndarray  # [N]
    offset: np.ndarray  # [N] levels
    light_angle: np.ndarray  # [N] radians
    noise_rng: np.random.Generator
    info: dict[str, Any]

    @classmethod
    def build(cls, seed: int, cfg: SyntheticConfig) -> _Scene:
        n, width, height = cfg.num_frames, cfg.width, cfg.height
        # Independent streams: turning one nuisance on or off leaves every other draw unchanged.
        streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(6)]
        rng_bg, rng_target, rng_distract, rng_occ, rng_fx, rng_noise = streams

        bg_kind = cfg.background if cfg.background != "mixed" else TEXTURES[int(rng_bg.integers(len(TEXTURES)))]
        bg_palette = random_palette(rng_bg)
        if bg_kind == "constant" and cfg.background_color is not None:
            bg_palette = np.array([cfg.background_color] * 2, np.float32)
        margin = _CAMERA_MARGIN if cfg.camera_speed_max > 0 else 0
        background = make_texture(rng_bg, height + 2 * margin, width + 2 * margin, bg_kind, bg_palette)
        camera = _camera_path(rng_bg, n, cfg.camera_speed_max, margin)

        size = rng_target.uniform(cfg.object_size_min, cfg.object_size_max)
        aspect = math.exp(rng_target.uniform(math.log(cfg.aspect_min), math.log(cfg.aspect_max)))
        similar = bool(rng_target.random() < cfg.similar_palette_probability)
        palette = jitter_palette(rng_target, bg_palette, 25.0) if similar else random_palette(rng_target)
        kind = TEXTURES[int(rng_target.integers(len(TEXTURES)))]
        shape = SHAPES[int(rng_target.integers(len(SHAPES)))]
        sprite = make_sprite(rng_target, size * math.sqrt(aspect), size / math.sqrt(aspect), kind, palette, shape)
        track = simulate_track(rng_target, sprite, cfg)
        matrix = track.matrix(0)
        box0 = _clipped_box(sprite.outline @ matrix[:, :2].T + matrix[:, 2], width, height)

        # Distractors: the target's texture kind, a jittered copy of its palette, their own motion.
        distractors = []
        for _ in range(int(rng_distract.integers(0, cfg.distractors_max + 1))):
            d_size = size * rng_distract.uniform(0.75, 1.3)
            d_aspect = aspect * math.exp(rng_distract.uniform(-0.3, 0.3))
            d_shape = shape if rng_distract.random() < 0.5 else None
            d_sprite = make_sprite(rng_distract, d_size * math.sqrt(d_aspect), d_size / math.sqrt(d_aspect),
                                   kind, jitter_palette(rng_distract, palette), d_shape)
            distractors.append((d_sprite, simulate_track(rng_distract, d_sprite, cfg, avoid=box0)))

        occluder = None
        if rng_occ.random() < cfg.occlusion_probability:
            o_size = size * rng_occ.uniform(cfg.occluder_size_min, cfg.occluder_size_max)
            o_aspect = math.exp(rng_occ.uniform(-0.7, 0.7))
            o_kind = TEXTURES[int(rng_occ.integers(len(TEXTURES)))]
            o_sprite = make_sprite(rng_occ, o_size * math.sqrt(o_aspect), o_size / math.sqrt(o_aspect), o_kind,
                                   random_palette(rng_occ))
            occluder = (o_sprite, _occluder_track(rng_occ, o_sprite, sprite, track, cfg))

        blurred = bool(rng_fx.random() < cfg.motion_blur_probability)
        log_gain = bounded_walk(rng_fx, n, cfg.gain_step_std, math.log(cfg.gain_min), math.log(cfg.gain_max))
        offset = bounded_walk(rng_fx, n, cfg.offset_step_std, -cfg.offset_max, cfg.offset_max)
        light_angle = rng_fx.uniform(0, 2 * math.pi) + math.radians(
            rng_fx.uniform(-cfg.light_rotation_speed_max, cfg.light_rotation_speed_max)) * np.arange(n)
        info = {"background": bg_kind, "target_texture": kind, "target_shape": shape, "similar_palette": similar,
                "distractors": len(distractors), "occluder": occluder is not None, "motion_blur": blurred,
                "target_size": float(size), "target_aspect": float(aspect)}
        return cls(cfg, background, camera, (sprite, track), distractors, occluder, blurred, log_gain, offset,
                   light_angle, rng_noise, info)

    def _blur(self, track: _Track, t: int) -> np.ndarray | None:
        if not self.blurred:
            return None
        dx, dy = track.velocity(t)
        return _line_kernel(dx, dy, self.cfg.motion_blur_exposure * math.hypot(dx, dy))

    def render(self, t: int) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        """Frame ``t``: ``(frame [H, W, 3] uint8, box [4], visible, occluder box [4] or NaNs)``.

        Frames must be rendered in order 0, 1, ... (the noise stream is consumed per frame).
        """
        cfg = self.cfg
        width, height = cfg.width, cfg.height
        if self.background.shape[:2] != (height, width):
            shift = np.array([[1.0, 0.0, -self.camera[t, 0]], [0.0, 1.0, -self.camera[t, 1]]])  # bg(x + cam)
            image = cv2.warpAffine(self.background, shift, (width, height), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT)
        else:
            image = self.background.copy()
        for sprite, track in self.distractors:
            _composite(image, render_sprite(sprite, track.matrix(t), self._blur(track, t)))
        sprite, track = self.target
        layer = render_sprite(sprite, track.matrix(t), self._blur(track, t))
        _composite(image, layer)
        box = _clipped_box(layer.outline, width, height)
        occluder_box = np.full(4, np.nan)
        target_alpha = _frame_alpha(layer, width, height)
        in_frame = float(target_alpha.sum())
        shown = in_frame
        if self.occluder is not None:
            o_sprite, o_track = self.occluder
            o_layer = render_sprite(o_sprite, o_track.matrix(t), self._blur(o_track, t))
            if _clip(o_layer, width, height) is not None:
                _composite(image, o_layer)
                occluder_box = _clipped_box(o_layer.outline, width, height)
                shown = float((target_alpha * (1.0 - _frame_alpha(o_layer, width, height))).sum())
        outline = layer.outline
        inside = bool(outline.min() >= 0 and outline[:, 0].max() <= width and outline[:, 1].max() <= height)
        frame_share = 1.0 if inside else min(1.0, in_frame / max(float(layer.alpha.sum()), 1e-9))
        visible = min(1.0, max(0.0, frame_share * (shown / in_frame if in_frame > 0 else 0.0)))

        if cfg.light_gradient_strength > 0 or self.log_gain[t] != 0:
            gain, k = math.exp(self.log_gain[t]), cfg.light_gradient_strength
            cos, sin = math.cos(self.light_angle[t]), math.sin(self.light_angle[t])
            u, v = _light_coordinates(height, width)
            light = cv2.addWeighted(u, gain * k * cos, v, gain * k * sin, gain)  # gain * (1 + k * ramp)
            image = cv2.multiply(image, cv2.merge([light, light, light]))
        if self.offset[t] != 0:
            image += np.float32(self.offset[t])
        if cfg.noise_std > 0:
            image += gaussian_noise(self.noise_rng, image.shape) * np.float32(cfg.noise_std)
        frame = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        if cfg.jpeg_quality > 0:
            ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(cfg.jpeg_quality)])
            frame = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else frame
        return frame, box, visible, occluder_box


@functools.lru_cache(maxsize=4)
def _light_coordinates(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre offsets from the frame centre over half the diagonal (so within -1..1), float32."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    half_diag = 0.5 * math.hypot(width, height)
    return (xs - width / 2.0) / half_diag, (ys - height / 2.0) / half_diag


def generate_sequence(seed: int, config: SyntheticConfig | Mapping[str, Any] | None = None,
                      name: str | None = None) -> SyntheticSequence:
    """Render one sequence (see the module docstring for what is drawn and how boxes are defined).

    Args:
        seed: non-negative integer; the same seed and config give byte-identical output.
        config: a ``SyntheticConfig``, a dict of overrides (unknown keys refused) or None (defaults).
        name: the sequence name; default ``synthetic_seed<seed>``.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer; got {seed!r}")
    cfg = _resolve_config(config)
    scene = _Scene.build(int(seed), cfg)
    n = cfg.num_frames
    frames = np.empty((n, cfg.height, cfg.width, 3), np.uint8)
    boxes = np.zeros((n, 4), np.float64)
    visible = np.zeros(n, np.float64)
    occluder_boxes = np.full((n, 4), np.nan)
    for t in range(n):
        frames[t], boxes[t], visible[t], occluder_boxes[t] = scene.render(t)
    return SyntheticSequence(name or f"synthetic_seed{int(seed)}", int(seed), cfg, frames, boxes, visible,
                             occluder_boxes, scene.info)


def demo_config(frames: int = 150) -> SyntheticConfig:
    """The demo clip's settings: the defaults with at most one distractor, no occluder, no motion
    blur, a noise background and speeds up to 3 px/frame."""
    return SyntheticConfig(num_frames=frames, occlusion_probability=0.0, distractors_max=1,
                           motion_blur_probability=0.0, speed_max=3.0, background="noise")


def demo_clip(path: str | Path, seed: int = 0, frames: int = 150) -> tuple[Path, tuple[float, float, float, float]]:
    """Write a demo video (``mp4v``) any tracker can be started on; return its path and first box.

    The ground truth goes next to it as ``<stem>_groundtruth.txt`` (GOT-10k style lines). The
    first box is rounded to 2 decimals, as printed in that file.
    """
    sequence = generate_sequence(seed, demo_config(frames), name=Path(path).stem)
    video = sequence.write_video(path)
    np.savetxt(video.with_name(f"{video.stem}_groundtruth.txt"), sequence.boxes, fmt="%.2f", delimiter=",")
    x, y, w, h = (round(float(v), 2) for v in sequence.boxes[0])
    return video, (x, y, w, h)


# -------------------------------------------------------------------------------------------------
# CLI
# -------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m edge_tracker.datasets.synthetic",
        description="Write procedural tracking sequences as GOT-10k style folders "
                    "(OUT_DIR/synthetic_0000/00000001.jpg ..., groundtruth.txt with 0-based x,y,w,h) "
                    "and OUT_DIR/list.txt. Sequence i uses seed SEED + i.")
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="folder to write into (created)")
    parser.add_argument("--count", type=int, default=1, help="number of sequences (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first sequence (default 0)")
    parser.add_argument("--frames", type=int, default=SyntheticConfig.num_frames,
                        help=f"frames per sequence (default {SyntheticConfig.num_frames})")
    parser.add_argument("--width", type=int, default=SyntheticConfig.width, help="frame width, px (default 320)")
    parser.add_argument("--height", type=int, default=SyntheticConfig.height, help="frame height, px (default 240)")
    parser.add_argument("--video", action="store_true",
                        help="also write OUT_DIR/synthetic_NNNN.mp4 next to each folder")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.count < 1:
            raise ConfigError(f"--count must be >= 1; got {args.count}")
        if args.seed < 0:
            raise ConfigError(f"--seed must be >= 0; got {args.seed}")
        config = SyntheticConfig(width=args.width, height=args.height, num_frames=args.frames)
        names = []
        for i in range(args.count):
            name = f"synthetic_{i:04d}"
            start = time.perf_counter()
            sequence = generate_sequence(args.seed + i, config, name=name)
            folder = sequence.write(args.out_dir / name)
            names.append(name)
            line = (f"wrote {folder} ({len(sequence)} frames {config.width}x{config.height}, seed {args.seed + i}, "
                    f"first box {','.join(f'{v:.2f}' for v in sequence.boxes[0])}, "
                    f"min visible {sequence.visible.min():.2f}, {time.perf_counter() - start:.2f} s)")
            if args.video:
                line += f"; video {sequence.write_video(args.out_dir / f'{name}.mp4')}"
            print(line, flush=True)
        (args.out_dir / "list.txt").write_text("".join(f"{name}\n" for name in names))
        print(f"wrote {args.out_dir / 'list.txt'} ({len(names)} sequences)")
    except EdgeTrackerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
