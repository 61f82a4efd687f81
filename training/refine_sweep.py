"""Choose AFF-ATOM's IoU-Net refinement settings by measurement on the training split (issue 17).

``python -m training.refine_sweep CHECKPOINT --iterations 0,1,3,5 --proposals 5,10,20 --size-rates 1,0.3``
tracks the first ``--max-frames`` frames of every training-split sequence (never an evaluation one:
the list comes from ``training/splits.toml`` and goes through ``check_training_data``) with the
PyTorch backend, once with the refinement off and once per (steps, proposals, size rate), and prints
the success AUC of each (mean over sequences, OTB convention), best first. ``--json`` keeps every
number. The size rate is the tracking parameter ``refine_size_rate`` (the share of the refined size
change taken each frame; 1 is ATOM's).

Steps (``refine_iterations``) and proposals (``num_proposals``) are fields of the exported graph
(``export.models.config.AtomConfig``), not tracking parameters, so each setting is a copy of the
checkpoint with those two fields changed (same weights), written to a temporary folder, which also
recommends ``refine`` and ``refine_size_rate`` (``meta["tracking_params"]``). Write the chosen
values into the checkpoint that ships (``python -m training.refine_sweep ... --write OUT``) and
record the table in its model card.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

from edge_tracker.errors import InputError
from training.splits import check_training_data, load_split

logger = logging.getLogger("edge_tracker.training")


def variant(checkpoint_path: Path, out: Path, iterations: int, proposals: int, refine: bool,
            size_rate: float = 1.0) -> Path:
    """A copy of the checkpoint with ``refine_iterations``/``num_proposals`` set and ``refine`` (and, when
    refining, ``refine_size_rate``) recommended."""
    import torch

    from export.checkpoint import load_state_strict, read_checkpoint, save_checkpoint
    from export.models import build_model

    checkpoint = read_checkpoint(checkpoint_path, expect_tracker="aff-atom")
    config = dataclasses.replace(checkpoint.config, refine_iterations=iterations, num_proposals=proposals)
    net = build_model(config)
    load_state_strict(net, checkpoint.state_dict, source=str(checkpoint_path))
    meta = dict(getattr(checkpoint, "meta", None) or {})
    params = {key: value for key, value in meta.get("tracking_params", {}).items() if key != "refine_size_rate"}
    meta["tracking_params"] = {**params, "refine": refine, **({"refine_size_rate": size_rate} if refine else {})}
    half = any(t.dtype == torch.float16 for t in checkpoint.state_dict.values())
    return save_checkpoint(out, net, config, meta=meta, half=half)


def sequence_auc(model: Path, folders: list[Path], max_frames: int) -> dict[str, float]:
    """Success AUC per sequence of one checkpoint (PyTorch backend), first ``max_frames`` frames."""
    from edge_tracker.datasets.readers import load_sequence
    from edge_tracker.evaluation.metrics import iou, success_curve
    from edge_tracker.session import Session

    scores = {}
    with Session(model, tracker="aff-atom", backend="torch") as session:
        for folder in folders:
            sequence = load_sequence(folder)
            count = min(max_frames, len(sequence.boxes))
            tracker = session.new_tracker()
            tracker.initialize(sequence.frame(0), sequence.boxes[0])
            boxes = [sequence.boxes[0]] + [tracker.track(sequence.frame(i)).box for i in range(1, count)]
            scores[folder.name] = float(np.mean(success_curve(iou(np.array(boxes[1:]), sequence.boxes[1:count]))))
    return scores


def sweep(checkpoint: Path, iterations, proposals, max_frames: int, folders: list[Path],
          size_rates=(1.0,)) -> list[dict]:
    check_training_data([str(f) for f in folders])
    settings = [("off", 0, 10, False, 1.0)] + [
        (f"{i}x{p}" + (f" r{r:g}" if list(size_rates) != [1.0] else ""), i, p, True, r)
        for i in iterations for p in proposals for r in size_rates]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for number, (label, steps, count, refine, rate) in enumerate(settings):
            path = variant(checkpoint, Path(tmp) / f"{number}.safetensors", steps, count, refine, rate)
            per_sequence = sequence_auc(path, folders, max_frames)
            rows.append({"setting": label, "refine": refine, "refine_iterations": steps, "num_proposals": count,
                         "refine_size_rate": rate, "auc": float(np.mean(list(per_sequence.values()))),
                         "per_sequence": per_sequence})
            logger.info("%s: AUC %.3f", label, rows[-1]["auc"])
    return sorted(rows, key=lambda row: -row["auc"])


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 1,3,5; got {text!r}") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative integers, got {text!r}")
    return values


def _rates(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, e.g. 1,0.5,0.3; got {text!r}") from None
    if not values or not all(0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"size rates must be in (0, 1] (1: ATOM's), got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.refine_sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="AFF-ATOM checkpoint (.safetensors)")
    parser.add_argument("--iterations", type=_ints, default=[0, 1, 3, 5], help="refinement steps (0,1,3,5)")
    parser.add_argument("--proposals", type=_ints, default=[5, 10, 20], help="proposals (5,10,20)")
    parser.add_argument("--size-rates", type=_rates, default=[1.0],
                        help="refine_size_rate values (1: the refined size as found; 0.3: 30%% of its change)")
    parser.add_argument("--max-frames", type=int, default=100, help="frames per sequence (100)")
    parser.add_argument("--json", type=Path, default=None, help="write every number here")
    parser.add_argument("--write", type=Path, default=None,
                        help="also write the checkpoint with the best setting here (.safetensors)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if 0 in args.proposals or args.max_frames < 2:
            raise InputError("--proposals must be >= 1 and --max-frames >= 2")
        folders = load_split().paths("training")
        rows = sweep(args.checkpoint, args.iterations, args.proposals, args.max_frames, folders, args.size_rates)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("| setting (steps x proposals, size rate) | success AUC, training split |\n|---|---:|")
    for row in rows:
        print(f"| {row['setting']} | {row['auc']:.3f} |")
    if args.json is not None:
        args.json.write_text(json.dumps({"checkpoint": str(args.checkpoint), "max_frames": args.max_frames,
                                         "rows": rows}, indent=1))
    if args.write is not None:
        best = rows[0]
        variant(args.checkpoint, args.write, best["refine_iterations"], best["num_proposals"], best["refine"],
                best["refine_size_rate"])
        print(f"wrote {args.write} with {best['setting']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
