"""Readers for the standard single-object-tracking dataset layouts.

Every reader returns a :class:`Sequence`: the sorted frame files and one box per frame in the
project's box convention (see :mod:`edge_tracker.geometry`): float64 ``x, y, w, h`` in pixels,
0-based, ``(x, y)`` the top-left corner, pixel ``(c, r)`` covering ``[c, c+1) x [r, r+1)``. A frame
whose annotation says the target is absent (or has no annotation, as in test splits that publish
only the first box) has a row of NaN.

Conventions of the files, and the conversion done here, per layout:

- ``otb``: ``groundtruth_rect.txt`` (``groundtruth_rect.<k>.txt`` for the two-target sequences) +
  ``img/*.jpg``. ``x, y, w, h`` 1-based (OTB's MATLAB toolkit) -> x and y minus 1.
- ``dtb70``: the OTB files and convention (DTB70 reuses the OTB toolkit) -> x and y minus 1. Auto
  detection cannot tell DTB70 from OTB and reports ``otb``; the conversion is the same.
- ``vot``: ``groundtruth.txt`` + frames in ``color/``, ``imgs/``, ``img/`` or the folder itself;
  optional per-frame ``*.tag`` files. A polygon ``x1,y1,...,x4,y4`` (usually the 4 corners of a
  rotated box) or a rectangle ``x, y, w, h``, 1-based (the legacy MATLAB toolkit) -> the polygon's
  axis-aligned bounding box (min/max of the corners), x and y minus 1. A VOT2020 mask
  ``m x0,y0,w,h,rle...`` holds 0-based pixel indices -> the bounding box of its set pixels
  (``w`` = number of columns spanned), unchanged.
- ``uav123``: a dataset root with ``anno/[<subset>/]<name>.txt`` and
  ``data_seq/[<subset>/]<name>/*.jpg`` (subsets UAV123, UAV123_10fps, UAV20L). ``x, y, w, h``
  1-based (OTB-derived toolkit) -> x and y minus 1.
- ``got10k``: ``groundtruth.txt`` + ``00000001.jpg``... in the sequence folder; optional
  ``absence.label``, ``cover.label``, ``meta_info.ini``; a split folder has ``list.txt``.
  ``x, y, w, h`` 0-based (the GOT-10k toolkit computes IoU on the values as they are) -> unchanged.
- ``lasot``: ``<class>/<class>-<n>/groundtruth.txt`` + ``img/``, ``full_occlusion.txt``,
  ``out_of_view.txt``, ``nlp.txt``. ``x, y, w, h`` 1-based (OTB-derived MATLAB toolkit) -> x and y
  minus 1.
- ``trackingnet``: ``TRAIN_k/anno/<name>.txt`` + ``TRAIN_k/frames/<name>/0.jpg, 1.jpg, ...``
  (numeric order). ``x, y, w, h`` 0-based -> unchanged.

Absent markers (-> NaN row): a line of four ``NaN`` (UAV123, VOT-LT) or ``0,0,0,0`` (any layout);
frames flagged by ``absence.label`` (GOT-10k) or ``full_occlusion.txt`` / ``out_of_view.txt``
(LaSOT); frames after the first when the file holds only the first box (GOT-10k and TrackingNet
test splits). Any other box with a width or height <= 0 is an error.

Quirks handled: separators comma, tab or spaces, mixed; float values; a last line without a
newline; blank trailing lines; a byte-order mark; CRLF line ends. Frames are sorted in natural
(numeric) order: ``1.jpg, 2.jpg, 10.jpg``.

Frame and box counts must agree. The one documented exception is OTB: a few sequences use only a
range of the frames in ``img/`` (David 300-770, Football1 1-74, Freeman3 1-460, Freeman4 1-283,
Diving 1-215, as in the OTB toolkit's sequence configuration); there the frames whose number lies in
the range are taken. UAV123 sequences split into parts (``bird1_1``...) share one frame folder;
pass ``frame_range`` (from UAV123's ``configSeqs.m``) to :func:`load_uav123` for those.

Every problem with the files raises :class:`edge_tracker.errors.InputError` naming the file (and
the line, for annotation text); reading never fails with a bare ``ValueError`` or ``IndexError``.
"""

