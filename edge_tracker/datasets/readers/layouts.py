"""Which layout a folder is, and the generic entry points: :func:`detect_layout`,
:func:`load_sequence`, :class:`Dataset` and :func:`load_dataset`.
"""

from __future__ import annotations

import collections.abc as cabc
import inspect
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from edge_tracker.datasets.readers.base import (
    PathLike,
    Sequence,
    _data_lines,
    _is_image,
    _require_dir,
    _subdirs,
    natural_key,
)
from edge_tracker.datasets.readers.large_scale import load_got10k, load_lasot, load_trackingnet
from edge_tracker.datasets.readers.otb import _otb_annotation_files, load_otb
from edge_tracker.datasets.readers.uav import (
    _is_uav_root,
    _uav_names,
    _uav_root_of,
    _uavdt_names,
    _uavdt_root_of,
    load_uav123,
    load_uavdt,
)
from edge_tracker.datasets.readers.vot import _vot_frame_dir, load_vot
from edge_tracker.errors import InputError

SUPPORTED_LAYOUTS: tuple[str, ...] = ("otb", "dtb70", "vot", "uav123", "uavdt", "got10k", "lasot",
                                       "trackingnet")
"""Layout names accepted by :func:`load_sequence` and :func:`load_dataset` (besides ``"auto"``)."""

_LAYOUT_ALIASES = {"uav": "uav123", "uav12310fps": "uav123", "uav20l": "uav123", "got": "got10k",
                   "dtb": "dtb70", "otb100": "otb", "otb2015": "otb", "tb100": "otb"}

_LOOKED_FOR = (
    "groundtruth_rect.txt (or groundtruth_rect.1.txt) + img/ (OTB, DTB70); "
    "groundtruth.txt + full_occlusion.txt / out_of_view.txt / nlp.txt (LaSOT); "
    "groundtruth.txt + absence.label / cover.label / meta_info.ini, or a GOT-10k_* folder name (GOT-10k); "
    "groundtruth.txt + frames in color/, imgs/, img/ or the folder itself (VOT); "
    "anno/ + data_seq/ (UAV123 root), or a folder inside data_seq/ (UAV123 sequence); "
    "anno/<name>_gt.txt + <name>/ (UAVDT root), or such a folder <name>/ (UAVDT sequence); "
    "a folder inside frames/ with ../anno/<name>.txt (TrackingNet)"
)


def _normalize_layout(layout: str) -> str:
    key = re.sub(r"[-_ @]", "", str(layout).lower())
    key = _LAYOUT_ALIASES.get(key, key)
    if key != "auto" and key not in SUPPORTED_LAYOUTS:
        raise InputError(f"unknown layout {layout!r}; supported: 'auto', {', '.join(map(repr, SUPPORTED_LAYOUTS))}")
    return key


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
    # UAVDT last: its files are a plain anno/ folder and frame folders, so every layout with a
    # more specific file keeps its earlier answer.
    if _uavdt_names(path):
        return "uavdt"
    if _uavdt_root_of(path) is not None and _has_frames(path):
        return "uavdt"
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
            ``data_seq/[<subset>/]<name>``; for UAVDT: a root with a single sequence, or the
            folder ``<root>/<name>``; for TrackingNet: the folder ``<chunk>/frames/<name>``.
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
    elif kind == "uavdt":
        reader = load_uavdt
        if not (path / "anno").is_dir():
            root = _uavdt_root_of(path)
            if root is None:
                raise InputError(f"{path} is neither a UAVDT root (anno/<name>_gt.txt + <name>/) nor a frame "
                                 "folder <root>/<name> with <root>/anno/<name>_gt.txt")
            args = (root,)
            options.setdefault("name", path.name)
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
    if kind == "uavdt" and _uavdt_names(folder):
        return [(n, lambda f=folder, n=n: load_uavdt(f, n)) for n in _uavdt_names(folder)]
    if kind in ("otb", "dtb70"):
        files = _otb_annotation_files(folder)
        if len(files) > 1 or (files and files[0][0] is not None):
            return [(f"{folder.name}-{t}", lambda f=folder, t=t, k=kind: load_otb(f, target=t, layout=k))
                    for t, _ in files]
    return [(folder.name, lambda f=folder, k=kind: load_sequence(f, k))]


def _is_trackingnet_chunk(path: Path) -> bool:
    return (path / "anno").is_dir() and (path / "frames").is_dir()


def load_dataset(root: PathLike, layout: str = "auto", *, subset: str | None = None) -> Dataset:
    """Every sequence under a dataset root, sorted by name, read lazily (see :class:`Dataset`).

    Recognised roots: a UAV123 root (``anno/`` + ``data_seq/``); a TrackingNet chunk (``anno/`` +
    ``frames/``) or the TrackingNet root with ``TRAIN_k``/``TEST`` chunks; a UAVDT root
    (``anno/<name>_gt.txt`` + ``<name>/``); a GOT-10k split or a VOT root with ``list.txt`` (one
    sequence folder per line); a GOT-10k root with ``train/ val/ test/`` (pass ``subset``); a LaSOT
    root of class folders; any folder of sequence folders (OTB, DTB70, VOT, UAVDT roots, ...). OTB
    folders with two targets give two sequences (``Jogging-1``, ``Jogging-2``).

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

    uavdt_names = _uavdt_names(root) if kind in ("auto", "uavdt") else []
    if uavdt_names:
        entries = [(n, lambda n=n: load_uavdt(root, n)) for n in uavdt_names]
        return _finish(root, "uavdt", entries)

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
