"""Pieces every command line of the package shares: logging to stderr, argument types."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
from collections.abc import Iterator

from edge_tracker.errors import ConfigError

FORMAT = "%(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def logging_to_stderr(verbose: bool = False, quiet: bool = False) -> Iterator[None]:
    """The ``edge_tracker`` logger at DEBUG (verbose), WARNING (quiet) or INFO, to this call's stderr.

    Other libraries stay at WARNING unless ``verbose``. The handler is bound to the ``sys.stderr`` of
    this call (not of the first call in the process), and everything is restored on exit, so a
    ``main()`` behaves the same when called repeatedly in one process (as the tests do).
    """
    package = logging.getLogger("edge_tracker")
    saved = package.level, package.propagate
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format=FORMAT)
    package.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    package.addHandler(handler)
    package.propagate = False
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(saved[0])
        package.propagate = saved[1]


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1, or argparse's usage error naming the text."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def key_value(text: str) -> tuple[str, str]:
    """argparse type: ``KEY=VALUE`` -> ``(key, value text)``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE, e.g. window_influence=0.2")
    return key.strip(), value.strip()


def tracker_params_from_text(name: str, overrides: dict[str, str], base: dict | None = None):
    """Tracking parameters of ``name``: ``base`` values (a checkpoint's recommendation), then the
    ``--param`` texts, parsed and checked against each field."""
    from edge_tracker.trackers import tracker_params

    defaults = tracker_params(name)
    typed = dict(base or {})
    for key, text in overrides.items():
        value = parse_scalar(text)
        if dataclasses.is_dataclass(defaults) and hasattr(defaults, key):
            value = _as_type_of(getattr(defaults, key), value, key, text)
        typed[key] = value
    return tracker_params(name, typed)  # unknown keys: ConfigError listing the valid ones


def parse_scalar(text: str):
    """``"true"``/``"false"`` -> bool, then int, then float, else the text itself."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _as_type_of(default, value, key: str, text: str):
    if isinstance(default, bool):
        ok, expected = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, expected = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif isinstance(default, float):
        ok, expected = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        value = float(value) if ok else value
    else:
        ok, expected = True, ""
    if not ok:
        raise ConfigError(f"--param {key}={text}: {key} takes {expected} (default {default!r})")
    return value
