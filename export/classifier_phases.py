"""The online classifier's learning as exported phases (SPEC 1.6): all classifier layers in one graph each.

- ``classifier_init`` (first frame, called ``init_gn_iterations`` times): the first-frame samples'
  features, labels and weights + the current projection and filter -> both after one joint
  Gauss-Newton step of ``learner_init_cg_iterations`` CG iterations, the samples through the new
  projection (the memory's first slots), the loss before and after, and the CG trace.
- ``classifier_update`` (every ``train_skipping`` frames and on hard negatives): the sample memory
  (``learner_memory_size`` slots of projected samples; empty slots weigh 0) + labels + weights + the
  current filter -> the filter after one Gauss-Newton step of ``learner_update_cg_iterations`` CG
  iterations.
- ``classifier_linearize`` + ``classifier_cg_step`` (an update spread over frames): the same step
  one unit per call; the CG state (iterate, residual, direction) goes out and comes back in.

Why ``classifier_init`` is one Gauss-Newton step and not all six unrolled: the six steps of ten CG
iterations made a 226,000-node graph whose export took five minutes on 2 cores; one step exports in
seconds, and the tracker feeds projection and filter back (six calls on the first frame, once per
sequence). CG iterations stay unrolled inside each graph.

Parity at export time (PyTorch against ONNX Runtime, the fp32 tolerance) is checked on zero-mean
random features (``_LearningSamples``), where the normal equations are well conditioned and two
float32 implementations agree to ~1e-5 through every unrolled iteration. Rectified features have a
strong mean: the normal operator's largest eigenvalue then dwarfs the rest, a float32 product
``H p`` carries an error of ``eps * lambda_max * |p|`` into the low-curvature components, and a few
CG iterations in two float32 implementations end ~10% apart in the filter (float32 against float64
too) while their losses agree to ~1e-3. The parity tests against the numpy twin measure losses,
filters and response maps on that real case (tests/export/test_classifier_phases.py).
"""

from __future__ import annotations

import torch
from torch import nn

from edge_tracker.preprocess.geometry import response_grid_side
from export.models.atom_net import AtomNet
from export.models.classifier_learning import (
    FilterLinearization,
    JointLinearization,
    cg_step,
    filter_response,
    gauss_newton_step,
    normal_filter,
    project,
)
from export.models.config import LAYER_STRIDES, AtomConfig
from export.phase_spec import Phase, TensorSpec

# When each phase runs (the manifest's "cadence"): what the profiler and the TensorRT runner plan by.
ONCE_PER_SEQUENCE, EVERY_FRAME = "sequence", "frame"
PER_UPDATE, PER_UPDATE_UNIT = "update", "update_unit"


class ClassifierInit(nn.Module):
    """One joint Gauss-Newton step over projection and filter, per layer (inputs: see ``learning_phases``)."""

    def __init__(self, cfg: AtomConfig) -> None:
        super().__init__()
        self.layers, self.alpha, self.cg = cfg.classifier_layers, cfg.response_alpha, cfg.learner_init_cg_iterations

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        count = len(self.layers)
        weights, filter_reg, projection_reg = args[4 * count:]
        outputs = []
        for i in range(count):
            features, labels, projection, filt = args[4 * i: 4 * i + 4]
            point = JointLinearization(features, labels, weights, projection[:, :, 0, 0], filt, filter_reg,
                                       projection_reg, self.alpha)
            (new_projection, new_filter), norms = gauss_newton_step(point, self.cg)
            after = JointLinearization(features, labels, weights, new_projection, new_filter, filter_reg,
                                       projection_reg, self.alpha)
            outputs += [new_projection[:, :, None, None], new_filter, after.samples,
                        torch.cat([point.loss.reshape(1), after.loss.reshape(1)]), norms]
        return tuple(outputs)


