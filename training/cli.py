"""``python -m training``: train SCS-Siam (``siam``) or AFF-ATOM / ATOM (``atom``) networks.

Examples:
  python -m training siam --tracker scs-siam --data synthetic:200 --out runs/siam --steps 2000 --batch-size 8
  python -m training atom --tracker aff-atom --data /data/GOT-10k/train --out runs/aff --device cuda --workers 8
  torchrun --nproc_per_node 4 -m training atom --tracker aff-atom --data /data/got10k --out runs/aff --device cuda

Exit codes: 0 finished or stopped as asked (--stop-at, --max-minutes); 130 stopped by Ctrl-C/SIGTERM
(after saving); 1 a failure while training; 2 bad arguments or input.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from edge_tracker.command_line import logging_to_stderr, parse_or_exit_code, run_command, verbosity_options
from edge_tracker.errors import ConfigError
from training.config import AUGMENTS, DEFAULTS, TASKS, make_config

logger = logging.getLogger("edge_tracker.training")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="task", required=True, metavar="{siam,atom}")
    verbosity = verbosity_options("no progress bar or log lines, warnings and errors only (log.jsonl is still written)")
    siam = commands.add_parser("siam", parents=[verbosity], help="train SCS-Siam / SCA-Siam / SSA-Siam (SPEC 2.4)",
                               description="SiamFC pairs with soft masks, balanced logistic loss, SGD with an "
                                           "exponentially decaying learning rate (docs/training.md).")
    atom = commands.add_parser("atom", parents=[verbosity], help="train AFF-ATOM / ATOM (IoU-Net + backbone)",
                               description="IoU-Net MSE on 16 proposals per pair plus a correlation loss on the "
                                           "classifier layers that trains the backbone; Adam (docs/training.md).")
    for task, sub in (("siam", siam), ("atom", atom)):
        _common_arguments(sub, task)
    siam.add_argument("--lr-end", type=float, default=None,
                      help=f"final learning rate of the exponential decay (default {DEFAULTS['siam']['lr_end']})")
    siam.add_argument("--momentum", type=float, default=None, help="SGD momentum (default 0.9)")
    atom.add_argument("--corr-weight", type=float, default=None,
                      help="lambda: weight of the correlation loss next to the IoU MSE "
                           "(default 1.0; 0 = IoU-Net only)")
    atom.add_argument("--freeze-backbone", action="store_true",
                      help="keep the backbone's weights and BN statistics (fine-tune the IoU-Net, as ATOM does; "
                           "use with --init)")
    return parser


def _common_arguments(sub: argparse.ArgumentParser, task: str) -> None:
    defaults = DEFAULTS[task]
    sub.add_argument("--tracker", required=True, choices=TASKS[task], help="network to train")
    sub.add_argument("--data", required=True, nargs="+", metavar="SRC",
                     help="dataset roots, sequence folders (GOT-10k, LaSOT, TrackingNet, OTB, VOT, UAV123 layouts) "
                          "and/or synthetic:N[:SEED]")
    sub.add_argument("--out", required=True, type=Path,
                     help="output folder (last.pt, log.jsonl, <tracker>.safetensors)")
    sub.add_argument("--arch", action="append", default=[], metavar="KEY=VALUE",
                     help="architecture override, repeatable, e.g. --arch backbone_width=32 "
                          "(keys: the tracker's record in export/models/config.py; default: the paper's)")
    sub.add_argument("--steps", type=int, default=None, help="optimiser steps of the whole run (default 50000)")
    sub.add_argument("--batch-size", type=int, default=None,
                     help=f"pairs per step and process (default {defaults['batch_size']})")
    sub.add_argument("--lr", type=float, default=None, help=f"initial learning rate (default {defaults['lr']:g})")
    sub.add_argument("--weight-decay", type=float, default=None,
                     help=f"weight decay (default {defaults['weight_decay']:g})")
    sub.add_argument("--clip-grad", type=float, default=None, metavar="NORM",
                     help="clip the gradient's global L2 norm to NORM (default: no clipping)")
    sub.add_argument("--max-gap", type=int, default=None,
                     help=f"largest frame distance within a pair (default {defaults['max_gap']})")
    sub.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                     help="cpu, or cuda (GPU LOCAL_RANK under torchrun) (default cpu)")
    sub.add_argument("--workers", type=int, default=0, help="data-loader worker processes per process (default 0)")
    sub.add_argument("--threads", type=int, default=None,
                     help="torch CPU threads per process (default: torch's choice; 1 is fastest on a busy machine)")
    sub.add_argument("--seed", type=int, default=0,
                     help="seed of the initial weights and the sample stream (default 0)")
    sub.add_argument("--resume", action="store_true", help="continue the run in OUT from OUT/last.pt")
    sub.add_argument("--init", type=Path, default=None, metavar="CHECKPOINT",
                     help="start from this .safetensors checkpoint of the same tracker")
    sub.add_argument("--max-minutes", type=float, default=None,
                     help="stop cleanly (saving everything) after this many minutes of this session")
    sub.add_argument("--stop-at", type=int, default=None, metavar="STEP",
                     help="stop cleanly after STEP; the schedule still spans --steps (run a schedule in parts)")
    sub.add_argument("--log-every", type=int, default=None, help="steps per log.jsonl line (default 10)")
    sub.add_argument("--save-every", type=int, default=None, help="steps between last.pt saves (default 500)")
    sub.add_argument("--augment", choices=AUGMENTS, default=None,
                     help="augmentations: tracking (default; + aspect, motion blur, colour, distractor and "
                          "same-frame negatives) or basic (the first demos' recipe); docs/training.md")
    sub.add_argument("--cache-sequences", type=int, default=None,
                     help="synthetic sequences kept in memory per process (default 64, ~14 MB each)")


def parse_arch(items: list[str]) -> dict[str, object]:
    """``["backbone_width=32", "iou_pred_dim=128"]`` -> ``{"backbone_width": 32, "iou_pred_dim": 128}``.

    Values are read as JSON (numbers, true/false) and kept as text otherwise.
    """
    arch: dict[str, object] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip() or not text.strip():
            raise ConfigError(f"--arch takes KEY=VALUE, e.g. backbone_width=32; got {item!r}")
        try:
            arch[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            arch[key.strip()] = text.strip()
    return arch


def main(argv: list[str] | None = None) -> int:
    """Run the command line; exit codes as every command of the package (``edge_tracker.command_line``),
    and 130 after a run stopped by a signal (last.pt saved)."""
    args = parse_or_exit_code(build_parser(), argv)
    if isinstance(args, int):
        return args
    quiet = args.quiet or (int(os.environ.get("RANK", "0")) != 0 and not args.verbose)  # one voice under torchrun
    with logging_to_stderr(args.verbose, quiet):
        return run_command(lambda: _train(args), logger)


def _train(args) -> int:
    from training.engine import train  # torch is imported only once the arguments are good

    config = make_config(
        args.task, args.tracker, args.data, args.out, steps=args.steps, batch_size=args.batch_size,
        lr=args.lr, lr_end=getattr(args, "lr_end", None), weight_decay=args.weight_decay,
        momentum=getattr(args, "momentum", None), corr_weight=getattr(args, "corr_weight", None),
        freeze_backbone=getattr(args, "freeze_backbone", None), clip_grad=args.clip_grad,
        max_gap=args.max_gap, device=args.device, workers=args.workers, threads=args.threads, seed=args.seed,
        resume=args.resume, init=args.init, max_minutes=args.max_minutes, stop_at=args.stop_at,
        log_every=args.log_every, save_every=args.save_every, cache_sequences=args.cache_sequences,
        quiet=args.quiet, arch=parse_arch(args.arch), augment=args.augment)
    try:
        result = train(config)
    except KeyboardInterrupt:
        logger.error("interrupted twice: quit without saving; %s holds the last saved step", Path(args.out) / "last.pt")
        raise
    if result.checkpoint is not None:
        print(f"{args.tracker}: step {result.step} of {config.steps} ({result.stopped_by}) -> {result.checkpoint}")
    return 130 if result.stopped_by == "signal" else 0


if __name__ == "__main__":
    sys.exit(main())
