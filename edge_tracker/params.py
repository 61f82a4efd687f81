"""Frozen parameter objects from dicts and from command-line text, with unknown keys refused.

The one place that turns ``{"key": value}`` or ``--param key=text`` into a frozen dataclass: the
trackers' parameters, the sequence generator's configuration and the training settings all go
through :func:`params_from_dict`; the CLIs parse text values with :func:`params_from_text`, which
types each value like the field's default. A misspelt key is refused with the valid ones listed.
It sits below every user (it imports only the error hierarchy), so nothing reaches up for it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from edge_tracker.errors import ConfigError, InputError


def params_from_dict(cls, data: Mapping[str, Any]):
    """Build the frozen dataclass ``cls`` from ``data``, rejecting unknown keys with the valid ones listed."""
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - valid)
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown} for {cls.__name__}; valid: {sorted(valid)}")
    return cls(**dict(data))


def params_from_text(cls, texts: Mapping[str, str], base: Mapping[str, Any] | None = None):
    """``cls`` from ``base`` values (already typed), then ``texts`` (``--param`` values as text).

    Each text is parsed (:func:`parse_scalar`) and checked against the type of the field's default:
    ``--param train_skipping=2.5`` is refused because ``train_skipping`` takes a whole number.
    """
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    typed = dict(base or {})
    for key, text in texts.items():
        value = parse_scalar(text)
        if key in defaults and defaults[key] is not dataclasses.MISSING:
            value = _as_type_of(defaults[key], value, key, text)
        typed[key] = value
    return params_from_dict(cls, typed)  # unknown keys: ConfigError listing the valid ones


def parse_scalar(text: str):
    """``"true"``/``"false"`` -> bool, then int, then float, else the text itself."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def check_fps(fps, where: str) -> float:
    """A frame rate given by a user or read from a container: a finite number > 0, as float.

    ``where`` names what the rate is for (``"out.mp4"``, ``"write_video"``), so the message says
    which output or call was given the bad value.
    """
    ok = isinstance(fps, (int, float)) and not isinstance(fps, bool) and math.isfinite(fps) and fps > 0
    if not ok:
        raise InputError(f"fps={fps!r} for {where}: expected a positive number of frames per second "
                         "such as 30 or 59.94")
    return float(fps)


def _as_type_of(default, value, key: str, text: str):
    if isinstance(default, bool):
        ok, expected = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, expected = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif isinstance(default, float):
        ok, expected = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        value = float(value) if ok else value
    else:
        ok, expected = True, ""
    if not ok:
        raise ConfigError(f"--param {key}={text}: {key} takes {expected} (default {default!r})")
    return value
