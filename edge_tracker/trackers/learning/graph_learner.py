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

The memory tensors live with the learner between frames and inserting a sample writes one slot: the
``classifier`` graph's ``projected_<layer>`` output (the sample through the current projection). On
ONNX Runtime's CPU provider they are numpy arrays; a device-resident memory (TensorRT, pycuda) would
write the slot with one device copy instead, and feed the same tensors.

What the graphs fix at export (slot counts, iteration counts) is read from their shapes, and a
parameter that asks for something else is refused with both values named.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from edge_tracker.backends.base import Runner
from edge_tracker.errors import ConfigError, EdgeTrackerError
from edge_tracker.trackers.learning.learner import LearnerSettings, LearnerState, OnlineLearner, UpdateJob
from edge_tracker.trackers.learning.numpy_learner import initial_projection

INIT, UPDATE, LINEARIZE, CG_STEP = "classifier_init", "classifier_update", "classifier_linearize", "classifier_cg_step"
GRAPH_PHASES = (INIT, UPDATE, LINEARIZE, CG_STEP)


class _GraphUpdate(UpdateJob):
    """An update in progress: ``fused`` (one ``classifier_update`` call) or unit by unit."""

    def __init__(self, fused: bool, cg_iterations: int, filters: dict[str, np.ndarray]) -> None:
        self.fused = fused
        self.units = 1 if fused else 1 + cg_iterations
        self.taken = 0
        self.filters = filters  # the iterate (starts at the current filters)
        self.curvature: dict[str, np.ndarray] = {}
        self.residual: dict[str, np.ndarray] = {}
        self.direction: dict[str, np.ndarray] = {}

    @property
    def done(self) -> bool:
        return self.taken == self.units


