"""The ``build`` subcommand of ``python -m export`` (argument parsing and the report it prints)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from edge_tracker.names import TRACKERS

logger = logging.getLogger("edge_tracker.export")

BUILD_EPILOG = """\
examples:
  python -m export build --tracker scs-siam --precision fp32,fp16,int8 \\
      ../shared/data/sequences/otb/Car1 ../shared/data/sequences/vot/hand1 --out out/scs-siam --graphs-only
  python -m export build --tracker aff-atom --onnx out/aff-atom --calib out/aff-atom/calibration \\
      --precision int8 --out out/aff-atom
  python -m export build --tracker scs-siam --precision fp32,fp16,int8 \\
      ../shared/data/sequences/otb/Car1 --out out/scs-siam --engines rtx    # TensorRT-RTX plans, no GPU needed

Exit codes: 0 done; 1 a stage failed its check; 2 bad arguments or input; 3 the graphs are written but
TensorRT is not installed for the engine step (--graphs-only: 0)."""


def add_build_parser(commands) -> argparse.ArgumentParser:
    build = commands.add_parser(
        "build", help="checkpoint -> ONNX -> FP16/INT8 graphs (calibrated) -> TensorRT engines",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=BUILD_EPILOG,
        description="Export every phase to ONNX (or take an export), build a calibration set, convert each phase "
                    "to FP16 and INT8 (Q/DQ) graphs, check each against FP32, and build TensorRT engines where "
                    "TensorRT is installed.")
    build.add_argument("--tracker", required=True, choices=TRACKERS)
    weights = build.add_mutually_exclusive_group()
    weights.add_argument("--checkpoint", type=Path, default=None,
                         help="checkpoint to export; default: the tracker's demo checkpoint")
    weights.add_argument("--onnx", type=Path, default=None, metavar="DIR",
                         help="an existing FP32 export folder (python -m export onnx) instead of exporting")
    build.add_argument("--precision", default="fp32,fp16,int8", metavar="LIST",
                       help="comma-separated from fp32, fp16, int8 (default: all three)")
    build.add_argument("--calib", type=Path, default=None, metavar="DIR",
                       help="calibration set (python -m calibration build); else built from SOURCEs")
    build.add_argument("sources", nargs="*", metavar="SOURCE",
                       help="sequence folders or VIDEO|FOLDER@X,Y,W,H to build the calibration set from")
    build.add_argument("--calib-size", type=int, default=500, metavar="N",
                       help="images per every-frame phase in a calibration set built here (default 500)")
    build.add_argument("--out", type=Path, required=True, help="folder for the graphs, manifest and engines")
    build.add_argument("--force", action="store_true",
                       help="replace a previous export or build in --out (never other files)")
    build.add_argument("--engines", choices=("auto", "tensorrt", "rtx"), default="auto",
                       help="which engines to build: tensorrt (TensorRT 8.5+, on the GPU they are for), rtx "
                            "(TensorRT-RTX: portable plans for RTX GPUs, built on any machine, no GPU needed), "
                            "auto (TensorRT where installed, else TensorRT-RTX; default)")
    build.add_argument("--compute-capability", default="", metavar="LIST",
                       help="TensorRT-RTX targets, comma-separated from sm75, sm80, sm86, sm89, sm120, sm121 "
                            "(default: its portable set sm80,sm86,sm89,sm120; Turing's sm75 only when named)")
    build.add_argument("--engine-dir", type=Path, default=None, metavar="DIR",
                       help="engine cache to fill (default: $EDGE_TRACKER_ENGINES, else the user cache, which "
                            "edge-tracker track --backend trt reads)")
    build.add_argument("--graphs-only", action="store_true",
                       help="stop after the precision graphs (success without TensorRT)")
    build.add_argument("--no-sensitivity", action="store_true",
                       help="skip the per-layer INT8 sensitivity report (faster; layers are then kept in float "
                            "in graph order when the whole graph is over tolerance)")
    return build


def cmd_build(args: argparse.Namespace) -> int:
    from export.build import EXIT_NO_TENSORRT, TENSORRT_HINT, build, engines_available
    from export.tensorrt import BuildOptions

    options = BuildOptions(compute_capabilities=args.compute_capability)  # checked before any export work
    if args.calib is not None and args.sources:
        logger.warning("--calib given: the SOURCE arguments are ignored")
    checkpoint = args.checkpoint
    if checkpoint is None and args.onnx is None:
        from edge_tracker.demo import demo_checkpoint

        checkpoint = demo_checkpoint(args.tracker)
        logger.info("no --checkpoint: building the %s demo checkpoint %s", args.tracker, checkpoint)
    manifest = build(args.tracker, args.out, checkpoint=checkpoint, onnx_dir=args.onnx,
                     precisions=args.precision.split(","), calib=args.calib, sources=args.sources,
                     calib_size=args.calib_size, progress=not args.quiet, sensitivity=not args.no_sensitivity,
                     force=args.force)
    print(report(manifest))
    if args.graphs_only:
        return 0
    if not engines_available(args.engines):
        logger.error("%s", TENSORRT_HINT)
        return EXIT_NO_TENSORRT
    return build_engines(args.out, manifest.get("precisions", ["fp32"]), args.engine_dir, args.engines, options)


def build_engines(out: Path, precisions, engine_dir: Path | None, product: str = "auto", options=None) -> int:
    """Stage 4: an engine per phase and precision into the engine cache that ``edge-tracker track
    --backend trt`` reads (``$EDGE_TRACKER_ENGINES``, else the user cache).

    TensorRT builds on this machine's GPU, for it; TensorRT-RTX builds portable plans for its
    compute capability targets without opening a GPU (none is needed: its CPU-only AOT build).
    """
    from edge_tracker.backends.trt_loader import build_device, default_engine_dir
    from export.tensorrt import BuildOptions, EngineCache
    from export.tensorrt.engines import engines_for_export

    options = options or BuildOptions()
    cache = EngineCache(engine_dir if engine_dir is not None else default_engine_dir())
    with build_device(product, "the engine step of python -m export build",
                      "Run it with --graphs-only to keep the ONNX graphs without engines") as (trt, device):
        for precision in precisions:
            tracker, engines = engines_for_export(out, precision, cache, device, options, trt=trt)
            print(f"  engines {precision:<5} " + ", ".join(f"{phase}: {entry.plan_path.name}"
                                                          for phase, entry in engines.items())
                  + f"  ({device.describe()}, cache {cache.root})")
    return 0


def report(manifest: dict) -> str:
    """One line per phase and precision: file, what was kept in float, error against FP32."""
    lines = [f"{manifest['tracker']}: {len(manifest['phases'])} phases -> precisions "
             f"{','.join(manifest.get('precisions', ['fp32']))}"]
    for phase in manifest["phases"]:
        for precision, variant in phase.get("variants", {"fp32": {"file": phase["file"]}}).items():
            error = variant.get("error")
            worst = max((o["relative_error"] for o in error["outputs"].values()), default=0.0) if error else None
            kept = variant.get("kept_float32_ops") or variant.get("kept_float_nodes") or []
            extra = f"  kept in float: {len(kept)}" if kept else ""
            note = "" if variant.get("precision", precision) == precision else f"  ({variant['precision']}: {variant.get('why', '')})"
            lines.append(f"  {phase['name']:<15} {precision:<5} {variant['file']:<24}"
                         + (f" rel. error {worst:.2e}" if worst is not None else "") + extra + note)
    return "\n".join(lines)


def add_report_parser(commands) -> argparse.ArgumentParser:
    report_parser = commands.add_parser("report", help="the measured error of every precision variant of a build",
                                        description="Print, from a build's manifest.json, each phase's precision "
                                                    "variants with their measured error against FP32 (Markdown).")
    report_parser.add_argument("build_dir", type=Path, metavar="DIR", help="a folder written by python -m export build")
    return report_parser


def cmd_report(args: argparse.Namespace) -> int:
    from edge_tracker.manifest import read_manifest

    print(markdown_report(read_manifest(args.build_dir)))
    return 0


def markdown_report(manifest: dict) -> str:
    """Per phase, precision and output: the graph run, max abs and relative error against FP32, what stayed float."""
    lines = [f"{manifest['tracker']}, calibration set {manifest.get('calibration', {}).get('counts', {})}",
             "", "| phase | precision | graph | output | max abs error | scale | relative | kept in float |",
             "|---|---|---|---|---:|---:|---:|---|"]
    for phase in manifest["phases"]:
        for precision, variant in phase.get("variants", {}).items():
            if precision == "fp32":
                continue
            kept = variant.get("kept_float_nodes") or list(variant.get("kept_float32_nodes") or {}) \
                or variant.get("kept_float32_ops") or []
            quantized = variant.get("quantized_nodes")
            kept_text = (f"{len(kept)} of {len(kept) + len(quantized)} convolutions" if quantized is not None
                         else (", ".join(kept) if kept else "none"))
            for name, output in (variant.get("error") or {"outputs": {}})["outputs"].items():
                lines.append(f"| {phase['name']} | {precision} | {variant['file']} | {name} | "
                             f"{output['max_abs_error']:.3g} | {output['scale']:.3g} | {output['relative_error']:.2e} "
                             f"| {kept_text} |")
    return "\n".join(lines)
