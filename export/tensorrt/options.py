"""Engine build options: the few settings a user may need for a good engine, checked once.

Every field that changes the engine TensorRT builds is part of the engine's cache key
(:meth:`BuildOptions.key_fields`); the timing cache is not, because it only speeds up tactic
selection (a build with or without it gives an engine valid for the same key).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from edge_tracker.errors import ConfigError

OPTIMIZATION_LEVELS = range(6)  # TensorRT's builder_optimization_level: 0 (fast build) .. 5; default 3


@dataclass(frozen=True)
class BuildOptions:
    """How an engine is built (defaults: TensorRT's own choices, on the GPU).

    Fields:
        workspace_mib: limit of the builder's scratch memory (``MemoryPoolType.WORKSPACE``), MiB;
            None leaves TensorRT's default (the device's memory). Lower it on an 8 GB Jetson that
            also runs a camera pipeline.
        optimization_level: ``builder_optimization_level`` 0..5 (TensorRT 8.6+); None leaves the
            default (3). Higher tries more tactics: slower builds, sometimes faster engines.
        dla_core: Jetson Orin's DLA core (0 or 1) to run the network on; None runs on the GPU.
            DLA runs FP16 and INT8 only.
        gpu_fallback: with ``dla_core``, run the layers DLA cannot on the GPU (else the build fails
            on the first such layer).
        timing_cache: keep a timing cache beside the engines and reuse it (faster rebuilds and
            builds of the other phases); not part of the cache key. Never used on TensorRT-RTX.
        compute_capabilities: TensorRT-RTX's targets (``("sm75",)``, ``("sm86", "sm89")``); empty:
            its portable default set (sm80, sm86, sm89, sm120). A cache key field of its own.
    """

    workspace_mib: int | None = None
    optimization_level: int | None = None
    dla_core: int | None = None
    gpu_fallback: bool = True
    timing_cache: bool = True
    compute_capabilities: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from export.tensorrt_support import check_targets

        object.__setattr__(self, "compute_capabilities", check_targets(self.compute_capabilities))
        if self.workspace_mib is not None and not (_is_int(self.workspace_mib) and self.workspace_mib >= 1):
            raise ConfigError(f"workspace_mib must be a whole number of MiB >= 1 (or None), got {self.workspace_mib!r}")
        if self.optimization_level is not None and not (_is_int(self.optimization_level)
                                                        and self.optimization_level in OPTIMIZATION_LEVELS):
            raise ConfigError(f"optimization_level must be 0..5 (or None for TensorRT's default 3), "
                              f"got {self.optimization_level!r}")
        if self.dla_core is not None and not (_is_int(self.dla_core) and self.dla_core >= 0):
            raise ConfigError(f"dla_core must be a DLA core index >= 0 (or None for the GPU), got {self.dla_core!r}")
        for name in ("gpu_fallback", "timing_cache"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")

    @property
    def workspace_bytes(self) -> int | None:
        return None if self.workspace_mib is None else self.workspace_mib << 20

    def key_fields(self) -> dict[str, Any]:
        """The options that change the built engine, for its cache key (``dla_core`` is a key field of its own)."""
        return {"workspace_mib": self.workspace_mib, "optimization_level": self.optimization_level,
                "gpu_fallback": self.gpu_fallback if self.dla_core is not None else None}

    def as_dict(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["compute_capabilities"] = list(self.compute_capabilities)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BuildOptions:
        """Options from a mapping; unknown keys are refused with the valid ones listed."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown engine build option(s) {unknown}; valid: {sorted(known)}")
        return cls(**{**values, **({"compute_capabilities": tuple(values["compute_capabilities"])}
                                   if "compute_capabilities" in values else {})})


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
