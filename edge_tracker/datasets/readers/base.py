"""What every reader shares: the :class:`Sequence` it returns, annotation text parsing, frame listing.

Boxes are float64 ``[N, 4]`` ``x, y, w, h`` in pixels, 0-based (the package docstring gives the
convention and each layout's conversion). Every problem with a file raises
:class:`edge_tracker.errors.InputError` naming the file and, for annotation text, the line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import cv2
import numpy as np

from edge_tracker.errors import InputError

PathLike = Union[str, Path]

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")
"""Frame file extensions, compared case-insensitively."""

# Annotation files in the wild mix commas, tabs, spaces (and semicolons) even within one file.
_SEPARATORS = re.compile(r"[,;\s]+")
_DIGITS = re.compile(r"(\d+)")  # digit runs: natural sort keys and frame numbers in file names


@dataclass(frozen=True, eq=False)
class Sequence:
    """One annotated sequence: frame files and one box per frame.

    Attributes:
        name: the sequence's name as the benchmark spells it (``"Crossing"``, ``"Jogging-1"``,
            ``"GOT-10k_Val_000001"``, ``"airplane-1"``).
        frames: frame image files in playback order (natural/numeric sort).
        boxes: ``[N, 4]`` float64, read-only, one ``x, y, w, h`` per frame in pixels, 0-based,
            ``(x, y)`` the top-left corner (the package's convention); a row of NaN where the target is
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


def _subdirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: natural_key(p.name))
