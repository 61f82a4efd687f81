"""``python -m training.model_card``: write a checkpoint's model card from the records of its making.

Inputs are the files the tools wrote, so no number in a card is typed by hand:

- the training folder's ``run.json`` (options, data, machine) and ``log.jsonl`` (loss, time);
- the checkpoint (architecture record, metadata, sha256, size);
- one or more ``edge-tracker eval --json`` files holding the tracker beside its peers.

Example:
  python -m training.model_card --checkpoint edge_tracker/checkpoints/scs-siam.safetensors \\
      --run runs/scs-siam --eval eval.json --label scs-siam --out docs/model-cards/scs-siam.md \\
      --eval-command "edge-tracker eval ... --json eval.json"
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from edge_tracker.errors import EdgeTrackerError, InputError
from edge_tracker.manifest import sha256_file


def render(checkpoint: Path, run_dir: Path | None, evaluation: dict[str, Any], label: str, eval_command: str,
           train_command: str | None, notes: str = "", previous_card: Path | None = None) -> str:
    """The card's markdown text.

    ``run_dir`` (with ``train_command``) gives the Training section. ``previous_card``, an earlier card:
    with ``run_dir``, the card of the checkpoint this run started from (``--init``), whose Training
    section is kept below as how that one was made; alone, an earlier card of this very checkpoint
    (its sha256 must match), whose Training section is kept as it is, for a checkpoint whose training
    folder is gone and whose accuracy is measured again.
    """
    from export.checkpoint import read_checkpoint

    if run_dir is None and previous_card is None:
        raise InputError("give the checkpoint's training folder (--run), or an earlier card of it (--previous-card)")
    ckpt = read_checkpoint(checkpoint)
    summaries = {s["tracker"]: s for s in evaluation["summaries"]}
    if label not in summaries:
        raise InputError(f"the evaluation holds no tracker labelled {label!r}; it has {sorted(summaries)}")
    tensors = ckpt.state_dict.values()
    params = sum(int(t.numel()) for t in tensors if t.is_floating_point())
    meta, env = ckpt.meta, evaluation["environment"]
    digest = sha256_file(checkpoint)
    earlier = _training_section(previous_card) if previous_card is not None else None
    if run_dir is not None:
        training, arch = _run_training(run_dir, meta, train_command or "not recorded")
        if earlier is not None:
            training += ["", f"Initialised from the checkpoint described by `{previous_card.as_posix()}` "
                             f"(sha256 `{earlier[0]}`), which was trained as follows:", ""] + earlier[1]
    else:
        if earlier[0] != digest:
            raise InputError(f"{previous_card} describes another checkpoint (sha256 {earlier[0][:12]}..., this "
                             f"one is {digest[:12]}...); give its training folder with --run")
        training, arch = earlier[1], earlier[2]
    recommended = ", ".join(f"{k}={_value(v)}" for k, v in sorted((meta.get("tracking_params") or {}).items()))
    sequences = [r["name"] for r in evaluation["results"] if r["tracker"] == label]

    lines = [
        f"# Model card: {ckpt.config.tracker} demo checkpoint",
        "",
        f"- **File**: `{checkpoint.as_posix()}`, {checkpoint.stat().st_size / 1e6:.1f} MB, sha256 `{digest}`",
        f"- **Network**: {ckpt.config.tracker}, {params / 1e6:.2f} M weights stored as float16; architecture "
        f"overrides: {arch}",
        f"- **Tracking parameters it recommends** (`meta[\"tracking_params\"]`, applied under any `--param`): "
        f"{recommended or 'none (the tracker defaults)'}",
        "- **Use**: a demo of the pipeline on a CPU or GPU, trained by this project from scratch (no ImageNet "
        "or published weights are reachable here). It is not a benchmark model: train on GOT-10k/LaSOT "
        "with `python -m training` for real use (docs/training.md).",
        "",
        "## Training",
        "",
        *training,
        "",
        "## Accuracy on sequences it was not trained on",
        "",
        f"One-pass evaluation (OTB toolkit conventions: success AUC over IoU thresholds 0..1, precision at "
        f"20 px, averaged over sequences), all trackers in the same run on the same machine: "
        f"{env['processor']}, {env['cpu_count']} CPUs, OpenCV {env['opencv']}, Python {env['python']}. "
        f"Ours run on ONNX Runtime (CPU, fp32). Sequences: {', '.join(sequences)}.",
        "",
        f"Command: `{eval_command}`",
        "",
        _table(evaluation, label),
        "",
        _per_sequence(evaluation),
    ]
    if notes:
        lines += ["", "## Notes", "", notes.strip()]
    return "\n".join(lines) + "\n"


def _run_training(run_dir: Path, meta: dict[str, Any], train_command: str) -> tuple[list[str], str]:
    """The Training section's lines from a training folder, and the architecture overrides."""
    run = _read_json(run_dir / "run.json")
    log = [json.loads(line) for line in _read_text(run_dir / "log.jsonl").splitlines() if line.strip()]
    if not log:
        raise InputError(f"{run_dir / 'log.jsonl'} has no lines; is {run_dir} a finished training run?")
    options = run["options"]
    first, last = log[0], log[-1]
    losses = ", ".join(f"{k} {first[k]:.3f} -> {last[k]:.3f}" for k in ("loss", "corr", "iou_mse") if k in last)
    arch = ", ".join(f"{k}={v}" for k, v in sorted(options.get("arch", {}).items())) or "the paper's defaults"
    lines = [
        f"- **Command**: `{train_command}`",
        f"- **Data**: {'; '.join(meta.get('data') or run['data'])}",
        f"- **Steps**: {meta.get('steps')} of {meta.get('planned_steps')} planned "
        f"({meta.get('stopped_by')}), batch {options['batch_size']} pairs, "
        f"{meta.get('steps', 0) * options['batch_size']} pairs in all",
        f"- **Time**: {last['elapsed_s'] / 60:.0f} min on {run['device']} ({_machine(run)}), torch {run['torch']}, "
        f"{options.get('threads') or 'default'} thread(s)",
        f"- **Loss** (log.jsonl, first and last logged steps {first['step']} and {last['step']}): {losses}",
    ]
    return lines, arch


