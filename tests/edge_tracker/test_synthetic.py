"""The procedural sequence generator: determinism, box/pixel agreement, motion, occlusion, files.

Sequences are kept short (10-40 frames) so the file runs in a few seconds on 2 CPU cores.
"""

from __future__ import annotations

import math
import re

import cv2
import numpy as np
import pytest

from edge_tracker.datasets import synthetic
from edge_tracker.datasets.synthetic import (
    SyntheticConfig,
    bounded_walk,
    demo_clip,
    generate_sequence,
    make_texture,
    random_palette,
    rasterise,
)
from edge_tracker.errors import ConfigError, InputError

MAGENTA = (255, 0, 255)  # BGR; no object palette gets within 12 levels of it on every channel


def _everything_on(frames: int = 10) -> SyntheticConfig:
    """Every nuisance forced on, so determinism covers every random draw."""
    return SyntheticConfig(num_frames=frames, occlusion_probability=1.0, motion_blur_probability=1.0,
                           distractors_max=3, jpeg_quality=80)


def _plain(frames: int, **changes) -> SyntheticConfig:
    changes.setdefault("similar_palette_probability", 0.0)  # a target near-magenta would hide its edge
    return SyntheticConfig.clean(num_frames=frames, background="constant", background_color=MAGENTA, **changes)


def _foreground(frames: np.ndarray, threshold: int = 12) -> np.ndarray:
    """``[N, H, W]`` bool: pixels that differ from the constant magenta background."""
    return np.abs(frames.astype(np.int16) - np.array(MAGENTA, np.int16)).max(axis=-1) > threshold


# -- determinism --------------------------------------------------------------------------------

def test_same_seed_gives_byte_identical_output_and_different_seeds_differ():
    config = _everything_on()
    a, b = generate_sequence(7, config), generate_sequence(7, config)
    assert a.frames.dtype == np.uint8 and a.frames.shape == (10, 240, 320, 3)
    assert a.boxes.dtype == np.float64 and a.boxes.shape == (10, 4) and a.visible.shape == (10,)
    assert a.frames.tobytes() == b.frames.tobytes()
    assert a.boxes.tobytes() == b.boxes.tobytes() and a.visible.tobytes() == b.visible.tobytes()
    assert a.info == b.info and a.info["occluder"] and a.info["motion_blur"]
    c = generate_sequence(8, config)
    assert not np.array_equal(a.boxes, c.boxes)
    assert np.abs(a.frames.astype(np.int16) - c.frames).mean() > 10  # whole scenes differ, not one pixel


def test_generation_leaves_global_rng_state_alone():
    np.random.seed(123)
    expected = np.random.random(3)
    np.random.seed(123)
    generate_sequence(1, {"num_frames": 3})
    np.testing.assert_array_equal(np.random.random(3), expected)


# -- boxes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_boxes_lie_in_the_frame_with_positive_size(seed):
    seq = generate_sequence(seed, SyntheticConfig(num_frames=40, max_outside=0.5))
    x, y, w, h = seq.boxes.T
    assert np.all(w > 0) and np.all(h > 0)
    assert np.all(x >= 0) and np.all(y >= 0)
    assert np.all(x + w <= 320 + 1e-9) and np.all(y + h <= 240 + 1e-9)
    assert np.all((seq.visible >= 0) & (seq.visible <= 1))


@pytest.mark.parametrize("seed", range(5))
def test_box_is_the_bounding_box_of_the_rendered_target(seed):
    # Fast rotation and scale change, and objects allowed half out of the frame, so rotated
    # outlines and clipped boxes are both exercised.
    config = _plain(30, scale_step_std=0.02, rotation_speed_max=4.0, max_outside=0.5, speed_max=8.0)
    seq = generate_sequence(seed, config)
    mask = _foreground(seq.frames)
    for t in range(len(seq)):
        rows, cols = np.nonzero(mask[t])
        drawn = np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], np.float64)
        x, y, w, h = seq.boxes[t]
        np.testing.assert_allclose(drawn, [x, y, x + w, y + h], atol=1.0, err_msg=f"seed {seed} frame {t}")


