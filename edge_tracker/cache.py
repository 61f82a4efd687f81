"""The user cache folder: built demo exports (``demo/``), engines (``engines/``), downloaded test wheels.

``$EDGE_TRACKER_CACHE``, else ``$XDG_CACHE_HOME/edge_tracker``, else ``~/.cache/edge_tracker``. A
module of its own so that the demo, the TensorRT loader and the tests share one answer without
importing each other.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The user cache folder (see the module docstring); not created here."""
    if os.environ.get("EDGE_TRACKER_CACHE"):
        return Path(os.environ["EDGE_TRACKER_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "edge_tracker"