from __future__ import annotations

import collections.abc as cabc
import inspect
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Union

import cv2
import numpy as np

from edge_tracker.errors import InputError

PathLike = Union[str, Path]

SUPPORTED_LAYOUTS: tuple[str, ...] = ("otb", "dtb70", "vot", "uav123", "got10k", "lasot", "trackingnet")
"""Layout names accepted by :func:`load_sequence` and :func:`load_dataset` (besides ``"auto"``)."""

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")
"""Frame file extensions, compared case-insensitively."""

OTB_FRAME_RANGES: dict[str, tuple[int, int]] = {
    "david": (300, 770),
    "football1": (1, 74),
    "freeman3": (1, 460),
    "freeman4": (1, 283),
    "diving": (1, 215),
}
"""OTB sequences whose annotation covers only frames ``start..end`` (1-based frame numbers,
inclusive) of their ``img/`` folder, as in the OTB toolkit's sequence configuration."""

_SEPARATORS = re.compile(r"[,;\s]+")
_DIGITS = re.compile(r"(\d+)")
_LAYOUT_ALIASES = {"uav": "uav123", "uav12310fps": "uav123", "uav20l": "uav123", "got": "got10k",
                   "dtb": "dtb70", "otb100": "otb", "otb2015": "otb", "tb100": "otb"}

_LOOKED_FOR = (
    "groundtruth_rect.txt (or groundtruth_rect.1.txt) + img/ (OTB, DTB70); "
    "groundtruth.txt + full_occlusion.txt / out_of_view.txt / nlp.txt (LaSOT); "
    "groundtruth.txt + absence.label / cover.label / meta_info.ini, or a GOT-10k_* folder name (GOT-10k); "
    "groundtruth.txt + frames in color/, imgs/, img/ or the folder itself (VOT); "
    "anno/ + data_seq/ (UAV123 root), or a folder inside data_seq/ (UAV123 sequence); "
    "a folder inside frames/ with ../anno/<name>.txt (TrackingNet)"
)


