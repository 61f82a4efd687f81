"""Stage-by-stage parity of exported graphs against the PyTorch reference.

The error measure, per output: ``max |onnx - torch| / max |torch|`` (the max abs error relative to
the output's scale), so one tolerance serves feature maps of scale 10 and IoUs of scale 1 alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_tracker.deps import require
from export.phases import Phase

# Tolerance of the relative max abs error, per precision. fp32: the foundation issue's contract.
PARITY_TOLERANCE = {"fp32": 1e-4}


@dataclass(frozen=True)
class OutputParity:
    name: str
    max_abs_error: float
    scale: float  # max |reference|

    @property
    def relative_error(self) -> float:
        return self.max_abs_error / max(self.scale, 1e-12)

    def as_dict(self) -> dict[str, float]:
        return {"max_abs_error": self.max_abs_error, "scale": self.scale,
                "relative_error": self.relative_error}


def torch_outputs(phase: Phase, args) -> list[np.ndarray]:
    """Run the PyTorch reference of ``phase`` on ``args`` (tensors) -> numpy outputs in order."""
    torch = require("torch")
    with torch.set_grad_enabled(phase.functional_grad):
        outputs = phase.module(*args)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    return [out.detach().cpu().numpy() for out in outputs]


def onnx_session(path: str | Path, providers: list[str] | None = None):
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: ORT's warnings about unused initialisers are noise
    return ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])


def compare(phase: Phase, session, args) -> list[OutputParity]:
    """Run ``phase`` in PyTorch and ``session`` (ONNX Runtime) on the same inputs; measure each output."""
    feed = {spec.name: arg.detach().cpu().numpy() for spec, arg in zip(phase.inputs, args)}
    got = session.run([spec.name for spec in phase.outputs], feed)
    want = torch_outputs(phase, args)
    return [
        OutputParity(spec.name, float(np.max(np.abs(g - w))), float(np.max(np.abs(w))))
        for spec, g, w in zip(phase.outputs, got, want)
    ]
