"""A Jetson's release, power mode and clocks, read from the files and tools L4T provides.

Parsers of recorded text (``/etc/nv_tegra_release``, ``dpkg-query`` of ``nvidia-l4t-core``,
``nvpmodel -q``, ``jetson_clocks --show``) kept apart from the reading, so they are tested on
samples; ``describe_jetson`` reads them on the device. Standard library only: ``jetson/setup`` runs
this with the system Python before anything is installed, and it must run on Python 3.8 (JetPack 5).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

NV_TEGRA_RELEASE = Path("/etc/nv_tegra_release")
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")

# L4T release -> JetPack, from NVIDIA's JetPack archive (developer.nvidia.com/embedded/jetpack-archive).
# The TensorRT of each line is what its apt repository installs (python3-libnvinfer).
JETPACK_OF_L4T = {
    (32, 7): "4.6.x", (34, 1): "5.0 DP",
    (35, 1): "5.0.2", (35, 2): "5.1", (35, 3): "5.1.1", (35, 4): "5.1.2", (35, 5): "5.1.3", (35, 6): "5.1.4/5.1.5",
    (36, 2): "6.0 DP", (36, 3): "6.0", (36, 4): "6.1/6.2",
}

_RELEASE = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*(\d+)(?:\.(\d+))?(.*)")
_FIELD = re.compile(r"(\w+):\s*([^,]+)")
_L4T_CORE = re.compile(r"^nvidia-l4t-core\s+(\d+)\.(\d+)\.(\d+)", re.MULTILINE)


@dataclass(frozen=True)
class L4TRelease:
    """An L4T release: ``R35.4.1`` is major 35, minor 4, patch 1 (``REVISION: 4.1``)."""

    major: int
    minor: int
    patch: int = 0
    board: str = ""     # BOARD field: t186ref (Xavier and Orin on R35), generic (R36), ...
    source: str = ""    # where it was read

    @property
    def version(self) -> Tuple[int, int, int]:
        return self.major, self.minor, self.patch

    @property
    def text(self) -> str:
        return f"R{self.major}.{self.minor}.{self.patch}"

    @property
    def jetpack(self) -> Optional[str]:
        """The JetPack version of this release, None where the table does not know it."""
        return JETPACK_OF_L4T.get((self.major, self.minor))


def parse_nv_tegra_release(text: str) -> L4TRelease:
    """``# R35 (release), REVISION: 4.1, GCID: ..., BOARD: t186ref, ...`` -> L4TRelease(35, 4, 1, "t186ref")."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    match = _RELEASE.match(first)
    if match is None:
        raise ValueError(f"not an /etc/nv_tegra_release line: {first!r}; expected "
                         "'# R35 (release), REVISION: 4.1, ...'")
    fields = dict(_FIELD.findall(match.group(4)))
    return L4TRelease(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0),
                      board=fields.get("BOARD", "").strip(), source=str(NV_TEGRA_RELEASE))


def parse_l4t_core_package(text: str) -> L4TRelease:
    """``dpkg-query -W nvidia-l4t-core`` output (``nvidia-l4t-core\\t36.4.0-20240912212859``) -> L4TRelease."""
    match = _L4T_CORE.search(text)
    if match is None:
        raise ValueError(f"no nvidia-l4t-core version in {text.strip()[:120]!r}; expected "
                         "'nvidia-l4t-core<TAB>35.4.1-20230801124926'")
    return L4TRelease(int(match.group(1)), int(match.group(2)), int(match.group(3)), source="dpkg nvidia-l4t-core")


def parse_nvpmodel(text: str) -> Dict[str, Any]:
    """``nvpmodel -q`` -> ``{"name": "MAXN", "id": 0}`` (its NVPM WARN lines are skipped)."""
    name = re.search(r"NV Power Mode:\s*(\S+)", text)
    if name is None:
        return {}
    out: Dict[str, Any] = {"name": name.group(1)}
    after = text[name.end():].split()
    number = next((word for word in after if word.isdigit()), None)
    if number is not None:
        out["id"] = int(number)
    return out


def parse_jetson_clocks(text: str) -> Dict[str, Any]:
    """``jetson_clocks --show`` -> GPU and EMC min/max/current (Hz), CPU current range (kHz), and
    ``pinned``: True when the GPU and EMC run at their maxima with min == max (jetson_clocks on)."""
    out: Dict[str, Any] = {}
    for unit in ("GPU", "EMC"):
        match = re.search(rf"^{unit} MinFreq=(\d+) MaxFreq=(\d+) CurrentFreq=(\d+)", text, re.MULTILINE)
        if match:
            out[unit.lower()] = {"min": int(match.group(1)), "max": int(match.group(2)),
                                 "current": int(match.group(3))}
    cpus = [int(f) for f in re.findall(r"^cpu\d+: Online=1 .*?CurrentFreq=(\d+)", text, re.MULTILINE)]
    if cpus:
        out["cpu_khz"] = {"online": len(cpus), "min_current": min(cpus), "max_current": max(cpus)}
    if "gpu" in out and "emc" in out:
        out["pinned"] = all(out[u]["min"] == out[u]["max"] == out[u]["current"] for u in ("gpu", "emc"))
    mode = parse_nvpmodel(text)
    if mode:
        out["power_mode"] = mode["name"]
    return out


def read_release(read_text: Callable[[Path], Optional[str]], run: Callable[[list], Optional[str]]) -> Optional[L4TRelease]:
    """The L4T release from /etc/nv_tegra_release, else from the nvidia-l4t-core package; None off a Jetson."""
    text = read_text(NV_TEGRA_RELEASE)
    if text:
        try:
            return parse_nv_tegra_release(text)
        except ValueError:
            pass  # an edited or truncated file: the package version still says it
    listing = run(["dpkg-query", "-W", "-f=${Package}\t${Version}\n", "nvidia-l4t-core"])
    if listing:
        try:
            return parse_l4t_core_package(listing)
        except ValueError:
            return None
    return None


def describe_jetson(read_text: Optional[Callable[[Path], Optional[str]]] = None,
                    run: Optional[Callable[[list], Optional[str]]] = None) -> Dict[str, Any]:
    """Release, JetPack, module, power mode and clocks; ``{}`` off a Jetson. ``read_text``/``run``
    default to reading files and running commands (tests give recorded text instead)."""
    read_text = read_text or _read_text
    run = run or _run
    release = read_release(read_text, run)
    if release is None:
        return {}
    info: Dict[str, Any] = {"l4t": release.text, "jetpack": release.jetpack or "unknown",
                            "board": release.board}
    model = read_text(DEVICE_TREE_MODEL)
    if model:
        info["model"] = model.strip("\x00\n ")
    mode = parse_nvpmodel(run(["nvpmodel", "-q"]) or "")
    if mode:
        info["power_mode"] = mode
    clocks = parse_jetson_clocks(run(["jetson_clocks", "--show"]) or "")
    if clocks:
        info["clocks"] = clocks
    return info


def _read_text(path: Path) -> Optional[str]:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def _run(command: list) -> Optional[str]:
    if shutil.which(command[0]) is None:
        return None
    try:
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None