# --------------------------------------------------------------------------------------------------
# The sequence
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Sequence:
    """One annotated sequence: frame files and one box per frame.

    Attributes:
        name: the sequence's name as the benchmark spells it (``"Crossing"``, ``"Jogging-1"``,
            ``"GOT-10k_Val_000001"``, ``"airplane-1"``).
        frames: frame image files in playback order (natural/numeric sort).
        boxes: ``[N, 4]`` float64, read-only, one ``x, y, w, h`` per frame in pixels, 0-based,
            ``(x, y)`` the top-left corner (the module's convention); a row of NaN where the target is
            absent or the frame has no annotation.
        layout: the layout the sequence was read as (one of :data:`SUPPORTED_LAYOUTS`).
        attributes: extra per-sequence information of the layout (OTB ``attrs.txt``, LaSOT
            ``nlp.txt`` and flags, GOT-10k ``cover.label`` and ``meta_info.ini``, VOT tags, ...), plus
            ``"annotation"``: the path of the annotation file.
    """

    name: str
    frames: tuple[Path, ...]
    boxes: np.ndarray
    layout: str
    attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        frames = tuple(Path(f) for f in self.frames)
        boxes = np.array(self.boxes, dtype=np.float64, copy=True)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise InputError(f"sequence {self.name!r}: boxes must have shape [N, 4] (x, y, w, h per frame), "
                             f"got {boxes.shape}")
        if not frames:
            raise InputError(f"sequence {self.name!r} has no frames; give at least one frame file")
        if len(frames) != len(boxes):
            raise InputError(f"sequence {self.name!r}: {len(frames)} frames but {len(boxes)} boxes; "
                             "give one box (or a NaN row) per frame")
        boxes.setflags(write=False)
        object.__setattr__(self, "frames", frames)
        object.__setattr__(self, "boxes", boxes)

    def __len__(self) -> int:
        """Number of frames."""
        return len(self.frames)

    def __repr__(self) -> str:
        return f"Sequence(name={self.name!r}, layout={self.layout!r}, frames={len(self.frames)})"

    @property
    def present(self) -> np.ndarray:
        """``[N]`` bool: True where the frame has a box (the target is annotated as present)."""
        return np.isfinite(self.boxes).all(axis=1)

    @property
    def init_box(self) -> np.ndarray:
        """The first frame's box, ``[4]`` float64 ``x, y, w, h`` 0-based, the tracker's initialisation.

        Raises:
            InputError: the first frame has no box (target absent in frame 0).
        """
        box = self.boxes[0]
        if not np.isfinite(box).all():
            raise InputError(f"sequence {self.name!r}: the first frame ({self.frames[0]}) has no box (the "
                             "annotation marks the target absent); a tracker cannot be initialised on it; "
                             "start the sequence at the first frame with a box")
        return box.copy()

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (negative counts from the end) as a BGR uint8 ``[H, W, 3]`` image.

        Raises:
            InputError: the index is out of range, or the file is missing or cannot be decoded.
        """
        n = len(self.frames)
        if not isinstance(index, (int, np.integer)) or not -n <= int(index) < n:
            raise InputError(f"frame index {index!r} is out of range for sequence {self.name!r} with {n} frames "
                             f"(valid: 0..{n - 1})")
        path = self.frames[int(index)]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(f"cannot read frame {int(index)} of sequence {self.name!r}: {path} is missing, "
                             "unreadable or not an image OpenCV can decode; check or replace the file")
        return image


# --------------------------------------------------------------------------------------------------
# Text parsing
# --------------------------------------------------------------------------------------------------

@dataclass
class _Annotation:
    """Boxes parsed from one annotation file, with the line each came from (for error messages)."""

    path: Path
    boxes: np.ndarray      # [N, 4] float64, already converted to 0-based; NaN rows for absent markers
    linenos: list[int]     # 1-based line number of each row
    texts: list[str]       # the line's text


def _read_text(path: Path, what: str = "annotation file") -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist; check the path and the dataset layout") from None
    except IsADirectoryError:
        raise InputError(f"{what} {path} is a folder, expected a text file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path} is not UTF-8/ASCII text ({exc.reason} at byte {exc.start}); "
                         "expected lines of numbers") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _data_lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, stripped text)`` of every line; trailing blank lines dropped.

    A blank line before the last non-blank one is an error: it would shift every later box onto the
    wrong frame.
    """
    lines = _read_text(path).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    out = []
    for lineno, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            raise InputError(f"{path}, line {lineno}: blank line inside the annotation; each frame needs one "
                             "line of numbers (write NaN,NaN,NaN,NaN for a frame without a box)")
        out.append((lineno, text))
    if not out:
        raise InputError(f"annotation file {path} is empty; expected one line of numbers per frame")
    return out


def _numbers(path: Path, lineno: int, text: str) -> list[float]:
    """The numbers of one line, separated by commas, tabs, spaces or semicolons, mixed."""
    fields = [f for f in _SEPARATORS.split(text) if f]
    try:
        values = [float(f) for f in fields]
    except ValueError:
        raise InputError(f"{path}, line {lineno}: cannot parse {text!r} as numbers; expected numbers separated "
                         "by commas, tabs or spaces") from None
    if any(math.isinf(v) for v in values):
        raise InputError(f"{path}, line {lineno}: infinite value in {text!r}; boxes must be finite numbers "
                         "(or NaN for an absent target)")
    return values


def _absent_marker(values: np.ndarray) -> bool:
    """All NaN, or all zero: the target is absent in this frame."""
    return bool(np.isnan(values).all() or (values == 0).all())


def _check_partial_nan(path: Path, lineno: int, text: str, values: np.ndarray) -> None:
    if np.isnan(values).any():
        raise InputError(f"{path}, line {lineno}: {text!r} mixes NaN and numbers; write all values as NaN for "
                         "an absent target, or all as numbers")


