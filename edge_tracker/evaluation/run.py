"""Run trackers over annotated sequences (one-pass evaluation) and report the results.

A *tracker* here is anything with ``initialize(frame, box)`` and ``track(frame) -> [4] xywh``
(frames BGR uint8 ``[H, W, 3]``, as ``Sequence.frame`` reads them with ``cv2.imread`` and as the
``edge-tracker`` CLI feeds our trackers from OpenCV sources). A *tracker factory* is a callable
with no arguments that returns a fresh tracker: every sequence gets its own instance, so nothing
learnt on one sequence leaks into the next.

- OpenCV's trackers: :func:`edge_tracker.evaluation.peers.factory`.
- Ours: an ``edge_tracker.session.Session`` loads a model's phase runners once and builds a new
  tracker on them per call (the trackers keep their state in themselves, not in the runners); its
  trackers return a ``TrackResult``, whose box is scored.

Timing: only the tracker's calls are timed (``time.perf_counter``), never the frame reads. FPS =
frames tracked / seconds spent in ``track()``; the ``initialize()`` call is reported apart.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np

from edge_tracker import __version__
from edge_tracker.datasets.readers import Sequence
from edge_tracker.errors import InputError
from edge_tracker.profiling.machine import cpu_name
from edge_tracker.evaluation.journal import Journal, SequenceFailure
from edge_tracker.signals import interruption
from edge_tracker.evaluation.metrics import (
    PRECISION_THRESHOLDS,
    SUCCESS_THRESHOLDS,
    SequenceResult,
    Summary,
    aggregate,
)

logger = logging.getLogger("edge_tracker.evaluation")


class Tracker(Protocol):
    """What :func:`evaluate` drives: ``track`` returns an xywh box, or a result with a ``box``."""

    def initialize(self, frame: np.ndarray, box) -> None: ...

    def track(self, frame: np.ndarray) -> Any: ...


TrackerFactory = Callable[[], Tracker]


# --------------------------------------------------------------------------------------------------
# One tracker, one sequence
# --------------------------------------------------------------------------------------------------

def first_annotated(sequence: Sequence) -> int:
    """Index of the first frame with a box: where tracking starts (leading unannotated frames skipped)."""
    present = np.flatnonzero(sequence.present)
    if present.size == 0:
        raise InputError(f"sequence {sequence.name!r} has no annotated frame (every ground-truth row is NaN); "
                         "a tracker cannot be initialised on it")
    return int(present[0])


def frames_to_process(sequence: Sequence, max_frames: int | None = None) -> int:
    """Frames :func:`evaluate` reads: from the first annotated one to the end, at most ``max_frames``."""
    whole = isinstance(max_frames, (int, np.integer)) and not isinstance(max_frames, bool)
    if max_frames is not None and (not whole or max_frames < 1):
        raise InputError(f"max_frames must be a whole number >= 1 (the initialisation frame counts), "
                         f"got {max_frames!r}")
    count = len(sequence) - first_annotated(sequence)
    return count if max_frames is None else min(count, int(max_frames))


def evaluate(tracker_factory: TrackerFactory, sequence: Sequence, max_frames: int | None = None, *,
             tracker: str = "", on_frame: Callable[[], None] | None = None) -> SequenceResult:
    """Run one fresh tracker over ``sequence`` and score it (one-pass evaluation).

    The tracker starts on the first annotated frame with that frame's box and tracks every later
    frame (including frames whose target is marked absent: they are tracked, but not scored).
    The initialisation frame is scored with the given box as its prediction (OTB's convention).

    Args:
        tracker_factory: returns a new tracker (see the module doc).
        sequence: an annotated sequence (``edge_tracker.datasets.readers.load_sequence``).
        max_frames: process at most this many frames, the initialisation frame included.
        tracker: label of the tracker in the result.
        on_frame: called after each processed frame (progress bars).

    Returns:
        The :class:`SequenceResult`: predictions for frames ``first_frame ..``, metrics, timing.
    """
    start = first_annotated(sequence)
    count = frames_to_process(sequence, max_frames)
    instance = tracker_factory()
    init_box = sequence.boxes[start].copy()
    predictions = np.empty((count, 4), dtype=np.float64)
    predictions[0] = init_box

    frame = sequence.frame(start)
    began = time.perf_counter()
    instance.initialize(frame, init_box)
    init_seconds = time.perf_counter() - began
    if on_frame is not None:
        on_frame()

    track_seconds = 0.0
    for offset in range(1, count):
        frame = sequence.frame(start + offset)
        began = time.perf_counter()
        result = instance.track(frame)
        track_seconds += time.perf_counter() - began
        predictions[offset] = np.asarray(getattr(result, "box", result), dtype=np.float64).reshape(4)
        if on_frame is not None:
            on_frame()

    return SequenceResult.from_boxes(sequence.name, predictions, sequence.boxes[start:start + count],
                                     tracker=tracker, first_frame=start, frames_tracked=count - 1,
                                     init_seconds=init_seconds, track_seconds=track_seconds)


# --------------------------------------------------------------------------------------------------
# Several trackers, several sequences
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Evaluation:
    """Every tracker on every sequence, with the machine it ran on."""

    trackers: tuple[str, ...]            # tracker labels, in the order given
    sequences: tuple[str, ...]           # sequence names, in the order given
    results: tuple[SequenceResult, ...]  # one per (tracker, sequence) that finished, tracker-major
    environment: dict[str, Any] = field(default_factory=dict)  # see environment()
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> our trackers' model, params
    failures: tuple[SequenceFailure, ...] = ()  # (tracker, sequence) pairs that failed, with the reason
    interrupted: str | None = None  # "Ctrl-C", "SIGTERM", ... when the run was stopped before the end

    @property
    def complete(self) -> bool:
        """Every tracker finished every sequence."""
        return len(self.results) == len(self.trackers) * len(self.sequences)

    def result(self, tracker: str, sequence: str) -> SequenceResult:
        """The result of ``tracker`` on ``sequence`` (KeyError when it failed or did not run)."""
        for item in self.results:
            if item.tracker == tracker and item.name == sequence:
                return item
        raise KeyError(f"no result for tracker {tracker!r} on sequence {sequence!r}")

    def summaries(self) -> dict[str, Summary]:
        """``{tracker label: Summary}`` over the sequences each finished (see ``metrics.aggregate``)."""
        return {name: aggregate([r for r in self.results if r.tracker == name]) for name in self.trackers
                if any(r.tracker == name for r in self.results)}


def evaluate_many(trackers: Mapping[str, TrackerFactory], sequences: SequenceOf[Sequence],
                  max_frames: int | None = None, *, progress: bool = False, journal: Journal | None = None,
                  done: Mapping[tuple[str, str], SequenceResult] | None = None) -> Evaluation:
    """Every tracker over every sequence; ``trackers`` maps a label to a tracker factory.

    A (tracker, sequence) that raises (an unreadable frame, a tracker error) is recorded as a
    :class:`SequenceFailure` and the others go on; Ctrl-C or SIGTERM ends the run with what finished
    (``Evaluation.interrupted``). Each result or failure goes to ``journal`` as it happens.

    Args:
        trackers: ``{label: factory}``, e.g. ``{"opencv-mil": peers.factory("mil")}``.
        sequences: the sequences, each name used once.
        max_frames: per sequence, at most this many frames (initialisation frame included).
        progress: show a tqdm bar over all frames on stderr.
        journal: where each result is appended as it finishes (``journal.py``), or None.
        done: results from an earlier run (``--resume``), ``{(label, sequence name): result}``: not run again.
    """
    if not trackers:
        raise InputError("no tracker to evaluate; give at least one")
    if not sequences:
        raise InputError("no sequence to evaluate on; give at least one")
    names = [s.name for s in sequences]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"sequence name(s) {repeated} given more than once; each sequence must appear once "
                         "(results are reported by name)")
    total = len(trackers) * sum(frames_to_process(s, max_frames) for s in sequences)
    from tqdm import tqdm

    settings = tracker_settings(trackers)
    done = dict(done or {})
    results, failures, interrupted = [], [], None
    with tqdm(total=total, unit="frame", disable=not progress, dynamic_ncols=True) as bar:
        try:
            for label, factory in trackers.items():
                for sequence in sequences:
                    bar.set_description(f"{label} on {sequence.name}")
                    if (label, sequence.name) in done:
                        results.append(done[(label, sequence.name)])
                        bar.update(frames_to_process(sequence, max_frames))
                        continue
                    outcome = _evaluate_one(factory, sequence, max_frames, label, bar)
                    if isinstance(outcome, SequenceFailure):
                        failures.append(outcome)
                        if journal is not None:
                            journal.failure(outcome)
                        continue
                    results.append(outcome)
                    if journal is not None:
                        journal.result(outcome, settings[label], max_frames)
        except KeyboardInterrupt as err:  # Ctrl-C, SIGTERM, SIGHUP: keep what finished
            interrupted = interruption(err)[0]
            logger.error("evaluation interrupted (%s) after %d of %d results", interrupted, len(results),
                         len(trackers) * len(sequences))
    return Evaluation(tuple(trackers), tuple(names), tuple(results), environment(),
                      {label: s for label, s in settings.items() if s}, tuple(failures), interrupted)


def tracker_settings(trackers: Mapping[str, TrackerFactory]) -> dict[str, dict[str, Any]]:
    """``{label: settings}``: our trackers' model, backend, precision and parameters; ``{}`` for a peer."""
    return {label: (factory.settings() if hasattr(factory, "settings") else {}) for label, factory in trackers.items()}


def _evaluate_one(factory, sequence: Sequence, max_frames, label: str, bar) -> SequenceResult | SequenceFailure:
    before = bar.n
    try:
        result = evaluate(factory, sequence, max_frames, tracker=label, on_frame=lambda: bar.update(1))
    except Exception as err:  # noqa: BLE001 - one sequence's failure is recorded and reported; the others go on
        reason = f"{type(err).__name__}: {err}"
        logger.error("%s on %s failed: %s", label, sequence.name, reason)
        logger.debug("%s on %s", label, sequence.name, exc_info=True)
        bar.update(frames_to_process(sequence, max_frames) - (bar.n - before))
        return SequenceFailure(label, sequence.name, reason)
    logger.debug("%s on %s: AUC %.3f, P@20 %.3f, %.1f FPS", label, sequence.name, result.auc, result.precision20,
                 result.fps)
    return result


def environment() -> dict[str, Any]:
    """The machine and libraries the numbers came from (FPS means nothing without them)."""
    info: dict[str, Any] = {
        "machine": platform.machine(),
        "processor": cpu_name(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),  # left as OpenCV sets it; the peers run with this many
        "edge_tracker": __version__,
    }
    onnxruntime = sys.modules.get("onnxruntime")  # reported only when our trackers loaded it
    if onnxruntime is not None:
        info["onnxruntime"] = getattr(onnxruntime, "__version__", "unknown")
    return info


# --------------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------------

def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def to_markdown(evaluation: Evaluation) -> str:
    """Two Markdown tables: per tracker (AUC, P@20, mean IoU, FPS), then AUC per sequence."""
    summaries = evaluation.summaries()
    lines = ["| tracker | AUC | P@20 | mean IoU | FPS | AUC (frames pooled) | norm. precision |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name in evaluation.trackers:
        if name not in summaries:
            lines.append(f"| {name} | failed | | | | | |")
            continue
        s = summaries[name]
        lines.append(f"| {name} | {_fmt(s.auc)} | {_fmt(s.precision20)} | {_fmt(s.mean_iou)} | {_fmt(s.fps, 1)} "
                     f"| {_fmt(s.pooled_auc)} | {_fmt(s.norm_precision)} |")
    finished = "" if evaluation.complete else " each tracker finished"
    lines += ["", f"AUC, P@20 and mean IoU: mean over the {len(evaluation.sequences)} sequence(s){finished} of each sequence's "
              "value (OTB toolkit); AUC (frames pooled): all frames concatenated; norm. precision: LaSOT's normalised precision (AUC over 0-0.5 box sizes). FPS: frames tracked / "
              "seconds in track(), initialisation excluded.", "",
              "| sequence | frames | " + " | ".join(evaluation.trackers) + " |",
              "|---|---:|" + "---:|" * len(evaluation.trackers)]
    failed = {(f.tracker, f.name) for f in evaluation.failures}
    for sequence in evaluation.sequences:
        row = [_cell(evaluation, name, sequence, failed) for name in evaluation.trackers]
        frames = next((r.frames for r in row if isinstance(r, SequenceResult)), None)
        lines.append(f"| {sequence} | {'-' if frames is None else frames} | "
                     + " | ".join(_fmt(r.auc) if isinstance(r, SequenceResult) else r for r in row) + " |")
    if evaluation.failures:
        lines += ["", f"{len(evaluation.failures)} failed (not in the means above):"]
        lines += [f"- {f.tracker} on {f.name}: {f.reason}" for f in evaluation.failures]
    if not evaluation.complete:
        missing = len(evaluation.trackers) * len(evaluation.sequences) - len(evaluation.results)
        why = f"interrupted ({evaluation.interrupted})" if evaluation.interrupted else "failures above"
        lines += ["", f"INCOMPLETE: {missing} of {len(evaluation.trackers) * len(evaluation.sequences)} "
                      f"(tracker, sequence) results missing ({why})."]
    return "\n".join(lines) + "\n"


def _cell(evaluation: Evaluation, tracker: str, sequence: str, failed: set):
    try:
        return evaluation.result(tracker, sequence)
    except KeyError:
        return "failed" if (tracker, sequence) in failed else "not run"


def _plain(value):
    """JSON-safe: arrays to lists, NaN and infinities to None."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def to_json(evaluation: Evaluation, indent: int | None = None) -> str:
    """The whole evaluation as JSON: environment, thresholds, summaries, per-sequence results.

    NaN and infinite values (no frame tracked, failed predictions) are written as ``null``.
    Predictions are ``[x, y, w, h]`` per processed frame from ``first_frame`` on.
    """
    summaries = evaluation.summaries()
    document = {
        "environment": evaluation.environment,
        "settings": evaluation.settings,
        "thresholds": {"success_iou": SUCCESS_THRESHOLDS, "precision_px": PRECISION_THRESHOLDS},
        "complete": evaluation.complete,
        "interrupted": evaluation.interrupted,
        "summaries": [{k: getattr(summaries[name], k) for k in summaries[name].__dataclass_fields__}
                      for name in evaluation.trackers if name in summaries],
        "results": [{k: getattr(r, k) for k in r.__dataclass_fields__ if k not in ("ious", "center_errors")}
                    for r in evaluation.results],
        "failures": [{"tracker": f.tracker, "sequence": f.name, "reason": f.reason} for f in evaluation.failures],
    }
    return json.dumps(_plain(document), indent=indent, allow_nan=False)
