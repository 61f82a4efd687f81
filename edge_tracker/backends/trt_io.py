"""Engine I/O and the device buffer plan of the TensorRT runner: pure functions, tested in CI.

- :class:`TensorIO`: one engine input or output (name, direction, static shape, dtype), as the
  engine reports it (:func:`engine_io`, TensorRT's named-tensor API) and as the engine's manifest
  records it (``export.tensorrt.manifest``).
- :func:`plan_buffers`: every I/O tensor at an aligned offset of one device allocation, the
  layout the runner allocates once per engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_tracker.errors import InputError

ALIGNMENT = 256  # bytes between buffers in the device arena (cudaMalloc's own alignment)
INPUT, OUTPUT = "input", "output"


# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TensorIO:
    """One engine input or output: name, direction, static shape, element type."""

    name: str
    mode: str  # INPUT or OUTPUT
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "mode": self.mode, "shape": list(self.shape), "dtype": np.dtype(self.dtype).name}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> TensorIO:
        try:
            return cls(str(record["name"]), str(record["mode"]), tuple(int(d) for d in record["shape"]),
                       np.dtype(record["dtype"]))
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"an engine I/O record needs name, mode, shape and dtype; got {record!r} ({err})") from err


@dataclass(frozen=True)
class BufferSlot:
    """Where one tensor lives in the device arena (and, on the host, in its own pinned buffer)."""

    io: TensorIO
    offset: int  # bytes from the arena's start, a multiple of the plan's alignment
    nbytes: int


@dataclass(frozen=True)
class BufferPlan:
    """Every I/O tensor of an engine at an aligned offset of one device allocation."""

    slots: tuple[BufferSlot, ...]  # in the engine's I/O order
    total_bytes: int
    alignment: int

    def inputs(self) -> list[BufferSlot]:
        return [s for s in self.slots if s.io.mode == INPUT]

    def outputs(self) -> list[BufferSlot]:
        return [s for s in self.slots if s.io.mode == OUTPUT]

    def slot(self, name: str) -> BufferSlot:
        for s in self.slots:
            if s.io.name == name:
                return s
        raise KeyError(name)


def plan_buffers(io: Sequence[TensorIO], alignment: int = ALIGNMENT) -> BufferPlan:
    """Lay out ``io`` in one device arena: each tensor at the next ``alignment``-byte boundary.

    Refuses what the runner cannot serve: duplicate names, an unknown mode, dynamic dimensions (our
    exports have static shapes; an engine with ``-1`` was not built from them), an engine without
    inputs or outputs. A tensor of zero bytes still gets its own aligned slot (TensorRT wants a
    valid address for every I/O tensor).
    """
    if alignment <= 0 or alignment & (alignment - 1):
        raise InputError(f"alignment must be a power of two, got {alignment}")
    names = [t.name for t in io]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"engine I/O names must be unique; repeated: {duplicates}")
    slots, offset = [], 0
    for tensor in io:
        if tensor.mode not in (INPUT, OUTPUT):
            raise InputError(f"tensor '{tensor.name}': mode must be '{INPUT}' or '{OUTPUT}', got {tensor.mode!r}")
        if any(d < 0 for d in tensor.shape):
            raise InputError(f"tensor '{tensor.name}' has a dynamic shape {tensor.shape}; edge_tracker's engines are "
                             "built from static-shape exports: rebuild the engine from `python -m export` graphs")
        nbytes = tensor.nbytes
        slots.append(BufferSlot(tensor, offset, nbytes))
        offset += -(-max(nbytes, 1) // alignment) * alignment
    if not any(t.mode == INPUT for t in io) or not any(t.mode == OUTPUT for t in io):
        raise InputError(f"an engine needs at least one input and one output, got {[(t.name, t.mode) for t in io]}")
    return BufferPlan(tuple(slots), offset, alignment)


def engine_io(trt, engine) -> list[TensorIO]:
    """The I/O of a deserialised engine in its own order, through the named-tensor API (8.5+)."""
    tensors = []
    for index in range(engine.num_io_tensors):
        name = engine.get_tensor_name(index)
        mode = INPUT if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else OUTPUT
        shape = tuple(int(d) for d in engine.get_tensor_shape(name))
        dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
        tensors.append(TensorIO(name, mode, shape, dtype))
    return tensors
