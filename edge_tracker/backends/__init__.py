"""Inference backends behind one runner interface, and loading a tracker's phase runners.

``open_model(model, backend, device, precision)`` -> :class:`LoadedModel` (the tracker's name, a
runner per phase, the parameters its checkpoint recommends). Backends are found by name in
``BACKENDS``, each a module with a ``load(...)`` function imported only when asked for:

- ``ort``: ONNX Runtime over an export folder (``edge_tracker.backends.onnxruntime``);
- ``torch``: the PyTorch reference over a checkpoint. It lives on the build side
  (``export.torch_backend``), since it needs the network definitions; this table is the one place
  the runtime reaches it, and only when a user asks for it.

The runtime itself (``edge_tracker``) never imports ``export`` or ``training`` at module level.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_tracker.backends.base import Runner, TensorMeta
from edge_tracker.errors import InputError
from edge_tracker.manifest import read_manifest

# backend name -> module with `load(model, device, tracker, precision) -> LoadedModel`
BACKENDS = {
    "ort": "edge_tracker.backends.onnxruntime_loader",
    "torch": "export.torch_backend",
    "trt": "edge_tracker.backends.trt_loader",
}
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass
class LoadedModel:
    """A tracker's phase runners from one model file or folder, as a backend loaded them."""

    tracker: str                         # e.g. "scs-siam"
    runners: dict[str, Runner]           # phase name -> runner (not yet active)
    source: Path                         # the export folder or checkpoint
    backend: str
    precision: str = "fp32"
    recommended_params: dict[str, Any] = field(default_factory=dict)  # the checkpoint's tracking_params

    def close(self) -> None:
        """Free every runner's session, engine or device memory."""
        for runner in self.runners.values():
            runner.deactivate()


def open_model(model: str | Path, backend: str = "ort", device: str = "cpu", tracker: str | None = None,
               precision: str = "fp32") -> LoadedModel:
    """Runners for every phase of the tracker in ``model`` on ``backend`` (see the module docstring)."""
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {list(PRECISIONS)}")
    module = importlib.import_module(BACKENDS[backend])
    loaded = module.load(Path(model), device=device, tracker=tracker, precision=precision)
    if tracker is not None and loaded.tracker != tracker:
        raise InputError(f"{model} holds a '{loaded.tracker}' model, but '{tracker}' was asked for")
    return loaded


def load_runners(model: str | Path, backend: str = "ort", device: str = "cpu",
                 tracker: str | None = None) -> tuple[str, dict[str, Runner]]:
    """Runners for every phase of a tracker -> ``(tracker name, {phase name: runner})``."""
    loaded = open_model(model, backend, device, tracker)
    return loaded.tracker, loaded.runners


def model_tracking_params(model: str | Path, backend: str = "ort") -> dict[str, Any]:
    """Tracking parameters the model's checkpoint recommends (its ``meta["tracking_params"]``), or {}.

    A checkpoint can carry the parameter values chosen for its weights (the demo checkpoints do;
    their model cards say why); ``--param`` overrides them. An export keeps its checkpoint's meta
    in the manifest; for a checkpoint the backend that reads it answers.
    """
    if backend == "ort":
        return recommended_params(read_manifest(model, verify=False)["source"].get("meta") or {}, model)
    module = importlib.import_module(BACKENDS[backend])
    return module.recommended_params(Path(model))


def recommended_params(meta: dict[str, Any], where: str | Path) -> dict[str, Any]:
    """``meta["tracking_params"]`` checked to be a mapping (a copy), or {}."""
    params = meta.get("tracking_params") or {}
    if not isinstance(params, dict):
        raise InputError(f"{where}: its checkpoint's tracking_params must be a mapping, got {params!r}")
    return dict(params)


__all__ = ["BACKENDS", "PRECISIONS", "LoadedModel", "Runner", "TensorMeta", "load_runners",
           "model_tracking_params", "open_model", "recommended_params"]
