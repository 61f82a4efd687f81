"""TensorRT-RTX on a machine without an NVIDIA driver: plans build, and running one says the driver is missing.

With the real ``tensorrt_rtx`` (no GPU, no CUDA driver: CI's machines): a tiny graph is built
through our build code without pycuda (issue 24, defect 6), and the runner's load of that plan
fails with an error naming the missing driver, not "rebuild it on this device" (defect 9).
Skipped where ``tensorrt_rtx`` is not importable, or where a driver is installed (then the
``gpu``-marked tests run the plan instead).
"""

from __future__ import annotations

import pytest

from edge_tracker.backends.trt_runtime_cache import driver_missing
from tests.tensorrt.graphs import tiny_graph

try:
    import tensorrt_rtx
except (ImportError, OSError) as err:
    pytestmark = pytest.mark.skip(reason=f"TensorRT-RTX is not importable here ({err}): pip install 'edge-tracker[rtx]'")
    tensorrt_rtx = None


@pytest.mark.skipif(not driver_missing(), reason="an NVIDIA driver is installed here: the gpu tests run the plan")
def test_loading_a_plan_without_a_driver_names_the_missing_driver(tmp_path):
    from edge_tracker.backends.tensorrt import CudaDevice, EngineError, TensorRTRunner
    from export.tensorrt import BuildOptions, DeviceInfo
    from export.tensorrt.build import EngineFromOnnx

    built = EngineFromOnnx(tiny_graph(tmp_path / "tiny.onnx", "fp32"), "fp32",
                           DeviceInfo.portable(tensorrt_rtx.__version__), BuildOptions(), trt=tensorrt_rtx)()
    assert len(built.plan) > 0 and built.record["product"] == "rtx" and built.record["switches"]["timing_cache"] is False
    runner = TensorRTRunner("tiny", lambda: built.plan, built.io, CudaDevice(0, cuda=object()), trt=tensorrt_rtx)
    with pytest.raises(EngineError, match="this machine has no NVIDIA driver .*libcuda not found.*a plan runs on a GPU"):
        runner._load(tensorrt_rtx, None)  # the step after the GPU is opened: deserialising the plan
