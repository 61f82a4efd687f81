"""TensorRT backend: one engine per phase, run on pycuda buffers.

Written to TensorRT's documented Python API of 8.5 and later, one code path for JetPack 5 (8.5/8.6),
JetPack 6 (10.3) and desktop 10.x/11.x: named I/O tensors (``engine.get_tensor_name/mode/shape/
dtype``), ``context.set_tensor_address`` and ``context.execute_async_v3``. Per engine:

- **device buffers allocated once** at ``activate()``: one pycuda allocation holding every input
  and output at the offsets of ``trt_io.plan_buffers`` (a pure function of the engine's I/O,
  tested in CI);
- **page-locked host staging** for what crosses the bus: host feeds are copied into pinned buffers
  and uploaded asynchronously; outputs asked for on the host come back the same way;
- **device feeds read in place**: an input with ``__cuda_array_interface__`` (the GPU
  preprocessor's crops, another engine's output) is bound by its pointer, no copy;
- **one CUDA stream per tracker** (:class:`CudaDevice`, shared by a tracker's runners and its GPU
  preprocessor), so phases chain in order without host synchronisation;
- **CUDA-event timing**: events recorded around ``execute_async_v3`` on the stream; the duration is
  read (and only then waited for) when ``last_inference_ms`` is asked for.

``tensorrt`` and ``pycuda`` are imported by :func:`import_gpu_runtime` only, when a runner or
loader is first used; a missing one is one line saying how to get it (MissingDependencyError).
Engines come from the engine cache (``export.tensorrt``), through ``trt_loader``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edge_tracker.backends.arrays import DeviceArray, describe
from edge_tracker.backends.base import Runner, TensorMeta
from edge_tracker.backends.trt_io import (
    BufferSlot,
    TensorIO,
    engine_io,
    plan_buffers,
)
from edge_tracker.errors import EdgeTrackerError, InputError, MissingDependencyError

logger = logging.getLogger("edge_tracker.backends")

TENSORRT_HINT = ("on a Jetson TensorRT comes with JetPack (sudo apt install python3-libnvinfer; JetPack 5.1+ for "
                 "TensorRT 8.5+), on a desktop GPU from NVIDIA's wheel (pip install tensorrt), on an RTX GPU "
                 "TensorRT-RTX (pip install 'edge-tracker[rtx]')")
# The modules of TensorRT and TensorRT-RTX, in the order --backend trt looks for them
# (export.tensorrt_support.PRODUCTS says what each is).
TENSORRT_MODULES = ("tensorrt", "tensorrt_rtx")
PYCUDA_HINT = "pip install 'edge-tracker[gpu]' (builds pycuda against the CUDA toolkit; needs a GPU driver)"


class EngineError(EdgeTrackerError):
    """A TensorRT engine cannot be deserialised, does not match its manifest, or fails to execute."""


# --------------------------------------------------------------------------------------------------
# Optional dependencies
# --------------------------------------------------------------------------------------------------

def import_gpu_runtime(what: str = "--backend trt", instead: str = "Without them use --backend ort",
                       modules: Sequence[str] = TENSORRT_MODULES) -> tuple[Any, Any]:
    """``(tensorrt or tensorrt_rtx, pycuda.driver)``, or MissingDependencyError: one line naming what is
    missing and how to get it.

    ``what`` names the feature in the message, ``instead`` ends it with what the user can do
    meanwhile; ``modules``: the TensorRT modules to try, first found wins. Nothing in the package
    imports either before this call.
    """
    trt, missing = _first_module(modules), []
    if isinstance(trt, str):
        missing.append(f"{trt}: {TENSORRT_HINT}")
    try:
        cuda = __import__("pycuda.driver", fromlist=["_"])
    except (ImportError, OSError) as err:  # OSError: libcuda (the driver) is absent
        missing.append(f"pycuda ({_reason(err)}): {PYCUDA_HINT}")
    if missing:
        raise MissingDependencyError(f"{what} needs TensorRT's Python package (8.5 or newer) and pycuda; "
                                     f"missing: {'; '.join(missing)}. {instead}")
    return trt, cuda


def import_tensorrt(what: str = "building TensorRT engines", instead: str = "The ONNX graphs are usable with "
                    "--backend ort", modules: Sequence[str] = TENSORRT_MODULES) -> Any:
    """The first of ``modules`` that imports (TensorRT alone: a build needs no pycuda), or MissingDependencyError."""
    trt = _first_module(modules)
    if isinstance(trt, str):
        raise MissingDependencyError(f"{what} needs TensorRT's Python package (TensorRT 8.5+ or TensorRT-RTX 1.x); "
                                     f"missing: {trt}: {TENSORRT_HINT}. {instead}")
    return trt


def _first_module(names: Sequence[str]) -> Any:
    """The first of ``names`` that imports, else one text naming each and why it did not."""
    reasons = []
    for name in names:
        try:
            return __import__(name)
        except (ImportError, OSError) as err:  # OSError: a library of the package (libnvinfer) is absent
            reasons.append(f"{name} ({_reason(err)})")
    return " and ".join(reasons)


def _reason(err: BaseException) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


_TRT_LOGGERS: dict[int, Any] = {}  # one logger per tensorrt module: TensorRT wants it to outlive its objects


def trt_logger(trt) -> Any:
    """A ``trt.ILogger`` that forwards TensorRT's messages to the ``edge_tracker`` logger."""
    if id(trt) not in _TRT_LOGGERS:
        severity = trt.ILogger.Severity
        levels = {severity.INTERNAL_ERROR: logging.ERROR, severity.ERROR: logging.ERROR,
                  severity.WARNING: logging.WARNING, severity.INFO: logging.DEBUG, severity.VERBOSE: logging.DEBUG}

        class _Logger(trt.ILogger):
            def __init__(self) -> None:
                trt.ILogger.__init__(self)

            def log(self, severity, msg) -> None:
                logger.log(levels.get(severity, logging.INFO), "TensorRT: %s", msg)

        _TRT_LOGGERS[id(trt)] = _Logger()
    return _TRT_LOGGERS[id(trt)]


