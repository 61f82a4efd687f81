"""The numpy online classifier (GN + CG in the Fourier domain) against PyTorch written the plain way."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edge_tracker.errors import ConfigError
from edge_tracker.trackers.learning import (
    LayerClassifier,
    SampleMemory,
    SolverSettings,
    gaussian_label,
    mlu,
    mlu_derivative,
)
from export.models.classifier import classifier_response
from export.models.classifier import mlu as torch_mlu

ALPHA = 0.05


def _features(count, channels, side, seed=0):
    rng = np.random.default_rng(seed)
    return np.maximum(rng.standard_normal((count, channels, side, side)), 0).astype(np.float32)


def _labels(count, cells, seed=1):
    rng = np.random.default_rng(seed)
    centre = (cells - 1) / 2
    return np.stack([gaussian_label(cells, tuple(centre + rng.uniform(-2, 2, 2)), 0.9) for _ in range(count)])


def _torch_loss(features, labels, weights, projection, filt, settings, with_projection=True):
    """The loss of SPEC 1.6 with torch's conv2d: the independent reference."""
    response = torch_mlu(classifier_response(torch.from_numpy(features), projection, filt), ALPHA)[:, 0]
    data = (torch.from_numpy(weights)[:, None, None] * (response - torch.from_numpy(labels)) ** 2).sum()
    loss = data + settings.filter_reg * (filt ** 2).sum()
    if with_projection:
        loss = loss + settings.projection_reg * (projection ** 2).sum()
    return loss


def test_mlu_matches_the_graph_activation_and_its_derivative():
    x = np.linspace(-0.5, 0.5, 101).astype(np.float32)
    np.testing.assert_allclose(mlu(x, ALPHA), torch_mlu(torch.from_numpy(x), ALPHA).numpy(), atol=1e-7)
    h = 1e-4
    numeric = (mlu(x.astype(np.float64) + h, ALPHA) - mlu(x.astype(np.float64) - h, ALPHA)) / (2 * h)
    away_from_kink = np.abs(x) > 2 * h
    np.testing.assert_allclose(mlu_derivative(x, ALPHA)[away_from_kink], numeric[away_from_kink], rtol=1e-3)
    assert mlu(np.float32(-10.0), ALPHA) == pytest.approx(-ALPHA)


@pytest.mark.parametrize("filter_size,side", [(4, 18), (3, 9), (4, 9)])
def test_fourier_response_equals_conv2d(filter_size, side):
    features = _features(3, 32, side)
    classifier = LayerClassifier(8, filter_size, SolverSettings(), SampleMemory(10, 3, 0.25))
    rng = np.random.default_rng(4)
    classifier.projection = rng.standard_normal((8, 32)).astype(np.float32)
    classifier.filter = rng.standard_normal((8, filter_size, filter_size)).astype(np.float32)
    ours = classifier.response(features)
    reference = classifier_response(torch.from_numpy(features), torch.from_numpy(classifier.projection_4d),
                                     torch.from_numpy(classifier.filter_4d))[:, 0].numpy()
    assert ours.shape == reference.shape == (3, side + 1 - filter_size % 2, side + 1 - filter_size % 2)
    np.testing.assert_allclose(ours, reference, atol=2e-5 * np.abs(reference).max())


def test_first_frame_gauss_newton_lowers_the_true_loss():
    count, channels, side = 12, 64, 18
    features, labels = _features(count, channels, side), _labels(count, side + 1)
    settings = SolverSettings()
    classifier = LayerClassifier(16, 4, settings, SampleMemory(50, count, 0.25))
    losses = classifier.initialize(features, labels, gn_iterations=6, cg_iterations=10)
    assert len(losses) == 7
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.85 * losses[0]  # random features: little to learn, but steady progress
    # the reported loss is the loss torch computes at the learned parameters
    weights = classifier.memory.weights[:count].astype(np.float32)
    reference = _torch_loss(features, labels, weights, torch.from_numpy(classifier.projection_4d),
                            torch.from_numpy(classifier.filter_4d), settings)
    assert losses[-1] == pytest.approx(reference.item(), rel=1e-4)


def _memory_with_samples(settings, count=10, channels=48, side=9):
    features, labels = _features(count, channels, side), _labels(count, side + 1)
    classifier = LayerClassifier(16, 4, settings, SampleMemory(40, count, 0.25))
    classifier.initialize(features, labels, gn_iterations=1, cg_iterations=3)
    extra = _features(6, channels, side, seed=7)
    for i, sample in enumerate(extra):
        classifier.add_sample(sample[None], _labels(1, side + 1, seed=10 + i)[0], learning_rate=0.05)
    return classifier, np.concatenate([features, extra])