def _training_section(card: Path) -> tuple[str, list[str], str]:
    """(sha256, Training section lines, architecture overrides) of an earlier card of ours."""
    text = _read_text(card)
    sha = re.search(r"sha256 `([0-9a-f]{64})`", text)
    arch = re.search(r"architecture overrides: (.+)", text)
    section = re.search(r"^## Training\n\n(.*?)\n\n## ", text, re.S | re.M)
    if not (sha and arch and section):
        raise InputError(f"{card} is not a model card written by python -m training.model_card "
                         f"(it needs the sha256, the architecture overrides and a Training section)")
    return sha.group(1), section.group(1).splitlines(), arch.group(1).strip()


def _value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _machine(run: dict[str, Any]) -> str:
    machine = run.get("machine")
    if not machine:
        return "machine not recorded in run.json"
    gpu = f", {machine['gpu']}" if machine.get("gpu") else ""
    return f"{machine['processor']}, {machine['cpu_count']} CPUs{gpu}"


def _table(evaluation: dict[str, Any], label: str) -> str:
    rows = ["| tracker | success AUC | precision@20 | mean IoU | FPS |", "|---|---:|---:|---:|---:|"]
    for s in evaluation["summaries"]:
        name = f"**{s['tracker']}** (this checkpoint)" if s["tracker"] == label else s["tracker"]
        rows.append(f"| {name} | {s['auc']:.3f} | {s['precision20']:.3f} | {s['mean_iou']:.3f} | {s['fps']:.1f} |")
    return "\n".join(rows)


def _per_sequence(evaluation: dict[str, Any]) -> str:
    trackers = [s["tracker"] for s in evaluation["summaries"]]
    by = {(r["tracker"], r["name"]): r for r in evaluation["results"]}
    names = list(dict.fromkeys(r["name"] for r in evaluation["results"]))
    rows = ["Success AUC per sequence:", "", "| sequence | frames | " + " | ".join(trackers) + " |",
            "|---|---:|" + "---:|" * len(trackers)]
    for name in names:
        frames = by[(trackers[0], name)]["frames"]
        rows.append(f"| {name} | {frames} | " + " | ".join(f"{by[(t, name)]['auc']:.3f}" for t in trackers) + " |")
    return "\n".join(rows)


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as err:
        raise InputError(f"cannot read {path}: {err}") from err


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise InputError(f"{path} is not JSON ({err})") from err


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.model_card", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True, help="the checkpoint the card describes")
    parser.add_argument("--run", type=Path, default=None, help="its training folder (run.json, log.jsonl)")
    parser.add_argument("--previous-card", type=Path, default=None,
                        help="with --run: the card of the checkpoint the run started from (--init); without: an "
                             "earlier card of this same checkpoint, whose Training section is kept")
    parser.add_argument("--eval", type=Path, required=True, help="`edge-tracker eval --json` output")
    parser.add_argument("--label", required=True, help="the checkpoint's label in the evaluation")
    parser.add_argument("--train-command", default=None, help="the training command, as run (with --run)")
    parser.add_argument("--eval-command", required=True, help="the evaluation command, as run")
    parser.add_argument("--notes", type=Path, default=None, help="markdown file appended as the Notes section")
    parser.add_argument("--out", type=Path, required=True, help="the card (.md) to write")
    args = parser.parse_args(argv)
    try:
        notes = _read_text(args.notes) if args.notes else ""
        if args.run is not None and args.train_command is None:
            raise InputError("--run needs --train-command (the training command, as run)")
        card = render(args.checkpoint, args.run, _read_json(args.eval), args.label, args.eval_command,
                      args.train_command, notes, args.previous_card)
    except EdgeTrackerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(card)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
