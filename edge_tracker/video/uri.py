"""Input and output URIs, the way jetson-inference users write them.

Inputs: ``clip.mp4`` / ``file://clip.mp4`` (a video file), a folder of frames, ``/dev/video0`` /
``v4l2:///dev/video0`` / ``v4l2://0`` (a V4L2 camera), ``csi://0`` (a Jetson CSI camera), and
``rtsp://host:port/path`` (a network stream). Outputs: ``display://0`` (a window), ``out.mp4`` /
``.avi`` / ``.mkv`` or ``file://out.mp4`` (a video with the box drawn), ``out.jsonl`` (one JSON line
of results per frame).

Parsing checks only what can be known without opening anything: the scheme, the numbers, and that an
input file or folder exists. Devices and streams are checked when the source is opened (a camera may
be plugged in between), output folders when the sink is opened.
"""

from __future__ import annotations

import inspect
import os
import re
from dataclasses import dataclass
from pathlib import Path

from edge_tracker.errors import InputError

# What a user may write, for error messages; kept next to the parser so they cannot drift apart.
SUPPORTED_INPUTS = (
    "a video file path or file://PATH",
    "a folder of frames (.jpg .jpeg .png .bmp)",
    "/dev/videoN, v4l2:///dev/videoN or v4l2://N",
    "csi://N",
    "rtsp://HOST[:PORT]/PATH",
)
SUPPORTED_OUTPUTS = (
    "display://N",
    "a video file path (.mp4 .avi .mkv) or file://PATH",
    "a JSON lines path (.jsonl) or file://PATH.jsonl",
)
FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_OUTPUT_EXTENSIONS = (".mp4", ".avi", ".mkv")
JSONL_EXTENSIONS = (".jsonl",)

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.DOTALL)
_VIDEO_DEVICE = re.compile(r"^/dev/video(\d+)$")


@dataclass(frozen=True)
class InputSpec:
    """A parsed input URI.

    ``kind`` is one of ``"file"``, ``"folder"``, ``"v4l2"``, ``"csi"``, ``"rtsp"``.
    """

    kind: str
    uri: str                   # the text the user gave, for messages
    path: Path | None = None   # file, folder, or V4L2 device node (/dev/video0, /dev/v4l/by-id/...)
    index: int | None = None   # V4L2 device number or CSI sensor id
    url: str | None = None     # rtsp:// URL, passed to the demuxer unchanged

    @property
    def is_live(self) -> bool:
        """True for cameras and streams, whose frames are dropped rather than queued."""
        return self.kind in ("v4l2", "csi", "rtsp")


@dataclass(frozen=True)
class OutputSpec:
    """A parsed output URI. ``kind`` is one of ``"display"``, ``"video"``, ``"jsonl"``."""

    kind: str
    uri: str
    path: Path | None = None   # video or JSON lines file
    index: int | None = None   # display number of display://N


def parse_input_uri(text: str | os.PathLike) -> InputSpec:
    """Parse an input URI (see the module docstring); raise InputError on anything else."""
    uri = _as_text(text, "input")
    match = _SCHEME.match(uri)
    if match is None:
        return _input_from_path(uri, uri)
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme == "file":
        return _input_from_path(rest, uri)
    if scheme == "v4l2":
        if rest.startswith("/"):
            return _v4l2_from_path(rest, uri)
        index = _parse_index(rest, uri, "v4l2://N or v4l2:///dev/videoN")
        return InputSpec("v4l2", uri, path=Path(f"/dev/video{index}"), index=index)
    if scheme == "csi":
        return InputSpec("csi", uri, index=_parse_index(rest, uri, "csi://N with N the sensor id"))
    if scheme == "rtsp":
        if not rest.split("/", 1)[0]:
            raise InputError(f"input '{uri}' has no host; expected rtsp://HOST[:PORT]/PATH, "
                             "for example rtsp://192.168.1.20:8554/cam")
        return InputSpec("rtsp", uri, url=uri)
    raise InputError(f"input '{uri}' has the unsupported scheme '{scheme}://'. Supported inputs: "
                     f"{'; '.join(SUPPORTED_INPUTS)}.")


