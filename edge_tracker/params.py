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
    """Build the frozen dataclass ``cls`` from ``data``, rejecting unknown keys with the valid ones listed.

    Every value given for a field whose default is a number or a bool must be of that kind, and a
    number must be finite: NaN and infinities never reach a tracker, whatever the class checks itself.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown} for {cls.__name__}; valid: {sorted(fields)}")
    for key, value in data.items():  # a string where a number belongs must not reach __post_init__
        _check_kind(cls.__name__, key, fields[key].default, value, finite=False)
    params = cls(**dict(data))  # the class's own checks first: their messages give the valid range
    for key, value in data.items():
        _check_kind(cls.__name__, key, fields[key].default, value, finite=True)
    return params


@dataclasses.dataclass(frozen=True)
class Range:
    """The valid values of one numeric parameter: ``low``/``high`` (None: unbounded), open or closed ends."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False     # True: low itself is refused
    high_open: bool = False    # True: high itself is refused
    integer: bool = False      # a whole number (an int, never a bool)

    def text(self) -> str:
        kind = "a whole number" if self.integer else "a finite number"
        if self.low is None and self.high is None:
            return kind
        if self.high is None:
            return f"{kind} {'>' if self.low_open else '>='} {self.low:g}"
        if self.low is None:
            return f"{kind} {'<' if self.high_open else '<='} {self.high:g}"
        return (f"{kind} in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
                f"{')' if self.high_open else ']'}")

    def contains(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))


def check_ranges(params, ranges: Mapping[str, Range]) -> None:
    """Raise ConfigError for the first field of ``params`` outside its :class:`Range`, naming the
    parameter, its value and the valid range (call it from ``__post_init__``)."""
    for name, valid in ranges.items():
        value = getattr(params, name)
        if not valid.contains(value):
            raise ConfigError(f"{type(params).__name__}.{name} = {value!r}: expected {valid.text()}; "
                              f"set it with --param {name}=VALUE")


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


def _check_kind(owner: str, key: str, default, value, finite: bool) -> None:
    """``value`` of the kind of ``default`` (bool, whole number, number); with ``finite``, no NaN or inf."""
    if isinstance(default, bool):
        ok, expected = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, expected = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (not finite or math.isfinite(value))
        expected = "a finite number"
    else:
        return
    if not ok:
        raise ConfigError(f"{owner}.{key} = {value!r}: expected {expected} (default {default!r})")


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
