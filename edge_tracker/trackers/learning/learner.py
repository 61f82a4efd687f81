"""What the tracker asks of a learner, and when the work is done: the schedule both learners share.

A learner owns every classifier layer's projection and filter and the sample memory they learn
from. The tracker calls, per sequence and per frame:

- ``initialize(features, labels)``: first-frame learning (projection and filter jointly);
- ``classifier_inputs()``: the ``projection_<layer>`` / ``filter_<layer>`` tensors of the
  ``classifier`` graph;
- ``add_sample(sample, labels, rate)``: a tracked frame's sample joins the memory (``sample``
  holds the frame's runner outputs named by ``sample_names()``: host arrays, or for a learner that
  ``reads_device_arrays`` the runners' device outputs, which it copies before their next call);
- ``request_update()`` then ``advance()``: a filter update is due (every ``train_skipping`` frames,
  and on a hard negative); ``advance`` runs once per frame and does the work.

An update is one Gauss-Newton step on the filters, made of units of about equal cost (the
linearisation, then one per CG iteration). With ``spread_frames == 0`` they all run in the frame
that asks. With ``spread_frames = n`` they run ``ceil(units / n)`` per frame on a copy of the filters,
which are swapped in when the last unit is done, so no frame pays for a whole update; samples that
arrive meanwhile wait and join the memory then (the update sees one consistent memory), and an
update asked for meanwhile starts when the current one ends.
"""

from __future__ import annotations

import abc
import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from edge_tracker.backends.base import Runner
from edge_tracker.errors import EdgeTrackerError
from edge_tracker.trackers.learning.memory import SampleMemory
from edge_tracker.trackers.learning.numpy_learner import LayerClassifier, SolverSettings, one_blas_thread
from edge_tracker.trackers.learning.solver import GaussNewtonStep


@dataclass(frozen=True)
class LearnerSettings:
    """How a learner learns (from ``AtomParams``; the graphs fix some of it at export)."""

    solver: SolverSettings = field(default_factory=SolverSettings)
    memory_size: int = 250  # sample slots
    init_min_weight: float = 0.25  # share of the weight the first-frame samples keep
    init_gn_iterations: int = 6
    init_cg_iterations: int = 10
    update_cg_iterations: int = 5
    spread_frames: int = 0  # 0: an update runs whole when asked; n: spread over n frames


@dataclass
class LearnerState:
    """What a learner has learned, in a form both learners read (``OnlineLearner.state``/``load_state``).

    Per layer: ``projections`` ``[D, C]``, ``filters`` ``[D, k, k]``, ``samples`` ``[slots, D, H, W]``
    (projected, zeros in unused slots) and ``labels`` ``[slots, Ho, Wo]``; and the sample memory's weights.
    """

    projections: dict[str, np.ndarray]
    filters: dict[str, np.ndarray]
    samples: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    memory: SampleMemory


class UpdateJob(abc.ABC):
    """One filter update in progress: ``units`` steps, ``done`` when the new filters are ready."""

    units: int

    @property
    @abc.abstractmethod
    def done(self) -> bool: ...


class OnlineLearner(abc.ABC):
    """The schedule of the module docstring; subclasses do the numeric work (see ``_initialize``...).

    ``reads_device_arrays``: whether ``add_sample`` takes the runners' outputs where they are (on a
    GPU: device arrays); otherwise the tracker copies the ``sample_names()`` outputs to the host.
    """

    reads_device_arrays = False

    def __init__(self, layers: tuple[str, ...], settings: LearnerSettings) -> None:
        self.layers, self.settings = tuple(layers), settings
        self.memory: SampleMemory | None = None
        self.job: UpdateJob | None = None
        self.units_per_frame = 0
        self.update_due = False
        self.waiting: list[tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray], float]] = []
        self.updates_done = 0

    # ------------------------------------------------------------------ what the tracker calls
    def initialize(self, features: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray],
                   runners: Mapping[str, Runner]) -> dict[str, list[float]]:
        """First-frame learning from ``[N, C, H, W]`` features and ``[N, Ho, Wo]`` labels per layer.

        Returns each layer's loss before the first and after every Gauss-Newton step.
        """
        count = len(features[self.layers[0]])
        s = self.settings
        self.memory = SampleMemory(s.memory_size, count, s.init_min_weight)
        self.job, self.update_due, self.waiting, self.updates_done = None, False, [], 0
        return self._initialize(features, labels, runners)

    def add_sample(self, sample: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray], rate: float,
                   runners: Mapping[str, Runner]) -> None:
        """Add a frame's sample: ``sample`` holds the backbone's ``cls_<layer>`` features and the
        ``classifier`` graph's outputs; ``labels`` one ``[Ho, Wo]`` label per layer."""
        if self.job is not None:
            self.waiting.append((self._hold(sample), labels, rate))
            return
        slot = self.memory.insert(rate)
        self._store(slot, sample, labels, runners)

    def request_update(self) -> None:
        self.update_due = True

    def advance(self, runners: Mapping[str, Runner]) -> None:
        """The frame's share of the update work (all of it when not spreading)."""
        if self.job is None and self.update_due:
            self.update_due = False
            spread = self.settings.spread_frames
            self.job = self._start_update(runners, spread > 0)
            self.units_per_frame = self.job.units if spread == 0 else math.ceil(self.job.units / spread)
        if self.job is None:
            return
        for _ in range(self.units_per_frame):
            self._step(self.job, runners)
            if self.job.done:
                self._finish(self.job)
                self.job = None
                self.updates_done += 1
                waiting, self.waiting = self.waiting, []
                for sample, labels, rate in waiting:
                    self.add_sample(sample, labels, rate, runners)
                return

    @property
    def updating(self) -> bool:
        return self.job is not None

    def state(self) -> LearnerState:
        """A copy of what this learner has learned (no update in progress: call between frames)."""
        if self.job is not None or self.waiting:
            raise EdgeTrackerError("a learner's state is taken between updates; an update is in progress")
        return copy.deepcopy(self._state())

    def load_state(self, state: LearnerState) -> None:
        """Continue from ``state`` (e.g. the other learner's), dropping any update in progress."""
        self.memory = copy.deepcopy(state.memory)
        self.job, self.update_due, self.waiting = None, False, []
        self._load_state(copy.deepcopy(state))

    @abc.abstractmethod
    def classifier_inputs(self) -> dict[str, np.ndarray]:
        """``projection_<layer>`` ``[D, C, 1, 1]`` and ``filter_<layer>`` ``[1, D, k, k]`` for the classifier."""

    @abc.abstractmethod
    def sample_names(self) -> tuple[str, ...]:
        """The runner outputs (backbone's or classifier's) that ``add_sample`` reads."""

    # ------------------------------------------------------------------ for subclasses
    def _hold(self, sample):
        """``sample`` as it may wait for the update in progress (a learner reading device outputs copies them)."""
        return sample

    @abc.abstractmethod
    def _initialize(self, features, labels, runners) -> dict[str, list[float]]: ...

    @abc.abstractmethod
    def _store(self, slot: int, sample, labels, runners) -> None: ...

    @abc.abstractmethod
    def _start_update(self, runners, spread: bool) -> UpdateJob: ...

    @abc.abstractmethod
    def _step(self, job: UpdateJob, runners) -> None: ...

    @abc.abstractmethod
    def _finish(self, job: UpdateJob) -> None: ...

    @abc.abstractmethod
    def _state(self) -> LearnerState: ...

    @abc.abstractmethod
    def _load_state(self, state: LearnerState) -> None: ...


