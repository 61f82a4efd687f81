"""The learning package's seams: problems apart from the solver, units of work, the update schedule."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest

from edge_tracker.trackers.learning import (
    LayerClassifier,
    LearnerSettings,
    NumpyLearner,
    SampleMemory,
    SolverSettings,
)
from edge_tracker.trackers.learning.fourier import (
    FilterProblem,
    FourierGeometry,
    JointProblem,
)
from edge_tracker.trackers.learning.solver import (
    ConjugateGradient,
    GaussNewtonStep,
    Linearization,
    conjugate_gradient,
    dot,
    gauss_newton,
)
from tests.edge_tracker.test_online_classifier import _features, _labels


def _joint_problem(count=6, channels=24, side=9, seed=0):
    features, labels = _features(count, channels, side, seed), _labels(count, side + 1)
    weights = np.random.default_rng(seed).uniform(0.5, 1.5, count).astype(np.float32)
    return JointProblem(FourierGeometry(side, side, 4), features, labels, weights / weights.sum(), 0.1, 1e-3, 0.05)


def _point(problem, dim=8, seed=1):
    rng = np.random.default_rng(seed)
    channels = problem.features.shape[1]
    return (rng.standard_normal((dim, channels)).astype(np.float32) / np.sqrt(channels),
            0.05 * rng.standard_normal((dim, 4, 4)).astype(np.float32))


def _filter_problem(seed=0):
    joint = _joint_problem(seed=seed)
    projection, filt = _point(joint)
    spectra = joint.projected_spectra(projection)
    return FilterProblem(joint.geometry, spectra, joint.labels, joint.weights, 0.1, 0.05), (filt,)


def _close(a, b, rtol):
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=0, atol=rtol * float(np.abs(v).max()))


@pytest.mark.parametrize("kind", ["joint", "filter"])
def test_fused_gradient_and_normal_operator_follow_from_jvp_and_vjp(kind):
    """The Fourier problems compute J^T W e + R x and (J^T W J + R) v in fused forms; both equal the
    solver's generic definitions from J v and J^T u, and J^T is the adjoint of J (<Jv, u> = <v, J^T u>)."""
    if kind == "joint":
        problem = _joint_problem()
        x = _point(problem)
    else:
        problem, x = _filter_problem()
    linearization = problem.linearize(x)
    rng = np.random.default_rng(5)
    v = tuple(rng.standard_normal(part.shape).astype(np.float32) for part in x)
    u = rng.standard_normal(linearization.residual.shape).astype(np.float32)
    _close(linearization.gradient(), Linearization.gradient(linearization), 1e-5)
    _close(linearization.normal(v), Linearization.normal(linearization, v), 1e-5)
    left = float(np.vdot(linearization.jvp(v).astype(np.float64), u))
    right = dot(v, linearization.vjp(u))
    assert left == pytest.approx(right, rel=1e-4)


def test_jvp_is_the_derivative_of_the_residuals():
    problem = _joint_problem()
    x = _point(problem)
    v = tuple(1e-3 * part for part in _point(problem, seed=9))
    linearization = problem.linearize(x)

    def residual(point):
        return problem.linearize(point).residual.astype(np.float64)

    numeric = (residual(tuple(a + b for a, b in zip(x, v))) - residual(tuple(a - b for a, b in zip(x, v)))) / 2
    np.testing.assert_allclose(linearization.jvp(v), numeric, atol=2e-2 * np.abs(numeric).max())


def test_conjugate_gradient_solves_a_small_spd_system_and_traces_its_residual():
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((12, 12))
    matrix = basis @ basis.T + 12 * np.eye(12)
    rhs = (rng.standard_normal(12).astype(np.float32),)
    solver = ConjugateGradient(rhs)
    for _ in range(12):
        solver.step(lambda v: ((matrix @ v[0].astype(np.float64)).astype(np.float32),))
    np.testing.assert_allclose(solver.solution()[0], np.linalg.solve(matrix, rhs[0]), rtol=1e-3, atol=1e-5)
    assert len(solver.norms) == 13 and solver.norms[-1] < 1e-8 * solver.norms[0]
    # converged: further steps change nothing (the graphs take zero steps there too)
    before = solver.solution()[0].copy()
    solver.step(lambda v: ((matrix @ v[0]).astype(np.float32),))
    np.testing.assert_array_equal(solver.solution()[0], before)


def test_a_gauss_newton_step_unit_by_unit_is_the_step_at_once():
    problem, x = _filter_problem()
    whole = GaussNewtonStep(problem, x, 5).run()
    stepped = GaussNewtonStep(problem, x, 5)
    assert stepped.units == 6
    for unit in range(6):
        assert not stepped.done
        stepped.step()
        stepped = copy.deepcopy(stepped)  # the state between units is plain arrays: a tracker can be copied
    assert stepped.done
    np.testing.assert_array_equal(stepped.result[0], whole[0])
    # and it is what conjugate_gradient on the normal equations gives from the linearisation
    linearization = problem.linearize(x)
    delta = conjugate_gradient(linearization.normal, tuple(-g for g in linearization.gradient()), 5)
    np.testing.assert_array_equal(whole[0], x[0] + delta[0])


