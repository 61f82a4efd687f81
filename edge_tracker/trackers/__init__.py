"""Trackers: numpy orchestration around a tracker's exported phase graphs.

``build_tracker(name, runners, params)`` is the one entry point the session (and through it the
CLI, profiling, evaluation and the benchmarks) uses; each tracker family has a frozen parameter
dataclass (``tracker_params``) whose unknown keys are rejected with the valid ones listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_tracker.backends.base import Runner
from edge_tracker.backends.device_memory import DeviceMemory
from edge_tracker.errors import ConfigError
from edge_tracker.names import ATOM_TRACKERS, SIAM_TRACKERS, TRACKERS
from edge_tracker.params import params_from_text
from edge_tracker.preprocess import Preprocessor
from edge_tracker.trackers.base import STATES, TrackResult


def params_class(name: str):
    """The frozen parameter dataclass of tracker ``name``."""
    if name in SIAM_TRACKERS:
        from edge_tracker.trackers.siamfc import SiamParams

        return SiamParams
    if name in ATOM_TRACKERS:
        from edge_tracker.trackers.atom import AtomParams

        return AtomParams
    raise ConfigError(f"unknown tracker {name!r}; choose one of {list(TRACKERS)}")


def tracker_params(name: str, overrides: Mapping[str, Any] | None = None,
                   texts: Mapping[str, str] | None = None):
    """The frozen tracking parameters of ``name``: defaults, then ``overrides`` (typed values, e.g. a
    checkpoint's recommendation), then ``texts`` (``--param KEY=VALUE`` text, typed like each field)."""
    return params_from_text(params_class(name), texts or {}, base=overrides)


def exported_phases(name: str) -> tuple[str, ...]:
    """The phases an export of tracker ``name`` holds (a cached export without one is outdated)."""
    if name in SIAM_TRACKERS:
        return ("template", "search")
    if name in ATOM_TRACKERS:
        from edge_tracker.trackers.atom import PHASES
        from edge_tracker.trackers.learning import GRAPH_PHASES

        return PHASES + GRAPH_PHASES
    raise ConfigError(f"unknown tracker {name!r}; choose one of {list(TRACKERS)}")


def build_tracker(name: str, runners: dict[str, Runner], params=None, preprocessor: Preprocessor | None = None,
                  device_memory: DeviceMemory | None = None):
    """A ready tracker for ``name`` over its phase ``runners`` (from ``backends.open_model``).

    ``device_memory``: where AFF-ATOM/ATOM keep tensors between phases (the backend's, e.g.
    ``TensorRTModel.device_memory()``; default the host). SCS-Siam keeps only its kernel, which
    stays in its template runner's output.
    """
    if params is None or isinstance(params, Mapping):
        params = tracker_params(name, params)
    if name in SIAM_TRACKERS:
        from edge_tracker.trackers.siamfc import SiamTracker

        return SiamTracker(runners, params, preprocessor)
    from edge_tracker.trackers.atom import AtomTracker

    return AtomTracker(runners, params, preprocessor, device_memory)


__all__ = ["ATOM_TRACKERS", "SIAM_TRACKERS", "STATES", "TRACKERS", "TrackResult", "build_tracker",
           "exported_phases", "params_class", "tracker_params"]
