"""Feed a calibration set to Polygraphy: ``--data-loader-script calibration/polygraphy_loader.py``.

Polygraphy calls ``load_data()`` and takes the feed dicts it yields (for ``polygraphy run`` comparisons
and for ``polygraphy convert --int8`` calibration). Which set and phase: the environment, since the
script takes no arguments::

    EDGE_TRACKER_CALIB=out/scs-siam/calibration EDGE_TRACKER_CALIB_PHASE=search \\
        polygraphy run out/scs-siam/search.onnx --onnxrt \\
        --data-loader-script calibration/polygraphy_loader.py

``EDGE_TRACKER_CALIB_LIMIT`` caps the number of feeds (default: all).
"""

from __future__ import annotations

import os

from calibration.store import CalibrationSet
from edge_tracker.errors import InputError


def load_data():
    """Yield ``{input name: float32 array}`` feeds of the phase named by the environment."""
    folder, phase = os.environ.get("EDGE_TRACKER_CALIB"), os.environ.get("EDGE_TRACKER_CALIB_PHASE")
    if not folder or not phase:
        raise InputError("set EDGE_TRACKER_CALIB (a calibration set folder) and EDGE_TRACKER_CALIB_PHASE (a phase "
                         "name such as search or backbone) for calibration/polygraphy_loader.py")
    limit = os.environ.get("EDGE_TRACKER_CALIB_LIMIT")
    yield from CalibrationSet(folder).feeds(phase, limit=int(limit) if limit else None)
