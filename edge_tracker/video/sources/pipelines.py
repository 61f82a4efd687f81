"""GStreamer pipeline strings for Jetson cameras and streams, and the same flips done in software.

Each function returns a pipeline for ``cv2.VideoCapture(text, cv2.CAP_GSTREAMER)`` that ends in BGR
frames on ``appsink drop=true max-buffers=1 sync=false``: GStreamer itself keeps no queue of old
frames (DESIGN principle 6) and does not pace frames to the clock. On a Jetson the decode and the
colour conversion run on the fixed-function engines (NVDEC/NVJPG through ``nvv4l2decoder``, the VIC
through ``nvvidconv``), not on the CPU the tracker needs:

- ``csi_pipeline``: ``nvarguscamerasrc`` (the ISP) -> NV12 in NVMM memory -> ``nvvidconv``.
- ``usb_pipeline``: ``v4l2src`` -> MJPEG decoded by ``nvv4l2decoder mjpeg=1`` or ``nvjpegdec``
  (or raw YUYV) -> ``nvvidconv``.
- ``rtsp_pipeline``: ``rtspsrc latency=0`` -> depay -> parse -> ``nvv4l2decoder`` -> ``nvvidconv``.

Flips use nvvidconv's ``flip-method`` numbers under the names jetson-utils gives ``--input-flip``;
``flip_image`` applies the same flip to a BGR array, for cameras opened without GStreamer.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from edge_tracker.errors import InputError
from edge_tracker.params import check_fps

# nvvidconv's flip-method values, under the names jetson-utils uses for --input-flip.
CSI_FLIP_METHODS = {
    "none": 0, "counterclockwise": 1, "rotate-180": 2, "clockwise": 3,
    "horizontal": 4, "upper-right-diagonal": 5, "vertical": 6, "upper-left-diagonal": 7,
}
FLIP_METHODS = CSI_FLIP_METHODS
# MJPEG decoders in order of preference; None: the camera's raw format (YUYV), converted by nvvidconv.
USB_DECODERS = ("nvv4l2decoder", "nvjpegdec", None)
RTSP_CODECS = {"h264": ("rtph264depay", "h264parse"), "h265": ("rtph265depay", "h265parse")}

_TO_BGR = ("video/x-raw, format=(string)BGRx ! videoconvert ! video/x-raw, format=(string)BGR ! "
           "appsink drop=true max-buffers=1 sync=false")


def csi_pipeline(sensor_id: int = 0, width: int = 1280, height: int = 720, fps: float = 30,
                 flip: str | int = "none") -> str:
    """GStreamer pipeline string for a Jetson CSI camera, for ``cv2.VideoCapture(p, cv2.CAP_GSTREAMER)``.

    ``width`` and ``height`` are pixels, ``fps`` frames per second (29.97 and 59.94 mean the NTSC
    rates). The sensor delivers NV12 in NVMM (GPU) memory; nvvidconv flips and converts to BGRx on
    the VIC engine, videoconvert drops the x.
    """
    _check_int("csi_pipeline", "sensor_id", sensor_id, 0)
    _check_int("csi_pipeline", "width", width, 1)
    _check_int("csi_pipeline", "height", height, 1)
    rate = caps_rate(check_fps(fps, "csi_pipeline"))
    return (f"nvarguscamerasrc sensor-id={int(sensor_id)} ! "
            f"video/x-raw(memory:NVMM), width=(int){int(width)}, height=(int){int(height)}, "
            f"framerate=(fraction){rate.numerator}/{rate.denominator}, format=(string)NV12 ! "
            f"nvvidconv flip-method={flip_method(flip, 'csi_pipeline')} ! {_TO_BGR}")


def usb_pipeline(device: str = "/dev/video0", width: int | None = None, height: int | None = None,
                 fps: float | None = None, flip: str | int = "none",
                 decoder: str | None = "nvv4l2decoder") -> str:
    """GStreamer pipeline for a USB (V4L2) camera on a Jetson.

    ``decoder`` is one of ``USB_DECODERS``: ``nvv4l2decoder`` (``mjpeg=1``: the NVJPG engine through
    the V4L2 decoder, JetPack 5 and 6), ``nvjpegdec`` (NVIDIA's JPEG decoder element), or None for a
    camera's raw YUYV. A MJPEG pipeline only opens on a camera that offers MJPEG at that mode
    (``v4l2-ctl --list-formats-ext``). ``width``/``height``/``fps`` None: the camera's default.
    """
    if decoder not in USB_DECODERS:
        raise InputError(f"usb_pipeline: decoder={decoder!r}; expected one of {USB_DECODERS}")
    if not isinstance(device, str) or not device or any(c in device for c in ' "!\n'):
        raise InputError(f"usb_pipeline: device={device!r}; expected a device node such as /dev/video0 "
                         "(a path without spaces, quotes or '!')")
    caps = ("image/jpeg" if decoder else "video/x-raw") + _mode_caps("usb_pipeline", width, height, fps)
    decode = {"nvv4l2decoder": "nvv4l2decoder mjpeg=1 ! ", "nvjpegdec": "nvjpegdec ! video/x-raw ! ",
              None: ""}[decoder]
    return (f"v4l2src device={device} io-mode=2 ! {caps} ! {decode}"
            f"nvvidconv flip-method={flip_method(flip, 'usb_pipeline')} ! {_TO_BGR}")


def rtsp_pipeline(url: str, codec: str = "h264", latency_ms: int = 0, transport: str = "tcp",
                  flip: str | int = "none") -> str:
    """GStreamer pipeline for an RTSP stream decoded by the Jetson's NVDEC (``nvv4l2decoder``).

    ``codec`` (``h264`` or ``h265``) must be the stream's: rtspsrc cannot link a depayloader of
    another codec, and the pipeline then fails to open. ``latency_ms`` is rtspsrc's jitter buffer:
    0 hands each frame over as soon as it arrives. ``transport`` ``tcp`` or ``udp``.
    """
    if codec not in RTSP_CODECS:
        raise InputError(f"rtsp_pipeline: codec={codec!r}; expected one of {', '.join(RTSP_CODECS)} "
                         "(the stream's video codec: check it with ffprobe URL)")
    if transport not in ("tcp", "udp"):
        raise InputError(f"rtsp_pipeline: transport={transport!r}; expected 'tcp' or 'udp'")
    _check_int("rtsp_pipeline", "latency_ms", latency_ms, 0)
    if not isinstance(url, str) or not url.lower().startswith("rtsp://") or any(c in url for c in '" \n'):
        raise InputError(f"rtsp_pipeline: url={url!r}; expected rtsp://HOST[:PORT]/PATH without spaces or "
                         "double quotes (percent-encode them: %20, %22)")
    depay, parse = RTSP_CODECS[codec]
    return (f'rtspsrc location="{url}" latency={int(latency_ms)} protocols={transport} ! '
            f"{depay} ! {parse} ! nvv4l2decoder ! "
            f"nvvidconv flip-method={flip_method(flip, 'rtsp_pipeline')} ! {_TO_BGR}")


def flip_method(flip: str | int, where: str = "--input-flip") -> int:
    """nvvidconv's flip-method number (0..7) of a name of ``FLIP_METHODS`` or a number."""
    if isinstance(flip, str):
        if flip not in FLIP_METHODS:
            raise InputError(f"{where}: flip={flip!r}; expected one of {', '.join(FLIP_METHODS)} "
                             "or a flip-method number 0..7")
        return FLIP_METHODS[flip]
    if isinstance(flip, (int, np.integer)) and not isinstance(flip, bool) and 0 <= flip <= 7:
        return int(flip)
    raise InputError(f"{where}: flip={flip!r}; expected a name ({', '.join(FLIP_METHODS)}) "
                     "or a flip-method number 0..7")


def flip_image(image: np.ndarray, flip: str | int) -> np.ndarray:
    """``image`` (HxWxC) flipped as nvvidconv's ``flip-method`` would: what a camera without GStreamer gets."""
    method = flip_method(flip)
    if method == 0:
        return image
    if method in (5, 7):  # the diagonals: a transpose, and the other diagonal is a transpose turned 180
        swapped = np.swapaxes(image, 0, 1)
        return np.ascontiguousarray(swapped if method == 7 else swapped[::-1, ::-1])
    # counterclockwise, rotate-180, clockwise: quarter turns; horizontal / vertical: mirrors
    turned = {1: lambda a: np.rot90(a, 1), 2: lambda a: a[::-1, ::-1], 3: lambda a: np.rot90(a, -1),
              4: lambda a: a[:, ::-1], 6: lambda a: a[::-1]}[method](image)
    return np.ascontiguousarray(turned)


def caps_rate(fps: float) -> Fraction:
    """A frame rate as caps write it: 29.97 and 59.94 are the NTSC rates 30000/1001 and 60000/1001."""
    # A plain decimal fraction (2997/100) would match no sensor mode.
    ntsc = round(fps * 1.001)
    if ntsc > 0 and abs(fps - ntsc / 1.001) < 0.005 and abs(fps - ntsc) > 0.005:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(fps).limit_denominator(1000)


def _mode_caps(where: str, width, height, fps) -> str:
    if (width is None) != (height is None):
        raise InputError(f"{where}: width={width!r}, height={height!r}; give both or neither")
    caps = ""
    if width is not None:
        _check_int(where, "width", width, 1)
        _check_int(where, "height", height, 1)
        caps += f", width=(int){int(width)}, height=(int){int(height)}"
    if fps is not None:
        rate = caps_rate(check_fps(fps, where))
        caps += f", framerate=(fraction){rate.numerator}/{rate.denominator}"
    return caps


def _check_int(where: str, label: str, value, lowest: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lowest:
        raise InputError(f"{where}: {label}={value!r}; expected an integer >= {lowest}")
