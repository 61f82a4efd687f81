"""Buffer planning of the TensorRT runner from an engine manifest's I/O: pure, so it runs in CI."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edge_tracker.backends.arrays import DeviceArray
from edge_tracker.backends.tensorrt import CudaDevice, TensorRTRunner, device_pointer
from edge_tracker.backends.trt_io import (
    ALIGNMENT,
    INPUT,
    OUTPUT,
    TensorIO,
    plan_buffers,
)
from edge_tracker.errors import InputError
from export.tensorrt.manifest import engine_manifest, manifest_io

F32 = np.dtype(np.float32)
SEARCH_IO = [TensorIO("search", INPUT, (3, 3, 263, 263), F32), TensorIO("kernel", INPUT, (1, 384, 7, 7), F32),
             TensorIO("response", OUTPUT, (3, 1, 17, 17), F32)]


def test_buffers_planned_from_a_manifest_sit_at_aligned_offsets():
    manifest = engine_manifest({}, "0" * 64, "x.plan", b"plan", SEARCH_IO, {}, {})
    plan = plan_buffers(manifest_io(manifest))
    sizes = [3 * 3 * 263 * 263 * 4, 384 * 49 * 4, 3 * 17 * 17 * 4]  # 2490084, 75264, 3468 bytes
    assert [s.nbytes for s in plan.slots] == sizes
    assert [s.offset for s in plan.slots] == [0, 2490112, 2490112 + 75264]  # 2490084 rounded up to 256
    assert plan.total_bytes == 2490112 + 75264 + 3584 and plan.alignment == ALIGNMENT
    assert all(s.offset % ALIGNMENT == 0 for s in plan.slots)
    assert [s.io.name for s in plan.inputs()] == ["search", "kernel"] and [s.io.name for s in plan.outputs()] == ["response"]
    assert plan.slot("kernel").offset == 2490112
    # no two buffers overlap
    spans = sorted((s.offset, s.offset + s.nbytes) for s in plan.slots)
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))


def test_mixed_dtypes_and_empty_tensors_get_their_own_aligned_slots():
    io = [TensorIO("a", INPUT, (1, 3), np.dtype(np.float16)), TensorIO("b", INPUT, (0, 4), F32),
          TensorIO("c", OUTPUT, (2,), np.dtype(np.int64)), TensorIO("d", OUTPUT, (5,), np.dtype(np.bool_))]
    plan = plan_buffers(io, alignment=64)
    assert [(s.offset, s.nbytes) for s in plan.slots] == [(0, 6), (64, 0), (128, 16), (192, 5)]
    assert plan.total_bytes == 256


@pytest.mark.parametrize("io, match", [
    ([TensorIO("x", INPUT, (1, -1), F32), TensorIO("y", OUTPUT, (1,), F32)], "dynamic shape"),
    ([TensorIO("x", INPUT, (1,), F32), TensorIO("x", OUTPUT, (1,), F32)], "unique"),
    ([TensorIO("x", INPUT, (1,), F32)], "at least one input and one output"),
    ([TensorIO("x", "inout", (1,), F32), TensorIO("y", OUTPUT, (1,), F32)], "mode must be"),
])
def test_engines_the_runner_cannot_serve_are_refused(io, match):
    with pytest.raises(InputError, match=match):
        plan_buffers(io)
    with pytest.raises(InputError, match="power of two"):
        plan_buffers(SEARCH_IO, alignment=100)


def test_io_records_round_trip_and_bad_ones_are_named():
    for tensor in SEARCH_IO + [TensorIO("m", OUTPUT, (2, 2), np.dtype(np.int8))]:
        assert TensorIO.from_dict(tensor.as_dict()) == tensor
    with pytest.raises(InputError, match="name, mode, shape and dtype"):
        TensorIO.from_dict({"name": "x", "mode": INPUT, "shape": [1]})


def test_the_runner_reports_its_io_before_activation_and_without_a_gpu():
    runner = TensorRTRunner("search", plan=lambda: b"", io=SEARCH_IO, device=CudaDevice(0))
    assert list(runner.input_metadata()) == ["search", "kernel"] and list(runner.output_metadata()) == ["response"]
    assert runner.input_metadata()["search"].shape == (3, 3, 263, 263)
    assert runner.timing == "cuda_events" and runner.accepts_device_arrays and runner.last_inference_ms is None
    assert runner.buffers.total_bytes == 2490112 + 75264 + 3584
    with pytest.raises(InputError, match="dynamic shape"):  # a bad manifest fails at construction, before any GPU work
        TensorRTRunner("x", lambda: b"", [TensorIO("x", INPUT, (-1,), F32), TensorIO("y", OUTPUT, (1,), F32)],
                       CudaDevice(0))
    with pytest.raises(InputError, match="device index"):
        CudaDevice(-1)


def test_device_feeds_are_bound_by_pointer_only_when_dense():
    dense = DeviceArray(0x7F0000, (3, 3, 263, 263), F32)
    assert device_pointer(dense) == 0x7F0000

    def view(strides):
        return DeviceArrayView({"shape": (2, 3), "typestr": "<f4", "data": (4096, False), "version": 3,
                                "strides": strides})

    assert device_pointer(view((12, 4))) == 4096  # strides given, but dense
    with pytest.raises(InputError, match="not C-contiguous"):
        device_pointer(view((4, 8)), "search")  # a transposed view
    with pytest.raises(InputError, match="without __cuda_array_interface__"):
        device_pointer(object())


class DeviceArrayView:
    """Anything with ``__cuda_array_interface__``, strides included (the protocol is all the runner reads)."""

    def __init__(self, interface):
        self.__cuda_array_interface__ = interface