def _parse_xywh(path: Path, *, one_based: bool) -> _Annotation:
    """A file of ``x, y, w, h`` lines; subtract 1 from x and y when ``one_based``."""
    rows, linenos, texts = [], [], []
    offset = np.array([1.0, 1.0, 0.0, 0.0]) if one_based else np.zeros(4)
    for lineno, text in _data_lines(path):
        values = np.array(_numbers(path, lineno, text), dtype=np.float64)
        if len(values) != 4:
            raise InputError(f"{path}, line {lineno}: expected 4 values (x, y, w, h), got {len(values)} in "
                             f"{text!r}")
        if _absent_marker(values):
            rows.append(np.full(4, np.nan))
        else:
            _check_partial_nan(path, lineno, text, values)
            rows.append(values - offset)
        linenos.append(lineno)
        texts.append(text)
    return _Annotation(path, np.array(rows, dtype=np.float64).reshape(-1, 4), linenos, texts)


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


def _check_sizes(ann: _Annotation, skip: np.ndarray | None = None) -> None:
    """Every box that is not absent (and not ``skip``-ped) must have width and height > 0."""
    boxes = ann.boxes
    bad = np.isfinite(boxes).all(axis=1) & ((boxes[:, 2] <= 0) | (boxes[:, 3] <= 0))
    if skip is not None:
        bad &= ~skip[: len(bad)]
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{ann.path}, line {ann.linenos[i]}: box {ann.texts[i]!r} has width {boxes[i, 2]:g} and "
                         f"height {boxes[i, 3]:g}; sizes must be > 0 (a frame without the target is written "
                         "NaN,NaN,NaN,NaN or 0,0,0,0)")


def _read_flags(path: Path, what: str, allowed: range | None = range(0, 2)) -> np.ndarray:
    """Integers per frame, one or many per line (LaSOT flags, GOT-10k labels), as an int64 array."""
    out: list[int] = []
    for lineno, text in _data_lines(path):
        for value in _numbers(path, lineno, text):
            if value != int(value) or (allowed is not None and int(value) not in allowed):
                expect = f"{allowed.start}..{allowed.stop - 1}" if allowed is not None else "integers"
                raise InputError(f"{path}, line {lineno}: {what} must be {expect}, got {value:g} in {text[:60]!r}")
            out.append(int(value))
    return np.array(out, dtype=np.int64)


# --------------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------------

def natural_key(name: str) -> tuple:
    """Sort key ordering digit runs by value: ``1.jpg < 2.jpg < 10.jpg``; ties broken by the name."""
    parts = _DIGITS.split(name)
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)) + (name,)


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def list_frames(folder: PathLike) -> list[Path]:
    """Image files (:data:`IMAGE_EXTENSIONS`) directly in ``folder``, in natural (numeric) order.

    Raises:
        InputError: the folder does not exist or holds no image file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"frame folder {folder} does not exist; check the dataset layout")
    frames = sorted((p for p in folder.iterdir() if _is_image(p) and p.is_file()), key=lambda p: natural_key(p.name))
    if not frames:
        raise InputError(f"frame folder {folder} holds no image ({', '.join(IMAGE_EXTENSIONS)}); check the path")
    return frames


def _frame_number(path: Path) -> int | None:
    """The last run of digits in the file name's stem (``0300.jpg`` -> 300), or None."""
    runs = _DIGITS.findall(path.stem)
    return int(runs[-1]) if runs else None


def _frames_in_range(frames: list[Path], start: int, end: int) -> list[Path]:
    return [f for f in frames if (n := _frame_number(f)) is not None and start <= n <= end]


def _require_dir(path: PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{what} {path} is not a folder (does it exist?); pass the folder of the sequence")
    return path


def _count_mismatch(ann_path: Path, n_boxes: int, frame_dir: Path, n_frames: int, hint: str = "") -> InputError:
    return InputError(f"{ann_path} has {n_boxes} boxes but {frame_dir} holds {n_frames} frames; each frame needs "
                      f"exactly one box; check that neither the folder nor the file is incomplete{hint}")


def _pad_first_frame_only(ann: _Annotation, n_frames: int) -> tuple[np.ndarray, bool]:
    """Test splits (GOT-10k, TrackingNet) give only the first box: NaN for the other frames."""
    if len(ann.boxes) == 1 and n_frames > 1:
        boxes = np.full((n_frames, 4), np.nan)
        boxes[0] = ann.boxes[0]
        return boxes, True
    return ann.boxes, False


# --------------------------------------------------------------------------------------------------
# Readers, one per layout
# --------------------------------------------------------------------------------------------------

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


def _subdirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: natural_key(p.name))


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


