"""The large training/evaluation sets: GOT-10k, LaSOT and TrackingNet.

GOT-10k and TrackingNet boxes are 0-based ``x, y, w, h`` (kept); LaSOT's are 1-based (x and y
minus 1). Their test splits may publish only the first box: the other frames get NaN rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge_tracker.datasets.readers.base import (
    PathLike,
    Sequence,
    _Annotation,
    _check_sizes,
    _count_mismatch,
    _parse_xywh,
    _read_flags,
    _read_text,
    _require_dir,
    list_frames,
)
from edge_tracker.errors import InputError


def _pad_first_frame_only(ann: _Annotation, n_frames: int) -> tuple[np.ndarray, bool]:
    """Test splits (GOT-10k, TrackingNet) give only the first box: NaN for the other frames."""
    if len(ann.boxes) == 1 and n_frames > 1:
        boxes = np.full((n_frames, 4), np.nan)
        boxes[0] = ann.boxes[0]
        return boxes, True
    return ann.boxes, False


def _read_meta_info(path: Path) -> dict[str, str]:
    """GOT-10k ``meta_info.ini``: ``key: value`` lines under a ``[METAINFO]`` header."""
    meta = {}
    for line in _read_text(path, "meta information file").splitlines():
        line = line.strip()
        if not line or line.startswith(("[", "#", ";")):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            key, sep, value = line.partition("=")
        if sep:
            meta[key.strip()] = value.strip()
    return meta


def load_got10k(folder: PathLike, *, name: str | None = None) -> Sequence:
    """Read a GOT-10k sequence folder: ``groundtruth.txt`` + ``00000001.jpg``... in the folder.

    Boxes are 0-based ``x, y, w, h`` in the file and here (unchanged). ``absence.label`` (one 0/1
    per frame, 1 = target absent) makes NaN rows; ``cover.label`` (0..8, visible fraction in eighths)
    goes to ``attributes["cover"]``, ``meta_info.ini`` to ``attributes["meta"]``. A test-split file
    with only the first box gives NaN rows for the other frames (``attributes["first_frame_only"]``).
    """
    folder = _require_dir(folder, "GOT-10k sequence folder")
    ann_path = folder / "groundtruth.txt"
    ann = _parse_xywh(ann_path, one_based=False)
    frames = list_frames(folder)
    boxes, first_only = _pad_first_frame_only(ann, len(frames))
    if len(boxes) != len(frames):
        raise _count_mismatch(ann_path, len(boxes), folder, len(frames))
    attributes: dict[str, Any] = {"annotation": ann_path, "first_frame_only": first_only}
    absent = np.zeros(len(frames), dtype=bool)
    absence_file = folder / "absence.label"
    if absence_file.is_file():
        flags = _read_flags(absence_file, "an absence label")
        if len(flags) != len(frames):
            raise InputError(f"{absence_file} has {len(flags)} labels but the sequence has {len(frames)} frames; "
                             "expected one 0/1 per frame")
        absent = flags.astype(bool)
        attributes["absence"] = absent
    cover_file = folder / "cover.label"
    if cover_file.is_file():
        cover = _read_flags(cover_file, "a cover label", allowed=range(0, 9))
        if len(cover) != len(frames):
            raise InputError(f"{cover_file} has {len(cover)} labels but the sequence has {len(frames)} frames; "
                             "expected one 0..8 per frame")
        attributes["cover"] = cover
    if (folder / "meta_info.ini").is_file():
        attributes["meta"] = _read_meta_info(folder / "meta_info.ini")
    if not first_only:
        _check_sizes(ann, skip=absent)
    else:
        _check_sizes(ann)
    boxes = boxes.copy()
    boxes[absent] = np.nan
    return Sequence(name or folder.name, tuple(frames), boxes, "got10k", attributes)


def load_lasot(folder: PathLike, *, name: str | None = None) -> Sequence:
    """Read a LaSOT sequence folder (``<class>/<class>-<n>/``): ``groundtruth.txt`` + ``img/``.

    Boxes are 1-based ``x, y, w, h`` in the file, 0-based here. Frames flagged in
    ``full_occlusion.txt`` or ``out_of_view.txt`` (0/1 per frame, comma-separated) get NaN rows;
    the flags go to ``attributes["full_occlusion"]`` / ``["out_of_view"]``, ``nlp.txt`` to
    ``attributes["nlp"]``, the class (the name without ``-<n>``) to ``attributes["class"]``.
    """
    folder = _require_dir(folder, "LaSOT sequence folder")
    ann_path = folder / "groundtruth.txt"
    ann = _parse_xywh(ann_path, one_based=True)
    img_dir = folder / "img"
    frames = list_frames(img_dir)
    if len(frames) != len(ann.boxes):
        raise _count_mismatch(ann_path, len(ann.boxes), img_dir, len(frames))
    seq_name = name or folder.name
    attributes: dict[str, Any] = {"annotation": ann_path, "class": seq_name.rsplit("-", 1)[0]}
    absent = np.zeros(len(frames), dtype=bool)
    for flag in ("full_occlusion", "out_of_view"):
        path = folder / f"{flag}.txt"
        if path.is_file():
            values = _read_flags(path, f"a {flag} flag")
            if len(values) != len(frames):
                raise InputError(f"{path} has {len(values)} flags but the sequence has {len(frames)} frames; "
                                 "expected one 0/1 per frame")
            attributes[flag] = values.astype(bool)
            absent |= values.astype(bool)
    if (folder / "nlp.txt").is_file():
        attributes["nlp"] = _read_text(folder / "nlp.txt", "language description").strip()
    _check_sizes(ann, skip=absent)
    boxes = ann.boxes.copy()
    boxes[absent] = np.nan
    return Sequence(seq_name, tuple(frames), boxes, "lasot", attributes)


def load_trackingnet(split_root: PathLike, name: str) -> Sequence:
    """Read a TrackingNet sequence: ``<split_root>/anno/<name>.txt`` + ``<split_root>/frames/<name>/<i>.jpg``.

    ``split_root`` is a chunk folder (``TRAIN_0``... or ``TEST``). Frames are numbered from 0 and
    sorted numerically; boxes are 0-based ``x, y, w, h`` (unchanged). A TEST file with only the first
    box gives NaN rows for the other frames.
    """
    split_root = _require_dir(split_root, "TrackingNet chunk folder")
    ann_path = split_root / "anno" / f"{name}.txt"
    ann = _parse_xywh(ann_path, one_based=False)
    _check_sizes(ann)
    frame_dir = split_root / "frames" / name
    frames = list_frames(frame_dir)
    boxes, first_only = _pad_first_frame_only(ann, len(frames))
    if len(boxes) != len(frames):
        raise _count_mismatch(ann_path, len(boxes), frame_dir, len(frames))
    attributes = {"annotation": ann_path, "first_frame_only": first_only, "chunk": split_root.name}
    return Sequence(name, tuple(frames), boxes, "trackingnet", attributes)
