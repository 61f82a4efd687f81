"""`edge-tracker track` loses nothing, whatever the ending (issue 16): signals, kills, full disks, a
closed pipe, an unreadable first frame.

Every case is a row: how the run ends, the exit code, a fragment of the message, and what must be
left on disk (JSON lines and video frames, counted by decoding the video with OpenCV). Full disks
are small tmpfs mounts (root only; skipped with the reason elsewhere), pre-filled so that a few
frames fill them. The SCS-Siam graphs take ~0.35 s per frame on 2 CPU cores: clips are short.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_tracker.cli import main
from edge_tracker.session import Session
from edge_tracker.signals import Stopped, interruption, stop_signals
from tests.conftest import REPO_ROOT

SIZE = (160, 120)
SQUARE = 30
INIT = (40.0, 30.0, 30.0, 30.0)
INIT_ARG = "--init=40,30,30,30"
FRAMES = 24  # JSON lines of ~200 bytes: a 4 KiB page of free disk fills at about frame 20


def _scene(index: int, texture: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE[1], 0:SIZE[0]]
    image = np.dstack([(xx * 1.5) % 255, (yy * 2.0) % 255, np.full_like(xx, 90)]).astype(np.uint8)
    x, y = int(INIT[0]) + 2 * index, int(INIT[1]) + index
    image[y:y + SQUARE, x:x + SQUARE] = texture
    return image


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A folder of FRAMES frames (PNG: read back exactly) of a textured square moving right."""
    folder = tmp_path_factory.mktemp("clip")
    texture = np.random.default_rng(0).integers(0, 256, (SQUARE, SQUARE, 3), dtype=np.uint8)
    for i in range(FRAMES):
        cv2.imwrite(str(folder / f"{i:04d}.png"), _scene(i, texture))
    return folder


@pytest.fixture(scope="module")
def model(exports) -> Path:
    return exports("scs-siam")[1]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _decoded(path: Path) -> int:
    """Frames OpenCV decodes from ``path`` (0 when it does not open)."""
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.isOpened():
        ok, _ = capture.read()
        if not ok:
            break
        count += 1
    capture.release()
    return count


def _stop_at(monkeypatch, frame: int, stop) -> None:
    """Make the session's tracker run ``stop()`` when it is asked to track frame ``frame``."""
    real_new = Session.new_tracker

    def new_tracker(session):
        tracker = real_new(session)
        real_track, calls = tracker.track, []

        def track(image):
            calls.append(1)
            if len(calls) == frame:
                stop()
            return real_track(image)

        tracker.track = track
        return tracker

    monkeypatch.setattr(Session, "new_tracker", new_tracker)


# -- signals ------------------------------------------------------------------------------------------

def _send(signum):
    return lambda: os.kill(os.getpid(), signum)


def _raise(error):
    def stop():
        raise error
    return stop


# (name, what happens at the 4th tracked frame, exit code, end of the summary's first line)
STOPS = [
    ("SIGTERM", _send(signal.SIGTERM), 143, "stopped by SIGTERM"),
    ("SIGHUP", _send(signal.SIGHUP), 129, "stopped by SIGHUP"),
    ("Ctrl-C", _raise(KeyboardInterrupt()), 130, "interrupted (Ctrl-C)"),
]


@pytest.mark.parametrize("extension", ["mp4", "mkv", "avi"])
@pytest.mark.parametrize("name, stop, code, end", STOPS, ids=[row[0] for row in STOPS])
def test_a_stop_signal_closes_every_output_and_prints_the_summary(model, clip, tmp_path, monkeypatch, capsys,
                                                                   name, stop, code, end, extension):
    _stop_at(monkeypatch, 4, stop)
    video, jsonl = tmp_path / f"out.{extension}", tmp_path / "out.jsonl"
    assert main(["track", str(clip), str(video), str(jsonl), "--model", str(model), INIT_ARG, "--headless",
                 "-q"]) == code
    out = capsys.readouterr().out
    assert end in out and "(1 initialisation + 3 tracked)" in out
    assert f"out.{extension} (4 frames)" in out and "out.jsonl (4 frames)" in out
    # left on disk: frame 0 and the 3 frames tracked before the stop, in both outputs
    assert [r["frame"] for r in _lines(jsonl)] == [0, 1, 2, 3]
    assert _decoded(video) == 4


def test_stop_signals_raise_once_and_restore_the_old_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Stopped) as stopped, stop_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)  # the handler raises at the next bytecode; this is not reached
    assert interruption(stopped.value) == ("SIGTERM", 143)
    assert interruption(KeyboardInterrupt()) == ("Ctrl-C", 130)
    assert signal.getsignal(signal.SIGTERM) is before
    with stop_signals():
        try:
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(1)
        except Stopped:
            os.kill(os.getpid(), signal.SIGHUP)  # a second signal while stopping: logged, not raised
            time.sleep(0.05)


