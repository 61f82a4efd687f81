"""AFF-ATOM and ATOM tracking (SPEC 1.6) around the exported backbone / IoU-Net / classifier graphs.

Per frame:

1. **Sample**: a square crop of side ``search_area_scale * sqrt(w * h)`` around the last position,
   resized to the backbone's input (288 px); one ``backbone`` call gives the classifier features and
   the IoU-Net features.
2. **Classify**: the ``classifier`` graph scores the crop with the online-learned projections and
   filters (``learning/``); for AFF-ATOM the layer3 and layer4 responses are fused by confidence
   inside the graph.
3. **Localise**: the fused peak, with ATOM's states: ``not_found`` (peak below 0.25), ``uncertain``
   and ``hard_negative`` (a second peak outside the target neighbourhood), ``normal``.
4. **Refine**: unless not found, 10 proposals (the classifier's box + 9 jittered) go through the
   ``iou_refine`` graph (5 gradient-ascent steps inside it); the new box is the mean of the 3 best,
   its size taken at ``refine_size_rate`` (1: as found; less: a share of the change, in log scale).
5. **Learn**: in ``normal`` and ``hard_negative`` frames the sample joins the memory; the filters get
   a Gauss-Newton step every ``train_skipping`` frames, and at once after a hard negative (or spread
   over the next ``update_spread_frames`` frames). ``learner=numpy`` learns on the host in the
   Fourier domain; ``learner=graph`` runs the export's learning graphs (``learning/graph_learner.py``).

Target loss (``edge_tracker.trackers.loss``): a frame below ``target_not_found_threshold`` holds the box
and learns nothing; it is ``uncertain`` until ``lost_after_frames`` such frames in a row make it
``not_found``. While lost, nothing is learnt or updated, and with ``redetect`` every other frame's
sample area is ``redetect_area_factor`` times wider around the held position (the others keep the
usual area, where a target that comes back the way it left shows at full size); a peak of ``target_found_threshold``
or more finds the target again (that frame moves and refines, and learns nothing).

The first frame runs the backbone on ``1 + 1 + 12 + 5 + 4 = 23`` augmented copies of the first crop
(identity, flip, rotations, blurs, shifts) plus 7 feature-dropout copies, learns projection and filter
jointly, and computes the IoU-Net modulation vectors from the unaugmented crop.

Geometry: crop pixel ``(u, v)`` samples image point ``corner + (u + 0.5) * side / sample_size``
(``edge_tracker.geometry``). A classifier response cell ``i`` lies ``(i - (n - 1) / 2) * stride`` crop
pixels from the crop centre (``export.models.classifier``).

On a GPU backend with device memory (``backends/device_memory.py``) features and the graph learner's
state stay on the device; per frame only the ``scores`` and refinement's ``boxes``/``ious`` come down
(what crosses for each learner: docs/decisions.md, "TensorRT and pycuda").

What is fixed when the graphs are exported (``AtomConfig``): the sample size, the number of
proposals and of refinement steps. Everything below can be changed per run.
"""

from __future__ import annotations

import time

import numpy as np

from edge_tracker.backends.base import Runner
from edge_tracker.backends.device_memory import DeviceMemory, HostMemory
from edge_tracker.errors import EdgeTrackerError
from edge_tracker.geometry import box_to_crop
from edge_tracker.preprocess import (
    CropWindow,
    OpenCVPreprocessor,
    Preprocessor,
    atom_sample_window,
    response_grid_side,
)
from edge_tracker.trackers.atom_augment import augmented_crops
from edge_tracker.trackers.atom_params import AtomParams
from edge_tracker.trackers.base import OpenCVStyle, TrackResult, check_init_box
from edge_tracker.trackers.loss import LossMonitor, clip_box
from edge_tracker.trackers.learning import (
    GRAPH_PHASES,
    GraphLearner,
    LearnerSettings,
    NumpyLearner,
    OnlineLearner,
    SolverSettings,
    gaussian_label,
)

PHASES = ("backbone", "iou_modulation", "iou_refine", "classifier")

