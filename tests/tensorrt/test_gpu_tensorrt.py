"""The TensorRT runner and engine build on a real GPU with real TensorRT (``gpu`` marker; skipped elsewhere).

Engines are built from the SCS-Siam test export (seeded random weights) into a temporary cache,
then checked against ONNX Runtime on the same feeds with the runner comparator, chained on device
buffers, timed with CUDA events, and run end to end in a tracking session.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_tracker.backends.arrays import DeviceArray
from edge_tracker.backends.onnxruntime import OnnxRuntimeRunner
from edge_tracker.compare import compare
from tests.tensorrt.gpu import tensorrt_missing

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(tensorrt_missing() is not None, reason=str(tensorrt_missing()))]


@pytest.fixture(scope="module")
def trt_model(exports, tmp_path_factory):
    from edge_tracker.backends import trt_loader

    _, onnx_dir = exports("scs-siam")
    engines = tmp_path_factory.mktemp("engines")
    model = trt_loader.load(onnx_dir, "cuda", precision="fp32", engine_dir=engines)
    yield onnx_dir, engines, model
    model.close()


def _feeds(runner, count=3, seed=0):
    rng = np.random.default_rng(seed)
    return [{n: (rng.uniform(0, 255, m.shape) if n in ("template", "search") else rng.normal(0, 1, m.shape)).astype(m.dtype)
             for n, m in runner.input_metadata().items()} for _ in range(count)]


def test_engines_compute_what_onnx_runtime_computes(trt_model):
    onnx_dir, _, model = trt_model
    for phase, runner in model.runners.items():
        reference = OnnxRuntimeRunner(onnx_dir / f"{phase}.onnx", "cpu")
        result = compare(runner, reference, _feeds(runner), precision="fp32", tolerances=None)
        print(result)
        assert result.passed, str(result)


def test_a_second_load_finds_the_engines_without_building(trt_model):
    from edge_tracker.backends import trt_loader

    onnx_dir, engines, _ = trt_model
    again = trt_loader.load(onnx_dir, "cuda", precision="fp32", engine_dir=engines, no_build=True)
    again.close()


def test_phases_chain_on_device_buffers_and_are_timed_with_events(trt_model):
    _, _, model = trt_model
    template, search = model.runners["template"].activate(), model.runners["search"].activate()
    feed = _feeds(template, 1)[0]
    crops = _feeds(search, 1, seed=1)[0]["search"]
    kernel_on_device = template.infer(feed, copy_outputs_to_host=False)["kernel"]
    assert isinstance(kernel_on_device, DeviceArray) and kernel_on_device.nbytes == 384 * 49 * 4
    chained = search.infer({"search": crops, "kernel": kernel_on_device})["response"]
    kernel_on_host = template.infer(feed)["kernel"]
    host = search.infer({"search": crops, "kernel": kernel_on_host})["response"]
    np.testing.assert_array_equal(chained, host)
    assert template.last_inference_ms > 0 and search.last_inference_ms > 0


def test_tracking_session_on_tensorrt_agrees_with_onnx_runtime(trt_model, monkeypatch):
    from edge_tracker.backends.trt_loader import ENGINES_ENV
    from edge_tracker.session import Session

    onnx_dir, engines, _ = trt_model
    monkeypatch.setenv(ENGINES_ENV, str(engines))  # the engines built above: nothing is rebuilt
    frames = [np.full((240, 320, 3), 90, np.uint8) for _ in range(6)]
    for i, frame in enumerate(frames):
        frame[100 + i:140 + i, 140 + 2 * i:170 + 2 * i] = (30, 200, 60)
    boxes = {}
    for backend, device in (("ort", "cpu"), ("trt", "cuda")):
        with Session(onnx_dir, backend=backend, device=device) as session:
            tracker = session.new_tracker()
            tracker.initialize(frames[0], (140, 100, 30, 40))
            boxes[backend] = np.array([tracker.track(frame).box for frame in frames[1:]])
    np.testing.assert_allclose(boxes["trt"], boxes["ort"], atol=0.5)


def test_tracking_with_gpu_crops_agrees_with_opencv_crops(trt_model):
    """SCS-Siam on the engines with the crop kernel (the model's preprocessor) vs with OpenCV crops."""
    from edge_tracker.trackers import build_tracker

    _, _, model = trt_model
    frames = [np.full((240, 320, 3), 90, np.uint8) for _ in range(6)]
    for i, frame in enumerate(frames):
        frame[100 + i:140 + i, 140 + 2 * i:170 + 2 * i] = (30, 200, 60)
    boxes = []
    for preprocessor in (None, model.preprocessor()):
        tracker = build_tracker(model.tracker, model.runners, None, preprocessor)
        tracker.initialize(frames[0], (140, 100, 30, 40))
        boxes.append(np.array([tracker.track(frame).box for frame in frames[1:]]))
    np.testing.assert_allclose(boxes[1], boxes[0], atol=0.05)
