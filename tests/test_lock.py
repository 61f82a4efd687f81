"""requirements/lock.txt pins everything pyproject.toml and requirements/lock.in ask for.

A dependency added to pyproject.toml without `make lock` would install unpinned in the test
environment: this fails first, naming it.
"""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.goldens import LOCK, ROOT

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")


def _lock_entries() -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in LOCK.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def _locked_extras() -> list[str]:
    """The extras the Makefile installs and locks (``EXTRAS := ...``); ``gpu`` (pycuda) is built on a GPU machine."""
    (line,) = [line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith("EXTRAS :=")]
    return line.split(":=", 1)[1].strip().split(",")


def _asked() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    asked = [Requirement(r) for r in project["dependencies"]]
    asked += [Requirement(r) for extra in _locked_extras() for r in project["optional-dependencies"][extra]]
    lines = (line.split("#", 1)[0].strip() for line in (ROOT / "requirements" / "lock.in").read_text().splitlines())
    return asked + [Requirement(line) for line in lines if line]


def test_every_entry_of_the_lock_is_one_exact_version():
    entries = _lock_entries()
    assert len(entries) > 50
    for entry in entries:
        assert [s.operator for s in entry.specifier] == ["=="], f"{entry}: not an exact pin; run `make lock`"


def test_everything_asked_for_is_pinned_within_its_range():
    pins: dict[str, list[str]] = {}
    for entry in _lock_entries():
        pins.setdefault(canonicalize_name(entry.name), []).append(next(iter(entry.specifier)).version)
    for wanted in _asked():
        name = canonicalize_name(wanted.name)
        if name == "torch":  # the Makefile's $(TORCH) pins it, so that another build can be chosen
            continue
        assert name in pins, f"{wanted.name} is asked for but not in {LOCK.name}: run `make lock`"
        # a universal lock may pin one version per Python; each must be in the asked range
        for version in pins[name]:
            assert wanted.specifier.contains(version, prereleases=True), \
                f"{LOCK.name} pins {wanted.name}=={version} outside {wanted}: run `make lock`"
