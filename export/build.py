"""``python -m export build``: checkpoint -> per-phase ONNX -> FP16/INT8 graphs (calibrated) -> engines.

Stages, each checked before the next:

1. **FP32**: the per-phase export (``export.pipeline.export_tracker``, verified against PyTorch),
   or an existing export folder copied in (``--onnx DIR``).
2. **Calibration set**: ``--calib DIR`` (checked to be of this tracker and these input shapes), or
   built from ``SOURCE``s into ``OUT/calibration`` by running the FP32 tracker
   (``calibration.builder``). FP16 and INT8 both need one: FP16's kept-in-float32 ops and both
   variants' errors are measured on it.
3. **Precision graphs** per phase (``export.precision``): ``<phase>.fp16.onnx`` for every phase;
   ``<phase>.int8.onnx`` for the phases where INT8 pays (``INT8_PHASES``: the per-frame
   convolution stacks); the other phases of the ``int8`` variant are their FP16 graphs, and the
   manifest says so and why. Each variant is compared with FP32 on held-out calibration feeds by
   the runner comparator; the measured error and everything kept in float are recorded.
4. **Engines** (TensorRT): where TensorRT is missing, the graphs are kept and the command ends
   with ``EXIT_NO_TENSORRT`` and one line saying how to get it; ``--graphs-only`` stops before
   this stage with success.

The manifest lists, per phase, ``variants``: ``{precision: {file, sha256, precision, ...}}``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

from edge_tracker.backends.onnxruntime import OnnxRuntimeRunner
from edge_tracker.compare import DEFAULT_TOLERANCES, compare
from edge_tracker.errors import (
    ExportError,
    GraphCheckError,
    InputError,
    MissingDependencyError,
)
from edge_tracker.manifest import MANIFEST_NAME, read_manifest, sha256_file

logger = logging.getLogger("edge_tracker.export")

PRECISIONS = ("fp32", "fp16", "int8")
# Phases that get real INT8 graphs, and why the others do not (recorded in the manifest).
INT8_PHASES = {"search": "every frame, three 263 px crops through the convolution stack",
               "backbone": "every frame, the ResNet-18 trunk"}
NOT_INT8 = {"template": "once per sequence: its time does not count, its kernel drives every frame's accuracy",
            "iou_modulation": "once per sequence and tiny",
            "iou_refine": "gradient-ascent steps of the IoU-Net: gradients need more than 8 bits",
            "classifier": "a few small convolutions on learned filters that change every update"}
# Phases that fall back to FP32 when no FP16 graph passes, and why: the classifier's learning is
# an iterative solver whose inner products over the whole sample memory leave float16's range or
# digits on some layers (measured per build and recorded); the frame-time phases have no fallback.
FP32_FALLBACK = {name: "the classifier's Gauss-Newton/CG solver: no FP16 graph kept its outputs within the FP16 "
                       "tolerance (see fp16_tries), so it runs in FP32"
                 for name in ("classifier_init", "classifier_update", "classifier_linearize", "classifier_cg_step")}
CHECK_FEEDS = 8  # held-out calibration feeds per phase on which every variant is measured
EXIT_NO_TENSORRT = 3  # documented in the README: graphs written, engines need TensorRT
TENSORRT_HINT = ("TensorRT engines need TensorRT's Python package: on a Jetson it comes with JetPack "
                 "(sudo apt install python3-libnvinfer); on a desktop GPU: pip install tensorrt; for RTX GPUs, "
                 "built on any machine, even without a GPU: pip install 'edge-tracker[rtx]' (TensorRT-RTX). "
                 "The ONNX graphs are written; run with --graphs-only to stop before the engine step")


def build(tracker: str, out: Path, *, checkpoint: Path | None = None, onnx_dir: Path | None = None,
          precisions=PRECISIONS, calib: Path | None = None, sources=(), calib_size: int = 500,
          progress: bool = True, sensitivity: bool = True, force: bool = False) -> dict[str, Any]:
    """Stages 1-3 of the module docstring; returns the manifest. Engines: :func:`engines_available`."""
    precisions = _check_precisions(precisions)
    need_calibration = any(p != "fp32" for p in precisions)
    if need_calibration and calib is None and not sources:
        raise InputError(f"--precision {','.join(precisions)} needs a calibration set: give --calib DIR (from "
                         "`python -m calibration build`) or SOURCE sequences/videos to build one from")
    calibration_sources = _parse_sources(sources) if calib is None else []
    if calib is not None and onnx_dir is None and Path(calib).resolve().is_relative_to(out.resolve()):
        raise InputError(f"--calib {calib} lies inside --out {out}, which a new export replaces whole; move the "
                         f"set out of it, or pass --onnx {out} to keep the export")
    manifest = _fp32(tracker, out, checkpoint, onnx_dir, progress, force)
    if not need_calibration:
        return manifest
    calibration = _calibration(manifest, out, calib, calibration_sources, calib_size, progress)
    from tqdm import tqdm

    for phase in tqdm(manifest["phases"], desc=f"precision {tracker}", unit="phase", disable=not progress):
        phase["variants"] = _variants(phase, out, calibration, precisions, sensitivity)
    manifest["calibration"] = {"folder": str(calibration.folder), "counts": calibration.manifest["counts"],
                               "sampling": calibration.manifest["sampling"]}
    manifest["precisions"] = list(precisions)
    _write_manifest(out, manifest)
    return manifest


def engines_available(product: str = "auto") -> bool:
    """Whether ``product``'s Python package ("tensorrt", "rtx"; "auto": either) is installed here (nothing is imported)."""
    from export.tensorrt_support import PRODUCTS, product_named

    chosen = PRODUCTS.values() if product == "auto" else [product_named(product)]
    return any(importlib.util.find_spec(p.module) is not None for p in chosen)


