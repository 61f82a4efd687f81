"""How well an AFF-ATOM / ATOM checkpoint's IoU-Net predicts IoU, on fixed training-split pairs.

``python -m training.iou_probe CHECKPOINT [CHECKPOINT ...]`` cuts ``--pairs`` ATOM training pairs
(16 proposals each) from ``--data`` (default ``split:training``; the evaluation split is refused as
everywhere in training) with a fixed seed, runs each checkpoint's IoU-Net in eval mode, and prints
the MSE on pytracking's scale (``2 IoU - 1``, what the training loss measures) and the Pearson r of
predicted and true IoU, for the basic and the tracking augmentations. Seconds per checkpoint, so
it is the quick check of a background run's snapshots before the slower ``training.refine_sweep``.

The pairs come from sample indices a run of the default seed 0 does not draw (``--seed`` 12345);
they are training-split sequences, so this measures fitting, not generalisation to unseen ones.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from edge_tracker.errors import InputError
from training import atom
from training.config import AUGMENTS, make_config
from training.data import PairDataset, parse_sources


def probe_batch(data, pairs: int, seed: int, augment: str) -> dict[str, torch.Tensor]:
    """``pairs`` collated ATOM samples of ``data`` (``--data`` values)."""
    config = make_config("atom", "aff-atom", list(data), "unused", augment=augment)
    dataset = PairDataset(parse_sources(config.data), atom.sample_maker(config), config.max_gap, seed)
    samples = [dataset[k] for k in range(pairs)]
    return {key: torch.from_numpy(np.stack([s[key] for s in samples])).float() for key in samples[0]}


def iou_scores(checkpoint: Path, batch: dict[str, torch.Tensor], chunk: int = 16) -> dict[str, float]:
    """``{"mse", "r"}`` of the checkpoint's IoU-Net on ``batch`` (eval mode, no gradients)."""
    from export.checkpoint import load_state_strict, read_checkpoint
    from export.models import build_model

    loaded = read_checkpoint(checkpoint)
    if loaded.config.tracker not in ("aff-atom", "atom"):
        raise InputError(f"{checkpoint} holds {loaded.config.tracker}; the probe reads AFF-ATOM / ATOM checkpoints")
    net = build_model(loaded.config)
    load_state_strict(net, loaded.state_dict, source=str(checkpoint))
    net.eval()
    layers = net.config.iou_layers
    predicted = []
    with torch.no_grad():
        for start in range(0, len(batch["train_image"]), chunk):
            part = slice(start, start + chunk)
            n = len(batch["train_image"][part])
            feats = net.extract(torch.cat([batch["train_image"][part], batch["test_image"][part]]))
            predicted.append(net.iou_net([feats[f"iou_{layer}"][:n] for layer in layers],
                                         [feats[f"iou_{layer}"][n:] for layer in layers],
                                         batch["train_box"][part][None], batch["proposals"][part][None])[0])
    p = torch.cat(predicted).numpy().ravel()
    t = (2.0 * batch["proposal_iou"].numpy() - 1.0).ravel()
    return {"mse": float(np.mean((p - t) ** 2)), "r": float(np.corrcoef(p, t)[0, 1])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.iou_probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--data", nargs="+", default=["split:training"], help="sources (split:training)")
    parser.add_argument("--pairs", type=int, default=96, help="pairs, 16 proposals each (96)")
    parser.add_argument("--seed", type=int, default=12345, help="sample-stream seed (12345)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        if args.pairs < 2:
            raise InputError(f"--pairs must be >= 2, got {args.pairs}")
        print("| augmentations | checkpoint | IoU MSE (2 IoU - 1) | Pearson r |\n|---|---|---:|---:|")
        for augment in AUGMENTS:
            batch = probe_batch(args.data, args.pairs, args.seed, augment)
            for checkpoint in args.checkpoints:
                scores = iou_scores(checkpoint, batch)
                print(f"| {augment} | {checkpoint} | {scores['mse']:.4f} | {scores['r']:.3f} |", flush=True)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
