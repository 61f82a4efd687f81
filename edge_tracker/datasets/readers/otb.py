"""OTB and DTB70: ``groundtruth_rect.txt`` (or ``groundtruth_rect.<k>.txt``) + ``img/*.jpg``.

Boxes are 1-based ``x, y, w, h`` in the files (OTB's MATLAB toolkit; DTB70 reuses it) and 0-based
here: x and y minus 1.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from edge_tracker.datasets.readers.base import (
    _SEPARATORS,
    PathLike,
    Sequence,
    _check_sizes,
    _count_mismatch,
    _frames_in_range,
    _parse_xywh,
    _read_text,
    _require_dir,
    list_frames,
)
from edge_tracker.errors import InputError

OTB_FRAME_RANGES: dict[str, tuple[int, int]] = {
    "david": (300, 770),
    "football1": (1, 74),
    "freeman3": (1, 460),
    "freeman4": (1, 283),
    "diving": (1, 215),
}
"""OTB sequences whose annotation covers only frames ``start..end`` (1-based frame numbers,
inclusive) of their ``img/`` folder, as in the OTB toolkit's sequence configuration."""


def _otb_annotation_files(folder: Path) -> list[tuple[int | None, Path]]:
    """``(target, file)`` of the non-empty OTB annotation files: ``[(None, groundtruth_rect.txt)]`` or
    ``[(1, groundtruth_rect.1.txt), (2, ...)]`` for the two-target sequences (Jogging, Skating2; Human4
    has an empty ``.1`` file and is read as its ``.2`` target)."""
    single = folder / "groundtruth_rect.txt"
    if single.is_file():
        return [(None, single)]
    found = []
    for path in folder.glob("groundtruth_rect.*.txt"):
        match = re.fullmatch(r"groundtruth_rect\.(\d+)\.txt", path.name)
        if match and path.is_file() and path.stat().st_size > 0 and _read_text(path).strip():
            found.append((int(match.group(1)), path))
    return sorted(found, key=lambda t: t[0])


def load_otb(folder: PathLike, *, target: int | None = None, name: str | None = None,
             layout: str = "otb") -> Sequence:
    """Read an OTB-layout sequence folder: ``groundtruth_rect.txt`` + ``img/*.jpg``.

    Boxes are 1-based ``x, y, w, h`` in the file and 0-based here (x and y minus 1). Separators may
    be tabs, commas or spaces, mixed.

    Args:
        folder: the sequence folder (``.../OTB100/Crossing``).
        target: for the two-target sequences with ``groundtruth_rect.1.txt`` / ``.2.txt``: which
            target. Default: ``groundtruth_rect.txt`` if present, else the lowest-numbered non-empty
            ``.k`` file (``.1`` for Jogging and Skating2). The name gets ``-k`` appended
            (``Jogging-1``), as in OTB's results.
        name: the sequence's name; default the folder's name (plus ``-k``).
        layout: recorded in :attr:`Sequence.layout` (``"dtb70"`` for :func:`load_dtb70`).

    Raises:
        InputError: no annotation, bad lines, or frame and box counts that differ (except for the
            sequences in :data:`OTB_FRAME_RANGES`, where the documented frame range is taken).
    """
    folder = _require_dir(folder, f"{layout.upper()} sequence folder")
    if target is None:
        files = _otb_annotation_files(folder)
        if not files:
            raise InputError(f"no annotation in {folder}: looked for groundtruth_rect.txt and non-empty "
                             "groundtruth_rect.<k>.txt; is this an OTB-layout sequence folder?")
        target, ann_path = files[0]
    else:
        ann_path = folder / f"groundtruth_rect.{int(target)}.txt"
        if not ann_path.is_file() or not _read_text(ann_path).strip():
            present = [p.name for p in sorted(folder.glob("groundtruth_rect*.txt"))]
            raise InputError(f"{ann_path} is missing or empty (target={target}); annotation files present: "
                             f"{present or 'none'}")
    base_name = name or folder.name
    seq_name = base_name if (target is None or name) else f"{base_name}-{target}"

    ann = _parse_xywh(ann_path, one_based=True)
    _check_sizes(ann)
    img_dir = folder / "img"
    frames = list_frames(img_dir)
    if len(frames) != len(ann.boxes):
        frame_range = OTB_FRAME_RANGES.get(folder.name.lower())
        selected = _frames_in_range(frames, *frame_range) if frame_range else []
        if len(selected) != len(ann.boxes):
            documented = ", ".join(f"{k} {a}-{b}" for k, (a, b) in OTB_FRAME_RANGES.items())
            raise _count_mismatch(ann_path, len(ann.boxes), img_dir, len(frames),
                                  f" (OTB documents a frame range only for: {documented})")
        frames = selected
    attributes: dict[str, Any] = {"annotation": ann_path}
    if target is not None:
        attributes["target"] = target
    attrs_file = folder / "attrs.txt"
    if attrs_file.is_file():
        attributes["attributes"] = tuple(a for a in _SEPARATORS.split(_read_text(attrs_file, "attribute file")) if a)
    return Sequence(seq_name, tuple(frames), ann.boxes, layout, attributes)


def load_dtb70(folder: PathLike, *, name: str | None = None) -> Sequence:
    """Read a DTB70 sequence folder: same files and 1-based boxes as OTB (see :func:`load_otb`)."""
    return load_otb(folder, name=name, layout="dtb70")
