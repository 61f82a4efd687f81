"""``python -m jetson.selftest``: does this Jetson meet 73 FPS? One command, one pasteable report.

Steps, each a command run in its own process (so one failing does not stop the report):

1. two procedural sequences (``python -m edge_tracker.datasets.synthetic``): one to calibrate on,
   one to profile on;
2. per tracker (the demo checkpoints of SCS-Siam and AFF-ATOM): ``python -m export build`` at FP32,
   FP16 and INT8, calibrated on the first sequence, with TensorRT engines built on this GPU (from an
   ONNX export made elsewhere with ``--onnx-root`` where torch is not installed, as on JetPack 5);
3. ``pytest -m gpu`` (the TensorRT and pycuda tests);
4. per tracker: ``edge-tracker profile`` of the second sequence with ``--backend trt`` at FP16 and INT8;
5. the report (``report.py``) with the device, JetPack, power mode and clocks read at the start.

Exit status: 0 PASS (every step ran and every tracker and precision meets the target), 1 TARGET NOT
MET (everything ran), 2 FAIL (a step failed). ``--dry-run`` prints the steps and runs nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

from edge_tracker.profiling.jetson import describe_jetson
from jetson.report import TARGET_FPS, StepResult, overall, render, verdicts

TRACKERS = ("scs-siam", "aff-atom")
PRECISIONS = ("fp16", "int8")
EXIT = {"PASS": 0, "TARGET NOT MET": 1, "FAIL": 2}


@dataclass(frozen=True)
class Step:
    name: str
    command: List[str]
    profile_json: Optional[Path] = None   # a profile step's JSON document, read into the report


def plan(out: Path, python: str = sys.executable, onnx_root: Optional[Path] = None, backend: str = "trt",
         frames: int = 300, width: int = 640, height: int = 480, calib_size: int = 300,
         trackers=TRACKERS, precisions=PRECISIONS) -> List[Step]:
    """The self-test's commands, in order. ``backend`` is ``trt`` on the Jetson; a test may plan
    with another to check the orchestration, never to stand for TensorRT."""
    clips = out / "clips"
    calibrate_on, profile_on = clips / "synthetic_0000", clips / "synthetic_0001"
    steps = [Step("clips", [python, "-m", "edge_tracker.datasets.synthetic", str(clips), "--count", "2",
                            "--frames", str(frames), "--width", str(width), "--height", str(height)])]
    for tracker in trackers:
        command = [python, "-m", "export", "build", "--tracker", tracker, "--precision",
                   ",".join(("fp32",) + tuple(precisions)), str(calibrate_on), "--calib-size", str(calib_size),
                   "--out", str(out / tracker), "--force"]  # engines into the cache profile --backend trt reads
        if onnx_root is not None:
            command[4:4] = ["--onnx", str(onnx_root / tracker)]
        if backend != "trt":
            command.append("--graphs-only")
        steps.append(Step(f"build {tracker}", command))
    steps.append(Step("gpu tests", [python, "-m", "pytest", "-m", "gpu", "-q", "-rs", "-p", "no:cacheprovider",
                                    "tests"]))
    for tracker in trackers:
        document = out / f"profile-{tracker}.json"
        steps.append(Step(f"profile {tracker}", [
            python, "-m", "edge_tracker", "profile", str(profile_on), "--tracker", tracker,
            "--model", str(out / tracker), "--backend", backend, "--precision", ",".join(precisions),
            "--frames", str(frames), "--warmup", "10", "--target-fps", f"{TARGET_FPS:g}",
            "--json", str(document)], profile_json=document))
    return steps


def run_step(step: Step, env: Optional[dict] = None) -> StepResult:
    """Run one step, its output streamed to this terminal and its tail kept for the report."""
    start = time.monotonic()
    print(f"\n== {step.name}: {' '.join(step.command)}", flush=True)
    process = subprocess.Popen(step.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, env=env)
    lines: List[str] = []
    for line in process.stdout:
        sys.stdout.write(line)
        lines.append(line)
    code = process.wait()
    return StepResult(step.name, step.command, code, time.monotonic() - start, "".join(lines[-25:]),
                      _summary(step, lines))


def _summary(step: Step, lines: List[str]) -> str:
    if step.name == "gpu tests":  # pytest's last line: "12 passed, 3 skipped in 40.1s"
        counts = re.compile(r"\d+ (passed|failed|skipped|errors?|deselected)\b.* in [\d.]+s")
        return next((line.strip(" =\n") for line in reversed(lines) if counts.search(line)), "")
    engines = [line.strip() for line in lines if line.strip().startswith("engines ")]
    return "; ".join(engines)


def selftest(out: Path, steps: List[Step], runner: Callable[[Step], StepResult] = run_step,
             jetson: Optional[dict] = None, machine: Optional[dict] = None) -> tuple:
    """Run ``steps``; return (report text, verdict). The device is read before the steps load it."""
    jetson = describe_jetson() if jetson is None else jetson
    results, profiles = [], []
    for step in steps:
        result = runner(step)
        results.append(result)
        if step.profile_json is not None and result.ok:
            try:
                profiles.append(json.loads(step.profile_json.read_text()))
            except (OSError, ValueError) as err:
                result.code, result.tail = 1, f"{result.tail}\nits JSON {step.profile_json} is unreadable: {err}"
    if machine is None:
        machine = profiles[0].get("machine", {}) if profiles else {}
    text = render(jetson, machine, results, profiles)
    return text, overall(results, verdicts(profiles))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="jetson/selftest", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n")[-1])
    parser.add_argument("--out", type=Path, default=Path("out/selftest"), help="work folder (default out/selftest)")
    parser.add_argument("--onnx-root", type=Path, default=None, metavar="DIR",
                        help="ONNX exports made elsewhere (DIR/scs-siam, DIR/aff-atom from python -m export onnx), "
                             "for a Jetson without torch (JetPack 5)")
    parser.add_argument("--frames", type=int, default=300, help="frames per generated sequence (default 300)")
    parser.add_argument("--dry-run", action="store_true", help="print the steps and run nothing")
    args = parser.parse_args(argv)
    steps = plan(args.out, onnx_root=args.onnx_root, frames=args.frames)
    if args.dry_run:
        for number, step in enumerate(steps, 1):
            print(f"{number}. {step.name}: {' '.join(step.command)}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    text, verdict = selftest(args.out, steps)
    report_path = args.out / "report.md"
    report_path.write_text(text)
    print("\n" + text + f"\n(written to {report_path}: paste it into an issue)")
    return EXIT[verdict]


if __name__ == "__main__":
    sys.exit(main())
