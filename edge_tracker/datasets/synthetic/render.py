"""Drawing one frame's pieces: sprite layers, compositing, motion-blur kernels, lighting and noise.

Images are ``[H, W, 3]`` float32 BGR levels until the scene rounds them to uint8; layers carry a
premultiplied colour and a coverage ``[h, w]`` in 0..1 at an integer frame offset.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from edge_tracker.datasets.synthetic.config import _SUBPIXEL_BITS, _SUPERSAMPLE
from edge_tracker.datasets.synthetic.shapes import _Sprite, rasterise


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


@functools.lru_cache(maxsize=4)
def _light_coordinates(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre offsets from the frame centre over half the diagonal (so within -1..1), float32."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    half_diag = 0.5 * math.hypot(width, height)
    return (xs - width / 2.0) / half_diag, (ys - height / 2.0) / half_diag
