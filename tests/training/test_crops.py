"""Training crops: where the target lands, checked against the crop's pixels; proposal IoUs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.crops import AtomCropParams, atom_pair, box_iou, perturb_box, siam_pair, siamfc_template_side

BOX = np.array([120.0, 90.0, 48.0, 36.0])  # integer box: the rectangle's pixels are exactly inside it


def _frame(box=BOX, width=320, height=240) -> np.ndarray:
    """Black BGR frame with a white rectangle filling ``box``."""
    frame = np.zeros((height, width, 3), np.uint8)
    x, y, w, h = (int(v) for v in box)
    frame[y:y + h, x:x + w] = 255
    return frame


def _bright_box(crop_chw: np.ndarray) -> np.ndarray | None:
    """xywh bounding box of the crop's bright pixels (the rectangle), None if there are none."""
    bright = crop_chw.max(axis=0) > 100
    rows, cols = np.nonzero(bright)
    if len(rows) == 0:
        return None
    return np.array([cols.min(), rows.min(), cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min()], float)


def _corners(box) -> np.ndarray:
    """xywh -> x0, y0, x1, y1: each edge is then compared on its own (pixels snap each by < 1 px)."""
    box = np.asarray(box, float)
    return np.concatenate([box[:2], box[:2] + box[2:]])


def _clip(box: np.ndarray, size: int) -> np.ndarray:
    x0, y0 = np.clip(box[:2], 0, size)
    x1, y1 = np.clip(box[:2] + box[2:], 0, size)
    return np.array([x0, y0, x1 - x0, y1 - y0])


def test_template_crop_is_centred_with_the_siamfc_size():
    frame = _frame()
    z_side = siamfc_template_side(BOX)
    assert z_side == pytest.approx(math.sqrt((48 + 42) * (36 + 42)))
    for seed in range(4):
        for augment in (False, True):
            sample = siam_pair(frame, BOX, frame, BOX, np.random.default_rng(seed), augment=augment)
            tx, ty, tw, th = sample["template_box"]
            assert (tx + tw / 2, ty + th / 2) == pytest.approx((63.5, 63.5), abs=1e-4)
            assert (tw, th) == pytest.approx((48 * 127 / z_side, 36 * 127 / z_side), rel=1e-5)
    plain = siam_pair(frame, BOX, frame, BOX, np.random.default_rng(0), augment=False)
    sx, sy, sw, sh = plain["search_box"]
    assert (sx + sw / 2, sy + sh / 2) == pytest.approx((127.5, 127.5), abs=1e-4)
    assert (sw, sh) == pytest.approx((tw, th), rel=1e-5)  # same scale in both crops
    assert plain["template"].shape == (3, 127, 127) and plain["search"].shape == (3, 255, 255)
    assert plain["template"].dtype == np.uint8


@pytest.mark.parametrize("seed", range(6))
def test_siam_boxes_match_the_pixels_under_augmentation(seed):
    frame = _frame()
    sample = siam_pair(frame, BOX, frame, BOX, np.random.default_rng(seed))
    for crop, box in ((sample["template"], sample["template_box"]), (sample["search"], sample["search_box"])):
        np.testing.assert_allclose(_corners(_bright_box(crop)), _corners(box), atol=1.0)
    # the search box moved by at most the shift augmentation (8 px) and scaled by at most 5%
    sx, sy, sw, sh = sample["search_box"]
    assert abs(sx + sw / 2 - 127.5) <= 8.0 + 1e-4 and abs(sy + sh / 2 - 127.5) <= 8.0 + 1e-4
    assert sw / sample["template_box"][2] == pytest.approx(1.0, abs=0.053)


@pytest.mark.parametrize("seed", range(6))
def test_atom_boxes_match_the_pixels(seed):
    frame = _frame()
    sample = atom_pair(frame, BOX, frame, BOX, np.random.default_rng(seed))
    tx, ty, tw, th = sample["train_box"]
    assert (tx + tw / 2, ty + th / 2) == pytest.approx((144.0, 144.0), abs=1e-3)  # reference: no jitter
    assert math.sqrt(tw * th) == pytest.approx(288 / 5, rel=1e-5)
    for crop, box in ((sample["train_image"], sample["train_box"]), (sample["test_image"], sample["test_box"])):
        visible = _clip(box.astype(float), 288)
        found = _bright_box(crop)
        if visible[2] < 2 or visible[3] < 2:
            continue  # the jitter moved the target (nearly) out of the test crop
        np.testing.assert_allclose(_corners(found), _corners(visible), atol=1.0)


def _coverage(lo: float, hi: float, grid: np.ndarray) -> np.ndarray:
    return (grid >= lo) & (grid < hi)


def _iou_by_integration(a: np.ndarray, b: np.ndarray, step: float = 1e-3) -> float:
    """IoU of axis-aligned boxes by counting grid points, axis by axis (independent of ``box_iou``)."""
    lengths = []
    for axis in (0, 1):
        lo = min(a[axis], b[axis]) - 1
        hi = max(a[axis] + a[axis + 2], b[axis] + b[axis + 2]) + 1
        grid = np.arange(lo, hi, step) + step / 2
        in_a = _coverage(a[axis], a[axis] + a[axis + 2], grid)
        in_b = _coverage(b[axis], b[axis] + b[axis + 2], grid)
        lengths.append((in_a.sum() * step, in_b.sum() * step, (in_a & in_b).sum() * step))
    (ax, bx, ix), (ay, by, iy) = lengths
    inter = ix * iy
    return inter / (ax * ay + bx * by - inter)


def test_proposal_ious_match_an_independent_computation():
    frame = _frame()
    params = AtomCropParams()
    ious = []
    for seed in range(3):
        sample = atom_pair(frame, BOX, frame, BOX, np.random.default_rng(seed), params)
        assert sample["proposals"].shape == (16, 4) and sample["proposal_iou"].shape == (16,)
        for proposal, iou in zip(sample["proposals"], sample["proposal_iou"]):
            expected = _iou_by_integration(sample["test_box"].astype(float), proposal.astype(float))
            assert iou == pytest.approx(expected, abs=2e-3)
            assert iou > params.proposal_min_iou
            ious.append(float(iou))
    assert min(ious) < 0.8 < max(ious)  # the noise levels spread the IoUs


def test_box_iou_basics():
    assert box_iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert box_iou([0, 0, 10, 10], [5, 0, 10, 10]) == pytest.approx(50 / 150)
    assert box_iou([0, 0, 10, 10], [20, 20, 5, 5]) == 0.0


def test_perturb_box_is_deterministic_and_respects_min_iou():
    box = np.array([50.0, 60.0, 30.0, 20.0])
    a = perturb_box(box, np.random.default_rng(3), min_iou=0.5)
    b = perturb_box(box, np.random.default_rng(3), min_iou=0.5)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] > 0.5 and a[1] == pytest.approx(box_iou(box, a[0]))
