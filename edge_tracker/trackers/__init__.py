"""Trackers: numpy orchestration around a tracker's exported phase graphs.

``build_tracker(name, runners, params)`` is the one entry point the CLI, profiling and evaluation
use; each tracker family has a frozen parameter dataclass (``tracker_params``) whose unknown keys
are rejected with the valid ones listed.
"""

from __future__ import annotations

from typing import Any

from edge_tracker.backends.base import Runner
from edge_tracker.errors import ConfigError
from edge_tracker.trackers.base import STATES, TrackResult

SIAM_TRACKERS = ("scs-siam", "sca-siam", "ssa-siam")
ATOM_TRACKERS = ("aff-atom", "atom")
TRACKERS = SIAM_TRACKERS + ATOM_TRACKERS


def tracker_params(name: str, overrides: dict[str, Any] | None = None):
    """The frozen tracking parameters of tracker ``name`` with ``overrides`` applied."""
    overrides = dict(overrides or {})
    if name in SIAM_TRACKERS:
        from edge_tracker.trackers.siamfc import SiamParams

        return SiamParams.from_dict(overrides)
    if name in ATOM_TRACKERS:
        from edge_tracker.trackers.atom import AtomParams

        return AtomParams.from_dict(overrides)
    raise ConfigError(f"unknown tracker {name!r}; choose one of {list(TRACKERS)}")


def build_tracker(name: str, runners: dict[str, Runner], params=None):
    """A ready tracker for ``name`` over its phase ``runners`` (from ``backends.load_runners``)."""
    if params is None or isinstance(params, dict):
        params = tracker_params(name, params)
    if name in SIAM_TRACKERS:
        from edge_tracker.trackers.siamfc import SiamTracker

        return SiamTracker(runners, params)
    from edge_tracker.trackers.atom import AtomTracker

    return AtomTracker(runners, params)


__all__ = ["ATOM_TRACKERS", "SIAM_TRACKERS", "STATES", "TRACKERS", "TrackResult", "build_tracker",
           "tracker_params"]
