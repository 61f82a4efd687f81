"""Why a GPU test cannot run here (None when it can): the reasons the ``gpu``-marked tests skip with."""

from __future__ import annotations

import functools


@functools.cache
def pycuda_missing() -> str | None:
    """None when pycuda imports and CUDA sees a GPU; else the reason."""
    try:
        import pycuda.driver as cuda
    except (ImportError, OSError) as err:
        return f"pycuda is not importable here ({err}); it needs a GPU driver (pip install 'edge-tracker[gpu]')"
    try:
        cuda.init()
        if cuda.Device.count() == 0:
            return "CUDA sees no GPU"
    except cuda.Error as err:
        return f"CUDA cannot start here ({err})"
    return None


@functools.cache
def tensorrt_missing() -> str | None:
    """None when TensorRT and pycuda import and a GPU is there; else the reason."""
    try:
        import tensorrt  # noqa: F401 - only whether it imports
    except (ImportError, OSError) as err:
        return f"TensorRT's Python package is not importable here ({err}): JetPack, or pip install tensorrt"
    return pycuda_missing()


@functools.cache
def rtx_missing() -> str | None:
    """None when TensorRT-RTX and pycuda import and an RTX-class GPU (compute 7.5-8.9 or 12.x) is there; else why."""
    try:
        import tensorrt_rtx  # noqa: F401 - only whether it imports
    except (ImportError, OSError) as err:
        return f"TensorRT-RTX is not importable here ({err}): pip install 'edge-tracker[rtx]'"
    missing = pycuda_missing()
    if missing is not None:
        return missing
    import pycuda.driver as cuda

    major, minor = cuda.Device(0).compute_capability()
    if (major, minor) < (7, 5) or major in (9, 10, 11):  # Hopper, Jetson Thor and older: not TensorRT-RTX targets
        return f"TensorRT-RTX does not run on this GPU (compute {major}.{minor}): it needs Turing to Blackwell RTX"
    return None
