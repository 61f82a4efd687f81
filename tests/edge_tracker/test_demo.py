"""Demo checkpoints: the shipped files, and what `edge-tracker track` / `python -m export` do without a model.

The default-model mechanics run on a stand-in checkpoint folder (seeded weights), so they are tested
whatever the shipped files hold; the shipped files are checked on their own.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from edge_tracker import demo
from edge_tracker.cli import main as track_main
from edge_tracker.datasets.synthetic import demo_clip
from edge_tracker.errors import InputError
from edge_tracker.manifest import read_manifest, sha256_file

DEMO_SIZE_LIMIT = 30 * 1024 * 1024  # the "under about 30 MB" per fp16 demo checkpoint


@pytest.fixture()
def stand_in_demos(tmp_path, monkeypatch, exports):
    """A checkpoint folder holding the test session's seeded scs-siam checkpoint, and an empty cache."""
    checkpoint, _ = exports("scs-siam")
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    os.symlink(checkpoint, folder / "scs-siam.safetensors")
    monkeypatch.setattr(demo, "CHECKPOINT_DIR", folder)
    monkeypatch.setenv("EDGE_TRACKER_CACHE", str(tmp_path / "cache"))
    return folder / "scs-siam.safetensors"


def test_shipped_demo_checkpoints_are_small_fp16_and_documented():
    from export.checkpoint import read_checkpoint

    shipped = demo.demo_trackers()
    assert set(shipped) == {"scs-siam", "aff-atom"}
    for tracker in shipped:
        path = demo.demo_checkpoint(tracker)
        assert path.stat().st_size < DEMO_SIZE_LIMIT, (tracker, path.stat().st_size)
        checkpoint = read_checkpoint(path, expect_tracker=tracker)
        floats = [t for t in checkpoint.state_dict.values() if t.is_floating_point()]
        assert floats and all(str(t.dtype) == "torch.float16" for t in floats)
        assert all(bool(np.isfinite(t.float().numpy()).all()) for t in floats)
        # trained, not initial: the checkpoint says how it was made, and the model card gives its numbers
        assert checkpoint.meta["steps"] > 0 and checkpoint.meta["data"]
        card = demo.CHECKPOINT_DIR.parents[1] / "docs" / "model-cards" / f"{tracker}.md"
        assert card.is_file(), f"{tracker} has no model card at {card}"
        assert sha256_file(path)[:12] in card.read_text(), f"{card} describes another file than {path}"


def test_a_tracker_without_demo_is_refused_naming_the_shipped_ones(stand_in_demos):
    with pytest.raises(InputError, match=r"no demo checkpoint ships for 'atom' \(demo checkpoints: scs-siam\)"):
        demo.resolve_model(None, "ort", "atom")


def test_demo_export_is_built_once_and_reused(stand_in_demos, tmp_path):
    assert demo.resolve_model(None, "torch", None) == stand_in_demos  # torch runs the checkpoint itself
    folder = demo.resolve_model(None, "ort", None)  # default tracker: scs-siam
    digest = sha256_file(stand_in_demos)
    assert folder == tmp_path / "cache" / "demo" / f"scs-siam-{digest[:12]}"
    manifest = read_manifest(folder)
    assert manifest["tracker"] == "scs-siam" and manifest["source"]["sha256"] == digest
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    assert demo.demo_export("scs-siam") == folder
    assert (folder / "manifest.json").stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert not list(folder.parent.glob("*.partial-*"))  # no half-built folder left behind
    assert demo.resolve_model(tmp_path / "mine", "ort", None) == tmp_path / "mine"  # --model wins


def test_a_demo_precision_is_built_on_first_use_from_generated_clips(stand_in_demos, tmp_path):
    folder = demo.demo_export("scs-siam", "fp16")
    manifest = read_manifest(folder)
    assert manifest["precisions"] == ["fp32", "fp16"]
    assert all(set(p["variants"]) == {"fp32", "fp16"} for p in manifest["phases"])
    assert (folder / "calibration" / "manifest.json").is_file()  # calibrated on the generated clips
    assert sorted(p.name for p in (folder / "calibration-clips").iterdir()) == ["clip_101", "clip_102"]
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    assert demo.demo_export("scs-siam", "fp16") == folder and (folder / "manifest.json").stat().st_mtime_ns == stamp
    assert demo.demo_export("scs-siam") == folder  # the fp32 graphs are still there


