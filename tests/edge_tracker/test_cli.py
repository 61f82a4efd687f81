"""`edge-tracker track` as a user runs it: outputs, backend agreement, exit codes, nothing lost.

Clips are generated here (a textured square moving over a gradient), so every test but the two on
../shared/data runs on a fresh clone. The SCS-Siam search graph takes ~0.35 s per frame on 2 CPU
cores, hence clips of 6-8 frames.

To cover another tracker, add its name to TRACKERS_UNDER_TEST: the tests taking ``models`` run for
each (the bad-input tests are tracker-independent and use SCS-Siam only).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_tracker import cli
from edge_tracker.cli import main
from edge_tracker.errors import EdgeTrackerError
from edge_tracker.session import Session, StatusLine
from edge_tracker.video.sources import LiveSource, SourceStats
from tests.conftest import REPO_ROOT

TRACKERS_UNDER_TEST = ["scs-siam", "aff-atom"]

SIZE = (160, 120)            # clip frame size, W x H
SQUARE = 30                  # side of the moving target, px
INIT = (40.0, 30.0, 30.0, 30.0)  # the target's box in frame 0
STEP = (3, 2)                # its motion per frame, px


@dataclass(frozen=True)
class Models:
    tracker: str
    checkpoint: Path   # for --backend torch
    onnx_dir: Path     # for --backend ort


@dataclass(frozen=True)
class Clip:
    video: Path        # .mp4 of video_frames frames
    folder: Path       # folder_frames JPEG frames
    video_frames: int
    folder_frames: int


@pytest.fixture(scope="module")
def export_models(exports):
    """``export_models(name) -> Models``, from the session-wide seeded exports (tests/conftest.py)."""

    def get(tracker: str) -> Models:
        checkpoint, onnx_dir = exports(tracker)
        return Models(tracker, checkpoint, onnx_dir)

    return get


@pytest.fixture(scope="module", params=TRACKERS_UNDER_TEST)
def models(request, export_models) -> Models:
    return export_models(request.param)


@pytest.fixture(scope="module")
def siam(export_models) -> Models:
    return export_models("scs-siam")


def _scene(index: int, texture: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE[1], 0:SIZE[0]]
    image = np.dstack([(xx * 1.5) % 255, (yy * 2.0) % 255, np.full_like(xx, 90)]).astype(np.uint8)
    x, y = int(INIT[0]) + STEP[0] * index, int(INIT[1]) + STEP[1] * index
    image[y:y + SQUARE, x:x + SQUARE] = texture
    return image


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Clip:
    root = tmp_path_factory.mktemp("clip")
    texture = np.random.default_rng(0).integers(0, 256, (SQUARE, SQUARE, 3), dtype=np.uint8)
    video = root / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, SIZE)
    for i in range(8):
        writer.write(_scene(i, texture))
    writer.release()
    folder = root / "frames"
    folder.mkdir()
    for i in range(6):
        cv2.imwrite(str(folder / f"{i:04d}.jpg"), _scene(i, texture))
    return Clip(video, folder, video_frames=8, folder_frames=6)


def _init_arg(box) -> str:
    return "--init=" + ",".join(f"{v:g}" for v in box)


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _check_records(records: list[dict], count: int, init_box) -> None:
    """Frame 0 holds the initial box (state "init"); every frame has a finite box, score and state."""
    assert len(records) == count
    assert [r["frame"] for r in records] == list(range(count))
    assert records[0]["box"] == pytest.approx(list(init_box), abs=0.01)
    assert records[0]["state"] == "init" and records[0]["score"] is None
    for record in records[1:]:
        assert len(record["box"]) == 4 and all(math.isfinite(v) for v in record["box"])
        assert record["box"][2] > 0 and record["box"][3] > 0
        assert math.isfinite(record["score"]) and record["state"] in ("normal", "uncertain", "hard_negative",
                                                                      "not_found")
        assert record["fps"] > 0 and record["time_ms"] > 0 and record["timings_ms"]


def _read_video(path: Path) -> tuple[int, tuple[int, int]]:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"{path} does not open as a video"
    count, size = 0, None
    while True:
        ok, image = capture.read()
        if not ok:
            break
        count, size = count + 1, (image.shape[1], image.shape[0])
    capture.release()
    return count, size


# -- outputs -----------------------------------------------------------------------------------------


def test_video_file_to_video_and_json_lines(models, clip, tmp_path, capsys):
    out_video, out_jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    code = main(["track", str(clip.video), str(out_video), str(out_jsonl), "--model", str(models.onnx_dir),
                 _init_arg(INIT), "--headless", "-q"])
    assert code == 0
    records = _records(out_jsonl)
    _check_records(records, clip.video_frames, INIT)
    assert [r["source_index"] for r in records] == list(range(clip.video_frames))
    assert _read_video(out_video) == (clip.video_frames, SIZE)
    printed = capsys.readouterr().out
    assert f"{models.tracker}: {clip.video_frames} frame(s)" in printed
    assert "FPS:" in printed and "initialisation (frame 0)" in printed and "out.jsonl" in printed


def test_frame_folder_to_json_lines_and_torch_agrees_with_ort(models, clip, tmp_path, capsys):
    """Boxes agree for SCS-Siam. For the ATOM family with random weights, free-running boxes drift
    apart after a few frames (see test_atom_tracker.py, which compares them frame by frame from a
    shared state), so for them only the outputs are checked here."""
    boxes = {}
    for backend, model in (("ort", models.onnx_dir), ("torch", models.checkpoint)):
        out = tmp_path / f"{backend}.jsonl"
        code = main(["track", str(clip.folder), str(out), "--backend", backend, "--model", str(model),
                     "--tracker", models.tracker, "--device", "cpu", _init_arg(INIT), "--headless", "-q"])
        assert code == 0, capsys.readouterr().err
        records = _records(out)
        _check_records(records, clip.folder_frames, INIT)
        boxes[backend] = np.array([r["box"] for r in records])
    assert np.ptp(boxes["ort"][:, 0]) > 0  # the boxes really moved: agreement is not trivial
    if models.tracker in ("scs-siam", "sca-siam", "ssa-siam"):
        assert np.max(np.abs(boxes["ort"] - boxes["torch"])) <= 0.5


def test_drawn_initial_box_is_used(siam, clip, tmp_path, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(cli.cv2, "selectROI", lambda *a, **k: (40, 30, 30, 30))
    out = tmp_path / "out.jsonl"
    assert main(["track", str(clip.folder), str(out), "--model", str(siam.onnx_dir), "--max-frames", "2",
                 "-q"]) == 0
    records = _records(out)
    assert len(records) == 2 and records[0]["box"] == [40.0, 30.0, 30.0, 30.0]


def test_real_video_and_otb_folder(models, shared_data, tmp_path):
    polygon = np.array([float(v) for v in (shared_data / "sequences/vot/bag/groundtruth.txt")
                        .read_text().splitlines()[0].split(",")]).reshape(4, 2)
    bag_box = (*polygon.min(axis=0), *(polygon.max(axis=0) - polygon.min(axis=0)))
    crossing = shared_data / "sequences/otb/Crossing"
    first = (crossing / "groundtruth_rect.txt").read_text().splitlines()[0].replace("\t", ",").replace(" ", ",")
    otb_box = np.array([float(v) for v in first.split(",") if v]) - [1, 1, 0, 0]  # OTB is 1-based
    runs = [(shared_data / "videos/pysot/bag.avi", bag_box, 30, (480, 360)),
            (crossing / "img", otb_box, 8, (360, 240))]
    for i, (source, box, frames, size) in enumerate(runs):
        out_video, out_jsonl = tmp_path / f"{i}.mp4", tmp_path / f"{i}.jsonl"
        assert main(["track", str(source), str(out_video), str(out_jsonl), "--model", str(models.onnx_dir),
                     _init_arg(box), "--max-frames", str(frames), "--headless", "-q"]) == 0
        _check_records(_records(out_jsonl), frames, box)
        assert _read_video(out_video) == (frames, size)


# -- Ctrl-C and a bad frame mid-stream ----------------------------------------------------------------


@pytest.mark.parametrize("stop, code, end", [
    (KeyboardInterrupt(), 130, "interrupted (Ctrl-C)"),
    (EdgeTrackerError("the camera fell off"), 1, "failed (see the error above)"),
], ids=["ctrl-c", "error"])
def test_a_stop_mid_stream_keeps_every_frame_and_finalises_the_video(siam, clip, tmp_path, monkeypatch, capsys,
                                                                      stop, code, end):
    def stopping_tracker(session):
        tracker = real_new(session)
        real_track, calls = tracker.track, []

        def track(image):
            calls.append(1)
            if len(calls) == 4:
                raise stop
            return real_track(image)

        tracker.track = track
        return tracker

    real_new = Session.new_tracker
    monkeypatch.setattr(Session, "new_tracker", stopping_tracker)
    out_video, out_jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    assert main(["track", str(clip.video), str(out_video), str(out_jsonl), "--model", str(siam.onnx_dir),
                 _init_arg(INIT), "--headless", "-q"]) == code
    _check_records(_records(out_jsonl), 4, INIT)  # frame 0 and the 3 frames tracked before the stop
    assert _read_video(out_video) == (4, SIZE)
    captured = capsys.readouterr()
    assert end in captured.out and "(1 initialisation + 3 tracked)" in captured.out
    assert "video file" in captured.out and "(4 frames)" in captured.out
    if code == 1:
        assert "the camera fell off" in captured.err


def test_a_camera_lost_mid_stream_exits_1_and_reports_drops(siam, clip, tmp_path, monkeypatch, capsys):
    scenes = [cv2.imread(str(path)) for path in sorted(clip.folder.glob("*.jpg"))]

    def opener():
        produced = iter(scenes)

        def grab():  # a 20 FPS camera that delivers the clip, then fails for good
            time.sleep(0.05)
            return next(produced, None)
        return grab

    def fake_camera(spec, **options):
        return LiveSource(opener, name="fake-camera", max_failures=2)

    monkeypatch.setattr(cli, "open_source", fake_camera)
    out = tmp_path / "out.jsonl"
    assert main(["track", "/dev/video9", str(out), "--model", str(siam.onnx_dir), _init_arg(INIT),
                 "--headless", "-q"]) == 1
    records = _records(out)
    _check_records(records, len(records), INIT)
    printed = capsys.readouterr().out
    assert "stopped: camera fake-camera lost" in printed
    delivered, dropped = (int(v) for v in re.search(r"(\d+) frame\(s\) read, 0 undecodable \(skipped\), "
                                                     r"(\d+) dropped", printed).groups())
    assert delivered == len(records) and delivered + dropped == len(scenes)


def test_undecodable_frame_mid_stream_is_skipped_warned_and_counted(siam, clip, tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, path in enumerate(sorted(clip.folder.glob("*.jpg"))[:5]):
        (folder / path.name).write_bytes(b"not a jpeg" if i == 2 else path.read_bytes())
    out = tmp_path / "out.jsonl"
    assert main(["track", str(folder), str(out), "--model", str(siam.onnx_dir), _init_arg(INIT),
                 "--headless"]) == 0
    records = _records(out)
    assert [r["frame"] for r in records] == [0, 1, 2, 3]
    assert [r["source_index"] for r in records] == [0, 1, 3, 4]
    captured = capsys.readouterr()
    assert "0002.jpg (frame 2) does not decode" in captured.err
    assert "4 frame(s) read, 1 undecodable (skipped)" in captured.out


# -- bad input ----------------------------------------------------------------------------------------


def _bad_cases(models: Models, clip: Clip, tmp: Path):
    """(name, argv after "track", substring of stderr) of inputs that must exit 2 and track nothing."""
    garbage = tmp / "garbage.mp4"
    garbage.write_text("not a video")
    empty_folder = tmp / "empty"
    empty_folder.mkdir()
    (tmp / "out_folder.jsonl").mkdir()
    onnx, video, out, init = str(models.onnx_dir), str(clip.video), str(tmp / "out.jsonl"), _init_arg(INIT)
    return [
        ("missing input", ["nope.mp4", out, "--model", onnx, init], "does not exist"),
        ("unreadable input", [str(garbage), out, "--model", onnx, init], "cannot open"),
        ("unsupported scheme", ["ftp://x", out, "--model", onnx, init], "unsupported scheme 'ftp://'"),
        ("zero-frame folder", [str(empty_folder), out, "--model", onnx, init], "holds no images"),
        ("missing model folder", [video, out, "--model", str(tmp / "no_model"), init], "no such export folder"),
        ("missing checkpoint", [video, out, "--backend", "torch", "--model", str(tmp / "x.safetensors"), init],
         "no such checkpoint"),
        ("folder without manifest", [video, out, "--model", str(empty_folder), init], "no manifest.json"),
        ("checkpoint given to ort", [video, out, "--model", str(models.checkpoint), init], "--backend torch"),
        ("wrong tracker", [video, out, "--model", onnx, "--tracker", "sca-siam", init],
         f"'{models.tracker}' export, but 'sca-siam'"),
        ("output folder missing", [video, str(tmp / "no" / "out.jsonl"), "--model", onnx, init],
         "does not exist"),
        ("output is a folder", [video, str(tmp / "out_folder.jsonl"), "--model", onnx, init], "is a folder"),
        ("output is the input", [video, video, "--model", onnx, init], "is the input file"),
        ("unknown output format", [video, str(tmp / "out.txt"), "--model", onnx, init], "cannot tell the format"),
        ("--param typo", [video, out, "--model", onnx, init, "--param", "window_influance=0.2"],
         "valid: ['context'"),
        ("--param wrong type", [video, out, "--model", onnx, init, "--param", "context=wide"], "takes a number"),
        ("--param without =", [video, out, "--model", onnx, init, "--param", "context"], "is not KEY=VALUE"),
        ("--init outside frame", [video, out, "--model", onnx, "--init", "500,10,20,20"],
         "outside the 160x120 frame"),
        ("--init zero size", [video, out, "--model", onnx, "--init", "10 10 0 5"], "zero or negative size"),
        ("--init malformed", [video, out, "--model", onnx, "--init", "1,2,3"], "is not 4 numbers"),
        ("headless display", [video, "display://0", "--model", onnx, init], "--headless never opens a window"),
        ("headless without --init", [video, out, "--model", onnx], "with --headless it cannot be drawn"),
    ]


def test_bad_inputs_exit_2_with_a_clear_message_and_write_nothing(siam, clip, tmp_path, capsys):
    for name, argv, message in _bad_cases(siam, clip, tmp_path):
        code = main(["track", *argv, "--headless"])
        err = capsys.readouterr().err
        assert code == 2, f"{name}: exit {code}, stderr: {err}"
        assert message in err, f"{name}: {message!r} not in stderr: {err}"
        assert not (tmp_path / "out.jsonl").exists(), f"{name}: an output was created"


def test_unwritable_output_leaves_the_other_outputs_untouched(siam, clip, tmp_path, capsys):
    earlier = tmp_path / "earlier.jsonl"
    earlier.write_text('{"frame":0}\n')
    code = main(["track", str(clip.video), str(tmp_path / "new.mp4"), str(earlier),
                 str(tmp_path / "missing" / "out.mp4"), "--model", str(siam.onnx_dir), _init_arg(INIT),
                 "--headless"])
    assert code == 2
    assert "missing does not exist" in capsys.readouterr().err
    assert earlier.read_text() == '{"frame":0}\n'  # not truncated
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier.jsonl"]


def test_without_a_display_init_is_required_and_windows_refused(siam, clip, monkeypatch, capsys):
    monkeypatch.setattr(cli.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["track", str(clip.video), "--model", str(siam.onnx_dir)]) == 2
    err = capsys.readouterr().err
    assert "no display to draw it on" in err and "--init x,y,w,h" in err
    assert main(["track", str(clip.video), "display://0", "--model", str(siam.onnx_dir), _init_arg(INIT)]) == 2
    assert "display://0: no display is available" in capsys.readouterr().err


@pytest.mark.parametrize("selection, message", [
    ((0, 0, 0, 0), "no initial box was drawn"),
    (cv2.error("The function is not implemented"), "cannot open windows"),
])
def test_cancelled_or_impossible_box_drawing_exits_2(siam, clip, monkeypatch, capsys, selection, message):
    def select_roi(*args, **kwargs):
        if isinstance(selection, Exception):
            raise selection
        return selection

    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(cli.cv2, "selectROI", select_roi)
    assert main(["track", str(clip.video), "--model", str(siam.onnx_dir)]) == 2
    err = capsys.readouterr().err
    assert message in err and "--init x,y,w,h" in err


# -- status line --------------------------------------------------------------------------------------


class _Stream:
    def __init__(self, tty: bool):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_status_is_one_redrawn_line_on_a_tty_and_a_line_per_second_elsewhere():
    now = [0.0]
    stats = SourceStats(delivered=1, dropped=7)
    for tty in (True, False):
        stream = _Stream(tty)
        status = StatusLine(stream, quiet=False, live=True, clock=lambda: now[0])
        for i in range(1, 41):  # 40 frames at 16 FPS (exact binary fractions): 2.5 s
            now[0] = i / 16
            status.update(i, 16.0, "normal", 0.5, stats)
        status.finish()
        if tty:  # redrawn at most every 0.1 s: every second frame
            assert stream.text.count("\r") == 20 and stream.text.count("\n") == 1
            assert "dropped 7" in stream.text.splitlines()[-1]
        else:
            assert "\r" not in stream.text and len(stream.text.splitlines()) == 2  # at 1 s and 2 s
    quiet = _Stream(True)
    status = StatusLine(quiet, quiet=True, live=False)
    status.update(1, 20.0, "normal", 0.5, stats)
    status.finish()
    assert quiet.text == ""


# -- the installed command ----------------------------------------------------------------------------


def test_console_script_and_module_help():
    script = Path(sys.executable).parent / "edge-tracker"
    for command in ([str(script), "--help"], [sys.executable, "-m", "edge_tracker", "track", "--help"]):
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert "track" in result.stdout
    assert "--init X,Y,W,H" in result.stdout and "--headless" in result.stdout


def test_ort_tracking_never_imports_torch(siam, clip, tmp_path):
    code = (f"import sys; from edge_tracker.cli import main; "
            f"rc = main(['track', {str(clip.folder)!r}, {str(tmp_path / 'o.jsonl')!r}, '--model', "
            f"{str(siam.onnx_dir)!r}, '--init', '40,30,30,30', '--max-frames', '2', '-q']); "
            f"print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'export')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.stdout.splitlines()[-1] == "0 []", result.stderr
