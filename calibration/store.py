"""A calibration set on disk: compressed ``.npz`` shards per phase and a ``manifest.json``.

Layout of a set folder::

    manifest.json            what the set is (see ``write_set``), every shard with its sha256
    search-000.npz           up to SHARD_SIZE feeds of the ``search`` phase: one array per input,
    search-001.npz           stacked on a new first axis ([n, *input shape])
    template-000.npz ...

Float inputs are stored as float16 when every value fits (crops are 0..255 with fractional parts,
features a few units: float16 keeps 3 significant digits, far below what INT8 calibration resolves)
and are handed back as the phase's own dtype. A set belongs to one tracker and one set of input
shapes: :meth:`CalibrationSet.check_matches` refuses a set of another tracker or input size.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_tracker.errors import InputError
from edge_tracker.manifest import sha256_file

SET_FORMAT = "edge_tracker.calibration_set"
SET_VERSION = 1
MANIFEST = "manifest.json"
SHARD_SIZE = 64  # feeds per shard: a few tens of MB for SCS-Siam's search crops
FLOAT16_MAX = 60000.0  # stored as float16 below this magnitude (float16's max is 65504)


@dataclass(frozen=True)
class Shard:
    file: str
    phase: str
    count: int
    sha256: str


def write_set(folder: Path, feeds: dict[str, list[dict[str, np.ndarray]]], info: dict[str, Any]) -> dict:
    """Write ``{phase: [feed, ...]}`` as shards plus the manifest; return the manifest.

    ``info`` is merged into the manifest (tracker, export, sources, sampling parameters, seed). The
    manifest is written last and atomically, so a folder with a manifest holds a whole set.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)
    shards: list[Shard] = []
    for phase, items in feeds.items():
        for start in range(0, len(items), SHARD_SIZE):
            chunk = items[start:start + SHARD_SIZE]
            name = f"{phase}-{start // SHARD_SIZE:03d}.npz"
            arrays = {key: _stored(np.stack([feed[key] for feed in chunk])) for key in chunk[0]}
            np.savez_compressed(folder / name, **arrays)
            shards.append(Shard(name, phase, len(chunk), sha256_file(folder / name)))
    manifest = {"format": SET_FORMAT, "format_version": SET_VERSION, **info,
                "counts": {phase: len(items) for phase, items in feeds.items()},
                "shards": [vars(s) for s in shards]}
    partial = folder / (MANIFEST + ".partial")
    partial.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(partial, folder / MANIFEST)
    return manifest


def _stored(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.float32 and np.all(np.isfinite(array)) and np.abs(array).max(initial=0) < FLOAT16_MAX:
        return array.astype(np.float16)
    return array


class CalibrationSet:
    """A set folder, validated on open: ``feeds(phase)`` yields feed dicts in the phases' dtypes."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        path = self.folder / MANIFEST
        if not self.folder.is_dir():
            raise InputError(f"calibration set {self.folder} does not exist; build one with "
                             f"`python -m calibration build SOURCE ... --tracker T --out {self.folder}`")
        if not path.is_file():
            raise InputError(f"{self.folder} holds no calibration set ({MANIFEST} missing); build one with "
                             f"`python -m calibration build SOURCE ... --tracker T --out {self.folder}`")
        try:
            manifest = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(f"{path} is not valid JSON ({err}); rebuild the calibration set") from err
        if not isinstance(manifest, dict) or manifest.get("format") != SET_FORMAT:
            raise InputError(f"{path} is not an edge_tracker calibration set manifest")
        if manifest.get("format_version") != SET_VERSION:
            raise InputError(f"{path} has calibration-set version {manifest.get('format_version')!r}; this "
                             f"edge_tracker reads version {SET_VERSION}: rebuild the set")
        self.manifest = manifest
        self.tracker: str = manifest["tracker"]
        self.shards = [Shard(**s) for s in manifest["shards"]]

    @property
    def phases(self) -> list[str]:
        return list(self.manifest["counts"])

    def count(self, phase: str) -> int:
        return int(self.manifest["counts"].get(phase, 0))

    def check_matches(self, tracker: str, inputs: dict[str, dict[str, tuple[int, ...]]]) -> None:
        """Refuse a set made for another tracker or other input shapes (``{phase: {input: shape}}``)."""
        if tracker != self.tracker:
            raise InputError(f"calibration set {self.folder} was built for '{self.tracker}', not '{tracker}'; "
                             f"build one for {tracker} with `python -m calibration build ... --tracker {tracker}`")
        recorded = self.manifest["export"]["inputs"]
        for phase, shapes in inputs.items():
            if phase not in recorded:
                continue
            for name, shape in shapes.items():
                have = tuple(recorded[phase].get(name, ()))
                if have != tuple(shape):
                    raise InputError(f"calibration set {self.folder}: phase '{phase}' input '{name}' has shape "
                                     f"{list(have)}, but this model takes {list(shape)} (another input size or "
                                     "width); rebuild the set from this model")

    def verify(self) -> None:
        """Check every shard against its sha256 (a corrupt or truncated shard is an InputError)."""
        for shard in self.shards:
            self._verified_path(shard)

    def feeds(self, phase: str, limit: int | None = None,
              dtypes: dict[str, np.dtype] | None = None) -> Iterator[dict[str, np.ndarray]]:
        """The stored feeds of ``phase``, each input as ``dtypes[name]`` (default float32 for floats)."""
        if self.count(phase) == 0:
            raise InputError(f"calibration set {self.folder} holds no data for phase '{phase}' "
                             f"(it has {self.phases})")
        given = 0
        for shard in (s for s in self.shards if s.phase == phase):
            with np.load(self._verified_path(shard)) as data:
                arrays = {key: data[key] for key in data.files}
            for i in range(shard.count):
                if limit is not None and given >= limit:
                    return
                feed = {}
                for key, stack in arrays.items():
                    want = (dtypes or {}).get(key, np.dtype(np.float32) if stack.dtype.kind == "f" else stack.dtype)
                    feed[key] = np.ascontiguousarray(stack[i], dtype=want)
                given += 1
                yield feed

    def _verified_path(self, shard: Shard) -> Path:
        path = self.folder / shard.file
        if not path.is_file():
            raise InputError(f"calibration set {self.folder}: shard {shard.file} is missing; rebuild the set")
        if sha256_file(path) != shard.sha256:
            raise InputError(f"calibration set {self.folder}: shard {shard.file} does not match its sha256 "
                             "(corrupt or changed); rebuild the set")
        return path


def digest_of(feeds: dict[str, list[dict[str, np.ndarray]]]) -> str:
    """sha256 over every stored value in order: equal for equal sets (the determinism check)."""
    digest = hashlib.sha256()
    for phase in sorted(feeds):
        for feed in feeds[phase]:
            for key in sorted(feed):
                digest.update(phase.encode() + key.encode() + _stored(feed[key]).tobytes())
    return digest.hexdigest()
