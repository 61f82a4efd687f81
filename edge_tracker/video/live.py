"""Capture without queueing: a thread that keeps only the newest frame of a live camera.

A tracker that runs slower than the camera must see the *current* scene, not a backlog: a queue of
frames adds latency that grows without bound and the target drifts away from where the tracker
looks. So the capture thread overwrites a single slot; a frame replaced before anyone read it is
counted as dropped (DESIGN principle 6). The same thread notices a camera that disappears and either
ends the stream or reopens the camera with backoff.

The camera is given as an *opener*: a callable that opens the device and returns either a
``CameraHandle`` or a bare grab callable. A grab returns a ``[H, W, 3]`` image, or None (or raises)
when it failed.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional, Union

import numpy as np

from edge_tracker.errors import EdgeTrackerError

logger = logging.getLogger("edge_tracker.video")

GrabFn = Callable[[], Optional[np.ndarray]]


@dataclass(frozen=True)
class CameraHandle:
    """An opened camera: ``grab()`` returns the next image or None; ``close()`` releases it."""

    grab: GrabFn
    close: Callable[[], None] = lambda: None


Opener = Callable[[], Union[CameraHandle, GrabFn]]


class Grabbed(NamedTuple):
    """One captured frame: ``seq`` counts frames produced since start (across reconnects)."""

    seq: int
    image: np.ndarray
    timestamp: float  # seconds on the grabber's clock (time.monotonic by default), taken after grab


@dataclass
class GrabberStats:
    """Counters of a LatestFrameGrabber; after ``stop()``, ``dropped == produced - delivered``."""

    produced: int = 0        # frames the camera delivered
    delivered: int = 0       # frames handed to a reader
    dropped: int = 0         # frames replaced by a newer one (or left unread at stop) before a read
    grab_failures: int = 0   # failed or raising grabs, all told
    reconnects: int = 0      # successful reopenings after the camera was lost
    end_reason: str | None = None  # why the stream ended; None while it runs or after a plain stop


class LatestFrameGrabber:
    """Run a camera's grab loop in a daemon thread and hand out only the newest frame.

    Args:
        opener: opens the camera; called once by ``start()`` (its exceptions reach the caller) and
            again for each reconnect attempt.
        name: how the camera is called in log messages.
        max_failures: consecutive failed grabs after which the camera counts as lost.
        reconnect: reopen a lost camera instead of ending the stream.
        max_reconnects: reopen attempts per outage; the count resets once a frame arrives again.
        backoff_s: wait before the first reopen attempt; doubled per attempt up to ``max_backoff_s``.
        clock: time source for frame timestamps, seconds.
    """

    def __init__(self, opener: Opener, *, name: str = "camera", max_failures: int = 5,
                 reconnect: bool = False, max_reconnects: int = 5, backoff_s: float = 0.5,
                 max_backoff_s: float = 8.0, clock: Callable[[], float] = time.monotonic):
        if max_failures < 1 or max_reconnects < 0 or backoff_s < 0 or max_backoff_s < 0:
            raise EdgeTrackerError(
                f"LatestFrameGrabber({name}): max_failures must be >= 1 and max_reconnects, backoff_s, "
                f"max_backoff_s >= 0; got {max_failures}, {max_reconnects}, {backoff_s}, {max_backoff_s}")
        self.name = name
        self._opener = opener
        self._max_failures = max_failures
        self._reconnect = reconnect
        self._max_reconnects = max_reconnects
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._clock = clock
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._latest: Grabbed | None = None  # the one slot; None once read
        self._ended = False
        self._stats = GrabberStats()
        self._thread: threading.Thread | None = None
        self._call_started: float | None = None  # monotonic time the thread entered a camera call

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> "LatestFrameGrabber":
        """Open the camera (in the caller's thread, so a bad device fails here) and start capturing."""
        if self._thread is not None:
            raise EdgeTrackerError(f"LatestFrameGrabber({self.name}) was already started; "
                                   "create a new grabber to capture again")
        handle = _as_handle(self._opener())
        self._thread = threading.Thread(target=self._run, args=(handle,),
                                        name=f"edge_tracker-capture-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop capturing and wait up to ``timeout`` seconds for the thread; idempotent."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                # The camera call blocks (a stalled driver or stream); the thread is a daemon and
                # closes its camera itself if the call ever returns.
                logger.warning("camera %s: capture thread still blocked in a grab after %.1f s; "
                               "abandoning it", self.name, timeout)
        with self._cond:
            if self._latest is not None:
                self._stats.dropped += 1  # produced, never delivered
                self._latest = None
            self._ended = True
            self._cond.notify_all()

    def __enter__(self) -> "LatestFrameGrabber":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- reader side ------------------------------------------------------------------------------

    def read(self, timeout: float | None = None) -> Grabbed | None:
        """Return the newest frame not yet read, waiting up to ``timeout`` seconds (None: forever).

        Returns None on timeout and once the stream has ended (check ``ended`` to tell them apart).
        A frame captured before the camera was lost is still delivered.
        """
        if self._thread is None:
            raise EdgeTrackerError(f"LatestFrameGrabber({self.name}).read() before start()")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._latest is None and not self._ended:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            grabbed, self._latest = self._latest, None  # release the slot: hold no frame once read
            if grabbed is not None:
                self._stats.delivered += 1
            return grabbed

    @property
    def ended(self) -> bool:
        """True once the camera is lost for good or ``stop()`` was called."""
        with self._cond:
            return self._ended

    @property
    def blocked_s(self) -> float:
        """Seconds the capture thread has been inside the current camera call (0 between calls).

        A driver that hangs instead of failing shows here; the reader decides how long is too long.
        """
        started = self._call_started
        return 0.0 if started is None else time.monotonic() - started

    @property
    def stats(self) -> GrabberStats:
        """A consistent snapshot of the counters."""
        with self._cond:
            return dataclasses.replace(self._stats)

    # -- capture thread ---------------------------------------------------------------------------

    def _run(self, handle: CameraHandle) -> None:
        failures, last_error = 0, None
        reconnects_left = self._max_reconnects
        try:
            while not self._stop.is_set():
                self._call_started = time.monotonic()
                try:
                    image = handle.grab()
                except Exception as err:  # a driver error is a failed grab, not a crash of the loop
                    image, last_error = None, f"{type(err).__name__}: {err}"
                finally:
                    self._call_started = None
                if image is not None:
                    failures, last_error, reconnects_left = 0, None, self._max_reconnects
                    self._publish(image)
                    del image  # hold no second reference: the slot is the only one
                    continue
                failures += 1
                with self._cond:
                    self._stats.grab_failures += 1
                logger.debug("camera %s: grab failed (%d in a row)%s", self.name, failures,
                             f": {last_error}" if last_error else "")
                if failures < self._max_failures:
                    self._stop.wait(0.01)  # a brief pause, so a dead device is not polled in a spin
                    continue
                reason = (f"{failures} grabs failed in a row"
                          + (f" (last error {last_error})" if last_error else ""))
                _close_quietly(handle, self.name)
                handle = None
                if not self._reconnect:
                    self._end(f"camera {self.name} lost: {reason}")
                    return
                handle, reconnects_left = self._reopen(reason, reconnects_left)
                if handle is None:
                    return
                failures, last_error = 0, None
        except Exception as err:
            # A bug here must end the stream visibly; a dead thread would leave the reader waiting.
            logger.exception("camera %s: capture thread failed", self.name)
            self._end(f"camera {self.name}: capture thread failed: {type(err).__name__}: {err}")
        finally:
            if handle is not None:
                _close_quietly(handle, self.name)

    def _publish(self, image: np.ndarray) -> None:
        with self._cond:
            if self._latest is not None:
                self._stats.dropped += 1
            self._latest = Grabbed(self._stats.produced, image, self._clock())
            self._stats.produced += 1
            self._cond.notify_all()

    def _reopen(self, reason: str, attempts_left: int) -> tuple[CameraHandle | None, int]:
        """Try to reopen with exponential backoff; return the handle (or None, stream ended)."""
        last_error = "no attempt allowed (max_reconnects=0)"
        attempt = self._max_reconnects - attempts_left
        while attempts_left > 0:
            attempts_left -= 1
            attempt += 1
            delay = min(self._backoff_s * 2 ** (attempt - 1), self._max_backoff_s)
            logger.warning("camera %s lost (%s); reconnect attempt %d/%d in %.2f s", self.name, reason,
                           attempt, self._max_reconnects, delay)
            if self._stop.wait(delay):
                return None, attempts_left
            self._call_started = time.monotonic()
            try:
                handle = _as_handle(self._opener())
            except Exception as err:
                last_error = f"{type(err).__name__}: {err}"
                logger.warning("camera %s: reconnect attempt %d/%d failed: %s", self.name, attempt,
                               self._max_reconnects, last_error)
                continue
            finally:
                self._call_started = None
            with self._cond:
                self._stats.reconnects += 1
            logger.info("camera %s: reopened on attempt %d/%d", self.name, attempt, self._max_reconnects)
            return handle, attempts_left
        self._end(f"camera {self.name} lost ({reason}) and {self._max_reconnects} reconnect attempts "
                  f"failed; last error: {last_error}")
        return None, 0

    def _end(self, reason: str) -> None:
        logger.error("%s; ending the stream", reason)
        with self._cond:
            self._stats.end_reason = reason
            self._ended = True
            self._cond.notify_all()


def _as_handle(opened) -> CameraHandle:
    if isinstance(opened, CameraHandle):
        return opened
    if callable(opened):
        return CameraHandle(grab=opened)
    raise EdgeTrackerError(f"a camera opener must return a CameraHandle or a grab callable, got "
                           f"{type(opened).__name__}")


def _close_quietly(handle: CameraHandle, name: str) -> None:
    # Releasing a device that has already vanished often fails too; that must not hide why it vanished.
    try:
        handle.close()
    except Exception as err:
        logger.debug("camera %s: close failed: %s: %s", name, type(err).__name__, err)