# --------------------------------------------------------------------------------------------------
# Layout detection and the generic entry points
# --------------------------------------------------------------------------------------------------

def _normalize_layout(layout: str) -> str:
    key = re.sub(r"[-_ @]", "", str(layout).lower())
    key = _LAYOUT_ALIASES.get(key, key)
    if key != "auto" and key not in SUPPORTED_LAYOUTS:
        raise InputError(f"unknown layout {layout!r}; supported: 'auto', {', '.join(map(repr, SUPPORTED_LAYOUTS))}")
    return key


def _uav_root_of(path: Path) -> tuple[Path, str | None] | None:
    """For a folder inside ``data_seq/`` (or ``data_seq/<subset>/``): the UAV123 root and subset."""
    if path.parent.name == "data_seq" and (path.parent.parent / "anno").is_dir():
        return path.parent.parent, None
    if path.parent.parent.name == "data_seq" and (path.parent.parent.parent / "anno").is_dir():
        return path.parent.parent.parent, path.parent.name
    return None


def _has_frames(folder: Path) -> bool:
    try:
        return any(_is_image(p) for p in folder.iterdir())
    except OSError:
        return False


def detect_layout(path: PathLike) -> str:
    """The layout of the sequence folder ``path``, one of :data:`SUPPORTED_LAYOUTS`, from the files present.

    DTB70 folders are indistinguishable from OTB ones and are reported as ``"otb"`` (same conversion).

    Raises:
        InputError: the path is not a folder, or no known layout matches (the message lists what
            was looked for).
    """
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path} is not a folder (does it exist?); pass a sequence folder")
    if (path / "anno").is_dir() and (path / "data_seq").is_dir():
        return "uav123"
    if _uav_root_of(path) is not None:
        return "uav123"
    if path.parent.name == "frames" and (path.parent.parent / "anno" / f"{path.name}.txt").is_file():
        return "trackingnet"
    if (path / "img").is_dir() and _otb_annotation_files(path):
        return "otb"
    if (path / "groundtruth.txt").is_file():
        if any((path / f).is_file() for f in ("full_occlusion.txt", "out_of_view.txt", "nlp.txt")):
            return "lasot"
        if any((path / f).is_file() for f in ("absence.label", "cover.label", "meta_info.ini")) or \
                path.name.lower().startswith("got-10k_"):
            return "got10k"
        if (path / "img").is_dir() and re.fullmatch(r"[a-z_]+-\d+", path.name) and \
                not any((path / d).is_dir() for d in ("color", "imgs")):
            return "lasot"
        frame_dir = _vot_frame_dir(path)
        if _has_frames(frame_dir):
            return "vot"
    try:
        found = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    except OSError:
        found = []
    shown = ", ".join(found[:12]) + (", ..." if len(found) > 12 else "")
    raise InputError(f"cannot tell the dataset layout of {path}: looked for {_LOOKED_FOR}; "
                     f"found: {shown or 'nothing'}. "
                     f"Supported layouts: {', '.join(SUPPORTED_LAYOUTS)}; pass layout=... to choose one")


