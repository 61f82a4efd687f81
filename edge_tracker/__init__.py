"""edge_tracker: attention-fusion single-object trackers for Jetson and desktop GPUs.

The runtime package. It depends on numpy, opencv and onnxruntime only; torch, TensorRT and pycuda
are optional and imported lazily by the one module that needs each.
"""

import logging

from edge_tracker.errors import (
    CheckpointError,
    ConfigError,
    EdgeTrackerError,
    ExportError,
    GraphCheckError,
    InputError,
    MissingDependencyError,
)

__version__ = "0.1.0"

logger = logging.getLogger("edge_tracker")
logger.addHandler(logging.NullHandler())

__all__ = [
    "CheckpointError",
    "ConfigError",
    "EdgeTrackerError",
    "ExportError",
    "GraphCheckError",
    "InputError",
    "MissingDependencyError",
    "__version__",
    "logger",
]
