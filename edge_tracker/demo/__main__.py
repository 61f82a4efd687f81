"""``python -m edge_tracker.demo`` (``make demo``): generate a clip and track it with a demo checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_tracker.cli import main as cli_main
from edge_tracker.datasets.synthetic import demo_clip
from edge_tracker.names import DEFAULT_TRACKER


def main(argv: list[str] | None = None) -> int:
    """``python -m edge_tracker.demo [OUT_DIR] [--tracker T] [--frames N]``: generate a clip and track it.

    Writes OUT_DIR/clip.mp4 (a procedural sequence, with its ground truth beside it), then runs
    ``edge-tracker track`` on it with the tracker's demo checkpoint: OUT_DIR/tracked.mp4 (boxes drawn)
    and OUT_DIR/tracked.jsonl, and prints FPS and per-stage latency. ``make demo`` runs this.
    """
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
