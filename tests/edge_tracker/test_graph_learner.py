"""``learner=graph``: AFF-ATOM learning through the export's graphs, against ``learner=numpy``.

On the demo checkpoint's export (built on first use, as the golden-box test builds it): the two
learners track frame by frame from a shared state (the lockstep of ``benchmarks.learner_timing``),
hand their state to each other, and spread their updates over frames.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from edge_tracker.datasets.synthetic import SyntheticConfig, generate_sequence
from edge_tracker.errors import ConfigError, EdgeTrackerError
from edge_tracker.session import Session
from edge_tracker.trackers import build_tracker, tracker_params
from edge_tracker.trackers.atom import AtomParams, AtomTracker
from tests.conftest import read_otb_sequence
from tests.edge_tracker.test_atom_tracker import FAST, StandInNetworks
from tests.goldens import locked_libraries, shaped_by

NOT_SHARED = ("runners", "params", "preprocessor", "learner")  # what lockstep leaves to each tracker


def test_the_graph_learner_names_what_an_older_export_lacks():
    with pytest.raises(EdgeTrackerError, match=r"classifier_init.*export it again.*learner=numpy"):
        AtomTracker(StandInNetworks().runners(), AtomParams(learner="graph", **FAST))
    with pytest.raises(ConfigError, match=r"learner must be one of \['numpy', 'graph'\]"):
        AtomParams(learner="gpu")


@pytest.fixture(scope="module")
def demo():
    """The demo AFF-ATOM's export (trained weights: the numerics the learners meet when tracking)."""
    from edge_tracker.demo import demo_export

    with Session(demo_export("aff-atom"), tracker="aff-atom") as session:
        yield session


def _tracker(session, **params):
    return build_tracker(session.name, session.runners, tracker_params(session.name, params))


def _lockstep(session, frames, boxes, share_first_frame: bool):
    """Per frame: the numpy tracker's state (all but the learner) given to the graph tracker, both track."""
    # whole updates, so that each frame's shared state is taken between updates; no target-loss
    # handling (it pauses learning while the demo's weak classifier doubts): every update is compared
    settings = {"update_spread_frames": 0, "lost_after_frames": 0}
    reference = _tracker(session, learner="numpy", **settings)
    candidate = _tracker(session, learner="graph", **settings)
    for tracker in (reference, candidate):
        tracker.initialize(frames[0], boxes[0])
    if share_first_frame:
        candidate.learner.load_state(reference.learner.state())
    differences, same = [], 0
    for frame in frames[1:]:
        for key, value in vars(reference).items():
            if key not in NOT_SHARED:
                setattr(candidate, key, copy.deepcopy(value))
        ours, theirs = reference.track(frame), candidate.track(frame)
        differences.append(float(np.abs(ours.box - theirs.box).max()))
        same += ours.state == theirs.state
    return np.array(differences), same, (reference, candidate)


@pytest.mark.slow
def test_graph_and_numpy_learners_track_alike_frame_by_frame(demo, shared_data):
    """OTB Crossing, 120 frames, 17 filter updates. From the same first-frame classifier the boxes
    agree within 0.5 px on every frame (measured: 4e-4 px), every update through the graphs. Each
    learner's own first frame (a bilinear problem whose float32 CG lands differently for any two
    summation orders, see tests/export/test_classifier_phases.py) moves low-confidence frames by up
    to ~2 px (measured: median 0, 95th percentile 0.17 px, max 1.93 px)."""
    frames, boxes = read_otb_sequence(shared_data / "sequences/otb/Crossing", list(range(120)))
    differences, same, (reference, candidate) = _lockstep(demo, frames, boxes, share_first_frame=True)
    assert differences.max() <= 0.5, np.round(differences, 3)
    assert same == len(differences)
    assert reference.learner.updates_done == candidate.learner.updates_done >= 10
    differences, same, _ = _lockstep(demo, frames, boxes, share_first_frame=False)
    # these bounds were measured in the locked environment: another OpenCV cuts other first-frame
    # crops, and a low-confidence frame of each learner's own filter lands elsewhere (5.1: 5.07 px)
    with shaped_by(locked_libraries(), "the two learners' own-first-frame spread (bounds measured on the lock)",
                   fix="measure the bounds again in the commit that moves the lock"):
        assert np.median(differences) <= 0.05 and np.percentile(differences, 95) <= 0.5, np.round(differences, 2)
        assert differences.max() <= 3.0, np.round(differences, 2)
        assert same >= len(differences) - 2


