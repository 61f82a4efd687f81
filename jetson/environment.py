"""What JetPack installed on this Jetson, whether edge_tracker supports it, and the pip constraints
that keep JetPack's TensorRT, OpenCV and numpy in place.

``python3 -m jetson.environment check`` (run by ``jetson/setup`` with the system Python, before
anything is installed) prints the release, CUDA, cuDNN, TensorRT and the Python TensorRT's bindings
were built for, and exits 1 with what to do on a release this kit does not support. ``constraints``
writes the pip constraints file. The parsing works on recorded text (``dpkg-query`` listings) so it
is tested off a Jetson. Standard library only, and Python 3.8 (JetPack 5's Python) compatible.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from edge_tracker.profiling.jetson import L4TRelease, _read_text, _run, read_release

# dpkg-query's listing of every installed package, one "name<TAB>version<TAB>status" a line.
DPKG_LISTING = ["dpkg-query", "-W", "-f=${Package}\t${Version}\t${Status}\n"]
TENSORRT_FILES = ["dpkg-query", "-L", "python3-libnvinfer"]


@dataclass(frozen=True)
class Line:
    """A supported JetPack line: its L4T releases, TensorRT major.minor, Python, and modules."""

    name: str
    l4t_major: int
    l4t_minors: Tuple[int, ...]
    tensorrt: Tuple[int, int]
    python: Tuple[int, int]
    modules: str
    base_image: str   # the container recipe's base (jetson/docker/)


SUPPORTED = (
    Line("JetPack 5.1.x", 35, (2, 3, 4, 5, 6), (8, 5), (3, 8), "Xavier NX/AGX Xavier and Orin",
         "nvcr.io/nvidia/l4t-jetpack:r35.4.1"),
    Line("JetPack 6.1/6.2", 36, (4,), (10, 3), (3, 10), "Orin (Nano, NX, AGX)",
         "nvcr.io/nvidia/l4t-jetpack:r36.4.0"),
)


@dataclass
class Environment:
    """What is installed: versions as dpkg reports them (``None``: not installed)."""

    release: Optional[L4TRelease]
    tensorrt: Optional[str] = None           # python3-libnvinfer's version, e.g. 8.5.2-1+cuda11.4
    tensorrt_python: List[str] = field(default_factory=list)  # Pythons its bindings are for: ["3.8"]
    cuda: Optional[str] = None               # cuda-cudart-X-Y's version, e.g. 11.4.298-1
    cudnn: Optional[str] = None              # libcudnn8 / libcudnn9-cuda-12's version
    jetpack_package: Optional[str] = None    # the nvidia-jetpack meta-package, when installed

    def line(self) -> Optional[Line]:
        if self.release is None:
            return None
        return next((line for line in SUPPORTED if line.l4t_major == self.release.major
                     and self.release.minor in line.l4t_minors), None)


def parse_dpkg_listing(text: str) -> Dict[str, str]:
    """``{package: version}`` of the installed packages in a ``DPKG_LISTING`` output."""
    packages = {}
    for row in text.splitlines():
        parts = row.split("\t")
        if len(parts) >= 2 and (len(parts) < 3 or parts[2].strip().endswith(" installed")):
            packages[parts[0].strip()] = parts[1].strip()
    return packages


def parse_tensorrt_pythons(text: str) -> List[str]:
    """The Pythons (``3.8``) whose dist-packages hold ``tensorrt`` in a ``dpkg-query -L python3-libnvinfer``."""
    return sorted(set(re.findall(r"/python(3\.\d+)/(?:dist|site)-packages/tensorrt", text)),
                  key=lambda v: tuple(int(p) for p in v.split(".")))


def environment_from(release: Optional[L4TRelease], listing: str, tensorrt_files: str) -> Environment:
    packages = parse_dpkg_listing(listing)

    def first(pattern: str) -> Optional[str]:
        names = sorted((n for n in packages if re.fullmatch(pattern, n)), reverse=True)
        return packages[names[0]] if names else None
    return Environment(release, tensorrt=first(r"python3-libnvinfer") or first(r"libnvinfer\d+"),
                       tensorrt_python=parse_tensorrt_pythons(tensorrt_files),
                       cuda=first(r"cuda-cudart-\d+-\d+"), cudnn=first(r"libcudnn\d+(-cuda-\d+)?"),
                       jetpack_package=first(r"nvidia-jetpack"))


def detect() -> Environment:
    """This machine's environment (on a machine that is no Jetson, ``release`` is None)."""
    return environment_from(read_release(_read_text, _run), _run(DPKG_LISTING) or "", _run(TENSORRT_FILES) or "")


