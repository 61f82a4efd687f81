"""Object geometry: random outlines, textured sprites, exact polygon rasterising and clipping.

Coordinates are continuous frame pixels (pixel ``(c, r)`` covers ``[c, c+1) x [r, r+1)``);
outlines are ``[n, 2]`` float64 ``(x, y)`` arrays. The ground-truth box is computed here
(:func:`_clipped_box`) from the same outline that :func:`rasterise` fills, which is why box and
pixels agree to within one pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edge_tracker.datasets.synthetic.config import _SUBPIXEL_BITS, _SUPERSAMPLE, SHAPES
from edge_tracker.datasets.synthetic.textures import _coordinates, make_texture
from edge_tracker.errors import ConfigError

_OUTLINE_POINTS = 64  # vertices of the ellipse / rounded-rectangle outlines
_MASK_SUPERSAMPLE = 4  # masks are filled at this many samples per pixel and axis, then averaged


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
