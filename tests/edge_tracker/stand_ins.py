"""Stand-ins for exported networks in tracker tests: runners that return chosen outputs.

They test the trackers' numpy orchestration on controlled inputs; they are never a test of a
backend (backends are tested on real ONNX graphs).
"""

from __future__ import annotations

import numpy as np

from edge_tracker.backends.base import Runner, TensorMeta


class FixedResponse(Runner):
    """A runner with given I/O metadata whose ``infer`` calls ``fn(feed)``."""

    def __init__(self, name, inputs, outputs, fn):
        super().__init__(name)
        self._in, self._out, self.fn = inputs, outputs, fn
        self.calls = 0

    def input_metadata(self):
        return self._in

    def output_metadata(self):
        return self._out

    def _activate(self):
        pass

    def _deactivate(self):
        pass

    def _infer(self, feed, copy_outputs_to_host=True):
        self.calls += 1
        return self.fn(feed)


def meta(name, shape):
    return TensorMeta(name, tuple(shape), np.dtype(np.float32))


def metas(shapes: dict) -> dict:
    return {name: meta(name, shape) for name, shape in shapes.items()}