# --------------------------------------------------------------------------------------------------
# The GPU and the stream a tracker's work goes on
# --------------------------------------------------------------------------------------------------

class CudaDevice:
    """One GPU's primary CUDA context, current on this thread while open, and one stream.

    The primary context is the one the CUDA runtime (hence TensorRT) uses, so pycuda buffers,
    TensorRT engines and kernels all share it. A tracker's runners and its GPU preprocessor hold
    the same ``CudaDevice``: their work goes on one stream, in order. ``open``/``close`` count
    their users; the context is popped when the last one closes. Calls must come from the thread
    that opened it (the tracking loop's).
    """

    def __init__(self, index: int = 0, cuda=None) -> None:
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise InputError(f"a CUDA device index is a whole number >= 0, got {index!r}")
        self.index = index
        self._cuda = cuda
        self._users = 0
        self._context = None
        self.stream = None
        self.name: str | None = None
        self.compute_capability: tuple[int, int] | None = None

    @property
    def cuda(self):
        if self._cuda is None:
            self._cuda = import_gpu_runtime()[1]
        return self._cuda

    def open(self) -> CudaDevice:
        if self._users == 0:
            cuda = self.cuda
            try:
                cuda.init()
                count = cuda.Device.count()
            except cuda.Error as err:
                raise InputError(f"CUDA cannot start ({err}): is there an NVIDIA GPU and its driver?") from err
            if self.index >= count:
                raise InputError(f"cuda:{self.index} asked for, but CUDA sees {count} GPU(s)")
            device = cuda.Device(self.index)
            self.name = device.name()
            self.compute_capability = tuple(device.compute_capability())
            self._context = device.retain_primary_context()
            self._context.push()
            self.stream = cuda.Stream()
        self._users += 1
        return self

    def close(self) -> None:
        if self._users == 0:
            return
        self._users -= 1
        if self._users == 0:
            self.stream = None
            self._context.pop()
            self._context = None

    @property
    def is_open(self) -> bool:
        return self._users > 0


# --------------------------------------------------------------------------------------------------
# The runner
# --------------------------------------------------------------------------------------------------