class ClassifierUpdate(nn.Module):
    """One Gauss-Newton step on each layer's filter over the memory (fused: all units in one graph)."""

    def __init__(self, cfg: AtomConfig) -> None:
        super().__init__()
        self.layers, self.alpha, self.cg = cfg.classifier_layers, cfg.response_alpha, cfg.learner_update_cg_iterations

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        count = len(self.layers)
        weights, filter_reg = args[3 * count:]
        outputs = []
        for i in range(count):
            memory, labels, filt = args[3 * i: 3 * i + 3]
            point = FilterLinearization(memory, labels, weights, filt, filter_reg, self.alpha)
            (new_filter,), norms = gauss_newton_step(point, self.cg)
            outputs += [new_filter, point.loss.reshape(1), norms]
        return tuple(outputs)


class ClassifierLinearize(nn.Module):
    """The first unit of a spread update: curvature and the CG start (residual = direction = rhs)."""

    def __init__(self, cfg: AtomConfig) -> None:
        super().__init__()
        self.layers, self.alpha = cfg.classifier_layers, cfg.response_alpha

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        count = len(self.layers)
        weights, filter_reg = args[3 * count:]
        outputs = []
        for i in range(count):
            memory, labels, filt = args[3 * i: 3 * i + 3]
            point = FilterLinearization(memory, labels, weights, filt, filter_reg, self.alpha)
            (gradient,) = point.gradient()
            outputs += [point.curvature, -gradient, point.loss.reshape(1)]
        return tuple(outputs)


class ClassifierCgStep(nn.Module):
    """One CG iteration of a spread update, per layer."""

    def __init__(self, cfg: AtomConfig) -> None:
        super().__init__()
        self.layers = cfg.classifier_layers

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        count = len(self.layers)
        (filter_reg,) = args[5 * count:]
        outputs = []
        for i in range(count):
            memory, curvature, filt, residual, direction = args[5 * i: 5 * i + 5]

            def apply(v, memory=memory, curvature=curvature):
                return normal_filter(memory, curvature, filter_reg, v)

            (new_filter,), (new_residual,), (new_direction,) = cg_step(apply, (filt,), (residual,), (direction,))
            outputs += [new_filter, new_residual, new_direction]
        return tuple(outputs)


