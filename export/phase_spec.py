"""What an exportable phase is: a module, its named and statically shaped inputs and outputs, when it runs.

``export/phases.py`` and ``export/classifier_phases.py`` define the trackers' phases with these;
the export pipeline, the parity checks and the PyTorch reference backend read them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class TensorSpec:
    """A named, statically shaped tensor at a phase boundary."""

    name: str
    shape: tuple[int, ...]
    description: str  # layout and units
    dtype: str = "float32"
    # An output that reports (a solver's loss, CG residuals) and that no later step reads: precision
    # variants are measured on it but not held to a tolerance (marked in the manifest).
    diagnostic: bool = False


@dataclass(frozen=True)
class Phase:
    """One exportable stage: a module whose forward takes ``inputs`` in order, returns ``outputs``."""

    name: str
    module: nn.Module
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    when: str  # in words, for the manifest: "once per sequence", "every frame", ...
    description: str
    sample: Callable[[torch.Generator], tuple[torch.Tensor, ...]]  # plausible random inputs
    functional_grad: bool = False  # forward takes torch.func gradients: trace with make_fx first
    # How often the tracker runs it, for the profiler and the TensorRT runner: "sequence" (once per
    # sequence), "frame", "update" (every train_skipping frames and on hard negatives) or
    # "update_unit" (one unit of an update spread over frames).
    cadence: str = "frame"
    # Export without the onnxscript rewriter, folding constants only: the rewriter's pattern matching
    # grows with the square of the graph (86 s on a 7,000-node unrolled solver; the folding alone 2 s).
    light_optimization: bool = False

    def example_inputs(self, seed: int = 0) -> tuple[torch.Tensor, ...]:
        generator = torch.Generator().manual_seed(seed)
        args = self.sample(generator)
        for arg, spec in zip(args, self.inputs):
            if tuple(arg.shape) != spec.shape:
                raise AssertionError(f"{self.name}: sample for '{spec.name}' is {tuple(arg.shape)}, "
                                     f"spec says {spec.shape}")  # a bug in this module, not user input
        return args
