"""jetson/selftest's plan and report, off a Jetson: the steps are checked as commands, and the report
is built from recorded profile JSON and recorded L4T text. Nothing here runs TensorRT: the runner
below replays recorded outcomes, and says so."""

from __future__ import annotations

import json
from pathlib import Path

from edge_tracker.profiling.jetson import DEVICE_TREE_MODEL, NV_TEGRA_RELEASE, describe_jetson
from jetson.report import StepResult
from jetson.selftest import main, plan, selftest

SAMPLES = Path(__file__).parent / "samples"


def recorded_jetson() -> dict:
    files = {NV_TEGRA_RELEASE: (SAMPLES / "nv_tegra_release.r36.4.0").read_text(),
             DEVICE_TREE_MODEL: (SAMPLES / "device_tree_model.orin_nano").read_text()}
    outputs = {"nvpmodel": (SAMPLES / "nvpmodel_q.orin_nano_15w.txt").read_text(),
               "jetson_clocks": (SAMPLES / "jetson_clocks_show.orin_default.txt").read_text()}
    return describe_jetson(read_text=files.get, run=lambda command: outputs.get(command[0]))


def test_plan_builds_fp16_and_int8_engines_then_tests_then_profiles_both_trackers(tmp_path):
    steps = plan(tmp_path, python="py")
    assert [s.name for s in steps] == ["clips", "build scs-siam", "build aff-atom", "gpu tests",
                                       "profile scs-siam", "profile aff-atom"]
    build = steps[1].command
    assert build[:4] == ["py", "-m", "export", "build"] and "--graphs-only" not in build
    assert build[build.index("--precision") + 1] == "fp32,fp16,int8"
    # calibrated on one generated sequence, profiled on another
    assert str(tmp_path / "clips" / "synthetic_0000") in build
    profile = steps[4].command
    assert profile[profile.index("--backend") + 1] == "trt"
    assert profile[profile.index("--precision") + 1] == "fp16,int8"
    assert str(tmp_path / "clips" / "synthetic_0001") in profile and steps[4].profile_json.name == "profile-scs-siam.json"
    assert steps[3].command[2:5] == ["pytest", "-m", "gpu"]
    with_onnx = plan(tmp_path, python="py", onnx_root=Path("/exports"))[2].command
    assert with_onnx[with_onnx.index("--onnx") + 1] == "/exports/aff-atom"


def test_dry_run_prints_the_steps_and_runs_nothing(tmp_path, capsys):
    assert main(["--dry-run", "--out", str(tmp_path / "st")]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 6 and "4. gpu tests:" in out and "--backend trt" in out
    assert not (tmp_path / "st").exists()


def _replay(outcomes: dict):
    """A runner that replays recorded outcomes (exit code, output), copying the recorded profile JSON
    where a profile step would write it: it checks the orchestration, not TensorRT."""
    def run(step):
        code, output = outcomes.get(step.name, (0, ""))
        if step.profile_json is not None and code == 0:
            document = json.loads((SAMPLES / "profile.scs-siam.json").read_text())
            document["tracker"] = step.name.split()[-1]
            step.profile_json.write_text(json.dumps(document))
        summary = "41 passed, 2 skipped in 93.2s" if step.name == "gpu tests" else ""
        return StepResult(step.name, step.command, code, 1.0, output, summary)
    return run


def test_report_from_recorded_runs(tmp_path):
    text, verdict = selftest(tmp_path, plan(tmp_path, python="py"), runner=_replay({}), jetson=recorded_jetson())
    # the recorded INT8 run is 71.5 FPS: under 73, while everything ran
    assert verdict == "TARGET NOT MET"
    assert text.startswith("## edge_tracker Jetson self-test: TARGET NOT MET\n")
    assert "| device | NVIDIA Jetson Orin Nano Developer Kit |" in text
    assert "| L4T / JetPack | R36.4.0 / 6.1/6.2 |" in text
    assert "| power mode | 15W (nvpmodel mode 0) |" in text
    assert "| clocks | GPU 306 MHz (max 625), EMC 2133 MHz (max 2133), CPU 1510 MHz x 2, jetson_clocks off (DVFS) |" in text
    assert "| tensorrt | 10.3.0 |" in text
    assert "| scs-siam | trt-fp16 | 96.2 | 104.9 | 73 FPS target: met at 96.2 FPS |" in text
    assert "| aff-atom | trt-int8 | 71.5 | 76.0 | 73 FPS target: not met: 71.5 FPS" in text
    assert "| stage | trt-fp16 mean | p99 | trt-int8 mean | p99 |" in text
    assert "| search | 6.10 | 8.54 | 9.80 | 13.72 |" in text
    assert "| template | 0.00 | 0.00 | - | - |" in text
    assert "| first frame | 31.4 |  | 30.9 |  |" in text
    assert "gpu_load_max 99" in text and "power_total_mw_mean 9120.5" in text
    assert "| gpu tests | 0 | 1 | 41 passed, 2 skipped in 93.2s |" in text
    assert "### Failures" not in text


def test_a_failed_step_is_reported_with_its_output_and_fails_the_run(tmp_path):
    outcomes = {"build aff-atom": (3, "graphs written\nTensorRT is not installed: sudo apt-get install python3-libnvinfer\n"),
                "profile aff-atom": (1, "error: no engine\n")}
    text, verdict = selftest(tmp_path, plan(tmp_path, python="py"), runner=_replay(outcomes), jetson=recorded_jetson())
    assert verdict == "FAIL"
    assert "**build aff-atom** exited 3: `py -m export build --tracker aff-atom" in text
    assert "TensorRT is not installed: sudo apt-get install python3-libnvinfer" in text
    assert "| aff-atom |" not in text.split("### Verdicts")[1].split("###")[0]  # no figures without a run
    assert "| scs-siam | trt-int8 | 71.5 |" in text


def test_no_jetson_and_no_profile_is_a_failure_not_a_pass(tmp_path):
    text, verdict = selftest(tmp_path, plan(tmp_path, python="py", trackers=()), runner=_replay({}), jetson={})
    assert verdict == "FAIL" and "no profile ran" in text
    assert "| L4T / JetPack | not a Jetson / - |" in text
    assert "unknown (jetson_clocks --show needs root" in text


def test_the_wrapper_runs_the_module(tmp_path):
    # The shell wrapper refuses to run without the virtual environment jetson/setup makes.
    import subprocess

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(["bash", str(root / "jetson" / "selftest"), "--dry-run"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "VENV": str(tmp_path / "none")}, check=False)
    assert result.returncode == 2 and "run jetson/setup first" in result.stderr
    ok = subprocess.run(["bash", str(root / "jetson" / "selftest"), "--dry-run", "--out", str(tmp_path / "o")],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "6. profile aff-atom" in ok.stdout
