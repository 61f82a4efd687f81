"""The demo checkpoints that ship with the package, and what a command uses when given no model.

``edge_tracker/checkpoints/<tracker>.safetensors`` holds fp16 weights the project trained itself
(docs/model-cards/ says on what, for how long, and how well they track). They are small demos, not
benchmark weights: train on GOT-10k/LaSOT with ``python -m training`` for real use.

- ``demo_checkpoint(tracker)``: the shipped file, for ``--backend torch`` and ``python -m export``.
- ``demo_export(tracker)``: an ONNX export of it for ``--backend ort``, built once into the user
  cache (``$EDGE_TRACKER_CACHE``, else ``$XDG_CACHE_HOME/edge_tracker``, else
  ``~/.cache/edge_tracker``) and reused while the checkpoint's sha256 is unchanged. Building it
  needs torch (the ``export`` extra); a device without torch is given an export folder instead.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from edge_tracker.errors import InputError, MissingDependencyError
from edge_tracker.manifest import MANIFEST_NAME, sha256_file

logger = logging.getLogger("edge_tracker.demo")

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
DEFAULT_TRACKER = "scs-siam"


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


def cache_dir() -> Path:
    """Where built demo exports are kept (see the module docstring)."""
    if os.environ.get("EDGE_TRACKER_CACHE"):
        return Path(os.environ["EDGE_TRACKER_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "edge_tracker"


def demo_export(tracker: str, progress: bool = False) -> Path:
    """An ONNX export folder of ``tracker``'s demo checkpoint, built on first use."""
    checkpoint = demo_checkpoint(tracker)
    digest = sha256_file(checkpoint)
    target = cache_dir() / "demo" / f"{tracker}-{digest[:12]}"
    if (target / MANIFEST_NAME).is_file():
        return target
    from export.pipeline import export_tracker

    logger.warning("first use of the %s demo checkpoint: exporting it to ONNX into %s (once)", tracker, target)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    try:
        export_tracker(tracker, partial, checkpoint=checkpoint, progress=progress)
        try:
            partial.rename(target)  # atomic: a reader sees a whole export or none
        except OSError:
            if not (target / MANIFEST_NAME).is_file():  # another process did not win the race
                raise
    except MissingDependencyError as err:
        raise MissingDependencyError(
            f"the {tracker} demo checkpoint is exported to ONNX on first use, which needs torch: "
            f"pip install 'edge-tracker[export]'. On a device without torch, export it elsewhere with "
            f"`python -m export onnx --tracker {tracker} --out DIR` and pass --model DIR. ({err})") from err
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def resolve_model(model: str | Path | None, backend: str, tracker: str | None) -> Path:
    """``--model`` as given, or the demo model of ``tracker`` (default scs-siam) for ``backend``."""
    if model is not None:
        return Path(model)
    tracker = tracker or DEFAULT_TRACKER
    return demo_checkpoint(tracker) if backend == "torch" else demo_export(tracker)


def main(argv: list[str] | None = None) -> int:
    """``python -m edge_tracker.demo [OUT_DIR] [--tracker T] [--frames N]``: generate a clip and track it.

    Writes OUT_DIR/clip.mp4 (a procedural sequence, with its ground truth beside it), then runs
    ``edge-tracker track`` on it with the tracker's demo checkpoint: OUT_DIR/tracked.mp4 (boxes drawn)
    and OUT_DIR/tracked.jsonl, and prints FPS and per-stage latency. ``make demo`` runs this.
    """
    import argparse

    from edge_tracker.cli import main as cli_main
    from edge_tracker.datasets.synthetic import demo_clip

    parser = argparse.ArgumentParser(prog="python -m edge_tracker.demo", description=main.__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=Path("out/demo"),
                        help="folder for clip.mp4, tracked.mp4, tracked.jsonl (default out/demo)")
    parser.add_argument("--tracker", default=DEFAULT_TRACKER, help=f"demo tracker (default {DEFAULT_TRACKER})")
    parser.add_argument("--frames", type=int, default=150, help="clip length in frames (default 150)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated clip (default 0)")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    clip, box = demo_clip(args.out_dir / "clip.mp4", seed=args.seed, frames=args.frames)
    print(f"clip: {clip} ({args.frames} frames), first box {','.join(f'{v:g}' for v in box)}")
    return cli_main(["track", str(clip), str(args.out_dir / "tracked.mp4"), str(args.out_dir / "tracked.jsonl"),
                     "--tracker", args.tracker, "--init", ",".join(f"{v:g}" for v in box), "--headless"])


if __name__ == "__main__":
    raise SystemExit(main())
