"""The PyTorch reference backend: runs a checkpoint's phases directly (CUDA where present).

This is what the exported graphs are checked against, and the GPU stand-in for TensorRT on a
machine with CUDA but no TensorRT. It lives on the build side because it needs the network
definitions (torch); the runtime reaches it only through ``edge_tracker.backends.BACKENDS``.

On CUDA the runner takes device arrays (torch CUDA tensors, CuPy arrays, a pycuda buffer wrapped
with ``__cuda_array_interface__``) without a host copy, can leave its outputs on the device
(torch tensors, which carry both array protocols), and times each inference with CUDA events.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from edge_tracker.backends import LoadedModel, recommended_params as _recommended
from edge_tracker.backends.arrays import describe
from edge_tracker.backends.base import Runner, TensorMeta
from edge_tracker.deps import require
from edge_tracker.errors import InputError

DEVICES = ("cpu", "cuda", "auto")


class TorchRunner(Runner):
    """Runs one ``export.phases.Phase`` in PyTorch. ``device``: "cpu", "cuda" or "auto"."""

    def __init__(self, phase, device: str = "cpu") -> None:
        super().__init__(phase.name)
        self.torch = require("torch")
        if device not in DEVICES and not re.fullmatch(r"cuda:\d+", device):
            raise InputError(f"device must be one of {list(DEVICES)} or cuda:N, got {device!r}")
        if device == "auto":
            device = "cuda" if self.torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not self.torch.cuda.is_available():
            raise InputError("device 'cuda' asked for, but torch sees no CUDA GPU; use device 'cpu'")
        self.phase = phase
        self.device = device
        # on CUDA the work is asynchronous: time it with events, read device inputs in place
        self.timing = "cuda_events" if device.startswith("cuda") else "host"
        self.accepts_device_arrays = device.startswith("cuda")
        self._inputs = {s.name: TensorMeta(s.name, s.shape, np.dtype(s.dtype)) for s in phase.inputs}
        self._outputs = {s.name: TensorMeta(s.name, s.shape, np.dtype(s.dtype)) for s in phase.outputs}

    def input_metadata(self) -> dict[str, TensorMeta]:
        return self._inputs

    def output_metadata(self) -> dict[str, TensorMeta]:
        return self._outputs

    def _activate(self) -> None:
        self.phase.module.to(self.device).eval()

    def _deactivate(self) -> None:
        if self.device.startswith("cuda"):
            self.phase.module.to("cpu")
            self.torch.cuda.empty_cache()

    def _tensor(self, value: Any):
        torch = self.torch
        if isinstance(value, np.ndarray):
            return torch.from_numpy(value).to(self.device)
        if isinstance(value, torch.Tensor):
            return value.to(self.device)
        if describe(value).on_device:
            return torch.as_tensor(value, device=self.device)  # reads __cuda_array_interface__ in place
        return torch.from_dlpack(value).to(self.device)

    def _infer(self, feed: dict[str, Any], copy_outputs_to_host: bool) -> dict[str, Any]:
        torch = self.torch
        args = [self._tensor(feed[name]) for name in self._inputs]
        if self.timing == "cuda_events":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
        with torch.set_grad_enabled(self.phase.functional_grad):
            outputs = self.phase.module(*args)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        if self.timing == "cuda_events":
            end.record()
            end.synchronize()
            self._last_inference_ms = float(start.elapsed_time(end))
        if not copy_outputs_to_host:
            return {name: out.detach() for name, out in zip(self._outputs, outputs)}
        return {name: out.detach().cpu().numpy() for name, out in zip(self._outputs, outputs)}


def load(model: Path, device: str = "cpu", tracker: str | None = None, precision: str = "fp32") -> LoadedModel:
    """Runners of every phase of the checkpoint ``model`` (float32 weights, as the reference)."""
    from export.checkpoint import load_model
    from export.phases import build_phases

    if precision != "fp32":
        raise InputError(f"the torch backend is the fp32 reference; --precision {precision} runs on the "
                         "ort backend (or trt) from a built export")
    net, checkpoint = load_model(model, expect_tracker=tracker)
    runners = {p.name: TorchRunner(p, device) for p in build_phases(net)}
    return LoadedModel(checkpoint.config.tracker, runners, model, "torch", precision,
                       _recommended(checkpoint.meta, model))


def recommended_params(model: Path) -> dict[str, Any]:
    """The tracking parameters the checkpoint ``model`` recommends (its meta), or {}."""
    from export.checkpoint import read_checkpoint

    return _recommended(read_checkpoint(model).meta, model)
