"""Calibration sets: cut by the tracker's own geometry, jittered as stated, reproducible, refused when wrong."""

from __future__ import annotations

import json

import numpy as np
import pytest

from calibration.builder import SamplingParams, build_calibration_set
from calibration.cli import main as calibration_main
from calibration.sources import jitter_box, parse_source
from calibration.store import CalibrationSet
from edge_tracker.datasets.readers import load_sequence
from edge_tracker.datasets.synthetic import SyntheticConfig, generate_sequence
from edge_tracker.errors import InputError
from edge_tracker.preprocess import OpenCVPreprocessor, siamfc_template_window


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A generated 24-frame sequence in GOT-10k layout (frames and ground truth)."""
    root = tmp_path_factory.mktemp("calibration")
    sequence = generate_sequence(4, SyntheticConfig(num_frames=24))
    return sequence.write(root / "clip"), sequence


@pytest.fixture(scope="module")
def siam_set(exports, clip, tmp_path_factory):
    _, onnx_dir = exports("scs-siam")
    out = tmp_path_factory.mktemp("set") / "scs"
    params = SamplingParams(size=12, episode_length=3, position_jitter=0.0, scale_jitter=0.0, seed=3)
    manifest = build_calibration_set([parse_source(str(clip[0]))], out, model=onnx_dir, params=params)
    return out, manifest


def test_template_crops_are_the_trackers_own(siam_set, clip):
    """Without jitter, each episode's template feed is the crop SiamTracker cuts at the ground truth."""
    out, manifest = siam_set
    folder, _ = clip
    sequence = load_sequence(folder)  # the boxes as written (groundtruth.txt rounds them)
    calibration = CalibrationSet(out)
    starts = [start for start, _ in manifest["sources"][0]["episodes"]]
    templates = list(calibration.feeds("template"))
    assert len(templates) == len(starts) == manifest["counts"]["template"] >= 2
    preprocessor = OpenCVPreprocessor()
    for start, feed in zip(starts, templates):
        frame = sequence.frame(start)
        preprocessor.set_frame(frame)
        window = siamfc_template_window(sequence.boxes[start], 0.5, 135)
        expected = preprocessor.crops([window], 135, frame.reshape(-1, 3).mean(axis=0))
        # stored as float16: 0..255 values keep an absolute error below 0.125
        np.testing.assert_allclose(feed["template"], expected, atol=0.13, rtol=0)


def test_manifest_records_what_the_set_is(siam_set, clip):
    out, manifest = siam_set
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["tracker"] == "scs-siam" and manifest["format"] == "edge_tracker.calibration_set"
    assert manifest["sampling"] == {"size": 12, "episode_length": 3, "position_jitter": 0.0, "scale_jitter": 0.0,
                                    "seed": 3}
    assert manifest["counts"]["search"] == 4  # 12 images, 3 per search feed
    assert manifest["export"]["inputs"]["search"] == {"search": [3, 3, 263, 263], "kernel": [1, 384, 7, 7]}
    assert manifest["sources"][0]["kind"] == "sequence" and manifest["sources"][0]["frames"] == 24
    assert all(len(s["sha256"]) == 64 for s in manifest["shards"])
    feed = next(CalibrationSet(out).feeds("search"))
    assert feed["search"].dtype == np.float32 and feed["search"].shape == (3, 3, 263, 263)


def test_the_same_seed_gives_the_same_set(exports, clip, tmp_path, siam_set):
    _, onnx_dir = exports("scs-siam")
    params = SamplingParams(size=12, episode_length=3, position_jitter=0.0, scale_jitter=0.0, seed=3)
    build_calibration_set([parse_source(str(clip[0]))], tmp_path / "again", model=onnx_dir, params=params)
    first, again = CalibrationSet(siam_set[0]), CalibrationSet(tmp_path / "again")
    for phase in ("template", "search"):
        for a, b in zip(first.feeds(phase), again.feeds(phase), strict=True):
            for name in a:
                np.testing.assert_array_equal(a[name], b[name])


