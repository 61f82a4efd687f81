"""`edge-tracker eval` keeps what it has (issue 16, item 3): destinations opened before the first frame,
each result journalled as it finishes, failed sequences recorded while the others go on, --resume.

Each case is a row: the run, its exit code, a fragment of the message, and what is left on disk.
OpenCV's MIL runs the sequences (no export needed): 12-frame generated sequences, ~1 s each.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge_tracker.datasets.synthetic import SyntheticConfig, generate_sequence
from edge_tracker.evaluation.cli import main
from tests.conftest import REPO_ROOT

FRAMES = 12


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> list[Path]:
    """Three generated sequences (GOT-10k layout)."""
    root = tmp_path_factory.mktemp("sequences")
    folders = []
    for seed in range(3):
        folder = root / f"seq{seed}"
        generate_sequence(seed, SyntheticConfig(num_frames=FRAMES, width=160, height=120)).write(folder)
        folders.append(folder)
    return folders


def _copy(clean: list[Path], target: Path) -> list[Path]:
    return [Path(shutil.copytree(folder, target / folder.name)) for folder in clean]


def _break_frame(folder: Path, index: int = 5) -> None:
    sorted(folder.glob("*.jpg"))[index].write_bytes(b"not a jpeg")


def _break_ground_truth(folder: Path) -> None:
    lines = (folder / "groundtruth.txt").read_text().splitlines()
    lines[3] = "1,2,x,4"
    (folder / "groundtruth.txt").write_text("\n".join(lines) + "\n")


def _journal(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _run(sequences, out: Path, *extra) -> list[str]:
    quiet = [] if "-v" in extra else ["-q"]
    return [*map(str, sequences), "--peers", "mil", *quiet, "--json", str(out / "eval.json"), *extra]


# (name, how the sequences are broken, exit code, message fragment, results in eval.json, failures)
BROKEN = [
    ("all good", {}, 0, "", 3, 0),
    ("an unreadable frame", {1: _break_frame}, 1, "opencv-mil on seq1 failed: InputError: cannot read frame 5", 2, 1),
    ("bad ground truth", {2: _break_ground_truth}, 1, "seq2/groundtruth.txt, line 4: cannot parse '1,2,x,4'", 2, 1),
    ("both", {1: _break_frame, 2: _break_ground_truth}, 1, "cannot read frame 5", 1, 2),
]


@pytest.mark.parametrize("breaks, code, message, results, failures", [row[1:] for row in BROKEN],
                         ids=[row[0] for row in BROKEN])
def test_a_failed_sequence_is_recorded_and_the_others_go_on(clean, tmp_path, capsys, breaks, code, message, results,
                                                             failures):
    sequences = _copy(clean, tmp_path)
    for index, damage in breaks.items():
        damage(sequences[index])
    out = tmp_path / "out"
    out.mkdir()
    assert main(_run(sequences, out)) == code
    captured = capsys.readouterr()
    assert message in captured.err
    report = json.loads((out / "eval.json").read_text())
    assert len(report["results"]) == results and len(report["failures"]) == failures
    assert report["complete"] is (failures == 0)
    assert captured.out.count("| failed |") == failures and ("INCOMPLETE" in captured.out) is bool(failures)
    journal = _journal(out / "eval.journal.jsonl")
    if failures:  # kept for --resume: every result and failure, in the order they happened
        assert sorted(r["kind"] for r in journal) == sorted(["result"] * results + ["failure"] * failures)
        assert "rerun the same command with --resume" in captured.err
    else:
        assert journal == [] and not (out / "eval.journal.jsonl").exists()


def test_resume_skips_finished_sequences_and_retries_failed_ones(clean, tmp_path, capsys):
    sequences = _copy(clean, tmp_path)
    _break_frame(sequences[1])
    out = tmp_path / "out"
    out.mkdir()
    assert main(_run(sequences, out)) == 1
    first = json.loads((out / "eval.json").read_text())
    capsys.readouterr()
    shutil.copy(clean[1] / sorted(p.name for p in clean[1].glob("*.jpg"))[5], sorted(sequences[1].glob("*.jpg"))[5])
    assert main(_run(sequences, out, "--resume", "-v")) == 0
    err = capsys.readouterr().err
    assert "--resume: 2 of 3 result(s) taken from" in err
    second = json.loads((out / "eval.json").read_text())
    assert second["complete"] and second["failures"] == []
    by_name = {r["name"]: r for r in second["results"]}
    for result in first["results"]:  # MIL is not deterministic: equal predictions mean "not run again"
        assert by_name[result["name"]]["predictions"] == result["predictions"]
    assert not (out / "eval.journal.jsonl").exists()  # complete and written: the journal is done


def test_resume_does_not_reuse_results_of_other_settings(clean, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    assert main(_run(clean[:1], out, "--max-frames", "6")) == 0
    assert not (out / "eval.journal.jsonl").exists()  # a complete run leaves no journal ...
    journal = out / "eval.journal.jsonl"
    journal.write_text(json.dumps({"kind": "result", "tracker": "opencv-mil", "sequence": "seq0", "settings": {},
                                   "max_frames": 6, "first_frame": 0, "frames_tracked": 5, "init_seconds": 0.1,
                                   "track_seconds": 0.1, "predictions": [[1, 2, 3, 4]] * 6}) + "\n{\"kind\": \"res")
    capsys.readouterr()
    assert main(_run(clean[:1], out, "--resume", "-v")) == 0  # ... and other --max-frames: run again
    err = capsys.readouterr().err
    assert "line 2 is not a whole result" in err and "--resume: 0 of 1 result(s)" in err


@pytest.fixture
def mount(tmp_path):
    """``mount(options) -> folder``: a small tmpfs, unmounted after the test (root only, else skipped)."""
    mounted = []

    def make(options: str, fill_to_free: int | None = None) -> Path:
        folder = tmp_path / f"mnt{len(mounted)}"
        folder.mkdir()
        if os.geteuid() != 0:
            pytest.skip("these cases need a small tmpfs, and mounting one needs root")
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                                text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(folder)
        if fill_to_free is not None:
            fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
            try:
                while os.write(fd, b"\0" * 4096):
                    pass
            except OSError:
                pass
            finally:
                os.close(fd)
            os.truncate(folder / "filler", max(0, (folder / "filler").stat().st_size - fill_to_free))
        return folder

    yield make
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_read_only_destination_is_refused_before_the_first_frame(clean, mount, capsys):
    read_only = mount("ro,size=64k")
    for option in ("--json", "--markdown"):
        assert main([str(clean[0]), "--peers", "mil", "-q", option, str(read_only / "eval.out")]) == 2
        captured = capsys.readouterr()
        assert f"cannot write output '{read_only / 'eval.out'}'" in captured.err
        assert captured.out == ""  # refused before the header: nothing ran
    assert os.listdir(read_only) == []


def test_a_full_disk_at_the_end_keeps_the_journal_and_prints_the_tables(clean, mount, capsys):
    disk = mount("size=1m", fill_to_free=8192)  # room for the journal's lines, not for the whole report
    assert main([*map(str, clean), "--peers", "mil", "-q", "--json", str(disk / "eval.json")]) == 1
    captured = capsys.readouterr()
    assert f"cannot write {disk / 'eval.json'}: No space left on device" in captured.err
    assert "| seq0 |" in captured.out  # the tables are printed all the same
    assert not (disk / "eval.json").exists()  # no half-written report
    assert [r["sequence"] for r in _journal(disk / "eval.journal.jsonl")] == ["seq0", "seq1", "seq2"]
    assert not [p for p in os.listdir(disk) if "partial" in p]


def test_resume_needs_a_report_path(clean, capsys):
    assert main([str(clean[0]), "--peers", "mil", "--resume"]) == 2
    assert "--resume reads the journal kept beside --json/--markdown" in capsys.readouterr().err


def test_sigterm_keeps_the_finished_sequences_and_writes_a_partial_report(clean, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    many = [Path(shutil.copytree(clean[i % 3], tmp_path / f"s{i}")) for i in range(12)]
    process = subprocess.Popen([sys.executable, "-m", "edge_tracker.evaluation", *map(str, many), "--peers", "mil",
                                "-q", "--json", str(out / "eval.json")], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(_journal(out / "eval.journal.jsonl")) < 2:
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "evaluation interrupted (SIGTERM)" in stderr and "Traceback" not in stderr
    report = json.loads((out / "eval.json").read_text())
    assert report["interrupted"] == "SIGTERM" and report["complete"] is False
    journal = _journal(out / "eval.journal.jsonl")
    assert len(report["results"]) == len(journal) >= 2
    assert "INCOMPLETE" in stdout
