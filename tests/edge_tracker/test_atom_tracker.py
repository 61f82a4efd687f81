"""AFF-ATOM / ATOM tracking: localisation states and step geometry on controlled score maps, the
first-frame learning on real exported graphs, and ONNX Runtime vs PyTorch agreement."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest

from edge_tracker.backends import load_runners
from edge_tracker.errors import ConfigError, InputError
from edge_tracker.trackers import build_tracker
from edge_tracker.trackers.atom import AtomParams, AtomTracker
from edge_tracker.trackers.learning import LayerClassifier, mlu
from tests.conftest import REPO_ROOT, read_otb_sequence
from tests.edge_tracker.stand_ins import FixedResponse, metas

SIZE, STRIDE, CELLS = 288, 16, 19  # plain-ATOM shapes: layer3 grid 18x18, 19x19 scores
CENTRE = (CELLS - 1) / 2


def _peaks(*peaks, sigma=0.8):
    """A score map with Gaussian peaks ``(row, col, height)``."""
    grid = np.arange(CELLS, dtype=np.float64)
    scores = np.zeros((CELLS, CELLS))
    for row, col, height in peaks:
        bump = height * np.exp(-((grid[:, None] - row) ** 2 + (grid[None] - col) ** 2) / (2 * sigma ** 2))
        scores = np.maximum(scores, bump)
    return scores.astype(np.float32)


class StandInNetworks:
    """ATOM's four phases as stand-ins: features from the crop, a chosen score map, chosen refinement."""

    def __init__(self, scores=None, refine_shift=(0.0, 0.0), ious=None):
        self.scores = _peaks((CENTRE, CENTRE, 0.9)) if scores is None else scores
        self.refine_shift = np.array(refine_shift, dtype=np.float32)
        self.ious = ious
        self.proposals = []
        rng = np.random.default_rng(0)
        self.basis = rng.standard_normal((256, 3)).astype(np.float32)

    def runners(self):
        def backbone(feed):
            pooled = feed["image"][0].reshape(3, 18, 16, 18, 16).mean(axis=(2, 4)) / 255.0
            cls = np.maximum(np.einsum("ck,khw->chw", self.basis, pooled), 0)[None]
            return {"cls_layer3": cls.astype(np.float32),
                    "iou_layer2": np.zeros((1, 128, 36, 36), np.float32),
                    "iou_layer3": np.zeros((1, 256, 18, 18), np.float32)}

        def refine(feed):
            proposals = feed["proposals"]
            self.proposals.append(proposals[0].copy())
            boxes = proposals.copy()
            boxes[..., :2] += self.refine_shift
            ious = self.ious if self.ious is not None else np.linspace(0.9, 0.1, proposals.shape[1])
            return {"boxes": boxes, "ious": np.asarray(ious, np.float32)[None]}

        mods = {"modulation_layer2": (1, 256), "modulation_layer3": (1, 256)}
        feats = {"iou_layer2": (1, 128, 36, 36), "iou_layer3": (1, 256, 18, 18)}
        return {
            "backbone": FixedResponse("backbone", metas({"image": (1, 3, SIZE, SIZE)}),
                                      metas({"cls_layer3": (1, 256, 18, 18), **feats}), backbone),
            "iou_modulation": FixedResponse("iou_modulation", metas({**feats, "box": (1, 4)}), metas(mods),
                                            lambda feed: {k: np.zeros(v, np.float32) for k, v in mods.items()}),
            "iou_refine": FixedResponse("iou_refine", metas({**feats, **mods, "proposals": (1, 10, 4)}),
                                        metas({"boxes": (1, 10, 4), "ious": (1, 10)}), refine),
            "classifier": FixedResponse(
                "classifier", metas({"cls_layer3": (1, 256, 18, 18), "projection_layer3": (64, 256, 1, 1),
                                     "filter_layer3": (1, 64, 4, 4)}),
                metas({"scores": (1, 1, CELLS, CELLS)}), lambda feed: {"scores": self.scores[None, None]}),
        }


def _frame(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)


FAST = {"augment": False, "dropout_samples": 2, "init_gn_iterations": 1, "init_cg_iterations": 2}
TARGET = 0.2 * SIZE  # target side in crop pixels (search area 5x)


