"""The JSON manifest beside each engine plan: what it was built from, for what, and its sha256.

Format (``format: edge_tracker.engine_manifest``, ``format_version: 1``)::

    key        the EngineKey fields (ONNX sha256, precision, TensorRT version, GPU, DLA core, options)
    key_sha256 the key's digest (the plan's file name holds its first 16 hex digits)
    plan       {file, sha256, bytes} of the plan beside it
    io         [{name, mode, shape, dtype}] in the engine's order: the runner's buffer plan
    source     {label, onnx, tracker, phase, ...}: which graph of which export
    build      {graph, switches, seconds, created, edge_tracker, host, ...}: how it was built

The manifest is never inside the plan: TensorRT reads the plan as it wrote it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import platform
from pathlib import Path
from typing import Any

from edge_tracker.backends.trt_io import TensorIO
from edge_tracker.errors import InputError

ENGINE_MANIFEST_FORMAT = "edge_tracker.engine_manifest"
ENGINE_MANIFEST_VERSION = 1
_SECTIONS = ("key", "key_sha256", "plan", "io", "source", "build")


def engine_manifest(key: dict[str, Any], key_sha256: str, plan_file: str, plan: bytes, io: list[TensorIO],
                    source: dict[str, Any], build: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a plan (see the module docstring)."""
    from edge_tracker import __version__

    record = {"created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "edge_tracker": __version__, "host": platform.node(), **build}
    return {"format": ENGINE_MANIFEST_FORMAT, "format_version": ENGINE_MANIFEST_VERSION, "key": key,
            "key_sha256": key_sha256,
            "plan": {"file": plan_file, "sha256": hashlib.sha256(plan).hexdigest(), "bytes": len(plan)},
            "io": [tensor.as_dict() for tensor in io], "source": source, "build": record}


def read_engine_manifest(path: str | Path) -> dict[str, Any]:
    """Read and check an engine manifest; InputError saying what is wrong with it."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text())
    except OSError as err:
        raise InputError(f"cannot read the engine manifest {path.name}: {err}") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"the engine manifest {path.name} is not valid JSON ({err})") from err
    if not isinstance(manifest, dict) or manifest.get("format") != ENGINE_MANIFEST_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise InputError(f"{path.name} is not an edge_tracker engine manifest (format {found!r})")
    if manifest.get("format_version") != ENGINE_MANIFEST_VERSION:
        raise InputError(f"{path.name} is an engine manifest of format version {manifest.get('format_version')!r}; "
                         f"this edge_tracker reads version {ENGINE_MANIFEST_VERSION}")
    missing = [name for name in _SECTIONS if name not in manifest]
    if missing:
        raise InputError(f"the engine manifest {path.name} lacks {missing}")
    plan = manifest["plan"]
    if not (isinstance(plan, dict) and isinstance(plan.get("sha256"), str) and isinstance(plan.get("bytes"), int)
            and isinstance(plan.get("file"), str)):
        raise InputError(f"the engine manifest {path.name} has no valid plan record (file, sha256, bytes)")
    if not isinstance(manifest["source"], dict) or not isinstance(manifest["key"], dict):
        raise InputError(f"the engine manifest {path.name} has malformed key or source records")
    if not isinstance(manifest["io"], list):
        raise InputError(f"the engine manifest {path.name} has no I/O list")
    for record in manifest["io"]:
        TensorIO.from_dict(record)  # raises with the record named
    return manifest


def manifest_io(manifest: dict[str, Any]) -> list[TensorIO]:
    """The engine's I/O from its manifest, in the engine's order (for ``plan_buffers``)."""
    return [TensorIO.from_dict(record) for record in manifest["io"]]
