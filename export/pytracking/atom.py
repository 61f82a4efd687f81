"""pytracking's ATOM checkpoint -> an edge_tracker ``atom`` checkpoint (``python -m export import-pytracking``).

pytracking's ATOM (``ltr.models.bbreg.atom.atom_resnet18``, net_type ``ATOMnet``) is a ResNet-18
``feature_extractor`` and an ``AtomIoUNet`` ``bb_regressor`` reading layer2/layer3. edge_tracker's
plain ``atom`` network has the same modules with the same names and shapes under ``backbone.`` and
``iou_net.`` (docs/decisions.md, AFF-ATOM), so the import renames the two prefixes, drops what ATOM
never reads (the ResNet's ImageNet ``fc`` layer), builds the network and loads the result strictly:
every missing, extra or mis-shaped tensor is an error. ATOM's online classifier is learned while
tracking and has no weights in either file.

The output records where its weights came from (file name, sha256, net_type, constructor, epoch) and
the mapping (renamed prefixes, dropped and filled tensors) in its meta.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_tracker.deps import require
from edge_tracker.errors import CheckpointError, ConfigError
from edge_tracker.manifest import sha256_file
from export.checkpoint import load_state_strict, save_checkpoint
from export.models import build_model
from export.models.config import AtomConfig, default_config
from export.pytracking.unpickler import PytrackingObject, read_torch_pickle

logger = logging.getLogger("edge_tracker.export.pytracking")

NET_TYPE = "ATOMnet"
CONSTRUCTOR = "atom_resnet18"
RENAMED = {"feature_extractor.": "backbone.", "bb_regressor.": "iou_net."}
DROPPED = {
    "feature_extractor.fc.": "ResNet-18's ImageNet classification layer: ATOM reads the layer2/layer3 "
                             "feature maps, never the class scores",
}
FILLED_REASON = ("BatchNorm step counter, absent from checkpoints of PyTorch < 0.4.1; set to 0 (it "
                 "only matters when training with momentum=None)")
# AtomConfig fields read from the file: (tensor, dimension) holding each width
WIDTHS = {
    "backbone_width": ("backbone.conv1.weight", 0),
    "iou_pred_dim": ("iou_net.conv3_2t.0.weight", 0),
    "iou_inter_dim": ("iou_net.fc3_rt.linear.weight", 0),
}


@dataclass(frozen=True)
class ImportResult:
    """What ``import_pytracking_atom`` wrote."""

    path: Path  # the edge_tracker checkpoint
    config: AtomConfig
    meta: dict[str, Any]  # as stored in the checkpoint: source and mapping
    num_tensors: int  # tensors in the written checkpoint


def import_pytracking_atom(source: str | Path, out: str | Path, trust_pickle: bool = False) -> ImportResult:
    """Convert pytracking's ATOM checkpoint ``source`` (.pth) into edge_tracker's format at ``out``.

    ``trust_pickle`` unpickles ``source`` without restrictions (only for a file the user trusts).
    Raises CheckpointError (UnsafePickleError for a refused pickle) naming what is wrong.
    """
    source, out = Path(source), Path(out)
    if out.resolve() == source.resolve():
        raise CheckpointError(f"--out {out} is the pytracking file itself; choose another path, e.g. "
                              f"{source.with_suffix('.safetensors')}")
    obj = read_torch_pickle(source, trust=trust_pickle)
    digest = sha256_file(source)
    state, description = split_checkpoint(obj, source)
    mapped, dropped = rename_keys(state, source)
    config = atom_config_for(mapped, source)
    model = build_model(config)
    filled = fill_batchnorm_counters(mapped, model.state_dict())
    load_state_strict(model, mapped, source=f"{source} (keys renamed {_renaming_text()})")

    for prefix, reason in DROPPED.items():
        names = [name for name in dropped if name.startswith(prefix)]
        if names:
            logger.info("dropped %d tensor(s) %s: %s", len(names), ", ".join(names), reason)
    if filled:
        logger.info("filled %d missing tensor(s) (%s, ...): %s", len(filled), filled[0], FILLED_REASON)
    meta = {
        "source": {"format": "pytracking", "file": source.name, "sha256": digest,
                   "unpickling": "trusted (--trust-pickle)" if trust_pickle else "restricted",
                   **description},
        "mapping": {"renamed": dict(RENAMED), "dropped": dropped,
                    "filled": {name: FILLED_REASON for name in filled}},
    }
    path = save_checkpoint(out, model, config, meta=meta)
    return ImportResult(path=path, config=config, meta=meta, num_tensors=len(model.state_dict()))


def split_checkpoint(obj: Any, source: Path) -> tuple[Mapping[str, Any], dict[str, Any]]:
    """The network's state dict and a description of the file (JSON-able) from what it unpickled to.

    Accepts pytracking's layout (``{'net': state_dict, 'net_type', 'constructor', 'epoch', ...}``) or a
    bare state dict; a file of another pytracking network is refused here, by its net_type or constructor.
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source} holds a {_type_name(obj)}, not a pytracking checkpoint (a dict with "
                              f"a 'net' state dict) nor a state dict")
    if "net" not in obj:
        if obj and all(isinstance(key, str) for key in obj):
            return obj, {"layout": "state dict"}
        raise CheckpointError(f"{source} has no 'net' entry (pytracking's checkpoint layout) and is not a "
                              f"state dict; its entries: {_preview([repr(k) for k in obj])}")
    description: dict[str, Any] = {"layout": "pytracking checkpoint"}
    net_type = obj.get("net_type")
    if net_type is not None:
        description["net_type"] = _jsonable(net_type)
        if net_type != NET_TYPE:
            raise CheckpointError(
                f"{source} holds a pytracking {net_type!r} network; edge_tracker imports pytracking's ATOM "
                f"(net_type {NET_TYPE!r}, constructor {CONSTRUCTOR}) into its plain 'atom' tracker only")
    constructor = obj.get("constructor")
    if isinstance(constructor, PytrackingObject):
        attributes = constructor.attributes()
        fun_name, fun_module = attributes.get("fun_name"), attributes.get("fun_module")
        description["constructor"] = f"{fun_module}.{fun_name}"
        description["constructor_kwds"] = _jsonable(attributes.get("kwds", {}))
        if fun_name != CONSTRUCTOR:
            raise CheckpointError(
                f"{source} was built by pytracking's {fun_module}.{fun_name}; edge_tracker's 'atom' is "
                f"{CONSTRUCTOR} (ResNet-18 backbone, IoU-Net on layer2/layer3) and imports only that")
    if "epoch" in obj:
        description["epoch"] = _jsonable(obj["epoch"])
    ignored = sorted(str(key) for key in obj if key not in ("net", "net_type", "constructor", "epoch"))
    if ignored:
        description["ignored_entries"] = ignored
        logger.info("ignored entries of %s (not weights): %s", source.name, ", ".join(ignored))
    if not isinstance(obj["net"], Mapping):
        raise CheckpointError(f"{source}: 'net' is a {_type_name(obj['net'])}, not a state dict")
    return obj["net"], description


