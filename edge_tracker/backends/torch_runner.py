"""PyTorch backend: the reference the exported graphs are checked against (CUDA where present).

Runs a phase of ``export.phases`` directly. Needs the ``export`` extra (torch); the tracking path
with ONNX Runtime never imports this module.
"""

from __future__ import annotations

import numpy as np

from edge_tracker.backends.base import Runner, TensorMeta
from edge_tracker.deps import require
from edge_tracker.errors import InputError


class TorchRunner(Runner):
    """Runs one ``export.phases.Phase`` in PyTorch. ``device``: "cpu", "cuda" or "auto"."""

    def __init__(self, phase, device: str = "cpu") -> None:
        super().__init__(phase.name)
        self.torch = require("torch")
        if device == "auto":
            device = "cuda" if self.torch.cuda.is_available() else "cpu"
        if device == "cuda" and not self.torch.cuda.is_available():
            raise InputError("device 'cuda' asked for, but torch sees no CUDA GPU; use device 'cpu'")
        if device not in ("cpu", "cuda"):
            raise InputError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
        self.phase = phase
        self.device = device
        self._inputs = {s.name: TensorMeta(s.name, s.shape, np.dtype(s.dtype)) for s in phase.inputs}
        self._outputs = {s.name: TensorMeta(s.name, s.shape, np.dtype(s.dtype)) for s in phase.outputs}

    def input_metadata(self) -> dict[str, TensorMeta]:
        return self._inputs

    def output_metadata(self) -> dict[str, TensorMeta]:
        return self._outputs

    def _activate(self) -> None:
        self.phase.module.to(self.device).eval()

    def _deactivate(self) -> None:
        if self.device == "cuda":
            self.phase.module.to("cpu")
            self.torch.cuda.empty_cache()

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self.torch
        args = [torch.from_numpy(feed[name]).to(self.device) for name in self._inputs]
        with torch.set_grad_enabled(self.phase.functional_grad):
            outputs = self.phase.module(*args)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return {name: out.detach().cpu().numpy() for name, out in zip(self._outputs, outputs)}