def test_visible_is_one_inside_and_falls_when_the_target_leaves_the_frame():
    inside = generate_sequence(3, _plain(40, max_outside=0.0))
    assert np.all(inside.visible == 1.0)
    seqs = [generate_sequence(seed, _plain(60, max_outside=0.5, speed_min=4.0, speed_max=8.0)) for seed in range(3)]
    clipped = [(s, t) for s in seqs for t in range(len(s)) if s.visible[t] < 0.95]
    assert clipped, "no frame had the target partly outside; the bounce limits ignore max_outside"
    for seq, t in clipped:
        x, y, w, h = seq.boxes[t]
        assert x == 0 or y == 0 or math.isclose(x + w, 320) or math.isclose(y + h, 240)
        assert seq.visible[t] >= 0.4  # max_outside=0.5: the centre never leaves the frame


# -- motion and deformation ---------------------------------------------------------------------

def _centres(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, :2] + boxes[:, 2:] / 2


def test_target_moves_within_the_speed_range():
    config = _plain(40, max_outside=0.0, scale_step_std=0.0, aspect_step_std=0.0, rotation_speed_max=0.0,
                    speed_min=1.0, speed_max=3.0)
    seq = generate_sequence(11, config)
    steps = np.linalg.norm(np.diff(_centres(seq.boxes), axis=0), axis=1)
    assert np.all(steps <= 3.0 + 1e-9)  # a bounce only shortens a step
    assert np.median(steps) >= 1.0
    assert np.linalg.norm(_centres(seq.boxes)[-1] - _centres(seq.boxes)[0]) > 5.0


def test_scale_changes_when_enabled_and_is_constant_when_disabled():
    rigid = dict(max_outside=0.0, aspect_step_std=0.0, rotation_speed_max=0.0)
    fixed = generate_sequence(5, _plain(40, scale_step_std=0.0, **rigid))
    np.testing.assert_allclose(fixed.boxes[:, 2:], np.broadcast_to(fixed.boxes[0, 2:], (40, 2)), atol=1e-9)
    varying = generate_sequence(5, _plain(40, scale_step_std=0.02, scale_min=0.7, scale_max=1.4, **rigid))
    size = np.sqrt(varying.boxes[:, 2] * varying.boxes[:, 3])
    assert size.max() / size.min() > 1.1
    relative = size / size[0]
    assert relative.min() >= 0.7 - 1e-9 and relative.max() <= 1.4 + 1e-9  # the walk's limits hold
    # Pure scaling keeps the box's aspect ratio.
    np.testing.assert_allclose(varying.boxes[:, 2] / varying.boxes[:, 3], fixed.boxes[0, 2] / fixed.boxes[0, 3],
                               rtol=1e-9)


def test_rotation_changes_the_box_shape():
    rigid = dict(max_outside=0.0, scale_step_std=0.0, aspect_step_std=0.0)
    still = generate_sequence(2, _plain(30, rotation_speed_max=0.0, **rigid))
    spun = generate_sequence(2, _plain(30, rotation_speed_max=5.0, **rigid))
    assert np.ptp(still.boxes[:, 2]) < 1e-9
    assert np.ptp(spun.boxes[:, 2] / spun.boxes[:, 3]) > 0.05


def test_bounded_walk_respects_its_limits_and_is_zero_when_off():
    rng = np.random.default_rng(0)
    walk = bounded_walk(rng, 500, 0.05, -0.2, 0.3)
    assert walk[0] == 0 and walk.min() >= -0.2 and walk.max() <= 0.3 and np.ptp(walk) > 0.3
    assert not np.any(bounded_walk(rng, 50, 0.0, -1, 1))


