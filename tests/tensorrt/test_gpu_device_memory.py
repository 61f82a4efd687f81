"""The pycuda device memory (``CudaMemory``) against its numpy twin (``HostMemory``) on a GPU.

``gpu`` marker; pycuda and a GPU needed, TensorRT not. The same operations as AFF-ATOM's learner
makes (buffers made empty, zeroed or uploaded; a sample copied device to device into its memory
slot; a label uploaded into a slot; an output copied over a buffer; read back once) are run on both,
and every buffer read back must equal numpy's bit for bit: they are copies, nothing is computed.
Elsewhere these tests skip with the reason; the calls are checked against pycuda's source on the
CPU by ``test_pycuda_conformance.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_tracker.backends.arrays import DeviceArray, describe
from edge_tracker.backends.device_memory import HostMemory
from edge_tracker.errors import EdgeTrackerError, InputError
from tests.tensorrt.gpu import pycuda_missing

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(pycuda_missing() is not None, reason=str(pycuda_missing()))]


@pytest.fixture
def memory():
    from edge_tracker.backends.cuda_memory import CudaMemory
    from edge_tracker.backends.tensorrt import CudaDevice

    made = CudaMemory(CudaDevice(0))
    yield made
    made.close()


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32, np.uint8])
def test_upload_then_to_host_gives_the_values_back(memory, dtype):
    host = (np.random.default_rng(0).standard_normal((3, 5, 7)) * 50).astype(dtype)
    device = memory.upload(host)
    assert isinstance(device, DeviceArray) and describe(device).on_device
    assert device.shape == host.shape and device.dtype == host.dtype
    back = memory.to_host(device)
    np.testing.assert_array_equal(back, host)
    back[...] = 0  # the caller's own copy: the device buffer and the next read are untouched
    np.testing.assert_array_equal(memory.to_host(device), host)


def _learner_like(memory, rng_seed: int = 1) -> dict:
    """What the graph learner does with its memory, on either implementation."""
    rng = np.random.default_rng(rng_seed)
    samples = memory.zeros((6, 4, 5))
    labels = memory.upload(rng.standard_normal((6, 3, 3)).astype(np.float32))
    filters, spare = memory.upload(rng.standard_normal((1, 4, 2, 2)).astype(np.float32)), memory.empty((1, 4, 2, 2))
    projected = memory.upload(rng.standard_normal((1, 4, 5)).astype(np.float32))  # a [1, ...] runner output
    memory.copy_into_slot(samples, 2, projected)                          # device to device, into a slot
    memory.copy_into_slot(samples, 5, rng.standard_normal((4, 5)).astype(np.float32))  # host into a slot
    memory.copy_into_slot(labels, 0, rng.standard_normal((3, 3)).astype(np.float32))
    memory.copy(spare, filters)                                           # the CG iterate starts at the filters
    memory.copy(filters, rng.standard_normal((1, 4, 2, 2)).astype(np.float32))  # host over a buffer
    weights = memory.zeros((6,))
    memory.copy(weights, np.linspace(0, 1, 6, dtype=np.float32))
    return {"samples": samples, "labels": labels, "filters": filters, "spare": spare, "weights": weights}


def test_the_learners_operations_give_numpys_results(memory):
    host = HostMemory()
    want = _learner_like(host)
    got = _learner_like(memory)
    for name, value in want.items():
        np.testing.assert_array_equal(memory.to_host(got[name]), host.to_host(value), err_msg=name)


def test_copies_queue_in_order_on_the_stream_and_one_read_waits_for_all(memory):
    """200 device-to-device copies back and forth, no synchronisation between them, then one read."""
    first = memory.upload(np.arange(4096, dtype=np.float32))
    second = memory.zeros((4096,))
    for step in range(200):
        if step == 100:  # a host write in the middle of the chain, which the copies after it carry on
            memory.copy(first, np.full(4096, 7.0, np.float32))
        if step % 2 == 0:
            memory.copy(second, first)
        else:
            memory.copy(first, second)
    np.testing.assert_array_equal(memory.to_host(first), np.full(4096, 7.0, np.float32))


def test_a_slot_out_of_range_or_a_wrong_size_is_refused_before_any_copy(memory):
    samples = memory.zeros((3, 4))
    with pytest.raises(InputError, match=r"slot 3 asked for, the buffer has 3"):
        memory.copy_into_slot(samples, 3, np.ones(4, np.float32))
    with pytest.raises(InputError, match=r"same dtype and number of elements"):
        memory.copy_into_slot(samples, 0, np.ones(5, np.float32))
    with pytest.raises(InputError, match=r"same dtype"):
        memory.copy(samples, np.ones((3, 4), np.float64))
    np.testing.assert_array_equal(memory.to_host(samples), np.zeros((3, 4), np.float32))


def test_close_frees_the_buffers_and_releases_the_gpu():
    from edge_tracker.backends.cuda_memory import CudaMemory
    from edge_tracker.backends.tensorrt import CudaDevice

    gpu = CudaDevice(0)
    memory = CudaMemory(gpu)
    kept = memory.upload(np.ones(8, np.float32))
    assert gpu.is_open
    memory.close()
    assert not gpu.is_open and kept.owner is not None
    with pytest.raises(EdgeTrackerError, match="closed with its model"):
        memory.empty((2,))
    memory.close()  # twice is harmless