def test_filter_update_solves_the_normal_equations():
    """With a near-linear activation (mlu with a huge alpha) one Gauss-Newton step with enough CG
    iterations is the exact least-squares solution: torch's gradient of the loss vanishes there."""
    settings = SolverSettings(alpha=1e4)
    classifier, features = _memory_with_samples(settings)
    labels = classifier.labels[: classifier.memory.count]
    weights = classifier.memory.weights[: classifier.memory.count].astype(np.float32)

    def gradient_norm():
        filt = torch.from_numpy(classifier.filter_4d).requires_grad_(True)
        response = torch_mlu(classifier_response(torch.from_numpy(features),
                                                 torch.from_numpy(classifier.projection_4d), filt), 1e4)[:, 0]
        loss = ((torch.from_numpy(weights)[:, None, None] * (response - torch.from_numpy(labels)) ** 2).sum()
                + settings.filter_reg * (filt ** 2).sum())
        loss.backward()
        return float(filt.grad.norm())

    start = gradient_norm()
    before, after = classifier.optimize(cg_iterations=300)
    assert after < before
    assert gradient_norm() < 1e-3 * start


def test_filter_updates_never_increase_the_loss():
    classifier, _ = _memory_with_samples(SolverSettings())
    first_before = None
    for _ in range(10):
        before, after = classifier.optimize(cg_iterations=5)
        first_before = before if first_before is None else first_before
        assert after <= before + 1e-6
    assert after < 0.9 * first_before


def test_sample_memory_weights():
    memory = SampleMemory(capacity=6, num_init=2, init_min_weight=0.25)
    np.testing.assert_allclose(memory.weights, [0.5, 0.5, 0, 0, 0, 0])
    slot = memory.insert(0.2)
    assert slot == 2 and memory.count == 3
    np.testing.assert_allclose(memory.weights[:3], [0.4, 0.4, 0.2])
    for _ in range(3):
        memory.insert(0.2)
    assert memory.count == 6 and memory.weights.sum() == pytest.approx(1.0)
    # full: the lightest non-initial sample (the oldest) is replaced, never a first-frame one
    oldest = 2 + int(np.argmin(memory.weights[2:]))
    assert memory.insert(0.2) == oldest
    for _ in range(20):
        assert memory.insert(0.2) >= 2
        assert memory.weights.sum() == pytest.approx(1.0)
        assert memory.weights[:2].sum() >= 0.25 - 1e-12
    # the floor binds: plain decay would have taken the first frame far below it
    assert memory.weights[:2].sum() == pytest.approx(0.25)


def test_bad_memory_settings_are_refused():
    with pytest.raises(ConfigError, match="memory_size"):
        SampleMemory(capacity=30, num_init=30, init_min_weight=0.25)
    with pytest.raises(ConfigError, match="init_samples_minimum_weight"):
        SampleMemory(capacity=40, num_init=30, init_min_weight=1.5)


def test_gaussian_label_peak_and_width():
    label = gaussian_label(19, (9.0, 12.0), 1.5)
    assert np.unravel_index(label.argmax(), label.shape) == (9, 12)
    assert label[9, 12] == pytest.approx(1.0)
    assert label[9, 12 + 3] == pytest.approx(np.exp(-0.5 * (3 / 1.5) ** 2), rel=1e-6)


def test_gauss_newton_right_hand_side_is_the_true_gradient():
    """The right-hand side of the normal equations is minus half of torch's gradient of the loss,
    for the projection and the filter jointly (the adjoint of the Fourier-domain model). Checked at
    the second step, where the filter is no longer zero and the projection gradient is not trivial."""
    from edge_tracker.trackers.learning.fourier import FourierGeometry, JointProblem

    count, channels, side = 6, 32, 9
    features, labels = _features(count, channels, side), _labels(count, side + 1)
    settings = SolverSettings(seed=3)
    after_one = LayerClassifier(8, 4, settings, SampleMemory(20, count, 0.25))
    after_one.initialize(features, labels, gn_iterations=1, cg_iterations=4)
    weights = np.full(count, 1 / count, dtype=np.float32)
    problem = JointProblem(FourierGeometry(side, side, 4), features, labels, weights, settings.filter_reg,
                           settings.projection_reg, settings.alpha)
    rhs_projection, rhs_filter = (-g for g in problem.linearize((after_one.projection, after_one.filter)).gradient())

    projection = torch.from_numpy(after_one.projection_4d).requires_grad_(True)
    filt = torch.from_numpy(after_one.filter_4d).requires_grad_(True)
    _torch_loss(features, labels, weights, projection, filt, settings).backward()
    assert float(np.abs(after_one.filter).max()) > 0  # the check is not at the trivial point
    np.testing.assert_allclose(-2 * rhs_filter, filt.grad[0].numpy(), atol=1e-4 * float(filt.grad.abs().max()))
    np.testing.assert_allclose(-2 * rhs_projection, projection.grad[:, :, 0, 0].numpy(),
                               atol=1e-4 * float(projection.grad.abs().max()))
