"""Where a tracker keeps tensors between phases: the seam between trackers and a GPU library.

A tracker whose runners compute on a GPU keeps what it carries from phase to phase and from frame
to frame (AFF-ATOM's features within a frame; its learner's sample memory, labels, filters and CG
state across frames) in buffers it owns on the device, and reads back only what the host must
decide on. It does that through a :class:`DeviceMemory`, never through pycuda or CuPy directly:

- :class:`HostMemory`: numpy on the host, for CPU backends (every operation is a numpy copy, so a
  tracker on ONNX Runtime computes exactly what it computed before the seam existed);
- ``edge_tracker.backends.cuda_memory.CudaMemory``: pycuda buffers on the TensorRT runners'
  :class:`~edge_tracker.backends.tensorrt.CudaDevice`, every copy asynchronous on its stream.

The backend says which applies (``TensorRTModel.device_memory()``; the session hands it to the
tracker). Why buffers of our own: a TensorRT runner's device outputs are views of its own I/O
buffers, valid only until its next ``infer``; whatever must outlive that is copied into a buffer
from here first, and a graph's output is never fed straight back into the same graph.

Sources of ``copy`` and ``copy_into_slot`` may be device arrays (a device-to-device copy) or host
arrays (an upload): labels and sample weights are computed on the host and written into device
tensors this way.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from edge_tracker.backends.arrays import ArrayInfo, describe
from edge_tracker.errors import InputError


class DeviceMemory(abc.ABC):
    """Buffers a tracker owns and the copies between them (see the module docstring).

    ``on_device``: whether the arrays it makes live on a GPU (False: they are numpy arrays).
    """

    on_device = False

    @abc.abstractmethod
    def empty(self, shape: tuple[int, ...], dtype=np.float32) -> Any:
        """A new buffer of ``shape`` and ``dtype``, contents undefined."""

    @abc.abstractmethod
    def zeros(self, shape: tuple[int, ...], dtype=np.float32) -> Any:
        """A new buffer of ``shape`` and ``dtype`` filled with zeros."""

    def upload(self, host: np.ndarray) -> Any:
        """A new buffer holding a copy of the host array ``host``."""
        host = np.ascontiguousarray(host)
        array = self.empty(host.shape, host.dtype)
        self.copy(array, host)
        return array

    @abc.abstractmethod
    def copy(self, dst: Any, src: Any) -> None:
        """``dst[...] = src``: same dtype and element count (a ``[1, ...]`` batch of one fits ``[...]``)."""

    @abc.abstractmethod
    def copy_into_slot(self, dst: Any, index: int, src: Any) -> None:
        """``dst[index] = src`` for ``dst`` ``[N, ...]``: ``src`` holds one slot's elements, same dtype."""

    @abc.abstractmethod
    def to_host(self, src: Any) -> np.ndarray:
        """The values of ``src`` as a numpy array the caller owns (waits for the copy to finish)."""

    def close(self) -> None:
        """Free every buffer this object made (the tracker using them is done)."""


class HostMemory(DeviceMemory):
    """The host's memory: buffers are numpy arrays, copies are numpy copies (CPU backends)."""

    def empty(self, shape, dtype=np.float32) -> np.ndarray:
        return np.empty(shape, dtype)

    def zeros(self, shape, dtype=np.float32) -> np.ndarray:
        return np.zeros(shape, dtype)

    def copy(self, dst: np.ndarray, src: Any) -> None:
        check_copy(describe(dst), describe(src), "copy")
        np.copyto(dst, _host(src).reshape(dst.shape))

    def copy_into_slot(self, dst: np.ndarray, index: int, src: Any) -> None:
        check_slot(describe(dst), index, describe(src))
        np.copyto(dst[index], _host(src).reshape(dst.shape[1:]))

    def to_host(self, src: Any) -> np.ndarray:
        return _host(src)  # already on the host: no copy (the runner gave the caller its own array)


def check_copy(dst: ArrayInfo | None, src: ArrayInfo | None, what: str) -> int:
    """The byte count of a copy from ``src`` into ``dst``; InputError when they do not fit."""
    if dst is None or src is None:
        raise InputError(f"{what}: both ends must be host or device arrays")
    if dst.dtype != src.dtype or _count(dst.shape) != _count(src.shape):
        raise InputError(f"{what}: cannot write a {src.dtype} {src.shape} array into a {dst.dtype} {dst.shape} "
                         "buffer; the two must have the same dtype and number of elements")
    return _count(dst.shape) * dst.dtype.itemsize


def check_slot(dst: ArrayInfo | None, index: int, src: ArrayInfo | None) -> int:
    """The byte count of one slot of ``dst`` (``[N, ...]``); InputError when ``index`` or ``src`` does not fit."""
    if dst is None or not dst.shape:
        raise InputError("copy_into_slot: the destination must be an array of slots [N, ...]")
    if not 0 <= index < dst.shape[0]:
        raise InputError(f"copy_into_slot: slot {index} asked for, the buffer has {dst.shape[0]} (0 to "
                         f"{dst.shape[0] - 1})")
    return check_copy(ArrayInfo(dst.shape[1:], dst.dtype, dst.device, dst.device_id), src, "copy_into_slot")


def _count(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _host(array: Any) -> np.ndarray:
    if isinstance(array, np.ndarray):
        return array
    info = describe(array)
    if info is not None and info.on_device:
        raise InputError(f"host memory was given a {type(array).__name__} on cuda:{info.device_id}; a tracker on "
                         "device arrays needs the device memory of its backend")
    return np.from_dlpack(array)
