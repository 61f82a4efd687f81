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
import platform
from pathlib import Path
from typing import Any

from edge_tracker import __version__
from edge_tracker.deps import require
from edge_tracker.errors import ExportError, InputError
from edge_tracker.manifest import MANIFEST_FORMAT, MANIFEST_NAME, sha256_file
from export.models import build_model, default_config
from export.models.config import config_to_dict
from export.tensorrt_support import EXPORT_OPSET

logger = logging.getLogger("edge_tracker.export")

PARITY_SAMPLES = 2  # random input draws checked per phase at export time


def export_tracker(tracker: str, out_dir: str | Path, checkpoint: str | Path | None = None,
                   seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Export every phase of ``tracker`` to ``out_dir``, verify each, write and return the manifest.

    Without ``checkpoint`` the network has random weights (seeded): fine for checking the pipeline,
    useless for tracking; the manifest says ``"weights": "random"``.
    Raises ExportError (or its GraphCheckError) when a phase fails to export or to verify.
    """
    torch = require("torch")
    from export.checkpoint import load_model
    from export.onnx_export import export_phase
    from export.parity import PARITY_TOLERANCE, check_phase, manifest_parity, onnx_runner, phase_feed
    from export.phases import build_phases

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
    _prepare_out_dir(out_dir)

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
    manifest_path = out_dir / MANIFEST_NAME
    tmp = manifest_path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(manifest_path)
    return manifest


def _prepare_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise InputError(f"cannot write to output folder {out_dir}: {err}. Choose another --out.") from err
    # A manifest left from an earlier export would describe files about to be replaced: remove it
    # first, so a failed export never leaves a manifest that points at half-new files.
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)


def _spec_dict(spec) -> dict[str, Any]:
    return {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype,
            "description": spec.description}
