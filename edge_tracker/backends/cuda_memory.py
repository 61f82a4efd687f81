"""The device-memory seam on pycuda: a tracker's own buffers on the TensorRT runners' GPU and stream.

Written to pycuda's documented driver API (``mem_alloc``, ``memset_d8_async``,
``memcpy_dtod_async``, ``memcpy_htod_async``, ``memcpy_dtoh_async``, ``pagelocked_empty``);
``tests/tensorrt/test_pycuda_conformance.py`` checks every call against pycuda's source, and the
``gpu`` tests (``tests/tensorrt/test_gpu_device_memory.py``) against numpy on a GPU.

- Every copy is queued on the :class:`~edge_tracker.backends.tensorrt.CudaDevice`'s stream, the
  one the tracker's engines and crop kernel run on, so a buffer written here is ready for the next
  engine without a host synchronisation. Only :meth:`CudaMemory.to_host` waits.
- Host sources go through page-locked staging buffers, one per shape and dtype, reused; an event
  says when the previous upload from one has left it.
- A buffer lives as long as the :class:`~edge_tracker.backends.arrays.DeviceArray` that owns its
  allocation (a learner drops its memory when it starts a new sequence, and pycuda frees it);
  :meth:`CudaMemory.close` frees what is left when the model closes.

pycuda is reached through the ``CudaDevice`` (imported on first use), never at import time.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from edge_tracker.backends.arrays import DeviceArray, describe
from edge_tracker.backends.device_memory import DeviceMemory, check_copy, check_slot
from edge_tracker.backends.tensorrt import CudaDevice, device_pointer, wait_for_producer
from edge_tracker.errors import EdgeTrackerError


class CudaMemory(DeviceMemory):
    """Buffers on ``gpu`` (a :class:`CudaDevice`; opened for as long as this object is open)."""

    on_device = True

    def __init__(self, gpu: CudaDevice) -> None:
        self.gpu = gpu
        gpu.open()
        self._arrays: weakref.WeakSet[DeviceArray] = weakref.WeakSet()  # each owns its allocation
        self._staging: dict[tuple, tuple[Any, np.ndarray]] = {}  # (shape, dtype) -> (upload left, pinned)
        self._readback: dict[tuple, np.ndarray] = {}  # (shape, dtype) -> pinned buffer of to_host
        self._open = True

    def empty(self, shape, dtype=np.float32) -> DeviceArray:
        self._check_open()
        shape, dtype = tuple(int(d) for d in shape), np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        allocation = self.gpu.cuda.mem_alloc(max(nbytes, 1))  # CUDA refuses a 0-byte allocation
        array = DeviceArray(int(allocation), shape, dtype, self.gpu.index, owner=allocation,
                            stream=self.gpu.stream.handle)
        self._arrays.add(array)
        return array

    def zeros(self, shape, dtype=np.float32) -> DeviceArray:
        array = self.empty(shape, dtype)
        self.gpu.cuda.memset_d8_async(array.pointer, 0, array.nbytes, self.gpu.stream)
        return array

    def copy(self, dst: DeviceArray, src: Any) -> None:
        nbytes = check_copy(describe(dst), describe(src), "copy")
        self._write(device_pointer(dst, "copy destination"), src, nbytes)

    def copy_into_slot(self, dst: DeviceArray, index: int, src: Any) -> None:
        nbytes = check_slot(describe(dst), index, describe(src))
        self._write(device_pointer(dst, "copy_into_slot destination") + index * nbytes, src, nbytes)

    def to_host(self, src: Any) -> np.ndarray:
        self._check_open()
        info = describe(src)
        if not info.on_device:
            return np.array(src)
        cuda, stream = self.gpu.cuda, self.gpu.stream
        key = (info.shape, info.dtype.str)
        if key not in self._readback:
            self._readback[key] = cuda.pagelocked_empty(info.shape, info.dtype)
        pinned = self._readback[key]
        wait_for_producer(self.gpu, src)
        cuda.memcpy_dtoh_async(pinned, device_pointer(src, "to_host source"), stream)
        stream.synchronize()
        return pinned.copy()  # the caller's own array: the pinned one is reused by the next call

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self.gpu.stream.synchronize()  # no copy of ours may still be in flight when the memory goes
        for array in list(self._arrays):
            array.owner.free()
        self._arrays = weakref.WeakSet()
        self._staging, self._readback = {}, {}
        self.gpu.close()

    # ----------------------------------------------------------------- helpers
    def _write(self, address: int, src: Any, nbytes: int) -> None:
        self._check_open()
        cuda, stream = self.gpu.cuda, self.gpu.stream
        if describe(src).on_device:
            wait_for_producer(self.gpu, src)
            cuda.memcpy_dtod_async(address, device_pointer(src, "copy source"), nbytes, stream)
            return
        self._upload(address, np.ascontiguousarray(src))

    def _upload(self, address: int, host: np.ndarray) -> None:
        """``host`` into device memory at ``address`` through a page-locked buffer (one per shape and
        dtype, reused): the copy is asynchronous, so the buffer is rewritten only once it has left."""
        cuda, stream = self.gpu.cuda, self.gpu.stream
        key = (host.shape, host.dtype.str)
        if key not in self._staging:
            self._staging[key] = (cuda.Event(), cuda.pagelocked_empty(host.shape, host.dtype))
        left, pinned = self._staging[key]
        left.synchronize()  # the previous upload from it has left (usually a frame ago; at once if none)
        np.copyto(pinned, host)
        cuda.memcpy_htod_async(address, pinned, stream)
        left.record(stream)

    def _check_open(self) -> None:
        if not self._open:
            raise EdgeTrackerError("this device memory was closed with its model; open the model again")
