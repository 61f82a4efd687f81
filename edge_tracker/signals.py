"""SIGTERM and SIGHUP handled like Ctrl-C: the command stops where it is, closes its outputs, reports.

systemd, docker and ``timeout`` stop a program with SIGTERM; closing its terminal sends SIGHUP. Python
ends at once on both (no ``finally``, no summary, a video without its index). Inside
:func:`stop_signals` they raise :class:`Stopped` in the main thread instead: a ``KeyboardInterrupt``,
so every place that already ends cleanly on Ctrl-C (the frame loop, the evaluation, the export's
temporary folder) ends cleanly on them too. Exit codes follow the shell's ``128 + signal number``:
130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP.

Only the first signal raises; another one while the command is closing its outputs is logged and
ignored, so the cleanup it triggered is not itself interrupted (SIGKILL still ends it at once).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

logger = logging.getLogger("edge_tracker")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
CTRL_C_EXIT = 128 + signal.SIGINT  # 130


class Stopped(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGHUP) turned into an exception in the main thread."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        super().__init__(signal.Signals(self.signum).name)

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


def interruption(err: KeyboardInterrupt) -> tuple[str, int]:
    """How an interruption is named in messages, and its exit code: ("Ctrl-C", 130), ("SIGTERM", 143)."""
    if isinstance(err, Stopped):
        return err.signal_name, 128 + err.signum
    return "Ctrl-C", CTRL_C_EXIT


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Stopped` (once); the old handlers return after.

    Outside the main thread (where Python cannot install handlers) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = []

    def handle(signum, frame):
        if raised:
            logger.warning("%s received while stopping; still closing the outputs (SIGKILL ends at once, "
                           "losing what is not written yet)", signal.Signals(signum).name)
            return
        raised.append(signum)
        raise Stopped(signum)

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
