"""``python -m edge_tracker.datasets.synthetic OUT_DIR --count N --seed S --frames F [--video]``.

Writes GOT-10k style folders ``OUT_DIR/synthetic_0000/`` and ``OUT_DIR/list.txt``; prints one line
per sequence (its first box, min visible fraction, time). Exit code 0, or 2 on a bad argument.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from edge_tracker.datasets.synthetic.config import SyntheticConfig
from edge_tracker.datasets.synthetic.scene import generate_sequence
from edge_tracker.errors import ConfigError, EdgeTrackerError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m edge_tracker.datasets.synthetic",
        description="Write procedural tracking sequences as GOT-10k style folders "
                    "(OUT_DIR/synthetic_0000/00000001.jpg ..., groundtruth.txt with 0-based x,y,w,h) "
                    "and OUT_DIR/list.txt. Sequence i uses seed SEED + i.")
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="folder to write into (created)")
    parser.add_argument("--count", type=int, default=1, help="number of sequences (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first sequence (default 0)")
    parser.add_argument("--frames", type=int, default=SyntheticConfig.num_frames,
                        help=f"frames per sequence (default {SyntheticConfig.num_frames})")
    parser.add_argument("--width", type=int, default=SyntheticConfig.width, help="frame width, px (default 320)")
    parser.add_argument("--height", type=int, default=SyntheticConfig.height, help="frame height, px (default 240)")
    parser.add_argument("--video", action="store_true",
                        help="also write OUT_DIR/synthetic_NNNN.mp4 next to each folder")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.count < 1:
            raise ConfigError(f"--count must be >= 1; got {args.count}")
        if args.seed < 0:
            raise ConfigError(f"--seed must be >= 0; got {args.seed}")
        config = SyntheticConfig(width=args.width, height=args.height, num_frames=args.frames)
        names = []
        for i in range(args.count):
            name = f"synthetic_{i:04d}"
            start = time.perf_counter()
            sequence = generate_sequence(args.seed + i, config, name=name)
            folder = sequence.write(args.out_dir / name)
            names.append(name)
            line = (f"wrote {folder} ({len(sequence)} frames {config.width}x{config.height}, seed {args.seed + i}, "
                    f"first box {','.join(f'{v:.2f}' for v in sequence.boxes[0])}, "
                    f"min visible {sequence.visible.min():.2f}, {time.perf_counter() - start:.2f} s)")
            if args.video:
                line += f"; video {sequence.write_video(args.out_dir / f'{name}.mp4')}"
            print(line, flush=True)
        (args.out_dir / "list.txt").write_text("".join(f"{name}\n" for name in names))
        print(f"wrote {args.out_dir / 'list.txt'} ({len(names)} sequences)")
    except EdgeTrackerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
