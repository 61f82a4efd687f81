"""Checkpoint -> one verified ONNX model per tracker phase, with a JSON manifest.

The manifest (``manifest.json`` beside the models) records, for each phase, the file, its sha256,
named input/output shapes, when the tracker runs it, the graph-check summary and the measured
parity against PyTorch; and for the whole export the tracker, its architecture record, the opset and
the checkpoint the weights came from (or that they are random). Later stages (precision variants,
TensorRT engines) key their caches on the sha256 recorded here.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import platform
import shutil
from pathlib import Path
from typing import Any

from edge_tracker import __version__
from edge_tracker.deps import require
from edge_tracker.errors import ExportError, InputError
from edge_tracker.manifest import MANIFEST_FORMAT, MANIFEST_NAME, read_manifest, sha256_file
from export.models import build_model, default_config
from export.models.config import config_to_dict
from export.tensorrt_support import EXPORT_OPSET

logger = logging.getLogger("edge_tracker.export")

PARITY_SAMPLES = 2  # random input draws checked per phase at export time


def export_tracker(tracker: str, out_dir: str | Path, checkpoint: str | Path | None = None,
                   seed: int = 0, progress: bool = True, force: bool = False) -> dict[str, Any]:
    """Export every phase of ``tracker`` to ``out_dir``, verify each, write and return the manifest.

    Without ``checkpoint`` the network has random weights (seeded): fine for checking the pipeline,
    useless for tracking; the manifest says ``"weights": "random"``.

    The export is atomic: it is written into a temporary folder beside ``out_dir`` and renamed onto
    it at the end, so a failure, a full disk or a kill leaves ``out_dir`` as it was and no partial
    file. ``out_dir`` must be absent, empty, or (with ``force``) hold a previous export and nothing
    else; a user's own files are never replaced (InputError).
    Raises ExportError (or its GraphCheckError) when a phase fails to export or to verify, or the
    disk refuses a write.
    """
    torch = require("torch")
    from export.checkpoint import load_model

    out_dir = Path(out_dir)
    if checkpoint is None:
        torch.manual_seed(seed)
        model = build_model(default_config(tracker))
        source: dict[str, Any] = {"weights": "random", "seed": seed}
    else:
        model, ckpt = load_model(checkpoint, expect_tracker=tracker)
        source = {"weights": "checkpoint", "path": str(Path(checkpoint).resolve()),
                  "sha256": sha256_file(checkpoint), "meta": ckpt.meta}
    config = model.config
    replaced = _check_out_dir(out_dir, force)
    final_dir, out_dir = out_dir, _temporary_dir(out_dir)
    try:
        manifest = _export_phases(tracker, model, config, source, seed, out_dir, progress, torch)
        _publish(out_dir, final_dir, replaced)
    except OSError as err:
        raise ExportError(f"writing the export failed: {err.strerror or err} ({err.filename or out_dir}); nothing "
                          f"was written to {final_dir} and no partial file is left. Free disk space or choose "
                          "another --out") from err
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)  # gone already when published
    return manifest


def _export_phases(tracker, model, config, source, seed, out_dir: Path, progress: bool, torch) -> dict[str, Any]:
    from export.onnx_export import export_phase
    from export.parity import PARITY_TOLERANCE, check_phase, manifest_parity, onnx_runner, phase_feed
    from export.phases import build_phases

    phases = build_phases(model)
    tqdm = require("tqdm").tqdm
    records = []
    for phase in tqdm(phases, desc=f"export {tracker}", unit="phase", disable=not progress):
        path = out_dir / f"{phase.name}.onnx"
        metadata = {"edge_tracker.tracker": tracker, "edge_tracker.phase": phase.name,
                    "edge_tracker.config": json.dumps(config_to_dict(config), sort_keys=True)}
        _, report = export_phase(phase, path, metadata=metadata)
        feeds = [phase_feed(phase, phase.example_inputs(seed=1000 + sample)) for sample in range(PARITY_SAMPLES)]
        try:
            result = check_phase(phase, onnx_runner(path), feeds, precision="fp32")
        except InputError as err:  # the graph does not load, or its outputs differ in name, shape or dtype
            raise ExportError(f"phase '{phase.name}': the exported graph {path} cannot be checked against "
                              f"its PyTorch phase: {err}") from err
        parity = manifest_parity(result)  # each output's worst draw
        bad = {o.name: o.relative_error for o in result.failures}
        if bad:
            raise ExportError(
                f"phase '{phase.name}': ONNX Runtime disagrees with PyTorch beyond the fp32 tolerance "
                f"{PARITY_TOLERANCE['fp32']:g} (max abs error / output scale): {bad}. The graph is "
                f"kept at {path} for inspection.")
        records.append({
            "name": phase.name,
            "file": path.name,
            "sha256": sha256_file(path),
            "when": phase.when,
            "cadence": phase.cadence,
            "description": phase.description,
            "inputs": [_spec_dict(spec) for spec in phase.inputs],
            "outputs": [_spec_dict(spec) for spec in phase.outputs],
            "graph": {"num_nodes": report.num_nodes, "op_types": report.op_types},
            "parity_fp32": parity,
        })
        logger.debug("%s/%s: %d nodes, worst parity %.2e", tracker, phase.name, report.num_nodes,
                    max(p["relative_error"] for p in parity.values()))

    manifest = {
        "format": MANIFEST_FORMAT,
        "format_version": 1,
        "tracker": tracker,
        "config": config_to_dict(config),
        "source": source,
        "opset": EXPORT_OPSET,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"edge_tracker": __version__, "torch": torch.__version__,
                     "onnx": require("onnx").__version__,
                     "onnxruntime": require("onnxruntime").__version__,
                     "python": platform.python_version()},
        "parity_tolerance_fp32": PARITY_TOLERANCE["fp32"],
        "phases": records,
    }
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _check_out_dir(out_dir: Path, force: bool) -> bool:
    """Refuse an ``out_dir`` that holds anything but a previous export (or one without ``force``);
    return whether a previous export is there to be replaced."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} is a file; give a folder (it is created if absent)")
    entries = sorted(p.name for p in out_dir.iterdir()) if out_dir.is_dir() else []
    if not entries:
        return False
    try:
        manifest = read_manifest(out_dir, verify=False)
    except InputError:
        manifest = None
    if manifest is None:
        raise InputError(f"--out {out_dir} is not empty and holds no edge_tracker export ({_names(entries)}); an "
                         "export never writes over other files: choose an empty or new folder")
    strangers = [name for name in entries if name not in _export_files(out_dir, manifest)]
    if strangers:
        raise InputError(f"--out {out_dir} holds a previous export and other files ({_names(strangers)}); --force "
                         "replaces a previous export only, never other files: move them or choose another --out")
    if not force:
        raise InputError(f"--out {out_dir} holds a previous {manifest['tracker']} export ({len(manifest['phases'])} "
                         "phases); pass --force to replace it, or choose another --out")
    return True