def problems(env: Environment, python: Tuple[int, int]) -> List[str]:
    """What stands between this environment and a supported one, each with what to do; [] when fine.

    ``python``: the interpreter the virtual environment will use (major, minor).
    """
    release = env.release
    if release is None:
        return ["this is not a Jetson: neither /etc/nv_tegra_release nor the nvidia-l4t-core package was "
                "found. On a desktop GPU, install the package with pip (README: 'Build FP16 and INT8 graphs')."]
    line = env.line()
    if line is None:
        return [_unsupported_release(release)]
    found: List[str] = []
    if env.tensorrt is None:
        found.append(f"{line.name} is installed without TensorRT's Python bindings: sudo apt-get install "
                     "nvidia-jetpack (or at least: sudo apt-get install python3-libnvinfer nvidia-cuda nvidia-cudnn)")
    else:
        have = _major_minor(env.tensorrt)
        if have != line.tensorrt:
            found.append(f"TensorRT {env.tensorrt} is installed, but {line.name} ships TensorRT "
                         f"{line.tensorrt[0]}.{line.tensorrt[1]}, the version this kit supports on it; reinstall "
                         "JetPack's: sudo apt-get install --reinstall python3-libnvinfer libnvinfer-dev")
        want = f"{python[0]}.{python[1]}"
        if env.tensorrt_python and want not in env.tensorrt_python:
            found.append(f"TensorRT's Python bindings are built for Python {', '.join(env.tensorrt_python)}, "
                         f"not this Python {want}: run jetson/setup with PYTHON=/usr/bin/python"
                         f"{env.tensorrt_python[-1]}")
    if env.cuda is None:
        found.append("CUDA is not installed (no cuda-cudart package): sudo apt-get install nvidia-cuda "
                     "(pycuda is built against it)")
    return found


def _unsupported_release(release: L4TRelease) -> str:
    supported = "; ".join(f"{line.name} (L4T R{line.l4t_major}.{'/'.join(map(str, line.l4t_minors))}, "
                          f"{line.modules})" for line in SUPPORTED)
    known = f"JetPack {release.jetpack}" if release.jetpack else "a release this kit does not know"
    if release.major < 35:
        advice = ("JetPack 4 and 5.0 lack the TensorRT (8.5+) and Python (3.8+) this package needs: flash "
                  "JetPack 5.1.x (Xavier) or 6.x (Orin) with NVIDIA SDK Manager")
    elif release.major == 35:
        advice = ("upgrade to JetPack 5.1.x (TensorRT 8.5): sudo apt-get update && sudo apt-get dist-upgrade "
                  "with the r35 apt source, or flash with NVIDIA SDK Manager")
    elif release.major == 36:
        advice = ("JetPack 6.0 ships TensorRT 8.6; upgrade to JetPack 6.1+ (TensorRT 10.3): change "
                  "/etc/apt/sources.list.d/nvidia-l4t-apt-source.list to r36.4 and sudo apt-get dist-upgrade, "
                  "or flash with NVIDIA SDK Manager")
    else:
        advice = ("this release is newer than the kit; its checks were written for R35 and R36. Please open "
                  "an issue with the output of: cat /etc/nv_tegra_release; dpkg -l | grep -E 'nvinfer|cudnn|cudart'")
    return f"L4T {release.text} ({known}) is not supported: {advice}. Supported: {supported}."


def constraints(numpy_version: Optional[str]) -> str:
    """pip constraints for the virtual environment: JetPack's packages are never replaced.

    ``numpy_version``: the numpy the system Python sees (JetPack's), None if none.
    """
    rows = ["# written by jetson/setup: keep JetPack's TensorRT, OpenCV and numpy",
            "# JetPack's TensorRT (python3-libnvinfer) and OpenCV (built with GStreamer) come through the",
            "# system site-packages; a pip wheel of either would hide them, so asking for one fails here.",
            "tensorrt<0", "opencv-python<0", "opencv-python-headless<0", "opencv-contrib-python<0",
            "opencv-contrib-python-headless<0"]
    if numpy_version and _major_minor(numpy_version) >= (1, 24) and _major_minor(numpy_version) < (2, 0):
        rows.append(f"numpy=={numpy_version}  # JetPack's own")
    else:
        rows += ["# JetPack's numpy is older than the package needs (1.24): a 1.x wheel goes into the venv only;",
                 "# JetPack's cv2 and tensorrt were built against numpy 1.x and keep working; numpy 2 would not.",
                 "numpy>=1.24,<2"]
    return "\n".join(rows) + "\n"


def report(env: Environment) -> str:
    release = env.release
    rows = [("L4T", f"{release.text} (board {release.board or '?'}, from {release.source})" if release else "none"),
            ("JetPack", (release.jetpack or "unknown") if release else "none"),
            ("CUDA", env.cuda or "not installed"), ("cuDNN", env.cudnn or "not installed"),
            ("TensorRT", env.tensorrt or "not installed"),
            ("TensorRT's Python", ", ".join(env.tensorrt_python) or "unknown")]
    return "\n".join(f"  {name:<18} {value}" for name, value in rows)


def _major_minor(version: str) -> Tuple[int, int]:
    numbers = re.findall(r"\d+", version.split(":")[-1])
    return (int(numbers[0]), int(numbers[1])) if len(numbers) >= 2 else (0, 0)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m jetson.environment", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="print what JetPack installed; exit 1 on an unsupported setup")
    write = commands.add_parser("constraints", help="write the pip constraints file")
    write.add_argument("out", type=Path)
    write.add_argument("--numpy", default=None, help="the system's numpy version (default: none)")
    args = parser.parse_args(argv)
    if args.command == "constraints":
        args.out.write_text(constraints(args.numpy))
        return 0
    env = detect()
    print("This Jetson:\n" + report(env))
    found = problems(env, sys.version_info[:2])
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    if not found:
        line = env.line()
        print(f"supported: {line.name} on {line.modules}; Python {sys.version_info[0]}.{sys.version_info[1]}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
