"""The demo checkpoints that ship with the package, and what a command uses when given no model.

``edge_tracker/checkpoints/<tracker>.safetensors`` holds fp16 weights the project trained itself
(docs/model-cards/ says on what, for how long, and how well they track). They are small demos, not
benchmark weights: train on GOT-10k/LaSOT with ``python -m training`` for real use.

- ``demo_checkpoint(tracker)``: the shipped file, for ``--backend torch`` and ``python -m export``.
- ``demo_export(tracker)``: an ONNX export of it for ``--backend ort``, built once into the user
  cache (``$EDGE_TRACKER_CACHE``, else ``$XDG_CACHE_HOME/edge_tracker``, else
  ``~/.cache/edge_tracker``) and reused while the checkpoint's sha256 is unchanged. Building it
  needs torch (the ``export`` extra); a device without torch is given an export folder instead.
  A cached entry that fails its checks (a malformed manifest, a missing or changed graph) is
  rebuilt with a warning: the user never made it, so "re-run the export" is no advice for them.

``python -m edge_tracker.demo`` (``make demo``) generates a clip and tracks it: ``__main__.py``.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from edge_tracker.cache import cache_dir
from edge_tracker.errors import InputError, MissingDependencyError
from edge_tracker.manifest import MANIFEST_NAME, read_manifest, sha256_file, variant_file
from edge_tracker.names import DEFAULT_TRACKER

logger = logging.getLogger("edge_tracker.demo")

CHECKPOINT_DIR = Path(__file__).resolve().parents[1] / "checkpoints"


def demo_trackers() -> tuple[str, ...]:
    """Trackers with a shipped demo checkpoint, in name order."""
    return tuple(sorted(p.name[: -len(".safetensors")] for p in CHECKPOINT_DIR.glob("*.safetensors")))


def demo_checkpoint(tracker: str) -> Path:
    """The shipped checkpoint of ``tracker``; InputError naming the alternatives when there is none."""
    path = CHECKPOINT_DIR / f"{tracker}.safetensors"
    if not path.is_file():
        shipped = ", ".join(demo_trackers()) or "none"
        raise InputError(f"no demo checkpoint ships for '{tracker}' (demo checkpoints: {shipped}); train one "
                         f"with `python -m training` and pass it with --model")
    return path


def demo_export(tracker: str, precision: str = "fp32", progress: bool = False) -> Path:
    """An ONNX export folder of ``tracker``'s demo checkpoint, built on first use, with the graphs of
    ``precision`` (FP16/INT8 built on first use too, calibrated on generated clips)."""
    checkpoint = demo_checkpoint(tracker)
    digest = sha256_file(checkpoint)
    target = cache_dir() / "demo" / f"{tracker}-{digest[:12]}"
    if target.exists():
        _drop_if_damaged(target, tracker, precision)
    if not (target / MANIFEST_NAME).is_file():
        logger.warning("first use of the %s demo checkpoint: exporting it to ONNX into %s (once)", tracker, target)
        partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
        try:
            _build(tracker, partial, checkpoint=checkpoint, precisions=("fp32",), progress=progress)
            try:
                partial.rename(target)  # atomic: a reader sees a whole export or none
            except OSError:
                if not (target / MANIFEST_NAME).is_file():  # another process did not win the race
                    raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    if precision != "fp32" and not _has_variant(target, precision):
        logger.warning("first use of --precision %s with the %s demo: building its graphs into %s, calibrated on "
                       "generated clips (once; minutes on a small CPU)", precision, tracker, target)
        _build(tracker, target, onnx_dir=target, precisions=("fp32", precision), sources=_calibration_clips(target),
               calib_size=DEMO_CALIBRATION_SIZE, progress=progress)
    return target


DEMO_CALIBRATION_SIZE = 120  # images per every-frame phase of the demo's calibration set


def _drop_if_damaged(target: Path, tracker: str, precision: str) -> None:
    """Remove a cached demo export that fails its checks, with a warning, so that it is built again."""
    try:
        manifest = read_manifest(target)  # the schema, and every graph against its sha256
        for phase in manifest["phases"]:
            if precision in (phase.get("variants") or {}):
                variant_file(target, phase, precision)
    except InputError as err:
        logger.warning("the cached %s demo export in %s is damaged (%s); rebuilding it", tracker, target, err)
        aside = target.with_name(f"{target.name}.damaged-{os.getpid()}")
        try:
            target.rename(aside)  # a reader in another process sees the old entry or none, never half
        except OSError as rename_error:
            raise InputError(f"the cached {tracker} demo export in {target} is damaged ({err}) and cannot be "
                             f"moved aside ({rename_error.strerror}); delete {target} and run again") from err
        shutil.rmtree(aside, ignore_errors=True)


def _has_variant(folder: Path, precision: str) -> bool:
    phases = read_manifest(folder, verify=False)["phases"]
    return all(precision in (phase.get("variants") or {}) for phase in phases)


def _calibration_clips(folder: Path) -> list[str]:
    """Two generated sequences (GOT-10k layout) to calibrate the demo on: no data needs to be at hand."""
    from edge_tracker.datasets.synthetic import SyntheticConfig, generate_sequence

    clips = []
    for seed in (101, 102):
        path = folder / "calibration-clips" / f"clip_{seed}"
        if not (path / "groundtruth.txt").is_file():
            generate_sequence(seed, SyntheticConfig(num_frames=80)).write(path)
        clips.append(str(path))
    return clips


def _build(tracker: str, out: Path, **options) -> None:
    """The one place the runtime reaches the build pipeline (lazily: it needs torch and the export extra)."""
    try:
        from export.build import build
    except ImportError as err:
        raise MissingDependencyError(
            f"the {tracker} demo checkpoint is exported to ONNX on first use, which needs torch: "
            f"pip install 'edge-tracker[export]'. On a device without torch, export it elsewhere with "
            f"`python -m export build --tracker {tracker} --out DIR` and pass --model DIR. ({err})") from err
    build(tracker, out, **options)


def resolve_model(model: str | Path | None, backend: str, tracker: str | None, precision: str = "fp32") -> Path:
    """``--model`` as given, or the demo model of ``tracker`` (default scs-siam) for ``backend``."""
    if model is not None:
        return Path(model)
    tracker = tracker or DEFAULT_TRACKER
    return demo_checkpoint(tracker) if backend == "torch" else demo_export(tracker, precision)
