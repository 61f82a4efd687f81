"""What machine a figure came from: CPU, GPU and driver, Jetson release and power mode, library versions.

Read without importing anything heavy: versions of libraries already loaded by the run, ``nvidia-smi``
where present, and on a Jetson its release, power mode and clocks (``jetson.py``).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from typing import Any

import cv2
import numpy as np

from edge_tracker import __version__
from edge_tracker.profiling.jetson import describe_jetson


def describe_machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": cpu_name(), "cpu_count": os.cpu_count(), "machine": platform.machine(),
        "platform": platform.platform(), "python": platform.python_version(), "numpy": np.__version__,
        "opencv": cv2.__version__, "edge_tracker": __version__,
    }
    for module in ("onnxruntime", "torch", "tensorrt", "pycuda"):
        if module in sys.modules:
            info[module] = getattr(sys.modules[module], "__version__", "unknown")
    gpu = _run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"])
    if gpu:
        name, _, driver = gpu.splitlines()[0].partition(",")
        info["gpu"], info["gpu_driver"] = name.strip(), driver.strip()
    jetson = describe_jetson()  # release, JetPack, module, power mode and clocks (jetson.py)
    if jetson:
        info["jetson"] = jetson
        info["l4t"], info["power_mode"] = jetson["l4t"], jetson.get("power_mode", {}).get("name")
    return info


def cpu_name() -> str:
    """The CPU's model name where Linux tells it (``platform.processor()`` is often just the arch there)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _run(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=5, check=False).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
