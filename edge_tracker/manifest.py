"""Reading an export's ``manifest.json`` (written by ``python -m export onnx``) without torch."""

from __future__ import annotations

import hashlib
import json
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
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"{path} is not valid JSON ({err}); re-run the export") from err
    if manifest.get("format") != MANIFEST_FORMAT:
        raise InputError(f"{path} is not an edge_tracker ONNX manifest (format={manifest.get('format')!r})")
    if verify:
        for phase in manifest["phases"]:
            model_path = Path(out_dir) / phase["file"]
            if not model_path.is_file():
                raise InputError(f"{model_path} listed in the manifest is missing; re-run the export")
            if sha256_file(model_path) != phase["sha256"]:
                raise InputError(f"{model_path} does not match the sha256 in its manifest (changed "
                                  f"after export?); re-run the export")
    return manifest


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