@pytest.mark.parametrize("scores, state, offset_cells", [
    (_peaks((CENTRE, CENTRE, 0.9)), "normal", (0, 0)),
    (_peaks((CENTRE + 2, CENTRE - 1, 0.9)), "normal", (-1, 2)),
    (_peaks((CENTRE, CENTRE, 0.2)), "not_found", (0, 0)),
    # a distractor far from the last position, nearly as strong: a hard negative, stay on the target
    (_peaks((CENTRE, CENTRE, 0.9), (1, 1, 0.8)), "hard_negative", (0, 0)),
    # the strongest peak jumped far, a near-equal one sits where the target was: follow the near one
    (_peaks((1, 17, 0.9), (CENTRE + 1, CENTRE, 0.8)), "hard_negative", (0, 1)),
    # two strong peaks, both far from the last position: cannot tell, uncertain
    (_peaks((1, 1, 0.9), (17, 17, 0.85)), "uncertain", (-8, -8)),
    # a weaker second peak (above half the first): a hard negative; weaker still: normal
    (_peaks((CENTRE, CENTRE, 0.9), (2, 15, 0.55)), "hard_negative", (0, 0)),
    (_peaks((CENTRE, CENTRE, 0.9), (2, 15, 0.35)), "normal", (0, 0)),
])
def test_localisation_states(scores, state, offset_cells):
    tracker = AtomTracker(StandInNetworks().runners())
    offset, got_state, score = tracker._localize(scores, np.array([TARGET, TARGET]))
    assert got_state == state
    assert score == pytest.approx(float(scores.max()))
    np.testing.assert_allclose(offset, np.array(offset_cells) * STRIDE, atol=0.05 * STRIDE)


def test_subcell_peak_is_refined():
    tracker = AtomTracker(StandInNetworks().runners())
    scores = _peaks((9.3, 7.8, 0.9), sigma=1.2)
    coarse = AtomTracker(StandInNetworks().runners(), AtomParams(subcell_peak=False))
    fine_offset = tracker._localize(scores, np.array([TARGET, TARGET]))[0]
    coarse_offset = coarse._localize(scores, np.array([TARGET, TARGET]))[0]
    truth = (np.array([7.8, 9.3]) - CENTRE) * STRIDE
    np.testing.assert_allclose(coarse_offset, (np.array([8, 9]) - CENTRE) * STRIDE)
    assert np.abs(fine_offset - truth).max() < 0.1 * STRIDE < np.abs(coarse_offset - truth).max()


def test_step_moves_to_the_peak_then_refines_with_the_best_boxes():
    frame, box = _frame(), np.array([140.0, 100.0, 40.0, 30.0])
    side = 5.0 * np.sqrt(40.0 * 30.0)
    crop_px = side / SIZE  # image pixels per crop pixel

    nets = StandInNetworks(scores=_peaks((CENTRE - 1, CENTRE + 2, 0.9)))
    tracker = AtomTracker(nets.runners(), AtomParams(refine=False, **FAST))
    tracker.initialize(frame, box)
    result = tracker.track(frame)
    centre = box[:2] + box[2:] / 2
    np.testing.assert_allclose(result.box[:2] + result.box[2:] / 2,
                               centre + np.array([2, -1]) * STRIDE * crop_px, atol=1e-6)
    np.testing.assert_allclose(result.box[2:], box[2:])  # no refinement: the size is kept

    # refinement: every proposal moves (+6, -4) crop px; the 3 best (by IoU) are averaged
    ious = [0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.1, 0.1, 0.1, 0.1]
    nets = StandInNetworks(refine_shift=(6.0, -4.0), ious=ious)
    tracker = AtomTracker(nets.runners(), AtomParams(**FAST))
    tracker.initialize(frame, box)
    result = tracker.track(frame)
    proposals = nets.proposals[-1].astype(np.float64)
    assert proposals.shape == (10, 4)
    np.testing.assert_allclose(proposals[0], [SIZE / 2 - 20 / crop_px, SIZE / 2 - 15 / crop_px,
                                              40 / crop_px, 30 / crop_px], rtol=1e-5)
    best = proposals[[1, 3, 5]].mean(axis=0)
    expected_centre = centre + (best[:2] + best[2:] / 2 + [6.0, -4.0] - SIZE / 2) * crop_px
    np.testing.assert_allclose(result.box[:2] + result.box[2:] / 2, expected_centre, atol=1e-3)
    np.testing.assert_allclose(result.box[2:], best[2:] * crop_px, rtol=1e-5)


@pytest.mark.parametrize("rate", [1.0, 0.3])
def test_refined_size_is_taken_at_the_size_rate(rate):
    """The IoU-Net's boxes are twice as wide and half as high: at rate r the size moves by 2^(+-r)."""
    frame, box = _frame(), np.array([140.0, 100.0, 40.0, 30.0])
    nets = StandInNetworks(ious=[0.9] + [0.0] * 9)
    runners = nets.runners()
    plain = runners["iou_refine"].fn

    def stretched(feed):
        out = plain(feed)
        boxes = out["boxes"].copy()
        centre = boxes[..., :2] + boxes[..., 2:] / 2
        boxes[..., 2:] *= np.array([2.0, 0.5], np.float32)
        boxes[..., :2] = centre - boxes[..., 2:] / 2
        return {**out, "boxes": boxes}

    runners["iou_refine"].fn = stretched
    tracker = AtomTracker(runners, AtomParams(iou_top_k=1, refine_size_rate=rate, **FAST))
    tracker.initialize(frame, box)
    result = tracker.track(frame)
    np.testing.assert_allclose(result.box[2:], box[2:] * np.array([2.0, 0.5]) ** rate, rtol=1e-5)
    np.testing.assert_allclose(result.box[:2] + result.box[2:] / 2, box[:2] + box[2:] / 2, atol=1e-3)


