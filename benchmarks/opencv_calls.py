"""What another OpenCV release changes in the calls our numbers go through, call by call.

Run it under each OpenCV, then compare the two recordings:

    .venv/bin/python -m benchmarks.opencv_calls --save out/cv-5.0.npz
    .venv-latest/bin/python -m benchmarks.opencv_calls --save out/cv-5.1.npz --against out/cv-5.0.npz

Each call runs on the same inputs: a real frame of OTB Crossing (a generated one with ``--smoke`` or
when the data is absent) cut the way the trackers cut it (``crop_square``: SCS-Siam's three search
scales and exemplar, AFF-ATOM's search crop, at sub-pixel centres), the filters AFF-ATOM's first-frame
augmentation applies, SiamFC's bicubic response upsampling, the synthetic clip generator as a whole,
and a decoded demo video. The comparison prints, per call, the largest absolute difference (in the
call's own units: 0-255 pixel values, response values) and the share of values that differ at all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import CROSSING, data_root, read_frames
from edge_tracker.datasets.synthetic import SyntheticConfig, generate_sequence
from edge_tracker.geometry import crop_square

SCS_SIAM_SCALES = (1.0375 ** -1, 1.0, 1.0375)  # SiamFC's scale pyramid around the current size
VIDEO = Path("videos/opencv_samples")


def _crops(frame: np.ndarray, box: np.ndarray) -> dict[str, np.ndarray]:
    cx, cy = box[0] + box[2] / 2 + 0.37, box[1] + box[3] / 2 + 0.61  # off the pixel grid, as tracking is
    context = 0.5 * (box[2] + box[3])
    exemplar_side = float(np.sqrt((box[2] + context) * (box[3] + context)))
    out = {"crop/scs-siam exemplar 127": crop_square(frame, (cx, cy), exemplar_side, 127)}
    for scale in SCS_SIAM_SCALES:
        out[f"crop/scs-siam search 255 x{scale:.4f}"] = crop_square(frame, (cx, cy), exemplar_side * 255 / 127 * scale, 255)
    out["crop/aff-atom search 288"] = crop_square(frame, (cx, cy), 5.0 * float(np.sqrt(box[2] * box[3])), 288)
    return out


def _augmentation(crop: np.ndarray) -> dict[str, np.ndarray]:
    rotate = cv2.getRotationMatrix2D((crop.shape[1] / 2, crop.shape[0] / 2), 10.0, 1.0)
    shift = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, -2.0]])
    return {"GaussianBlur (augmentation, sigma 1 x 2)": cv2.GaussianBlur(crop, (0, 0), sigmaX=1.0, sigmaY=2.0),
            "warpAffine linear rotation 10 deg": cv2.warpAffine(crop, rotate, crop.shape[1::-1], flags=cv2.INTER_LINEAR,
                                                                borderMode=cv2.BORDER_REPLICATE),
            "warpAffine nearest shift": cv2.warpAffine(crop, shift, crop.shape[1::-1], flags=cv2.INTER_NEAREST,
                                                       borderMode=cv2.BORDER_REPLICATE)}


def _response() -> dict[str, np.ndarray]:
    response = np.random.default_rng(0).standard_normal((17, 17)).astype(np.float32)
    return {"resize cubic 17 -> 272 (SiamFC response)": cv2.resize(response, (272, 272), interpolation=cv2.INTER_CUBIC)}


def _generated() -> dict[str, np.ndarray]:
    sequence = generate_sequence(7, SyntheticConfig(num_frames=6))
    return {"synthetic clip seed 7 (6 frames)": np.stack(sequence.frames)}


def _video(root: Path) -> dict[str, np.ndarray]:
    files = sorted((root / VIDEO).glob("*.*")) if (root / VIDEO).is_dir() else []
    if not files:
        return {}
    capture, frames = cv2.VideoCapture(str(files[0])), []
    while len(frames) < 10:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return {f"VideoCapture {files[0].name} (10 frames)": np.stack(frames)} if frames else {}


def record(smoke: bool) -> dict[str, np.ndarray]:
    frames = read_frames(data_root() / CROSSING, [0], smoke=smoke)
    frame, box = frames.images[0], np.asarray(frames.boxes[0], np.float64)
    calls = _crops(frame, box)
    # the filters on a plain float slice of the frame, so that a crop's own change is not counted again
    calls.update(_augmentation(frame[:288, :288].astype(np.float32)))
    calls.update(_response())
    calls.update(_generated())
    if not smoke:
        calls.update(_video(data_root()))
    return {"opencv " + cv2.__version__ + " | " + frames.describe(): np.zeros(0), **calls}


def compare(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> list[str]:
    (our_head,), (their_head,) = ([k for k in d if k.startswith("opencv ")] for d in (ours, theirs))
    lines = [f"this run: {our_head}", f"against:  {their_head}",
             f"  {'call':<44} {'max abs diff':>13} {'values that differ':>19}"]
    for name in (k for k in ours if not k.startswith("opencv ")):
        if name not in theirs:
            lines.append(f"  {name:<44} {'(not in the other recording)':>33}")
            continue
        a, b = ours[name].astype(np.float64), theirs[name].astype(np.float64)
        if a.shape != b.shape:
            lines.append(f"  {name:<44} shapes differ: {a.shape} vs {b.shape}")
            continue
        diff = np.abs(a - b)
        lines.append(f"  {name:<44} {diff.max():>13.4g} {100 * np.mean(diff > 0):>18.2f}%")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path, help="write this OpenCV's results here (.npz)")
    parser.add_argument("--against", type=Path, help="an earlier --save of another OpenCV to compare with")
    parser.add_argument("--smoke", action="store_true", help="a generated frame, no video (for the test suite)")
    args = parser.parse_args(argv)
    calls = record(args.smoke)
    print(next(k for k in calls if k.startswith("opencv ")), f"- {len(calls) - 1} calls")
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.save, **calls)
        print("saved", args.save)
    if args.against:
        with np.load(args.against) as other:
            print("\n".join(compare(calls, dict(other))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