class TensorRTRunner(Runner):
    """Runs one TensorRT engine (see the module docstring).

    Args:
        name: the phase name.
        plan: returns the serialised engine (the cache's verified bytes); called at ``activate``.
        io: the engine's I/O as its manifest records it; the deserialised engine must match it.
        device: the tracker's :class:`CudaDevice` (context and stream).
        dla_core: the DLA core the engine was built for (set on the runtime before deserialising).
        trt: the ``tensorrt`` or ``tensorrt_rtx`` module (default: imported at ``activate``).
        runtime_cache: TensorRT-RTX's runtime cache file (``trt_runtime_cache.RuntimeCacheFile``),
            given to the execution context through an ``IRuntimeConfig``; None on TensorRT.

    Outputs left on the device (``copy_outputs_to_host=False``) are views of this runner's buffers:
    valid until its next ``infer``, ordered on the tracker's stream.
    """

    timing = "cuda_events"
    accepts_device_arrays = True

    def __init__(self, name: str, plan: Callable[[], bytes], io: Sequence[TensorIO], device: CudaDevice,
                 dla_core: int | None = None, trt=None, runtime_cache=None) -> None:
        super().__init__(name)
        self._plan_source = plan
        self.io = list(io)
        self.buffers = plan_buffers(self.io)  # checked now: a bad manifest fails before any GPU work
        self.device = device
        self.dla_core = dla_core
        self._trt = trt
        self.runtime_cache = runtime_cache
        self._inputs = {s.io.name: TensorMeta(s.io.name, s.io.shape, s.io.dtype) for s in self.buffers.inputs()}
        self._outputs = {s.io.name: TensorMeta(s.io.name, s.io.shape, s.io.dtype) for s in self.buffers.outputs()}
        self._runtime = self._engine = self._context = None
        self._arena = None
        self._host: dict[str, np.ndarray] = {}
        self._events = None  # (start, end, staging free) pycuda events
        self._timing_pending = False
        self._staging_busy = False

    # ----------------------------------------------------------------- metadata
    def input_metadata(self) -> dict[str, TensorMeta]:
        return self._inputs

    def output_metadata(self) -> dict[str, TensorMeta]:
        return self._outputs

    # ----------------------------------------------------------------- life cycle
    def _activate(self) -> None:
        trt = self._trt if self._trt is not None else import_gpu_runtime()[0]
        self.device.open()
        try:
            self._load(trt, self.device.cuda)
        except BaseException:
            self._release()
            raise

    def _load(self, trt, cuda) -> None:
        self._runtime = trt.Runtime(trt_logger(trt))
        if self.dla_core is not None:
            self._runtime.DLA_core = self.dla_core
        self._engine = self._runtime.deserialize_cuda_engine(self._plan_source())
        if self._engine is None:
            from edge_tracker.backends.trt_runtime_cache import driver_missing

            if driver_missing():  # the plan may be fine: nothing here can run one
                raise EngineError(f"TensorRT cannot deserialise the '{self.name}' engine: this machine has no NVIDIA "
                                  "driver (libcuda not found); a plan runs on a GPU with its driver installed")
            raise EngineError(f"TensorRT cannot deserialise the '{self.name}' engine (see its log above); rebuild it "
                              "on this device (delete it from the engine cache, or run without --no-build)")
        found = engine_io(trt, self._engine)
        if {t.name: t for t in found} != {t.name: t for t in self.io}:  # the engine may order its I/O otherwise
            raise EngineError(f"the '{self.name}' engine's I/O {[t.as_dict() for t in found]} differ from its manifest's "
                              f"{[t.as_dict() for t in self.io]}; the plan was replaced: rebuild it")
        self._context = (self.runtime_cache.create_context(self._engine) if self.runtime_cache is not None
                         else self._engine.create_execution_context())
        if self._context is None:
            raise EngineError(f"TensorRT cannot create an execution context for '{self.name}' (out of GPU memory?)")
        self._arena = cuda.mem_alloc(self.buffers.total_bytes)
        self._host = {s.io.name: cuda.pagelocked_empty(s.io.shape, s.io.dtype) for s in self.buffers.slots}
        for slot in self.buffers.outputs():
            self._bind(slot.io.name, self._address(slot))
        self._events = (cuda.Event(), cuda.Event(), cuda.Event())

    def _deactivate(self) -> None:
        stream = self.device.stream
        if stream is not None:
            stream.synchronize()  # nothing of ours may still be in flight when the memory goes
        self._release()

    def _release(self) -> None:
        # TensorRT objects in reverse order of creation, then the memory they used
        if self.runtime_cache is not None and self._context is not None:
            self.runtime_cache.save()
        self._context = self._engine = self._runtime = None
        if self._arena is not None:
            self._arena.free()
            self._arena = None
        self._host = {}
        self._events = None
        self._timing_pending = self._staging_busy = False
        self.device.close()

    # ----------------------------------------------------------------- inference
    def _infer(self, feed: dict[str, Any], copy_outputs_to_host: bool) -> dict[str, Any]:
        cuda, stream = self.device.cuda, self.device.stream
        start, end, staging_free = self._events
        if self._staging_busy:  # the previous call's uploads may still read the pinned buffers
            staging_free.synchronize()
        staged = False
        for slot in self.buffers.inputs():
            name = slot.io.name
            value = feed[name]
            info = describe(value)
            if info.on_device:
                if info.device_id != self.device.index:
                    raise InputError(f"runner '{self.name}': input '{name}' is on cuda:{info.device_id}, this engine "
                                     f"runs on cuda:{self.device.index}")
                address = device_pointer(value, name)
                wait_for_producer(self.device, value)
            else:
                host = value if isinstance(value, np.ndarray) else np.from_dlpack(value)
                np.copyto(self._host[name], host)
                address = self._address(slot)
                cuda.memcpy_htod_async(address, self._host[name], stream)
                staged = True
            self._bind(name, address)
        if staged:
            staging_free.record(stream)
        self._staging_busy = staged
        start.record(stream)
        if not self._context.execute_async_v3(stream.handle):
            raise EngineError(f"TensorRT failed to run the '{self.name}' engine (see its log above)")
        end.record(stream)
        self._timing_pending = True
        if not copy_outputs_to_host:
            return {s.io.name: DeviceArray(self._address(s), s.io.shape, s.io.dtype, self.device.index, owner=self,
                                           stream=stream.handle) for s in self.buffers.outputs()}
        for slot in self.buffers.outputs():
            cuda.memcpy_dtoh_async(self._host[slot.io.name], self._address(slot), stream)
        stream.synchronize()
        self._staging_busy = False
        return {s.io.name: self._host[s.io.name].copy() for s in self.buffers.outputs()}

    @property
    def last_inference_ms(self) -> float | None:
        """GPU time of the last ``execute_async_v3`` (CUDA events); waits for it to finish if it has not."""
        if self._timing_pending and self._events is not None:
            start, end, _ = self._events
            end.synchronize()
            self._last_inference_ms = float(end.time_since(start))
            self._timing_pending = False
        return self._last_inference_ms

    # ----------------------------------------------------------------- helpers
    def _address(self, slot: BufferSlot) -> int:
        return int(self._arena) + slot.offset

    def _bind(self, name: str, address: int) -> None:
        if not self._context.set_tensor_address(name, address):
            raise EngineError(f"TensorRT refused the address of tensor '{name}' of '{self.name}'")


