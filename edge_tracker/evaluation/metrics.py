"""One-pass evaluation (OPE) metrics: IoU, centre error, success and precision curves.

Boxes are ``[N, 4]`` float arrays ``x, y, w, h`` in pixels, 0-based, ``(x, y)`` the top-left
corner (the convention of :mod:`edge_tracker.geometry`), one row per frame, as in
``edge_tracker.datasets.readers.Sequence.boxes``.

Conventions (those of the OTB toolkit, and of the GOT-10k toolkit's OTB experiment):

- **Excluded frames**: a ground-truth row with any non-finite value (NaN: target absent or frame not
  annotated) is left out of *every* metric; ``frames`` counts only the frames that remain.
- **Failed predictions**: a predicted row with a non-finite value, or a width or height <= 0,
  counts as IoU 0 and an infinite centre error (it fails every threshold). It is never excluded.
- **The first frame** (the one the tracker was initialised on) *is* evaluated, with the
  prediction equal to the box the tracker was given, as the OTB toolkit does (its result files
  start with the initial box). It contributes an IoU of 1 and a centre error of 0.
- **IoU** of two boxes on continuous coordinates: ``[x, x + w] x [y, y + h]``. (OTB's MATLAB
  ``calcRectInt`` works on inclusive pixel indices, ``x .. x + w - 1``; the -1 and +1 cancel, so
  the value is the same.) **Centre error**: Euclidean distance of the box centres
  ``(x + w/2, y + h/2)``, pixels.
- **Success curve**: at each IoU threshold ``t`` in :data:`SUCCESS_THRESHOLDS` (0, 0.05, ..., 1),
  the fraction of frames with IoU **>** ``t`` (strict). A perfect tracker (IoU exactly 1 everywhere)
  therefore scores 20/21 at the last threshold's cost: its curve is 1 up to 0.95 and 0 at 1.0.
  **AUC** (the "success score") = the mean of the 21 points.
- **Precision curve**: at each centre-error threshold ``t`` in :data:`PRECISION_THRESHOLDS`
  (0, 1, ..., 50 px), the fraction of frames with centre error **<=** ``t``.
  **P@20** = the point at 20 px.

Aggregating over sequences: see :func:`aggregate`. The OTB toolkit averages the per-sequence curves
(every sequence weighs the same, whatever its length); pooling all frames first weighs long
sequences more. Both are given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass

import numpy as np

from edge_tracker.errors import InputError
from edge_tracker.geometry import box_iou

SUCCESS_THRESHOLDS: np.ndarray = np.linspace(0.0, 1.0, 21)
"""IoU thresholds of the success curve (OTB: ``0:0.05:1``); a frame succeeds when IoU > t."""

PRECISION_THRESHOLDS: np.ndarray = np.arange(0.0, 51.0)
"""Centre-error thresholds of the precision curve, pixels (OTB: ``0:50``); a frame passes when error <= t."""

PRECISION_AT = 20
# LaSOT's normalised precision: centre error in units of the ground-truth box's width and height,
# curve over 0, 0.01, ..., 0.5, its AUC the score (robust to the target's size and the image's).
NORM_PRECISION_THRESHOLDS = np.linspace(0.0, 0.5, 51)
"""The threshold reported as P@20, pixels (an index into :data:`PRECISION_THRESHOLDS`)."""

for _array in (SUCCESS_THRESHOLDS, PRECISION_THRESHOLDS):
    _array.setflags(write=False)


# --------------------------------------------------------------------------------------------------
# Per frame
# --------------------------------------------------------------------------------------------------

def _as_boxes(boxes, what: str) -> np.ndarray:
    array = np.asarray(boxes, dtype=np.float64)
    if array.ndim == 1 and array.shape[0] == 4:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 4:
        raise InputError(f"{what} must be [N, 4] boxes (x, y, w, h per frame), got shape {array.shape}")
    return array


def _pair(predictions, ground_truth) -> tuple[np.ndarray, np.ndarray]:
    pred = _as_boxes(predictions, "predictions")
    gt = _as_boxes(ground_truth, "ground truth")
    if pred.shape != gt.shape:
        raise InputError(f"predictions have {len(pred)} boxes but the ground truth has {len(gt)}; "
                         "give one predicted box per annotated frame")
    annotated = np.isfinite(gt).all(axis=1)
    bad = annotated & ((gt[:, 2] <= 0) | (gt[:, 3] <= 0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"ground-truth box {gt[row].tolist()} (row {row}) has zero or negative size; mark "
                         "an absent target with a row of NaN instead")
    return pred, gt


def _failed(pred: np.ndarray) -> np.ndarray:
    """``[N]`` bool: predictions that cannot be scored (non-finite, or no area)."""
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(pred).all(axis=1) | (pred[:, 2] <= 0) | (pred[:, 3] <= 0)


def iou(predictions, ground_truth) -> np.ndarray:
    """``[N]`` intersection over union of each predicted box with its ground-truth box.

    Args:
        predictions: ``[N, 4]`` xywh boxes, pixels.
        ground_truth: ``[N, 4]`` xywh boxes, pixels; NaN rows for absent targets.

    Returns:
        ``[N]`` float64 in 0..1; NaN where the ground truth is absent, 0 where the prediction failed
        (non-finite or zero area).
    """
    pred, gt = _pair(predictions, ground_truth)
    values = box_iou(pred, gt)  # 0 for failed predictions (non-finite or no area)
    values[~np.isfinite(gt).all(axis=1)] = np.nan
    return values


def center_error(predictions, ground_truth) -> np.ndarray:
    """``[N]`` distance between predicted and ground-truth box centres, pixels.

    NaN where the ground truth is absent; ``inf`` where the prediction failed (non-finite or zero
    area).
    """
    pred, gt = _pair(predictions, ground_truth)
    failed = _failed(pred)
    with np.errstate(invalid="ignore"):
        dx = (pred[:, 0] + pred[:, 2] / 2.0) - (gt[:, 0] + gt[:, 2] / 2.0)
        dy = (pred[:, 1] + pred[:, 3] / 2.0) - (gt[:, 1] + gt[:, 3] / 2.0)
        values = np.where(failed, np.inf, np.hypot(dx, dy))
    values[~np.isfinite(gt).all(axis=1)] = np.nan
    return values


def normalized_center_error(predictions, ground_truth) -> np.ndarray:
    """``[N]`` centre error with x divided by the ground truth's width and y by its height (LaSOT).

    NaN where the ground truth is absent or has no area; ``inf`` where the prediction failed.
    """
    pred, gt = _pair(predictions, ground_truth)
    failed = _failed(pred)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = ((pred[:, 0] + pred[:, 2] / 2.0) - (gt[:, 0] + gt[:, 2] / 2.0)) / gt[:, 2]
        dy = ((pred[:, 1] + pred[:, 3] / 2.0) - (gt[:, 1] + gt[:, 3] / 2.0)) / gt[:, 3]
        values = np.where(failed, np.inf, np.hypot(dx, dy))
    values[~np.isfinite(gt).all(axis=1) | (gt[:, 2] <= 0) | (gt[:, 3] <= 0)] = np.nan
    return values


def normalized_precision_curve(errors) -> np.ndarray:
    """``[51]`` fraction of frames with normalised centre error <= each of NORM_PRECISION_THRESHOLDS."""
    values = np.asarray(errors, dtype=np.float64).ravel()
    values = values[~np.isnan(values)]
    if values.size == 0:
        return np.full(len(NORM_PRECISION_THRESHOLDS), np.nan)
    return (values[:, None] <= NORM_PRECISION_THRESHOLDS[None, :]).mean(axis=0)


# --------------------------------------------------------------------------------------------------
# Curves
# --------------------------------------------------------------------------------------------------

def success_curve(ious) -> np.ndarray:
    """``[21]`` fraction of frames with IoU > each of :data:`SUCCESS_THRESHOLDS`; NaN entries skipped.

    All NaN (no evaluated frame): a curve of NaN.
    """
    values = np.asarray(ious, dtype=np.float64).ravel()
    values = values[~np.isnan(values)]
    if values.size == 0:
        return np.full(len(SUCCESS_THRESHOLDS), np.nan)
    return (values[:, None] > SUCCESS_THRESHOLDS[None, :]).mean(axis=0)


def precision_curve(errors) -> np.ndarray:
    """``[51]`` fraction of frames with centre error <= each of :data:`PRECISION_THRESHOLDS` (px).

    NaN entries are skipped (``inf`` counts as a miss); all NaN gives a curve of NaN.
    """
    values = np.asarray(errors, dtype=np.float64).ravel()
    values = values[~np.isnan(values)]
    if values.size == 0:
        return np.full(len(PRECISION_THRESHOLDS), np.nan)
    return (values[:, None] <= PRECISION_THRESHOLDS[None, :]).mean(axis=0)


def _frozen(array) -> np.ndarray:
    out = np.array(array, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if values.size else math.nan


# --------------------------------------------------------------------------------------------------
# One sequence
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class SequenceResult:
    """One tracker on one sequence: what it predicted, how well, how fast.

    Arrays are read-only. ``eq=False``: results compare by identity (they hold arrays).
    """

    name: str                   # the sequence's name
    tracker: str                # label of the tracker that ran
    frames: int                 # frames evaluated: ground truth present, initialisation frame included
    auc: float                  # area under the success curve (mean of its 21 points), 0..1
    precision20: float          # fraction of frames with centre error <= 20 px, 0..1
    mean_iou: float             # mean IoU over the evaluated frames (failures count 0), 0..1
    fps: float                  # frames tracked / seconds inside track() calls; NaN when none tracked
    success: np.ndarray         # [21] success curve over SUCCESS_THRESHOLDS
    precision: np.ndarray       # [51] precision curve over PRECISION_THRESHOLDS (px)
    ious: np.ndarray            # [frames] IoU of each evaluated frame
    center_errors: np.ndarray   # [frames] centre error of each evaluated frame, px (inf: failure)
    predictions: np.ndarray     # [M, 4] xywh, one per frame processed: first_frame .. first_frame + M - 1
    first_frame: int = 0        # index of the initialisation frame (leading unannotated frames skipped)
    frames_tracked: int = 0     # track() calls (frames processed minus the initialisation frame)
    init_seconds: float = math.nan   # wall time of the initialize() call, s
    track_seconds: float = math.nan  # total wall time of the track() calls, s
    norm_precision: float = math.nan  # AUC of the normalised precision curve (LaSOT), 0..1
    norm_curve: np.ndarray | None = None  # [51] over NORM_PRECISION_THRESHOLDS

    @classmethod
    def from_boxes(cls, name: str, predictions, ground_truth, *, tracker: str = "", first_frame: int = 0,
                   frames_tracked: int = 0, init_seconds: float = math.nan,
                   track_seconds: float = math.nan) -> SequenceResult:
        """Score ``[M, 4]`` predictions against the ``[M, 4]`` ground truth of the same frames.

        ``predictions[0]`` is expected to be the initial box (see the module's conventions); FPS is
        ``frames_tracked / track_seconds``.
        """
        ious_all = iou(predictions, ground_truth)
        errors_all = center_error(predictions, ground_truth)
        keep = ~np.isnan(ious_all)
        ious, errors = ious_all[keep], errors_all[keep]
        success, precision = success_curve(ious), precision_curve(errors)
        norm_curve = normalized_precision_curve(normalized_center_error(predictions, ground_truth)[keep])
        fps = frames_tracked / track_seconds if frames_tracked > 0 and track_seconds > 0 else math.nan
        return cls(name=name, tracker=tracker, frames=int(keep.sum()), auc=_mean(success),
                   precision20=float(precision[PRECISION_AT]), mean_iou=_mean(ious), fps=float(fps),
                   success=_frozen(success), precision=_frozen(precision), ious=_frozen(ious),
                   center_errors=_frozen(errors), predictions=_frozen(_as_boxes(predictions, "predictions")),
                   first_frame=int(first_frame), frames_tracked=int(frames_tracked),
                   init_seconds=float(init_seconds), track_seconds=float(track_seconds),
                   norm_precision=_mean(norm_curve), norm_curve=_frozen(norm_curve))


# --------------------------------------------------------------------------------------------------
# Several sequences
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Summary:
    """One tracker over several sequences, aggregated two ways.

    The OTB toolkit (``perfPlot.m``/``plotDrawSave.m``: "each row is the sr plot of one sequence",
    then the mean over rows) and the GOT-10k toolkit's OTB experiment average the *per-sequence
    curves*, so each sequence weighs the same: that is ``success``/``auc``/``precision20`` here, the
    numbers to compare with published OTB results. (The MATLAB toolkit also drops sequences whose
    curve is all zero, meant for missing result files; a tracker that fails a whole sequence is not
    forgiven here.) ``pooled_*`` concatenate all evaluated frames of all sequences first, so long
    sequences weigh more.
    """

    tracker: str                 # tracker label
    sequences: int               # number of sequences
    frames: int                  # evaluated frames, all sequences together
    auc: float                   # mean over sequences of the per-sequence AUC (OTB's success score)
    precision20: float           # mean over sequences of the per-sequence P@20 (OTB's precision score)
    mean_iou: float              # mean over sequences of the per-sequence mean IoU (GOT-10k's "AO")
    pooled_auc: float            # AUC of the success curve over all frames concatenated
    pooled_precision20: float    # P@20 over all frames concatenated
    pooled_mean_iou: float       # mean IoU over all frames concatenated
    fps: float                   # all frames tracked / all seconds in track() calls
    success: np.ndarray          # [21] mean of the per-sequence success curves
    precision: np.ndarray        # [51] mean of the per-sequence precision curves
    pooled_success: np.ndarray   # [21] success curve of all frames concatenated
    pooled_precision: np.ndarray  # [51] precision curve of all frames concatenated
    norm_precision: float = math.nan  # mean over sequences of the per-sequence normalised precision AUC


def aggregate(results: SequenceOf[SequenceResult], tracker: str | None = None) -> Summary:
    """Aggregate one tracker's per-sequence results (see :class:`Summary` for the two ways).

    Sequences with no evaluated frame are left out of the per-sequence means (their curves are
    undefined) and contribute nothing to the pooled figures.

    Raises:
        InputError: ``results`` is empty, or mixes trackers.
    """
    results = list(results)
    if not results:
        raise InputError("aggregate() needs at least one SequenceResult")
    labels = sorted({r.tracker for r in results})
    if len(labels) > 1:
        raise InputError(f"aggregate() got results of several trackers {labels}; aggregate one tracker at a time")
    scored = [r for r in results if r.frames > 0]
    ious = np.concatenate([r.ious for r in results])
    errors = np.concatenate([r.center_errors for r in results])
    pooled_success, pooled_precision = success_curve(ious), precision_curve(errors)
    if scored:
        success = np.mean([r.success for r in scored], axis=0)
        precision = np.mean([r.precision for r in scored], axis=0)
    else:
        success = np.full(len(SUCCESS_THRESHOLDS), np.nan)
        precision = np.full(len(PRECISION_THRESHOLDS), np.nan)
    tracked = sum(r.frames_tracked for r in results)
    seconds = sum(r.track_seconds for r in results if r.frames_tracked > 0)
    return Summary(
        tracker=tracker if tracker is not None else labels[0], sequences=len(results), frames=int(ious.size),
        auc=_mean(np.array([r.auc for r in scored])), precision20=float(precision[PRECISION_AT]),
        mean_iou=_mean(np.array([r.mean_iou for r in scored])),
        pooled_auc=_mean(pooled_success), pooled_precision20=float(pooled_precision[PRECISION_AT]),
        pooled_mean_iou=_mean(ious), fps=tracked / seconds if tracked > 0 and seconds > 0 else math.nan,
        success=_frozen(success), precision=_frozen(precision), pooled_success=_frozen(pooled_success),
        pooled_precision=_frozen(pooled_precision),
        norm_precision=_mean(np.array([r.norm_precision for r in scored if math.isfinite(r.norm_precision)])))