@pytest.mark.slow
def test_learners_hand_their_state_to_each_other(demo):
    sequence = generate_sequence(2, SyntheticConfig(num_frames=14))
    # whole updates: a state is taken between updates, and a spread one may be in progress
    numpy_tracker = _tracker(demo, learner="numpy", update_spread_frames=0)
    graph_tracker = _tracker(demo, learner="graph", update_spread_frames=0)
    numpy_tracker.initialize(sequence.frames[0], sequence.boxes[0])
    for frame in sequence.frames[1:]:
        numpy_tracker.track(frame)
    graph_tracker.initialize(sequence.frames[0], sequence.boxes[0])
    state = numpy_tracker.learner.state()
    graph_tracker.learner.load_state(state)
    back = graph_tracker.learner.state()
    for layer in state.filters:
        np.testing.assert_array_equal(back.filters[layer], state.filters[layer])
        np.testing.assert_allclose(back.samples[layer][: state.memory.capacity], state.samples[layer], atol=1e-5)
    np.testing.assert_array_equal(back.memory.weights, state.memory.weights)
    feed = graph_tracker.learner.classifier_inputs()
    for name, value in numpy_tracker.learner.classifier_inputs().items():
        np.testing.assert_array_equal(feed[name], value)


@pytest.mark.slow
@pytest.mark.parametrize("learner", ["numpy", "graph"])
def test_a_spread_update_runs_one_unit_per_frame_and_gives_the_whole_updates_filter(demo, learner):
    """--param learner=graph update_spread_frames=10: the linearisation and the five CG iterations run
    on six frames, through classifier_linearize and classifier_cg_step; from the same state and
    memory the result is the filter a whole update gives (fused classifier_update for the graph)."""
    sequence = generate_sequence(4, SyntheticConfig(num_frames=16))
    whole = _tracker(demo, learner=learner, update_spread_frames=0)
    spread = _tracker(demo, learner=learner, update_spread_frames=10)
    calls = {}
    for name in ("classifier_update", "classifier_linearize", "classifier_cg_step"):
        runner = demo.runners[name]
        original = runner.infer
        calls[name] = []

        def counting(feed, copy_outputs_to_host=True, name=name, original=original):
            calls[name].append(1)
            return original(feed, copy_outputs_to_host)

        runner.infer = counting
    try:
        for tracker in (whole, spread):
            tracker.initialize(sequence.frames[0], sequence.boxes[0])
        spread.learner.load_state(whole.learner.state())
        for frame in sequence.frames[1:10]:  # frames 1-9: samples join, no update yet
            for key, value in vars(whole).items():
                if key not in NOT_SHARED:
                    setattr(spread, key, copy.deepcopy(value))
            whole.track(frame)
            spread.track(frame)
        spread.learner.load_state(whole.learner.state())
        before, done = spread.learner.classifier_inputs(), spread.learner.updates_done
        whole.learner.request_update()
        whole.learner.advance(whole.runners)
        spread.learner.request_update()
        for unit in range(6):  # 1 + 5 units over 10 frames: one a frame
            assert not spread.learner.updating or unit > 0
            spread.learner.advance(spread.runners)
            if unit < 5:  # the old filters until the last unit is done
                assert spread.learner.updating and spread.learner.units_per_frame == 1
                for name, value in spread.learner.classifier_inputs().items():
                    np.testing.assert_array_equal(value, before[name])
        assert not spread.learner.updating and spread.learner.updates_done == done + 1
    finally:
        for runner in demo.runners.values():
            runner.__dict__.pop("infer", None)
    want = whole.learner.classifier_inputs()
    for name, value in spread.learner.classifier_inputs().items():
        assert np.abs(value - want[name]).max() <= 1e-5 * np.abs(want[name]).max(), name
    if learner == "graph":
        assert len(calls["classifier_update"]) == 1  # the whole update: one fused call
        assert len(calls["classifier_linearize"]) == 1 and len(calls["classifier_cg_step"]) == 5
    else:
        assert not any(calls.values())


@pytest.mark.slow
def test_learner_graph_from_the_command_line_parameters(demo):
    """``--param learner=graph`` reaches the tracker through the session's parameter texts."""
    sequence = generate_sequence(6, SyntheticConfig(num_frames=18))  # an update at frame 10, done by 12
    demo.with_params({"learner": "graph", "update_spread_frames": "5"})
    try:
        tracker = demo.new_tracker()
        assert type(tracker.learner).__name__ == "GraphLearner" and tracker.learner.settings.spread_frames == 5
        tracker.initialize(sequence.frames[0], sequence.boxes[0])
        results = [tracker.track(frame) for frame in sequence.frames[1:]]
    finally:
        demo.with_params({"learner": "numpy", "update_spread_frames": "0"})
    assert all(np.isfinite(r.box).all() for r in results) and tracker.learner.updates_done >= 1