def learning_phases(net: AtomNet) -> list[Phase]:
    """The four learning phases of an ATOM-family ``net`` (inputs and outputs per classifier layer)."""
    cfg: AtomConfig = net.config
    size, k, d = cfg.sample_size, cfg.cls_filter_size, cfg.cls_proj_dim
    slots, memory = cfg.learner_init_samples, cfg.learner_memory_size
    shapes = {}
    for layer in cfg.classifier_layers:
        side = size // LAYER_STRIDES[layer]
        cells = response_grid_side(size, LAYER_STRIDES[layer], k)
        shapes[layer] = (cfg.layer_channels(layer), side, cells)

    def spec(name, shape, what, diagnostic=False):
        return TensorSpec(name, tuple(shape), what, diagnostic=diagnostic)

    regs = {"filter_reg": spec("filter_reg", (1,), "filter regularisation weight"),
            "projection_reg": spec("projection_reg", (1,), "projection regularisation weight")}
    init_in, init_out, mem_in, update_out, lin_out, step_in, step_out = [], [], [], [], [], [], []
    for layer, (channels, side, cells) in shapes.items():
        init_in += [spec(f"init_cls_{layer}", (slots, channels, side, side), f"first-frame samples' {layer} features"),
                    spec(f"init_labels_{layer}", (slots, cells, cells), "their Gaussian labels"),
                    spec(f"init_projection_{layer}", (d, channels, 1, 1), "projection to start from"),
                    spec(f"init_filter_{layer}", (1, d, k, k), "filter to start from")]
        init_out += [spec(f"projection_{layer}", (d, channels, 1, 1), "projection after the step"),
                     spec(f"filter_{layer}", (1, d, k, k), "filter after the step"),
                     spec(f"projected_{layer}", (slots, d, side, side), "the samples through that projection"),
                     spec(f"losses_{layer}", (2,), "loss before and after the step", diagnostic=True),
                     spec(f"cg_residuals_{layer}", (cfg.learner_init_cg_iterations + 1,),
                          "squared CG residual at the start and after each iteration", diagnostic=True)]
        mem_in += [spec(f"memory_{layer}", (memory, d, side, side), "projected samples, one per slot"),
                   spec(f"labels_{layer}", (memory, cells, cells), "their labels"),
                   spec(f"filter_{layer}", (1, d, k, k), "current filter")]
        update_out += [spec(f"updated_filter_{layer}", (1, d, k, k), "filter after the step"),
                       spec(f"loss_{layer}", (1,), "loss at the current filter", diagnostic=True),
                       spec(f"cg_residuals_{layer}", (cfg.learner_update_cg_iterations + 1,),
                            "squared CG residual at the start and after each iteration", diagnostic=True)]
        lin_out += [spec(f"curvature_{layer}", (memory, cells, cells), "weight x activation slope squared"),
                    spec(f"cg_residual_{layer}", (1, d, k, k), "CG residual (= direction) to start from"),
                    spec(f"loss_{layer}", (1,), "loss at the current filter", diagnostic=True)]
        step_in += [mem_in[-3], lin_out[-3],
                    spec(f"cg_filter_{layer}", (1, d, k, k), "CG iterate (filter)"),
                    spec(f"cg_residual_{layer}", (1, d, k, k), "CG residual"),
                    spec(f"cg_direction_{layer}", (1, d, k, k), "CG direction")]
        step_out += [spec(f"next_filter_{layer}", (1, d, k, k), "iterate after the step"),
                     spec(f"next_residual_{layer}", (1, d, k, k), "residual after the step"),
                     spec(f"next_direction_{layer}", (1, d, k, k), "direction after the step")]
    weights = spec("weights", (memory,), "sample weights (0 in empty slots)")
    init_in += [spec("init_weights", (slots,), "first-frame sample weights (0 in unused slots)"),
                regs["filter_reg"], regs["projection_reg"]]
    mem_in += [weights, regs["filter_reg"]]
    step_in += [regs["filter_reg"]]

    light = {"light_optimization": True}
    return [
        Phase("classifier_init", ClassifierInit(cfg), tuple(init_in), tuple(init_out), "once per sequence",
                   f"one joint Gauss-Newton step of {cfg.learner_init_cg_iterations} CG iterations over projection "
                   "and filter on the first-frame samples (called init_gn_iterations times)",
                   lambda g: _LearningSamples(cfg, shapes, g).init(), cadence=ONCE_PER_SEQUENCE, **light),
        Phase("classifier_update", ClassifierUpdate(cfg), tuple(mem_in), tuple(update_out),
                   "every train_skipping frames and on hard negatives",
                   f"one Gauss-Newton step of {cfg.learner_update_cg_iterations} CG iterations on the filters over "
                   f"the {memory}-slot sample memory",
                   lambda g: _LearningSamples(cfg, shapes, g).update(), cadence=PER_UPDATE, **light),
        Phase("classifier_linearize", ClassifierLinearize(cfg), tuple(mem_in), tuple(lin_out),
                   "first unit of an update spread over frames (update_spread_frames > 0)",
                   "the filter update's linearisation: curvature over the memory and the CG start",
                   lambda g: _LearningSamples(cfg, shapes, g).update(), cadence=PER_UPDATE_UNIT, **light),
        Phase("classifier_cg_step", ClassifierCgStep(cfg), tuple(step_in), tuple(step_out),
                   "each further unit of an update spread over frames (update_spread_frames > 0)",
                   "one CG iteration of the filter update over the memory",
                   lambda g: _LearningSamples(cfg, shapes, g).cg_step(), cadence=PER_UPDATE_UNIT, **light),
    ]


