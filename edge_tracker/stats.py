"""Per-stage latency samples: every sample kept, so percentiles (p50/p90/p99) and spikes can be read.

A mean hides what breaks a frame-rate target on a tracker: the periodic filter update or a slow
frame. ``StageStats`` keeps each frame's time per stage in milliseconds (a few floats per frame:
100,000 frames are a few MB), and summarises them as mean, p50, p90, p99 and max.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class StageSummary:
    """One stage's figures over its samples, milliseconds."""

    stage: str
    count: int
    mean: float
    p50: float
    p90: float
    p99: float
    max: float

    def as_dict(self) -> dict[str, float | int | str]:
        return {"stage": self.stage, "count": self.count, "mean_ms": self.mean, "p50_ms": self.p50,
                "p90_ms": self.p90, "p99_ms": self.p99, "max_ms": self.max}


class StageStats:
    """Samples per named stage, in the order stages first appear."""

    def __init__(self) -> None:
        self._samples: dict[str, list[float]] = {}

    def add(self, stage: str, ms: float) -> None:
        self._samples.setdefault(stage, []).append(float(ms))

    def add_all(self, timings_ms: dict[str, float]) -> None:
        for stage, ms in timings_ms.items():
            self.add(stage, ms)

    @property
    def stages(self) -> list[str]:
        return list(self._samples)

    def samples(self, stage: str) -> np.ndarray:
        """``[N]`` milliseconds of ``stage``, in the order they were added."""
        return np.asarray(self._samples.get(stage, ()), dtype=np.float64)

    def total_ms(self, stage: str) -> float:
        return float(sum(self._samples.get(stage, ())))

    def summary(self, stage: str) -> StageSummary:
        values = self.samples(stage)
        if values.size == 0:
            nan = math.nan
            return StageSummary(stage, 0, nan, nan, nan, nan, nan)
        p50, p90, p99 = np.percentile(values, PERCENTILES)
        return StageSummary(stage, int(values.size), float(values.mean()), float(p50), float(p90), float(p99),
                            float(values.max()))

    def summaries(self, order: list[str] | None = None) -> list[StageSummary]:
        """Summaries of ``order`` (default: every stage), skipping stages without samples."""
        return [self.summary(s) for s in (order or self.stages) if s in self._samples]

    def table(self, order: list[str] | None = None, indent: str = "  ") -> str:
        """A fixed-width table: stage, mean, p50, p90, p99, max (ms)."""
        rows = self.summaries(order)
        width = max([len("stage")] + [len(r.stage) for r in rows])
        lines = [f"{indent}{'stage':<{width}}  {'mean':>8} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}  (ms)"]
        for r in rows:
            lines.append(f"{indent}{r.stage:<{width}}  {r.mean:8.2f} {r.p50:8.2f} {r.p90:8.2f} {r.p99:8.2f} "
                         f"{r.max:8.2f}")
        return "\n".join(lines)
