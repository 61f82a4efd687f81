"""Every phase of an export folder -> a cached engine: what ``python -m export build`` fills and
``edge-tracker track --backend trt`` reads (building what is missing unless told not to).

The graph of each phase at a precision is the export manifest's variant (``variants[precision]``,
written by ``python -m export build``; fp32 is the phase's own file). The engine's key holds that
graph's sha256, so a re-exported or re-quantized graph gets a new engine and the old one is
reported as stale, never loaded.

A variant the export manifest records as run in FP32 (``precision: fp32`` with a ``why``: AFF-ATOM's
classifier learning when no FP16 graph kept its tolerance) is built as an FP32 engine inside the
fp16/int8 engine set, under that set's precision label; its build record keeps the why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from edge_tracker.manifest import read_manifest, sha256_file, variant_file
from export.tensorrt.build import EngineFromOnnx
from export.tensorrt.cache import CachedEngine, DeviceInfo, EngineCache, EngineKey
from export.tensorrt.options import BuildOptions

# phase name -> calibration feeds for the legacy calibrator (TensorRT 8.5/8.6, int8 from FP32)
CalibrationFeeds = Callable[[str], Iterable[dict[str, np.ndarray]]]


def phase_graph(export_dir: Path, phase: dict[str, Any], precision: str) -> tuple[Path, str]:
    """``(path, sha256)`` of ``phase``'s graph at ``precision`` (``edge_tracker.manifest.variant_file``)."""
    path = variant_file(export_dir, phase, precision)
    return path, sha256_file(path)


def fp32_fallback(phase: dict[str, Any], precision: str) -> str | None:
    """Why the export runs ``phase`` in FP32 at ``precision`` (its manifest's variant record), or None."""
    variant = (phase.get("variants") or {}).get(precision) or {}
    if precision != "fp32" and variant.get("precision") == "fp32":
        return variant.get("why") or "the export manifest runs this phase in FP32 at this precision"
    return None


def engines_for_export(export_dir: str | Path, precision: str, cache: EngineCache, device: DeviceInfo,
                       options: BuildOptions | None = None, *, build: bool = True, trt=None,
                       calibration: CalibrationFeeds | None = None) -> tuple[str, dict[str, CachedEngine]]:
    """``(tracker, {phase: cached engine})`` for every phase of the export at ``precision``.

    ``build=False`` is ``--no-build``: a missing, stale, foreign or corrupt engine is an
    ``EngineCacheError`` saying which and how to build it. Otherwise it is built here (on this
    machine's GPU, with ``trt``), one phase after the other, under the cache's lock.
    """
    export_dir = Path(export_dir)
    options = options or BuildOptions()
    manifest = read_manifest(export_dir)
    tracker = manifest["tracker"]
    engines = {}
    for phase in manifest["phases"]:
        path, digest = phase_graph(export_dir, phase, precision)
        key = EngineKey.for_build(digest, precision, device, options)
        label = f"{tracker}-{phase['name']}"
        builder = None
        if build:
            feeds = (lambda name=phase["name"]: calibration(name)) if calibration is not None else None
            builder = EngineFromOnnx(path, precision, device, options, cache.timing_cache_path(device), feeds,
                                     cache.root / f"{label}.calibration.{digest[:16]}.cache", trt,
                                     fallback=fp32_fallback(phase, precision))
        engines[phase["name"]] = cache.get(
            key, label, builder,
            source={"onnx": str(path.resolve()), "tracker": tracker, "phase": phase["name"],
                    "export": str(export_dir.resolve())},
            hint=f"`python -m export build ... --precision {precision}` on this machine (engines into {cache.root})")
    return tracker, engines
