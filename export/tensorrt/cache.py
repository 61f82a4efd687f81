"""The engine cache: plans under a key, each with a JSON manifest beside it, never loaded blindly.

Layout of a cache folder (``engines/``, or the user cache for ``edge-tracker track --backend trt``)::

    scs-siam-search.fp16.3f9a0c2d61b7e4a8.plan   the serialised engine (TensorRT's bytes, untouched)
    scs-siam-search.fp16.3f9a0c2d61b7e4a8.json   its manifest: key, sha256 of the plan, I/O, build record
    scs-siam-search.fp16.3f9a0c2d61b7e4a8.lock   taken while the engine is built (fcntl, see files.py)
    timing.trt10.3.0.0.orin.sm87.cache           TensorRT's timing cache for this TensorRT and GPU
    runtime.rtx1.7.1.116.nvidia-geforce-rtx-4090.sm89.cache
                                                 TensorRT-RTX's runtime cache (kernels JIT-compiled on this GPU)

**The key** (:class:`EngineKey`) is everything an engine depends on: the ONNX graph's sha256,
the precision, the product (TensorRT or TensorRT-RTX) and its version, the GPU's name and compute
capability (TensorRT; a TensorRT-RTX plan is not pinned to a GPU: "portable" and its compute
capability targets instead), the DLA core and the build options that change the engine; its sha256 names the files, so any field that differs
gives another file. **A plan is used** only when its manifest holds exactly this key and the
plan's bytes match the manifest's sha256. Otherwise it is rebuilt, or refused with the reason
(``build=None``, the ``--no-build`` mode): *missing*, *stale* (an engine of this phase exists, built
from another graph or with other options), *foreign* (built for another TensorRT or GPU), or
*corrupt* (unreadable manifest, plan missing or failing its sha256, a plan with no manifest).

**Writes are atomic and locked**: the plan is written first and the manifest last, each by
atomic rename, under the key's lock; a reader that sees a manifest sees its whole plan, and a
process that waited for the lock finds the engine the other one built.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_tracker.backends.trt_io import TensorIO
from edge_tracker.errors import InputError
from edge_tracker.manifest import sha256_file
from export.tensorrt.files import atomic_write_bytes, file_lock
from export.tensorrt.manifest import engine_manifest, read_engine_manifest
from export.tensorrt.options import BuildOptions
from export.tensorrt_support import TensorRTVersion

logger = logging.getLogger("edge_tracker.export.tensorrt")

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
KEY_FIELDS = ("onnx_sha256", "precision", "product", "tensorrt_version", "gpu_name", "compute_capability",
              "targets", "dla_core", "options")
PORTABLE = "portable"  # gpu_name and compute_capability of a TensorRT-RTX plan: built for targets, not a GPU


class EngineCacheError(InputError):
    """No usable engine for a key, and building is not allowed (or the cache cannot be written)."""


@dataclass(frozen=True)
class DeviceInfo:
    """The machine an engine is built for: what TensorRT and the GPU say about themselves.

    A TensorRT-RTX plan is built for compute capability targets, not for the building GPU (there may
    be none): :meth:`portable` gives its DeviceInfo, the same on the build machine and the GPU.
    """

    gpu_name: str                      # e.g. "Orin", "NVIDIA GeForce RTX 4090"; "portable" (RTX)
    compute_capability: tuple[int, int] | None  # e.g. (8, 7); None: a portable RTX plan
    tensorrt_version: TensorRTVersion  # the product's own version (TensorRT-RTX: 1.x)
    product: str = "tensorrt"          # export.tensorrt_support.PRODUCTS key: "tensorrt" or "rtx"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tensorrt_version", TensorRTVersion.parse(self.tensorrt_version))
        if self.compute_capability is not None:
            object.__setattr__(self, "compute_capability", tuple(int(v) for v in self.compute_capability))

    @classmethod
    def portable(cls, version, product: str = "rtx") -> DeviceInfo:
        """A plan built ahead of time for compute capability targets (TensorRT-RTX), on any machine."""
        return cls(PORTABLE, None, version, product)

    @property
    def sm(self) -> str:
        return PORTABLE if self.compute_capability is None else "sm_{}{}".format(*self.compute_capability)

    @property
    def product_name(self) -> str:
        return "TensorRT-RTX" if self.product == "rtx" else "TensorRT"

    def describe(self) -> str:
        if self.compute_capability is None:
            return f"{self.product_name} {self.tensorrt_version}, portable plans (no GPU needed to build)"
        return f"{self.product_name} {self.tensorrt_version} on {self.gpu_name} ({self.sm})"


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on (see the module docstring); ``digest`` names its files."""

    onnx_sha256: str
    precision: str
    product: str              # "tensorrt" or "rtx"
    tensorrt_version: str     # the product's version, canonical "MAJOR.MINOR.PATCH.BUILD"
    gpu_name: str             # "portable" for a TensorRT-RTX plan
    compute_capability: str   # "MAJOR.MINOR"; "portable" for a TensorRT-RTX plan
    targets: str              # TensorRT-RTX's compute capability targets, "sm75,sm86"; "default"; "" (TensorRT)
    dla_core: int | None
    options: tuple[tuple[str, Any], ...]  # BuildOptions.key_fields(), sorted

    @classmethod
    def for_build(cls, onnx_sha256: str, precision: str, device: DeviceInfo, options: BuildOptions) -> EngineKey:
        if not re.fullmatch(r"[0-9a-f]{64}", onnx_sha256 or ""):
            raise InputError(f"an ONNX sha256 is 64 hex digits, got {onnx_sha256!r}")
        capability = PORTABLE if device.compute_capability is None else "{}.{}".format(*device.compute_capability)
        targets = (",".join(options.compute_capabilities) or "default") if device.product == "rtx" else ""
        return cls(onnx_sha256, precision, device.product, str(device.tensorrt_version), device.gpu_name,
                   capability, targets, options.dla_core, tuple(sorted(options.key_fields().items())))

    def as_dict(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in KEY_FIELDS}
        values["options"] = dict(self.options)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EngineKey:
        if not isinstance(values, dict) or set(values) != set(KEY_FIELDS) or not isinstance(values["options"], dict):
            raise InputError(f"an engine key has exactly the fields {list(KEY_FIELDS)}, got {values!r}")
        return cls(**{**values, "options": tuple(sorted(values["options"].items()))})

    @property
    def digest(self) -> str:
        """sha256 of the key's canonical JSON: the same key gives the same name on every machine."""
        import hashlib

        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()

    def differences(self, other: EngineKey) -> dict[str, tuple[Any, Any]]:
        """``{field: (self's value, other's value)}`` for each field that differs."""
        mine, theirs = self.as_dict(), other.as_dict()
        return {name: (mine[name], theirs[name]) for name in KEY_FIELDS if mine[name] != theirs[name]}


