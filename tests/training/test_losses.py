"""Response labels and the balanced logistic loss, against direct formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from training.losses import balance_weights, balanced_logistic_loss, disc_labels, gaussian_labels
from training.siam import LABEL_RADIUS_PX, response_centers


def test_siamfc_label_has_13_positives_at_the_centre():
    # radius 16 px at total stride 8 = 2 cells: (0,0), 4 at distance 1, 4 at sqrt(2), 4 at 2
    labels = disc_labels(torch.tensor([[8.0, 8.0]]), (17, 17), LABEL_RADIUS_PX / 8)
    assert labels.shape == (1, 1, 17, 17)
    assert int(labels.sum()) == 13
    rows, cols = np.nonzero(labels[0, 0].numpy())
    assert set(zip(rows.tolist(), cols.tolist())) == {
        (8, 8), (7, 8), (9, 8), (8, 7), (8, 9), (7, 7), (7, 9), (9, 7), (9, 9), (6, 8), (10, 8), (8, 6), (8, 10)}


def test_disc_label_off_centre_matches_brute_force():
    center = (8.5, 7.25)
    labels = disc_labels(torch.tensor([center]), (17, 17), 2.0)[0, 0].numpy()
    expected = np.array([[1.0 if (c - center[0]) ** 2 + (r - center[1]) ** 2 <= 4.0 else 0.0 for c in range(17)]
                         for r in range(17)])
    np.testing.assert_array_equal(labels, expected)


def test_balanced_weights_give_half_to_each_class():
    labels = disc_labels(torch.tensor([[8.0, 8.0], [3.0, 12.0]]), (17, 17), 2.0)
    weights = balance_weights(labels)
    for i in range(2):
        pos = weights[i][labels[i] > 0].sum()
        neg = weights[i][labels[i] == 0].sum()
        assert pos.item() == pytest.approx(0.5, abs=1e-6)
        assert neg.item() == pytest.approx(0.5, abs=1e-6)
    assert weights[0][labels[0] > 0][0].item() == pytest.approx(0.5 / 13)
    assert weights[0][labels[0] == 0][0].item() == pytest.approx(0.5 / (289 - 13))


def test_logistic_loss_matches_the_direct_formula():
    generator = torch.Generator().manual_seed(0)
    logits = 3.0 * torch.randn(3, 1, 17, 17, generator=generator, dtype=torch.float64)
    labels = disc_labels(torch.tensor([[8.0, 8.0], [9.0, 7.5], [4.0, 4.0]], dtype=torch.float64), (17, 17), 2.0)
    loss = balanced_logistic_loss(logits, labels).item()

    expected = 0.0
    for v_map, t_map in zip(logits.numpy()[:, 0], labels.numpy()[:, 0]):
        y = np.where(t_map > 0, 1.0, -1.0)
        n_pos, n_neg = (y > 0).sum(), (y < 0).sum()
        total = 0.0
        for v, yy in zip(v_map.ravel(), y.ravel()):
            weight = 0.5 / n_pos if yy > 0 else 0.5 / n_neg
            total += weight * math.log(1.0 + math.exp(-yy * v))
        expected += total / len(logits)
    assert loss == pytest.approx(expected, rel=1e-10)


def test_invalid_maps_are_left_out_and_still_give_gradients():
    logits = torch.zeros(2, 1, 5, 5, requires_grad=True)
    labels = disc_labels(torch.tensor([[2.0, 2.0], [2.0, 2.0]]), (5, 5), 1.0)
    both = balanced_logistic_loss(logits, labels)
    first = balanced_logistic_loss(logits, labels, valid=torch.tensor([True, False]))
    assert first.item() == pytest.approx(both.item())  # the two maps have equal losses
    none = balanced_logistic_loss(logits, labels, valid=torch.tensor([False, False]))
    none.backward()
    assert none.item() == 0.0 and logits.grad is not None


def test_gaussian_label_peaks_at_the_centre():
    labels = gaussian_labels(torch.tensor([[4.0, 6.0]]), (9, 9), torch.tensor([1.0]))
    assert labels[0, 0, 6, 4].item() == 1.0
    assert labels[0, 0, 6, 5].item() == pytest.approx(math.exp(-0.5))


def test_response_centre_of_centred_crops_is_the_middle_cell():
    template_box = torch.tensor([[40.0, 50.0, 47.0, 27.0]])  # centre 63.5, 63.5 in a 127 crop
    search_box = torch.tensor([[100.0, 110.0, 55.0, 35.0]])  # centre 127.5, 127.5 in a 255 crop
    assert response_centers(template_box, search_box).tolist() == [[8.0, 8.0]]
    shifted = search_box + torch.tensor([[8.0, -4.0, 0.0, 0.0]])
    assert response_centers(template_box, shifted).tolist() == [[9.0, 7.5]]
