"""Pieces every command line of the package shares (``edge-tracker track|eval``, ``python -m export``,
``python -m training``): the ``-v/-q`` options, logging to stderr, the mapping of errors to exit
codes, argument types, and the check that an output file can be written before any work starts.

Exit codes, the same in every command: 0 done; 1 a failure while working (results so far are
kept); 2 bad arguments or input (nothing was run, no output touched); 130 interrupted (Ctrl-C),
143 stopped by SIGTERM, 129 by SIGHUP (``edge_tracker.signals``: handled like Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from edge_tracker.errors import EdgeTrackerError, InputError
from edge_tracker.signals import interruption, stop_signals

FORMAT = "%(levelname)s %(name)s: %(message)s"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def verbosity_options(quiet_help: str = "warnings and errors only",
                      verbose_help: str = "debug logging") -> argparse.ArgumentParser:
    """A parent parser with the mutually exclusive ``-v/--verbose`` and ``-q/--quiet``."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="store_true", help=verbose_help)
    group.add_argument("-q", "--quiet", action="store_true", help=quiet_help)
    return parent


def parse_or_exit_code(parser: argparse.ArgumentParser, argv) -> argparse.Namespace | int:
    """``parser.parse_args(argv)``, or the exit code argparse chose (0 for --help, 2 for bad arguments).

    argparse raises SystemExit; a ``main()`` returns codes instead, so callers (tests, the demo
    command) can run it in-process.
    """
    try:
        return parser.parse_args(argv)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else EXIT_OK if stop.code is None else EXIT_BAD_INPUT


def run_command(command: Callable[[], int], logger: logging.Logger,
                failures: tuple[type[BaseException], ...] = ()) -> int:
    """Run ``command`` and map what escapes it to the exit codes of the module docstring.

    ``failures``: error types that mean "failed while working" (exit 1), checked before the general
    ``EdgeTrackerError`` (bad input, exit 2), e.g. ``ExportError`` for the export command. SIGTERM and
    SIGHUP interrupt ``command`` as Ctrl-C does (exit 143, 129); a closed stdout ends it quietly.
    """
    try:
        with stop_signals():
            code = command()
            sys.stdout.flush()  # a reader that left shows here, not as a traceback at interpreter exit
            return code
    except failures as err:
        logger.error("%s", err)
        return EXIT_FAILED
    except EdgeTrackerError as err:
        logger.error("%s", err)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as err:
        name, code = interruption(err)
        logger.error("interrupted (%s)", name)
        return code
    except BrokenPipeError:  # `edge-tracker ... | head`: the reader left; end quietly
        quiet_stdout()
        return EXIT_FAILED


def quiet_stdout() -> None:
    """Point ``sys.stdout`` at /dev/null after its reader left, so interpreter exit does not print a
    BrokenPipeError while flushing it."""
    with contextlib.suppress(OSError):
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces the dead stream for interpreter exit


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


def check_output_file(path: Path, what: str | None = None, example: str = "out.json") -> None:
    """Refuse an output path that cannot be written, without creating or truncating anything.

    ``what`` names the output in the message (a URI, an option); ``example`` is the file name
    suggested when ``path`` is a folder.
    """
    what = what or str(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"cannot write output '{what}': the folder {folder} does not exist; create it "
                         f"(mkdir -p {folder}) or choose another path")
    if path.is_dir():
        raise InputError(f"cannot write output '{what}': {path} is a folder; give a file name such as "
                         f"{path / example}")
    writable = os.access(path, os.W_OK) if path.exists() else os.access(folder, os.W_OK | os.X_OK)
    if not writable:
        raise InputError(f"cannot write output '{what}': permission denied; choose a writable path")


def probe_output_file(path: Path, what: str | None = None, example: str = "out.json") -> None:
    """Like :func:`check_output_file`, and then open ``path`` for appending to prove it: root passes every
    permission check, a read-only or vanished file system does not. A file created here is removed
    again, an existing one is left as it was."""
    check_output_file(path, what, example)
    existed = path.exists()
    try:
        with open(path, "ab"):
            pass
    except OSError as err:
        raise InputError(f"cannot write output '{what or path}': {err.strerror or err}; choose a writable "
                         "path") from err
    if not existed:
        path.unlink(missing_ok=True)


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


def choice_list(choices):
    """argparse type: a comma-separated list of ``choices`` (order kept, repeats dropped)."""
    def parse(text: str) -> list[str]:
        names = [p.strip().lower() for p in text.split(",") if p.strip()]
        unknown = [n for n in names if n not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"{text!r}: unknown {unknown}; choose from {','.join(choices)}")
        return list(dict.fromkeys(names))
    return parse
