"""Values recorded in one environment, read in another: say when the libraries are why they differ.

A golden track (``tests/edge_tracker/data/*.json``) and a bound measured once (a tolerance a test
states as "measured: ...") were shaped by the libraries that cut the crops and ran the graphs. When
the running ones differ from those and the values disagree, the failure is one line naming the
difference and the fix, not a wall of numbers: another OpenCV moves a crop by a sub-pixel amount,
and AFF-ATOM's online learning turns that into another track.

- ``recorded_libraries(golden)``: what a golden file says it was recorded with.
- ``locked_libraries()``: the lock's versions (``requirements/lock.txt``), for bounds measured on the
  test environment (``make install``).
- ``shaped_by(recorded, what, fix)``: a context manager around the comparison.
"""

from __future__ import annotations

import importlib.util
from contextlib import contextmanager
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
RERECORD = "re-record with tests/edge_tracker/data/record_goldens.py in the commit that moves the lock"

# the libraries that shape our numbers -> the distributions that provide them (the first installed counts)
SHAPING = {
    "opencv": ("opencv-python-headless", "opencv-contrib-python-headless", "opencv-python",
               "opencv-contrib-python"),
    "numpy": ("numpy",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
}


def _installed(distributions: tuple[str, ...]) -> tuple[str, str] | None:
    for name in distributions:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def running_libraries() -> dict[str, str]:
    """library -> 'distribution==version' of this environment, e.g. {'opencv': 'opencv-python-headless==5.0.0.93'}."""
    found = {library: _installed(names) for library, names in SHAPING.items()}
    return {library: f"{name}=={version}" for library, (name, version) in
            ((library, hit) for library, hit in found.items() if hit is not None)}


@lru_cache(maxsize=1)
def locked_libraries() -> dict[str, str]:
    """The same, as the lock pins them for this interpreter and platform."""
    spec = importlib.util.spec_from_file_location("lock_versions", ROOT / "requirements" / "versions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pins = module.locked(LOCK)
    out = {}
    for library, names in SHAPING.items():
        running = _installed(names)
        # the lock pins the plain and the contrib OpenCV alike: compare the one that is installed
        name = running[0] if running and running[0] in pins else next((n for n in names if n in pins), None)
        if name is not None:
            out[library] = f"{name}=={pins[name]}"
    return out


def recorded_libraries(golden: dict) -> dict[str, str]:
    """What a golden file records under "libraries" ({} for a file recorded before it did)."""
    return dict(golden.get("libraries", {}))


def _version(pin: str) -> str:
    return pin.split("==", 1)[1].split("+", 1)[0]


def differences(recorded: dict[str, str]) -> list[str]:
    """'opencv 5.0.0.93 -> 5.1.0.95' for each shaping library whose running version is not the recorded one."""
    running = running_libraries()
    return [f"{library} {_version(pin)} -> {_version(running[library]) if library in running else 'absent'}"
            for library, pin in sorted(recorded.items())
            if library not in running or _version(running[library]) != _version(pin)]


@contextmanager
def shaped_by(recorded: dict[str, str], what: str, fix: str = RERECORD):
    """Run a comparison; if it fails and the libraries differ from ``recorded``, fail with one line.

    With the recorded libraries a failure is a real change of behaviour and is raised as it is, with
    all its numbers.
    """
    try:
        yield
    except AssertionError:
        changed = differences(recorded)
        if not changed:
            raise
        # from None: the assertion's numbers are not chained under the line
        raise pytest.fail.Exception(
            f"{what} disagrees, and it was recorded with other libraries ({'; '.join(changed)}): run the suite "
            f"in the locked environment (`make install`, then `make test`), or {fix}", pytrace=False) from None
