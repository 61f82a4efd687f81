"""The runner interface every inference backend implements (ONNX Runtime, PyTorch, TensorRT).

A runner executes one exported phase. Its life cycle is strict: ``activate()`` acquires the
session/engine/device memory, ``infer(feed)`` runs it any number of times, ``deactivate()`` frees
it; ``with runner:`` does both ends. ``infer`` checks the feed at the boundary (names, dtypes,
shapes) so a wrong tensor fails here with a message, not deep inside an engine.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from edge_tracker.errors import EdgeTrackerError, InputError


@dataclass(frozen=True)
class TensorMeta:
    """Name, static shape and dtype of one runner input or output."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype


class Runner(abc.ABC):
    """Base class: subclasses implement ``_activate``, ``_deactivate``, ``_infer`` and the metadata."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._active = False

    # ----------------------------------------------------------------- life cycle
    def activate(self) -> "Runner":
        if not self._active:
            self._activate()
            self._active = True
        return self

    def deactivate(self) -> None:
        if self._active:
            self._active = False
            self._deactivate()

    @property
    def is_active(self) -> bool:
        return self._active

    def __enter__(self) -> "Runner":
        return self.activate()

    def __exit__(self, *exc) -> None:
        self.deactivate()

    # ----------------------------------------------------------------- inference
    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once: ``feed`` maps every input name to an array of its exact shape and dtype."""
        if not self._active:
            raise EdgeTrackerError(f"runner '{self.name}' is not active: call activate() or use `with runner:`")
        self._check_feed(feed)
        return self._infer(feed)

    def _check_feed(self, feed: dict[str, np.ndarray]) -> None:
        expected = self.input_metadata()
        missing = sorted(set(expected) - set(feed))
        unexpected = sorted(set(feed) - set(expected))
        if missing or unexpected:
            raise InputError(f"runner '{self.name}': feed has inputs {sorted(feed)}, expected exactly "
                             f"{sorted(expected)} (missing {missing}, unexpected {unexpected})")
        for name, meta in expected.items():
            array = feed[name]
            if not isinstance(array, np.ndarray):
                raise InputError(f"runner '{self.name}': input '{name}' must be a numpy array, "
                                 f"got {type(array).__name__}")
            if array.dtype != meta.dtype:
                raise InputError(f"runner '{self.name}': input '{name}' has dtype {array.dtype}, "
                                 f"expected {meta.dtype}")
            if tuple(array.shape) != meta.shape:
                raise InputError(f"runner '{self.name}': input '{name}' has shape {tuple(array.shape)}, "
                                 f"expected {meta.shape}")

    # ----------------------------------------------------------------- for subclasses
    @abc.abstractmethod
    def input_metadata(self) -> dict[str, TensorMeta]:
        """Inputs in the order the phase takes them."""

    @abc.abstractmethod
    def output_metadata(self) -> dict[str, TensorMeta]:
        """Outputs in the order the phase returns them."""

    @abc.abstractmethod
    def _activate(self) -> None: ...

    @abc.abstractmethod
    def _deactivate(self) -> None: ...

    @abc.abstractmethod
    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...
