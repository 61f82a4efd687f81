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


# --------------------------------------------------------------------------------------------------
# The wider runner contract: IO binding, element types, device arrays, inference time
# --------------------------------------------------------------------------------------------------

_TYPES = [(TensorProto.FLOAT, np.float32), (TensorProto.FLOAT16, np.float16), (TensorProto.INT8, np.int8),
          (TensorProto.UINT8, np.uint8), (TensorProto.INT64, np.int64), (TensorProto.BOOL, np.bool_)]


@pytest.fixture()
def typed_model(tmp_path):
    """One input per element type, each passed through an op of the TensorRT set (Identity/Not/Add)."""
    nodes, inputs, outputs = [], [], []
    for onnx_type, dtype in _TYPES:
        name = np.dtype(dtype).name
        inputs.append(helper.make_tensor_value_info(f"in_{name}", onnx_type, [2, 3]))
        outputs.append(helper.make_tensor_value_info(f"out_{name}", onnx_type, [2, 3]))
        if dtype is np.bool_:
            nodes.append(helper.make_node("Not", [f"in_{name}"], [f"out_{name}"]))
        else:
            nodes.append(helper.make_node("Add", [f"in_{name}", f"in_{name}"], [f"out_{name}"]))
    graph = helper.make_graph(nodes, "typed", inputs, outputs)
    path = tmp_path / "typed.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def _typed_feed(seed=0):
    rng = np.random.default_rng(seed)
    feed = {}
    for _, dtype in _TYPES:
        name = np.dtype(dtype).name
        feed[f"in_{name}"] = (rng.random((2, 3)) > 0.5 if dtype is np.bool_
                              else rng.integers(-20, 20, (2, 3)).astype(dtype) if dtype in (np.int8, np.int64)
                              else rng.integers(0, 100, (2, 3)).astype(dtype) if dtype is np.uint8
                              else rng.standard_normal((2, 3)).astype(dtype))
    return feed


def test_io_binding_gives_what_a_plain_session_run_gives_for_every_element_type(typed_model):
    import onnxruntime

    feed = _typed_feed()
    plain = onnxruntime.InferenceSession(str(typed_model), providers=["CPUExecutionProvider"])
    expected = dict(zip([o.name for o in plain.get_outputs()], plain.run(None, feed)))
    with OnnxRuntimeRunner(typed_model) as runner:
        assert runner.last_inference_ms is None
        meta = runner.input_metadata()
        assert {name: m.dtype for name, m in meta.items()} == {f"in_{np.dtype(t).name}": np.dtype(t) for _, t in _TYPES}
        got = runner.infer(feed)
        assert runner.last_inference_ms is not None and runner.last_inference_ms > 0
        for name, want in expected.items():
            assert got[name].dtype == want.dtype, name
            np.testing.assert_array_equal(got[name], want)
        np.testing.assert_array_equal(got["out_uint8"], (feed["in_uint8"] * 2).astype(np.uint8))  # wraps, as uint8 does
        left = runner.infer(feed, copy_outputs_to_host=False)  # on the CPU provider, outputs are host arrays
        assert all(isinstance(v, np.ndarray) for v in left.values())
        np.testing.assert_array_equal(left["out_float32"], expected["out_float32"])


class _DLPackOnly:
    """A host array seen only through DLPack, as a CPU torch tensor or a JAX array would be."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


def test_runner_reads_host_arrays_through_dlpack_and_refuses_device_arrays_on_the_cpu(relu_model):
    from edge_tracker.backends.arrays import DeviceArray, describe

    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    with OnnxRuntimeRunner(relu_model) as runner:
        np.testing.assert_array_equal(runner.infer({"x": _DLPackOnly(x)})["y"], np.maximum(x, 0))
        on_gpu = DeviceArray(pointer=0x7F000000, shape=(2, 3), dtype=np.dtype(np.float32), device_id=1)
        assert describe(on_gpu).on_device and describe(on_gpu).device_id == 1  # no DLPack: id from the object
        with pytest.raises(InputError, match=r"input 'x' is on cuda:1, but this ONNX Runtime session runs on the CPU"):
            runner.infer({"x": on_gpu})
        wrong = DeviceArray(pointer=1, shape=(3, 2), dtype=np.dtype(np.float32))
        with pytest.raises(InputError, match=r"shape \(3, 2\), expected \(2, 3\)"):
            runner.infer({"x": wrong})


def test_device_array_speaks_the_cuda_array_interface():
    from edge_tracker.backends.arrays import DeviceArray, describe, to_host

    array = DeviceArray(pointer=4096, shape=(1, 3, 8, 8), dtype=np.dtype(np.float16), stream=7)
    interface = array.__cuda_array_interface__
    assert interface["data"] == (4096, False) and interface["typestr"] == "<f2" and interface["version"] == 3
    assert interface["shape"] == (1, 3, 8, 8) and interface["stream"] == 7 and array.nbytes == 384
    info = describe(array)
    assert (info.shape, info.dtype, info.device) == ((1, 3, 8, 8), np.dtype(np.float16), "cuda")
    assert describe([1, 2]) is None
    with pytest.raises(InputError, match="cannot be read on the host here"):
        to_host(array)


def test_an_element_type_no_runner_handles_is_refused_by_name(tmp_path):
    graph = helper.make_graph([helper.make_node("Identity", ["s"], ["t"])], "g",
                              [helper.make_tensor_value_info("s", TensorProto.STRING, [2])],
                              [helper.make_tensor_value_info("t", TensorProto.STRING, [2])])
    path = tmp_path / "strings.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    with pytest.raises(InputError, match=r"tensor 's' has element type tensor\(string\)"):
        OnnxRuntimeRunner(path).activate()


def test_devices_are_named_cpu_cuda_or_cuda_n(relu_model):
    assert OnnxRuntimeRunner(relu_model, device="cuda:1").device_id == 1
    assert OnnxRuntimeRunner(relu_model, device="cpu").device_id == 0
    with pytest.raises(InputError, match=r"device must be one of .* or cuda:N, got 'gpu1'"):
        OnnxRuntimeRunner(relu_model, device="gpu1")
