"""Procedural colour and texture: palettes, fractal value noise and :func:`make_texture`.

Every function draws only from the ``rng`` it is given (float32 BGR images, levels 0..255), so the
order of calls is part of a sequence's determinism: do not reorder draws.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge_tracker.datasets.synthetic.config import _SUBPIXEL_BITS, TEXTURES
from edge_tracker.errors import ConfigError


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
