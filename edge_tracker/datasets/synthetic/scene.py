"""A whole sequence: :class:`SyntheticSequence` (frames + ground truth, and writing them), the scene
drawn up front (:class:`_Scene`), :func:`generate_sequence` and the demo clip.

The rendering order, the box definition and the visible fraction are described in the package
docstring (:mod:`edge_tracker.datasets.synthetic`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_tracker.datasets.synthetic.config import SHAPES, TEXTURES, SyntheticConfig, _resolve_config
from edge_tracker.datasets.synthetic.motion import (
    _camera_path,
    _occluder_track,
    _Track,
    bounded_walk,
    leave_and_return,
    simulate_track,
)
from edge_tracker.datasets.synthetic.render import (
    _clip,
    _composite,
    _frame_alpha,
    _light_coordinates,
    _line_kernel,
    gaussian_noise,
    render_sprite,
)
from edge_tracker.datasets.synthetic.shapes import _clipped_box, _Sprite, make_sprite
from edge_tracker.datasets.synthetic.textures import jitter_palette, make_texture, random_palette
from edge_tracker.errors import ConfigError, InputError
from edge_tracker.params import check_fps

_CAMERA_MARGIN = 24  # background texture extends this many px beyond each frame border


@dataclass
class SyntheticSequence:
    """A rendered sequence and its ground truth.

    frames: ``[N, H, W, 3]`` uint8 BGR.
    boxes: ``[N, 4]`` float64 xywh target boxes (definition: the package docstring).
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
        """Write the frames as an MPEG-4 (``mp4v``) video at ``fps`` frames/s and return its path."""
        path = Path(path)
        fps = check_fps(fps, "write_video")
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
        track = leave_and_return(simulate_track(rng_target, sprite, cfg), sprite, cfg)
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


def generate_sequence(seed: int, config: SyntheticConfig | Mapping[str, Any] | None = None,
                      name: str | None = None) -> SyntheticSequence:
    """Render one sequence (what is drawn and how boxes are defined: the package docstring).

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
