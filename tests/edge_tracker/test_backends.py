import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edge_tracker.backends.onnxruntime import OnnxRuntimeRunner
from edge_tracker.errors import EdgeTrackerError, InputError
from tests.conftest import REPO_ROOT


@pytest.fixture()
def relu_model(tmp_path):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def test_life_cycle_and_result(relu_model):
    runner = OnnxRuntimeRunner(relu_model)
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    with pytest.raises(EdgeTrackerError, match="not active"):
        runner.infer({"x": x})
    with pytest.raises(EdgeTrackerError, match="not active"):
        runner.input_metadata()
    with runner:
        assert runner.is_active
        np.testing.assert_array_equal(runner.infer({"x": x})["y"], np.maximum(x, 0))
    assert not runner.is_active


@pytest.mark.parametrize("feed, message", [
    ({"z": np.zeros((2, 3), np.float32)}, r"missing \['x'\], unexpected \['z'\]"),
    ({"x": np.zeros((2, 3), np.float64)}, "dtype float64, expected float32"),
    ({"x": np.zeros((3, 2), np.float32)}, r"shape \(3, 2\), expected \(2, 3\)"),
    ({"x": [[0.0] * 3] * 2}, "must be a numpy array"),
])
def test_feed_is_checked_at_the_boundary(relu_model, feed, message):
    with OnnxRuntimeRunner(relu_model) as runner, pytest.raises(InputError, match=message):
        runner.infer(feed)


def test_missing_or_corrupt_model(tmp_path):
    with pytest.raises(InputError, match="not found"):
        OnnxRuntimeRunner(tmp_path / "none.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(InputError, match="cannot load"):
        OnnxRuntimeRunner(bad).activate()


def test_cuda_request_without_cuda_provider_is_refused(relu_model):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(InputError, match="onnxruntime-gpu"):
        OnnxRuntimeRunner(relu_model, device="cuda").activate()


def test_runtime_imports_without_torch(relu_model):
    """The tracking path with ONNX Runtime must work where torch is not installed."""
    code = (
        "import sys; sys.modules['torch'] = None\n"  # any `import torch` now raises ImportError
        "import numpy as np, edge_tracker, edge_tracker.backends, edge_tracker.trackers.siamfc\n"
        "from edge_tracker.backends.onnxruntime import OnnxRuntimeRunner\n"
        f"r = OnnxRuntimeRunner({str(relu_model)!r}).activate()\n"
        "print(r.infer({'x': -np.ones((2, 3), np.float32)})['y'].sum())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0.0"


def test_a_folder_that_is_not_a_whole_export_is_an_input_error(tmp_path):
    from edge_tracker.errors import InputError
    from edge_tracker.manifest import read_manifest

    with pytest.raises(InputError, match="no manifest.json in"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(InputError, match="is not valid JSON"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": "something else"}')
    with pytest.raises(InputError, match="is not an edge_tracker ONNX manifest"):
        read_manifest(tmp_path)
