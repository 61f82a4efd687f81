"""The CUDA crop kernel without a GPU: it compiles for every target with warnings as errors, its
float arithmetic is never contracted into FMAs, and its numpy twin (the kernel's arithmetic,
operation for operation) agrees with the OpenCV preprocessor on real and generated frames.

So the GPU test (``test_gpu_crop_kernel.py``) only has to show kernel == twin.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from edge_tracker.errors import EdgeTrackerError, InputError
from edge_tracker.preprocess import (
    CropWindow,
    OpenCVPreprocessor,
    atom_sample_window,
    siamfc_scale_factors,
    siamfc_search_windows,
    siamfc_template_side,
    siamfc_template_window,
)
from edge_tracker.preprocess.cuda import (
    KERNEL_SOURCE,
    KernelTwinPreprocessor,
    crop_reference,
    window_params,
)

# Orin (sm_87) and desktop Turing to Hopper. CUDA 13 cannot target Xavier's sm_72: pycuda compiles
# the kernel there at run time.
TARGETS = ("sm_75", "sm_86", "sm_87", "sm_89", "sm_90")
NVCC = shutil.which("nvcc")
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc (the CUDA toolkit) is not on the PATH")

# OpenCV 5 samples at the exact float positions (measured max difference from the twin: 2.2e-3 on
# OTB Crossing). OpenCV 4.x quantises sample positions to 1/32 px (INTER_BITS = 5): up to half a
# step of 1/32 px on each axis, 255 / 32 grey levels at a black-white edge.
OPENCV_5 = int(cv2.__version__.split(".")[0]) >= 5
MAX_ABS_VS_OPENCV = 0.01 if OPENCV_5 else 255 / 32
MEAN_ABS_VS_OPENCV = 1e-4 if OPENCV_5 else 0.1


@needs_nvcc
@pytest.mark.parametrize("target", TARGETS)
def test_the_kernel_compiles_for_each_target_with_warnings_as_errors(target, tmp_path):
    cubin = tmp_path / f"crop_resize.{target}.cubin"
    result = subprocess.run([NVCC, "-cubin", f"-arch={target}", "--Werror", "all-warnings", "-o", str(cubin),
                             str(KERNEL_SOURCE)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert cubin.read_bytes()[:4] == b"\x7fELF" and b"crop_resize_bilinear" in cubin.read_bytes()


@needs_nvcc
def test_warnings_as_errors_does_fail_a_warning(tmp_path):
    """The flag the test above relies on: an unused variable in the kernel fails its compilation."""
    source = tmp_path / "warns.cu"
    source.write_text(KERNEL_SOURCE.read_text().replace("const int n = blockIdx.z;",
                                                        "const int n = blockIdx.z; int unused = 3;"))
    result = subprocess.run([NVCC, "-cubin", "-arch=sm_87", "--Werror", "all-warnings", "-o",
                             str(tmp_path / "w.cubin"), str(source)], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode != 0 and "unused" in result.stderr


@needs_nvcc
def test_the_kernels_float_arithmetic_is_explicitly_rounded(tmp_path):
    """No fused multiply-add in the float math: what makes the numpy twin exact."""
    ptx = tmp_path / "crop_resize.ptx"
    subprocess.run([NVCC, "-ptx", "-arch=sm_87", "-o", str(ptx), str(KERNEL_SOURCE)], check=True, timeout=120,
                   capture_output=True)
    code = ptx.read_text()
    assert re.search(r"\bfma\.[a-z.]*f32", code) is None
    assert len(re.findall(r"\bmul\.rn\.f32", code)) >= 14 and len(re.findall(r"\badd\.rn\.f32", code)) >= 8


def _window_sets(box):
    x, y, w, h = box
    center = (x + w / 2, y + h / 2)
    z_side = siamfc_template_side(box)
    return [([siamfc_template_window(box)], 135),                                       # SCS-Siam template
            (siamfc_search_windows(center, z_side, siamfc_scale_factors(3, 1.0375)), 263),  # its 3 scales, one launch
            ([atom_sample_window(center, (w, h))], 288),                                  # ATOM's sample
            ([CropWindow((5.3, 3.1), 80.7)], 127),                                        # past the top-left corner
            ([CropWindow((300.2, 200.9), 31.3)], 263),                                    # upsampled 8x
            ([CropWindow((180.0, 120.0), 700.0)], 135)]                                   # the frame inside the pad


def _worst_against_opencv(frames, box):
    worst_max, worst_mean = 0.0, 0.0
    opencv = OpenCVPreprocessor()
    for frame in frames:
        mean = frame.reshape(-1, 3).mean(axis=0)
        opencv.set_frame(frame)
        for windows, size in _window_sets(box):
            diff = np.abs(crop_reference(frame, windows, size, mean) - opencv.crops(windows, size, mean))
            worst_max, worst_mean = max(worst_max, float(diff.max())), max(worst_mean, float(diff.mean()))
    return worst_max, worst_mean


def test_the_twin_agrees_with_opencv_on_real_frames(shared_data):
    paths = sorted((shared_data / "sequences" / "otb" / "Crossing" / "img").glob("*.jpg"))
    if not paths:
        pytest.skip("OTB Crossing is not in the shared data")
    frames = [cv2.imread(str(p)) for p in paths[::40]]
    worst_max, worst_mean = _worst_against_opencv(frames, (205.0, 151.0, 17.0, 50.0))
    print(f"numpy twin vs OpenCVPreprocessor on {len(frames)} Crossing frames: max abs {worst_max:.2e}, "
          f"worst mean abs {worst_mean:.2e} (cv2 {cv2.__version__})")
    assert worst_max <= MAX_ABS_VS_OPENCV and worst_mean <= MEAN_ABS_VS_OPENCV


def test_the_twin_agrees_with_opencv_on_generated_frames():
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)  # the hardest case: every pixel an edge
    bars = np.zeros((240, 320, 3), np.uint8)
    bars[:, ::8] = 255
    worst_max, worst_mean = _worst_against_opencv([noise, bars], (150.0, 100.0, 30.0, 40.0))
    assert worst_max <= MAX_ABS_VS_OPENCV and worst_mean <= 10 * MEAN_ABS_VS_OPENCV


def test_window_parameters_follow_the_crop_mapping():
    params = window_params([CropWindow((100.0, 50.0), 20.0), CropWindow((0.0, 0.0), 263.0)], 10)
    assert params.dtype == np.float32 and params.shape == (2, 3)
    # step 2: crop pixel 0 samples x = 100 - 10 + 1 - 0.5 = 90.5, the centre of image pixels 90 and 91
    np.testing.assert_array_equal(params[0], [2.0, 90.5, 40.5])
    np.testing.assert_allclose(params[1], [26.3, -131.5 + 13.15 - 0.5, -131.5 + 13.15 - 0.5], rtol=1e-6)
    with pytest.raises(InputError, match="at least one window"):
        window_params([], 10)
    with pytest.raises(InputError, match="whole number of pixels"):
        window_params([CropWindow((0.0, 0.0), 1.0)], 0)
    with pytest.raises(InputError, match="finite"):
        window_params([CropWindow((float("nan"), 0.0), 1.0)], 4)


def test_the_twin_behind_the_preprocessing_seam():
    twin = KernelTwinPreprocessor()
    with pytest.raises(EdgeTrackerError, match="before set_frame"):
        twin.crops([CropWindow((1.0, 1.0), 2.0)], 4, 0)
    with pytest.raises(InputError, match="BGR uint8"):
        twin.set_frame(np.zeros((4, 4, 3), np.float32))
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[..., 0] = 200  # blue in BGR
    twin.set_frame(frame)
    crops = twin.crops([CropWindow((4.0, 4.0), 4.0)] * 2, 4, (10.0, 20.0, 30.0))
    assert crops.shape == (2, 3, 4, 4) and crops.dtype == np.float32
    np.testing.assert_array_equal(crops[:, 2], 200.0)  # blue lands in the last RGB plane
    np.testing.assert_array_equal(crops[:, :2], 0.0)
    far = twin.crops([CropWindow((1e6, -1e6), 4.0)], 4, (10.0, 20.0, 30.0))  # all padding, RGB order
    np.testing.assert_allclose(far[0].reshape(3, -1).mean(axis=1), [30.0, 20.0, 10.0], rtol=1e-6)
