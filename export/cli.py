"""``python -m export``: the build pipeline's command line.

Subcommands:
  onnx               checkpoint (or random weights) -> one verified ONNX model per tracker phase + manifest.json
  import-pytracking  pytracking's ATOM checkpoint (.pth) -> an edge_tracker 'atom' checkpoint (.safetensors)
  build              checkpoint -> ONNX -> FP16/INT8 graphs (calibrated, checked) -> TensorRT engines
  report             the measured error of every precision variant of a build (Markdown)

Exit codes: 0 success, 1 a failed export or check, 2 bad arguments or input, 3 (build) graphs written but
TensorRT missing for the engine step (--graphs-only: 0).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edge_tracker.command_line import (
    check_output_file,
    logging_to_stderr,
    parse_or_exit_code,
    run_command,
    verbosity_options,
)
from edge_tracker.errors import ExportError
from export.build_cli import add_build_parser, add_report_parser, cmd_build, cmd_report
from export.models.config import TRACKERS

logger = logging.getLogger("edge_tracker.export")

RANDOM_WEIGHTS_WARNING = """
################################################################################
#  No --checkpoint given: exporting RANDOMLY INITIALISED weights.              #
#  These graphs are fine for checking the pipeline and useless for tracking.   #
#  The manifest records "weights": "random".                                   #
################################################################################"""

TRUST_PICKLE_WARNING = """
################################################################################
#  --trust-pickle: unpickling WITHOUT RESTRICTIONS. Any code the file names    #
#  will run, with your permissions. Use it only for a file whose origin you    #
#  trust (pytracking's classes still become inert placeholders).               #
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
    onnx.add_argument("--out", type=Path, required=True,
                      help="output folder for the .onnx files and manifest: new or empty (written into a temporary "
                           "folder beside it and renamed at the end)")
    onnx.add_argument("--force", action="store_true",
                      help="replace the previous export in --out (never other files: those are refused)")
    onnx.add_argument("--seed", type=int, default=0, help="seed of the random weights")

    imports = commands.add_parser(
        "import-pytracking", help="convert pytracking's ATOM checkpoint (.pth) to an 'atom' checkpoint",
        description="Read pytracking's ATOM checkpoint (atom_resnet18: {'net': state dict, 'net_type', "
                    "'constructor', ...} or a bare state dict) without running code from it, rename "
                    "feature_extractor. -> backbone. and bb_regressor. -> iou_net., check every tensor's "
                    "name and shape against edge_tracker's plain 'atom' network, and write an edge_tracker "
                    "checkpoint whose meta records the source file's sha256 and the mapping.")
    imports.add_argument("file", type=Path, metavar="FILE", help="pytracking checkpoint (.pth / .pth.tar)")
    imports.add_argument("--out", type=Path, required=True, metavar="NET.safetensors",
                         help="edge_tracker checkpoint to write")
    imports.add_argument("--trust-pickle", action="store_true",
                         help="unpickle FILE without restrictions (can run code from it): only for a file "
                              "you trust whose pickle names classes the safe reader refuses")
    add_build_parser(commands)
    add_report_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; exit codes as every command of the package (``edge_tracker.command_line``)."""
    args = parse_or_exit_code(build_parser(), argv)
    if isinstance(args, int):
        return args
    commands = {"onnx": _cmd_onnx, "import-pytracking": _cmd_import_pytracking, "build": cmd_build, "report": cmd_report}
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
                              progress=not args.quiet, force=args.force)
    print(f"{args.tracker}: {len(manifest['phases'])} phases -> {args.out} "
          f"(opset {manifest['opset']}, weights: {manifest['source']['weights']})")
    for phase in manifest["phases"]:
        ins = ", ".join(f"{s['name']}{s['shape']}" for s in phase["inputs"])
        outs = ", ".join(f"{s['name']}{s['shape']}" for s in phase["outputs"])
        worst = max(p["relative_error"] for p in phase["parity_fp32"].values())
        print(f"  {phase['file']:<20} {phase['graph']['num_nodes']:>5} nodes  parity {worst:.1e}  "
              f"{ins} -> {outs}")
    return 0


def _cmd_import_pytracking(args: argparse.Namespace) -> int:
    from export.pytracking import import_pytracking_atom

    check_output_file(args.out, "--out", example="atom.safetensors")
    if args.trust_pickle:
        logger.warning("%s", TRUST_PICKLE_WARNING)
    result = import_pytracking_atom(args.file, args.out, trust_pickle=args.trust_pickle)
    source, mapping = result.meta["source"], result.meta["mapping"]
    print(f"atom: {result.num_tensors} tensors from {args.file} (sha256 {source['sha256'][:12]}, "
          f"{source.get('constructor', source['layout'])}) -> {result.path}")
    print(f"  renamed: {', '.join(f'{a} -> {b}' for a, b in mapping['renamed'].items())}")
    print(f"  dropped: {', '.join(mapping['dropped']) or 'nothing'}")
    if mapping["filled"]:
        print(f"  filled:  {len(mapping['filled'])} BatchNorm step counters (absent from the file)")
    print(f"  next:    python -m export onnx --tracker atom --checkpoint {result.path} --out DIR")
    return 0


if __name__ == "__main__":
    sys.exit(main())
