"""Per-stage latency samples, summarised as mean, p50, p90, p99 and max.

A mean hides what breaks a frame-rate target on a tracker: the periodic filter update or a slow
frame. ``StageStats`` keeps each frame's time per stage in milliseconds, so percentiles and spikes
can be read. Count, mean and max are exact over every sample. What is kept for the percentiles
depends on ``keep``:

- ``keep=None`` (profiling runs, which are finite and plot every frame): every sample, in order.
- ``keep=N`` (``edge-tracker track``, which may run for days on a robot): at most N samples per
  stage, a uniform random sample of all of them (reservoir sampling, Vitter's algorithm R), so
  memory stays fixed however long the stream runs (N float64 per stage, allocated at its first
  sample). Up to N frames every sample is kept; beyond,
  the percentiles are estimates from N uniformly drawn frames (for N = 10,000 the p99 is the
  value of a rank known to about +-0.1 percentile, one standard error).
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
    """Samples per named stage, in the order stages first appear; see the module doc for ``keep``."""

    def __init__(self, keep: int | None = None, seed: int = 0) -> None:
        if keep is not None and keep < 1:
            raise ValueError(f"StageStats keep={keep}: keep at least one sample per stage, or None for all")
        self.keep = keep
        self._rng = np.random.default_rng(seed)
        self._samples: dict[str, list[float] | np.ndarray] = {}  # a list (keep=None), else a fixed array
        self._count: dict[str, int] = {}
        self._total: dict[str, float] = {}
        self._max: dict[str, float] = {}

    def add(self, stage: str, ms: float) -> None:
        ms = float(ms)
        seen = self._count.get(stage, 0)
        self._count[stage] = seen + 1
        self._total[stage] = self._total.get(stage, 0.0) + ms
        self._max[stage] = max(self._max.get(stage, -math.inf), ms)
        if self.keep is None:
            self._samples.setdefault(stage, []).append(ms)
            return
        if stage not in self._samples:
            self._samples[stage] = np.empty(self.keep)  # allocated once: no growth after
        kept = self._samples[stage]
        slot = seen if seen < self.keep else int(self._rng.integers(0, seen + 1))  # algorithm R: the
        if slot < self.keep:  # new sample replaces a kept one with probability keep / (seen + 1)
            kept[slot] = ms

    def add_all(self, timings_ms: dict[str, float]) -> None:
        for stage, ms in timings_ms.items():
            self.add(stage, ms)

    @property
    def stages(self) -> list[str]:
        return list(self._samples)

    def count(self, stage: str) -> int:
        """Samples added to ``stage`` (all of them, also those a bounded store no longer holds)."""
        return self._count.get(stage, 0)

    def samples(self, stage: str) -> np.ndarray:
        """``[N]`` milliseconds of ``stage``: every sample in the order added (``keep=None``), else the
        at most ``keep`` kept ones, in no particular order."""
        kept = np.asarray(self._samples.get(stage, ()), dtype=np.float64)
        return kept if self.keep is None else kept[: min(self.count(stage), self.keep)].copy()

    def total_ms(self, stage: str) -> float:
        return self._total.get(stage, 0.0)

    def summary(self, stage: str) -> StageSummary:
        values = self.samples(stage)
        if values.size == 0:
            nan = math.nan
            return StageSummary(stage, 0, nan, nan, nan, nan, nan)
        p50, p90, p99 = np.percentile(values, PERCENTILES)
        count = self.count(stage)
        return StageSummary(stage, count, self.total_ms(stage) / count, float(p50), float(p90), float(p99),
                            self._max[stage])

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
