"""The device-memory seam's host implementation (``HostMemory``) and the checks both implementations share.

The pycuda implementation runs the same operations against this one on a GPU
(``tests/tensorrt/test_gpu_device_memory.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_tracker.backends.arrays import DeviceArray
from edge_tracker.backends.device_memory import HostMemory
from edge_tracker.errors import InputError


def test_host_memory_copies_whole_buffers_and_single_slots():
    memory = HostMemory()
    samples = memory.zeros((4, 2, 3))
    sample = np.arange(6, dtype=np.float32).reshape(1, 2, 3)  # a runner's batch of one fits a slot
    memory.copy_into_slot(samples, 2, sample)
    expected = np.zeros((4, 2, 3), np.float32)
    expected[2] = sample[0]
    np.testing.assert_array_equal(samples, expected)
    kept = memory.upload(sample)
    sample[...] = -1  # an upload is a copy: later writes to the source do not reach it
    np.testing.assert_array_equal(kept, np.arange(6, dtype=np.float32).reshape(1, 2, 3))
    target = memory.empty((2, 3))
    memory.copy(target, kept)
    np.testing.assert_array_equal(target, kept[0])
    assert memory.to_host(target) is target and not memory.on_device


def test_copies_that_do_not_fit_are_refused_with_what_was_given():
    memory = HostMemory()
    samples = memory.zeros((3, 4))
    with pytest.raises(InputError, match=r"slot 3 asked for, the buffer has 3 \(0 to 2\)"):
        memory.copy_into_slot(samples, 3, np.ones(4, np.float32))
    with pytest.raises(InputError, match=r"cannot write a float32 \(5,\) array into a float32 \(4,\) buffer"):
        memory.copy_into_slot(samples, 0, np.ones(5, np.float32))
    with pytest.raises(InputError, match=r"float64 \(3, 4\) array into a float32 \(3, 4\) buffer"):
        memory.copy(samples, np.ones((3, 4)))
    np.testing.assert_array_equal(samples, np.zeros((3, 4), np.float32))


def test_host_memory_refuses_a_device_array():
    device = DeviceArray(0x7F0000000000, (3, 4), np.dtype(np.float32))
    with pytest.raises(InputError, match=r"DeviceArray on cuda:0.*device memory of its backend"):
        HostMemory().copy(np.zeros((3, 4), np.float32), device)
