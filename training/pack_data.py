"""Pack the training split into a small GOT-10k-layout folder, for a GPU machine that gets only what
is carried to it (the device tool carries at most 64 MiB of ignored paths).

``python -m training.pack_data out/train17-data`` writes ``OUT/list.txt`` and one folder per
training-split sequence (``otb__Car1/00000001.jpg ..., groundtruth.txt`` with 0-based ``x,y,w,h``,
``0,0,0,0`` where the target is absent), every frame resized so that its longer side is at most
``--max-side`` px (boxes scaled with it) and re-encoded as JPEG ``--quality``; ``--every K`` keeps
every K-th frame. Training reads the
folder as any GOT-10k split (``--data OUT``). Only the training split is packed, so the evaluation
sequences never travel (training.splits). It fails, naming the size, when the pack exceeds
``--limit-mib``; lower ``--max-side`` or ``--quality`` then.

Resizing changes what the networks see only mildly: both recipes resize their crops anyway (SiamFC
to 127/255 px, ATOM to 288 px around 5 x the target), and targets smaller than a few pixels after
packing are few (the check prints the smallest).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from edge_tracker.errors import InputError
from training.splits import load_split

LIMIT_MIB = 60.0  # under the device tool's 64 MiB, leaving room for the other carried paths


def pack(out: Path, max_side: int = 480, quality: int = 80, limit_mib: float = LIMIT_MIB, root=None,
         every: int = 1) -> dict:
    """Write the pack; returns ``{"sequences", "frames", "mib", "smallest_box_px"}``."""
    import cv2

    from edge_tracker.datasets.readers import load_sequence

    if every < 1 or not 1 <= quality <= 100 or max_side < 32:
        raise InputError(f"--every must be >= 1, --quality 1..100, --max-side >= 32; got {every}, {quality}, "
                         f"{max_side}")
    split = load_split(root=root)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty; pack into a new folder (or delete it first)")
    out.mkdir(parents=True, exist_ok=True)
    names, frames, total, smallest = [], 0, 0, float("inf")
    for name, folder in zip(split.training, split.paths("training"), strict=True):
        sequence = load_sequence(folder)
        packed = name.replace("/", "__")
        target = out / packed
        target.mkdir()
        lines = []
        for index in range(0, len(sequence.boxes), every):
            image = sequence.frame(index)
            scale = min(1.0, max_side / max(image.shape[:2]))
            if scale < 1.0:
                image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                                   interpolation=cv2.INTER_AREA)
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise InputError(f"could not encode frame {index} of {folder} as JPEG")
            (target / f"{index // every + 1:08d}.jpg").write_bytes(data.tobytes())
            total += len(data)
            box = np.asarray(sequence.boxes[index], float) * scale
            if np.isfinite(box).all():
                smallest = min(smallest, float(np.sqrt(box[2] * box[3])))
                lines.append(",".join(f"{v:.3f}" for v in box))
            else:
                lines.append("0,0,0,0")
        (target / "groundtruth.txt").write_text("\n".join(lines) + "\n")
        names.append(packed)
        frames += len(lines)
        if total > limit_mib * 2**20:
            raise InputError(f"the pack passed {limit_mib} MiB at {name} ({total / 2**20:.1f} MiB); lower "
                             f"--max-side (now {max_side}) or --quality (now {quality})")
    (out / "list.txt").write_text("\n".join(names) + "\n")
    return {"sequences": len(names), "frames": frames, "mib": round(total / 2**20, 1),
            "smallest_box_px": round(smallest, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.pack_data", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="new folder to write (e.g. out/train17-data, git-ignored)")
    parser.add_argument("--max-side", type=int, default=480, help="longer frame side after resizing, px (480)")
    parser.add_argument("--quality", type=int, default=80, help="JPEG quality 1..100 (80)")
    parser.add_argument("--limit-mib", type=float, default=LIMIT_MIB, help=f"size limit (default {LIMIT_MIB})")
    parser.add_argument("--every", type=int, default=1,
                        help="keep every K-th frame (1); K > 1 makes --max-gap span K times the time")
    parser.add_argument("--root", type=Path, default=None, help="sequences folder (default: the split file's)")
    args = parser.parse_args(argv)
    try:
        print(pack(args.out, args.max_side, args.quality, args.limit_mib, args.root, args.every))
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
