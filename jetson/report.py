"""The self-test's report: device, JetPack, power mode, clocks, per-stage tables, verdicts against
73 FPS, and every failure, as Markdown a Jetson owner pastes into an issue.

Built only from recorded data (the ``describe_jetson`` dict, the ``edge-tracker profile --json``
documents, the steps' outcomes), so it is tested with recorded samples off a Jetson.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

TARGET_FPS = 73.0


@dataclass
class StepResult:
    """One step of the self-test: its name, command, exit code and the tail of its output."""

    name: str
    command: List[str]
    code: int
    seconds: float = 0.0
    tail: str = ""   # the last lines of its output, shown when it failed
    summary: str = ""  # one line kept in the report (pytest's counts, the build's engines)

    @property
    def ok(self) -> bool:
        return self.code == 0


def verdicts(profiles: List[Dict[str, Any]], target_fps: float = TARGET_FPS) -> List[Dict[str, Any]]:
    """One row per tracker, backend and precision: FPS end to end, tracker alone, met or not."""
    rows = []
    for document in profiles:
        for combo in document.get("combinations", []):
            rows.append({"tracker": document.get("tracker", "?"), "label": combo["label"],
                         "fps": combo["fps"], "fps_tracker": combo["fps_tracker"],
                         "met": combo["fps"] >= target_fps, "verdict": combo["verdict"]})
    return rows


def overall(steps: List[StepResult], rows: List[Dict[str, Any]]) -> str:
    """``PASS`` (every step ran and every combination meets the target), ``TARGET NOT MET`` or ``FAIL``."""
    if any(not step.ok for step in steps) or not rows:
        return "FAIL"
    return "PASS" if all(row["met"] for row in rows) else "TARGET NOT MET"


def render(jetson: Dict[str, Any], machine: Dict[str, Any], steps: List[StepResult],
           profiles: List[Dict[str, Any]], target_fps: float = TARGET_FPS,
           tegrastats: Optional[Dict[str, Any]] = None) -> str:
    """The whole report as Markdown."""
    rows = verdicts(profiles, target_fps)
    lines = [f"## edge_tracker Jetson self-test: {overall(steps, rows)}", "", "| | |", "|---|---|"]
    for name, value in _device_rows(jetson, machine):
        lines.append(f"| {name} | {value} |")
    lines += ["", f"### Verdicts against {target_fps:g} FPS (end to end: read + track)", ""]
    if rows:
        lines += ["| tracker | backend-precision | FPS | tracker alone | verdict |", "|---|---|---:|---:|---|"]
        lines += [f"| {r['tracker']} | {r['label']} | {r['fps']:.1f} | {r['fps_tracker']:.1f} | {r['verdict']} |"
                  for r in rows]
    else:
        lines.append("no profile ran (see the failures below)")
    for document in profiles:
        lines += ["", f"### {document.get('tracker', '?')} per stage (ms) on {document.get('input', '?')}, "
                      f"{document.get('frames', '?')} frames, {document.get('warmup', '?')} warm-up", ""]
        lines += _stage_table(document)
    power = tegrastats or _merged_tegrastats(profiles)
    if power:
        lines += ["", "### tegrastats during the profiles", "",
                  ", ".join(f"{key} {_number(value)}" for key, value in sorted(power.items()))]
    lines += ["", "### Steps", "", "| step | exit | s | |", "|---|---:|---:|---|"]
    lines += [f"| {s.name} | {s.code} | {s.seconds:.0f} | {s.summary} |" for s in steps]
    failed = [s for s in steps if not s.ok]
    if failed:
        lines += ["", "### Failures", ""]
        for step in failed:
            lines += [f"**{step.name}** exited {step.code}: `{' '.join(step.command)}`", "", "```",
                      step.tail.rstrip() or "(no output)", "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def _device_rows(jetson: Dict[str, Any], machine: Dict[str, Any]) -> List[tuple]:
    mode = jetson.get("power_mode") or {}
    clocks = jetson.get("clocks") or {}
    rows = [("device", jetson.get("model") or machine.get("gpu") or machine.get("cpu", "unknown")),
            ("L4T / JetPack", f"{jetson.get('l4t', 'not a Jetson')} / {jetson.get('jetpack', '-')}"),
            ("power mode", f"{mode.get('name', 'unknown')} (nvpmodel mode {mode.get('id', '?')})"),
            ("clocks", _clock_text(clocks))]
    for key in ("tensorrt", "pycuda", "onnxruntime", "python", "numpy", "opencv", "edge_tracker"):
        if key in machine:
            rows.append((key, machine[key]))
    return rows


def _clock_text(clocks: Dict[str, Any]) -> str:
    if not clocks:
        return "unknown (jetson_clocks --show needs root: run the self-test with sudo -E, or paste its output)"
    parts = []
    for unit in ("gpu", "emc"):
        if unit in clocks:
            c = clocks[unit]
            parts.append(f"{unit.upper()} {c['current'] / 1e6:.0f} MHz (max {c['max'] / 1e6:.0f})")
    if "cpu_khz" in clocks:
        parts.append(f"CPU {clocks['cpu_khz']['max_current'] / 1e3:.0f} MHz x {clocks['cpu_khz']['online']}")
    pinned = clocks.get("pinned")
    if pinned is not None:
        parts.append("jetson_clocks ON (pinned at max)" if pinned else "jetson_clocks off (DVFS)")
    return ", ".join(parts)


def _stage_table(document: Dict[str, Any]) -> List[str]:
    combos = document.get("combinations", [])
    if not combos:
        return ["(no combinations)"]
    stages = []
    for combo in combos:
        stages += [s["stage"] for s in combo["stages"] if s["stage"] not in stages]
    head = "| stage | " + " | ".join(f"{c['label']} mean | p99" for c in combos) + " |"
    rule = "|---|" + "---:|---:|" * len(combos)
    out = [head, rule]
    for stage in stages:
        cells = []
        for combo in combos:
            found = next((s for s in combo["stages"] if s["stage"] == stage), None)
            cells += [f"{found['mean_ms']:.2f}", f"{found['p99_ms']:.2f}"] if found else ["-", "-"]
        out.append(f"| {stage} | " + " | ".join(cells) + " |")
    first = []
    for combo in combos:
        first += [f"{combo['first_frame_ms']:.1f}", ""]
    out.append("| first frame | " + " | ".join(first) + " |")
    return out


def _merged_tegrastats(profiles: List[Dict[str, Any]]) -> Dict[str, Any]:
    merged: Dict[str, Any] = {}
    for document in profiles:
        for key, value in (document.get("tegrastats") or {}).items():
            if key.endswith("_max"):
                merged[key] = max(merged.get(key, value), value)
            elif key not in merged:
                merged[key] = value
    return merged


def _number(value) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)
