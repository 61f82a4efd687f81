"""``python -m export``: the build pipeline's command line.

Subcommands:
  onnx   checkpoint (or random weights) -> one verified ONNX model per tracker phase + manifest.json

Exit codes: 0 success, 1 a failed export or check, 2 bad arguments or input.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edge_tracker.command_line import logging_to_stderr, parse_or_exit_code, run_command, verbosity_options
from edge_tracker.errors import ExportError
from export.models.config import TRACKERS

logger = logging.getLogger("edge_tracker.export")

RANDOM_WEIGHTS_WARNING = """
################################################################################
#  No --checkpoint given: exporting RANDOMLY INITIALISED weights.              #
#  These graphs are fine for checking the pipeline and useless for tracking.   #
#  The manifest records "weights": "random".                                   #
################################################################################"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__.split("\n\n")[0],
                                     parents=[verbosity_options()])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    onnx = commands.add_parser(
        "onnx", help="export every tracker phase to ONNX, verified against PyTorch",
        description="Export every phase of a tracker to ONNX (opset 17), check each graph for "
                    "TensorRT (op support, folded constants, static shapes) and its outputs against "
                    "PyTorch on ONNX Runtime, and write manifest.json beside the models.")
    onnx.add_argument("--tracker", required=True, choices=TRACKERS, help="which network to export")
    weights = onnx.add_mutually_exclusive_group()
    weights.add_argument("--checkpoint", type=Path, default=None,
                         help="edge_tracker checkpoint (.safetensors); omitted: the tracker's demo checkpoint "
                              "where one ships (edge_tracker/checkpoints), else random weights (loudly)")
    weights.add_argument("--random-weights", action="store_true",
                         help="export seeded random weights even where a demo checkpoint ships (pipeline checks)")
    onnx.add_argument("--out", type=Path, required=True, help="output folder for the .onnx files and manifest")
    onnx.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; exit codes as every command of the package (``edge_tracker.command_line``)."""
    args = parse_or_exit_code(build_parser(), argv)
    if isinstance(args, int):
        return args
    commands = {"onnx": _cmd_onnx}
    with logging_to_stderr(args.verbose, args.quiet):
        return run_command(lambda: commands[args.command](args), logger, failures=(ExportError,))


def _cmd_onnx(args: argparse.Namespace) -> int:
    from export.pipeline import export_tracker

    from edge_tracker.demo import CHECKPOINT_DIR, demo_trackers

    if args.checkpoint is None and not args.random_weights and args.tracker in demo_trackers():
        args.checkpoint = CHECKPOINT_DIR / f"{args.tracker}.safetensors"
        logger.info("no --checkpoint: exporting the %s demo checkpoint %s", args.tracker, args.checkpoint)
    if args.checkpoint is None:
        logger.warning("%s", RANDOM_WEIGHTS_WARNING)
    manifest = export_tracker(args.tracker, args.out, checkpoint=args.checkpoint, seed=args.seed,
                              progress=not args.quiet)
    print(f"{args.tracker}: {len(manifest['phases'])} phases -> {args.out} "
          f"(opset {manifest['opset']}, weights: {manifest['source']['weights']})")
    for phase in manifest["phases"]:
        ins = ", ".join(f"{s['name']}{s['shape']}" for s in phase["inputs"])
        outs = ", ".join(f"{s['name']}{s['shape']}" for s in phase["outputs"])
        worst = max(p["relative_error"] for p in phase["parity_fp32"].values())
        print(f"  {phase['file']:<20} {phase['graph']['num_nodes']:>5} nodes  parity {worst:.1e}  "
              f"{ins} -> {outs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