def test_jittered_proposals_follow_the_atom_recipe():
    nets = StandInNetworks()
    tracker = AtomTracker(nets.runners(), AtomParams(**FAST))
    tracker.initialize(_frame(), (100, 80, 60, 40))
    box = np.array([100.0, 120.0, 60.0, 40.0])
    proposals = np.concatenate([tracker._proposals(box) for _ in range(200)])
    jittered = proposals[np.arange(len(proposals)) % 10 != 0]
    square = np.sqrt(60 * 40)
    centres = jittered[:, :2] + jittered[:, 2:] / 2 - (box[:2] + box[2:] / 2)
    assert np.abs(centres).max() <= 0.05 * square + 1e-9  # uniform in +-(0.1 / 2) * sqrt(area)
    assert np.abs(jittered[:, 2:] - box[2:]).max() <= 0.25 * square + 1e-9
    assert jittered[:, 2:].min() >= 40 / 3 - 1e-9  # sides never below a third of the smaller side
    np.testing.assert_allclose(proposals[::10], np.tile(box, (200, 1)))


def test_memory_updates_and_filter_training_schedule(monkeypatch):
    calls = []
    original = LayerClassifier.update_step
    monkeypatch.setattr(LayerClassifier, "update_step",
                        lambda self, n: calls.append(n) or original(self, n))
    frame = _frame()
    nets = StandInNetworks()
    tracker = AtomTracker(nets.runners(), AtomParams(train_skipping=3, update_cg_iterations=2, update_spread_frames=0, **FAST))
    tracker.initialize(frame, (140, 100, 40, 30))
    classifier = tracker.learner.classifiers["layer3"]
    stored = classifier.memory.count
    for _ in range(6):
        tracker.track(frame)
    assert classifier.memory.count == stored + 6  # every normal frame joins the memory
    assert calls == [2, 2]  # frames 3 and 6
    nets.scores = _peaks((CENTRE, CENTRE, 0.2))  # not found: no sample, no update
    tracker.track(frame)
    assert classifier.memory.count == stored + 6 and calls == [2, 2]
    nets.scores = _peaks((CENTRE, CENTRE, 0.9), (1, 1, 0.8))  # hard negative: train at once
    assert tracker.track(frame).state == "hard_negative"
    assert calls == [2, 2, 2] and classifier.memory.count == stored + 7


def test_bad_params_and_boxes():
    with pytest.raises(ConfigError, match="valid"):
        AtomParams.from_dict({"memory_sise": 100})
    with pytest.raises(ConfigError, match="learning_rate"):
        AtomParams(learning_rate=1.5)
    with pytest.raises(ConfigError, match="memory_size"):  # cannot hold the 30 first-frame samples
        AtomParams(memory_size=20)
    for rate in (0.0, 1.5):
        with pytest.raises(ConfigError, match=r"refine_size_rate must be in \(0, 1\]"):
            AtomParams(refine_size_rate=rate)
    tracker = AtomTracker(StandInNetworks().runners(), AtomParams(**FAST))
    with pytest.raises(InputError, match="outside"):
        tracker.initialize(_frame(), (400, 10, 20, 20))
    with pytest.raises(InputError, match="zero or negative size"):
        tracker.initialize(_frame(), (10, 10, 0, 20))


# ------------------------------------------------------------------------------ real exported graphs

