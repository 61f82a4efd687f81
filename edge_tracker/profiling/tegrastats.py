"""Jetson power, load, memory and temperature from ``tegrastats``, sampled while a profile runs.

``parse_line`` reads one line of ``tegrastats`` output (the format of JetPack 5 and 6); a
:class:`TegrastatsSampler` runs ``tegrastats --interval MS`` in the background and keeps every
parsed line. On a machine without ``tegrastats`` the sampler is a no-op and says so.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from typing import Any

_RAM = re.compile(r"RAM (\d+)/(\d+)MB")
_CPU = re.compile(r"CPU \[([^\]]*)\]")
_GPU = re.compile(r"GR3D_FREQ (\d+)%")
_TEMP = re.compile(r"(\w+)@(-?\d+(?:\.\d+)?)C")
_RAIL = re.compile(r"(VDD_\w+|VIN_\w+|POM_5V_\w+) (\d+)mW/(\d+)mW")


def parse_line(line: str) -> dict[str, Any]:
    """``{"ram_mb", "ram_total_mb", "cpu_load" (mean %), "gpu_load" (%), "temperatures" {name: C},
    "power_mw" {rail: now}, "power_total_mw"}`` from one tegrastats line; missing fields are left out."""
    sample: dict[str, Any] = {}
    if match := _RAM.search(line):
        sample["ram_mb"], sample["ram_total_mb"] = int(match.group(1)), int(match.group(2))
    if match := _CPU.search(line):
        loads = [int(part.split("%")[0]) for part in match.group(1).split(",") if "%" in part]
        if loads:
            sample["cpu_load"] = sum(loads) / len(loads)
    if match := _GPU.search(line):
        sample["gpu_load"] = int(match.group(1))
    temperatures = {name.lower(): float(value) for name, value in _TEMP.findall(line)}
    if temperatures:
        sample["temperatures"] = temperatures
    rails = {name: int(now) for name, now, _ in _RAIL.findall(line)}
    if rails:
        sample["power_mw"] = rails
        # the module's input rail where the board reports one, else the sum of the rails
        total = rails.get("VDD_IN") or rails.get("POM_5V_IN")
        sample["power_total_mw"] = total if total is not None else sum(rails.values())
    return sample


class TegrastatsSampler:
    """``with TegrastatsSampler() as sampler: ...`` then ``sampler.samples`` (one dict per line, with ``t``)."""

    def __init__(self, interval_ms: int = 200, command: str = "tegrastats") -> None:
        self.interval_ms, self.command = interval_ms, command
        self.available = shutil.which(command) is not None
        self.samples: list[dict[str, Any]] = []
        self._process = None
        self._thread = None

    def __enter__(self) -> TegrastatsSampler:
        if self.available:
            self._process = subprocess.Popen([self.command, "--interval", str(self.interval_ms)],
                                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()
        return self

    def _read(self) -> None:
        start = time.monotonic()
        for line in self._process.stdout:
            sample = parse_line(line)
            if sample:
                sample["t"] = time.monotonic() - start
                self.samples.append(sample)

    def __exit__(self, *exc) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._process.kill()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def summary(self) -> dict[str, Any]:
        """Means and maxima of power (mW), GPU and CPU load (%), memory (MB) and the hottest sensor (C)."""
        if not self.samples:
            return {}
        out: dict[str, Any] = {"samples": len(self.samples)}
        for key in ("power_total_mw", "gpu_load", "cpu_load", "ram_mb"):
            values = [s[key] for s in self.samples if key in s]
            if values:
                out[f"{key}_mean"], out[f"{key}_max"] = sum(values) / len(values), max(values)
        temps = [max(s["temperatures"].values()) for s in self.samples if s.get("temperatures")]
        if temps:
            out["temperature_max_c"] = max(temps)
        return out
