"""ONNX Runtime backend: the CPU default (tests, CI, embedded), its CUDA provider where present.

Inference goes through ONNX Runtime's IO binding, the path that takes device buffers: host arrays
are bound as CPU inputs, device arrays (``__cuda_array_interface__``) by pointer when the session
runs on the CUDA provider, and outputs are bound on the provider's device. So the runner contract
of ``base.py`` (host or device inputs, outputs left on the device on request) is exercised by the
same code in CI and on a GPU. ``run_with_iobinding`` returns when the work is done (ONNX Runtime
synchronises its stream at the end of a run), so the host clock times the work, not a launch.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from edge_tracker.backends.arrays import DeviceArray, describe
from edge_tracker.backends.base import ORT_ELEMENT_TYPES, Runner, TensorMeta
from edge_tracker.deps import require
from edge_tracker.errors import EdgeTrackerError, InputError

logger = logging.getLogger("edge_tracker.backends")

DEVICES = ("cpu", "cuda", "auto")


class OnnxRuntimeRunner(Runner):
    """Runs one ONNX file. ``device``: "cpu", "cuda" or "cuda:N" (GPU N), or "auto" (CUDA provider when
    available)."""

    accepts_device_arrays = True  # checked again per call: only the CUDA provider reads them

    def __init__(self, path: str | Path, device: str = "cpu", threads: int = 0, spin: bool = False) -> None:
        super().__init__(Path(path).stem)
        self.path = Path(path)
        if device not in DEVICES and not re.fullmatch(r"cuda:\d+", device):
            raise InputError(f"device must be one of {list(DEVICES)} or cuda:N, got {device!r}")
        if not self.path.is_file():
            raise InputError(f"ONNX model not found: {self.path}")
        self.device = device
        self.device_id = int(device.partition(":")[2] or 0)
        self.threads = threads  # 0: ONNX Runtime's default (one per physical core)
        # ORT's workers spin-wait after a run by default. A tracker does numpy work, video decoding
        # and drawing between runs, on the same few cores; spinning workers would starve them.
        self.spin = spin
        self._session = None
        self._on_cuda = False
        self._inputs: dict[str, TensorMeta] | None = None
        self._outputs: dict[str, TensorMeta] | None = None

    def _providers(self) -> list[str]:
        ort = require("onnxruntime")
        available = ort.get_available_providers()
        if self.device == "cpu":
            return ["CPUExecutionProvider"]
        if "CUDAExecutionProvider" in available:
            return [("CUDAExecutionProvider", {"device_id": self.device_id}), "CPUExecutionProvider"]
        if self.device.startswith("cuda"):
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
        self._on_cuda = self._session.get_providers()[0] == "CUDAExecutionProvider"
        self._inputs = {i.name: _meta(i, self.path) for i in self._session.get_inputs()}
        self._outputs = {o.name: _meta(o, self.path) for o in self._session.get_outputs()}

    def _deactivate(self) -> None:
        self._session = None

    @property
    def device_kind(self) -> str:
        """Where this runner computes once active: "cuda" or "cpu"."""
        return "cuda" if self._on_cuda else "cpu"

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

    def _infer(self, feed: dict[str, Any], copy_outputs_to_host: bool) -> dict[str, Any]:
        binding = self._session.io_binding()
        for name in self._inputs:
            value = feed[name]
            info = describe(value)
            if info.on_device:
                if not self._on_cuda:
                    raise InputError(f"runner '{self.name}': input '{name}' is on cuda:{info.device_id}, but this "
                                     "ONNX Runtime session runs on the CPU; pass a host array or use device 'cuda'")
                pointer = value.__cuda_array_interface__["data"][0]
                binding.bind_input(name, "cuda", info.device_id, info.dtype, list(info.shape), pointer)
            else:
                host = value if isinstance(value, np.ndarray) else np.from_dlpack(value)
                binding.bind_cpu_input(name, np.ascontiguousarray(host))
        for name in self._outputs:
            if self._on_cuda:
                binding.bind_output(name, "cuda", self.device_id)
            else:
                binding.bind_output(name, "cpu")
        self._session.run_with_iobinding(binding)
        names = list(self._outputs)
        if copy_outputs_to_host or not self._on_cuda:
            return dict(zip(names, binding.copy_outputs_to_cpu()))
        return {name: DeviceArray(value.data_ptr(), tuple(value.shape()), self._outputs[name].dtype,
                                  device_id=self.device_id, owner=value, stream=None)
                for name, value in zip(names, binding.get_outputs())}


def _meta(value, path: Path) -> TensorMeta:
    shape = tuple(int(d) if isinstance(d, int) else -1 for d in value.shape)
    if value.type not in ORT_ELEMENT_TYPES:
        raise InputError(f"{path}: tensor '{value.name}' has element type {value.type}, which edge_tracker's "
                         f"runners do not handle (known: {sorted(ORT_ELEMENT_TYPES)})")
    return TensorMeta(value.name, shape, ORT_ELEMENT_TYPES[value.type])
