"""VOT: ``groundtruth.txt`` (polygons, rectangles or VOT2020 masks) + frames, optional per-frame tags.

Frames lie in ``color/``, ``imgs/``, ``img/`` or the sequence folder itself (the VOT2014 toolkit
layout, next to ``*.label`` tag files). Polygon and rectangle coordinates are 1-based (the legacy
MATLAB toolkit); masks hold 0-based pixel indices. Every region becomes its axis-aligned box.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge_tracker.datasets.readers.base import (
    PathLike,
    Sequence,
    _absent_marker,
    _Annotation,
    _check_partial_nan,
    _check_sizes,
    _count_mismatch,
    _data_lines,
    _numbers,
    _read_flags,
    _require_dir,
    list_frames,
)
from edge_tracker.errors import InputError


def _mask_bbox(path: Path, lineno: int, text: str) -> np.ndarray:
    """Bounding box of a VOT2020 mask line ``m x0,y0,w,h,rle...`` (0-based pixel indices).

    The RLE alternates runs of 0 and 1 (starting with 0), row-major over the ``w x h`` region whose
    top-left pixel is ``(x0, y0)``. An empty mask gives a NaN row.
    """
    values = _numbers(path, lineno, text[1:])
    if len(values) < 4 or any(v != int(v) or v < 0 for v in values[2:]) or any(v != int(v) for v in values[:2]):
        raise InputError(f"{path}, line {lineno}: a mask line must be 'm' then integers x0,y0,w,h,rle... with "
                         f"non-negative sizes and runs, got {text[:60]!r}")
    x0, y0, w, h = (int(v) for v in values[:4])
    runs = np.array(values[4:], dtype=np.int64)
    if runs.sum() > w * h:
        raise InputError(f"{path}, line {lineno}: the mask's runs cover {int(runs.sum())} pixels but its region "
                         f"is {w}x{h}={w * h}; the line is corrupt")
    flat = np.zeros(w * h, dtype=bool)
    flat[: runs.sum()] = np.repeat(np.arange(len(runs)) % 2 == 1, runs)
    if not flat.any():
        return np.full(4, np.nan)
    mask = flat.reshape(h, w)
    cols = np.flatnonzero(mask.any(axis=0))
    rows = np.flatnonzero(mask.any(axis=1))
    return np.array([x0 + cols[0], y0 + rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1], dtype=np.float64)


def _parse_vot(path: Path) -> _Annotation:
    """VOT ground truth: one region per line (polygon, rectangle or mask), as axis-aligned boxes."""
    rows, linenos, texts = [], [], []
    for lineno, text in _data_lines(path):
        if text[0] in "mM":
            rows.append(_mask_bbox(path, lineno, text))
        else:
            values = np.array(_numbers(path, lineno, text), dtype=np.float64)
            n = len(values)
            if n == 4:
                if _absent_marker(values):
                    rows.append(np.full(4, np.nan))
                else:
                    _check_partial_nan(path, lineno, text, values)
                    rows.append(values - np.array([1.0, 1.0, 0.0, 0.0]))
            elif n >= 6 and n % 2 == 0:
                if _absent_marker(values):
                    rows.append(np.full(4, np.nan))
                else:
                    _check_partial_nan(path, lineno, text, values)
                    xs, ys = values[0::2] - 1.0, values[1::2] - 1.0
                    rows.append(np.array([xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()]))
            else:
                raise InputError(f"{path}, line {lineno}: expected a VOT region: 4 values (x, y, w, h), an even "
                                 f"number >= 6 (polygon corners x1,y1,x2,y2,...) or a mask 'm...', got {n} "
                                 f"values in {text!r}")
        linenos.append(lineno)
        texts.append(text)
    return _Annotation(path, np.array(rows, dtype=np.float64).reshape(-1, 4), linenos, texts)


def _vot_frame_dir(folder: Path) -> Path:
    for sub in ("color", "imgs", "img"):
        if (folder / sub).is_dir():
            return folder / sub
    return folder


def load_vot(folder: PathLike, *, name: str | None = None) -> Sequence:
    """Read a VOT sequence folder: ``groundtruth.txt`` + frames in ``color/``, ``imgs/``, ``img/`` or the folder.

    Each line is a polygon (``x1,y1,x2,y2,...``, usually 4 corners of a rotated box) or a rectangle
    ``x, y, w, h``, both 1-based, or a VOT2020 mask ``m x0,y0,w,h,rle...`` (0-based). The box is the
    region's axis-aligned bounding box: min/max of the polygon's corners minus 1, or the extent of
    the mask's set pixels. Per-frame ``*.tag`` / ``*.label`` files go to ``attributes["tags"]``.
    """
    folder = _require_dir(folder, "VOT sequence folder")
    ann_path = folder / "groundtruth.txt"
    ann = _parse_vot(ann_path)
    _check_sizes(ann)
    frame_dir = _vot_frame_dir(folder)
    frames = list_frames(frame_dir)
    if len(frames) != len(ann.boxes):
        raise _count_mismatch(ann_path, len(ann.boxes), frame_dir, len(frames))
    tags = {p.stem: _read_flags(p, "a VOT tag", allowed=None)
            for p in sorted(folder.iterdir()) if p.suffix in (".tag", ".label") and p.is_file()}
    attributes: dict[str, Any] = {"annotation": ann_path}
    if tags:
        attributes["tags"] = tags
    return Sequence(name or folder.name, tuple(frames), ann.boxes, "vot", attributes)
