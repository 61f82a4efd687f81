"""The edge_tracker checkpoint format: safetensors weights plus an architecture record.

A checkpoint is one ``.safetensors`` file. Its header metadata holds

- ``format``: ``"edge_tracker.checkpoint"`` and ``format_version``: ``"1"``,
- ``config``: the architecture record (``export.models.config``) as JSON,
- ``meta``: free JSON (training steps, data, dtype, ...), for model cards.

safetensors stores raw tensors and a JSON header, never pickles: loading a file cannot run code.
Weights may be stored as float16 to keep files small; they are cast to the model's dtype on load.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_tracker.deps import require
from edge_tracker.errors import CheckpointError, ConfigError
from export.models.config import ModelConfig, config_from_dict, config_to_json

FORMAT = "edge_tracker.checkpoint"
FORMAT_VERSION = "1"


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint file holds: the architecture, the weights and free metadata."""

    config: ModelConfig
    state_dict: dict[str, Any]  # name -> torch.Tensor
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def save_checkpoint(path: str | Path, model, config: ModelConfig, meta: dict[str, Any] | None = None,
                    half: bool = False) -> Path:
    """Write ``model``'s weights and ``config`` to ``path`` (.safetensors).

    ``half`` stores floating-point tensors as float16 (half the size; demo checkpoints use it).
    The file is written to a temporary name and renamed, so a crash never leaves a torn checkpoint.
    """
    torch = require("torch")
    safetensors_torch = require("safetensors.torch")
    path = Path(path)
    tensors = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        if half and tensor.is_floating_point():
            tensor = tensor.to(torch.float16)
        tensors[name] = tensor
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config_to_json(config),
        "meta": json.dumps(meta or {}, sort_keys=True),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    safetensors_torch.save_file(tensors, str(tmp), metadata=metadata)
    # safetensors creates its files 0600; give the checkpoint the usual permissions (umask applies)
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)
    tmp.replace(path)
    return path


def read_checkpoint(path: str | Path, expect_tracker: str | None = None) -> Checkpoint:
    """Read a checkpoint file without building a model. Raises CheckpointError with the cause."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    safetensors = require("safetensors")
    require("torch")
    try:
        with safetensors.safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            state_dict = {name: handle.get_tensor(name) for name in handle.keys()}
    except Exception as err:  # safetensors raises its own error type for every malformed file
        raise CheckpointError(
            f"{path} is not a readable edge_tracker checkpoint (truncated, corrupt, or not a "
            f"safetensors file): {err}. Re-copy or re-export it; a pytracking .pth checkpoint "
            f"must be converted first.") from err
    if metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a safetensors file but not an edge_tracker checkpoint (metadata format="
            f"{metadata.get('format')!r}, expected {FORMAT!r})")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {metadata.get('format_version')!r}; this "
            f"edge_tracker reads version {FORMAT_VERSION!r}. Upgrade edge_tracker or re-save it.")
    try:
        config = config_from_dict(json.loads(metadata["config"]))
        meta = json.loads(metadata.get("meta", "{}"))
    except (KeyError, json.JSONDecodeError, ConfigError, TypeError) as err:
        raise CheckpointError(f"{path} has an invalid architecture record: {err}") from err
    if expect_tracker is not None and config.tracker != expect_tracker:
        raise CheckpointError(
            f"{path} holds a '{config.tracker}' network, but '{expect_tracker}' was asked for. "
            f"Pass --tracker {config.tracker}, or a checkpoint of a {expect_tracker} network.")
    return Checkpoint(config=config, state_dict=state_dict, meta=meta, path=path)


def load_state_strict(model, state_dict: dict[str, Any], source: str = "checkpoint") -> None:
    """Load ``state_dict`` into ``model``; any missing/extra key or shape mismatch is an error.

    The error lists every difference (not only the first), so a user sees at once whether the file
    is of another architecture or merely of another version.
    """
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = [
        f"{name}: file {tuple(state_dict[name].shape)} vs model {tuple(expected[name].shape)}"
        for name in sorted(set(expected) & set(state_dict))
        if tuple(state_dict[name].shape) != tuple(expected[name].shape)
    ]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {_preview(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_preview(unexpected)}")
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatch(es): {_preview(mismatched)}")
        raise CheckpointError(
            f"{source} does not match the {type(model).__name__} it is loaded into: "
            + "; ".join(parts))
    casted = {name: tensor.to(expected[name].dtype) for name, tensor in state_dict.items()}
    model.load_state_dict(casted, strict=True)


def load_model(path: str | Path, expect_tracker: str | None = None):
    """Build the network a checkpoint describes and load its weights (eval mode, float32).

    Returns ``(model, checkpoint)``.
    """
    from export.models import build_model

    checkpoint = read_checkpoint(path, expect_tracker)
    model = build_model(checkpoint.config)
    load_state_strict(model, checkpoint.state_dict, source=str(checkpoint.path))
    return model.eval(), checkpoint


def _preview(items: list[str], limit: int = 6) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
