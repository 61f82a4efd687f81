"""Stand-ins for a GPU backend in CPU tests: arrays marked as device arrays, a recording device memory,
and runners that claim to read and leave device arrays (wrapping real ONNX Runtime runners).

They check **our own logic of what stays on the device** (which tensors a tracker copies, keeps or
reads back), never TensorRT, pycuda or a GPU: the values live in numpy all along. What they imitate
of the TensorRT runner is its contract: device outputs are views of the runner's own buffers, which
its next ``infer`` overwrites (poisoned with NaN first here, so a tensor kept past that point, or a
graph fed its own output, shows in the results).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_tracker.backends.arrays import describe
from edge_tracker.backends.base import Runner
from edge_tracker.backends.device_memory import DeviceMemory, check_copy, check_slot


class Marked:
    """A tensor that claims to live on cuda:0. Its values are numpy underneath, but it has no
    ``__array__`` or indexing: host code can read it only through ``RecordingMemory.to_host``."""

    def __init__(self, values: np.ndarray, name: str) -> None:
        self.values, self.name = values, name

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        return {"shape": self.values.shape, "typestr": self.values.dtype.str,
                "data": (self.values.ctypes.data, False), "version": 3, "strides": None}


@dataclass
class Traffic:
    """What crossed between host and "device" since the last ``clear()``."""

    down: list[str] = field(default_factory=list)  # tensors read back: "runner:output" or "memory:<buffer>"
    up: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)  # (where to, shape) of host values sent
    calls: list[str] = field(default_factory=list)  # runners called, in order

    def clear(self) -> None:
        self.down, self.up, self.calls = [], [], []


class RecordingMemory(DeviceMemory):
    """The device-memory seam over numpy: buffers are :class:`Marked`, and every host crossing is logged."""

    on_device = True

    def __init__(self, traffic: Traffic) -> None:
        self.traffic = traffic
        self.made = 0

    def empty(self, shape, dtype=np.float32) -> Marked:
        self.made += 1  # unwritten float buffers read NaN, so a missed copy shows in the results
        values = np.full(shape, np.nan, dtype) if np.dtype(dtype).kind == "f" else np.empty(shape, dtype)
        return Marked(values, f"memory:{self.made}{list(values.shape)}")

    def zeros(self, shape, dtype=np.float32) -> Marked:
        array = self.empty(shape, dtype)
        array.values[...] = 0
        return array

    def copy(self, dst: Marked, src) -> None:
        check_copy(describe(dst), describe(src), "copy")
        np.copyto(dst.values, self._read(src, dst.name).reshape(dst.values.shape))

    def copy_into_slot(self, dst: Marked, index: int, src) -> None:
        check_slot(describe(dst), index, describe(src))
        np.copyto(dst.values[index], self._read(src, dst.name).reshape(dst.values.shape[1:]))

    def to_host(self, src) -> np.ndarray:
        assert isinstance(src, Marked), f"to_host of a {type(src).__name__}: only device arrays need it"
        self.traffic.down.append(src.name)
        return src.values.copy()

    def _read(self, src, destination: str) -> np.ndarray:
        if isinstance(src, Marked):
            return src.values  # device to device: nothing crosses
        assert isinstance(src, np.ndarray), type(src)
        self.traffic.up.append((destination, src.shape))
        return src


class DeviceClaimingRunner(Runner):
    """An ONNX Runtime runner dressed as a GPU runner: reads :class:`Marked` inputs, and with
    ``copy_outputs_to_host=False`` returns :class:`Marked` views of buffers of its own, poisoned
    (NaN) at the start of its next call, as a TensorRT runner's output buffers are rewritten."""

    accepts_device_arrays = True

    def __init__(self, inner: Runner, traffic: Traffic) -> None:
        super().__init__(inner.name)
        self.inner, self.traffic = inner, traffic
        self.buffers: dict[str, np.ndarray] = {}

    def input_metadata(self):
        return self.inner.input_metadata()

    def output_metadata(self):
        return self.inner.output_metadata()

    def _activate(self) -> None:
        self.inner.activate()
        self.buffers = {name: np.empty(m.shape, m.dtype) for name, m in self.inner.output_metadata().items()}

    def _deactivate(self) -> None:
        pass  # the inner runners belong to their session

    def _infer(self, feed, copy_outputs_to_host: bool):
        self.traffic.calls.append(self.name)
        for buffer in self.buffers.values():  # before the inputs are read: a fed-back output reads NaN
            buffer[...] = np.nan
        host_feed = {}
        for name, value in feed.items():
            if isinstance(value, Marked):
                host_feed[name] = value.values.copy()
            else:
                self.traffic.up.append((f"{self.name}:{name}", value.shape))
                host_feed[name] = value
        for name, value in self.inner.infer(host_feed).items():
            np.copyto(self.buffers[name], value)
        if copy_outputs_to_host:
            self.traffic.down.extend(f"{self.name}:{name}" for name in self.buffers)
            return {name: buffer.copy() for name, buffer in self.buffers.items()}
        return {name: Marked(buffer, f"{self.name}:{name}") for name, buffer in self.buffers.items()}