def require_tensorrt() -> None:
    if not engines_available():
        raise MissingDependencyError(TENSORRT_HINT)


# ----------------------------------------------------------------------------------------- stages

def _check_precisions(precisions) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(p.strip().lower() for p in precisions if p.strip()))
    unknown = [p for p in chosen if p not in PRECISIONS]
    if unknown or not chosen:
        raise InputError(f"--precision {','.join(precisions)}: unknown {unknown}; choose from {','.join(PRECISIONS)}")
    return chosen if "fp32" in chosen else ("fp32", *chosen)  # FP32 is the reference of every variant


def _parse_sources(sources) -> list:
    from calibration.sources import parse_source

    return [parse_source(str(text)) for text in sources]  # every source checked before any work


def _fp32(tracker: str, out: Path, checkpoint, onnx_dir, progress: bool, force: bool) -> dict[str, Any]:
    if onnx_dir is None:
        from export.pipeline import export_tracker

        return export_tracker(tracker, out, checkpoint=checkpoint, progress=progress, force=force)
    manifest = read_manifest(onnx_dir)  # verifies every file against its sha256
    if manifest["tracker"] != tracker:
        raise InputError(f"--onnx {onnx_dir} holds a '{manifest['tracker']}' export, not '{tracker}'")
    if Path(onnx_dir).resolve() != out.resolve():
        out.mkdir(parents=True, exist_ok=True)
        for phase in manifest["phases"]:
            shutil.copy2(Path(onnx_dir) / phase["file"], out / phase["file"])
    for phase in manifest["phases"]:
        phase.pop("variants", None)  # rebuilt below; stale variant records never survive
    _write_manifest(out, manifest)
    return manifest


def _calibration(manifest, out: Path, calib, sources, size: int, progress: bool):
    from calibration.store import CalibrationSet

    if calib is None:
        from calibration.builder import SamplingParams, build_calibration_set

        calib = out / "calibration"
        build_calibration_set(sources, calib, tracker=manifest["tracker"], model=out,
                              params=SamplingParams(size=size), progress=progress)
    calibration = CalibrationSet(calib)
    calibration.check_matches(manifest["tracker"], {p["name"]: {s["name"]: tuple(s["shape"]) for s in p["inputs"]}
                                                    for p in manifest["phases"]})
    calibration.verify()
    return calibration


