"""The installed distributions against requirements/lock.txt.

    python requirements/versions.py --check requirements/lock.txt   # exit 1 if any differs (make install)
    python requirements/versions.py --diff requirements/lock.txt    # what differs, exit 0 (make test-latest)

Only the lock's entries whose environment markers hold here and that are installed are compared: the
lock is universal (every Python >= 3.10, every platform) and also pins what only some extras pull in.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def locked(lock: Path) -> dict[str, str]:
    """name -> exact version, for the entries of ``lock`` that apply to this interpreter and platform."""
    pins = {}
    for number, line in enumerate(lock.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        (spec,) = requirement.specifier  # uv writes one ==
        if spec.operator != "==":
            raise SystemExit(f"{lock}:{number}: '{line}' is not an exact pin; regenerate the lock with `make lock`")
        pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def differences(lock: Path) -> list[tuple[str, str, str]]:
    """(name, installed, locked) for every installed distribution whose version is not the lock's."""
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    return [(name, installed[name], version) for name, version in sorted(locked(lock).items())
            if name in installed and installed[name].split("+")[0] != version.split("+")[0]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", type=Path, metavar="LOCK", help="exit 1 when an installed version differs")
    mode.add_argument("--diff", type=Path, metavar="LOCK", help="print what differs from the lock")
    args = parser.parse_args(argv)
    lock = args.check or args.diff
    found = differences(lock)
    for name, have, want in found:
        print(f"{name} {have} (the lock: {want})")
    if args.check:
        if found:
            print(f"this environment is not the lock's ({len(found)} above); `make clean install` rebuilds it",
                  file=sys.stderr)
            return 1
        print(f"every installed distribution the lock names is at its locked version ({lock})")
    elif not found:
        print(f"the newest releases allowed are the lock's ({lock})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
