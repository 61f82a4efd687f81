"""Compare two runners (or a runner and a reference function) over the same feeds, per output.

The one check behind every "does this backend compute what the reference computes" question: the
export against PyTorch, a precision variant against fp32, an engine against its ONNX graph
(Polygraphy's ``Comparator`` has the same job). numpy only: the export side brings its PyTorch
reference as a runner or a function, and device arrays come to the host through a hook it passes.

Each side is a :class:`~edge_tracker.backends.base.Runner` (activated for the comparison if it was
not active, and then deactivated again) or a function ``feed -> {output name: array}``. Both get
the same feeds (``{input name: array}`` dicts) and must return the same output names, shapes and
dtypes: anything else is an error, never a silent pass.

**Error measure**, per output: ``relative_error = max |candidate - reference| / max |reference|``
(the max abs error relative to the output's scale), so one tolerance serves feature maps of scale 10
and IoUs of scale 1 alike. Over several feeds an output's figure is its worst feed's (that feed's
max abs error and scale); the mean abs error is over every element of every feed. A non-finite
value on either side fails the output (NaN never compares as "within tolerance").

**Tolerances** come from :data:`DEFAULT_TOLERANCES` by precision, overridable per output name.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_tracker.backends import arrays
from edge_tracker.backends.base import Runner
from edge_tracker.errors import InputError

# Tolerance of the relative max abs error per precision of the candidate. Measured against an fp32
# reference, so each is the precision's own rounding carried through a network, with room to spare:
# - fp32: 1e-4. Different kernels (fused BN, other summation orders) differ by a few float32 ulps
#   (1.2e-7) per accumulation; through ~50 layers that stays near 1e-6..1e-5 of the output's scale.
# - fp16: 1e-2. One fp16 rounding is 4.9e-4 (2^-11) relative; a deep stack of convolutions that
#   accumulate in fp16 lands at a few 1e-3 of the scale, so 1e-2 is about 20 fp16 ulps.
# - int8: 5e-2. A symmetric per-tensor int8 step is 1/127 (7.9e-3) of the calibrated range; a few
#   quantised layers in series add a few steps, so 5e-2 is about 6 steps of the output's range.
DEFAULT_TOLERANCES: Mapping[str, float] = {"fp32": 1e-4, "fp16": 1e-2, "int8": 5e-2}

_TINY_SCALE = 1e-12  # an all-zero reference: any error counts in full, no division by zero

Side = Runner | Callable[[dict[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class OutputComparison:
    """One output's figures over every feed (see the module docstring for the measure)."""

    name: str
    max_abs_error: float   # of the worst feed
    scale: float           # max |reference| of the worst feed
    mean_abs_error: float  # over every element of every feed
    tolerance: float       # of the relative error
    worst_feed: int        # index of the feed the figures above come from
    nonfinite: int = 0     # elements that were NaN or inf on either side, every feed

    @property
    def relative_error(self) -> float:
        return self.max_abs_error / max(self.scale, _TINY_SCALE)

    @property
    def passed(self) -> bool:
        return self.nonfinite == 0 and math.isfinite(self.relative_error) and self.relative_error <= self.tolerance

    def as_dict(self) -> dict[str, Any]:
        return {"max_abs_error": self.max_abs_error, "scale": self.scale, "relative_error": self.relative_error,
                "mean_abs_error": self.mean_abs_error, "tolerance": self.tolerance, "passed": self.passed,
                "worst_feed": self.worst_feed, "nonfinite": self.nonfinite}


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare`: one :class:`OutputComparison` per output, in the reference's order."""

    candidate: str
    reference: str
    precision: str
    feeds: int
    outputs: tuple[OutputComparison, ...]

    @property
    def passed(self) -> bool:
        return all(output.passed for output in self.outputs)

    @property
    def failures(self) -> list[OutputComparison]:
        return [output for output in self.outputs if not output.passed]

    def __getitem__(self, name: str) -> OutputComparison:
        for output in self.outputs:
            if output.name == name:
                return output
        raise KeyError(f"no output {name!r}; outputs are {[o.name for o in self.outputs]}")

    def as_dict(self) -> dict[str, Any]:
        """For manifests and reports: who was compared, at which precision, and every output's figures."""
        return {"candidate": self.candidate, "reference": self.reference, "precision": self.precision,
                "feeds": self.feeds, "passed": self.passed,
                "outputs": {output.name: output.as_dict() for output in self.outputs}}

    def __str__(self) -> str:
        verdict = "passed" if self.passed else f"FAILED ({len(self.failures)} of {len(self.outputs)} outputs)"
        lines = [f"{self.candidate} vs {self.reference}, {self.precision}, {self.feeds} feed(s): {verdict}"]
        width = max([len("output")] + [len(o.name) for o in self.outputs])
        lines.append(f"  {'output':<{width}}  {'max_abs':>9} {'scale':>9} {'rel_err':>9} {'mean_abs':>9} "
                     f"{'tolerance':>9}  result")
        for o in self.outputs:
            result = "pass" if o.passed else "FAIL"
            if o.nonfinite:
                result += f" ({o.nonfinite} non-finite)"
            lines.append(f"  {o.name:<{width}}  {o.max_abs_error:9.2e} {o.scale:9.3g} {o.relative_error:9.2e} "
                         f"{o.mean_abs_error:9.2e} {o.tolerance:9.1e}  {result}")
        return "\n".join(lines)


def tolerance_table(precision: str, overrides: Mapping[str, float] | None = None) -> Callable[[str], float]:
    """``output name -> tolerance``: the precision's default unless ``overrides`` names the output.

    An override of ``math.inf`` makes the output report-only: measured and shown, failing only on
    non-finite values (a solver's loss or residual, whose relative error near zero says nothing).
    """
    if precision not in DEFAULT_TOLERANCES:
        raise InputError(f"unknown precision {precision!r} for a comparison; choose one of "
                         f"{list(DEFAULT_TOLERANCES)}")
    overrides = dict(overrides or {})
    for name, value in overrides.items():
        if not (isinstance(value, numbers.Real) and not isinstance(value, bool) and value >= 0
                and (math.isfinite(value) or value == math.inf)):
            raise InputError(f"tolerance of output {name!r} must be a number >= 0 (inf: report only), "
                             f"got {value!r}")
    default = DEFAULT_TOLERANCES[precision]
    return lambda name: float(overrides.get(name, default))


def compare(candidate: Side, reference: Side, feeds: Iterable[Mapping[str, Any]], *, precision: str = "fp32",
            tolerances: Mapping[str, float] | None = None,
            to_host: Callable[[Any], np.ndarray] = arrays.to_host) -> Comparison:
    """Run ``candidate`` and ``reference`` on every feed and measure each output against its tolerance.

    Args:
        candidate, reference: runners, or functions ``feed -> {output name: array}``.
        feeds: ``{input name: array}`` dicts (a list, or any iterable, read once); at least one.
        precision: the candidate's precision, which picks the default tolerance (:data:`DEFAULT_TOLERANCES`).
        tolerances: ``{output name: tolerance}`` overrides; every name must be an output.
        to_host: brings an output that is not a numpy array to the host (a device array: pass the
            copy of its library; the default refuses device arrays with a message).

    Returns the :class:`Comparison` (check ``.passed``; ``str()`` is a table). Raises InputError when
    the sides disagree on output names, shapes or dtypes, or when there is no feed.
    """
    tolerance_of = tolerance_table(precision, tolerances)
    sides = [_as_function(candidate, "candidate"), _as_function(reference, "reference")]
    labels = [label for label, _, _ in sides]
    stats: dict[str, _Accumulator] = {}
    count = 0
    with contextlib.ExitStack() as stack:
        for _, _, runner in sides:
            if runner is not None and not runner.is_active:
                stack.enter_context(runner)  # ours to activate, so ours to deactivate
        for index, feed in enumerate(feeds):
            got, want = (_host_outputs(run(dict(feed)), label, index, to_host) for label, run, _ in sides)
            _check_same_outputs(got, want, labels, index)
            if index == 0:
                _check_overrides(tolerances, list(want))  # a misspelt name fails before the other feeds run
            for name, value in want.items():
                stats.setdefault(name, _Accumulator()).add(got[name], value, index)
            count = index + 1
    if count == 0:
        raise InputError("no feeds to compare on: give at least one {input name: array} dict")
    outputs = tuple(acc.result(name, tolerance_of(name)) for name, acc in stats.items())
    return Comparison(labels[0], labels[1], precision, count, outputs)


# ----------------------------------------------------------------------------------------------- pieces

def _as_function(side: Side, role: str):
    """``(label, feed -> outputs, the runner or None)`` of one side."""
    if isinstance(side, Runner):
        return f"{type(side).__name__} '{side.name}'", side.infer, side
    if callable(side):
        return f"function '{getattr(side, '__name__', type(side).__name__)}'", side, None
    raise InputError(f"the {role} must be a Runner or a function feed -> {{name: array}}, "
                     f"got {type(side).__name__}")


def _check_overrides(tolerances: Mapping[str, float] | None, outputs: list[str]) -> None:
    unknown = sorted(set(tolerances or {}) - set(outputs))
    if unknown:
        raise InputError(f"tolerances given for {unknown}, which are not outputs; the outputs are {outputs}")


def _host_outputs(outputs: Any, label: str, index: int, to_host) -> dict[str, np.ndarray]:
    if not isinstance(outputs, Mapping):
        raise InputError(f"{label} returned {type(outputs).__name__} on feed {index}; "
                         "expected a mapping {output name: array}")
    return {name: value if isinstance(value, np.ndarray) else np.asarray(to_host(value))
            for name, value in outputs.items()}


def _check_same_outputs(got: dict[str, np.ndarray], want: dict[str, np.ndarray], labels: list[str],
                        index: int) -> None:
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    if missing or extra:
        raise InputError(f"feed {index}: {labels[0]} has outputs {sorted(got)}, {labels[1]} has {sorted(want)} "
                         f"(missing from the candidate: {missing}; not in the reference: {extra}); "
                         "compare models of the same phase")
    for name, value in want.items():
        if got[name].shape != value.shape:
            raise InputError(f"feed {index}: output '{name}' has shape {got[name].shape} in {labels[0]} but "
                             f"{value.shape} in {labels[1]}; the two sides must compute the same tensor")
        if got[name].dtype != value.dtype:
            raise InputError(f"feed {index}: output '{name}' has dtype {got[name].dtype} in {labels[0]} but "
                             f"{value.dtype} in {labels[1]}; cast one side explicitly if that is intended")


class _Accumulator:
    """One output's running figures over the feeds."""

    def __init__(self) -> None:
        self.worst: tuple[float, float, float, int] | None = None  # (rank, max abs, scale, feed)
        self.abs_sum = 0.0
        self.elements = 0
        self.nonfinite = 0

    def add(self, got: np.ndarray, want: np.ndarray, index: int) -> None:
        # float64 so an fp16 or int8 candidate's difference neither overflows nor wraps
        got64, want64 = got.astype(np.float64), want.astype(np.float64)
        bad = ~(np.isfinite(got64) & np.isfinite(want64))
        self.nonfinite += int(bad.sum())
        error = np.abs(got64 - want64)
        max_abs = float(error.max()) if error.size else 0.0
        scale = float(np.abs(want64).max()) if want64.size else 0.0
        relative = max_abs / max(scale, _TINY_SCALE)
        rank = relative if math.isfinite(relative) else math.inf  # NaN ranks worst, not "not greater"
        if self.worst is None or rank > self.worst[0]:
            self.worst = (rank, max_abs, scale, index)
        self.abs_sum += float(error.sum())
        self.elements += error.size

    def result(self, name: str, tolerance: float) -> OutputComparison:
        _, max_abs, scale, feed = self.worst
        mean = self.abs_sum / self.elements if self.elements else 0.0
        return OutputComparison(name, max_abs, scale, mean, tolerance, feed, self.nonfinite)