# ------------------------------------------------------------------------------------------ numpy

class _NumpyUpdate(UpdateJob):
    def __init__(self, steps: dict[str, GaussNewtonStep]) -> None:
        self.steps = steps
        self.units = next(iter(steps.values())).units

    @property
    def done(self) -> bool:
        return all(step.done for step in self.steps.values())


class NumpyLearner(OnlineLearner):
    """Every layer learned on the host in the Fourier domain (``LayerClassifier``); runners unused."""

    def __init__(self, layers: tuple[str, ...], settings: LearnerSettings, proj_dim: int, filter_size: int) -> None:
        super().__init__(layers, settings)
        self.proj_dim, self.filter_size = proj_dim, filter_size
        self.classifiers: dict[str, LayerClassifier] = {}

    def _initialize(self, features, labels, runners) -> dict[str, list[float]]:
        s = self.settings
        losses = {}
        for layer in self.layers:
            classifier = LayerClassifier(self.proj_dim, self.filter_size, s.solver, self.memory)
            losses[layer] = classifier.initialize(features[layer], labels[layer], s.init_gn_iterations,
                                                  s.init_cg_iterations)
            self.classifiers[layer] = classifier
        return losses

    def classifier_inputs(self) -> dict[str, np.ndarray]:
        feed = {}
        for layer, classifier in self.classifiers.items():
            feed[f"projection_{layer}"] = classifier.projection_4d
            feed[f"filter_{layer}"] = classifier.filter_4d
        return feed

    def sample_names(self) -> tuple[str, ...]:
        return tuple(f"cls_{layer}" for layer in self.layers)  # the backbone's features: it projects them itself

    def _store(self, slot, sample, labels, runners) -> None:
        for layer, classifier in self.classifiers.items():
            classifier.store(slot, sample[f"cls_{layer}"], labels[layer])

    def _start_update(self, runners, spread: bool) -> _NumpyUpdate:
        cg = self.settings.update_cg_iterations
        return _NumpyUpdate({layer: c.update_step(cg) for layer, c in self.classifiers.items()})

    @one_blas_thread
    def _step(self, job: _NumpyUpdate, runners) -> None:
        for step in job.steps.values():
            step.step()

    def _finish(self, job: _NumpyUpdate) -> None:
        for layer, step in job.steps.items():
            self.classifiers[layer].finish(step)

    def _state(self) -> LearnerState:
        c = self.classifiers
        return LearnerState({layer: c[layer].projection for layer in c}, {layer: c[layer].filter for layer in c},
                            {layer: c[layer].samples() for layer in c}, {layer: c[layer].labels for layer in c},
                            self.memory)

    def _load_state(self, state: LearnerState) -> None:
        for layer, classifier in self.classifiers.items():
            classifier.memory = self.memory
            classifier.projection = state.projections[layer].astype(np.float32)
            classifier.filter = state.filters[layer].astype(np.float32)
            slots = self.memory.capacity
            classifier.load_samples(_slots(state.samples[layer], slots), _slots(state.labels[layer], slots))


def _slots(values: np.ndarray, slots: int) -> np.ndarray:
    """``values`` cut or zero-padded to ``slots`` along the first axis (slots beyond the memory are empty)."""
    if len(values) >= slots:
        return values[:slots]
    return np.concatenate([values, np.zeros((slots - len(values), *values.shape[1:]), values.dtype)])