def wait_for_producer(device: CudaDevice, value) -> None:
    """Order ``device``'s stream after the stream that wrote ``value`` (``__cuda_array_interface__`` v3)."""
    stream = getattr(value, "__cuda_array_interface__", {}).get("stream")
    # None: no sync needed; 1: the legacy default stream, with which our (blocking) stream is
    # ordered implicitly; our own stream: in order already. Anything else: wait for the device.
    if stream in (None, 1) or stream == device.stream.handle:
        return
    device.cuda.Context.synchronize()


def device_pointer(value, name: str = "input") -> int:
    """The device address of a C-contiguous array with ``__cuda_array_interface__`` (DLPack-only arrays refused)."""
    interface = getattr(value, "__cuda_array_interface__", None)
    if interface is None:
        raise InputError(f"'{name}' is a device array without __cuda_array_interface__; wrap it (CuPy, torch, "
                         "numba and edge_tracker's DeviceArray expose it)")
    strides = interface.get("strides")
    if strides is not None:
        itemsize = np.dtype(interface["typestr"]).itemsize
        expected, step = [], itemsize
        for dim in reversed(interface["shape"]):
            expected.insert(0, step)
            step *= int(dim)
        if tuple(strides) != tuple(expected):
            raise InputError(f"'{name}' is not C-contiguous (strides {tuple(strides)}); TensorRT reads dense tensors: "
                             "make a contiguous copy on the device")
    return int(interface["data"][0])
