"""Tracking augmentations (training.augment) and the recipes' "tracking" preset: values, boxes, negatives."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from edge_tracker.geometry import box_iou
from training import atom, siam
from training.augment import colour_gains, far_box, motion_blur, stretch
from training.config import make_config
from training.crops import AtomCropParams, SiamCropParams, atom_pair, siam_pair

BOX = np.array([120.0, 90.0, 48.0, 36.0])


def _frame(box=BOX, width=320, height=240, value=255) -> np.ndarray:
    frame = np.zeros((height, width, 3), np.uint8)
    x, y, w, h = (int(v) for v in box)
    frame[y:y + h, x:x + w] = value
    return frame


def _bright_box(crop_chw: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(crop_chw.max(axis=0) > 127)
    return np.array([cols.min(), rows.min(), cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min()], float)


def test_stretch_moves_the_pixels_where_the_box_says():
    crop = np.zeros((100, 100, 3), np.float32)
    crop[40:60, 30:70] = 255.0  # box x 30, y 40, w 40, h 20
    out, box = stretch(crop, np.array([30.0, 40.0, 40.0, 20.0]), 1.25, 0.8)
    np.testing.assert_allclose(box, [25.0, 42.0, 50.0, 16.0], atol=1e-5)  # 50 + 1.25 (30 - 50) = 25
    rows, cols = np.nonzero(out[..., 0] > 127)
    np.testing.assert_allclose([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], [25, 42, 75, 58], atol=1)
    assert out[0, 0, 0] == pytest.approx(crop.mean(), rel=1e-5)  # outside the crop: the mean colour


def test_motion_blur_keeps_the_mean_and_spreads_along_its_direction():
    crop = np.zeros((41, 41, 3), np.float32)
    crop[20, 20] = 90.0
    out = motion_blur(crop, 9, 0.0)  # horizontal line, 9 px
    assert out.sum() == pytest.approx(crop.sum(), rel=1e-5)
    assert np.count_nonzero(out[20, :, 0] > 0) == 9 and np.count_nonzero(out[:, 20, 0] > 0) == 1
    assert out[20, 16, 0] == pytest.approx(10.0, rel=1e-5)
    assert motion_blur(crop, 1, 0.3).sum() == pytest.approx(90.0 * 3)


def test_colour_gains_scale_each_channel():
    out = colour_gains(np.full((2, 2, 3), 100.0, np.float32), [0.9, 1.0, 1.1])
    np.testing.assert_allclose(out[0, 0], [90.0, 100.0, 110.0], rtol=1e-6)


def test_far_box_does_not_overlap_and_gives_up_when_there_is_no_room():
    rng = np.random.default_rng(0)
    for _ in range(20):
        box = far_box(BOX, (48.0, 36.0), (320, 240), rng, max_iou=0.1)
        assert float(box_iou(box, BOX)) <= 0.1 and 0 <= box[0] <= 272 and 0 <= box[1] <= 204
    assert far_box([0, 0, 100, 100], (90.0, 90.0), (100, 100), rng, max_iou=0.1) is None


TRACKING_SIAM = SiamCropParams(**siam.TRACKING_SIAM)
TRACKING_ATOM = AtomCropParams(**atom.TRACKING_ATOM)


@pytest.mark.parametrize("seed", range(8))
def test_siam_tracking_preset_keeps_boxes_on_the_pixels(seed):
    frame = _frame()
    params = SiamCropParams(**{**siam.TRACKING_SIAM, "negative_probability": 0.0, "blur_probability": 0.0})
    sample = siam_pair(frame, BOX, frame, BOX, np.random.default_rng(seed), params)
    found, box = _bright_box(sample["search"]), sample["search_box"]
    np.testing.assert_allclose(np.r_[found[:2], found[:2] + found[2:]], np.r_[box[:2], box[:2] + box[2:]], atol=1.5)
    aspect = (box[2] / box[3]) / (sample["template_box"][2] / sample["template_box"][3])
    assert math.exp(-0.2) - 1e-4 <= aspect <= math.exp(0.2) + 1e-4 and sample["negative"] == 0


def test_siam_negatives_have_no_target_in_the_search_crop():
    frame = _frame(width=640, height=480)
    other_frame = _frame(value=128)
    params = SiamCropParams(**{**siam.TRACKING_SIAM, "negative_probability": 1.0})
    kinds = []
    for seed in range(40):
        calls: list[int] = []

        def other(calls=calls):
            calls.append(1)
            return other_frame, BOX

        sample = siam_pair(frame, BOX, frame, BOX, np.random.default_rng(seed), params, other=other)
        assert sample["negative"] == 1.0
        # No white target pixel where the response map looks (cells reach +-64 px around the crop
        # centre, plus the template's half size): a same-frame negative keeps the target's centre
        # out of the crop (its edge may show at the border); the distractor is grey (128 x <= 1.32).
        assert sample["search"][:, 48:207, 48:207].max() < 250
        kinds.append(bool(calls))
    assert 10 <= sum(kinds) <= 30  # distractor_fraction 0.5: both kinds occur


def test_siam_rates_of_the_preset():
    frame = _frame(width=640, height=480)
    negatives = [siam_pair(frame, BOX, frame, BOX, np.random.default_rng(s), TRACKING_SIAM,
                           other=lambda: (frame, BOX))["negative"] for s in range(200)]
    assert 0.13 <= np.mean(negatives) <= 0.27  # 0.2


def test_atom_hard_negative_proposals_and_distractors():
    frame = _frame(width=640, height=480)
    params = AtomCropParams(**{**atom.TRACKING_ATOM, "negative_probability": 0.0})
    sample = atom_pair(frame, BOX, frame, BOX, np.random.default_rng(3), params)
    ious = np.array([box_iou(p, sample["test_box"]) for p in sample["proposals"]])
    np.testing.assert_allclose(ious, sample["proposal_iou"], atol=1e-5)
    assert (ious[-2:] <= 0.1).all() and (ious[:-2] > 0.1).all()  # 14 near the target, 2 in the background
    distractor = atom_pair(frame, BOX, frame, BOX, np.random.default_rng(3),
                           AtomCropParams(**{**atom.TRACKING_ATOM, "negative_probability": 1.0}),
                           other=lambda: (_frame(value=128), BOX))
    assert distractor["negative"] == 1.0 and (distractor["proposal_iou"] == 0).all()
    assert distractor["test_image"].max() < 250  # the grey distractor, not the white target


def test_presets_are_what_the_recipes_use():
    siam_config = make_config("siam", "scs-siam", ["synthetic:1"], "out")
    assert siam.crop_params(siam_config) == SiamCropParams(**siam.TRACKING_SIAM)
    basic = make_config("atom", "aff-atom", ["synthetic:1"], "out", augment="basic")
    assert atom.crop_params(basic).hard_negative_proposals == 0 and atom.crop_params(basic).aspect_jitter == 0


def test_siam_loss_treats_a_negative_pair_as_all_negative():
    torch.manual_seed(0)
    objective = siam.SiamObjective.__new__(siam.SiamObjective)
    torch.nn.Module.__init__(objective)
    objective.sigma, objective.radius_px = 0.9, 16.0
    objective.net = lambda *inputs: torch.zeros(2, 1, 17, 17)  # logits 0: loss log 2 whatever the labels
    box = torch.tensor([[103.5, 103.5, 48.0, 48.0]] * 2)
    batch = {"template": torch.zeros(2, 3, 127, 127), "search": torch.zeros(2, 3, 255, 255),
             "template_box": torch.tensor([[39.5, 39.5, 48.0, 48.0]] * 2), "search_box": box,
             "negative": torch.tensor([0.0, 1.0])}
    assert float(objective(batch)["loss"]) == pytest.approx(math.log(2.0) * 0.75, rel=1e-5)
