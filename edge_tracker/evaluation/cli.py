"""edge-tracker eval (python -m edge_tracker.evaluation): our trackers and OpenCV's on annotated sequences,
side by side.

Exit codes: 0 done; 1 a tracker or an output failed while running; 2 bad arguments or input
(checked before anything runs: every sequence is read, every export loaded, every peer looked up).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import re
import signal
import sys
from pathlib import Path

from edge_tracker.backends import BACKENDS, PRECISIONS
from edge_tracker.command_line import (
    choice_list,
    logging_to_stderr,
    parse_or_exit_code,
    positive_int,
    probe_output_file,
    run_command,
    verbosity_options,
)
from edge_tracker.datasets.readers import load_sequence
from edge_tracker.errors import InputError
from edge_tracker.evaluation import peers
from edge_tracker.evaluation.journal import (
    Journal,
    SequenceFailure,
    journal_path,
    load_journal,
)
from edge_tracker.evaluation.run import (
    Evaluation,
    environment,
    evaluate_many,
    frames_to_process,
    to_json,
    to_markdown,
    tracker_settings,
)
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
    parser.add_argument("--plots", type=Path, default=None, metavar="DIR",
                        help="write OTB-style success.png and precision.png into DIR (matplotlib)")
    parser.add_argument("--backend", type=choice_list(list(BACKENDS)), default=["ort"], metavar="LIST",
                        help="backend(s) of our trackers, comma-separated from ort,torch,trt (default ort); with "
                             "several, labels get the backend")
    parser.add_argument("--device", default="cpu", help="device of our trackers: cpu (default), cuda, cuda:N")
    parser.add_argument("--resume", action="store_true",
                        help="skip the (tracker, sequence) results the journal of an earlier run holds (same "
                             "labels, settings and --max-frames); needs --json or --markdown")
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m edge_tracker.evaluation") -> int:
    """Run the command line; return the exit code (see the module docstring)."""
    args = parse_or_exit_code(build_parser(prog), argv)
    if isinstance(args, int):
        return args
    with logging_to_stderr(args.verbose, args.quiet):
        return run_command(lambda: _cmd_eval(args), logger)


def _cmd_eval(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as owned:
        sequences, unreadable, trackers, journal = _prepare(args, owned)  # InputError: exit 2, nothing written
        print(_header(len(trackers), len(sequences) + len(unreadable)), flush=True)
        done = {}
        if args.resume:
            done = load_journal(journal.path, {s.name: s for s in sequences}, tracker_settings(trackers),
                                args.max_frames)
            logger.info("--resume: %d of %d result(s) taken from %s", len(done), len(trackers) * len(sequences),
                        journal.path)
        evaluation = evaluate_many(trackers, sequences, args.max_frames, progress=not args.quiet, journal=journal,
                                   done=done)
        failed = tuple(SequenceFailure(label, name, reason) for label in trackers for name, reason in unreadable.items())
        for failure in failed:
            if journal is not None:
                journal.failure(failure)
        evaluation = dataclasses.replace(evaluation, sequences=evaluation.sequences + tuple(unreadable),
                                         failures=evaluation.failures + failed)
    return _report(args, evaluation, journal)


def _report(args: argparse.Namespace, evaluation: Evaluation, journal: Journal | None) -> int:
    """Write the reports (each whole or not at all), print the tables, and choose the exit code."""
    markdown = to_markdown(evaluation)
    written = True
    for path, text in ((args.json, lambda: to_json(evaluation) + "\n"), (args.markdown, lambda: markdown)):
        if path is not None:
            written = _write_whole(path, text()) and written
    print(markdown, flush=True)
    if args.plots is not None and evaluation.results:
        from edge_tracker.evaluation.plots import plot_evaluation

        try:
            for path in plot_evaluation(evaluation, args.plots):
                logger.info("wrote %s", path)
        except OSError as err:
            logger.error("cannot write the plots into %s: %s", args.plots, err)
            written = False
    if evaluation.interrupted:
        code = 130 if evaluation.interrupted == "Ctrl-C" else 128 + signal.Signals[evaluation.interrupted].value
    else:
        code = 0 if written and not evaluation.failures else 1
    if journal is not None:
        if code == 0 and evaluation.complete:
            journal.path.unlink(missing_ok=True)
        elif evaluation.results:
            logger.warning("%d result(s) kept in %s: rerun the same command with --resume to skip them",
                           len(evaluation.results), journal.path)
    return code


def _write_whole(path: Path, text: str) -> bool:
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        partial.write_text(text)
        os.replace(partial, path)
    except OSError as err:
        partial.unlink(missing_ok=True)
        logger.error("cannot write %s: %s; the results are in the journal and printed below", path,
                     err.strerror or err)
        return False
    logger.info("wrote %s", path)
    return True


def _prepare(args: argparse.Namespace, owned: contextlib.ExitStack):
    """Check every input and load every tracker, before anything runs; InputError on the first problem."""
    if not args.ours and not args.peers:
        raise InputError("nothing to evaluate: give --peers (e.g. --peers mil) and/or --ours NAME=EXPORT_DIR")
    if args.plots is not None and args.plots.exists() and not args.plots.is_dir():
        raise InputError(f"--plots {args.plots} is a file; give a folder for success.png and precision.png")
    for path, example in ((args.json, "eval.json"), (args.markdown, "eval.md")):
        if path is not None:
            probe_output_file(path, example=example)  # opened now: a bad destination costs no run
    report = args.json or args.markdown
    if args.resume and report is None:
        raise InputError("--resume reads the journal kept beside --json/--markdown; give the same --json or "
                         "--markdown as the run to resume")
    sequences, unreadable = [], {}
    for folder in args.sequences:
        if not folder.is_dir():
            raise InputError(f"sequence folder {folder} does not exist (or is not a folder); give a folder in one "
                             "of the layouts edge_tracker reads (OTB, VOT, UAV123, GOT-10k, LaSOT, ...)")
        try:
            sequence = load_sequence(folder)
            frames_to_process(sequence, args.max_frames)  # refuses a sequence without any box
        except InputError as err:  # bad ground truth, no frames: recorded, the other sequences still run
            logger.error("sequence %s cannot be evaluated: %s", folder, err)
            unreadable[folder.name] = f"InputError: {err}"
            continue
        sequences.append(sequence)
    if not sequences:
        raise InputError(f"none of the {len(args.sequences)} sequence(s) can be read (see above); nothing to evaluate")
    names = [s.name for s in sequences] + list(unreadable)
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
        for backend in args.backend:
            for precision in args.precision:
                parts = [name] + ([backend] if len(args.backend) > 1 else []) + \
                    ([precision] if len(args.precision) > 1 else [])
                label = "-".join(parts)
                # with the parameters its checkpoint recommends, if any, then this label's --param values
                own = owned.enter_context(Session(folder, tracker=demo, backend=backend, device=args.device,
                                                  precision=precision, param_texts=texts))
                logger.info("%s: %s export in %s (%s, %s)", label, own.name, own.model, backend, precision)
                trackers[label] = own
    trackers.update(peer_factories)
    journal = None
    if report is not None:
        journal = owned.enter_context(contextlib.closing(Journal(journal_path(report)).open(resume=args.resume)))
    return sequences, unreadable, trackers, journal


def _header(trackers: int, sequences: int) -> str:
    env = environment()
    return (f"edge_tracker {env['edge_tracker']} evaluation: {trackers} tracker(s) x {sequences} sequence(s)\n"
            f"machine: {env['processor']} ({env['cpu_count']} CPUs, {env['machine']}), {env['platform']}\n"
            f"OpenCV {env['opencv']} ({env['opencv_threads']} threads), numpy {env['numpy']}, "
            f"Python {env['python']}")


if __name__ == "__main__":
    sys.exit(main())
