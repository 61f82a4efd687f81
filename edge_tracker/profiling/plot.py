"""The profile as a picture (matplotlib, an optional extra: ``pip install 'edge-tracker[plots]'``).

Left: per combination, the mean per-frame time stacked by stage, with the target frame time as a
line. Right: the end-to-end time of every measured frame, per combination: the classifier
update's spikes and any drift show there, as a mean cannot show them.
"""

from __future__ import annotations

from pathlib import Path

from edge_tracker.deps import require


def plot_profile(results, target_fps: float, path: Path, title: str = "") -> Path:
    matplotlib = require("matplotlib")
    matplotlib.use("Agg")  # files only: works without a display
    plt = require("matplotlib.pyplot")
    figure, (bars, trace) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [1, 2]})
    stages = []
    for result in results:
        for stage in ["read", *result.inner_stages()]:
            if stage not in stages:
                stages.append(stage)
    labels = [r.label for r in results]
    bottom = [0.0] * len(results)
    colours = plt.get_cmap("tab20").colors
    for index, stage in enumerate(stages):
        heights = [r.stages.summary(stage).mean if stage in r.stages.stages else 0.0 for r in results]
        bars.bar(labels, heights, bottom=bottom, label=stage, color=colours[index % len(colours)])
        bottom = [b + h for b, h in zip(bottom, heights)]
    budget = 1e3 / target_fps
    bars.axhline(budget, color="red", linestyle="--", label=f"{target_fps:g} FPS ({budget:.1f} ms)")
    bars.set_ylabel("mean time per frame, ms")
    bars.set_title("per stage")
    bars.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3)
    bars.tick_params(axis="x", rotation=30)
    for result in results:
        trace.plot(result.stages.samples("frame"), label=f"{result.label} ({result.fps():.1f} FPS)", linewidth=1)
    trace.axhline(budget, color="red", linestyle="--")
    trace.set_xlabel("measured frame")
    trace.set_ylabel("end-to-end time, ms")
    trace.set_yscale("log")
    trace.set_title("every frame")
    trace.legend(fontsize=8)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
