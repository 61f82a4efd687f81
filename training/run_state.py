"""What a training session keeps besides the model: the resumable state file's format, the RNG
states, the loss meter of the log lines, and the stop requests (SIGINT/SIGTERM) the engine honours
between steps. Split from ``engine.py`` so that the loop reads top to bottom there.
"""

from __future__ import annotations

import logging
import math
import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from edge_tracker.errors import CheckpointError

logger = logging.getLogger("edge_tracker.training")

STATE_FORMAT = "edge_tracker.training_state"
STATE_VERSION = 1


def load_training_state(path: Path) -> dict[str, Any]:
    """Read ``last.pt`` (tensors and plain values only: ``weights_only=True``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises many types for truncated or foreign files
        raise CheckpointError(f"cannot read the training state {path} ({err}); it is truncated or not "
                              f"written by python -m training. Start a new run in another --out") from err
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path} is not a training state of python -m training")
    if state.get("version") != STATE_VERSION:
        raise CheckpointError(f"{path} has training-state version {state.get('version')!r}; this code reads "
                              f"version {STATE_VERSION}")
    return state


def get_rng_state() -> dict[str, Any]:
    """Every global RNG's state, as tensors and plain values (loadable with ``weights_only=True``)."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy_state = state["numpy"]
    np.random.set_state(("MT19937", numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                         numpy_state["has_gauss"], numpy_state["cached"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


class _Meter:
    """Sums of the losses over a logging interval, kept on the device until a line is written."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.steps = 0
        self.lr = 0.0
        self.since = time.monotonic()

    def add(self, losses: dict[str, torch.Tensor], lr: float) -> None:
        for name, value in losses.items():
            self.sums[name] = self.sums[name] + value if name in self.sums else value.clone()
        self.steps += 1
        self.lr = lr

    def take(self, procs) -> tuple[dict[str, float], int, float]:
        """Interval means over all processes (``procs``: the engine's ``Processes``; an all-reduce when
        distributed), then reset."""
        names = sorted(self.sums)
        steps, lr = self.steps, self.lr
        if not names:
            return {}, 0, lr
        values = torch.stack([self.sums[n].float() for n in names]) / max(steps, 1)
        if procs.distributed:
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
            values /= procs.world_size
        means = {n: float(v) for n, v in zip(names, values.tolist())}
        if "loss" in means:  # the total first, for reading
            means = {"loss": means.pop("loss"), **means}
        self.sums, self.steps = {}, 0
        return {k: (v if math.isfinite(v) else float("nan")) for k, v in means.items()}, steps, lr


class _StopRequests:
    """Turns the first SIGINT/SIGTERM into a request to stop after the current step."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}
        self._pid = os.getpid()

    def __enter__(self) -> _StopRequests:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: object) -> None:
        if os.getpid() != self._pid:
            return  # a data-loader worker inherited the handler: the main process decides
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name
        logger.warning("%s received: finishing this step, then saving and stopping (Ctrl-C again to quit "
                       "without saving)", self.requested)
