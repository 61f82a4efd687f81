"""Reading an export's ``manifest.json`` (written by ``python -m export onnx``) without torch.

Every manifest is checked against its schema when read (:func:`check_manifest`): a file that is not
UTF-8 JSON, not an object, or lacks or mistypes a field is an InputError naming the file and the
field (``phases[1].sha256``), never a ``KeyError`` or ``TypeError`` from deep inside. The schema
(format_version 1): what ``python -m export onnx`` writes and ``python -m export build`` adds.

- Required, because the runtime reads them: ``format`` (``"edge_tracker.onnx_manifest"``),
  ``tracker`` (text), ``source`` (object; its optional ``meta`` an object, whose optional
  ``tracking_params`` is an object), ``phases`` (a non-empty list of objects with ``name`` (unique
  text), ``file`` (a file name inside the export folder, no path) and ``sha256`` (64 hex digits)).
- Checked when present: ``format_version`` (1), ``opset`` (whole number), ``config`` (object),
  ``source.weights`` ("random" or "checkpoint"), each phase's ``inputs``/``outputs`` (lists of
  ``name``, ``shape`` [positive whole numbers], ``dtype``) and ``variants`` (precision -> object with
  ``file``, ``sha256``, ``precision``: the graph that precision runs, e.g. the FP16 graph for the
  INT8 variant of a phase kept out of INT8), ``precisions`` (list of text), ``calibration``,
  ``versions`` (objects), ``created`` (text), ``parity_tolerance_fp32`` (number).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

from edge_tracker.errors import InputError

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "edge_tracker.onnx_manifest"


def read_manifest(out_dir: str | Path, verify: bool = True) -> dict[str, Any]:
    """Read an export's manifest; with ``verify``, check every model file against its sha256.

    A missing, unreadable or tampered export is the caller's input: InputError naming the file and the fix.
    """
    path = Path(out_dir) / MANIFEST_NAME
    if not path.is_file():
        raise InputError(f"no {MANIFEST_NAME} in {out_dir}: run `python -m export onnx ... --out {out_dir}`")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{path} is not text (byte {err.start} is not UTF-8): not an edge_tracker manifest; "
                         "re-run the export") from err
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from err
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{path} is not valid JSON ({err}); re-run the export") from err
    check_manifest(manifest, path)
    if verify:
        for phase in manifest["phases"]:
            model_path = Path(out_dir) / phase["file"]
            if not model_path.is_file():
                raise InputError(f"{model_path} listed in the manifest is missing; re-run the export")
            if sha256_file(model_path) != phase["sha256"]:
                raise InputError(f"{model_path} does not match the sha256 in its manifest (changed "
                                  f"after export?); re-run the export")
    return manifest


_SHA256 = re.compile(r"[0-9a-f]{64}")


class _Schema:
    """Field checks that name the manifest file and the field path in every message."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, where: str, problem: str):
        raise InputError(f"{self.path}: field '{where}' {problem}; the manifest is malformed (edited by hand, "
                         "truncated, or written by another tool): re-run the export")

    def get(self, obj: dict, key: str, kind, where: str, required: bool = True):
        full = f"{where}.{key}" if where else key
        if key not in obj:
            if required:
                self.fail(full, "is missing")
            return None
        value = obj[key]
        names = {str: "text", dict: "an object", list: "a list", int: "a whole number"}
        if kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        else:
            ok = isinstance(value, kind)
        if not ok:
            self.fail(full, f"must be {names.get(kind, 'a finite number')}, got {_short(value)}")
        return value

    def file_name(self, obj: dict, where: str) -> str:
        name = self.get(obj, "file", str, where)
        if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("~"):
            self.fail(f"{where}.file", f"must be a file name inside the export folder, got {name!r}")
        return name

    def sha256(self, obj: dict, where: str) -> None:
        if not _SHA256.fullmatch(self.get(obj, "sha256", str, where)):
            self.fail(f"{where}.sha256", f"must be 64 lowercase hex digits, got {_short(obj['sha256'])}")

    def tensors(self, phase: dict, key: str, where: str) -> None:
        for i, spec in enumerate(self.get(phase, key, list, where, required=False) or []):
            at = f"{where}.{key}[{i}]"
            if not isinstance(spec, dict):
                self.fail(at, f"must be an object, got {_short(spec)}")
            self.get(spec, "name", str, at)
            self.get(spec, "dtype", str, at)
            shape = self.get(spec, "shape", list, at)
            if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
                self.fail(f"{at}.shape", f"must list positive whole numbers, got {_short(shape)}")


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def check_manifest(manifest: Any, path: str | Path = MANIFEST_NAME) -> None:
    """Check ``manifest`` (parsed JSON) against the schema of the module docstring; InputError naming
    ``path`` and the first bad field."""
    schema = _Schema(Path(path))
    if not isinstance(manifest, dict):
        raise InputError(f"{path} holds a JSON {type(manifest).__name__}, not an object: not an edge_tracker "
                         "manifest; re-run the export")
    if manifest.get("format") != MANIFEST_FORMAT:
        raise InputError(f"{path} is not an edge_tracker ONNX manifest (field 'format' is "
                         f"{manifest.get('format')!r}, expected {MANIFEST_FORMAT!r})")
    version = schema.get(manifest, "format_version", int, "", required=False)
    if version not in (None, 1):
        schema.fail("format_version", f"is {version}; this edge_tracker reads format_version 1 (a newer "
                    "edge_tracker wrote it?)")
    schema.get(manifest, "tracker", str, "")
    schema.get(manifest, "opset", int, "", required=False)
    schema.get(manifest, "config", dict, "", required=False)
    source = schema.get(manifest, "source", dict, "")
    if schema.get(source, "weights", str, "source", required=False) not in (None, "random", "checkpoint"):
        schema.fail("source.weights", f"must be 'random' or 'checkpoint', got {_short(source['weights'])}")
    meta = schema.get(source, "meta", dict, "source", required=False) or {}
    schema.get(meta, "tracking_params", dict, "source.meta", required=False)
    phases = schema.get(manifest, "phases", list, "")
    if not phases:
        schema.fail("phases", "is empty; an export has at least one phase")
    seen = set()
    for i, phase in enumerate(phases):
        where = f"phases[{i}]"
        if not isinstance(phase, dict):
            schema.fail(where, f"must be an object, got {_short(phase)}")
        name = schema.get(phase, "name", str, where)
        if not name or name in seen:
            schema.fail(f"{where}.name", f"must be a unique, non-empty phase name, got {name!r}")
        seen.add(name)
        schema.file_name(phase, where)
        schema.sha256(phase, where)
        schema.tensors(phase, "inputs", where)
        schema.tensors(phase, "outputs", where)
        variants = schema.get(phase, "variants", dict, where, required=False) or {}
        for precision, variant in variants.items():
            at = f"{where}.variants.{precision}"
            if not isinstance(variant, dict):
                schema.fail(at, f"must be an object, got {_short(variant)}")
            schema.file_name(variant, at)
            schema.sha256(variant, at)
            schema.get(variant, "precision", str, at, required=False)
    precisions = schema.get(manifest, "precisions", list, "", required=False) or []
    if not all(isinstance(p, str) for p in precisions):
        schema.fail("precisions", f"must list precision names, got {_short(precisions)}")
    schema.get(manifest, "calibration", dict, "", required=False)
    schema.get(manifest, "versions", dict, "", required=False)
    schema.get(manifest, "created", str, "", required=False)
    schema.get(manifest, "parity_tolerance_fp32", float, "", required=False)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def variant_file(folder: str | Path, phase: dict[str, Any], precision: str) -> Path:
    """The graph of ``phase`` at ``precision`` (fp32: the phase's own file), checked against its sha256.

    Variants are written by ``python -m export build --precision ...``; a phase without the asked
    variant is an InputError naming the command that builds it.
    """
    folder = Path(folder)
    if precision == "fp32" and "variants" not in phase:
        return folder / phase["file"]
    variant = (phase.get("variants") or {}).get(precision)
    if variant is None:
        built = sorted(phase.get("variants") or {"fp32": None})
        raise InputError(f"{folder} has no {precision} graph of phase '{phase['name']}' (it has {built}); build "
                         f"it with `python -m export build --tracker TRACKER --onnx {folder} --precision {precision} "
                         f"SOURCE... --out {folder}`")
    path = folder / variant["file"]
    if not path.is_file():
        raise InputError(f"{path} listed in the manifest is missing; re-run `python -m export build`")
    if sha256_file(path) != variant["sha256"]:
        raise InputError(f"{path} does not match the sha256 in its manifest (changed after the build?); "
                         "re-run `python -m export build`")
    return path
