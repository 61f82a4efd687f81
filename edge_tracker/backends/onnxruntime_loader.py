"""Loading an export folder (``python -m export onnx|build``) as ONNX Runtime runners, one per phase."""

from __future__ import annotations

from pathlib import Path

from edge_tracker.backends import LoadedModel, recommended_params
from edge_tracker.backends.onnxruntime import OnnxRuntimeRunner
from edge_tracker.errors import InputError
from edge_tracker.manifest import read_manifest, variant_file


def load(model: Path, device: str = "cpu", tracker: str | None = None, precision: str = "fp32") -> LoadedModel:
    """Runners of every phase in the export folder ``model`` at ``precision`` (a variant of the manifest)."""
    if not model.is_dir():
        raise InputError(f"the ort backend needs an export folder (from `python -m export onnx`), got {model}")
    manifest = read_manifest(model)
    if tracker is not None and manifest["tracker"] != tracker:
        raise InputError(f"{model} holds a '{manifest['tracker']}' export, but '{tracker}' was asked for")
    runners = {p["name"]: OnnxRuntimeRunner(variant_file(model, p, precision), device) for p in manifest["phases"]}
    meta = manifest["source"].get("meta") or {}
    return LoadedModel(manifest["tracker"], runners, model, "ort", precision, recommended_params(meta, model))
