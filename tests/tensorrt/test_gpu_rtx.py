"""The runner on TensorRT-RTX, on an RTX GPU (``gpu`` marker; skipped elsewhere, with the reason).

Plans are built ahead of time, portable (as on a CPU-only build machine), from the SCS-Siam test
export; then ``--backend trt`` loads them with TensorRT-RTX (the same named-tensor path as
TensorRT), the GPU compiles them just in time, and they are checked against ONNX Runtime. The
runtime cache file is written in the engine cache, and a second load reuses it.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_tracker.backends.onnxruntime import OnnxRuntimeRunner
from edge_tracker.compare import compare
from tests.tensorrt.gpu import rtx_missing

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(rtx_missing() is not None, reason=str(rtx_missing()))]


def _feeds(runner, count=3, seed=0):
    rng = np.random.default_rng(seed)
    return [{n: (rng.uniform(0, 255, m.shape) if n in ("template", "search") else rng.normal(0, 1, m.shape)).astype(m.dtype)
             for n, m in runner.input_metadata().items()} for _ in range(count)]


def test_rtx_plans_compute_what_onnx_runtime_computes_and_keep_a_runtime_cache(exports, tmp_path):
    from edge_tracker.backends import trt_loader
    from export.build_cli import build_engines

    _, onnx_dir = exports("scs-siam")
    engines = tmp_path / "engines"
    assert build_engines(onnx_dir, ["fp32"], engines, "rtx") == 0  # portable plans, no GPU used to build
    model = trt_loader.load(onnx_dir, "cuda", precision="fp32", engine_dir=engines, no_build=True, product="rtx")
    try:
        for phase, runner in model.runners.items():
            reference = OnnxRuntimeRunner(onnx_dir / f"{phase}.onnx", "cpu")
            result = compare(runner, reference, _feeds(runner), precision="fp32", tolerances=None)
            assert result.passed, str(result)
    finally:
        model.close()
    caches = sorted(engines.glob("runtime.rtx*.cache"))
    assert len(caches) == 1 and caches[0].stat().st_size > 0
    again = trt_loader.load(onnx_dir, "cuda", precision="fp32", engine_dir=engines, no_build=True, product="rtx")
    again.close()