class AtomTracker(OpenCVStyle):
    """``initialize(frame, box)`` then ``track(frame)``; frames BGR uint8 ``[H, W, 3]``.

    ``preprocessor`` cuts the per-frame sample (default: OpenCV on the host; a GPU kernel on the GPU
    path). The first frame's augmented copies are made on the host from one crop, once per sequence.
    ``device_memory``: the backend's, for what is kept between phases (used if every runner reads it).
    """

    def __init__(self, runners: dict[str, Runner], params: AtomParams | None = None,
                 preprocessor: Preprocessor | None = None, device_memory: DeviceMemory | None = None) -> None:
        missing = sorted(set(PHASES) - set(runners))
        if missing:
            raise EdgeTrackerError(f"ATOM needs phase runners {list(PHASES)}; missing {missing}")
        self.params = params or AtomParams()
        self.preprocessor = preprocessor or OpenCVPreprocessor()
        self.runners = {name: runners[name].activate() for name in PHASES}
        learning = {name: runners[name] for name in GRAPH_PHASES if name in runners}
        self.runners.update(learning)  # activated by the graph learner, which alone runs them
        backbone_out = self.runners["backbone"].output_metadata()
        self.sample_size = self.runners["backbone"].input_metadata()["image"].shape[-1]
        self.cls_layers = tuple(name[len("cls_"):] for name in backbone_out if name.startswith("cls_"))
        self.iou_layers = tuple(name[len("iou_"):] for name in backbone_out if name.startswith("iou_"))
        cls_in = self.runners["classifier"].input_metadata()
        self.proj_dim = cls_in[f"projection_{self.cls_layers[0]}"].shape[0]
        self.filter_size = cls_in[f"filter_{self.cls_layers[0]}"].shape[-1]
        self.score_size = self.runners["classifier"].output_metadata()["scores"].shape[-1]
        self.num_proposals = self.runners["iou_refine"].input_metadata()["proposals"].shape[1]
        # crop pixels per feature cell, read from the graph's shapes (the runtime never imports export/)
        self.strides = {name[len("cls_"):]: self.sample_size // meta.shape[-1]
                        for name, meta in backbone_out.items() if name.startswith("cls_")}
        self.stride = self.strides[self.cls_layers[0]]  # the fused map is on the first layer's grid
        usable = device_memory is not None and (not device_memory.on_device or all(
            r.accepts_device_arrays for r in self.runners.values()))  # else outputs come to the host
        self.device_memory = device_memory if usable else HostMemory()
        self.outputs_to_host = not self.device_memory.on_device  # what the per-frame runners are asked
        self.learner = self._new_learner()
        self.frame_index = -1

    def _new_learner(self) -> OnlineLearner:
        p = self.params
        settings = LearnerSettings(
            solver=SolverSettings(filter_reg=p.filter_reg, projection_reg=p.projection_reg,
                                  projection_init=p.projection_init, seed=p.seed),
            memory_size=p.memory_size, init_min_weight=p.init_samples_minimum_weight,
            init_gn_iterations=p.init_gn_iterations, init_cg_iterations=p.init_cg_iterations,
            update_cg_iterations=p.update_cg_iterations, spread_frames=p.update_spread_frames)
        if p.learner == "graph":
            return GraphLearner(self.cls_layers, settings, self.runners, self.device_memory)
        return NumpyLearner(self.cls_layers, settings, self.proj_dim, self.filter_size)

    # =============================================================================== first frame
    def initialize(self, frame: np.ndarray, box) -> None:
        p = self.params
        x, y, w, h = check_init_box(box, frame)
        self.image_size = np.array(frame.shape[1::-1], dtype=np.float64)  # (width, height)
        self.center = np.array([x + w / 2, y + h / 2])
        self.size = np.array([w, h], dtype=np.float64)
        self.mean_color = frame.reshape(-1, 3).mean(axis=0)
        self.rng = np.random.default_rng(p.seed)
        self.frame_index = 0
        self.monitor = LossMonitor(p.lost_after_frames)
        self.lost_frames = 0  # frames tracked in the lost state so far

        side = self._side()
        images, shifts = self._augmented_crops(frame, side)
        outputs = [self.runners["backbone"].infer({"image": image}) for image in images]
        target_crop = box_to_crop((x, y, w, h), tuple(self.center), side, self.sample_size)

        features, labels = {}, {}
        for layer in self.cls_layers:
            feats = np.concatenate([out[f"cls_{layer}"] for out in outputs])
            features[layer] = np.concatenate([feats, self._dropout_copies(feats[0])])
            all_shifts = shifts + [(0.0, 0.0)] * p.dropout_samples
            labels[layer] = np.stack([self._label(layer, shift, target_crop[2:]) for shift in all_shifts])
        self.init_losses: dict[str, list[float]] = self.learner.initialize(features, labels, self.runners)

        iou_feed = {f"iou_{layer}": outputs[0][f"iou_{layer}"] for layer in self.iou_layers}
        modulation = self.runners["iou_modulation"].infer({**iou_feed, "box": target_crop[None]})
        self.modulation = {f"modulation_{layer}": self.device_memory.upload(modulation[f"modulation_{layer}"])
                           for layer in self.iou_layers}  # where iou_refine reads them every frame

    def _augmented_crops(self, frame: np.ndarray, side: float):
        """The first-frame crops (network input) and where the target centre sits in each (crop px)."""
        if not self.params.augment:
            return [self._crop(frame, side)], [(0.0, 0.0)]
        return augmented_crops(frame, self.center, side, self.sample_size, self.mean_color)

    def _dropout_copies(self, features: np.ndarray) -> np.ndarray:
        """Channel dropout of one sample's features (kept channels scaled by 1 / (1 - rate))."""
        p = self.params
        if p.dropout_samples == 0:
            return features[None][:0]
        keep = self.rng.random((p.dropout_samples, features.shape[0])) >= p.dropout_probability
        return (features[None] * keep[:, :, None, None] / (1.0 - p.dropout_probability)).astype(np.float32)

    def _label(self, layer: str, offset_px, target_size_px) -> np.ndarray:
        """Gaussian label of ``layer``'s response grid, peaked at the target centre ``offset_px``
        (crop pixels from the crop centre) with sigma from the target size (crop pixels)."""
        stride = self.strides[layer]
        cells = response_grid_side(self.sample_size, stride, self.filter_size)
        centre = (cells - 1) / 2
        sigma = self.params.output_sigma_factor * float(np.sqrt(np.prod(target_size_px))) / stride
        return gaussian_label(cells, (centre + offset_px[1] / stride, centre + offset_px[0] / stride),
                              max(sigma, 0.1))

    # =============================================================================== every frame
    def track(self, frame: np.ndarray) -> TrackResult:
        if self.frame_index < 0:
            raise EdgeTrackerError("track() called before initialize(frame, box)")
        p = self.params
        self.frame_index += 1
        timings: dict[str, float] = {}
        start = time.perf_counter()

        lost = self.monitor.lost
        self.lost_frames = self.lost_frames + 1 if lost else 0
        wide = lost and p.redetect and self.lost_frames % 2 == 1  # every other lost frame: the target
        side = self._side() * (p.redetect_area_factor if wide else 1.0)  # often returns where it left
        sample_center = self.center.copy()
        crop_px = side / self.sample_size  # image pixels per crop pixel
        image = self._crop(frame, side)
        timings["crop"] = _lap(start)
        t = time.perf_counter()
        feats = self.runners["backbone"].infer({"image": image}, self.outputs_to_host)  # on a GPU: stay there
        timings["backbone"] = _inference_ms(self.runners["backbone"], t)

        t = time.perf_counter()
        feed = self.learner.classifier_inputs()
        feed.update({f"cls_{layer}": feats[f"cls_{layer}"] for layer in self.cls_layers})
        classified = self.runners["classifier"].infer(feed, self.outputs_to_host)
        scores = self.device_memory.to_host(classified["scores"])[0, 0]  # the one tensor the host decides on
        timings["classifier"] = _inference_ms(self.runners["classifier"], t)

        t = time.perf_counter()
        offset_px, state, score = self._localize(scores, self.size / crop_px)
        state, hold, learn = self._loss_state(state, score, lost)
        timings["localize"] = _lap(t)

        if not hold:
            self.center = self._inside(sample_center + offset_px * crop_px)
            if p.refine:
                t = time.perf_counter()
                self._refine(feats, sample_center, side)
                timings["iou_refine"] = _lap(t)

        t = time.perf_counter()
        if learn and state in ("normal", "hard_negative"):
            target_offset = (self.center - sample_center) / crop_px
            rate = p.hard_negative_learning_rate if state == "hard_negative" else p.learning_rate
            labels = {layer: self._label(layer, target_offset, self.size / crop_px) for layer in self.cls_layers}
            self.learner.add_sample(self._sample({**feats, **classified}), labels, rate, self.runners)
        if not self.monitor.lost and (state == "hard_negative" or self.frame_index % p.train_skipping == 0):
            self.learner.request_update()
        self.learner.advance(self.runners)
        timings["update"] = _lap(t)

        box = clip_box(np.array([*(self.center - self.size / 2), *self.size]), *self.image_size)
        return TrackResult(box=box, score=score, state=state, timings_ms=timings)

    def _loss_state(self, state: str, score: float, lost: bool) -> tuple[str, bool, bool]:
        """The frame's reported state, whether the box holds, whether the sample may be learnt."""
        if lost:
            if state == "not_found" or score < self.params.target_found_threshold:
                return "not_found", True, False
            self.monitor.found()
            return state, False, False  # found: move and refine, but learn from the usual area only
        verdict = self.monitor.observe(state == "not_found")
        if verdict == "doubt":
            return "uncertain", True, False
        return state, state == "not_found", state != "not_found"

    # =============================================================================== pieces
    def _sample(self, outputs: dict) -> dict:
        """The outputs the learner stores: as they are for the graph learner (it copies them on the
        device); host copies of just its ``cls_<layer>`` features for the numpy learner."""
        names = [name for name in self.learner.sample_names() if name in outputs]
        if self.learner.reads_device_arrays:
            return {name: outputs[name] for name in names}
        return {name: self.device_memory.to_host(outputs[name]) for name in names}

    def _localize(self, scores: np.ndarray, target_size_crop: np.ndarray) -> tuple[np.ndarray, str, float]:
        """Peak of the fused map -> (offset from the crop centre in crop pixels, state, peak score).

        ATOM's advanced localisation: after the main peak, the target neighbourhood
        (``target_neighborhood_scale`` x target size) is masked and the second peak decides between
        ``normal``, ``hard_negative`` (a distractor clearly away from the last position) and
        ``uncertain`` (two comparable peaks that cannot be told apart).
        """
        p = self.params
        n = scores.shape[0]
        centre = (n - 1) / 2
        row1, col1 = np.unravel_index(int(np.argmax(scores)), scores.shape)
        score1 = float(scores[row1, col1])
        disp1 = self._peak(scores, row1, col1) - centre
        offset = disp1[::-1] * self.stride  # (row, col) cells -> (x, y) crop pixels
        if score1 < p.target_not_found_threshold:
            return offset, "not_found", score1

        half = p.target_neighborhood_scale * target_size_crop[::-1] / self.stride / 2  # (rows, cols)
        masked = scores.copy()
        top, bottom = max(int(round(row1 - half[0])), 0), min(int(round(row1 + half[0])) + 1, n)
        left, right = max(int(round(col1 - half[1])), 0), min(int(round(col1 + half[1])) + 1, n)
        masked[top:bottom, left:right] = -np.inf
        if not np.isfinite(masked).any():
            return offset, "normal", score1
        row2, col2 = np.unravel_index(int(np.argmax(masked)), masked.shape)
        score2 = float(masked[row2, col2])
        disp2 = np.array([row2, col2], dtype=np.float64) - centre

        if score2 > p.distractor_threshold * score1:
            norm1, norm2 = float(np.hypot(*disp1)), float(np.hypot(*disp2))
            threshold = p.displacement_scale * n / 2
            if norm2 > threshold >= norm1:
                return offset, "hard_negative", score1
            if norm1 > threshold >= norm2:  # the distractor sits where the target was: follow it
                return disp2[::-1] * self.stride, "hard_negative", score1
            return offset, "uncertain", score1
        if score2 > p.hard_negative_threshold * score1 and score2 > p.target_not_found_threshold:
            return offset, "hard_negative", score1
        return offset, "normal", score1

    def _peak(self, scores: np.ndarray, row: int, col: int) -> np.ndarray:
        """Peak position (row, col) in cells, refined by a parabola through each axis' neighbours."""
        peak = np.array([row, col], dtype=np.float64)
        if not self.params.subcell_peak:
            return peak
        for axis, (before, here, after) in enumerate(_neighbours(scores, row, col)):
            if before is None:  # on the border: no neighbour on one side
                continue
            curvature = before - 2 * here + after
            if curvature < 0:
                peak[axis] += float(np.clip(0.5 * (before - after) / curvature, -0.5, 0.5))
        return peak

    def _refine(self, feats: dict, sample_center: np.ndarray, side: float) -> None:
        """IoU-Net refinement of the current box in the sample crop; updates centre and size."""
        p = self.params
        crop_px = side / self.sample_size
        box = box_to_crop([*(self.center - self.size / 2), *self.size], tuple(sample_center), side,
                          self.sample_size).astype(np.float64)
        proposals = self._proposals(box)
        feed = {f"iou_{layer}": feats[f"iou_{layer}"] for layer in self.iou_layers}
        feed.update(self.modulation)
        feed["proposals"] = proposals[None].astype(np.float32)
        out = self.runners["iou_refine"].infer(feed)  # boxes and ious to the host: the box is chosen here
        boxes, ious = out["boxes"][0].astype(np.float64), out["ious"][0].astype(np.float64)
        aspect = boxes[:, 2] / np.where(boxes[:, 3] > 0, boxes[:, 3], np.nan)
        valid = (np.isfinite(boxes).all(axis=1) & np.isfinite(ious) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
                 & (aspect < p.maximal_aspect_ratio) & (aspect > 1 / p.maximal_aspect_ratio))
        if not valid.any():
            return
        boxes, ious = boxes[valid], ious[valid]
        best = np.argsort(-ious, kind="stable")[: p.iou_top_k]
        mean = boxes[best].mean(axis=0)
        centre_crop = mean[:2] + mean[2:] / 2
        self.center = self._inside(sample_center + (centre_crop - self.sample_size / 2) * crop_px)
        refined = mean[2:] * crop_px  # the size the IoU-Net found; taken in part (log scale)
        size = np.exp((1 - p.refine_size_rate) * np.log(self.size) + p.refine_size_rate * np.log(refined))
        self.size = np.clip(size, p.min_target_side, self.image_size)

    def _proposals(self, box: np.ndarray) -> np.ndarray:
        """The box itself and ``num_proposals - 1`` jittered copies, xywh crop pixels."""
        p = self.params
        count = self.num_proposals - 1
        square = float(np.sqrt(box[2] * box[3]))
        jitter = (self.rng.random((count, 4)) - 0.5) * square * np.array(
            [p.box_jitter_position, p.box_jitter_position, p.box_jitter_size, p.box_jitter_size])
        centre = box[:2] + box[2:] / 2 + jitter[:, :2]
        size = np.maximum(box[2:] + jitter[:, 2:], box[2:].min() / 3)
        return np.concatenate([box[None], np.concatenate([centre - size / 2, size], axis=1)])

    def _side(self) -> float:
        return atom_sample_window(self.center, self.size, self.params.search_area_scale).side

    def _crop(self, frame: np.ndarray, side: float) -> np.ndarray:
        """The sample around the current centre; ``side`` from ``_side()`` (ATOM's sample window)."""
        self.preprocessor.set_frame(frame)
        window = CropWindow((float(self.center[0]), float(self.center[1])), side)
        return self.preprocessor.crops([window], self.sample_size, self.mean_color)

    def _inside(self, center: np.ndarray) -> np.ndarray:
        """Keep at least a fifth of the target inside the frame (ATOM's rule)."""
        margin = (0.2 - 0.5) * self.size
        return np.clip(center, margin, self.image_size - margin)


def _neighbours(scores: np.ndarray, row: int, col: int):
    n_rows, n_cols = scores.shape
    vertical = (scores[row - 1, col], scores[row, col], scores[row + 1, col]) if 0 < row < n_rows - 1 else (None,) * 3
    horizontal = (scores[row, col - 1], scores[row, col], scores[row, col + 1]) if 0 < col < n_cols - 1 else (None,) * 3
    return vertical, horizontal


def _lap(start: float) -> float:
    return 1e3 * (time.perf_counter() - start)


def _inference_ms(runner: Runner, start: float) -> float:
    """The runner's own record of its last inference (CUDA events on a GPU), else the host interval."""
    measured = runner.last_inference_ms
    return measured if measured is not None else _lap(start)
