"""Pieces every command line of the package shares: logging to stderr, argument types."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator

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
