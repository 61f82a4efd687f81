"""The result drawn on a frame (video files, the window): the box and a "score / state / fps" line."""

from __future__ import annotations

import math
from collections.abc import Mapping

import cv2
import numpy as np

from edge_tracker.errors import InputError

BOX_COLOR = (0, 255, 0)  # BGR


def draw_result(image: np.ndarray, result: Mapping, color: tuple[int, int, int] = BOX_COLOR) -> np.ndarray:
    """A copy of ``image`` ([H, W, 3] uint8 BGR) with the box and a "score / state / fps" line drawn."""
    canvas = image.copy()  # the frame may go to several sinks; each draws on its own copy
    box = checked_box(result, "draw_result")
    height = canvas.shape[0]
    thickness = max(1, round(height / 360))
    if box is not None:
        x, y, w, h = box
        # The box covers pixels x .. x+w-1; cv2.rectangle's corners are inclusive pixel indices.
        top_left = (int(round(x)), int(round(y)))
        bottom_right = (int(round(x + w)) - 1, int(round(y + h)) - 1)
        cv2.rectangle(canvas, top_left, bottom_right, color, thickness)
    state = result.get("state")
    text = (f"{_fmt(result.get('score'), '.2f')} / {'-' if state is None else state} / "
            f"{_fmt(result.get('fps'), '.1f')} fps")
    scale = max(0.35, height / 720 * 0.6)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(canvas, (0, 0), (tw + 6, th + base + 6), (0, 0, 0), -1)  # legible on any scene
    cv2.putText(canvas, text, (3, th + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas


def checked_box(result, name: str):
    if not isinstance(result, Mapping) or "box" not in result:
        raise InputError(f"{name}: a result must be a mapping with a 'box' key (xywh or None), got "
                         f"{result!r}")
    box = result["box"]
    if box is None:
        return None
    values = np.asarray(box, dtype=np.float64).reshape(-1) if _is_sequence(box) else None
    if values is None or values.size != 4 or not np.all(np.isfinite(values)):
        raise InputError(f"{name}: box {box!r} is not 4 finite numbers x, y, w, h (pixels) or None")
    return tuple(float(v) for v in values)


def _is_sequence(value) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def _fmt(value, spec: str) -> str:
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isfinite(value):
        return format(float(value), spec)
    return "-" if value is None else str(value)
