"""Target loss (issue 16, item 8): the loss state, the box kept inside the frame, re-detection.

Scripted stand-ins make the trackers' decisions testable exactly: SCS-Siam's search runner answers with
a peak where a scripted target lies in each search window (the windows are recorded by a stand-in
preprocessor), or with flat noise where it is absent. The generator's leave-and-return clips are
checked against the ground-truth convention (NaN rows, ``absence.label``), and the benchmark's
figures on a hand-made clip.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_tracker.datasets.readers import load_sequence
from edge_tracker.datasets.synthetic import SyntheticConfig, generate_sequence
from edge_tracker.errors import ConfigError
from edge_tracker.preprocess import Preprocessor
from edge_tracker.trackers.atom_params import AtomParams
from edge_tracker.trackers.loss import LossMonitor, clip_box, peak_to_sidelobe, tile_centres
from edge_tracker.trackers.siamfc import SiamParams, SiamTracker
from tests.edge_tracker.stand_ins import FixedResponse, meta

WIDTH, HEIGHT = 320, 240


# ------------------------------------------------------------------------------------------ pieces
@pytest.mark.parametrize("lost_after, lows, expected", [
    (2, [0, 1, 1, 1, 0], ["tracking", "doubt", "lost", "lost", "lost"]),  # lost stays until found()
    (3, [1, 1, 0, 1, 1, 1], ["doubt", "doubt", "tracking", "doubt", "doubt", "lost"]),
    (1, [0, 1], ["tracking", "lost"]),
    (0, [1, 1, 1, 1], ["tracking"] * 4),  # 0: never lost (the behaviour before issue 16)
])
def test_loss_monitor_needs_consecutive_low_frames(lost_after, lows, expected):
    monitor = LossMonitor(lost_after)
    verdicts = []
    for low in lows:
        verdicts.append("lost" if monitor.lost else monitor.observe(bool(low)))
    assert verdicts == expected
    monitor.found()
    assert not monitor.lost and monitor.observe(False) == "tracking"


def test_peak_to_sidelobe_separates_a_peak_from_noise():
    grid = np.arange(17) - 8.0
    peak = np.exp(-(grid[None] ** 2 + grid[:, None] ** 2) / 2.0) * 8.0 + np.random.default_rng(0).normal(0, 0.1, (17, 17))
    noise = np.random.default_rng(1).normal(0, 1, (17, 17))
    assert peak_to_sidelobe(peak, 2) > 30
    assert peak_to_sidelobe(noise, 2) < 4.0
    assert peak_to_sidelobe(np.zeros((17, 17)), 2) == np.inf  # flat: no sidelobe spread


@pytest.mark.parametrize("box, expected", [
    ([10, 20, 30, 40], [10, 20, 30, 40]),  # inside: unchanged
    ([300, 200, 40, 60], [300, 200, 20, 40]),  # half out on the right and bottom
    ([-15, -5, 30, 40], [0, 0, 15, 35]),  # out on the left and top
    ([-10, -10, 400, 300], [0, 0, 320, 240]),  # larger than the frame
    ([500, 100, 20, 20], [319, 100, 1, 20]),  # wholly outside: 1 px at the border
])
def test_clip_box_keeps_the_box_inside_the_frame(box, expected):
    np.testing.assert_allclose(clip_box(np.array(box, float), WIDTH, HEIGHT), expected)


def test_tiles_cover_the_frame_nearest_first():
    tiles = tile_centres(WIDTH, HEIGHT, 100.0, near=(300, 20))
    assert tiles.shape == (12, 2)  # ceil(320 / 100) x ceil(240 / 100)
    assert np.allclose(sorted(set(tiles[:, 0])), [40, 120, 200, 280]) and np.allclose(sorted(set(tiles[:, 1])), [40, 120, 200])
    np.testing.assert_allclose(tiles[0], [280, 40])
    distances = np.hypot(*(tiles - [300, 20]).T)
    assert np.all(np.diff(distances) >= 0)


# ----------------------------------------------------------------------------- parameter checks
@pytest.mark.parametrize("cls, values, message", [
    (SiamParams, {"lost_after_frames": -1}, r"SiamParams.lost_after_frames = -1: expected a whole number in \[0, 1000\]"),
    (SiamParams, {"lost_score_ratio": 1.5}, r"SiamParams.lost_score_ratio = 1.5: expected a finite number in \[0, 1\]"),
    (SiamParams, {"found_psr": float("nan")}, r"SiamParams.found_psr = nan: expected a finite number in \[0, 100\]"),
    (SiamParams, {"reference_frames": 0}, r"SiamParams.reference_frames = 0: expected a whole number in \[1, 100\]"),
    (SiamParams, {"psr_exclude_cells": 8}, r"SiamParams.psr_exclude_cells = 8: expected a whole number in \[0, 7\]"),
    (SiamParams, {"lost_score_ratio": 0.7, "found_score_ratio": 0.6},
     r"lost_score_ratio = 0.7 exceeds found_score_ratio = 0.6: the found test must be at least as strict"),
    (SiamParams, {"recent_frames": 0}, r"SiamParams.recent_frames = 0: expected a whole number in \[1, 1000\]"),
    (SiamParams, {"lost_recent_ratio": -0.1}, r"SiamParams.lost_recent_ratio = -0.1: expected a finite number in \[0, 1\]"),
    (SiamParams, {"redetect": "yes"}, r"redetect = 'yes': expected true or false"),
    (AtomParams, {"lost_after_frames": -2}, r"lost_after_frames must be >= 0 \(0: never lost\), got -2"),
    (AtomParams, {"redetect_area_factor": 0.5}, r"redetect_area_factor must be in \[1, 10\].*got 0.5"),
    (AtomParams, {"redetect_area_factor": float("inf")}, r"redetect_area_factor must be in \[1, 10\]"),
    (AtomParams, {"target_found_threshold": 0.2},
     r"target_found_threshold must be in \[target_not_found_threshold \(0.25\), 1\], got 0.2"),
    (AtomParams, {"redetect": 1}, r"redetect must be true or false, got 1"),
])
def test_loss_parameters_are_validated_with_the_range_in_the_message(cls, values, message):
    with pytest.raises(ConfigError, match=message):
        cls(**values)


def test_loss_parameters_from_text_are_typed():
    with pytest.raises(ConfigError, match="lost_after_frames"):
        SiamParams.from_dict({"lost_after_frames": 2.5})
    assert SiamParams.from_dict({"redetect": False}).redetect is False


# --------------------------------------------------------------------- SCS-Siam, scripted target
class _Recorder(Preprocessor):
    """Remembers the windows of the last ``crops`` call; the crops themselves are blank."""

    def set_frame(self, frame):
        self.frame_shape = frame.shape

    def crops(self, windows, out_size, pad_value):
        self.windows = list(windows)
        return np.zeros((len(windows), 3, out_size, out_size), np.float32)


def _scripted_siam(script: list, params: SiamParams):
    """An SCS-Siam whose response shows a Gaussian peak where ``script[frame]`` (the target centre, image
    px, and optionally the peak's height above the noise, 11 by default; or None: absent) falls in a
    search window, on noise around -3."""
    recorder = _Recorder()
    kernel = meta("kernel", (1, 384, 7, 7))
    template = FixedResponse("template", {"template": meta("template", (1, 3, 135, 135))}, {"kernel": kernel},
                             lambda feed: {"kernel": np.zeros((1, 384, 7, 7), np.float32)})
    grid = np.arange(17) - 8.0
    rng = np.random.default_rng(5)
    frame = {"index": 0}

    def response(feed):
        target = script[frame["index"]]
        out = rng.normal(-3.0, 0.3, (3, 1, 17, 17)).astype(np.float32)
        for k, window in enumerate(recorder.windows):
            if target is None:
                continue
            height = target[2] if len(target) > 2 else 11.0
            cells = (np.asarray(target[:2]) - window.center) / (window.side / 263) / 8
            if np.all(np.abs(cells) <= 8):
                out[k, 0] += height * np.exp(-((grid[None] - cells[0]) ** 2 + (grid[:, None] - cells[1]) ** 2) / 2.0)
        return {"response": out}

    search = FixedResponse("search", {"search": meta("search", (3, 3, 263, 263)), "kernel": kernel},
                           {"response": meta("response", (3, 1, 17, 17))}, response)
    return SiamTracker({"template": template, "search": search}, params, recorder), frame


def _run_script(script, params):
    tracker, frame = _scripted_siam(script, params)
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    tracker.initialize(image, (130.0, 100.0, 40.0, 40.0))
    results = []
    for index in range(1, len(script)):
        frame["index"] = index
        results.append(tracker.track(image))
    return results


# the target sits still, slides to the right border (half out), is gone for 8 frames and comes back
# at the top left, far from where it left (outside the search window there)
SCRIPT = ([(150.0, 120.0)] * 8 + [(150.0 + 20 * k, 120.0) for k in range(1, 9)] + [None] * 8
          + [(60.0, 50.0)] * 12)
FIRST_ABSENT, RETURN = 16, 24


@pytest.mark.parametrize("params, found_by", [
    (SiamParams(), RETURN + 6),  # 12 tiles, 2 a frame: the whole frame within 6 frames
    (SiamParams(redetect=False), None),  # only where it was lost: never found there
])
def test_scs_siam_reports_the_loss_keeps_the_box_inside_and_redetects(params, found_by):
    results = _run_script(SCRIPT, params)
    states = ["init"] + [r.state for r in results]
    assert states[1:FIRST_ABSENT] == ["normal"] * (FIRST_ABSENT - 1)
    assert states[FIRST_ABSENT] == "uncertain"  # one low frame is doubt (lost_after_frames = 2) ...
    assert states[FIRST_ABSENT + 1: RETURN] == ["not_found"] * (RETURN - FIRST_ABSENT - 1)  # ... two: lost
    boxes = np.array([r.box for r in results])
    assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 0] + boxes[:, 2] <= WIDTH + 1e-9)
    assert np.all(boxes[:, 1] + boxes[:, 3] <= HEIGHT + 1e-9) and np.all(boxes[:, 2:] > 0)
    held = boxes[FIRST_ABSENT: RETURN - 1]  # the box holds while lost, at the last confident frame
    assert np.ptp(held, axis=0).max() == 0 and held[0, 0] + held[0, 2] == pytest.approx(WIDTH)
    found = [i for i in range(RETURN, len(SCRIPT)) if states[i] == "normal"]
    if found_by is None:
        assert not found and set(states[RETURN:]) == {"not_found"}
        return
    assert found and found[0] <= found_by and set(states[found[0]:]) == {"normal"}
    centre = boxes[found[0] - 1, :2] + boxes[found[0] - 1, 2:] / 2
    np.testing.assert_allclose(centre, SCRIPT[found[0]], atol=2.0)


def test_scs_siam_tells_a_slow_change_of_look_from_a_sudden_drop():
    """Both end at a peak below half the first frames': a slow fade (the target walks into shade) is
    followed by the recent-peak reference and stays tracked; the same fall in one frame is a loss."""
    still = (150.0, 120.0)
    fade = [(*still, 11.0)] * 8 + [(*still, 11.0 - 0.25 * k) for k in range(1, 21)] + [(*still, 6.0)] * 6
    drop = [(*still, 11.0)] * 8 + [(*still, 6.0)] * 26
    faded = _run_script(fade, SiamParams())
    dropped = _run_script(drop, SiamParams())
    assert faded[-1].score < 0.5 * faded[0].score  # low against the first frames in both runs ...
    assert dropped[-1].score < 0.5 * dropped[0].score
    assert {r.state for r in faded} == {"normal"}  # ... but only the sudden fall is a loss
    assert [r.state for r in dropped[7:9]] == ["uncertain", "not_found"]


def test_scs_siam_with_loss_handling_off_behaves_as_before():
    results = _run_script(SCRIPT, SiamParams(lost_after_frames=0))
    assert {r.state for r in results} == {"normal"}
    boxes = np.array([r.box for r in results])
    assert np.all(boxes[:, 0] + boxes[:, 2] <= WIDTH + 1e-9)  # the box is kept inside all the same


def test_scs_siam_on_a_target_that_never_leaves_is_unchanged():
    script = [(150.0 + 3 * i, 120.0 + i) for i in range(20)]
    on = _run_script(script, SiamParams())
    off = _run_script(script, SiamParams(lost_after_frames=0))
    assert [r.state for r in on] == ["normal"] * 19
    np.testing.assert_array_equal([r.box for r in on], [r.box for r in off])


# -------------------------------------------------------------------- generated leave-and-return
def test_generated_clip_leaves_wholly_and_comes_back(tmp_path):
    config = SyntheticConfig(num_frames=60, leave_frames=10, leave_at=0.3, return_shift=0.3)
    clip = generate_sequence(1, config)
    absent = np.flatnonzero(np.isnan(clip.boxes).any(axis=1))
    assert len(absent) >= 10 and np.all(np.diff(absent) == 1)  # one run of at least leave_frames
    assert np.all(np.isnan(clip.boxes[absent])) and np.all(clip.visible[absent] == 0)
    assert absent[-1] < 50 and clip.visible[absent[-1] + 1:].max() == 1.0  # back, wholly in view
    assert 0 < absent[0] and np.isfinite(clip.boxes[: absent[0]]).all()
    # the files say the same in GOT-10k's convention, and the reader brings back NaN rows
    loaded = load_sequence(clip.write(tmp_path / "leave"))
    np.testing.assert_array_equal(np.isnan(loaded.boxes[:, 0]), np.isnan(clip.boxes[:, 0]))
    labels = np.loadtxt(tmp_path / "leave" / "absence.label")
    np.testing.assert_array_equal(labels[absent], 1)
    # no excursion: byte-identical to what the seed rendered before the option existed
    plain = generate_sequence(2, SyntheticConfig(num_frames=20))
    same = generate_sequence(2, SyntheticConfig(num_frames=20, leave_frames=0, return_shift=0.5))
    np.testing.assert_array_equal(plain.frames, same.frames)


@pytest.mark.parametrize("values, message", [
    ({"leave_at": 0.0}, "leave_at must lie strictly between 0 and 1"),
    ({"leave_frames": 2.5}, "leave_frames must be an integer"),
    ({"leave_frames": 5, "leave_speed": 0.0}, "leave_speed must be > 0 when leave_frames > 0"),
    ({"return_shift": 1.5}, r"return_shift must lie in 0..1"),
])
def test_leave_settings_are_validated(values, message):
    with pytest.raises(ConfigError, match=message):
        SyntheticConfig(**values)


def test_benchmark_figures_on_a_hand_made_clip():
    from benchmarks.target_loss import clip_figures

    class Clip:
        name = "hand"
        boxes = np.array([[10, 10, 20, 20]] * 4 + [[np.nan] * 4] * 3 + [[50, 50, 20, 20]] * 5, float)
        visible = np.array([1, 1, 0.5, 0.2, 0, 0, 0, 1, 1, 1, 1, 1], float)

        def __len__(self):
            return 12

    states = ["init", "normal", "normal", "uncertain", "not_found", "not_found", "not_found", "not_found",
              "normal", "normal", "normal", "normal"]
    boxes = np.array([[10, 10, 20, 20]] * 8 + [[50, 50, 20, 20]] * 4, float)
    figures = clip_figures(Clip(), boxes, states)
    assert figures["first_absent"] == 4 and figures["return"] == 7
    assert figures["report"] == 0 and figures["visible_at_report"] == 0  # reported on the first absent frame
    assert figures["recover"] == 1  # the return frame itself still not_found
    # after the return: one frame missed (IoU 0), four right (IoU 1: 20 of 21 thresholds)
    assert figures["auc_return"] == pytest.approx((4 * 20 / 21) / 5)


# ------------------------------------------------------------------------- AFF-ATOM's loss states
@pytest.mark.parametrize("frames, expected", [
    # (localisation state, peak) per frame -> (reported state, box holds, sample learnt)
    ([("normal", 0.6), ("not_found", 0.2), ("normal", 0.5)],
     [("normal", False, True), ("uncertain", True, False), ("normal", False, True)]),  # one low frame: doubt
    ([("not_found", 0.2)] * 3 + [("normal", 0.28), ("normal", 0.4), ("normal", 0.5)],
     [("uncertain", True, False)] * 2 + [("not_found", True, False)]  # three in a row: lost
     + [("not_found", True, False),  # 0.28 < target_found_threshold: still lost
        ("normal", False, False),  # found: moves, learns nothing from the wide sample
        ("normal", False, True)]),
    ([("hard_negative", 0.5), ("uncertain", 0.4)], [("hard_negative", False, True), ("uncertain", False, True)]),
])
def test_aff_atom_loss_states(frames, expected):
    from edge_tracker.trackers.atom import AtomTracker

    tracker = AtomTracker.__new__(AtomTracker)  # the state logic alone, no graphs
    tracker.params, tracker.monitor = AtomParams(), LossMonitor(AtomParams().lost_after_frames)
    got = [tracker._loss_state(state, score, tracker.monitor.lost) for state, score in frames]
    assert got == expected


def test_aff_atom_with_loss_handling_off_reports_not_found_at_once():
    from edge_tracker.trackers.atom import AtomTracker

    tracker = AtomTracker.__new__(AtomTracker)
    tracker.params = AtomParams(lost_after_frames=0)
    tracker.monitor = LossMonitor(0)
    got = [tracker._loss_state("not_found", 0.1, tracker.monitor.lost) for _ in range(5)]
    assert got == [("not_found", True, False)] * 5 and not tracker.monitor.lost