def rename_keys(state: Mapping[str, Any], source: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """pytracking's names -> ours (``RENAMED``), minus ``DROPPED``; tensors copied to plain CPU tensors.

    Returns ``(renamed state dict, {dropped pytracking name: why})``. Tensors outside both prefixes
    mean another network and are an error listing them.
    """
    torch = require("torch")
    names = list(state)
    if names and all(isinstance(n, str) and n.startswith("module.") for n in names):
        names = [n[len("module."):] for n in names]  # saved from a DataParallel wrapper
        state = dict(zip(names, state.values()))
    not_tensors = [f"{name!r} ({_type_name(value)})" for name, value in state.items()
                   if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(f"{source}: the state dict has entries that are not tensors: {_preview(not_tensors)}")
    mapped: dict[str, Any] = {}
    dropped: dict[str, str] = {}
    unknown = []
    for name, tensor in state.items():
        drop = next((reason for prefix, reason in DROPPED.items() if name.startswith(prefix)), None)
        rename = next((prefix for prefix in RENAMED if name.startswith(prefix)), None)
        if drop is not None:
            dropped[name] = drop
        elif rename is not None:
            # a plain tensor: nothing the pickle attached (hooks, subclass state) travels on
            mapped[RENAMED[rename] + name[len(rename):]] = tensor.detach().as_subclass(torch.Tensor).clone()
        else:
            unknown.append(name)
    if unknown:
        modules = sorted({name.split(".")[0] for name in unknown})
        raise CheckpointError(
            f"{source} is not pytracking's ATOM: {len(unknown)} tensor(s) outside its two modules "
            f"({', '.join(RENAMED)}), in module(s) {modules}: {_preview(unknown)}. edge_tracker imports "
            f"ATOM ({CONSTRUCTOR}) only; DiMP-family networks have other modules (e.g. 'classifier.')")
    return mapped, dropped


def atom_config_for(state: Mapping[str, Any], source: Path) -> AtomConfig:
    """The plain-ATOM architecture record, with the trunk and IoU-Net widths the file's tensors have.

    pytracking's ATOM has the defaults (64, 256, 256); a file trained with other widths gets them, and
    the strict load then checks every other tensor against that network.
    """
    config = default_config("atom")
    widths = {field: int(state[name].shape[dim]) for field, (name, dim) in WIDTHS.items()
              if name in state and state[name].dim() > dim}
    changed = {field: value for field, value in widths.items() if value != getattr(config, field)}
    if not changed:
        return config
    logger.info("widths read from the file differ from pytracking ATOM's defaults: %s",
                ", ".join(f"{k}={v}" for k, v in changed.items()))
    try:
        return dataclasses.replace(config, **changed)
    except ConfigError as err:
        raise CheckpointError(f"{source}: its tensors' widths make no valid plain-ATOM network: {err}") from err


def fill_batchnorm_counters(mapped: dict[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """Add the ``num_batches_tracked`` counters the file lacks (in place); returns their names."""
    torch = require("torch")
    filled = sorted(name for name in expected if name.endswith(".num_batches_tracked") and name not in mapped
                    and name.replace(".num_batches_tracked", ".running_mean") in mapped)
    for name in filled:
        mapped[name] = torch.zeros((), dtype=expected[name].dtype)
    return filled


def _renaming_text() -> str:
    return ", ".join(f"{a} -> {b}" for a, b in RENAMED.items())


def _jsonable(value: Any) -> Any:
    """Numbers, strings, lists and dicts as they are (tuples as lists, numpy scalars as numbers); the rest as repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # numpy scalar
        return _jsonable(value.item())
    return repr(value)


def _type_name(value: Any) -> str:
    if isinstance(value, PytrackingObject):
        return value.pickled_class
    return type(value).__name__


def _preview(items: list[str], limit: int = 6) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
