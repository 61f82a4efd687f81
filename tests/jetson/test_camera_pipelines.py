"""Jetson camera pipelines as strings, the software flips, which opener a camera takes, and the
``--input-*`` options of ``edge-tracker track``. No camera or GStreamer is needed: the openers'
calls to OpenCV are replaced in ``cameras`` (the module that looks them up)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from edge_tracker.cli import _camera_options, build_parser, main
from edge_tracker.errors import InputError
from edge_tracker.video import FLIP_METHODS, CameraHandle, InputSpec, open_source, rtsp_pipeline, usb_pipeline
from edge_tracker.video.sources import cameras, rtsp
from edge_tracker.video.sources.pipelines import flip_image

TAIL = ("nvvidconv flip-method=0 ! video/x-raw, format=(string)BGRx ! videoconvert ! "
        "video/x-raw, format=(string)BGR ! appsink drop=true max-buffers=1 sync=false")


def test_usb_pipeline_decodes_mjpeg_on_the_hardware():
    text = usb_pipeline("/dev/video1", 1280, 720, 30)
    assert text == ("v4l2src device=/dev/video1 io-mode=2 ! image/jpeg, width=(int)1280, height=(int)720, "
                    "framerate=(fraction)30/1 ! nvv4l2decoder mjpeg=1 ! " + TAIL)
    jpeg = usb_pipeline("/dev/video0", decoder="nvjpegdec", flip="clockwise")
    assert jpeg.startswith("v4l2src device=/dev/video0 io-mode=2 ! image/jpeg ! nvjpegdec ! video/x-raw ! ")
    assert "nvvidconv flip-method=3 !" in jpeg
    raw = usb_pipeline("/dev/video0", 640, 480, 59.94, decoder=None)
    assert raw.startswith("v4l2src device=/dev/video0 io-mode=2 ! video/x-raw, width=(int)640, height=(int)480, "
                          "framerate=(fraction)60000/1001 ! nvvidconv")
    assert "jpeg" not in raw


def test_usb_pipeline_refuses_bad_modes():
    with pytest.raises(InputError, match="width=640, height=None; give both or neither"):
        usb_pipeline("/dev/video0", 640, None)
    with pytest.raises(InputError, match="decoder='jpegdec'"):
        usb_pipeline("/dev/video0", decoder="jpegdec")
    with pytest.raises(InputError, match=r"device='/dev/video0 ! fakesink'"):
        usb_pipeline("/dev/video0 ! fakesink")
    with pytest.raises(InputError, match="fps=0 for usb_pipeline"):
        usb_pipeline("/dev/video0", fps=0)


def test_rtsp_pipeline_uses_the_hardware_decoder_without_latency():
    text = rtsp_pipeline("rtsp://user:pw@10.0.0.5:8554/cam")
    assert text == ('rtspsrc location="rtsp://user:pw@10.0.0.5:8554/cam" latency=0 protocols=tcp ! '
                    "rtph264depay ! h264parse ! nvv4l2decoder ! " + TAIL)
    h265 = rtsp_pipeline("rtsp://cam/1", codec="h265", transport="udp", flip="vertical")
    assert "protocols=udp ! rtph265depay ! h265parse ! nvv4l2decoder ! nvvidconv flip-method=6 !" in h265
    with pytest.raises(InputError, match="codec='mjpeg'.*h264, h265"):
        rtsp_pipeline("rtsp://cam/1", codec="mjpeg")
    with pytest.raises(InputError, match="percent-encode"):
        rtsp_pipeline('rtsp://cam/a"b')


@pytest.mark.parametrize("name", list(FLIP_METHODS))
def test_software_flip_matches_nvvidconv_flip_methods(name):
    # A 2x3 image whose pixels hold their own (row, col), so where each lands says what the flip did.
    image = np.array([[[0], [1], [2]], [[3], [4], [5]]], dtype=np.uint8)
    expected = {  # nvvidconv's documented meaning of each flip-method, written out by hand
        "none": [[0, 1, 2], [3, 4, 5]],
        "counterclockwise": [[2, 5], [1, 4], [0, 3]],
        "rotate-180": [[5, 4, 3], [2, 1, 0]],
        "clockwise": [[3, 0], [4, 1], [5, 2]],
        "horizontal": [[2, 1, 0], [5, 4, 3]],
        "upper-right-diagonal": [[5, 2], [4, 1], [3, 0]],
        "vertical": [[3, 4, 5], [0, 1, 2]],
        "upper-left-diagonal": [[0, 3], [1, 4], [2, 5]],
    }[name]
    out = flip_image(image, name)
    assert out[..., 0].tolist() == expected
    assert out.flags.c_contiguous
    assert flip_image(image, FLIP_METHODS[name])[..., 0].tolist() == expected


def _handle(image):
    return CameraHandle(grab=lambda: image.copy())


def test_rtsp_off_a_jetson_goes_through_ffmpeg_and_is_flipped_in_software(monkeypatch):
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    monkeypatch.setattr(cameras, "_jetson_gstreamer", lambda: False)
    monkeypatch.setattr(rtsp, "_open_rtsp", lambda spec, timeout_s, transport: _handle(image))
    with open_source("rtsp://cam.local/live", flip="rotate-180") as source:
        frame = source.read()
    assert np.array_equal(frame.image, image[::-1, ::-1])


def test_rtsp_on_a_jetson_tries_nvdec_first_then_falls_back(monkeypatch, caplog):
    image = np.zeros((4, 4, 3), np.uint8)
    tried = []
    monkeypatch.setattr(cameras, "_jetson_gstreamer", lambda: True)
    monkeypatch.setattr(cameras, "_gst_has", lambda element: element == "nvv4l2decoder")
    monkeypatch.setattr(cameras, "_open_gstreamer", lambda pipeline: tried.append(pipeline) or None)
    monkeypatch.setattr(rtsp, "_open_rtsp", lambda spec, timeout_s, transport: _handle(image))
    with caplog.at_level(logging.WARNING), open_source("rtsp://cam.local/live", codec="h265") as source:
        assert source.read() is not None
    assert tried == [rtsp_pipeline("rtsp://cam.local/live", codec="h265")]
    assert "--input-codec h264|h265" in caplog.text and "FFMPEG" in caplog.text


def test_usb_on_a_jetson_tries_the_installed_mjpeg_decoders_then_raw(monkeypatch, tmp_path):
    device = tmp_path / "video0"  # stands for the device node: the opener only checks that it exists
    device.touch()
    tried = []

    def fake_open(pipeline):
        tried.append(pipeline)
        return _handle(np.zeros((2, 2, 3), np.uint8)) if "image/jpeg" not in pipeline else None
    monkeypatch.setattr(cameras, "_jetson_gstreamer", lambda: True)
    monkeypatch.setattr(cameras, "_gst_has", lambda element: element == "nvjpegdec")
    monkeypatch.setattr(cameras, "_open_gstreamer", fake_open)
    spec = InputSpec("v4l2", "/dev/video0", path=device, index=0)
    with open_source(spec, width=640, height=480, fps=30) as source:
        assert source.read() is not None
    assert tried == [usb_pipeline(str(device), 640, 480, 30, decoder="nvjpegdec"),
                     usb_pipeline(str(device), 640, 480, 30, decoder=None)]


def test_camera_options_are_checked_when_the_source_is_made():
    with pytest.raises(InputError, match="flip='sideways'"):
        open_source("csi://0", flip="sideways")
    with pytest.raises(InputError, match="sender's size and rate"):
        open_source("rtsp://cam/1", width=640, height=480)
    with pytest.raises(InputError, match="codec='vp9'"):
        open_source("rtsp://cam/1", codec="vp9")


def _options(argv):
    args = build_parser().parse_args(["track", *argv])
    from edge_tracker.video import parse_input_uri

    return _camera_options(args, parse_input_uri(args.input))


def test_input_options_reach_the_camera_as_source_keywords():
    assert _options(["csi://0", "--input-width", "1920", "--input-height", "1080", "--input-rate", "59.94",
                     "--input-flip", "rotate-180"]) == {"width": 1920, "height": 1080, "fps": 59.94,
                                                        "flip": "rotate-180"}
    assert _options(["rtsp://cam/1", "--input-codec", "h265"]) == {"codec": "h265"}
    assert _options(["/dev/video0"]) == {}
    with pytest.raises(InputError, match="--input-width and --input-height go together"):
        _options(["csi://0", "--input-width", "1920"])
    with pytest.raises(InputError, match="--input-codec names an RTSP stream's codec"):
        _options(["csi://0", "--input-codec", "h264"])


@pytest.mark.parametrize("argv, message", [
    (["--input-width", "0"], "'0'"),
    (["--input-rate", "fast"], "'fast' is not a frame rate"),
    (["--input-flip", "sideways"], "invalid choice: 'sideways'"),
])
def test_bad_input_options_exit_2(argv, message, capsys):
    assert main(["track", "csi://0", "--init", "1,2,3,4", "--headless", *argv]) == 2
    assert message in capsys.readouterr().err


def test_input_options_on_a_file_are_refused_with_the_reason(tmp_path, capsys):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0")  # never opened: the options are refused before anything is read
    assert main(["track", str(clip), "--init", "1,2,3,4", "--headless", "--input-width", "640",
                 "--input-height", "480"]) == 2
    err = capsys.readouterr().err
    assert "--input-width, --input-height set the mode of a camera" in err and "ffmpeg" in err
