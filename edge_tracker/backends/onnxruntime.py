"""ONNX Runtime backend: the CPU default (tests, CI, embedded), its CUDA provider where present."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edge_tracker.backends.base import Runner, TensorMeta
from edge_tracker.deps import require
from edge_tracker.errors import EdgeTrackerError, InputError

logger = logging.getLogger("edge_tracker.backends")

_ORT_TYPES = {"tensor(float)": np.dtype(np.float32), "tensor(float16)": np.dtype(np.float16),
              "tensor(int64)": np.dtype(np.int64), "tensor(int32)": np.dtype(np.int32),
              "tensor(uint8)": np.dtype(np.uint8), "tensor(bool)": np.dtype(np.bool_)}


class OnnxRuntimeRunner(Runner):
    """Runs one ONNX file. ``device``: "cpu", "cuda", or "auto" (CUDA provider when available)."""

    def __init__(self, path: str | Path, device: str = "cpu", threads: int = 0, spin: bool = False) -> None:
        super().__init__(Path(path).stem)
        self.path = Path(path)
        if device not in ("cpu", "cuda", "auto"):
            raise InputError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
        if not self.path.is_file():
            raise InputError(f"ONNX model not found: {self.path}")
        self.device = device
        self.threads = threads  # 0: ONNX Runtime's default (one per physical core)
        # ORT's workers spin-wait after a run by default. A tracker does numpy work, video decoding
        # and drawing between runs, on the same few cores; spinning workers would starve them.
        self.spin = spin
        self._session = None
        self._inputs: dict[str, TensorMeta] | None = None
        self._outputs: dict[str, TensorMeta] | None = None

    def _providers(self) -> list[str]:
        ort = require("onnxruntime")
        available = ort.get_available_providers()
        if self.device == "cpu":
            return ["CPUExecutionProvider"]
        if "CUDAExecutionProvider" in available:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if self.device == "cuda":
            raise InputError(f"device 'cuda' asked for, but this onnxruntime has only {available}; "
                             f"install onnxruntime-gpu, or use device 'cpu'")
        return ["CPUExecutionProvider"]

    def _activate(self) -> None:
        ort = require("onnxruntime")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if self.threads:
            options.intra_op_num_threads = self.threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spin else "0")
        try:
            self._session = ort.InferenceSession(str(self.path), options, providers=self._providers())
        except Exception as err:  # ORT raises its own exception types for unreadable models
            raise InputError(f"ONNX Runtime cannot load {self.path}: {err}") from err
        self._inputs = {i.name: _meta(i) for i in self._session.get_inputs()}
        self._outputs = {o.name: _meta(o) for o in self._session.get_outputs()}

    def _deactivate(self) -> None:
        self._session = None

    def input_metadata(self) -> dict[str, TensorMeta]:
        return self._require_session(self._inputs)

    def output_metadata(self) -> dict[str, TensorMeta]:
        return self._require_session(self._outputs)

    def _require_session(self, metadata):
        # the session is the only source of the graph's I/O; no hidden activation here
        if metadata is None:
            raise EdgeTrackerError(f"runner '{self.name}' is not active: call activate() before "
                                   f"reading its input/output metadata")
        return metadata

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = list(self._outputs)
        return dict(zip(names, self._session.run(names, feed)))


def _meta(value) -> TensorMeta:
    shape = tuple(int(d) if isinstance(d, int) else -1 for d in value.shape)
    return TensorMeta(value.name, shape, _ORT_TYPES.get(value.type, np.dtype(np.float32)))
