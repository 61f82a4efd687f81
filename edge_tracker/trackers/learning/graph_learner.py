"""The graph learner: every learning step through the export's runners (``learner=graph``).

The phases it runs (``export/classifier_phases.py`` defines them; all classifier layers in one call):

- ``classifier_init`` on the first frame, once per Gauss-Newton step (``init_gn_iterations`` calls):
  the first-frame samples' features, labels and weights + the current projection and filter -> both
  after one joint step of the export's CG iterations, and the samples through the new projection;
- ``classifier_update`` per update: the memory (``memory_<layer>`` ``[M, D, H, W]`` projected
  samples, ``labels_<layer>``, one ``weights`` ``[M]``; empty slots weigh 0) + the filters -> the new
  filters after one Gauss-Newton step of the export's CG iterations;
- ``classifier_linearize`` and ``classifier_cg_step`` when an update is spread over frames (or asks
  for another CG count than the fused graph has): the same step, one unit per call, with the CG state
  (iterate, residual, direction) passed from call to call.

Where the state lives: in buffers the learner owns, made through the tracker's
:class:`~edge_tracker.backends.device_memory.DeviceMemory`: numpy arrays on the host (ONNX
Runtime's CPU provider), device buffers on a GPU (TensorRT). Per layer: the projection and the
filters the classifier reads, the memory (``[M, D, H, W]`` samples, ``[M, Ho, Wo]`` labels), the
weights, and the update's iterate and CG state. Storing a sample copies the ``classifier`` graph's
``projected_<layer>`` output (the sample through the current projection) into its memory slot,
device to device; labels and weights are computed on the host (small) and uploaded. The learning
graphs' outputs are copied into the learner's buffers after each call, because a TensorRT runner's
device outputs are views of its own buffers, overwritten by its next call: feeding one straight
back into the same graph would make it read and write the same memory. The filters are
double-buffered: an update works on the spare set while the classifier reads the current one, and
the two swap when it ends. On a GPU nothing of this comes back to the host between frames; the
first frame (``classifier_init``, once per sequence) learns from host features and uploads its
result.

What the graphs fix at export (slot counts, iteration counts) is read from their shapes, and a
parameter that asks for something else is refused with both values named.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from edge_tracker.backends.base import Runner
from edge_tracker.backends.device_memory import DeviceMemory, HostMemory
from edge_tracker.errors import ConfigError, EdgeTrackerError
from edge_tracker.trackers.learning.learner import LearnerSettings, LearnerState, OnlineLearner, UpdateJob
from edge_tracker.trackers.learning.numpy_learner import initial_projection

INIT, UPDATE, LINEARIZE, CG_STEP = "classifier_init", "classifier_update", "classifier_linearize", "classifier_cg_step"
GRAPH_PHASES = (INIT, UPDATE, LINEARIZE, CG_STEP)


class _GraphUpdate(UpdateJob):
    """An update in progress: ``fused`` (one ``classifier_update`` call) or unit by unit.

    Its tensors are the learner's work buffers, per layer: ``filters`` (the iterate, the spare set
    of filters), ``curvature``, ``residual`` and ``direction`` (the CG state; unit by unit only).
    """

    def __init__(self, fused: bool, cg_iterations: int, filters: dict[str, Any], cg_state: dict[str, dict]) -> None:
        self.fused = fused
        self.units = 1 if fused else 1 + cg_iterations
        self.taken = 0
        self.filters = filters
        self.curvature = cg_state.get("curvature", {})
        self.residual = cg_state.get("residual", {})
        self.direction = cg_state.get("direction", {})

    @property
    def done(self) -> bool:
        return self.taken == self.units


class GraphLearner(OnlineLearner):
    """Learning through the runners of ``GRAPH_PHASES``; the state in buffers of ``device_memory``.

    ``device_memory``: where the state lives (default: the host). A device memory needs runners
    that read device arrays (the tracker checks it); the learning graphs then leave their outputs
    on the device and the learner copies what it keeps.
    """

    reads_device_arrays = True  # it copies the classifier's device outputs into its memory itself

    def __init__(self, layers: tuple[str, ...], settings: LearnerSettings, runners: Mapping[str, Runner],
                 device_memory: DeviceMemory | None = None) -> None:
        super().__init__(layers, settings)
        missing = [name for name in GRAPH_PHASES if name not in runners]
        if missing:
            raise EdgeTrackerError(
                f"learner=graph runs the export's learning graphs {list(GRAPH_PHASES)}, but this model has no "
                f"{missing}: export it again with this version (`python -m export onnx ...`; a cached demo "
                f"export is rebuilt after deleting it), or use learner=numpy")
        for name in GRAPH_PHASES:
            runners[name].activate()
        self.device_memory = device_memory or HostMemory()
        self.outputs_to_host = not self.device_memory.on_device  # what the learning graphs' infer is asked
        init_in = runners[INIT].input_metadata()
        init_out = runners[INIT].output_metadata()
        update_in = runners[UPDATE].input_metadata()
        update_out = runners[UPDATE].output_metadata()
        self.init_slots = init_in["init_weights"].shape[0]
        self.memory_slots = update_in["weights"].shape[0]
        first = self.layers[0]
        self.init_cg = init_out[f"cg_residuals_{first}"].shape[-1] - 1
        self.fused_cg = update_out[f"cg_residuals_{first}"].shape[-1] - 1
        self.shapes = {layer: (update_in[f"memory_{layer}"].shape[1:], update_in[f"labels_{layer}"].shape[1:])
                       for layer in self.layers}
        self._check(settings)
        memory = self.device_memory
        self.filter_reg = memory.upload(np.array([settings.solver.filter_reg], np.float32))
        self.weights = memory.zeros((self.memory_slots,))  # written from the host before each update
        self.spare = {layer: memory.empty(update_in[f"filter_{layer}"].shape) for layer in self.layers}
        self.cg_state: dict[str, dict] = {}  # curvature/residual/direction per layer, made by the first spread update
        self.held: list[dict[str, Any]] = []  # copies of the samples that wait for an update to end
        self.projections: dict[str, Any] = {}
        self.filters: dict[str, Any] = {}
        self.samples: dict[str, Any] = {}
        self.labels: dict[str, Any] = {}

    def _check(self, s: LearnerSettings) -> None:
        if s.memory_size > self.memory_slots:
            raise ConfigError(f"memory_size={s.memory_size}, but the export's classifier_update graph holds "
                              f"{self.memory_slots} samples: lower memory_size, export with a larger "
                              f"learner_memory_size, or use learner=numpy")
        if s.init_cg_iterations != self.init_cg:
            raise ConfigError(
                f"init_cg_iterations={s.init_cg_iterations}, but the export's classifier_init graph unrolls "
                f"{self.init_cg} CG iterations: set it to {self.init_cg}, export with learner_init_cg_iterations="
                f"{s.init_cg_iterations}, or use learner=numpy")

    # ------------------------------------------------------------------ first frame
    def _initialize(self, features, labels, runners) -> dict[str, list[float]]:
        """First-frame learning on the host (once per sequence: its losses are read after every
        Gauss-Newton step), then the result uploaded into the learner's buffers."""
        count = len(features[self.layers[0]])
        if count > self.init_slots:
            raise ConfigError(f"{count} first-frame samples, but the export's classifier_init graph takes "
                              f"{self.init_slots}: use fewer augmentations or dropout_samples, export with a "
                              f"larger learner_init_samples, or use learner=numpy")
        s = self.settings
        weights = np.zeros(self.init_slots, np.float32)
        weights[:count] = self.memory.weights[:count]
        feed = {"init_weights": weights, "filter_reg": np.array([s.solver.filter_reg], np.float32),
                "projection_reg": np.array([s.solver.projection_reg], np.float32)}
        for layer in self.layers:
            feats = features[layer].astype(np.float32)
            dim, k = self._filter_shape(runners, layer)
            start = initial_projection(feats, dim, s.solver)
            feed[f"init_cls_{layer}"] = _padded(feats, self.init_slots)
            feed[f"init_labels_{layer}"] = _padded(labels[layer].astype(np.float32), self.init_slots)
            feed[f"init_projection_{layer}"] = np.ascontiguousarray(start[:, :, None, None])
            feed[f"init_filter_{layer}"] = np.zeros((1, dim, k, k), np.float32)
        losses = {layer: [] for layer in self.layers}
        self.init_cg_norms = {layer: [] for layer in self.layers}
        out = None
        for _ in range(s.init_gn_iterations):  # one joint Gauss-Newton step per call
            out = runners[INIT].infer(feed)
            for layer in self.layers:
                feed[f"init_projection_{layer}"] = out[f"projection_{layer}"]
                feed[f"init_filter_{layer}"] = out[f"filter_{layer}"]
                before, after = (float(v) for v in out[f"losses_{layer}"])
                losses[layer][-1:] = [before, after]
                self.init_cg_norms[layer].append(out[f"cg_residuals_{layer}"])
        memory = self.device_memory
        for layer in self.layers:
            sample_shape, label_shape = self.shapes[layer]
            samples = np.zeros((self.memory_slots, *sample_shape), np.float32)
            if out is not None:
                samples[:count] = out[f"projected_{layer}"][:count]
            else:  # no Gauss-Newton step: the start projection as it is
                start = feed[f"init_projection_{layer}"][:, :, 0, 0]
                samples[:count] = np.einsum("dc,nchw->ndhw", start, features[layer])
            layer_labels = np.zeros((self.memory_slots, *label_shape), np.float32)
            layer_labels[:count] = labels[layer]
            self.projections[layer] = memory.upload(feed[f"init_projection_{layer}"])
            self.filters[layer] = memory.upload(feed[f"init_filter_{layer}"])
            self.samples[layer] = memory.upload(samples)
            self.labels[layer] = memory.upload(layer_labels)
        return losses

    def _filter_shape(self, runners, layer: str) -> tuple[int, int]:
        shape = runners[INIT].input_metadata()[f"init_filter_{layer}"].shape
        return shape[1], shape[-1]

    def classifier_inputs(self) -> dict[str, Any]:
        feed = {}
        for layer in self.layers:
            feed[f"projection_{layer}"] = self.projections[layer]
            feed[f"filter_{layer}"] = self.filters[layer]
        return feed

    def sample_names(self) -> tuple[str, ...]:
        return tuple(f"projected_{layer}" for layer in self.layers)

    # ------------------------------------------------------------------ later frames
    def _projected(self, sample, layer: str):
        key = f"projected_{layer}"
        if key not in sample:
            raise EdgeTrackerError(f"learner=graph stores the classifier graph's '{key}' output, which this "
                                   f"export's classifier lacks: export it again with this version")
        return sample[key]

    def _hold(self, sample) -> dict[str, Any]:
        # the classifier's output is overwritten by its next call (a TensorRT runner's own buffer),
        # and this sample waits frames for the update to end: keep a copy, one set of buffers per place in line
        place = len(self.waiting)
        if place == len(self.held):
            self.held.append({layer: self.device_memory.empty(self.shapes[layer][0]) for layer in self.layers})
        held = {}
        for layer in self.layers:
            self.device_memory.copy(self.held[place][layer], self._projected(sample, layer))
            held[f"projected_{layer}"] = self.held[place][layer]
        return held

    def _store(self, slot, sample, labels, runners) -> None:
        for layer in self.layers:
            self.device_memory.copy_into_slot(self.samples[layer], slot, self._projected(sample, layer))
            self.device_memory.copy_into_slot(self.labels[layer], slot, np.asarray(labels[layer], np.float32))

    def _memory_feed(self) -> dict[str, Any]:
        weights = np.zeros(self.memory_slots, np.float32)
        weights[: self.memory.capacity] = self.memory.weights
        self.device_memory.copy(self.weights, weights)
        feed = {"weights": self.weights, "filter_reg": self.filter_reg}
        for layer in self.layers:
            feed[f"memory_{layer}"] = self.samples[layer]
            feed[f"labels_{layer}"] = self.labels[layer]
            feed[f"filter_{layer}"] = self.filters[layer]
        return feed

    def _start_update(self, runners, spread: bool) -> _GraphUpdate:
        cg = self.settings.update_cg_iterations
        fused = not spread and cg == self.fused_cg
        if not fused:
            for layer in self.layers:  # the CG iterate starts at the current filters
                self.device_memory.copy(self.spare[layer], self.filters[layer])
            if not self.cg_state:
                self.cg_state = self._new_cg_state(runners)
        return _GraphUpdate(fused, cg, self.spare, self.cg_state)

    def _new_cg_state(self, runners) -> dict[str, dict]:
        outputs = runners[LINEARIZE].output_metadata()
        state: dict[str, dict] = {"curvature": {}, "residual": {}, "direction": {}}
        for layer in self.layers:
            state["curvature"][layer] = self.device_memory.empty(outputs[f"curvature_{layer}"].shape)
            for name in ("residual", "direction"):
                state[name][layer] = self.device_memory.empty(outputs[f"cg_residual_{layer}"].shape)
        return state

    def _step(self, job: _GraphUpdate, runners) -> None:
        copy = self.device_memory.copy
        if job.fused:
            out = runners[UPDATE].infer(self._memory_feed(), self.outputs_to_host)
            for layer in self.layers:
                copy(job.filters[layer], out[f"updated_filter_{layer}"])
        elif job.taken == 0:
            out = runners[LINEARIZE].infer(self._memory_feed(), self.outputs_to_host)
            for layer in self.layers:
                copy(job.curvature[layer], out[f"curvature_{layer}"])
                copy(job.residual[layer], out[f"cg_residual_{layer}"])
                copy(job.direction[layer], out[f"cg_residual_{layer}"])
        else:
            feed = {"filter_reg": self.filter_reg}
            for layer in self.layers:
                feed.update({f"memory_{layer}": self.samples[layer], f"curvature_{layer}": job.curvature[layer],
                             f"cg_filter_{layer}": job.filters[layer], f"cg_residual_{layer}": job.residual[layer],
                             f"cg_direction_{layer}": job.direction[layer]})
            out = runners[CG_STEP].infer(feed, self.outputs_to_host)
            # back into the buffers this call read: the copies are ordered after it (same stream)
            for layer in self.layers:
                copy(job.filters[layer], out[f"next_filter_{layer}"])
                copy(job.residual[layer], out[f"next_residual_{layer}"])
                copy(job.direction[layer], out[f"next_direction_{layer}"])
        job.taken += 1

    def _finish(self, job: _GraphUpdate) -> None:
        for layer in self.layers:  # the iterate becomes the current filters; the old ones the spare
            self.filters[layer], self.spare[layer] = job.filters[layer], self.filters[layer]

    def _state(self) -> LearnerState:
        host = self.device_memory.to_host
        return LearnerState({layer: host(p)[:, :, 0, 0] for layer, p in self.projections.items()},
                            {layer: host(f)[0] for layer, f in self.filters.items()},
                            {layer: host(v) for layer, v in self.samples.items()},
                            {layer: host(v) for layer, v in self.labels.items()}, self.memory)

    def _load_state(self, state: LearnerState) -> None:
        self._check(dataclasses.replace(self.settings, memory_size=self.memory.capacity))
        upload = self.device_memory.upload
        for layer in self.layers:
            self.projections[layer] = upload(np.ascontiguousarray(state.projections[layer][:, :, None, None], np.float32))
            self.filters[layer] = upload(np.ascontiguousarray(state.filters[layer][None], np.float32))
            self.samples[layer] = upload(_padded(state.samples[layer][: self.memory_slots], self.memory_slots))
            self.labels[layer] = upload(_padded(state.labels[layer][: self.memory_slots], self.memory_slots))


def _padded(values: np.ndarray, slots: int) -> np.ndarray:
    """``values`` ``[N, ...]`` in the first N of ``slots`` zero slots (weight 0 makes them count for nothing)."""
    out = np.zeros((slots, *values.shape[1:]), np.float32)
    out[: len(values)] = values
    return out
