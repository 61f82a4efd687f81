"""Profiling a tracker frame by frame: every (backend, precision) asked for, on the same frames, in one run.

The frames are read (decoded) once into memory, each read timed: that is the ``read`` stage, the
same for every combination. Each combination gets its own ``Session`` and tracker; the trackers
take turns frame by frame, so a machine whose load changes during the run slows them alike and the
ratios between them stay meaningful. The first frame (initialisation: the template, or ATOM's
classifier learning on 30 augmented crops) is reported apart; the next ``warmup`` frames are
tracked but not counted. Per frame and stage, every sample is kept (``StageStats``): the tracker's
own stages (crop, each phase, the classifier update, refinement, post-processing; each phase's time
is its runner's own record, CUDA events on a GPU backend), ``track`` (the tracker alone) and
``frame`` (read + track: end to end, no output written).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_tracker.errors import InputError
from edge_tracker.session import Session
from edge_tracker.stats import StageStats

logger = logging.getLogger("edge_tracker.profiling")

TARGET_FPS = 73.0  # SCS-Siam's paper figure on a TITAN Xp: the project's target
LOOP_STAGES = ("read", "track", "frame")


@dataclass
class CombinationResult:
    """One (backend, precision) of a profile run."""

    label: str
    backend: str
    precision: str
    device: str
    first_frame_ms: float = 0.0
    stages: StageStats = field(default_factory=StageStats)

    @property
    def frames(self) -> int:
        return len(self.stages.samples("frame"))

    def fps(self, stage: str = "frame") -> float:
        total = self.stages.total_ms(stage)
        return 1e3 * self.frames / total if total > 0 else float("inf")

    def inner_stages(self) -> list[str]:
        return [s for s in self.stages.stages if s not in LOOP_STAGES]

    def verdict(self, target_fps: float = TARGET_FPS) -> str:
        """``73 FPS target: met at 212.0 FPS`` or ``... not met: 4.1 FPS, search 240 ms is 97% of the frame``."""
        fps = self.fps()
        if fps >= target_fps:
            return f"{target_fps:g} FPS target: met at {fps:.1f} FPS"
        frame = self.stages.summary("frame").mean
        worst = max(self.inner_stages() + ["read"], key=lambda s: self.stages.summary(s).mean)
        share = self.stages.summary(worst).mean
        return (f"{target_fps:g} FPS target: not met: {fps:.1f} FPS, {worst} {share:.1f} ms is "
                f"{100 * share / frame:.0f}% of the frame")

    def as_dict(self, target_fps: float = TARGET_FPS) -> dict[str, Any]:
        order = ["read", *self.inner_stages(), "track", "frame"]
        return {"label": self.label, "backend": self.backend, "precision": self.precision, "device": self.device,
                "frames": self.frames, "first_frame_ms": self.first_frame_ms, "fps": self.fps(),
                "fps_tracker": self.fps("track"), "verdict": self.verdict(target_fps),
                "stages": [s.as_dict() for s in self.stages.summaries(order)],
                "frame_ms": self.stages.samples("frame").tolist()}


def read_frames(source, count: int) -> tuple[list[np.ndarray], list[float]]:
    """Up to ``count`` frames of an opened source, and each read's time (ms)."""
    images, times = [], []
    while len(images) < count:
        start = time.perf_counter()
        frame = source.read()
        if frame is None:
            break
        times.append(1e3 * (time.perf_counter() - start))
        images.append(frame.image)
    return images, times


def profile(images: list[np.ndarray], read_ms: list[float], init_box, combinations: list[tuple[str, str]], *,
            model=None, tracker: str | None = None, device: str = "auto", warmup: int = 5,
            param_texts: dict[str, str] | None = None) -> tuple[str, list[CombinationResult]]:
    """Profile every ``(backend, precision)`` on ``images`` (see the module docstring).

    Returns the tracker's name and one :class:`CombinationResult` per combination, in order.
    """
    if len(images) < warmup + 2:
        raise InputError(f"{len(images)} frame(s) read: a profile needs at least warmup + 2 = {warmup + 2} "
                         "(the first frame, the warm-up, one measured frame); give a longer input or --warmup 0")
    sessions, results, trackers = [], [], []
    try:
        for backend, precision in combinations:
            session = Session(model, tracker=tracker, backend=backend, device=device, precision=precision,
                              param_texts=param_texts)
            sessions.append(session)
            tracker = tracker or session.name  # every combination must hold the same tracker
            result = CombinationResult(f"{backend}-{precision}", backend, precision, device)
            instance = session.new_tracker()
            start = time.perf_counter()
            instance.initialize(images[0], init_box)
            result.first_frame_ms = 1e3 * (time.perf_counter() - start)
            results.append(result)
            trackers.append(instance)
        for index in range(1, len(images)):
            for result, instance in zip(results, trackers):
                start = time.perf_counter()
                outcome = instance.track(images[index])
                track_ms = 1e3 * (time.perf_counter() - start)
                if index <= warmup:
                    continue
                result.stages.add("read", read_ms[index])
                result.stages.add_all(outcome.timings_ms)
                result.stages.add("track", track_ms)
                result.stages.add("frame", read_ms[index] + track_ms)
    finally:
        for session in sessions:
            session.close()
    return sessions[0].name if sessions else (tracker or ""), results


def table(results: list[CombinationResult], target_fps: float = TARGET_FPS) -> str:
    """The terminal report: per combination, the per-stage table, FPS and the verdict."""
    lines = []
    for result in results:
        order = ["read", *result.inner_stages(), "track", "frame"]
        lines.append(f"{result.label}: {result.frames} frames measured; first frame {result.first_frame_ms:.1f} ms; "
                     f"{result.fps():.1f} FPS end to end, {result.fps('track'):.1f} tracker alone")
        lines.append(result.stages.table(order, indent="    "))
        lines.append(f"  {result.verdict(target_fps)}")
    if len(results) > 1:
        base = results[0]
        ratios = ", ".join(f"{r.label} {r.fps() / base.fps():.2f}x" for r in results[1:])
        lines.append(f"end-to-end FPS against {base.label} (same frames, same run): {ratios}")
    return "\n".join(lines)


def every_frame_graphs(model: Path) -> tuple[dict[str, dict[str, Path]], list[str]]:
    """``{phase: {precision: graph path}}`` and the phases that run every frame, from an export's manifest."""
    from edge_tracker.manifest import read_manifest

    manifest = read_manifest(model, verify=False)
    phases = {}
    for phase in manifest["phases"]:
        variants = phase.get("variants") or {"fp32": {"file": phase["file"]}}
        phases[phase["name"]] = {p: model / v["file"] for p, v in variants.items()}
    every = [p["name"] for p in manifest["phases"] if p.get("when") == "every frame"]
    return phases, every
