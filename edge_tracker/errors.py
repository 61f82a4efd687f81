"""The package's one exception hierarchy.

Every error a user can cause (bad file, bad argument, bad box) is an ``EdgeTrackerError``, so a
caller can catch them all in one place and the CLI can turn them into a message and a non-zero exit
code. Messages say what was wrong, what was expected, and how to fix it.
"""


class EdgeTrackerError(Exception):
    """Base class of every error edge_tracker raises on purpose."""


class ConfigError(EdgeTrackerError, ValueError):
    """A configuration or parameter object got an unknown key or an invalid value."""


class InputError(EdgeTrackerError, ValueError):
    """Bad user input: a path that cannot be read or written, a box outside the frame, a bad shape."""


class CheckpointError(EdgeTrackerError):
    """A checkpoint file is missing, truncated, of another format, or does not match the model."""


class ExportError(EdgeTrackerError):
    """Exporting a model phase to ONNX failed or produced a graph that fails its checks."""


class GraphCheckError(ExportError):
    """An exported ONNX graph violates a requirement (op support, static shapes, folding)."""


class MissingDependencyError(EdgeTrackerError, ImportError):
    """An optional dependency (torch, onnxruntime, tensorrt, pycuda, ...) is not installed."""
