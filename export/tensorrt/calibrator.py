"""The legacy INT8 entropy calibrator: TensorRT 8.5/8.6 only, for an FP32 graph with a calibration set.

TensorRT 10 deprecated implicit INT8 calibration and 11 removed it (no ``IInt8EntropyCalibrator2``,
no ``config.int8_calibrator``): there, INT8 is the Q/DQ graph of ``export.precision``. On JetPack 5
this calibrator is the alternative ``plan_build`` chooses for int8 from an FP32 graph. The
calibration set is the one ``calibration/`` cuts the way the tracker sees its crops; its scales
are cached in a file beside the engines (read back on the next build of the same graph).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edge_tracker.backends.trt_io import TensorIO
from edge_tracker.errors import InputError
from export.tensorrt.files import atomic_write_bytes

logger = logging.getLogger("edge_tracker.export.tensorrt")


def entropy_calibrator(trt, cuda, feeds: Iterable[dict[str, np.ndarray]], inputs: list[TensorIO],
                       cache_path: Path | None) -> Any:
    """A ``trt.IInt8EntropyCalibrator2`` feeding ``feeds`` (``{input name: array of the input's shape}``).

    Device buffers (pycuda, ``cuda`` = ``pycuda.driver``) are allocated once per input; each batch
    is copied into them. Batches are whole network inputs (explicit batch), so the batch size
    reported to TensorRT is 1.
    """
    specs = {t.name: t for t in inputs}

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._feeds: Iterator[dict[str, np.ndarray]] = iter(feeds)
            self._buffers = {name: cuda.mem_alloc(max(spec.nbytes, 1)) for name, spec in specs.items()}
            self.batches = 0

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: list[str]) -> list[int] | None:
            feed = next(self._feeds, None)
            if feed is None:
                logger.info("calibration: %d batches", self.batches)
                return None
            for name in names:
                cuda.memcpy_htod(self._buffers[name], _checked(feed, specs[name]))
            self.batches += 1
            return [int(self._buffers[name]) for name in names]

        def read_calibration_cache(self) -> bytes | None:
            if cache_path is not None and cache_path.is_file():
                logger.info("calibration: reusing the scales in %s", cache_path.name)
                return cache_path.read_bytes()
            return None

        def write_calibration_cache(self, cache) -> None:
            if cache_path is not None:
                atomic_write_bytes(cache_path, bytes(cache))

    return EntropyCalibrator()


def _checked(feed: dict[str, np.ndarray], spec: TensorIO) -> np.ndarray:
    if spec.name not in feed:
        raise InputError(f"a calibration feed lacks input '{spec.name}' (it has {sorted(feed)})")
    array = np.ascontiguousarray(feed[spec.name], dtype=spec.dtype)
    if array.shape != spec.shape:
        raise InputError(f"calibration input '{spec.name}' has shape {array.shape}, the network takes {spec.shape}")
    return array
