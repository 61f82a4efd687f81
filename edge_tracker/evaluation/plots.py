"""OTB-style success and precision plots of an evaluation (matplotlib: ``pip install 'edge-tracker[plots]'``).

Success plot: fraction of frames whose IoU exceeds each threshold, the tracker's AUC in its legend
entry; precision plot: fraction of frames whose centre error is within each distance, its
precision at 20 px in the legend (the OTB toolkit's conventions). Curves are the mean of the
per-sequence curves, as the scores are; trackers are ordered by score, best first.
"""

from __future__ import annotations

from pathlib import Path

from edge_tracker.deps import require
from edge_tracker.evaluation.metrics import PRECISION_THRESHOLDS, SUCCESS_THRESHOLDS


def plot_evaluation(evaluation, folder: Path, title: str = "") -> list[Path]:
    """Write ``success.png`` and ``precision.png`` into ``folder``; return their paths."""
    matplotlib = require("matplotlib")
    matplotlib.use("Agg")  # files only: works without a display
    plt = require("matplotlib.pyplot")
    summaries = evaluation.summaries()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, curve, x, score, label, xlabel in (
            ("success.png", "success", SUCCESS_THRESHOLDS, "auc", "AUC", "overlap threshold (IoU)"),
            ("precision.png", "precision", PRECISION_THRESHOLDS, "precision20", "P@20", "location error threshold (px)")):
        figure, axes = plt.subplots(figsize=(6.5, 5))
        ranked = sorted(summaries.values(), key=lambda s: -(getattr(s, score) if getattr(s, score) == getattr(s, score)
                                                           else -1))
        for summary in ranked:
            axes.plot(x, getattr(summary, curve), linewidth=1.8,
                      label=f"{summary.tracker} [{label} {getattr(summary, score):.3f}]")
        axes.set_xlabel(xlabel)
        axes.set_ylabel("success rate" if curve == "success" else "precision")
        axes.set_ylim(0, 1.0)
        axes.set_xlim(x[0], x[-1])
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8, loc="lower left" if curve == "success" else "lower right")
        sequences = len(evaluation.sequences)
        axes.set_title(f"{'Success' if curve == 'success' else 'Precision'} plots of OPE on {sequences} sequence(s)"
                       + (f"\n{title}" if title else ""), fontsize=10)
        figure.tight_layout()
        path = folder / name
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written