def _variants(phase: dict, out: Path, calibration, precisions, sensitivity: bool) -> dict[str, Any]:
    from export.precision.fp16 import Fp16Failed, to_fp16
    from export.precision.int8 import to_int8

    name = phase["name"]
    fp32_record = {"file": phase["file"], "sha256": phase["sha256"], "precision": "fp32"}
    if calibration.count(name) == 0:  # never run under the calibration's settings: nothing to measure on
        why = "no calibration feeds (the tracker's settings never ran this phase): kept FP32"
        return {p: dict(fp32_record, **({"why": why} if p != "fp32" else {})) for p in precisions}
    feeds = list(calibration.feeds(name))
    check = feeds[-min(CHECK_FEEDS, max(1, len(feeds) // 4)):]
    calibrate = feeds[:len(feeds) - len(check)] or feeds
    fp32_path = out / phase["file"]
    variants: dict[str, Any] = {"fp32": {"file": phase["file"], "sha256": phase["sha256"], "precision": "fp32"}}
    fp16_path = out / f"{name}.fp16.onnx"
    reported = {spec["name"]: float("inf") for spec in phase.get("outputs", []) if spec.get("diagnostic")}
    try:
        fp16 = to_fp16(fp32_path, fp16_path, check, DEFAULT_TOLERANCES["fp16"], reported)
    except Fp16Failed as failed:
        if name not in FP32_FALLBACK:
            raise
        logger.warning("%s: no FP16 graph passed; the fp16 and int8 variants run it in FP32", name)
        fallback = dict(fp32_record, why=FP32_FALLBACK[name], fp16_tries=failed.tries)
        return {p: (fallback if p != "fp32" else fp32_record) for p in precisions}
    fp16_record = {"file": fp16_path.name, "sha256": sha256_file(fp16_path), "precision": "fp16",
                   "graph": _checked(fp16_path),
                   "kept_float32_ops": fp16.kept_float32, "kept_float32_nodes": fp16.kept_nodes, "tries": fp16.tries,
                   "error": _measure(fp16_path, fp32_path, check, "fp16", reported)}
    if "fp16" in precisions:
        variants["fp16"] = fp16_record
    if "int8" in precisions:
        if name in INT8_PHASES:
            int8_path = out / f"{name}.int8.onnx"
            int8 = to_int8(fp32_path, int8_path, calibrate, check, DEFAULT_TOLERANCES["int8"], sensitivity)
            variants["int8"] = {"file": int8_path.name, "sha256": sha256_file(int8_path), "precision": "int8",
                                "graph": _checked(int8_path),
                                "why": INT8_PHASES[name], "quantized_nodes": int8.quantized,
                                "kept_float_nodes": int8.kept_float, "sensitivity": int8.sensitivity,
                                "kept_float_search": {str(k): v for k, v in int8.tried.items()},
                                "calibration_feeds": len(calibrate),
                                "error": _measure(int8_path, fp32_path, check, "int8")}
        else:
            variants["int8"] = {**fp16_record, "why": NOT_INT8.get(name, "no INT8 graph for this phase")}
    return variants


def _checked(path: Path) -> dict[str, Any]:
    """The graph checks of the FP32 export (op set, static shapes, onnx.checker) on a precision graph."""
    import onnx

    from export.graph_check import check_graph

    report = check_graph(onnx.load(str(path)))
    if report.problems:
        raise GraphCheckError(f"{path.name} fails the graph checks: " + "; ".join(report.problems))
    return {"num_nodes": report.num_nodes, "op_types": report.op_types}


def _measure(candidate: Path, reference: Path, feeds, precision: str,
             tolerances: dict[str, float] | None = None) -> dict[str, Any]:
    result = compare(OnnxRuntimeRunner(candidate), OnnxRuntimeRunner(reference), feeds, precision=precision,
                     tolerances=tolerances)
    if not result.passed:
        raise ExportError(f"{candidate.name} disagrees with FP32 beyond the {precision} tolerance:\n{result}")
    return result.as_dict()


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    path = out / MANIFEST_NAME
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(_strict_json(manifest), indent=2, allow_nan=False) + "\n")
    os.replace(partial, path)


def _strict_json(value):
    """``value`` with every non-finite float written as its name ("inf", "nan"): strict JSON has no
    Infinity, and a measured error or a reported-only tolerance can be one."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {key: _strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_json(item) for item in value]
    return value
