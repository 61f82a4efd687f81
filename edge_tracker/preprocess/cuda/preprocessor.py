"""The GPU implementation of the preprocessing seam: ``crop_resize.cu`` through pycuda.

Per frame, ``set_frame`` copies the frame into a page-locked buffer and uploads it once,
asynchronously, on the tracker's stream; each ``crops`` call then cuts all its windows in one
kernel launch into a device buffer that the TensorRT runner reads in place (a
:class:`~edge_tracker.backends.arrays.DeviceArray` on the same stream, so no synchronisation is
needed between the crop and the engine). Buffers are allocated once per frame size and per crop
shape and reused. The kernel is compiled by pycuda on first use for the GPU at hand (on Jetson
Xavier, sm_72, too, which CUDA 13's nvcc no longer targets ahead of time).

Crops returned by ``crops`` stay valid until the next ``crops`` call of the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge_tracker.backends.arrays import DeviceArray
from edge_tracker.backends.tensorrt import CudaDevice
from edge_tracker.errors import EdgeTrackerError
from edge_tracker.preprocess.cuda.reference import (
    check_frame,
    pad_triplet,
    window_params,
)
from edge_tracker.preprocess.geometry import CropWindow
from edge_tracker.preprocess.preprocessor import Preprocessor

KERNEL_SOURCE = Path(__file__).with_name("crop_resize.cu")
KERNEL_NAME = "crop_resize_bilinear"
BLOCK = (16, 16, 1)  # threads per block: 16 x 16 output pixels of one window


class CudaPreprocessor(Preprocessor):
    """Crops cut on the GPU of ``gpu`` (the tracker's :class:`CudaDevice`: its context and stream)."""

    device = "cuda"

    def __init__(self, gpu: CudaDevice) -> None:
        self.gpu = gpu
        self._function = None
        self._frame_shape: tuple[int, ...] | None = None
        self._host_frame = self._device_frame = None
        self._host_params = self._device_params = None
        self._outputs: dict[tuple[int, int], object] = {}
        self._frame_staged = self._params_staged = None  # events: uploads have left the page-locked buffers
        self._pad_source: np.ndarray | None = None  # the frame, kept only for a pad value of None

    def _start(self) -> None:
        cuda = self.gpu.cuda
        self.gpu.open()
        from pycuda.compiler import SourceModule

        module = SourceModule(KERNEL_SOURCE.read_text(), no_extern_c=True)
        self._function = module.get_function(KERNEL_NAME)
        self._function.prepare("PiiiPifffPi")
        self._frame_staged, self._params_staged = cuda.Event(), cuda.Event()

    def set_frame(self, frame: np.ndarray) -> None:
        frame = check_frame(frame)
        if self._function is None:
            self._start()
        cuda, stream = self.gpu.cuda, self.gpu.stream
        self._frame_staged.synchronize()  # the previous frame's upload may still read the staging buffer
        if frame.shape != self._frame_shape:
            self._host_frame = cuda.pagelocked_empty(frame.shape, np.uint8)
            self._device_frame = cuda.mem_alloc(frame.nbytes)
            self._frame_shape = frame.shape
        np.copyto(self._host_frame, frame)
        cuda.memcpy_htod_async(self._device_frame, self._host_frame, stream)
        self._frame_staged.record(stream)
        self._pad_source = frame

    def crops(self, windows: Sequence[CropWindow], out_size: int, pad_value) -> DeviceArray:
        if self._frame_shape is None:
            raise EdgeTrackerError("crops() called before set_frame(frame)")
        cuda, stream = self.gpu.cuda, self.gpu.stream
        params = window_params(windows, out_size)
        pad = pad_triplet(self._pad_source, pad_value)
        count = len(windows)
        self._params_staged.synchronize()
        if self._host_params is None or self._host_params.shape[0] < count:
            self._host_params = cuda.pagelocked_empty((max(count, 4), 3), np.float32)
            self._device_params = cuda.mem_alloc(self._host_params.nbytes)
        self._host_params[:count] = params
        cuda.memcpy_htod_async(self._device_params, self._host_params, stream)
        self._params_staged.record(stream)
        output = self._outputs.get((count, out_size))
        if output is None:
            output = self._outputs[(count, out_size)] = cuda.mem_alloc(count * 3 * out_size * out_size * 4)
        height, width = self._frame_shape[:2]
        grid = (-(-out_size // BLOCK[0]), -(-out_size // BLOCK[1]), count)
        self._function.prepared_async_call(grid, BLOCK, stream, self._device_frame, height, width, width * 3,
                                           self._device_params, count, pad[0], pad[1], pad[2], output, out_size)
        return DeviceArray(int(output), (count, 3, out_size, out_size), np.dtype(np.float32), self.gpu.index,
                           owner=self, stream=stream.handle)

    def close(self) -> None:
        """Free the buffers and release the GPU context (the tracker's stream is synchronised first)."""
        if self._function is None:
            return
        self.gpu.stream.synchronize()
        for allocation in (self._device_frame, self._device_params, *self._outputs.values()):
            if allocation is not None:
                allocation.free()
        self._outputs = {}
        self._device_frame = self._device_params = self._host_frame = self._host_params = None
        self._function = None
        self._frame_shape = None
        self.gpu.close()
