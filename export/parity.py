"""Parity of an exported phase against its PyTorch reference: the runtime's comparator, torch on one side.

The reference is the phase itself in PyTorch (``export.torch_backend.TorchRunner`` on the CPU), the
candidate the exported graph on ONNX Runtime (``OnnxRuntimeRunner``); ``edge_tracker.compare``
measures each output (``max |onnx - torch| / max |torch|``) against the tolerance of the precision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edge_tracker.backends.onnxruntime import OnnxRuntimeRunner
from edge_tracker.compare import DEFAULT_TOLERANCES, Comparison, compare
from export.phases import Phase
from export.torch_backend import TorchRunner

# Tolerance of the relative max abs error, per precision (the comparator's table; fp32: 1e-4, the
# foundation issue's contract).
PARITY_TOLERANCE = DEFAULT_TOLERANCES


def reference_runner(phase: Phase) -> TorchRunner:
    """The PyTorch reference of ``phase``, on the CPU (the same device for every export)."""
    return TorchRunner(phase, "cpu")


def onnx_runner(path: str | Path) -> OnnxRuntimeRunner:
    """The exported graph at ``path`` on ONNX Runtime's CPU provider."""
    return OnnxRuntimeRunner(path, "cpu")


def phase_feed(phase: Phase, args) -> dict[str, np.ndarray]:
    """``{input name: array}`` of ``phase`` from positional ``args`` (torch tensors or numpy arrays)."""
    if len(args) != len(phase.inputs):
        raise ValueError(f"phase '{phase.name}' takes {len(phase.inputs)} inputs, got {len(args)}")
    return {spec.name: _numpy(arg) for spec, arg in zip(phase.inputs, args)}


def check_phase(phase: Phase, candidate: OnnxRuntimeRunner | str | Path, feeds: Iterable[Mapping[str, Any]],
                precision: str = "fp32", tolerances: Mapping[str, float] | None = None) -> Comparison:
    """Compare the exported ``candidate`` (a runner, or the path of its ONNX file) with ``phase`` in PyTorch.

    ``feeds``: ``{input name: array}`` dicts (:func:`phase_feed` makes them from the phase's tensors).
    """
    runner = candidate if isinstance(candidate, OnnxRuntimeRunner) else onnx_runner(candidate)
    return compare(runner, reference_runner(phase), feeds, precision=precision, tolerances=tolerances)


def manifest_parity(result: Comparison) -> dict[str, dict[str, float]]:
    """What the manifest records of a comparison: ``{output: {max_abs_error, scale, relative_error}}``."""
    return {output.name: {"max_abs_error": output.max_abs_error, "scale": output.scale,
                          "relative_error": output.relative_error} for output in result.outputs}


def _numpy(value) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    return value.detach().cpu().numpy()  # a torch tensor
