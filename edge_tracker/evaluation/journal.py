"""The evaluation's journal: one JSON line per finished (tracker, sequence), written as it finishes.

An evaluation of many sequences takes hours; a kill, a full disk at the end or one bad sequence must
not lose the others. Each result is appended to the journal (``eval.json`` -> ``eval.journal.jsonl``)
and forced to the disk before the next sequence starts: the predictions and timings, from which the
metrics are recomputed against the ground truth on ``--resume``, or the reason a sequence failed.

Lines (``kind`` first):

- ``{"kind": "result", "tracker", "sequence", "settings", "max_frames", "first_frame", "frames_tracked",
  "init_seconds", "track_seconds", "predictions": [[x, y, w, h], ...]}``
- ``{"kind": "failure", "tracker", "sequence", "reason"}``

On resume only results of the same tracker label, sequence name, tracker settings (model, backend,
precision, every parameter) and ``--max-frames`` count as done; failures are tried again. A line cut
by a kill is skipped with a warning.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_tracker.errors import InputError
from edge_tracker.evaluation.metrics import SequenceResult

logger = logging.getLogger("edge_tracker.evaluation")


@dataclass(frozen=True)
class SequenceFailure:
    """One tracker on one sequence that could not be evaluated, and why."""

    tracker: str
    name: str      # the sequence's name
    reason: str    # "InputError: cannot read frame 12 of sequence 'x': ..."


def journal_path(report: Path) -> Path:
    """Where the journal of a run writing ``report`` (``--json`` or ``--markdown``) lives."""
    return report.with_name(report.stem + ".journal.jsonl")


class Journal:
    """Append results and failures as JSON lines, each forced to the disk (``os.fsync``)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = None

    def open(self, resume: bool) -> Journal:
        try:
            self._file = open(self.path, "ab" if resume else "wb", buffering=0)  # noqa: SIM115 - closed by close()
        except OSError as err:
            raise InputError(f"cannot write the evaluation journal {self.path}: {err.strerror or err}; "
                             "choose another --json/--markdown folder") from err
        return self

    def result(self, result: SequenceResult, settings: dict[str, Any], max_frames: int | None) -> None:
        self._append({"kind": "result", "tracker": result.tracker, "sequence": result.name, "settings": settings,
                      "max_frames": max_frames, "first_frame": result.first_frame,
                      "frames_tracked": result.frames_tracked, "init_seconds": _finite(result.init_seconds),
                      "track_seconds": _finite(result.track_seconds),
                      "predictions": [[_finite(v) for v in row] for row in result.predictions.tolist()]})

    def failure(self, failure: SequenceFailure) -> None:
        self._append({"kind": "failure", "tracker": failure.tracker, "sequence": failure.name,
                      "reason": failure.reason})

    def _append(self, record: dict) -> None:
        line = (json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n").encode()
        try:
            self._file.write(line)
            os.fsync(self._file.fileno())
        except OSError as err:  # the results so far are in the file; the run goes on without it
            logger.error("cannot append to the evaluation journal %s (%s); results from here on are kept in "
                         "memory only", self.path, err.strerror or err)
            self.close()

    @property
    def writable(self) -> bool:
        return self._file is not None

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError as err:
                logger.warning("closing the evaluation journal %s failed: %s", self.path, err.strerror or err)
            self._file = None


def load_journal(path: Path, sequences: dict[str, Any], settings: dict[str, dict[str, Any]],
                 max_frames: int | None) -> dict[tuple[str, str], SequenceResult]:
    """The results of ``path`` that still hold for this run, rescored: ``{(tracker, sequence): result}``.

    ``sequences`` maps names to loaded sequences (their ground truth rescores the predictions);
    ``settings`` maps each tracker label to its settings (a peer's: ``{}``).
    """
    done: dict[tuple[str, str], SequenceResult] = {}
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        logger.warning("--resume: no journal %s; evaluating everything", path)
        return done
    except OSError as err:
        raise InputError(f"--resume: cannot read the journal {path}: {err.strerror or err}") from err
    stale = 0
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
            if record.get("kind") != "result":
                continue
            key = (record["tracker"], record["sequence"])
            if (key[0] not in settings or key[1] not in sequences or record["settings"] != settings[key[0]]
                    or record["max_frames"] != max_frames):
                stale += 1
                continue
            done[key] = _rescore(record, sequences[key[1]])
        except (ValueError, KeyError, TypeError, InputError) as err:
            logger.warning("--resume: %s line %d is not a whole result (%s: %s); that sequence runs again",
                           path, number, type(err).__name__, err)
    if stale:
        logger.info("--resume: %d result(s) in %s are of other trackers, sequences or settings; not reused",
                    stale, path)
    return done


def _rescore(record: dict, sequence) -> SequenceResult:
    predictions = np.array([[math.nan if v is None else v for v in row] for row in record["predictions"]],
                           dtype=np.float64).reshape(-1, 4)
    start = int(record["first_frame"])
    return SequenceResult.from_boxes(sequence.name, predictions, sequence.boxes[start:start + len(predictions)],
                                     tracker=record["tracker"], first_frame=start,
                                     frames_tracked=int(record["frames_tracked"]),
                                     init_seconds=_nan(record["init_seconds"]),
                                     track_seconds=_nan(record["track_seconds"]))


def _finite(value):
    return float(value) if value is not None and math.isfinite(value) else None


def _nan(value) -> float:
    return math.nan if value is None else float(value)
