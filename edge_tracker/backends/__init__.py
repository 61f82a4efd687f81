"""Inference backends behind one runner interface, and loading a tracker's phase runners.

``load_runners(model, backend)``: ``model`` is an export folder (manifest.json + one ONNX per phase)
for the ``ort`` backend, or a checkpoint (.safetensors) for the ``torch`` reference backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_tracker.backends.base import Runner, TensorMeta
from edge_tracker.errors import InputError
from edge_tracker.manifest import read_manifest

BACKENDS = ("ort", "torch")


def load_runners(model: str | Path, backend: str = "ort", device: str = "cpu",
                 tracker: str | None = None) -> tuple[str, dict[str, Runner]]:
    """Runners for every phase of a tracker -> ``(tracker name, {phase name: runner})``."""
    model = Path(model)
    if backend == "ort":
        from edge_tracker.backends.onnxruntime import OnnxRuntimeRunner

        if not model.is_dir():
            raise InputError(f"the ort backend needs an export folder (from `python -m export onnx`), "
                             f"got {model}")
        manifest = read_manifest(model)
        _check_tracker(manifest["tracker"], tracker, model)
        return manifest["tracker"], {p["name"]: OnnxRuntimeRunner(model / p["file"], device)
                                     for p in manifest["phases"]}
    if backend == "torch":
        from edge_tracker.backends.torch_runner import TorchRunner
        from export.checkpoint import load_model
        from export.phases import build_phases

        net, checkpoint = load_model(model, expect_tracker=tracker)
        return checkpoint.config.tracker, {p.name: TorchRunner(p, device) for p in build_phases(net)}
    raise InputError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")


def model_tracking_params(model: str | Path, backend: str = "ort") -> dict[str, Any]:
    """Tracking parameters the model's checkpoint recommends (its ``meta["tracking_params"]``), or {}.

    A checkpoint can carry the parameter values chosen for its weights (the demo checkpoints do;
    their model cards say why); ``--param`` overrides them, and unknown keys are refused when the
    tracker is built, as for ``--param``. An export keeps its checkpoint's meta in the manifest.
    """
    model = Path(model)
    if backend == "ort":
        meta = read_manifest(model, verify=False)["source"].get("meta") or {}
    else:
        from export.checkpoint import read_checkpoint

        meta = read_checkpoint(model).meta
    params = meta.get("tracking_params") or {}
    if not isinstance(params, dict):
        raise InputError(f"{model}: its checkpoint's tracking_params must be a mapping, got {params!r}")
    return dict(params)


def _check_tracker(found: str, wanted: str | None, where: Path) -> None:
    if wanted is not None and found != wanted:
        raise InputError(f"{where} holds a '{found}' export, but '{wanted}' was asked for")


__all__ = ["BACKENDS", "Runner", "TensorMeta", "load_runners", "model_tracking_params"]