def load_sequence(path: PathLike, layout: str = "auto", **options: Any) -> Sequence:
    """Read one sequence, detecting its layout from the files present unless ``layout`` is given.

    Args:
        path: the sequence folder. For UAV123: a root with a single sequence, or the folder
            ``data_seq/[<subset>/]<name>``; for TrackingNet: the folder ``<chunk>/frames/<name>``.
        layout: ``"auto"`` or one of :data:`SUPPORTED_LAYOUTS`.
        **options: passed to the layout's reader (``target=`` for OTB, ``name=``, ``subset=`` and
            ``frame_range=`` for UAV123, ...).

    Raises:
        InputError: unknown layout, or any problem reading the files.
    """
    path = Path(path)
    kind = _normalize_layout(layout)
    if kind == "auto":
        kind = detect_layout(path)
    args: tuple[Any, ...] = (path,)
    if kind in ("otb", "dtb70"):
        reader: Callable[..., Sequence] = load_otb
        options.setdefault("layout", kind)
    elif kind == "uav123":
        reader = load_uav123
        if not _is_uav_root(path):
            located = _uav_root_of(path)
            if located is None:
                raise InputError(f"{path} is neither a UAV123 root (anno/ + data_seq/) nor a folder inside data_seq/")
            root, subset = located
            args = (root,)
            options.setdefault("name", path.name)
            if subset is not None and (root / "anno" / subset).is_dir():
                options.setdefault("subset", subset)
    elif kind == "trackingnet":
        if path.parent.name != "frames":
            raise InputError(f"{path} is not a TrackingNet sequence folder: expected <chunk>/frames/<name>")
        reader = load_trackingnet
        args = (path.parent.parent, options.pop("name", path.name))
    else:
        reader = {"vot": load_vot, "got10k": load_got10k, "lasot": load_lasot}[kind]
    try:
        inspect.signature(reader).bind(*args, **options)
    except TypeError as exc:
        raise InputError(f"bad option for the {kind} reader {reader.__name__}: {exc}") from None
    return reader(*args, **options)


class Dataset(cabc.Sequence):
    """The sequences of a dataset root, read lazily: names are known at once, a sequence's files are
    read the first time it is accessed (then cached). Indexable by position or by name; iterating
    yields :class:`Sequence` objects in name order.
    """

    def __init__(self, root: Path, layout: str, entries: list[tuple[str, Callable[[], Sequence]]]):
        self.root = root
        self.layout = layout
        entries = sorted(entries, key=lambda e: natural_key(e[0]))
        self._names = [n for n, _ in entries]
        self._loaders = [f for _, f in entries]
        self._index = {n: i for i, n in enumerate(self._names)}
        self._cache: dict[int, Sequence] = {}

    @property
    def names(self) -> list[str]:
        """Sequence names, sorted (natural order)."""
        return list(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, slice):
            return [self[i] for i in range(*key.indices(len(self)))]
        if isinstance(key, str):
            if key not in self._index:
                raise KeyError(f"no sequence {key!r} in {self.root}; names: {self._names[:10]}...")
            key = self._index[key]
        n = len(self)
        if not -n <= key < n:
            raise IndexError(f"sequence index {key} out of range for a dataset of {n} sequences")
        key %= n
        if key not in self._cache:
            self._cache[key] = self._loaders[key]()
        return self._cache[key]

    def __repr__(self) -> str:
        return f"Dataset(root={str(self.root)!r}, layout={self.layout!r}, sequences={len(self)})"


def _sequence_entries(folder: Path, layout: str) -> list[tuple[str, Callable[[], Sequence]]]:
    """Entries of one sequence folder; OTB two-target folders give one entry per target."""
    kind = detect_layout(folder) if layout == "auto" else layout
    if kind == "uav123" and _is_uav_root(folder):
        return [(n, lambda f=folder, n=n: load_uav123(f, n)) for n in _uav_names(folder, None)]
    if kind in ("otb", "dtb70"):
        files = _otb_annotation_files(folder)
        if len(files) > 1 or (files and files[0][0] is not None):
            return [(f"{folder.name}-{t}", lambda f=folder, t=t, k=kind: load_otb(f, target=t, layout=k))
                    for t, _ in files]
    return [(folder.name, lambda f=folder, k=kind: load_sequence(f, k))]


def _is_uav_root(path: Path) -> bool:
    return (path / "anno").is_dir() and (path / "data_seq").is_dir()


def _is_trackingnet_chunk(path: Path) -> bool:
    return (path / "anno").is_dir() and (path / "frames").is_dir()


