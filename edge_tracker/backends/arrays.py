"""Host and device arrays at the runner boundary, described without importing any GPU library.

A runner's feed may hold:

- **host arrays**: numpy arrays, or anything exposing DLPack on the CPU (``np.from_dlpack`` views
  it without a copy);
- **device arrays**: anything exposing ``__cuda_array_interface__`` (CuPy, Numba, PyTorch CUDA
  tensors, :class:`DeviceArray` below, the pycuda wrapper of the TensorRT runner) or DLPack on a
  CUDA device.

:func:`describe` reads shape, dtype and location from those protocols alone, so the boundary checks
of ``Runner.infer`` work for every kind and no runner has to import torch, CuPy or pycuda to check
a feed. :class:`DeviceArray` is what runners return when asked to leave outputs on the device and
their library has no array type of its own with the protocol (ONNX Runtime's ``OrtValue``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_tracker.errors import InputError

# DLPack device types (dlpack.h, DLDeviceType)
_DLPACK_CPU, _DLPACK_CUDA, _DLPACK_CUDA_HOST = 1, 2, 3


@dataclass(frozen=True)
class ArrayInfo:
    """What a runner needs to know of one feed array."""

    shape: tuple[int, ...]
    dtype: np.dtype
    device: str  # "cpu" or "cuda"
    device_id: int = 0

    @property
    def on_device(self) -> bool:
        return self.device == "cuda"


def describe(array: Any) -> ArrayInfo | None:
    """Shape, dtype and location of a host or device array; None when ``array`` is neither."""
    if isinstance(array, np.ndarray):
        return ArrayInfo(tuple(array.shape), array.dtype, "cpu")
    interface = getattr(array, "__cuda_array_interface__", None)
    if interface is not None:
        return ArrayInfo(tuple(int(d) for d in interface["shape"]), np.dtype(interface["typestr"]), "cuda",
                         _cuda_device_of(array))
    if hasattr(array, "__dlpack_device__"):
        kind, device_id = array.__dlpack_device__()
        if kind in (_DLPACK_CPU, _DLPACK_CUDA_HOST):
            host = np.from_dlpack(array)
            return ArrayInfo(tuple(host.shape), host.dtype, "cpu")
        if kind == _DLPACK_CUDA:
            return ArrayInfo(tuple(int(d) for d in array.shape), _dtype_of(array.dtype), "cuda", int(device_id))
    return None


def to_host(array: Any) -> np.ndarray:
    """A host array as numpy (no copy where the protocol allows); device arrays are refused.

    Copying a device array to the host needs the device's library (pycuda, CuPy, torch): that is
    the job of the runner that owns the device, never of this module.
    """
    if isinstance(array, np.ndarray):
        return array
    info = describe(array)
    if info is None:
        raise InputError(f"expected a numpy array or a host/device array (DLPack or __cuda_array_interface__), "
                         f"got {type(array).__name__}")
    if info.on_device:
        raise InputError(f"a {type(array).__name__} on cuda:{info.device_id} cannot be read on the host here; "
                         "copy it with its own library (e.g. .get() for CuPy, .cpu().numpy() for torch)")
    return np.from_dlpack(array)


@dataclass(frozen=True, eq=False)
class DeviceArray:
    """A view of device memory with ``__cuda_array_interface__`` (version 3).

    ``owner`` keeps the memory alive (an ``OrtValue``, a pycuda allocation): the pointer is valid
    as long as this object is referenced. ``stream`` is the CUDA stream the memory was last written
    on (0: the legacy default stream, already synchronised), so a consumer on another stream can
    wait for it, as the interface's version 3 asks.
    """

    pointer: int
    shape: tuple[int, ...]
    dtype: np.dtype
    device_id: int = 0
    owner: Any = None
    stream: int | None = None

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        interface = {"shape": tuple(self.shape), "typestr": np.dtype(self.dtype).str,
                     "data": (int(self.pointer), False), "version": 3, "strides": None}
        if self.stream is not None:
            interface["stream"] = self.stream
        return interface

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


def _cuda_device_of(array: Any) -> int:
    if hasattr(array, "__dlpack_device__"):
        try:
            return int(array.__dlpack_device__()[1])
        except Exception:  # noqa: BLE001 - a library may refuse DLPack for this array; the id is informative only
            return 0
    return int(getattr(array, "device_id", 0) or 0)


def _dtype_of(dtype: Any) -> np.dtype:
    """numpy dtype of a library's dtype object (``torch.float32`` -> float32, CuPy's are numpy's)."""
    try:
        return np.dtype(dtype)
    except TypeError:
        return np.dtype(str(dtype).rsplit(".", 1)[-1])