def _track_process(model: Path, clip: Path, outputs: list[Path]) -> subprocess.Popen:
    command = [sys.executable, "-m", "edge_tracker", "track", str(clip), *map(str, outputs), "--model", str(model),
               INIT_ARG, "--headless", "-q"]
    return subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_lines(path: Path, count: int, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while len(_lines(path)) < count:
        assert process.poll() is None, f"the run ended early: {process.communicate()}"
        assert time.monotonic() < deadline, "the run did not start tracking in time"
        time.sleep(0.05)


# (signal, exit code, what the process prints): a real process, stopped from outside.
KILLS = [
    (signal.SIGTERM, 143, "stopped by SIGTERM"),
    (signal.SIGKILL, -9, None),  # nothing printed; the outputs keep every finished frame
]


@pytest.mark.parametrize("extension", ["mp4", "mkv", "avi"])
@pytest.mark.parametrize("signum, code, printed", KILLS, ids=["SIGTERM", "SIGKILL"])
def test_a_killed_process_leaves_a_video_that_decodes_every_written_frame(model, clip, tmp_path, signum, code,
                                                                          printed, extension):
    video, jsonl = tmp_path / f"out.{extension}", tmp_path / "out.jsonl"
    process = _track_process(model, clip, [video, jsonl])
    _wait_for_lines(jsonl, 3, process)
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "Traceback" not in err
    if printed:
        assert printed in out
    lines = len(_lines(jsonl))
    # one write per frame: a kill loses no frame the JSON lines have (the video is written first, so it
    # may hold one more)
    assert lines >= 3 and _decoded(video) in (lines, lines + 1)


def test_a_closed_stdout_ends_quietly(model, clip):
    # `true` leaves before the summary is printed: its write meets a pipe without a reader (EPIPE)
    command = (f"{sys.executable} -m edge_tracker track {clip} --model {model} {INIT_ARG} --headless -q "
               "--max-frames 3 | true")
    result = subprocess.run(["bash", "-c", f"set -o pipefail; {command}"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1, result.stderr  # the summary could not be printed
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr


# -- full disks ---------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(free_bytes) -> folder`` on a 1 MiB tmpfs filled up to ``free_bytes`` of free space."""
    mounts = []

    def make(free: int) -> Path:
        folder = tmp_path / f"disk{len(mounts)}"
        folder.mkdir()
        if os.geteuid() != 0:
            pytest.skip("a full disk needs a small tmpfs, and mounting one needs root")
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True,
                                text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounts.append(folder)
        filler = folder / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)  # fill, then give back ``free`` bytes
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        os.truncate(filler, max(0, filler.stat().st_size - free))
        return folder

    yield make
    for folder in mounts:
        subprocess.run(["umount", str(folder)], check=False)


# (outputs on the small disk (the rest beside it), free bytes, which output fills it)
FULL_DISKS = [
    ("video .mp4 fills the disk", ["out.mp4"], ["out.jsonl"], 40_000, "out.mp4"),
    ("video .mkv fills the disk", ["out.mkv"], ["out.jsonl"], 40_000, "out.mkv"),
    ("video .avi fills the disk", ["out.avi"], ["out.jsonl"], 40_000, "out.avi"),
    ("JSON lines fill the disk", ["out.jsonl"], ["out.mp4"], 4096, "out.jsonl"),
    ("both on the disk, video first", ["out.mp4", "out.jsonl"], [], 40_000, "out.mp4"),
]


@pytest.mark.parametrize("on_disk, beside, free, full", [row[1:] for row in FULL_DISKS],
                         ids=[row[0] for row in FULL_DISKS])
def test_a_full_disk_ends_with_exit_1_naming_the_output_and_keeps_the_others_intact(
        model, clip, tmp_path, small_disk, capsys, on_disk, beside, free, full):
    disk = small_disk(free)
    paths = {name: disk / name for name in on_disk} | {name: tmp_path / name for name in beside}
    order = [name for name in ("out.mp4", "out.mkv", "out.avi", "out.jsonl") if name in paths]
    code = main(["track", str(clip), *(str(paths[n]) for n in order), "--model", str(model), INIT_ARG,
                 "--headless", "-q"])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert f"{paths[full]}" in captured.err and "No space left on device" in captured.err
    assert "writing stopped: No space left on device" in captured.out
    assert "failed (see the error above); results so far are kept" in captured.out
    written = {}
    for line in captured.out.splitlines():
        if line.strip().startswith("outputs:"):
            for name in order:
                written[name] = int(line.split(f"{paths[name]} (")[1].split(" frames")[0])
    assert 0 < written[full] < FRAMES
    # what survived: every output readable, holding what the summary says
    if "out.jsonl" in paths:
        assert [r["frame"] for r in _lines(paths["out.jsonl"])] == list(range(written["out.jsonl"]))
    for name in ("out.mp4", "out.mkv", "out.avi"):
        if name in paths:
            assert _decoded(paths[name]) == written[name], name


# -- the first frame ----------------------------------------------------------------------------------

def test_an_unreadable_first_frame_is_exit_2_unless_asked_otherwise(model, clip, tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, path in enumerate(sorted(clip.glob("*.png"))[:4]):
        (folder / path.name).write_bytes(b"not a png" if i == 0 else path.read_bytes())
    out = tmp_path / "out.jsonl"
    cases = [
        # (extra arguments, exit code, message fragment, JSON lines left)
        ([], 2, "frame 0 of", 0),
        (["--init-on-first-readable"], 0, "initialising on frame 1 with the --init box", 3),
    ]
    for extra, code, message, lines in cases:
        assert main(["track", str(folder), str(out), "--model", str(model), INIT_ARG, "--headless", *extra]) == code
        err = capsys.readouterr().err
        assert message in err, err
        assert len(_lines(out)) == lines
    assert _lines(out)[0]["source_index"] == 1 and _lines(out)[0]["state"] == "init"
