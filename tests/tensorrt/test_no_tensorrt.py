"""Without TensorRT or pycuda: ``--backend trt`` fails first, with one line saying what is missing and how to get it.

Exit code 2 (the CLI's "bad input, nothing was run, no output touched"), and nothing in the
package imports ``tensorrt`` or ``pycuda`` before that point.
"""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from edge_tracker.backends.tensorrt import import_gpu_runtime, import_tensorrt
from edge_tracker.cli import main
from edge_tracker.errors import MissingDependencyError
from tests.conftest import REPO_ROOT


def _runtime_missing() -> bool:
    try:
        import_gpu_runtime()
    except MissingDependencyError:
        return True
    return False


needs_missing_runtime = pytest.mark.skipif(not _runtime_missing(),
                                           reason="TensorRT and pycuda are both importable here: nothing is missing")


@needs_missing_runtime
def test_track_with_backend_trt_fails_before_touching_any_output(tmp_path, capsys):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        cv2.imwrite(str(frames / f"{i:04d}.jpg"), np.full((48, 64, 3), 120, np.uint8))
    export = tmp_path / "export"
    export.mkdir()
    outputs = [tmp_path / "out.jsonl", tmp_path / "out.mp4"]
    code = main(["track", str(frames), *map(str, outputs), "--backend", "trt", "--model", str(export),
                 "--init", "10,10,20,20", "--headless"])
    err = capsys.readouterr().err
    assert code == 2
    assert not any(path.exists() for path in outputs)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("ERROR ") and "--backend trt needs TensorRT's Python package (8.5 or newer) and pycuda" in line
    assert "--backend ort" in line
    # the hint of what is missing, and only of that (TensorRT-RTX installed counts as TensorRT found)
    trt_missing = _missing("tensorrt") and _missing("tensorrt_rtx")
    assert ("JetPack" in line and "pip install tensorrt" in line) == trt_missing
    assert ("pip install 'edge-tracker[gpu]'" in line) == _missing("pycuda")
    for name in ("tensorrt", "pycuda"):
        if _missing(name) and (name == "pycuda" or trt_missing):
            assert f"{name} (" in line


@needs_missing_runtime
def test_the_engine_step_of_a_build_names_what_is_missing():
    with pytest.raises(MissingDependencyError) as raised:
        import_gpu_runtime("building TensorRT engines", "The graphs are written")
    text = str(raised.value)
    assert text.startswith("building TensorRT engines needs TensorRT's Python package") and \
        text.endswith("The graphs are written")
    trt_missing = _missing("tensorrt") and _missing("tensorrt_rtx")
    assert ("JetPack" in text and "pip install tensorrt" in text) == trt_missing
    assert ("pip install 'edge-tracker[gpu]'" in text) == _missing("pycuda")


def test_a_tensorrt_module_is_looked_for_under_both_products_names():
    """Defect 4: TensorRT-RTX is ``tensorrt_rtx``; a build imports it alone (defect 6: no pycuda demanded)."""
    fake = ["no_such_tensorrt_for_this_test", "no_such_tensorrt_rtx_for_this_test"]
    with pytest.raises(MissingDependencyError, match="no_such_tensorrt_for_this_test .* and "
                                                     "no_such_tensorrt_rtx_for_this_test .*edge-tracker\\[rtx\\]"):
        import_tensorrt("building TensorRT engines", "The graphs are written", fake)
    assert import_tensorrt(modules=["no_such_tensorrt_for_this_test", "json"]).__name__ == "json"


def test_nothing_imports_tensorrt_or_pycuda_until_asked():
    modules = ["edge_tracker", "edge_tracker.cli", "edge_tracker.session", "edge_tracker.backends.tensorrt",
               "edge_tracker.backends.trt_loader", "edge_tracker.backends.trt_io", "edge_tracker.preprocess.cuda",
               "export.tensorrt", "export.tensorrt.build", "export.tensorrt.engines", "export.tensorrt.calibrator"]
    code = (f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorrt', 'pycuda', 'torch')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _missing(name: str) -> bool:
    try:
        __import__(name)
    except (ImportError, OSError):
        return True
    return False