def load_dataset(root: PathLike, layout: str = "auto", *, subset: str | None = None) -> Dataset:
    """Every sequence under a dataset root, sorted by name, read lazily (see :class:`Dataset`).

    Recognised roots: a UAV123 root (``anno/`` + ``data_seq/``); a TrackingNet chunk (``anno/`` +
    ``frames/``) or the TrackingNet root with ``TRAIN_k``/``TEST`` chunks; a GOT-10k split or a VOT
    root with ``list.txt`` (one sequence folder per line); a GOT-10k root with ``train/ val/ test/``
    (pass ``subset``); a LaSOT root of class folders; any folder of sequence folders (OTB, DTB70,
    VOT, ...). OTB folders with two targets give two sequences (``Jogging-1``, ``Jogging-2``).

    Args:
        root: the dataset root.
        layout: ``"auto"`` (detect each sequence's layout) or one of :data:`SUPPORTED_LAYOUTS`.
        subset: UAV123 annotation subset (``UAV123``, ``UAV123_10fps``, ``UAV20L``), GOT-10k split
            (``train``, ``val``, ``test``) or TrackingNet chunk (``TRAIN_0``..., ``TEST``).

    Raises:
        InputError: the root is not a folder, or no sequence was found in it.
    """
    root = _require_dir(root, "dataset root")
    kind = _normalize_layout(layout)
    entries: list[tuple[str, Callable[[], Sequence]]] = []

    if _is_uav_root(root) and kind in ("auto", "uav123"):
        names = _uav_names(root, subset)
        entries = [(n, lambda n=n: load_uav123(root, n, subset=subset)) for n in names]
        return _finish(root, "uav123", entries)

    chunks = [root] if _is_trackingnet_chunk(root) else \
        [d for d in _subdirs(root) if re.fullmatch(r"(TRAIN_\d+|TEST)", d.name, re.I) and _is_trackingnet_chunk(d)]
    if chunks and kind in ("auto", "trackingnet"):
        if subset is not None:
            chunks = [d for d in chunks if d.name == subset]
            if not chunks:
                raise InputError(f"TrackingNet chunk {subset!r} not found under {root}")
        for chunk in chunks:
            for path in sorted((chunk / "anno").glob("*.txt")):
                if (chunk / "frames" / path.stem).is_dir():
                    entries.append((path.stem, lambda c=chunk, n=path.stem: load_trackingnet(c, n)))
        return _finish(root, "trackingnet", entries)

    splits = [d for d in _subdirs(root) if d.name.lower() in ("train", "val", "test") and (d / "list.txt").is_file()]
    if splits and not (root / "list.txt").is_file():
        if subset is None:
            raise InputError(f"{root} holds the splits {[d.name for d in splits]}; pass subset=<split> (or the "
                             "split's folder) to load one")
        chosen = [d for d in splits if d.name.lower() == subset.lower()]
        if not chosen:
            raise InputError(f"split {subset!r} not found under {root}; splits present: {[d.name for d in splits]}")
        return load_dataset(chosen[0], layout)

    if (root / "list.txt").is_file():
        list_file = root / "list.txt"
        for lineno, text in _data_lines(list_file):
            folder = root / text
            if not folder.is_dir():
                raise InputError(f"{list_file}, line {lineno}: sequence folder {folder} does not exist")
            entries.extend(_sequence_entries(folder, kind))
        return _finish(root, kind, entries)

    for child in _subdirs(root):
        try:
            entries.extend(_sequence_entries(child, kind))
            continue
        except InputError:
            pass
        # LaSOT: a class folder of <class>-<n> sequence folders.
        for grandchild in _subdirs(child):
            try:
                entries.extend(_sequence_entries(grandchild, kind))
            except InputError:
                pass
    return _finish(root, kind, entries)


def _finish(root: Path, layout: str, entries: list[tuple[str, Callable[[], Sequence]]]) -> Dataset:
    if not entries:
        raise InputError(f"no sequence found under {root}: looked for sequence folders with {_LOOKED_FOR}. "
                         f"Supported layouts: {', '.join(SUPPORTED_LAYOUTS)}")
    dupes = sorted(n for n, count in Counter(n for n, _ in entries).items() if count > 1)
    if dupes:
        raise InputError(f"several sequences under {root} share the names {dupes[:5]}; load the parts separately")
    return Dataset(root, layout, entries)


__all__ = [
    "Dataset", "IMAGE_EXTENSIONS", "OTB_FRAME_RANGES", "SUPPORTED_LAYOUTS", "Sequence", "detect_layout",
    "list_frames", "load_dataset", "load_dtb70", "load_got10k", "load_lasot", "load_otb", "load_sequence",
    "load_trackingnet", "load_uav123", "load_vot", "natural_key",
]
