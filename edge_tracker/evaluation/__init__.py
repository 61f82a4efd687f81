"""Accuracy evaluation: our trackers and OpenCV's side by side on annotated sequences (OTB-style OPE).

- :mod:`~edge_tracker.evaluation.metrics`: IoU, centre error, success/precision curves, AUC, P@20,
  per-sequence results and their aggregation (conventions documented there).
- :mod:`~edge_tracker.evaluation.peers`: OpenCV's KCF, CSRT, MIL and NanoTrack behind one interface.
- :mod:`~edge_tracker.evaluation.run`: run trackers over sequences, time them, report Markdown/JSON.

CLI: ``python -m edge_tracker.evaluation SEQ [SEQ ...] --peers mil,kcf --ours NAME=EXPORT_DIR``.
"""

from edge_tracker.evaluation.metrics import (
    PRECISION_THRESHOLDS,
    SUCCESS_THRESHOLDS,
    SequenceResult,
    Summary,
    aggregate,
    center_error,
    iou,
    precision_curve,
    success_curve,
)
from edge_tracker.evaluation.run import (
    Evaluation,
    evaluate,
    evaluate_many,
    to_json,
    to_markdown,
)

__all__ = [
    "PRECISION_THRESHOLDS",
    "SUCCESS_THRESHOLDS",
    "Evaluation",
    "SequenceResult",
    "Summary",
    "aggregate",
    "center_error",
    "evaluate",
    "evaluate_many",
    "iou",
    "precision_curve",
    "success_curve",
    "to_json",
    "to_markdown",
]
