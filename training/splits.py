"""The training / evaluation split of ``../shared/data/sequences`` (``training/splits.toml``).

``load_split()`` reads the file and checks it (the two lists disjoint, every evaluation sequence
with known categories and a reason); ``Split.paths("training" | "evaluation")`` gives the folders.
Training uses it twice:

- ``--data split:training`` (or ``split:training@ROOT`` for a copy of the data elsewhere, such as
  a packed copy on a GPU machine) stands for every training-split sequence folder;
- ``check_training_data(paths)`` refuses any ``--data`` folder that is, contains or lies inside an
  evaluation sequence, so a checkpoint can never be trained on the sequences it is judged on.

``python -m training.splits evaluation`` prints the evaluation folders, one per line, for
``edge-tracker eval $(python -m training.splits evaluation)``; it imports neither torch nor OpenCV.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from edge_tracker.errors import InputError

SPLITS_FILE = Path(__file__).with_name("splits.toml")
REPO_ROOT = Path(__file__).resolve().parents[1]
SPLIT_PREFIX = "split:"
WHICH = ("training", "evaluation")


@dataclass(frozen=True)
class Split:
    """The two lists of sequence names (folders relative to ``root``) and why each evaluation one is there."""

    root: Path  # the sequences folder the names are relative to
    training: tuple[str, ...]
    evaluation: tuple[str, ...]
    categories: dict[str, tuple[str, ...]]  # evaluation name -> its categories (person, vehicle, ...)
    why: dict[str, str]  # evaluation name -> one-line rationale
    required_categories: tuple[str, ...]  # what the evaluation split must span

    def names(self, which: str) -> tuple[str, ...]:
        if which not in WHICH:
            raise InputError(f"unknown split {which!r}; choose one of {list(WHICH)}")
        return self.training if which == "training" else self.evaluation

    def paths(self, which: str, root: Path | None = None) -> list[Path]:
        """The folders of one split under ``root`` (default: the file's root)."""
        base = Path(root) if root is not None else self.root
        return [base / name for name in self.names(which)]


def load_split(path: Path = SPLITS_FILE, root: Path | None = None) -> Split:
    """Read and check the split file; ``root`` overrides the sequences folder it names."""
    try:
        record = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"split file {path} does not exist; it ships as training/splits.toml") from None
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"split file {path} is not valid TOML: {error}") from None
    if record.get("version") != 1:
        raise InputError(f"split file {path}: version {record.get('version')!r}, this code reads version 1")
    required = tuple(record.get("categories", ()))
    evaluation_table = record.get("evaluation", {})
    training = tuple(record.get("training", {}).get("sequences", ()))
    evaluation = tuple(evaluation_table)
    if not training or not evaluation:
        raise InputError(f"split file {path}: both [training] sequences and [evaluation.\"<name>\"] tables "
                         f"are needed; found {len(training)} training and {len(evaluation)} evaluation names")
    duplicates = sorted({n for n in training if training.count(n) > 1})
    if duplicates:
        raise InputError(f"split file {path}: {duplicates} listed twice in [training]")
    both = sorted(set(training) & set(evaluation))
    if both:
        raise InputError(f"split file {path}: {both} are in both splits; an evaluation sequence must never be "
                         f"trained on: remove them from [training]")
    categories, why = {}, {}
    for name, entry in evaluation_table.items():
        tags = tuple(entry.get("categories", ()))
        unknown = sorted(set(tags) - set(required))
        if not tags or unknown:
            raise InputError(f"split file {path}: evaluation sequence {name!r} has categories {list(tags)}; "
                             f"give at least one, from {list(required)}")
        if not str(entry.get("why", "")).strip():
            raise InputError(f"split file {path}: evaluation sequence {name!r} needs a `why` (its rationale)")
        categories[name], why[name] = tags, str(entry["why"])
    base = Path(root) if root is not None else (REPO_ROOT / record.get("root", "../shared/data/sequences"))
    base = Path(os.path.normpath(base))  # /repo/../shared -> /shared: shorter paths in logs and commands
    return Split(base, training, evaluation, categories, why, required)


def expand_split_sources(specs, split: Split | None = None) -> list[str]:
    """Replace each ``split:training[@ROOT]`` in ``--data`` values by the training-split folders.

    ``split:evaluation`` is refused: the evaluation split is never training data.
    """
    expanded: list[str] = []
    for spec in (str(s) for s in specs):
        if not spec.startswith(SPLIT_PREFIX):
            expanded.append(spec)
            continue
        which, _, root = spec[len(SPLIT_PREFIX):].partition("@")
        if which != "training":
            raise InputError(f"--data {spec}: only split:training (or split:training@ROOT) is training data; "
                             f"the evaluation split is never trained on")
        chosen = split or load_split()
        folders = chosen.paths("training", Path(root) if root else None)
        missing = [str(f) for f in folders if not f.is_dir()]
        if missing:
            raise InputError(f"--data {spec}: {len(missing)} training-split folder(s) are missing, e.g. "
                             f"{missing[0]}; give the sequences folder as split:training@ROOT")
        expanded.extend(str(f) for f in folders)
    return expanded


def check_training_data(specs, split: Split | None = None) -> None:
    """Raise InputError if a ``--data`` folder is, contains or lies inside an evaluation-split sequence.

    A folder matches an evaluation sequence when its resolved path is that sequence's folder under the
    split's root (or above or below it), or when its last path components are the sequence's name
    (``.../otb/Jogging1`` anywhere: a copy of the data elsewhere).
    """
    split = split or load_split()
    evaluation = [(name, (split.root / name).resolve()) for name in split.evaluation]
    for spec in (str(s) for s in specs):
        if spec.startswith("synthetic:"):
            continue
        folder = Path(spec).resolve()
        for name, path in evaluation:
            parts = Path(name).parts
            if (folder == path or folder in path.parents or path in folder.parents
                    or folder.parts[-len(parts):] == parts):
                raise InputError(f"--data {spec} holds the evaluation-split sequence {name!r} "
                                 f"(training/splits.toml): it is never training data. Train on "
                                 f"split:training, or list training-split folders one by one")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.splits",
                                     description="print the folders of one split, one per line")
    parser.add_argument("which", choices=WHICH)
    parser.add_argument("--root", type=Path, default=None, help="sequences folder (default: the file's root)")
    parser.add_argument("--names", action="store_true", help="print names, not folders")
    args = parser.parse_args(argv)
    try:
        split = load_split(root=args.root)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    items = split.names(args.which) if args.names else [str(p) for p in split.paths(args.which)]
    print("\n".join(items))
    return 0


if __name__ == "__main__":
    sys.exit(main())