def test_jitter_has_the_stated_statistics():
    rng = np.random.default_rng(0)
    box = np.array([100.0, 50.0, 40.0, 90.0])  # sqrt(w h) = 60
    draws = np.array([jitter_box(box, rng, 0.1, 0.2) for _ in range(20000)])
    centres = draws[:, :2] + draws[:, 2:] / 2
    np.testing.assert_allclose(centres.mean(axis=0), [120.0, 95.0], atol=0.15)
    np.testing.assert_allclose(centres.std(axis=0), [6.0, 6.0], rtol=0.03)  # 0.1 * 60 px
    log_scale = np.log(draws[:, 2:] / box[2:])
    np.testing.assert_allclose(log_scale.mean(axis=0), [0.0, 0.0], atol=0.01)
    np.testing.assert_allclose(log_scale.std(axis=0), [0.2, 0.2], rtol=0.03)
    assert np.array_equal(jitter_box(box, rng, 0.0, 0.0), box)


def test_a_set_of_another_tracker_or_input_size_and_a_corrupt_shard_are_refused(siam_set, tmp_path):
    out, _ = siam_set
    calibration = CalibrationSet(out)
    with pytest.raises(InputError, match="built for 'scs-siam', not 'aff-atom'"):
        calibration.check_matches("aff-atom", {})
    with pytest.raises(InputError, match=r"input 'search' has shape \[3, 3, 263, 263\], but this model takes "
                                         r"\[3, 3, 255, 255\]"):
        calibration.check_matches("scs-siam", {"search": {"search": (3, 3, 255, 255)}})
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    shard = sorted(broken.glob("search-*.npz"))[0]
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(InputError, match="does not match its sha256"):
        CalibrationSet(broken).verify()
    with pytest.raises(InputError, match="holds no calibration set"):
        CalibrationSet(tmp_path)


@pytest.mark.parametrize("make, message", [
    (lambda tmp: f"{tmp / 'empty'}@1,2,3,4", "holds no image"),
    (lambda tmp: f"{tmp / 'nowhere'}", "does not exist"),
    (lambda tmp: f"{tmp / 'empty'}@1,2,0,4", "is not a box X,Y,W,H"),
    (lambda tmp: f"{tmp / 'clip.mp4'}", "needs the target's first box"),
    (lambda tmp: f"{tmp / 'notes.txt'}@1,2,3,4", "neither a folder nor a video"),
])
def test_bad_sources_exit_2_naming_the_problem(make, message, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "clip.mp4").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a video")
    code = calibration_main(["build", make(tmp_path), "--tracker", "scs-siam", "--out", str(tmp_path / "set"), "-q"])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "set").exists()  # nothing written for a bad source


def test_a_video_with_a_box_is_tracked_into_episodes(exports, clip, tmp_path):
    """A video source: consecutive episodes, the first at the given box, later ones where the tracker is."""
    _, onnx_dir = exports("scs-siam")
    sequence = clip[1]
    video = tmp_path / "clip.mp4"
    sequence.write_video(video)
    box = ",".join(f"{v:.2f}" for v in sequence.boxes[0])
    params = SamplingParams(size=30, episode_length=4, seed=1)
    manifest = build_calibration_set([parse_source(f"{video}@{box}")], tmp_path / "set", model=onnx_dir,
                                     params=params)
    episodes = manifest["sources"][0]["episodes"]
    assert manifest["sources"][0]["kind"] == "video"
    assert episodes[0] == [0, 3] and episodes[1] == [3, 6]  # each starts where the last one stopped
    assert manifest["counts"]["search"] == 10


def test_polygraphy_loader_yields_the_sets_feeds(siam_set, monkeypatch):
    from calibration.polygraphy_loader import load_data

    out, manifest = siam_set
    monkeypatch.setenv("EDGE_TRACKER_CALIB", str(out))
    monkeypatch.setenv("EDGE_TRACKER_CALIB_PHASE", "search")
    feeds = list(load_data())
    assert len(feeds) == manifest["counts"]["search"]
    assert set(feeds[0]) == {"search", "kernel"} and feeds[0]["search"].dtype == np.float32
    monkeypatch.setenv("EDGE_TRACKER_CALIB_LIMIT", "2")
    assert len(list(load_data())) == 2
    monkeypatch.delenv("EDGE_TRACKER_CALIB_PHASE")
    with pytest.raises(InputError, match="EDGE_TRACKER_CALIB_PHASE"):
        list(load_data())
