"""edge-tracker eval (python -m edge_tracker.evaluation): our trackers and OpenCV's on annotated sequences,
side by side.

Exit codes: 0 done; 1 a tracker or an output failed while running; 2 bad arguments or input
(checked before anything runs: every sequence is read, every export loaded, every peer looked up).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
from pathlib import Path

from edge_tracker.command_line import (
    check_output_file,
    logging_to_stderr,
    parse_or_exit_code,
    positive_int,
    verbosity_options,
)
from edge_tracker.datasets.readers import load_sequence
from edge_tracker.errors import EdgeTrackerError, InputError
from edge_tracker.evaluation import peers
from edge_tracker.evaluation.run import (
    environment,
    evaluate_many,
    frames_to_process,
    to_json,
    to_markdown,
)
from edge_tracker.backends import PRECISIONS
from edge_tracker.names import TRACKERS
from edge_tracker.session import Session

logger = logging.getLogger("edge_tracker.evaluation")

EPILOG = """\
examples:
  python -m edge_tracker.evaluation ../shared/data/sequences/otb/Crossing --peers mil,nano \\
      --nano-models ../shared/data/peers/nanotrack_v2 --ours scs-fp32=out/scs-siam --json eval.json
  python -m edge_tracker.evaluation data/GOT-10k/val/GOT-10k_Val_0000* --peers kcf,csrt --max-frames 200

