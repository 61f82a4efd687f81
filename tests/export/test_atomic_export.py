"""`python -m export onnx` is atomic and never writes over a user's files; a damaged demo cache is rebuilt
(issue 16, item 6).

Each case is a row: what --out holds before, the options, the exit code, a message fragment, and what
--out holds after (nothing partial, no temporary folder beside it).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path

import pytest

from edge_tracker import demo
from edge_tracker.manifest import MANIFEST_FORMAT, MANIFEST_NAME, read_manifest, sha256_file
from export.cli import main

EXPORT = ["-q", "onnx", "--tracker", "scs-siam", "--random-weights"]


def _fake_export(folder: Path, tracker: str = "aff-atom", extra: dict[str, bytes] | None = None) -> None:
    """A small previous export (a manifest and the graph it lists), plus ``extra`` user files."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "backbone.onnx").write_bytes(b"an older graph")
    manifest = {"format": MANIFEST_FORMAT, "format_version": 1, "tracker": tracker, "source": {"weights": "random"},
                "phases": [{"name": "backbone", "file": "backbone.onnx",
                            "sha256": sha256_file(folder / "backbone.onnx")}]}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    for name, data in (extra or {}).items():
        (folder / name).write_bytes(data)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.is_dir() else {}


def _beside(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}."))


# (name, how --out is prepared, extra options, exit code, message fragment)
REFUSED = [
    ("a user's file", lambda out: (out.mkdir(), (out / "notes.txt").write_text("mine")), [], 2,
     "is not empty and holds no edge_tracker export (notes.txt)"),
    ("a user's file, --force", lambda out: (out.mkdir(), (out / "notes.txt").write_text("mine")), ["--force"], 2,
     "holds no edge_tracker export"),
    ("a previous export", _fake_export, [], 2, "holds a previous aff-atom export (1 phases); pass --force"),
    ("a previous export and a user's file, --force", lambda out: _fake_export(out, extra={"calib.npz": b"mine"}),
     ["--force"], 2, "--force replaces a previous export only, never other files"),
    ("a file, not a folder", lambda out: out.write_text("x"), [], 2, "is a file"),
]


@pytest.mark.parametrize("prepare, options, code, message", [row[1:] for row in REFUSED],
                         ids=[row[0] for row in REFUSED])
def test_an_out_folder_with_other_files_is_refused_and_left_as_it_was(tmp_path, capsys, prepare, options, code,
                                                                      message):
    out = tmp_path / "out"
    prepare(out)
    before = _snapshot(out) if out.is_dir() else out.read_bytes()
    assert main([*EXPORT, "--out", str(out), *options]) == code
    assert message in capsys.readouterr().err
    assert (_snapshot(out) if out.is_dir() else out.read_bytes()) == before
    assert _beside(out) == []


def test_force_replaces_a_previous_export_with_nothing_stale_left(tmp_path, capsys):
    out = tmp_path / "out"
    _fake_export(out)
    assert main([*EXPORT, "--out", str(out), "--force"]) == 0
    manifest = read_manifest(out)  # every graph checked against its sha256
    assert manifest["tracker"] == "scs-siam"
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST_NAME, *(p["file"] for p in manifest["phases"])])
    assert _beside(out) == []
    # and into an existing empty folder, without --force
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([*EXPORT, "--out", str(empty)]) == 0 and (empty / MANIFEST_NAME).is_file()


def test_a_full_disk_is_exit_1_with_nothing_partial_left(tmp_path, capsys):
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a full disk needs a small tmpfs, and mounting one needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True,
                             text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        (disk / "earlier.txt").write_text("the user's")
        out = disk / "scs"  # the SCS-Siam graphs take ~26 MB: 4 MB fill up mid-export
        assert main([*EXPORT, "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert "writing the export failed: No space left on device" in err and "no partial file is left" in err
        assert "Traceback" not in err
        assert sorted(os.listdir(disk)) == ["earlier.txt"]  # no --out, no temporary folder, the rest untouched
    finally:
        subprocess.run(["umount", str(disk)], check=False)


# -- the demo cache -----------------------------------------------------------------------------------

def _entry(cache: Path, tracker: str) -> Path:
    return cache / "demo" / f"{tracker}-{sha256_file(demo.demo_checkpoint(tracker))[:12]}"


DAMAGES = [
    ("manifest not JSON", lambda entry: (entry / MANIFEST_NAME).write_bytes(b"\x00\xff garbage")),
    ("manifest without phases", lambda entry: (entry / MANIFEST_NAME).write_text('{"format": "%s"}' % MANIFEST_FORMAT)),
    ("a graph changed", lambda entry: (entry / "backbone.onnx").write_bytes(b"changed")),
    ("a graph missing", lambda entry: (entry / "backbone.onnx").unlink()),
]


@pytest.mark.parametrize("damage", [row[1] for row in DAMAGES], ids=[row[0] for row in DAMAGES])
def test_a_damaged_demo_cache_entry_is_rebuilt_with_a_warning(tmp_path, monkeypatch, caplog, damage):
    monkeypatch.setenv("EDGE_TRACKER_CACHE", str(tmp_path))
    built = []

    def fake_build(tracker, out, **options):  # the real one exports the checkpoint (15 s); its result is this
        built.append(out)
        _fake_export(Path(out), tracker)

    monkeypatch.setattr(demo, "_build", fake_build)
    entry = _entry(tmp_path, "scs-siam")
    _fake_export(entry, "scs-siam")
    assert demo.demo_export("scs-siam") == entry and built == []  # a sound entry is reused
    damage(entry)
    with caplog.at_level(logging.WARNING, logger="edge_tracker.demo"):
        assert demo.demo_export("scs-siam") == entry
    assert "demo export in" in caplog.text and "is damaged" in caplog.text and "rebuilding it" in caplog.text
    assert len(built) == 1 and read_manifest(entry)["tracker"] == "scs-siam"
    assert sorted(p.name for p in entry.parent.iterdir()) == [entry.name]  # nothing damaged left beside it
