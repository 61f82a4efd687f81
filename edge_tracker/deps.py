"""Lazy imports of optional heavy dependencies, with an install hint instead of a deep traceback."""

from __future__ import annotations

import importlib
from types import ModuleType

from edge_tracker.errors import MissingDependencyError

# module name -> how a user gets it
_INSTALL_HINTS = {
    "torch": "pip install 'edge-tracker[export]' (or: pip install torch)",
    "onnxscript": "pip install 'edge-tracker[export]'",
    "onnxruntime": "pip install onnxruntime",
    "safetensors": "pip install safetensors",
    "tensorrt": "on Jetson it comes with JetPack; on a desktop: pip install tensorrt",
    "pycuda": "pip install 'edge-tracker[gpu]' (needs the CUDA toolkit and a GPU driver)",
}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise MissingDependencyError naming the install step."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        hint = _INSTALL_HINTS.get(module.split(".")[0], f"pip install {module}")
        raise MissingDependencyError(
            f"this feature needs the optional dependency '{module}', which is not installed "
            f"({err}). Install it with: {hint}"
        ) from err