SEQ is a sequence folder in any layout edge_tracker reads (OTB, DTB70, VOT, UAV123, GOT-10k, LaSOT,
TrackingNet), detected from its files. Metrics follow the OTB toolkit: AUC of the success curve
(IoU > 0, 0.05, ..., 1), precision at 20 px, both averaged over sequences; frames without a box are
not scored. kcf and csrt need opencv-contrib-python-headless; nano needs --nano-models."""


def _ours(text: str) -> tuple[str, Path | None]:
    name, sep, folder = text.partition("=")
    if not sep and name.strip() in TRACKERS:
        return name.strip(), None  # the tracker's demo checkpoint
    if not sep or not name.strip() or not folder.strip() or not re.fullmatch(r"[\w.+-]+", name.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=EXPORT_DIR (NAME: letters, digits, . _ + -), "
                                         "e.g. scs-fp32=out/scs-siam, or a tracker name alone for its demo "
                                         "checkpoint, e.g. scs-siam")
    return name.strip(), Path(folder.strip())


def _label_param(text: str) -> tuple[str, str, str]:
    label, sep, rest = text.partition(":")
    key, eq, value = rest.partition("=")
    if not sep or not eq or not label.strip() or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not LABEL:KEY=VALUE, e.g. aff-atom:refine=false")
    return label.strip(), key.strip(), value.strip()


def _precision_list(text: str) -> list[str]:
    names = [p.strip().lower() for p in text.split(",") if p.strip()]
    unknown = [n for n in names if n not in PRECISIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: unknown precision(s) {unknown}; choose from "
                                         f"{','.join(PRECISIONS)} (comma-separated)")
    return list(dict.fromkeys(names))


def _peer_list(text: str) -> list[str]:
    names = [p.strip().lower() for p in text.split(",") if p.strip()]
    unknown = [n for n in names if n not in peers.PEERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: unknown OpenCV tracker(s) {unknown}; choose from "
                                         f"{','.join(peers.PEERS)} (comma-separated)")
    return list(dict.fromkeys(names))


def build_parser(prog: str = "python -m edge_tracker.evaluation") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, epilog=EPILOG,
        parents=[verbosity_options("no progress bar; warnings and errors only", "debug logging (per-sequence lines)")],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run our exported trackers and OpenCV's trackers over annotated sequences "
                    "(one-pass evaluation) and report AUC, precision@20px, mean IoU and FPS.")
    parser.add_argument("sequences", nargs="+", type=Path, metavar="SEQ", help="annotated sequence folder(s)")
    parser.add_argument("--ours", action="append", default=[], type=_ours, metavar="NAME=EXPORT_DIR",
                        help="one of our trackers: a label and its export folder from `python -m export onnx` "
                             "(run on ONNX Runtime, CPU), or a tracker name (scs-siam, aff-atom) for its demo "
                             "checkpoint, alone or as LABEL=TRACKER; repeatable")
    parser.add_argument("--param", action="append", default=[], type=_label_param, metavar="LABEL:KEY=VALUE",
                        dest="params", help="a tracking parameter of one of --ours, e.g. aff-atom:refine=false "
                                            "(repeatable; on top of what its checkpoint recommends)")
    parser.add_argument("--peers", type=_peer_list, default=[], metavar="LIST",
                        help=f"OpenCV trackers to compare against, comma-separated, from {','.join(peers.PEERS)}")
    parser.add_argument("--nano-models", type=Path, default=None, metavar="DIR",
                        help=f"folder with {peers.NANO_FILES['backbone']} and {peers.NANO_FILES['neckhead']} "
                             "(needed by --peers nano)")
    parser.add_argument("--precision", type=_precision_list, default=["fp32"], metavar="LIST",
                        help="graph precision(s) of our trackers, comma-separated from fp32,fp16,int8 (default fp32); "
                             "with several, each --ours runs at each, labelled NAME-PRECISION (variants from "
                             "`python -m export build`; a demo builds its own on first use)")
    parser.add_argument("--max-frames", type=positive_int, default=None, metavar="N",
                        help="at most N frames per sequence, the initialisation frame included")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT.json",
                        help="write every result (curves, predictions, machine) as JSON")
    parser.add_argument("--markdown", type=Path, default=None, metavar="OUT.md", help="write the tables")
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m edge_tracker.evaluation") -> int:
    """Run the command line; return the exit code (see the module docstring)."""
    args = parse_or_exit_code(build_parser(prog), argv)
    if isinstance(args, int):
        return args
    with logging_to_stderr(args.verbose, args.quiet), contextlib.ExitStack() as owned:
        try:
            sequences, trackers = _prepare(args, owned)
        except EdgeTrackerError as err:
            logger.error("%s", err)
            return 2
        print(_header(len(trackers), len(sequences)), flush=True)
        try:
            evaluation = evaluate_many(trackers, sequences, args.max_frames, progress=not args.quiet)
        except EdgeTrackerError as err:
            logger.error("evaluation stopped: %s", err)
            return 1
        except KeyboardInterrupt:
            logger.error("interrupted; nothing written")
            return 130
    markdown = to_markdown(evaluation)
    try:
        if args.json is not None:
            args.json.write_text(to_json(evaluation) + "\n")
            logger.info("wrote %s", args.json)
        if args.markdown is not None:
            args.markdown.write_text(markdown)
            logger.info("wrote %s", args.markdown)
    except OSError as err:
        logger.error("cannot write the results: %s", err)
        print(markdown)
        return 1
    print(markdown)
    return 0


def _prepare(args: argparse.Namespace, owned: contextlib.ExitStack):
    """Check every input and load every tracker, before anything runs; InputError on the first problem."""
    if not args.ours and not args.peers:
        raise InputError("nothing to evaluate: give --peers (e.g. --peers mil) and/or --ours NAME=EXPORT_DIR")
    for path, example in ((args.json, "eval.json"), (args.markdown, "eval.md")):
        if path is not None:
            check_output_file(path, example=example)
    sequences = []
    for folder in args.sequences:
        if not folder.is_dir():
            raise InputError(f"sequence folder {folder} does not exist (or is not a folder); give a folder in one "
                             "of the layouts edge_tracker reads (OTB, VOT, UAV123, GOT-10k, LaSOT, ...)")
        sequence = load_sequence(folder)
        frames_to_process(sequence, args.max_frames)  # refuses a sequence without any box
        sequences.append(sequence)
    names = [s.name for s in sequences]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"sequence name(s) {repeated} given more than once; give each sequence once")

    stray = sorted({label for label, _, _ in args.params} - {name for name, _ in args.ours})
    if stray:
        raise InputError(f"--param for {stray}, which no --ours names; write LABEL:KEY=VALUE with the label "
                         f"of an --ours tracker ({[name for name, _ in args.ours]})")
    # Peers are checked first (cheap), then our exports loaded; ours come first in the tables.
    peer_factories = {peers.label(name): peers.factory(name, args.nano_models) for name in args.peers}
    trackers = {}
    for name, folder in args.ours:
        if name in trackers or name in peer_factories:
            raise InputError(f"--ours {name}=...: the label {name!r} is already used; give each tracker its own")
        demo = None
        if folder is None:
            demo = name  # the demo checkpoint, exported on first use
        elif not folder.is_dir() and str(folder) in TRACKERS:
            demo, folder = str(folder), None  # LABEL=TRACKER: that tracker's demo
        elif not folder.is_dir():
            raise InputError(f"--ours {name}={folder}: no such export folder; make one with `python -m export onnx "
                             f"--tracker NAME --checkpoint FILE --out {folder}`")
        texts = {key: value for label, key, value in args.params if label == name}
        for precision in args.precision:
            label = name if len(args.precision) == 1 else f"{name}-{precision}"
            # with the parameters its checkpoint recommends, if any, then this label's --param values
            own = owned.enter_context(Session(folder, tracker=demo, device="cpu", precision=precision,
                                              param_texts=texts))
            logger.info("%s: %s export in %s (%s)", label, own.name, own.model, precision)
            trackers[label] = own
    trackers.update(peer_factories)
    return sequences, trackers


def _header(trackers: int, sequences: int) -> str:
    env = environment()
    return (f"edge_tracker {env['edge_tracker']} evaluation: {trackers} tracker(s) x {sequences} sequence(s)\n"
            f"machine: {env['processor']} ({env['cpu_count']} CPUs, {env['machine']}), {env['platform']}\n"
            f"OpenCV {env['opencv']} ({env['opencv_threads']} threads), numpy {env['numpy']}, "
            f"Python {env['python']}")


if __name__ == "__main__":
    sys.exit(main())