# -- occlusion ----------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 4])
def test_occluder_covers_the_target_and_visible_says_how_much(seed):
    config = dict(max_outside=0.0, speed_max=2.0)
    clear = generate_sequence(seed, _plain(40, occlusion_probability=0.0, **config))
    occluded = generate_sequence(seed, _plain(40, occlusion_probability=1.0, **config))
    # The occluder has its own random stream: the target's path is the same with and without it.
    np.testing.assert_array_equal(clear.boxes, occluded.boxes)
    assert np.all(clear.visible == 1.0) and np.all(np.isnan(clear.occluder_boxes))
    assert occluded.visible[0] == 1.0  # the occluder starts clear of the target
    hidden = np.nonzero(occluded.visible < 0.9)[0]
    assert hidden.size > 0 and occluded.visible.min() < 0.6
    target = _foreground(clear.frames)
    changed = np.any(clear.frames != occluded.frames, axis=-1)
    for t in hidden:
        covered = (target[t] & changed[t]).sum() / target[t].sum()
        assert covered > 0.1  # occluder pixels replaced target pixels
        assert abs(covered - (1.0 - occluded.visible[t])) < 0.1, f"frame {t}"
        ox, oy, ow, oh = occluded.occluder_boxes[t]
        x, y, w, h = occluded.boxes[t]
        assert ox < x + w and x < ox + ow and oy < y + h and y < oy + oh


# -- configuration ------------------------------------------------------------------------------

def test_unknown_key_is_refused_with_the_valid_keys_listed():
    with pytest.raises(ConfigError, match="unknown parameter") as err:
        SyntheticConfig.from_dict({"num_frame": 10})
    message = str(err.value)
    assert "num_frame" in message and "num_frames" in message and "occlusion_probability" in message
    with pytest.raises(ConfigError, match="num_frame"):
        generate_sequence(0, {"num_frame": 10})


@pytest.mark.parametrize("changes, pattern", [
    ({"num_frames": -5}, "num_frames"),
    ({"num_frames": 0}, "num_frames"),
    ({"object_size_min": 80.0, "object_size_max": 40.0}, "object_size_min .* must not exceed object_size_max"),
    ({"speed_min": 5.0, "speed_max": 1.0}, "speed_min"),
    ({"occlusion_probability": 1.5}, "occlusion_probability"),
    ({"max_outside": 0.7}, "max_outside"),
    ({"scale_min": 1.2}, "scale_min <= 1 <= scale_max"),
    ({"background": "plasma"}, "background must be one of"),
    ({"background_color": (1, 2)}, "background_color"),
    ({"noise_std": float("nan")}, "noise_std"),
    ({"distractors_max": True}, "distractors_max"),
    ({"width": 8}, "too small"),
    ({"jpeg_quality": 101}, "jpeg_quality"),
])
def test_invalid_values_are_refused(changes, pattern):
    with pytest.raises(ConfigError, match=pattern):
        SyntheticConfig.from_dict(changes)


def test_bad_seed_and_config_type_are_refused():
    with pytest.raises(ConfigError, match="seed"):
        generate_sequence(-1)
    with pytest.raises(ConfigError, match="SyntheticConfig"):
        generate_sequence(0, ["num_frames", 3])


def test_config_is_frozen_and_clean_turns_nuisances_off():
    config = SyntheticConfig.clean(num_frames=4)
    with pytest.raises(Exception):
        config.num_frames = 5  # type: ignore[misc]
    assert config.num_frames == 4 and config.noise_std == 0 and config.occlusion_probability == 0
    assert config.distractors_max == 0 and config.light_gradient_strength == 0
    assert SyntheticConfig.from_dict({"background_color": [1, 2, 3]}).background_color == (1, 2, 3)


# -- textures and masks -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["noise", "stripes", "checker", "blobs"])
def test_textures_are_varied_and_in_range(kind):
    rng = np.random.default_rng(3)
    texture = make_texture(rng, 60, 80, kind, random_palette(rng, 4))
    assert texture.shape == (60, 80, 3) and texture.dtype == np.float32
    assert texture.min() >= 0 and texture.max() <= 255
    assert texture.std() > 5  # not flat
    other = make_texture(np.random.default_rng(4), 60, 80, kind, random_palette(rng, 4))
    assert np.abs(texture - other).mean() > 5