def _export_files(out_dir: Path, manifest: dict[str, Any]) -> set[str]:
    """The names in ``out_dir`` that belong to its export: the manifest, every graph it lists (variants
    included), and the calibration set ``python -m export build`` made there."""
    names = {MANIFEST_NAME}
    for phase in manifest["phases"]:
        names.add(phase["file"])
        names.update(variant["file"] for variant in (phase.get("variants") or {}).values())
    folder = (manifest.get("calibration") or {}).get("folder")
    if isinstance(folder, str) and Path(folder).name and (out_dir / Path(folder).name).resolve() == \
            Path(folder).resolve():
        names.add(Path(folder).name)
    return names


def _names(names: list[str], most: int = 5) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _temporary_dir(out_dir: Path) -> Path:
    """A new folder beside ``out_dir`` (same file system, so the final rename is atomic)."""
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        temporary = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
        shutil.rmtree(temporary, ignore_errors=True)  # left by a killed run of this process id
        temporary.mkdir()
    except OSError as err:
        raise InputError(f"cannot write to output folder {out_dir.parent}: {err.strerror or err}. Choose "
                         "another --out.") from err
    return temporary


def _publish(temporary: Path, out_dir: Path, replaced: bool) -> None:
    """Rename the finished export onto ``out_dir`` (its previous export moved aside, then deleted)."""
    old = None
    if replaced:
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        os.rename(out_dir, old)
    elif out_dir.is_dir():
        out_dir.rmdir()  # empty: checked
    os.rename(temporary, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _spec_dict(spec) -> dict[str, Any]:
    record = {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype, "description": spec.description}
    if spec.diagnostic:
        record["diagnostic"] = True
    return record