def parse_output_uri(text: str | os.PathLike) -> OutputSpec:
    """Parse an output URI (see the module docstring); raise InputError on anything else."""
    uri = _as_text(text, "output")
    match = _SCHEME.match(uri)
    if match is None:
        return _output_from_path(uri, uri)
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme == "display":
        # display:// alone means the default screen, as in jetson-utils.
        index = 0 if rest == "" else _parse_index(rest, uri, "display://N")
        return OutputSpec("display", uri, index=index)
    if scheme == "file":
        return _output_from_path(rest, uri)
    raise InputError(f"output '{uri}' has the unsupported scheme '{scheme}://'. Supported outputs: "
                     f"{'; '.join(SUPPORTED_OUTPUTS)}.")


def check_options(cls, options: dict, what: str) -> None:
    """Reject keyword options that ``cls`` does not take, listing the ones it does.

    The factories pass user options through to a class chosen by the URI's kind; a misspelt or
    misplaced option must fail loudly instead of being ignored.
    """
    valid = [name for name, p in inspect.signature(cls.__init__).parameters.items()
             if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise InputError(f"unknown option(s) {', '.join(unknown)} for {what}; valid options: "
                         f"{', '.join(valid) or '(none)'}")


def _as_text(text, what: str) -> str:
    if isinstance(text, os.PathLike):
        text = os.fspath(text)
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"the {what} URI is empty or not text ({text!r}); expected one of: "
                         f"{'; '.join(SUPPORTED_INPUTS if what == 'input' else SUPPORTED_OUTPUTS)}.")
    return text.strip()


def _parse_index(text: str, uri: str, expected: str) -> int:
    if not text.isdigit():
        raise InputError(f"'{uri}': '{text}' is not a device number; expected {expected}.")
    return int(text)


def _input_from_path(text: str, uri: str) -> InputSpec:
    if not text:
        raise InputError(f"input '{uri}' names no path; expected file://PATH or a plain path.")
    if text.startswith("/dev/"):
        return _v4l2_from_path(text, uri)
    path = Path(text).expanduser()
    if path.is_dir():
        return InputSpec("folder", uri, path=path)
    if path.is_file():
        return InputSpec("file", uri, path=path)
    if path.exists():
        raise InputError(f"input '{uri}': {path} is neither a regular file nor a folder; expected a video "
                         "file or a folder of frames.")
    hint = f" For camera {text}, write /dev/video{text} or csi://{text}." if text.isdigit() else ""
    raise InputError(f"input '{uri}': {path} does not exist; check the path (it is resolved against "
                     f"the current folder {Path.cwd()}).{hint}")


def _v4l2_from_path(text: str, uri: str) -> InputSpec:
    # Stable names such as /dev/v4l/by-id/... are accepted as they are; only /dev/videoN has a number.
    match = _VIDEO_DEVICE.match(text)
    return InputSpec("v4l2", uri, path=Path(text), index=int(match.group(1)) if match else None)


def _output_from_path(text: str, uri: str) -> OutputSpec:
    if not text:
        raise InputError(f"output '{uri}' names no path; expected file://PATH or a plain path.")
    path = Path(text).expanduser()
    suffix = path.suffix.lower()
    if suffix in VIDEO_OUTPUT_EXTENSIONS:
        return OutputSpec("video", uri, path=path)
    if suffix in JSONL_EXTENSIONS:
        return OutputSpec("jsonl", uri, path=path)
    raise InputError(f"output '{uri}': cannot tell the format from the extension '{suffix or '(none)'}'; "
                     f"expected {', '.join(VIDEO_OUTPUT_EXTENSIONS + JSONL_EXTENSIONS)}. Supported "
                     f"outputs: {'; '.join(SUPPORTED_OUTPUTS)}.")