def test_track_without_model_uses_the_demo(stand_in_demos, tmp_path, capsys):
    clip, first_box = demo_clip(tmp_path / "clip.mp4", frames=4)
    box = ",".join(f"{v:.2f}" for v in first_box)
    out = tmp_path / "out.jsonl"
    assert track_main(["track", str(clip), str(out), "--init", box, "--headless", "-q"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 4 and records[0]["state"] == "init"
    assert "scs-siam: 4 frame(s)" in capsys.readouterr().out
    # a tracker with no demo: refused before any output is written
    out2 = tmp_path / "atom.jsonl"
    assert track_main(["track", str(clip), str(out2), "--tracker", "atom", "--init", box, "--headless"]) == 2
    assert not out2.exists()


def test_export_without_checkpoint_takes_the_demo_unless_random_is_asked(stand_in_demos, tmp_path):
    from export.cli import main as export_main

    assert export_main(["-q", "onnx", "--tracker", "scs-siam", "--out", str(tmp_path / "a")]) == 0
    source = read_manifest(tmp_path / "a")["source"]
    assert source["weights"] == "checkpoint" and source["sha256"] == sha256_file(stand_in_demos)
    assert export_main(["-q", "onnx", "--tracker", "scs-siam", "--random-weights", "--out", str(tmp_path / "b")]) == 0
    assert read_manifest(tmp_path / "b")["source"]["weights"] == "random"


def test_evaluation_takes_a_tracker_name_for_its_demo(stand_in_demos, tmp_path, capsys):
    from edge_tracker.datasets.synthetic import SyntheticConfig, generate_sequence
    from edge_tracker.evaluation.cli import main as eval_main

    folder = generate_sequence(0, SyntheticConfig(num_frames=5)).write(tmp_path / "seq")
    out = tmp_path / "eval.json"
    assert eval_main([str(folder), "--ours", "scs-siam", "--ours", "again=scs-siam", "--json", str(out), "-q"]) == 0
    results = json.loads(out.read_text())["results"]
    assert [r["tracker"] for r in results] == ["scs-siam", "again"] and results[0]["frames"] == 5
    assert results[0]["predictions"] == results[1]["predictions"]  # the same demo model, deterministic
    assert track_main(["eval", str(folder), "--ours", "atom", "-q"]) == 2  # also as `edge-tracker eval`
    assert "no demo checkpoint ships for 'atom'" in capsys.readouterr().err


def test_tracking_params_a_checkpoint_recommends_apply_under_param(exports, tmp_path, monkeypatch, capsys):
    """A checkpoint's meta["tracking_params"] are the defaults of track and eval; --param overrides them."""
    from edge_tracker.backends import model_tracking_params
    from edge_tracker.datasets.synthetic import SyntheticConfig, generate_sequence
    from edge_tracker.evaluation.cli import main as eval_main
    from export.checkpoint import load_model, save_checkpoint
    from export.cli import main as export_main

    source, _ = exports("scs-siam")
    net, _ = load_model(source)
    checkpoint = save_checkpoint(tmp_path / "tuned.safetensors", net, net.config,
                                 meta={"tracking_params": {"window_influence": 0.5}})
    assert export_main(["-q", "onnx", "--tracker", "scs-siam", "--checkpoint", str(checkpoint),
                        "--out", str(tmp_path / "onnx")]) == 0
    assert model_tracking_params(tmp_path / "onnx") == {"window_influence": 0.5}
    assert model_tracking_params(checkpoint, "torch") == {"window_influence": 0.5}
    folder = generate_sequence(1, SyntheticConfig(num_frames=3)).write(tmp_path / "seq")
    out = tmp_path / "eval.json"
    assert eval_main([str(folder), "--ours", f"a={tmp_path / 'onnx'}", "--ours", f"b={tmp_path / 'onnx'}",
                      "--param", "b:window_influence=0.1", "--json", str(out), "-q"]) == 0
    settings = json.loads(out.read_text())["settings"]
    assert settings["a"]["params"]["window_influence"] == 0.5  # the checkpoint's value
    assert settings["b"]["params"]["window_influence"] == 0.1  # --param wins
    # a --param for a label no --ours names, and a misspelt key, are refused before anything runs
    assert eval_main([str(folder), "--ours", f"a={tmp_path / 'onnx'}", "--param", "c:window_influence=1"]) == 2
    assert "which no --ours names" in capsys.readouterr().err
    assert eval_main([str(folder), "--ours", f"a={tmp_path / 'onnx'}", "--param", "a:window_inf=1", "-q"]) == 2
    assert "unknown parameter(s) ['window_inf']" in capsys.readouterr().err
