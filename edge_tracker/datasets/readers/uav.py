"""UAV123 roots (``anno/`` + ``data_seq/``) and UAVDT roots (``anno/<name>_gt.txt`` + ``<name>/``).

Both hold several sequences under one root and give 1-based ``x, y, w, h`` (OTB-derived MATLAB
toolkits), read here as 0-based: x and y minus 1.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from edge_tracker.datasets.readers.base import (
    PathLike,
    Sequence,
    _check_sizes,
    _count_mismatch,
    _frames_in_range,
    _parse_xywh,
    _read_flags,
    _require_dir,
    _subdirs,
    list_frames,
    natural_key,
)
from edge_tracker.errors import InputError


def _uav_anno_dirs(root: Path, subset: str | None) -> list[Path]:
    """Folders of UAV123 annotation files: ``anno/`` itself or its subsets (``anno/UAV123``...), without ``att``."""
    anno = root / "anno"
    if subset is not None:
        if not (anno / subset).is_dir():
            raise InputError(f"UAV123 subset {subset!r} not found: {anno / subset} is not a folder; subsets present: "
                             f"{[d.name for d in _subdirs(anno) if d.name != 'att'] or 'none'}")
        return [anno / subset]
    if any(p.suffix == ".txt" for p in anno.iterdir()):
        return [anno]
    return [d for d in _subdirs(anno) if d.name.lower() != "att"]


def _uav_names(root: Path, subset: str | None) -> list[str]:
    dirs = _uav_anno_dirs(root, subset)
    if len(dirs) > 1:
        raise InputError(f"UAV123 root {root} has several annotation subsets ({[d.name for d in dirs]}); pass "
                         "subset=<one of them>")
    names = [p.stem for d in dirs for p in d.glob("*.txt") if p.is_file()]
    return sorted(names, key=natural_key)


def load_uav123(root: PathLike, name: str | None = None, *, subset: str | None = None,
                frame_range: tuple[int, int] | None = None) -> Sequence:
    """Read one sequence of a UAV123-layout dataset root.

    The root holds ``anno/<name>.txt`` and ``data_seq/<name>/*.jpg``, or the official
    ``anno/<subset>/<name>.txt`` and ``data_seq/<subset>/<name>/`` (subsets ``UAV123``,
    ``UAV123_10fps``, ``UAV20L``; ``anno/<subset>/att/`` holds attribute flags). Boxes are 1-based
    ``x, y, w, h`` in the file, 0-based here; ``NaN`` lines (target out of view) become NaN rows.

    Args:
        root: the dataset root (the folder with ``anno/`` and ``data_seq/``).
        name: the sequence (annotation file stem); default the only sequence of the root.
        subset: the annotation subfolder when there are several.
        frame_range: ``(start, end)`` 1-based inclusive frame numbers to take from the frame folder,
            for the sequences UAV123 splits into parts sharing one folder (``bird1_1`` uses frames
            of ``data_seq/UAV123/bird1``; the ranges are in UAV123's ``configSeqs.m``).
    """
    root = _require_dir(root, "UAV123 dataset root")
    if not (root / "anno").is_dir() or not (root / "data_seq").is_dir():
        raise InputError(f"{root} is not a UAV123 root: expected folders anno/ and data_seq/ in it")
    if name is None:
        names = _uav_names(root, subset)
        if len(names) != 1:
            raise InputError(f"UAV123 root {root} holds {len(names)} sequences ({names[:5]}...); pass name= or use "
                             "load_dataset() for all of them")
        name = names[0]
    candidates = [d / f"{name}.txt" for d in _uav_anno_dirs(root, subset) if (d / f"{name}.txt").is_file()]
    if not candidates:
        raise InputError(f"no annotation for UAV123 sequence {name!r}: looked for anno/{name}.txt and "
                         f"anno/<subset>/{name}.txt under {root}")
    if len(candidates) > 1:
        raise InputError(f"UAV123 sequence {name!r} is annotated in several subsets ({[str(c) for c in candidates]}); "
                         "pass subset=")
    ann_path = candidates[0]
    sub = ann_path.parent.name if ann_path.parent != root / "anno" else None
    seq_dirs = [root / "data_seq" / name] + ([root / "data_seq" / sub / name] if sub else []) + \
               [d / name for d in _subdirs(root / "data_seq")]
    frame_dir = next((d for d in seq_dirs if d.is_dir()), None)
    if frame_dir is None:
        base = re.fullmatch(r"(.+)_\d+", name)
        if base:
            shared = [d for d in ([root / "data_seq" / base.group(1)] +
                                  [s / base.group(1) for s in _subdirs(root / "data_seq")]) if d.is_dir()]
            if shared:
                frame_dir = shared[0]
                if frame_range is None:
                    raise InputError(f"UAV123 sequence {name!r} is a part of {frame_dir}; pass "
                                     "frame_range=(start, end) with its frame numbers from UAV123's configSeqs.m")
        if frame_dir is None:
            raise InputError(f"no frame folder for UAV123 sequence {name!r}: looked for data_seq/{name}/ and "
                             f"data_seq/<subset>/{name}/ under {root}")
    ann = _parse_xywh(ann_path, one_based=True)
    _check_sizes(ann)
    frames = list_frames(frame_dir)
    if frame_range is not None:
        frames = _frames_in_range(frames, int(frame_range[0]), int(frame_range[1]))
    if len(frames) != len(ann.boxes):
        hint = f" (frame_range={frame_range})" if frame_range else \
            " (for a part of a longer sequence, pass frame_range=(start, end))"
        raise _count_mismatch(ann_path, len(ann.boxes), frame_dir, len(frames), hint)
    attributes: dict[str, Any] = {"annotation": ann_path}
    att = ann_path.parent / "att" / f"{name}.txt"
    if att.is_file():
        attributes["att"] = tuple(int(v) for v in _read_flags(att, "a UAV123 attribute flag"))
    if sub:
        attributes["subset"] = sub
    return Sequence(name, tuple(frames), ann.boxes, "uav123", attributes)


def _uav_root_of(path: Path) -> tuple[Path, str | None] | None:
    """For a folder inside ``data_seq/`` (or ``data_seq/<subset>/``): the UAV123 root and subset."""
    if path.parent.name == "data_seq" and (path.parent.parent / "anno").is_dir():
        return path.parent.parent, None
    if path.parent.parent.name == "data_seq" and (path.parent.parent.parent / "anno").is_dir():
        return path.parent.parent.parent, path.parent.name
    return None


def _is_uav_root(path: Path) -> bool:
    return (path / "anno").is_dir() and (path / "data_seq").is_dir()


# UAVDT names each annotation file after its sequence plus this suffix (anno/S0601_gt.txt).
_UAVDT_SUFFIX = "_gt.txt"


def _uavdt_names(root: Path) -> list[str]:
    """Sequences of a UAVDT root, natural order: the ``anno/<name>_gt.txt`` whose folder ``<name>/`` exists."""
    anno = root / "anno"
    if not anno.is_dir():
        return []
    names = [p.name[: -len(_UAVDT_SUFFIX)] for p in anno.glob(f"*{_UAVDT_SUFFIX}") if p.is_file()]
    return sorted((n for n in names if n and (root / n).is_dir()), key=natural_key)


def _uavdt_root_of(path: Path) -> Path | None:
    """For a UAVDT frame folder ``<root>/<name>``: ``<root>``, when ``<root>/anno/<name>_gt.txt`` exists."""
    if (path.parent / "anno" / f"{path.name}{_UAVDT_SUFFIX}").is_file():
        return path.parent
    return None


def load_uavdt(root: PathLike, name: str | None = None) -> Sequence:
    """Read one sequence of a UAVDT-layout root: ``anno/<name>_gt.txt`` + ``<name>/img000001.jpg``...

    Boxes are 1-based ``x, y, w, h`` in the file (the UAVDT single-object toolkit derives from OTB's
    MATLAB toolkit, as UAV123's does) and 0-based here: x and y minus 1.

    Args:
        root: the dataset root (the folder with ``anno/`` and one frame folder per sequence).
        name: the sequence (``"S0601"``); default the only sequence of the root.
    """
    root = _require_dir(root, "UAVDT dataset root")
    if not (root / "anno").is_dir():
        raise InputError(f"{root} is not a UAVDT root: expected a folder anno/ with <name>_gt.txt files and a "
                         "frame folder <name>/ per sequence next to it")
    if name is None:
        names = _uavdt_names(root)
        if len(names) != 1:
            raise InputError(f"UAVDT root {root} holds {len(names)} sequences ({names[:5]}...); pass name= or use "
                             "load_dataset() for all of them")
        name = names[0]
    ann_path = root / "anno" / f"{name}{_UAVDT_SUFFIX}"
    if not ann_path.is_file():
        raise InputError(f"no annotation for UAVDT sequence {name!r}: {ann_path} does not exist")
    ann = _parse_xywh(ann_path, one_based=True)
    _check_sizes(ann)
    frame_dir = root / name
    frames = list_frames(frame_dir)
    if len(frames) != len(ann.boxes):
        raise _count_mismatch(ann_path, len(ann.boxes), frame_dir, len(frames))
    return Sequence(name, tuple(frames), ann.boxes, "uavdt", {"annotation": ann_path})
