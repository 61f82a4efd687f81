"""TensorRT-RTX's runtime cache: the kernels its JIT compiled for this GPU, kept between runs.

A TensorRT-RTX plan is portable (built ahead of time, possibly on a machine without a GPU); the
GPU that loads it compiles its kernels just in time. Without a runtime cache every start would
redo that compilation. :class:`RuntimeCacheFile` gives each execution context an
``IRuntimeConfig`` holding an ``IRuntimeCache`` read from one file in the engine cache (per
TensorRT-RTX version and GPU, ``EngineCache.runtime_cache_path``), and writes what was compiled
back when the runner is deactivated (atomically, under a lock: several runners share the file).

A file that TensorRT-RTX rejects (another driver, GPU or version: ``IRuntimeCache.deserialize``
returns False) is ignored and replaced at the next save. TensorRT (not RTX) has no runtime
cache: its runners pass ``None`` and get a plain ``create_execution_context()``.
"""

from __future__ import annotations

import ctypes.util
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger("edge_tracker.backends")


class RuntimeCacheFile:
    """The runtime cache of one runner's execution context, read from ``path`` and saved by ``write``.

    ``write(path, data)``: an atomic, locked write (the engine cache's ``write_runtime_cache``).
    """

    def __init__(self, path: Path, write: Callable[[Path, bytes], None]) -> None:
        self.path = Path(path)
        self._write = write
        self._cache = None
        self._config = None

    def create_context(self, engine) -> Any:
        """``engine.create_execution_context(runtime_config)`` with the cache read from the file."""
        self._config = engine.create_runtime_config()
        self._cache = self._config.create_runtime_cache()
        if self.path.is_file() and not self._cache.deserialize(self.path.read_bytes()):
            logger.info("the runtime cache %s is of another GPU, driver or TensorRT-RTX: compiling anew",
                        self.path.name)
        self._config.set_runtime_cache(self._cache)
        return engine.create_execution_context(self._config)

    def save(self) -> None:
        """Write what this context compiled back to the file (a failure is logged: the cache only saves time)."""
        if self._cache is None:
            return
        try:
            self._write(self.path, bytes(self._cache.serialize()))
        except OSError as err:
            logger.warning("cannot write the runtime cache %s (%s): the next start compiles its kernels again",
                           self.path, err)
        self._cache = self._config = None


def driver_missing() -> bool:
    """No CUDA driver library (libcuda / nvcuda) on this machine: no plan can run here."""
    return ctypes.util.find_library("cuda") is None and ctypes.util.find_library("nvcuda") is None
