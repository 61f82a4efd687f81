"""The runner interface every inference backend implements (ONNX Runtime, PyTorch, TensorRT).

A runner executes one exported phase. Its life cycle is strict: ``activate()`` acquires the
session/engine/device memory, ``infer(feed)`` runs it any number of times, ``deactivate()`` frees
it; ``with runner:`` does both ends. ``infer`` checks the feed at the boundary (names, dtypes,
shapes) so a wrong tensor fails here with a message, not deep inside an engine.

The contract every backend honours (Polygraphy's ``TrtRunner`` has the same shape):

- ``infer(feed)`` takes **host or device arrays** (numpy, or anything with
  ``__cuda_array_interface__`` or DLPack: ``edge_tracker.backends.arrays``); a backend that cannot
  read a given kind says so with an InputError.
- ``infer(feed, copy_outputs_to_host=False)`` may leave outputs where the backend computed them
  (device arrays on a GPU backend, so phases chain without host copies); by default outputs are
  numpy arrays.
- ``last_inference_ms`` is the duration of the last ``infer``: the host clock for CPU backends,
  CUDA events for GPU backends (a host clock around an asynchronous launch times the launch, not
  the work). ``timing`` names which.
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_tracker.backends.arrays import ArrayInfo, describe
from edge_tracker.errors import EdgeTrackerError, InputError

# ONNX element types a runner may meet at its boundary, by ONNX Runtime's type string
ORT_ELEMENT_TYPES = {
    "tensor(float)": np.dtype(np.float32), "tensor(float16)": np.dtype(np.float16),
    "tensor(double)": np.dtype(np.float64), "tensor(int8)": np.dtype(np.int8),
    "tensor(uint8)": np.dtype(np.uint8), "tensor(int16)": np.dtype(np.int16),
    "tensor(uint16)": np.dtype(np.uint16), "tensor(int32)": np.dtype(np.int32),
    "tensor(uint32)": np.dtype(np.uint32), "tensor(int64)": np.dtype(np.int64),
    "tensor(uint64)": np.dtype(np.uint64), "tensor(bool)": np.dtype(np.bool_),
}


@dataclass(frozen=True)
class TensorMeta:
    """Name, static shape and dtype of one runner input or output."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype


class Runner(abc.ABC):
    """Base class: subclasses implement ``_activate``, ``_deactivate``, ``_infer`` and the metadata.

    Class attributes a subclass sets:
        timing: "host" (the base class times ``_infer`` with ``time.perf_counter``; right for a
            synchronous CPU backend) or "cuda_events" (the subclass records its own
            ``_last_inference_ms`` from events on its stream).
        accepts_device_arrays: whether ``_infer`` reads device arrays (else they are refused at the
            boundary with a message, before anything runs).
    """

    timing = "host"
    accepts_device_arrays = False

    def __init__(self, name: str) -> None:
        self.name = name
        self._active = False
        self._last_inference_ms: float | None = None

    # ----------------------------------------------------------------- life cycle
    def activate(self) -> "Runner":
        if not self._active:
            self._activate()
            self._active = True
        return self

    def deactivate(self) -> None:
        if self._active:
            self._active = False
            self._deactivate()

    @property
    def is_active(self) -> bool:
        return self._active

    def __enter__(self) -> "Runner":
        return self.activate()

    def __exit__(self, *exc) -> None:
        self.deactivate()

    # ----------------------------------------------------------------- inference
    def infer(self, feed: dict[str, Any], copy_outputs_to_host: bool = True) -> dict[str, Any]:
        """Run once: ``feed`` maps every input name to an array of its exact shape and dtype.

        Returns ``{output name: array}`` in the phase's output order: numpy arrays, or with
        ``copy_outputs_to_host=False`` whatever the backend computed them in (device arrays on a GPU).
        """
        if not self._active:
            raise EdgeTrackerError(f"runner '{self.name}' is not active: call activate() or use `with runner:`")
        self._check_feed(feed)
        if self.timing == "host":
            start = time.perf_counter()
            outputs = self._infer(feed, copy_outputs_to_host)
            self._last_inference_ms = 1e3 * (time.perf_counter() - start)
            return outputs
        return self._infer(feed, copy_outputs_to_host)

    @property
    def last_inference_ms(self) -> float | None:
        """Duration of the last ``infer`` in milliseconds (see ``timing``); None before the first."""
        return self._last_inference_ms

    def _check_feed(self, feed: dict[str, Any]) -> dict[str, ArrayInfo]:
        expected = self.input_metadata()
        missing = sorted(set(expected) - set(feed))
        unexpected = sorted(set(feed) - set(expected))
        if missing or unexpected:
            raise InputError(f"runner '{self.name}': feed has inputs {sorted(feed)}, expected exactly "
                             f"{sorted(expected)} (missing {missing}, unexpected {unexpected})")
        infos = {}
        for name, meta in expected.items():
            info = describe(feed[name])
            if info is None:
                raise InputError(f"runner '{self.name}': input '{name}' must be a numpy array or a device array "
                                 f"(__cuda_array_interface__ or DLPack), got {type(feed[name]).__name__}")
            if info.on_device and not self.accepts_device_arrays:
                raise InputError(f"runner '{self.name}': input '{name}' is on cuda:{info.device_id}, but this "
                                 f"{type(self).__name__} runs on the host; pass a host array, or run a GPU "
                                 "backend (--device cuda)")
            if info.dtype != meta.dtype:
                raise InputError(f"runner '{self.name}': input '{name}' has dtype {info.dtype}, "
                                 f"expected {meta.dtype}")
            if info.shape != meta.shape:
                raise InputError(f"runner '{self.name}': input '{name}' has shape {info.shape}, "
                                 f"expected {meta.shape}")
            infos[name] = info
        return infos

    # ----------------------------------------------------------------- for subclasses
    @abc.abstractmethod
    def input_metadata(self) -> dict[str, TensorMeta]:
        """Inputs in the order the phase takes them."""

    @abc.abstractmethod
    def output_metadata(self) -> dict[str, TensorMeta]:
        """Outputs in the order the phase returns them."""

    @abc.abstractmethod
    def _activate(self) -> None: ...

    @abc.abstractmethod
    def _deactivate(self) -> None: ...

    @abc.abstractmethod
    def _infer(self, feed: dict[str, Any], copy_outputs_to_host: bool) -> dict[str, Any]: ...
