"""TensorRT engines: the build (per TensorRT line), the engine cache, and filling it for an export.

- ``export.tensorrt_support``: TensorRT versions as numbers and the feature table per release line.
- ``options``: :class:`BuildOptions` (workspace, optimisation level, DLA core, timing cache).
- ``plan``: :func:`plan_build`, the version dispatch as data (pure, tested in CI).
- ``build``: the engine build against TensorRT's documented API (``tensorrt`` imported lazily).
- ``calibrator``: the legacy entropy calibrator for INT8 from an FP32 graph on TensorRT 8.5/8.6.
- ``cache`` / ``manifest`` / ``files``: the engine cache (keys, manifests beside the plans, atomic
  writes, an inter-process lock; stale, foreign and corrupt plans told apart).
- ``engines``: every phase of an export folder -> cached engines (what ``python -m export build``
  and ``edge-tracker track --backend trt`` call).

Nothing here imports torch; ``tensorrt`` and ``pycuda`` are imported only by a build.
"""

from export.tensorrt.cache import (
    BuiltEngine,
    CachedEngine,
    DeviceInfo,
    EngineCache,
    EngineCacheError,
    EngineKey,
)
from export.tensorrt.options import BuildOptions
from export.tensorrt.plan import BuildPlan, GraphKind, plan_build

__all__ = ["BuildOptions", "BuildPlan", "BuiltEngine", "CachedEngine", "DeviceInfo", "EngineCache",
           "EngineCacheError", "EngineKey", "GraphKind", "plan_build"]