@pytest.mark.parametrize("tracker_name", ["atom", "aff-atom"])
def test_first_frame_classifier_finds_the_target_in_its_own_frame(exports, shared_data, tracker_name):
    """The learned filters, run through the exported classifier graph, peak on the target."""
    _, onnx_dir = exports(tracker_name)
    frames, boxes = read_otb_sequence(shared_data / "sequences/otb/Crossing", [0])
    name, runners = load_runners(onnx_dir, "ort")
    tracker = build_tracker(name, runners)
    tracker.initialize(frames[0], boxes[0])
    for losses in tracker.init_losses.values():
        assert losses[-1] < 0.5 * losses[0]  # Gauss-Newton actually learned something
    crop = tracker._crop(frames[0], tracker._side())
    feats = tracker.runners["backbone"].infer({"image": crop})
    feed = {}
    for layer, classifier in tracker.learner.classifiers.items():
        feed.update({f"cls_{layer}": feats[f"cls_{layer}"], f"projection_{layer}": classifier.projection_4d,
                     f"filter_{layer}": classifier.filter_4d})
    scores = tracker.runners["classifier"].infer(feed)["scores"][0, 0]
    peak = np.unravel_index(scores.argmax(), scores.shape)
    assert np.abs(np.array(peak) - CENTRE).max() <= 1
    assert scores.max() > tracker.params.target_not_found_threshold
    if len(tracker.learner.classifiers) == 1:  # no fusion: the graph computes exactly the numpy model
        (layer, classifier), = tracker.learner.classifiers.items()
        numpy_scores = mlu(classifier.response(feats[f"cls_{layer}"])[0], 0.05)
        np.testing.assert_allclose(scores, numpy_scores, atol=1e-4)


AGREEMENT_FRAMES = 20


def _copy_state(source, target):
    """Give ``target`` the tracking state of ``source`` (position, size, classifiers, memory, rng)."""
    for key, value in vars(source).items():
        if key not in ("runners", "params"):
            setattr(target, key, copy.deepcopy(value))


@pytest.mark.parametrize("tracker_name", ["atom", "aff-atom"])
def test_onnxruntime_follows_pytorch_frame_by_frame(exports, shared_data, tracker_name):
    """Each frame, from the same state, both backends give boxes within 0.5 px and the same state.

    The state is synchronised before every frame because the weights are seeded random: such a
    tracker is not contractive (it drifts off the target, and its IoU-Net's 5 refinement steps
    amplify input differences), so left to run freely the two backends' 1e-5 relative differences
    grow into pixels after a few frames. ``python -m benchmarks.tracking_backends`` prints the
    free-running figures.
    """
    checkpoint, onnx_dir = exports(tracker_name)
    frames, boxes = read_otb_sequence(shared_data / "sequences/otb/Crossing", list(range(AGREEMENT_FRAMES + 1)))
    trackers = {}
    for backend, model in (("ort", onnx_dir), ("torch", checkpoint)):
        name, runners = load_runners(model, backend, tracker=tracker_name)
        trackers[backend] = build_tracker(name, runners)
    trackers["ort"].initialize(frames[0], boxes[0])
    trackers["torch"].initialize(frames[0], boxes[0])
    # The first frame's learning ran on each backend's own features. Compared by response (P and f
    # are only defined up to a rotation of the projected channels): 6 truncated Gauss-Newton steps of
    # a bilinear problem amplify the 1e-5 feature differences to 0.7% of the peak with onnxruntime
    # 1.31 and 2.2-2.4% with 1.32 (measured on the same export and frame), hence 5%.
    crop = trackers["ort"]._crop(frames[0], trackers["ort"]._side())
    feats = trackers["ort"].runners["backbone"].infer({"image": crop})
    for layer, classifier in trackers["ort"].learner.classifiers.items():
        ours = classifier.response(feats[f"cls_{layer}"])
        reference = trackers["torch"].learner.classifiers[layer].response(feats[f"cls_{layer}"])
        assert np.abs(ours - reference).max() <= 5e-2 * np.abs(reference).max()
    differences, moved = [], []
    for frame in frames[1:]:
        _copy_state(trackers["ort"], trackers["torch"])
        ours, reference = trackers["ort"].track(frame), trackers["torch"].track(frame)
        assert ours.state == reference.state
        differences.append(np.abs(ours.box - reference.box).max())
        moved.append(ours.box)
    assert max(differences) <= 0.5, np.round(differences, 3)
    assert np.ptp(np.array(moved)[:, 0]) > 1.0  # the boxes really moved: agreement is not trivial


def test_atom_tracks_with_onnxruntime_where_torch_is_absent(exports):
    _, onnx_dir = exports("atom")
    code = (
        "import sys; sys.modules['torch'] = None\n"  # any `import torch` now raises ImportError
        "import numpy as np\n"
        "from edge_tracker.backends import load_runners\n"
        "from edge_tracker.trackers import build_tracker\n"
        f"name, runners = load_runners({str(onnx_dir)!r}, 'ort')\n"
        "tracker = build_tracker(name, runners, {'augment': False, 'init_gn_iterations': 2})\n"
        "rng = np.random.default_rng(0)\n"
        "frame = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)\n"
        "tracker.initialize(frame, (100, 80, 40, 50))\n"
        "result = tracker.track(frame)\n"
        "print(name, result.state, np.isfinite(result.box).all())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    name, state, finite = result.stdout.split()
    assert name == "atom" and state in ("normal", "uncertain", "hard_negative", "not_found") and finite == "True"