class GraphLearner(OnlineLearner):
    """Learning through the runners of ``GRAPH_PHASES``; the memory as fixed-size host tensors."""

    def __init__(self, layers: tuple[str, ...], settings: LearnerSettings, runners: Mapping[str, Runner]) -> None:
        super().__init__(layers, settings)
        missing = [name for name in GRAPH_PHASES if name not in runners]
        if missing:
            raise EdgeTrackerError(
                f"learner=graph runs the export's learning graphs {list(GRAPH_PHASES)}, but this model has no "
                f"{missing}: export it again with this version (`python -m export onnx ...`; a cached demo "
                f"export is rebuilt after deleting it), or use learner=numpy")
        for name in GRAPH_PHASES:
            runners[name].activate()
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
        self.projections: dict[str, np.ndarray] = {}
        self.filters: dict[str, np.ndarray] = {}
        self.samples: dict[str, np.ndarray] = {}
        self.labels: dict[str, np.ndarray] = {}

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
        count = len(features[self.layers[0]])
        if count > self.init_slots:
            raise ConfigError(f"{count} first-frame samples, but the export's classifier_init graph takes "
                              f"{self.init_slots}: use fewer augmentations or dropout_samples, export with a "
                              f"larger learner_init_samples, or use learner=numpy")
        s = self.settings
        weights = np.zeros(self.init_slots, np.float32)
        weights[:count] = self.memory.weights[:count]
        feed = {"init_weights": weights, **self._regs(with_projection=True)}
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
        for layer in self.layers:
            self.projections[layer] = feed[f"init_projection_{layer}"]
            self.filters[layer] = feed[f"init_filter_{layer}"]
            sample_shape, label_shape = self.shapes[layer]
            self.samples[layer] = np.zeros((self.memory_slots, *sample_shape), np.float32)
            self.labels[layer] = np.zeros((self.memory_slots, *label_shape), np.float32)
            self.labels[layer][:count] = labels[layer]
            if out is not None:
                self.samples[layer][:count] = out[f"projected_{layer}"][:count]
            else:  # no Gauss-Newton step: the start projection as it is
                start = feed[f"init_projection_{layer}"][:, :, 0, 0]
                self.samples[layer][:count] = np.einsum("dc,nchw->ndhw", start, features[layer])
        return losses

    def _filter_shape(self, runners, layer: str) -> tuple[int, int]:
        shape = runners[INIT].input_metadata()[f"init_filter_{layer}"].shape
        return shape[1], shape[-1]

    def classifier_inputs(self) -> dict[str, np.ndarray]:
        feed = {}
        for layer in self.layers:
            feed[f"projection_{layer}"] = self.projections[layer]
            feed[f"filter_{layer}"] = self.filters[layer]
        return feed

    # ------------------------------------------------------------------ later frames
    def _store(self, slot, sample, labels, runners) -> None:
        for layer in self.layers:
            key = f"projected_{layer}"
            if key not in sample:
                raise EdgeTrackerError(f"learner=graph stores the classifier graph's '{key}' output, which this "
                                       f"export's classifier lacks: export it again with this version")
            self.samples[layer][slot] = sample[key][0]
            self.labels[layer][slot] = labels[layer]

    def _regs(self, with_projection: bool = False) -> dict[str, np.ndarray]:
        solver = self.settings.solver
        regs = {"filter_reg": np.array([solver.filter_reg], np.float32)}
        if with_projection:
            regs["projection_reg"] = np.array([solver.projection_reg], np.float32)
        return regs

    def _memory_feed(self) -> dict[str, np.ndarray]:
        weights = np.zeros(self.memory_slots, np.float32)
        weights[: self.memory.capacity] = self.memory.weights
        feed = {"weights": weights, **self._regs()}
        for layer in self.layers:
            feed[f"memory_{layer}"] = self.samples[layer]
            feed[f"labels_{layer}"] = self.labels[layer]
            feed[f"filter_{layer}"] = self.filters[layer]
        return feed

    def _start_update(self, runners, spread: bool) -> _GraphUpdate:
        cg = self.settings.update_cg_iterations
        fused = not spread and cg == self.fused_cg
        return _GraphUpdate(fused, cg, dict(self.filters))

    def _step(self, job: _GraphUpdate, runners) -> None:
        if job.fused:
            out = runners[UPDATE].infer(self._memory_feed())
            job.filters = {layer: out[f"updated_filter_{layer}"] for layer in self.layers}
        elif job.taken == 0:
            out = runners[LINEARIZE].infer(self._memory_feed())
            for layer in self.layers:
                job.curvature[layer] = out[f"curvature_{layer}"]
                job.residual[layer] = job.direction[layer] = out[f"cg_residual_{layer}"]
        else:
            feed = self._regs()
            for layer in self.layers:
                feed.update({f"memory_{layer}": self.samples[layer], f"curvature_{layer}": job.curvature[layer],
                             f"cg_filter_{layer}": job.filters[layer], f"cg_residual_{layer}": job.residual[layer],
                             f"cg_direction_{layer}": job.direction[layer]})
            out = runners[CG_STEP].infer(feed)
            for layer in self.layers:
                job.filters[layer] = out[f"next_filter_{layer}"]
                job.residual[layer] = out[f"next_residual_{layer}"]
                job.direction[layer] = out[f"next_direction_{layer}"]
        job.taken += 1

    def _finish(self, job: _GraphUpdate) -> None:
        self.filters = dict(job.filters)

    def _state(self) -> LearnerState:
        return LearnerState({layer: p[:, :, 0, 0] for layer, p in self.projections.items()},
                            {layer: f[0] for layer, f in self.filters.items()}, self.samples, self.labels, self.memory)

    def _load_state(self, state: LearnerState) -> None:
        self._check(dataclasses.replace(self.settings, memory_size=self.memory.capacity))
        for layer in self.layers:
            self.projections[layer] = np.ascontiguousarray(state.projections[layer][:, :, None, None], np.float32)
            self.filters[layer] = np.ascontiguousarray(state.filters[layer][None], np.float32)
            self.samples[layer] = _padded(state.samples[layer][: self.memory_slots], self.memory_slots)
            self.labels[layer] = _padded(state.labels[layer][: self.memory_slots], self.memory_slots)


def _padded(values: np.ndarray, slots: int) -> np.ndarray:
    """``values`` ``[N, ...]`` in the first N of ``slots`` zero slots (weight 0 makes them count for nothing)."""
    out = np.zeros((slots, *values.shape[1:]), np.float32)
    out[: len(values)] = values
    return out