class _LearningSamples:
    """Random inputs of the learning phases for the export-time check (PyTorch vs ONNX Runtime).

    Shaped like a tracker's (Gaussian labels, weights summing to 1 with empty slots at 0, a memory
    not yet full, responses of order 1) but with zero-mean features: the check is of the graph's
    arithmetic, and zero-mean features keep the normal equations well conditioned, so that two
    float32 implementations agree to a few ulps through every unrolled CG iteration. Real, rectified
    features make the system ill-conditioned (see the module docstring); the parity tests against
    the numpy twin measure that case, from a real tracking state.
    """

    def __init__(self, cfg: AtomConfig, shapes, generator: torch.Generator) -> None:
        self.cfg, self.shapes, self.g = cfg, shapes, generator

    def _labels(self, count: int, cells: int) -> torch.Tensor:
        grid = torch.arange(cells, dtype=torch.float32)
        centre = (cells - 1) / 2 + 1.5 * torch.randn(count, 2, generator=self.g)
        sigma = 0.25 * cells / 5  # ATOM: a quarter of the target side, the target a fifth of the crop
        rows = torch.exp(-0.5 * ((grid[None] - centre[:, :1]) / sigma) ** 2)
        cols = torch.exp(-0.5 * ((grid[None] - centre[:, 1:]) / sigma) ** 2)
        return rows[:, :, None] * cols[:, None, :]

    def init(self) -> tuple[torch.Tensor, ...]:
        cfg, g = self.cfg, self.g
        slots, d, k = cfg.learner_init_samples, cfg.cls_proj_dim, cfg.cls_filter_size
        used = slots - 2  # the tracker's count may be below the graph's slots: those weigh 0
        args = []
        for channels, side, cells in self.shapes.values():
            features = torch.randn(slots, channels, side, side, generator=g)
            labels = self._labels(slots, cells)
            features[used:], labels[used:] = 0, 0
            projection = torch.randn(d, channels, 1, 1, generator=g) / channels ** 0.5
            filt = 0.01 * torch.randn(1, d, k, k, generator=g)
            args += [features, labels, projection, filt]
        weights = torch.zeros(slots)
        weights[:used] = 1.0 / used
        return tuple(args) + (weights, torch.tensor([0.1]), torch.tensor([1e-4]))

    def _memory(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        cfg, g = self.cfg, self.g
        slots, d, k = cfg.learner_memory_size, cfg.cls_proj_dim, cfg.cls_filter_size
        layers = []
        for channels, side, cells in self.shapes.values():
            features = torch.randn(slots, channels, side, side, generator=g)
            projection = torch.randn(d, channels, generator=g) / channels ** 0.5
            memory = project(features, projection)
            filt = torch.randn(1, d, k, k, generator=g)
            filt = filt / filter_response(memory[:1], filt).abs().max()  # responses of order 1
            layers.append((memory, self._labels(slots, cells), filt))
        return layers

    def _weights(self) -> torch.Tensor:
        slots = self.cfg.learner_memory_size
        used = slots * 4 // 5  # a memory not yet full: the rest weigh 0
        weights = torch.zeros(slots)
        weights[:used] = torch.rand(used, generator=self.g) + 0.1
        return weights / weights.sum()

    def update(self) -> tuple[torch.Tensor, ...]:
        args = []
        for memory, labels, filt in self._memory():
            args += [memory, labels, filt]
        return tuple(args) + (self._weights(), torch.tensor([0.1]))

    def cg_step(self) -> tuple[torch.Tensor, ...]:
        weights, alpha = self._weights(), self.cfg.response_alpha
        args = []
        for memory, labels, filt in self._memory():
            point = FilterLinearization(memory, labels, weights, filt, torch.tensor([0.1]), alpha)
            (gradient,) = point.gradient()  # the state after linearising: residual = direction = rhs
            args += [memory, point.curvature, filt, -gradient, -gradient]
        return tuple(args) + (torch.tensor([0.1]),)