def test_gauss_newton_reports_losses_and_cg_traces_per_step():
    problem = _joint_problem(count=8, channels=32)
    x0 = (_point(problem)[0], np.zeros((8, 4, 4), np.float32))
    x, losses, norms = gauss_newton(problem, x0, gn_iterations=3, cg_iterations=4)
    assert len(losses) == 4 and [len(n) for n in norms] == [5, 5, 5]
    assert all(b < a for a, b in itertools.pairwise(losses))
    assert losses[-1] == pytest.approx(problem.loss(x), rel=1e-6)
    assert all(trace[-1] < trace[0] for trace in norms)


# ------------------------------------------------------------------------------------ the schedule

def _learner(spread=0, cg=3, memory_size=40):
    settings = LearnerSettings(solver=SolverSettings(), memory_size=memory_size, init_gn_iterations=1,
                               init_cg_iterations=3, update_cg_iterations=cg, spread_frames=spread)
    learner = NumpyLearner(("layer3",), settings, proj_dim=8, filter_size=4)
    features = {"layer3": _features(6, 24, 9)}
    learner.initialize(features, {"layer3": _labels(6, 10)}, runners={})
    return learner


def _sample(seed):
    return {"cls_layer3": _features(1, 24, 9, seed=seed)}, {"layer3": _labels(1, 10, seed=seed)[0]}


def test_a_spread_update_gives_the_filter_of_a_whole_one_and_holds_new_samples_back():
    whole, spread = _learner(spread=0), _learner(spread=3)
    for learner in (whole, spread):
        learner.add_sample(*_sample(1), rate=0.05, runners={})
        learner.request_update()
    filters = spread.classifier_inputs()["filter_layer3"].copy()
    whole.advance({})
    spread.advance({})  # 4 units over 3 frames: 2 per frame
    assert spread.updating and spread.units_per_frame == 2
    np.testing.assert_array_equal(spread.classifier_inputs()["filter_layer3"], filters)  # old filter meanwhile
    count = spread.memory.count
    spread.add_sample(*_sample(2), rate=0.05, runners={})  # arrives during the update: waits
    assert spread.memory.count == count and len(spread.waiting) == 1
    spread.advance({})
    assert not spread.updating and spread.updates_done == 1
    np.testing.assert_array_equal(spread.classifier_inputs()["filter_layer3"],
                                  whole.classifier_inputs()["filter_layer3"])
    assert spread.memory.count == count + 1 and spread.waiting == []  # joined once the filter was swapped in


def test_an_update_asked_for_during_a_spread_one_starts_after_it():
    learner = _learner(spread=4, cg=3)  # 4 units, one per frame
    learner.request_update()
    learner.advance({})
    learner.request_update()  # e.g. a hard negative while the first update runs
    for _ in range(3):
        learner.advance({})
    assert learner.updates_done == 1 and learner.update_due and not learner.updating
    learner.advance({})
    assert learner.updating  # the second one started on the next frame
    for _ in range(3):
        learner.advance({})
    assert learner.updates_done == 2


def test_layers_share_one_memory():
    settings = LearnerSettings(memory_size=30, init_gn_iterations=1, init_cg_iterations=2, update_cg_iterations=2)
    learner = NumpyLearner(("layer3", "layer4"), settings, proj_dim=8, filter_size=4)
    learner.initialize({"layer3": _features(5, 24, 9), "layer4": _features(5, 32, 5, seed=3)},
                       {"layer3": _labels(5, 10), "layer4": _labels(5, 6)}, runners={})
    memories = {id(c.memory) for c in learner.classifiers.values()}
    assert memories == {id(learner.memory)}
    learner.add_sample({"cls_layer3": _features(1, 24, 9, 4), "cls_layer4": _features(1, 32, 5, 4)},
                       {"layer3": _labels(1, 10)[0], "layer4": _labels(1, 6)[0]}, 0.05, runners={})
    assert learner.memory.count == 6  # inserted once for both layers


def test_layer_classifier_keeps_samples_as_maps_too():
    memory = SampleMemory(12, 4, 0.25)
    classifier = LayerClassifier(8, 4, SolverSettings(), memory)
    features = _features(4, 24, 9)
    classifier.initialize(features, _labels(4, 10), gn_iterations=1, cg_iterations=2)
    samples = classifier.samples()
    assert samples.shape == (12, 8, 9, 9) and not samples[4:].any()
    projected = np.einsum("dc,nchw->ndhw", classifier.projection, features)
    np.testing.assert_allclose(samples[:4], projected, atol=1e-5 * np.abs(projected).max())
