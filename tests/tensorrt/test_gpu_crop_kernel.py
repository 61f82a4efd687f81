"""The CUDA crop kernel on a GPU (``gpu`` marker; pycuda needed, TensorRT not): kernel == numpy twin on
real frames, and the chain upload -> crop kernel -> PyTorch CUDA reference runner -> outputs left on
the device, with device pointers passed through the runner contract and no host copy between phases.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_tracker.backends.arrays import DeviceArray
from edge_tracker.preprocess import (
    CropWindow,
    OpenCVPreprocessor,
    siamfc_scale_factors,
    siamfc_search_windows,
    siamfc_template_side,
    siamfc_template_window,
)
from edge_tracker.preprocess.cuda import crop_reference
from tests.tensorrt.gpu import pycuda_missing

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(pycuda_missing() is not None, reason=str(pycuda_missing()))]

BOX = (205.0, 151.0, 17.0, 50.0)


@pytest.fixture
def gpu():
    from edge_tracker.backends.tensorrt import CudaDevice

    device = CudaDevice(0).open()
    yield device
    device.close()


def _to_host(gpu, array: DeviceArray) -> np.ndarray:
    host = np.empty(array.shape, array.dtype)
    gpu.stream.synchronize()
    gpu.cuda.memcpy_dtoh(host, array.pointer)
    return host


def _frames(shared_data=None):
    if shared_data is not None:
        import cv2

        paths = sorted((shared_data / "sequences" / "otb" / "Crossing" / "img").glob("*.jpg"))
        if paths:
            return [cv2.imread(str(p)) for p in paths[::10]]
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (240, 360, 3), dtype=np.uint8) for _ in range(4)]


def _windows():
    center = (BOX[0] + BOX[2] / 2, BOX[1] + BOX[3] / 2)
    return [([siamfc_template_window(BOX)], 135),
            (siamfc_search_windows(center, siamfc_template_side(BOX), siamfc_scale_factors(3, 1.0375)), 263),
            ([CropWindow((5.3, 3.1), 80.7)], 127), ([CropWindow((180.0, 120.0), 700.0)], 288)]


def test_the_kernel_equals_its_numpy_twin_on_real_frames(gpu, request):
    from edge_tracker.preprocess.cuda import CudaPreprocessor

    try:
        shared = request.getfixturevalue("shared_data")
    except pytest.skip.Exception:
        shared = None  # generated frames then
    kernel = CudaPreprocessor(gpu)
    worst = 0.0
    try:
        for frame in _frames(shared):
            mean = frame.reshape(-1, 3).mean(axis=0)
            kernel.set_frame(frame)
            for windows, size in _windows():
                got = _to_host(gpu, kernel.crops(windows, size, mean))
                worst = max(worst, float(np.abs(got - crop_reference(frame, windows, size, mean)).max()))
    finally:
        kernel.close()
    print(f"crop kernel vs numpy twin: max abs error {worst:.3g}")
    assert worst == 0.0


def test_upload_crop_and_torch_runner_chain_on_device(gpu, exports):
    """Crops from the kernel go into the PyTorch CUDA reference by pointer; phases chain on device tensors."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA GPU")
    from edge_tracker.backends import open_model
    from edge_tracker.preprocess.cuda import CudaPreprocessor

    checkpoint, _ = exports("scs-siam")
    loaded = open_model(checkpoint, "torch", "cuda")
    template, search = (loaded.runners[name].activate() for name in ("template", "search"))
    frame = _frames()[0]
    mean = frame.reshape(-1, 3).mean(axis=0)
    (template_windows, template_size), (search_windows, search_size) = _windows()[:2]
    kernel = CudaPreprocessor(gpu)
    try:
        kernel.set_frame(frame)
        crop = kernel.crops(template_windows, template_size, mean)
        kernel_out = template.infer({"template": crop}, copy_outputs_to_host=False)["kernel"]
        crops = kernel.crops(search_windows, search_size, mean)
        response = search.infer({"search": crops, "kernel": kernel_out}, copy_outputs_to_host=False)["response"]
        # every hop stayed on the device: device arrays in, CUDA tensors out, the template's output fed as is
        assert isinstance(crop, DeviceArray) and isinstance(crops, DeviceArray)
        assert kernel_out.is_cuda and response.is_cuda
        timings = (template.last_inference_ms, search.last_inference_ms)
        assert all(t is not None and t > 0 for t in timings)
        # the same work from host crops (OpenCV) and host arrays agrees
        opencv = OpenCVPreprocessor()
        opencv.set_frame(frame)
        host_kernel = template.infer({"template": opencv.crops(template_windows, template_size, mean)})["kernel"]
        host_response = search.infer({"search": opencv.crops(search_windows, search_size, mean),
                                      "kernel": host_kernel})["response"]
        np.testing.assert_allclose(response.cpu().numpy(), host_response, rtol=1e-3,
                                   atol=1e-3 * float(np.abs(host_response).max()))
        print(f"chain on device: template {timings[0]:.3f} ms, search {timings[1]:.3f} ms (CUDA events)")
    finally:
        kernel.close()
        loaded.close()