@dataclass(frozen=True)
class BuiltEngine:
    """What a build returns to the cache: the plan's bytes, its I/O, and a record of the build."""

    plan: bytes
    io: list[TensorIO]
    record: dict[str, Any] = field(default_factory=dict)  # graph kind, seconds, TensorRT's switches, ...


@dataclass(frozen=True)
class CachedEngine:
    """A verified cache entry."""

    plan_path: Path
    manifest_path: Path
    manifest: dict[str, Any]

    @property
    def io(self) -> list[TensorIO]:
        return [TensorIO.from_dict(record) for record in self.manifest["io"]]

    def load_plan(self) -> bytes:
        """The plan's bytes, checked again against the manifest's sha256 (it may have changed since the lookup)."""
        import hashlib

        data = self.plan_path.read_bytes()
        if hashlib.sha256(data).hexdigest() != self.manifest["plan"]["sha256"]:
            raise EngineCacheError(f"{self.plan_path} changed since it was checked (its bytes fail their sha256); "
                                   "run again to rebuild it")
        return data


@dataclass(frozen=True)
class Problem:
    """Why the entry for a key cannot be used."""

    kind: str  # "missing", "stale", "foreign" or "corrupt"
    reason: str


class EngineCache:
    """A folder of engines (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # ----------------------------------------------------------------- paths
    def paths(self, key: EngineKey, label: str) -> tuple[Path, Path, Path]:
        """``(plan, manifest, lock)`` paths of ``key``; ``label`` (e.g. "scs-siam-search") is for people."""
        if not _LABEL.match(label):
            raise InputError(f"an engine label is letters, digits, '.', '_' and '-', got {label!r}")
        stem = f"{label}.{key.precision}.{key.digest[:16]}"
        return self.root / f"{stem}.plan", self.root / f"{stem}.json", self.root / f"{stem}.lock"

    def timing_cache_path(self, device: DeviceInfo) -> Path:
        return self.root / f"timing.trt{device.tensorrt_version}.{_machine(device)}.cache"

    def runtime_cache_path(self, gpu: DeviceInfo) -> Path:
        """TensorRT-RTX's runtime cache for the GPU that runs the plans (``gpu``: the running GPU, not portable)."""
        return self.root / f"runtime.rtx{gpu.tensorrt_version}.{_machine(gpu)}.cache"

    def write_runtime_cache(self, path: Path, data: bytes) -> None:
        """Replace a runtime cache file atomically, under its lock (the runners of a tracker share it)."""
        self._make_root()
        with file_lock(path.with_name(path.name + ".lock")):
            atomic_write_bytes(path, data)

    # ----------------------------------------------------------------- lookup
    def check(self, key: EngineKey, label: str) -> tuple[CachedEngine | None, Problem | None]:
        """The verified entry of ``key``, or the problem that makes it unusable."""
        plan_path, manifest_path, _ = self.paths(key, label)
        if not manifest_path.exists():
            if plan_path.exists():
                return None, Problem("corrupt", f"{plan_path.name} has no manifest beside it, and a plan is never "
                                                "loaded blindly")
            return None, self._explain_miss(key, label)
        try:
            manifest = read_engine_manifest(manifest_path)
            found = EngineKey.from_dict(manifest["key"])
        except InputError as err:
            return None, Problem("corrupt", str(err))
        if found != key:  # only by hand: the file name is the key's digest
            return None, Problem("corrupt", f"{manifest_path.name} holds the key of another engine "
                                            f"({_mismatch(found, key, 'it').reason})")
        if not plan_path.is_file():
            return None, Problem("corrupt", f"{plan_path.name}, listed in its manifest, is missing")
        if plan_path.stat().st_size != manifest["plan"]["bytes"] or sha256_file(plan_path) != manifest["plan"]["sha256"]:
            return None, Problem("corrupt", f"{plan_path.name} fails the sha256 in its manifest (truncated, or changed "
                                            "after the build)")
        return CachedEngine(plan_path, manifest_path, manifest), None

    def get(self, key: EngineKey, label: str, build: Callable[[], BuiltEngine] | None,
            source: dict[str, Any] | None = None, hint: str = "") -> CachedEngine:
        """The entry of ``key``: verified from the cache, or built now by ``build`` and stored.

        ``build=None`` (``--no-build``): EngineCacheError saying why there is no usable engine and
        how to build one (``hint``: the command). ``source`` goes into a new manifest (the graph's
        path, tracker and phase).
        """
        entry, problem = self.check(key, label)
        if entry is not None:
            return entry
        _, _, lock_path = self.paths(key, label)
        if build is None and not os.access(self.root, os.W_OK):
            raise self._refusal(key, label, problem, hint)  # a read-only cache: nobody can be writing it
        self._make_root()
        with file_lock(lock_path, waiting_message=f"waiting for another process building {label} ({key.precision})"):
            entry, problem = self.check(key, label)  # the other process may have built it meanwhile
            if entry is not None:
                return entry
            if build is None:
                raise self._refusal(key, label, problem, hint)
            logger.warning("building the %s %s engine (%s: %s); this takes minutes, once", label, key.precision,
                           problem.kind, problem.reason)
            return self.store(key, label, build(), source or {})

    def store(self, key: EngineKey, label: str, built: BuiltEngine, source: dict[str, Any]) -> CachedEngine:
        """Write a built engine under ``key`` (plan first, manifest last; call under the key's lock)."""
        plan_path, manifest_path, _ = self.paths(key, label)
        self._make_root()
        manifest = engine_manifest(key.as_dict(), key.digest, plan_path.name, built.plan, built.io,
                                   {"label": label, **source}, built.record)
        manifest_path.unlink(missing_ok=True)  # never a manifest beside a half-replaced plan
        atomic_write_bytes(plan_path, built.plan)
        atomic_write_bytes(manifest_path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
        return CachedEngine(plan_path, manifest_path, manifest)

    def entries(self) -> list[tuple[Path, dict[str, Any]]]:
        """Every readable manifest in the folder (unreadable ones are skipped here; ``check`` reports them)."""
        found = []
        for path in sorted(self.root.glob("*.json")):
            try:
                found.append((path, read_engine_manifest(path)))
            except InputError:
                continue
        return found

    # ----------------------------------------------------------------- helpers
    def _refusal(self, key: EngineKey, label: str, problem: Problem, hint: str) -> EngineCacheError:
        return EngineCacheError(f"no usable {key.precision} engine for {label} in {self.root} ({problem.kind}: "
                                f"{problem.reason}); build it{' with ' + hint if hint else ''}, or run "
                                "without --no-build to build it now")

    def _make_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise EngineCacheError(f"cannot create the engine folder {self.root}: {err}; choose a writable one") from err

    def _explain_miss(self, key: EngineKey, label: str) -> Problem:
        """A miss, told as *stale* or *foreign* when engines of the same phase and precision are here."""
        same_phase = []
        for path, manifest in self.entries():
            if manifest["source"].get("label") == label and manifest["key"].get("precision") == key.precision:
                try:
                    same_phase.append((path, EngineKey.from_dict(manifest["key"])))
                except InputError:
                    continue
        if not same_phase:
            return Problem("missing", f"no {key.precision} engine of {label} has been built here")
        path, nearest = min(same_phase, key=lambda item: len(key.differences(item[1])))
        return _mismatch(nearest, key, path.name)


def _machine(device: DeviceInfo) -> str:
    gpu = re.sub(r"[^a-z0-9]+", "-", device.gpu_name.lower()).strip("-") or "gpu"
    sm = PORTABLE if device.compute_capability is None else "sm" + "".join(map(str, device.compute_capability))
    return f"{gpu}.{sm}"


def _mismatch(found: EngineKey, wanted: EngineKey, where: str) -> Problem:
    """Foreign (another TensorRT or GPU) or stale (another graph, precision, DLA core or options)."""
    diff = found.differences(wanted)
    machine = {"product", "tensorrt_version", "gpu_name", "compute_capability", "targets"}
    if machine & set(diff):
        return Problem("foreign", f"{where} was built for {_describe(found)}; this machine has {_describe(wanted)}")
    parts = []
    if "onnx_sha256" in diff:
        parts.append(f"from another graph (ONNX sha256 {found.onnx_sha256[:12]}..., the graph now is "
                     f"{wanted.onnx_sha256[:12]}...)")
    for name in ("precision", "dla_core", "options"):
        if name in diff:
            parts.append(f"with {name} {diff[name][0]!r} (now {diff[name][1]!r})")
    return Problem("stale", f"{where} was built " + " and ".join(parts))


def _describe(key: EngineKey) -> str:
    if key.product == "rtx":
        return f"TensorRT-RTX {key.tensorrt_version} (targets {key.targets})"
    return f"TensorRT {key.tensorrt_version} on {key.gpu_name} (compute {key.compute_capability})"
