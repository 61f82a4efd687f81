"""Atomic file writes and an inter-process lock, for the engine cache.

- :func:`atomic_write_bytes` / :func:`atomic_write_json`: the data goes to a temporary file in
  the same folder, is flushed to disk, and replaces the target with ``os.replace`` (atomic on
  POSIX file systems), so a reader sees the old file or the whole new one, never a part.
- :func:`file_lock`: an exclusive ``fcntl.flock`` on a lock file beside the data. Two processes
  building the same engine take turns: the second waits, then finds the first one's engine. The
  kernel releases the lock when its holder exits, even on a crash, so a stale lock never blocks.
  (POSIX only: the targets are Linux, Jetson and desktop.)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge_tracker.errors import InputError

logger = logging.getLogger("edge_tracker.export.tensorrt")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that no reader ever sees a partial file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise InputError(f"cannot write {path}: {err}; choose a writable engine folder") from err
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_folder(path.parent)


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def _fsync_folder(folder: Path) -> None:
    # the rename itself is durable only once the folder's entry is on disk
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def file_lock(path: Path, timeout_s: float | None = None, poll_s: float = 0.05,
              waiting_message: str | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block.

    ``timeout_s``: give up after this long (InputError); None waits as long as the holder works
    (an engine build takes minutes). ``waiting_message`` is logged once if the lock is busy.
    """
    import fcntl  # POSIX; imported here so that the module imports everywhere

    path = Path(path)
    try:
        handle = open(path, "a+b")  # noqa: SIM115 - closed in the finally below
    except OSError as err:
        raise InputError(f"cannot create the lock file {path}: {err}; choose a writable engine folder") from err
    try:
        start = time.monotonic()
        told = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told and waiting_message:
                    logger.info("%s", waiting_message)
                    told = True
                if timeout_s is not None and time.monotonic() - start > timeout_s:
                    raise InputError(f"{path} is still locked by another process after {timeout_s:g} s") from None
                time.sleep(poll_s)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()
