"""Whether this process can open a window: the one check used wherever a screen is needed."""

from __future__ import annotations

import os
import sys


def display_missing() -> bool:
    """True when a window cannot be shown because no display server is reachable.

    On Linux (a Jetson included) a window needs an X11 or Wayland server, named by ``DISPLAY`` or
    ``WAYLAND_DISPLAY``; without either, as over plain ssh or under systemd, OpenCV's window calls
    fail or abort. macOS and Windows always have their window server, so they never miss one.
    Read at call time, so a changed environment (a test, ``export DISPLAY=:0``) counts.
    """
    return sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                     or os.environ.get("WAYLAND_DISPLAY"))