def test_rasterise_gives_area_coverage():
    # Rectangle [5.25, 15.75] x [3.5, 9.0]: 10.5 x 5.5 px.
    rect = np.array([[5.25, 3.5], [15.75, 3.5], [15.75, 9.0], [5.25, 9.0]])
    cover = rasterise(rect, 12, 20)
    assert abs(cover.sum() - 10.5 * 5.5) < 0.6
    np.testing.assert_allclose(cover[6, [4, 5, 6, 15, 16]], [0, 0.75, 1, 0.75, 0], atol=0.07)
    np.testing.assert_allclose(cover[[2, 3, 4, 8, 9], 10], [0, 0.5, 1, 1, 0], atol=0.07)


# -- files --------------------------------------------------------------------------------------

def test_write_round_trips_boxes_and_frames(tmp_path):
    seq = generate_sequence(2, SyntheticConfig(num_frames=12, occlusion_probability=1.0))
    folder = seq.write(tmp_path / "seq")
    assert folder == tmp_path / "seq"
    names = sorted(p.name for p in folder.glob("*.jpg"))
    assert names == [f"{i:08d}.jpg" for i in range(1, 13)]
    boxes = np.loadtxt(folder / "groundtruth.txt", delimiter=",")
    assert boxes.shape == (12, 4)
    np.testing.assert_allclose(boxes, seq.boxes, atol=0.005 + 1e-9)
    assert re.fullmatch(r"(\d+\.\d\d,){3}\d+\.\d\d", (folder / "groundtruth.txt").read_text().splitlines()[0])
    for index in (0, 11):  # order: file k holds frame k - 1
        image = cv2.imread(str(folder / names[index]))
        assert image.shape == seq.frames[index].shape
        assert np.abs(image.astype(np.int16) - seq.frames[index]).mean() < 4
    cover = np.loadtxt(folder / "cover.label", dtype=int)
    absence = np.loadtxt(folder / "absence.label", dtype=int)
    assert cover.shape == absence.shape == (12,) and cover.min() >= 0 and cover.max() <= 8
    np.testing.assert_array_equal(cover, np.where(seq.visible <= 0, 0, np.clip(np.rint(seq.visible * 8), 1, 8)))


def test_write_video_writes_every_frame_and_refuses_what_it_cannot_write(tmp_path):
    seq = generate_sequence(1, {"num_frames": 8})
    path = seq.write_video(tmp_path / "clip.mp4", fps=25)
    capture = cv2.VideoCapture(str(path))
    count = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        assert frame.shape == (240, 320, 3)
        count += 1
    capture.release()
    assert count == 8
    with pytest.raises(InputError, match="cannot write"):
        seq.write_video(tmp_path / "clip.nosuchcontainer")
    with pytest.raises(InputError, match="fps"):
        seq.write_video(tmp_path / "clip2.mp4", fps=0)


def test_demo_clip_returns_its_first_box(tmp_path):
    path, box = demo_clip(tmp_path / "demo.mp4", seed=0, frames=10)
    assert path.exists() and path.stat().st_size > 0
    truth = np.loadtxt(tmp_path / "demo_groundtruth.txt", delimiter=",")
    assert truth.shape == (10, 4)
    np.testing.assert_allclose(box, truth[0], atol=1e-9)
    np.testing.assert_allclose(box, generate_sequence(0, synthetic.demo_config(10)).boxes[0], atol=0.005 + 1e-9)


def test_cli_writes_count_sequences_and_a_list(tmp_path, capsys):
    assert synthetic.main([str(tmp_path), "--count", "2", "--seed", "3", "--frames", "4", "--video"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "list.txt").read_text() == "synthetic_0000\nsynthetic_0001\n"
    for i, seed in enumerate((3, 4)):
        folder = tmp_path / f"synthetic_{i:04d}"
        assert len(list(folder.glob("*.jpg"))) == 4 and (tmp_path / f"synthetic_{i:04d}.mp4").exists()
        assert f"wrote {folder} " in out and f"seed {seed}" in out
        np.testing.assert_allclose(np.loadtxt(folder / "groundtruth.txt", delimiter=","),
                                   generate_sequence(seed, {"num_frames": 4}).boxes, atol=0.005 + 1e-9)
    assert synthetic.main([str(tmp_path / "bad"), "--frames", "0"]) == 2
    assert "num_frames" in capsys.readouterr().err
