"""Video I/O: URI parsing, file/folder/live sources, video/JSON lines/display sinks.

Fixtures are generated into tmp_path (a 10-frame video, 8 PNGs); live cameras are replaced by
synthetic grab functions. Every thread wait is bounded.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import re
import threading
import time
import weakref
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_tracker.errors import EdgeTrackerError, InputError
from edge_tracker.video import (
    CameraHandle,
    CaptureSource,
    DisplaySink,
    FileSource,
    FolderSource,
    Frame,
    JsonlSink,
    LatestFrameGrabber,
    LiveSource,
    VideoSink,
    csi_pipeline,
    display,
    display_missing,
    open_sink,
    open_source,
    parse_input_uri,
    parse_output_uri,
)
from edge_tracker.video.sources import cameras, rtsp

H, W = 48, 64
STEP = 25  # frame i is filled with i * STEP: neighbours differ far more than the codec's error


def _filled(value: int, shape=(H, W)) -> np.ndarray:
    return np.full((*shape, 3), value, np.uint8)


@pytest.fixture
def video_file(tmp_path) -> Path:
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (W, H))
    assert writer.isOpened()
    for i in range(10):
        writer.write(_filled(i * STEP))
    writer.release()
    return path


@pytest.fixture
def frame_folder(tmp_path) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(8):
        image = _filled(i * 30)
        image[i, i] = (1, 2, 3)  # a marker pixel that PNG keeps exactly
        assert cv2.imwrite(str(folder / f"{i:04d}.png"), image)
    (folder / "notes.txt").write_text("not a frame")
    return folder


def _read_all(source) -> list[Frame]:
    with source:
        return list(source)


# -- URIs -------------------------------------------------------------------------------------------


def test_parse_input_uri_kinds(video_file, frame_folder):
    table = {
        str(video_file): ("file", video_file, None, None),
        f"file://{video_file}": ("file", video_file, None, None),
        str(frame_folder): ("folder", frame_folder, None, None),
        f"file://{frame_folder}": ("folder", frame_folder, None, None),
        "/dev/video0": ("v4l2", Path("/dev/video0"), 0, None),
        "v4l2:///dev/video2": ("v4l2", Path("/dev/video2"), 2, None),
        "v4l2://3": ("v4l2", Path("/dev/video3"), 3, None),
        "/dev/v4l/by-id/usb-cam-index0": ("v4l2", Path("/dev/v4l/by-id/usb-cam-index0"), None, None),
        "csi://0": ("csi", None, 0, None),
        "CSI://1": ("csi", None, 1, None),
        "rtsp://192.168.1.20:8554/cam": ("rtsp", None, None, "rtsp://192.168.1.20:8554/cam"),
    }
    for text, (kind, path, index, url) in table.items():
        spec = parse_input_uri(text)
        assert (spec.kind, spec.path, spec.index, spec.url) == (kind, path, index, url), text
        assert spec.uri == text
        assert spec.is_live == (kind in ("v4l2", "csi", "rtsp"))


@pytest.mark.parametrize("text", ["http://x/video.mp4", "foo://", "udp://0.0.0.0:5000"])
def test_unsupported_input_scheme_lists_the_supported_ones(text):
    with pytest.raises(InputError) as err:
        parse_input_uri(text)
    message = str(err.value)
    assert text.split("://")[0] in message
    for scheme in ("file://", "v4l2://", "csi://", "rtsp://", "/dev/video"):
        assert scheme in message


@pytest.mark.parametrize("text, fragment", [
    ("missing/clip.mp4", "missing/clip.mp4"),
    ("file:///nowhere/frames", "/nowhere/frames"),
    ("csi://front", "'front' is not a device number"),
    ("v4l2://-1", "'-1' is not a device number"),
    ("rtsp:///path", "has no host"),
    ("   ", "empty"),
])
def test_bad_input_names_the_bad_value(text, fragment):
    with pytest.raises(InputError, match=re.escape(fragment)):
        parse_input_uri(text)


def test_parse_output_uri_kinds(tmp_path):
    table = {
        "display://0": ("display", None, 0),
        "display://1": ("display", None, 1),
        "display://": ("display", None, 0),
        "out.mp4": ("video", Path("out.mp4"), None),
        "file://runs/out.AVI": ("video", Path("runs/out.AVI"), None),
        f"{tmp_path}/out.mkv": ("video", tmp_path / "out.mkv", None),
        "boxes.jsonl": ("jsonl", Path("boxes.jsonl"), None),
        "file:///tmp/boxes.jsonl": ("jsonl", Path("/tmp/boxes.jsonl"), None),
    }
    for text, (kind, path, index) in table.items():
        spec = parse_output_uri(text)
        assert (spec.kind, spec.path, spec.index) == (kind, path, index), text


@pytest.mark.parametrize("text, fragment", [
    ("http://x", "unsupported scheme 'http://'"),
    ("foo://", "unsupported scheme 'foo://'"),
    ("out.txt", "extension '.txt'"),
    ("display://left", "'left' is not a device number"),
])
def test_bad_output_lists_the_supported_ones(text, fragment):
    with pytest.raises(InputError) as err:
        parse_output_uri(text)
    message = str(err.value)
    assert fragment in message
    if "device number" not in fragment:
        for supported in ("display://N", ".mp4", ".avi", ".mkv", ".jsonl"):
            assert supported in message


# -- files and folders ------------------------------------------------------------------------------


def test_file_source_yields_every_frame_in_order(video_file):
    source = open_source(video_file)
    assert isinstance(source, FileSource)
    frames = _read_all(source)
    assert [f.index for f in frames] == list(range(10))
    assert [f.source_index for f in frames] == list(range(10))
    for i, frame in enumerate(frames):
        assert frame.image.shape == (H, W, 3) and frame.image.dtype == np.uint8
        assert abs(frame.image.mean() - i * STEP) < 6, (i, frame.image.mean())
    assert np.allclose([f.timestamp for f in frames], np.arange(10) * 0.1, atol=1e-3)
    assert source.nominal_fps == pytest.approx(10.0)
    assert source.stats.delivered == 10 and source.stats.decode_failures == 0


def test_folder_source_yields_every_frame_in_order(frame_folder):
    source = open_source(f"file://{frame_folder}", fps=20)
    assert isinstance(source, FolderSource)
    frames = _read_all(source)
    assert [f.index for f in frames] == list(range(8))
    for i, frame in enumerate(frames):
        assert tuple(frame.image[i, i]) == (1, 2, 3)
        expected = _filled(i * 30)
        expected[i, i] = (1, 2, 3)
        np.testing.assert_array_equal(frame.image, expected)
        assert frame.timestamp == pytest.approx(i / 20)
    assert source.stats.delivered == 8


def test_folder_sorts_numbers_as_numbers(tmp_path):
    for number in (10, 2, 1):
        cv2.imwrite(str(tmp_path / f"frame{number}.jpg"), _filled(number * 10))
    source = FolderSource(tmp_path)
    frames = _read_all(source)
    assert [p.name for p in source.files] == ["frame1.jpg", "frame2.jpg", "frame10.jpg"]
    assert [round(f.image.mean() / 10) for f in frames] == [1, 2, 10]


def test_corrupt_frame_in_folder_is_skipped_counted_and_the_rest_arrive(frame_folder, caplog):
    (frame_folder / "0003.png").write_bytes(b"\x89PNG\r\n\x1a\n but then garbage")
    with caplog.at_level(logging.WARNING, logger="edge_tracker.video"):
        source = FolderSource(frame_folder)
        frames = _read_all(source)
    assert [f.index for f in frames] == list(range(7))
    assert [f.source_index for f in frames] == [0, 1, 2, 4, 5, 6, 7]
    assert [int(f.image[-1, -1, 0]) for f in frames] == [0, 30, 60, 120, 150, 180, 210]
    assert source.stats.decode_failures == 1
    assert any("0003.png" in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records)


def test_undecodable_frame_mid_video_is_skipped_and_counted(tmp_path, caplog):
    path = tmp_path / "clip.avi"  # MJPG: each frame is one JPEG we can wipe
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
    for i in range(10):
        writer.write(_filled(i * STEP))
    writer.release()
    data = bytearray(path.read_bytes())
    starts = [m for m in range(len(data) - 2) if data[m:m + 3] == b"\xff\xd8\xff"]
    assert len(starts) == 10
    end = data.index(b"\xff\xd9", starts[4]) + 2
    data[starts[4]:end] = bytes(end - starts[4])  # frame 4 keeps its place in the file, loses its JPEG
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="edge_tracker.video"):
        source = FileSource(path)
        frames = _read_all(source)
    assert [f.source_index for f in frames] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert [f.index for f in frames] == list(range(9))
    for frame in frames:
        assert abs(frame.image.mean() - frame.source_index * STEP) < 6
    assert source.stats.decode_failures == 1
    assert any("failed to decode" in r.getMessage() for r in caplog.records)


def test_unreadable_inputs_raise_at_open(tmp_path):
    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(b"\x00" * 2048)
    with pytest.raises(InputError, match="broken.mp4"):
        FileSource(garbage).open()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(InputError, match=r"holds no images.*\.bmp \(sorted by name\)$"):
        FolderSource(empty).open()
    (empty / "img").mkdir()  # an OTB-style sequence folder: the frames one level down
    cv2.imwrite(str(empty / "img" / "0001.jpg"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InputError, match=r"holds no images.*its subfolder img/ holds frames .*: give .*empty/img$"):
        FolderSource(empty).open()


def test_source_life_cycle_is_strict(video_file):
    source = open_source(video_file)
    with pytest.raises(EdgeTrackerError, match="before|open"):
        source.read()
    with source:
        with pytest.raises(EdgeTrackerError, match="opens once"):
            source.open()
        assert len(list(source)) == 10
        assert source.read() is None and source.read() is None  # end of stream stays the end
    with pytest.raises(EdgeTrackerError, match="closed"):
        source.read()
    source.close()  # idempotent


def test_open_source_rejects_unknown_options(video_file):
    with pytest.raises(InputError, match="unknown option.*widht.*valid options: max_consecutive_failures"):
        open_source(video_file, widht=640)
    with pytest.raises(InputError, match="valid options:.*reconnect"):
        open_source("csi://0", recconect=True)


# -- live capture ---------------------------------------------------------------------------------


def _tagged(seq: int, tag: int = 0) -> np.ndarray:
    image = np.zeros((4, 4, 3), np.uint8)
    image.reshape(-1)[:8] = np.frombuffer(np.int64(seq).tobytes(), np.uint8)
    image[3, 3] = tag
    return image


def _seq_of(image: np.ndarray) -> int:
    return int(np.frombuffer(image.reshape(-1)[:8].tobytes(), np.int64)[0])


def _fast_camera():
    counter = itertools.count()

    def grab():
        time.sleep(0.001)  # ~1000 FPS: far faster than the reader below
        return _tagged(next(counter))
    return grab


def test_grabber_hands_out_the_newest_frame_and_counts_drops():
    grabber = LatestFrameGrabber(_fast_camera, name="fast")
    seqs = []
    with grabber:
        for _ in range(15):
            time.sleep(0.02)  # a slow tracker
            newest_before = grabber.stats.produced - 1
            grabbed = grabber.read(timeout=2.0)
            assert grabbed is not None
            assert grabbed.seq >= newest_before  # never older than what existed when we asked
            assert _seq_of(grabbed.image) == grabbed.seq
            seqs.append(grabbed.seq)
    stats = grabber.stats
    assert all(b > a for a, b in zip(seqs, seqs[1:]))
    assert stats.delivered == 15
    assert stats.dropped == stats.produced - stats.delivered
    assert stats.dropped > 3 * stats.delivered  # the producer really was much faster
    assert grabber.ended and grabber.read(timeout=0.05) is None


def test_grabber_holds_at_most_one_frame():
    refs: list[weakref.ref] = []
    most_alive = 0

    def opener():
        def grab():
            nonlocal most_alive
            most_alive = max(most_alive, sum(r() is not None for r in refs[-50:]))
            image = _tagged(len(refs))
            refs.append(weakref.ref(image))
            time.sleep(0.0005)
            return image
        return grab

    with LatestFrameGrabber(opener, name="unread") as grabber:
        time.sleep(0.3)  # nobody reads: a queue would grow here
        produced = grabber.stats.produced
        grabbed = grabber.read(timeout=1.0)
        assert grabbed.seq >= produced - 1
        del grabbed
    assert produced > 50
    assert most_alive <= 1  # only the slot's frame was alive whenever a new one was being made


@pytest.mark.parametrize("failure", ["returns None", "raises"])
def test_lost_camera_ends_the_stream(failure, caplog):
    def opener():
        counter = itertools.count()

        def grab():
            seq = next(counter)
            if seq < 5:
                time.sleep(0.002)
                return _tagged(seq)
            if failure == "raises":
                raise OSError("device unplugged")
            return None
        return grab

    grabber = LatestFrameGrabber(opener, name="usb", max_failures=3)
    got = []
    with caplog.at_level(logging.ERROR, logger="edge_tracker.video"), grabber:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            grabbed = grabber.read(timeout=0.5)
            if grabbed is None and grabber.ended:
                break
            if grabbed is not None:
                got.append(grabbed.seq)
        assert grabber.ended
        assert got and got[-1] == 4  # the last frame before the loss still arrives
    stats = grabber.stats
    assert (stats.produced, stats.grab_failures) == (5, 3)
    assert "3 grabs failed in a row" in stats.end_reason
    if failure == "raises":
        assert "device unplugged" in stats.end_reason
    assert any("usb lost" in r.getMessage() for r in caplog.records)


def test_reconnect_reopens_after_failed_attempts(caplog):
    calls, closed = [], []

    def opener():
        calls.append(len(calls) + 1)
        attempt = calls[-1]
        if attempt in (2, 3):
            raise OSError(f"no device yet ({attempt})")
        counter = itertools.count()

        def grab():
            seq = next(counter)
            if attempt == 1 and seq >= 3:
                return None  # the first camera vanishes after 3 frames
            time.sleep(0.002)
            return _tagged(seq, tag=attempt)
        return CameraHandle(grab=grab, close=lambda: closed.append(attempt))

    grabber = LatestFrameGrabber(opener, name="cam", max_failures=2, reconnect=True, max_reconnects=5,
                                 backoff_s=0.01)
    tags = []
    with caplog.at_level(logging.INFO, logger="edge_tracker.video"), grabber:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and 4 not in tags:
            grabbed = grabber.read(timeout=0.5)
            if grabbed is not None:
                tags.append(int(grabbed.image[3, 3, 0]))
    assert 4 in tags and not grabber.stats.end_reason
    assert calls == [1, 2, 3, 4]
    assert grabber.stats.reconnects == 1
    assert closed == [1, 4]
    messages = [r.getMessage() for r in caplog.records]
    for attempt in (1, 2, 3):
        assert any(f"reconnect attempt {attempt}/5" in m for m in messages)
    assert any("reopened on attempt 3/5" in m for m in messages)


def test_reconnect_attempts_are_bounded():
    calls = []

    def opener():
        calls.append(1)
        if len(calls) > 1:
            raise OSError("gone for good")
        return lambda: None

    grabber = LatestFrameGrabber(opener, name="cam", max_failures=1, reconnect=True, max_reconnects=2,
                                 backoff_s=0.01)
    with grabber:
        assert grabber.read(timeout=5.0) is None
        assert grabber.ended
    assert len(calls) == 3
    assert "2 reconnect attempts failed" in grabber.stats.end_reason
    assert "gone for good" in grabber.stats.end_reason


def test_live_source_frames_and_stats():
    source = LiveSource(_fast_camera, name="fake")
    frames = []
    with source:
        for _ in range(5):
            time.sleep(0.01)
            frames.append(source.read())
    assert [f.index for f in frames] == list(range(5))
    assert all(b.source_index > a.source_index for a, b in zip(frames, frames[1:]))
    assert all(b.timestamp > a.timestamp for a, b in zip(frames, frames[1:]))
    assert all(_seq_of(f.image) == f.source_index for f in frames)
    assert source.stats.delivered == 5 and source.stats.dropped > 0


def test_live_source_ends_a_stalled_camera():
    release = threading.Event()

    def opener():
        counter = itertools.count()

        def grab():
            if next(counter) == 0:
                return _tagged(0)
            release.wait(5.0)  # a driver that hangs instead of failing
            return None
        return grab

    source = LiveSource(opener, name="hung", stall_timeout=0.3)
    try:
        with source:
            assert source.read().source_index == 0
            started = time.monotonic()
            assert source.read() is None
            assert time.monotonic() - started < 2.0
        assert "stalled" in source.stats.end_reason
    finally:
        release.set()


def test_csi_pipeline_contents():
    text = csi_pipeline(sensor_id=1, width=1920, height=1080, fps=29.97, flip="rotate-180")
    assert text.startswith("nvarguscamerasrc sensor-id=1 ! ")
    assert "video/x-raw(memory:NVMM), width=(int)1920, height=(int)1080" in text
    assert "framerate=(fraction)30000/1001" in text
    assert "format=(string)NV12" in text
    assert "nvvidconv flip-method=2" in text
    assert "format=(string)BGRx ! videoconvert ! video/x-raw, format=(string)BGR" in text
    assert text.endswith("appsink drop=true max-buffers=1 sync=false")
    assert "flip-method=0" in csi_pipeline()
    assert "framerate=(fraction)60/1" in csi_pipeline(fps=60, flip=0)
    assert "framerate=(fraction)60000/1001" in csi_pipeline(fps=59.94)
    assert "framerate=(fraction)15/2" in csi_pipeline(fps=7.5)
    with pytest.raises(InputError, match="flip='upside-down'.*rotate-180"):
        csi_pipeline(flip="upside-down")
    with pytest.raises(InputError, match="width=0"):
        csi_pipeline(width=0)


def test_csi_open_explains_what_is_needed(monkeypatch):
    # Patched where _open_csi looks it up, so the test also holds on a Jetson whose OpenCV has GStreamer.
    monkeypatch.setattr(cameras, "_opencv_has_gstreamer", lambda: False)
    source = open_source("csi://0")
    assert isinstance(source, CaptureSource)
    with pytest.raises(InputError) as err:
        source.open()
    assert "csi://0" in str(err.value) and "GStreamer" in str(err.value)
    assert "gst-launch-1.0 nvarguscamerasrc" in str(err.value)


def test_rtsp_source_opens_through_the_patched_opener(monkeypatch):
    opened = []

    def fake_open_rtsp(spec, timeout_s, transport):
        opened.append((spec.url, timeout_s, transport))
        return _fast_camera()
    monkeypatch.setattr(rtsp, "_open_rtsp", fake_open_rtsp)
    with open_source("rtsp://cam.local:8554/live", open_timeout_s=2.0, rtsp_transport="udp") as source:
        assert isinstance(source, CaptureSource)
        frame = source.read()
    assert frame is not None and frame.image.shape == (4, 4, 3)
    assert opened == [("rtsp://cam.local:8554/live", 2.0, "udp")]


def test_fps_is_checked_and_the_message_names_where(tmp_path, frame_folder):
    with pytest.raises(InputError, match=r"fps=0 for frame folder .*positive number of frames per second"):
        FolderSource(frame_folder, fps=0)
    with pytest.raises(InputError, match=r"fps=nan for video file .*out\.mp4"):
        VideoSink(tmp_path / "out.mp4", fps=float("nan"))
    with pytest.raises(InputError, match=r"fps=-30 for csi_pipeline"):
        csi_pipeline(fps=-30)
    with pytest.raises(InputError, match=r"fps='30' for csi_pipeline"):
        open_source("csi://0", fps="30")


def test_missing_v4l2_device_names_it():
    if Path("/dev/video97").exists():
        pytest.skip("/dev/video97 exists on this machine")
    with pytest.raises(InputError, match="/dev/video97.*does not exist"):
        open_source("v4l2://97").open()


# -- sinks ----------------------------------------------------------------------------------------


BOX = [40.0, 50.0, 60.0, 40.0]  # covers columns 40..99 and rows 50..89


def _result(i: int, box=BOX) -> dict:
    return {"box": box, "score": 0.9, "state": "tracking", "fps": 80.0, "time_ms": 12.3456789 + i}


@pytest.mark.parametrize("extension", ["mp4", "avi"])
def test_video_sink_writes_a_readable_video_with_the_box(tmp_path, extension):
    path = tmp_path / f"out.{extension}"
    with open_sink(path, fps=10) as sink:
        assert isinstance(sink, VideoSink)
        for i in range(7):
            sink.write(Frame(i, _filled(60, (120, 160)), i / 10, i), _result(i))
    capture = cv2.VideoCapture(str(path))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 7
    images = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        images.append(image)
    capture.release()
    assert len(images) == 7 and images[0].shape == (120, 160, 3)
    image = images[-1].astype(int)
    for row, col in [(70, 40), (70, 99), (50, 70), (89, 70)]:  # left, right, top, bottom edges
        b, g, r = image[row, col]
        assert g - max(b, r) > 80, (row, col, image[row, col])
    assert np.all(np.abs(image[60:80, 50:90] - 60) < 12)  # inside the box: the frame, untouched
    assert image[5:10, 5:40].max() > 150  # the text line


def test_unwritable_output_raises_before_any_frame(tmp_path):
    (tmp_path / "a_file").write_text("x")
    for target in (tmp_path / "no_such_dir" / "out.mp4", tmp_path / "a_file" / "out.mp4",
                   tmp_path / "no_such_dir" / "out.jsonl"):
        sink = open_sink(target)
        with pytest.raises(InputError) as err:
            sink.open()
        assert str(target) in str(err.value)
        assert sink.frames_written == 0
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(InputError, match="it is a folder"):
        open_sink(tmp_path / "dir.mp4").open()


def test_video_sink_without_frames_leaves_no_file(tmp_path):
    path = tmp_path / "out.mkv"
    with open_sink(path):
        assert path.exists()  # the writability probe
    assert not path.exists()


def test_jsonl_lines_are_flushed_per_frame_and_survive_an_exception(tmp_path):
    path = tmp_path / "boxes.jsonl"
    with pytest.raises(RuntimeError, match="tracker crashed"):
        with open_sink(f"file://{path}") as sink:
            assert isinstance(sink, JsonlSink)
            for i in range(5):
                box = None if i == 2 else np.array([1.23456, 2.0, 30.5, 40.0], np.float32)
                result = {**_result(i, box), "score": np.float32(0.87654), "extra": {"nan": float("nan")}}
                sink.write(Frame(i, _filled(0), i / 30, i + 10), result)
                lines = path.read_text().splitlines()  # read while the sink is still open
                assert len(lines) == i + 1
                json.loads(lines[-1])
            raise RuntimeError("tracker crashed")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 5
    first = records[0]
    assert list(first)[:3] == ["frame", "source_index", "timestamp"]
    assert first["frame"] == 0 and first["source_index"] == 10
    assert first["box"] == [1.235, 2.0, 30.5, 40.0]
    assert first["score"] == 0.877 and first["state"] == "tracking" and first["fps"] == 80.0
    assert first["time_ms"] == 12.346 and first["extra"] == {"nan": None}
    assert records[2]["box"] is None
    assert records[4]["timestamp"] == pytest.approx(4 / 30, abs=1e-3)


class _DiskFullAfter(io.StringIO):
    """A stream whose disk fills up after ``lines`` lines."""

    def __init__(self, lines: int):
        super().__init__()
        self.lines = lines

    def write(self, text):
        if self.getvalue().count("\n") >= self.lines:
            raise OSError(28, "No space left on device")
        return super().write(text)


def test_jsonl_full_disk_says_what_was_written():
    stream = _DiskFullAfter(3)
    sink = JsonlSink(stream)
    with sink:
        for i in range(3):
            sink.write(Frame(i, _filled(0), 0.0, i), _result(i))
        with pytest.raises(InputError, match=r"after 3 complete lines.*No space left on device"):
            sink.write(Frame(3, _filled(0), 0.0, 3), _result(3))
        with pytest.raises(InputError, match="earlier write failed"):
            sink.write(Frame(4, _filled(0), 0.0, 4), _result(4))
    assert [json.loads(line)["frame"] for line in stream.getvalue().splitlines()] == [0, 1, 2]


def test_jsonl_on_a_full_device(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    link = tmp_path / "full.jsonl"
    link.symlink_to("/dev/full")
    with open_sink(link) as sink:
        with pytest.raises(InputError, match=r"after 0 complete lines \(0 bytes\)"):
            sink.write(Frame(0, _filled(0), 0.0, 0), _result(0))


def test_sinks_check_results():
    sink = JsonlSink(io.StringIO())
    with sink:
        with pytest.raises(InputError, match=r"box \[1, 2, 3\] is not 4 finite numbers"):
            sink.write(Frame(0, _filled(0), 0.0, 0), {"box": [1, 2, 3]})
        with pytest.raises(InputError, match="'box' key"):
            sink.write(Frame(0, _filled(0), 0.0, 0), {"score": 1.0})
        with pytest.raises(InputError, match="clashes"):
            sink.write(Frame(0, _filled(0), 0.0, 0), {"box": None, "frame": 3})


@pytest.mark.parametrize("platform, env, missing", [
    ("linux", {}, True),
    ("linux", {"DISPLAY": ":0"}, False),
    ("linux", {"WAYLAND_DISPLAY": "wayland-0"}, False),
    ("darwin", {}, False),
    ("win32", {}, False),
])
def test_display_missing_only_on_linux_without_a_display_server(monkeypatch, platform, env, missing):
    monkeypatch.setattr(display.sys, "platform", platform)
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert display_missing() is missing


def test_display_without_a_screen_suggests_headless(monkeypatch):
    monkeypatch.setattr(display.sys, "platform", "linux")  # the sink asks display_missing()
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    sink = open_sink("display://0")
    assert isinstance(sink, DisplaySink)
    with pytest.raises(InputError, match="--headless"):
        sink.open()


def test_open_sink_rejects_unknown_options(tmp_path):
    with pytest.raises(InputError, match="unknown option.*fsp.*valid options: fps, color"):
        open_sink(tmp_path / "out.mp4", fsp=30)
