"""The training loop: exact resume, clean stops, the command line and its files, bad input, torchrun.

Engine-level runs use small SCS-Siam crops (103/151 instead of 127/255; the loop does not depend on
the size) so that a step takes well under a second on one CPU thread; the command-line runs use the
real sizes with batch 1 or 2 and one or two steps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edge_tracker.errors import InputError
from export.checkpoint import load_model, read_checkpoint
from tests.training import one_thread  # noqa: F401  (fixture)
from training.cli import main
from training.config import make_config
from training.engine import _StopRequests, load_training_state, train

REPO_ROOT = Path(__file__).resolve().parents[2]
SMALL_SIAM = {"template_size": 103, "search_size": 151}  # 3x3 template features, 7x7 responses


def _siam(out, **options):
    values = {"batch_size": 1, "steps": 4, "log_every": 1, "quiet": True, **SMALL_SIAM, **options}
    return make_config("siam", "scs-siam", ["synthetic:1"], out, **values)


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_resume_continues_exactly(one_thread, tmp_path):
    straight = train(_siam(tmp_path / "straight"))
    first = train(_siam(tmp_path / "parts", stop_at=2))
    assert (first.step, first.stopped_by) == (2, "stop_at")
    second = train(_siam(tmp_path / "parts", resume=True))
    assert (straight.step, second.step, second.stopped_by) == (4, 4, "done")

    expected = load_training_state(tmp_path / "straight" / "last.pt")
    resumed = load_training_state(tmp_path / "parts" / "last.pt")
    assert resumed["step"] == 4
    for name, tensor in expected["objective"].items():
        assert torch.equal(tensor, resumed["objective"][name]), name
    assert resumed["scheduler"]["last_epoch"] == expected["scheduler"]["last_epoch"] == 4
    losses = [line["loss"] for line in _log(tmp_path / "straight")]
    assert [line["loss"] for line in _log(tmp_path / "parts")] == losses
    assert [line["step"] for line in _log(tmp_path / "parts")] == [1, 2, 3, 4]

    # the same run cannot be continued with other options, nor started over by accident
    with pytest.raises(InputError, match="batch_size"):
        train(_siam(tmp_path / "parts", resume=True, batch_size=2))
    with pytest.raises(InputError, match="--resume"):
        train(_siam(tmp_path / "parts"))


def test_time_budget_stops_cleanly_and_saves(one_thread, tmp_path):
    result = train(_siam(tmp_path, max_minutes=1e-6))
    assert (result.step, result.stopped_by) == (1, "time")
    assert load_training_state(tmp_path / "last.pt")["step"] == 1
    meta = read_checkpoint(tmp_path / "scs-siam.safetensors").meta
    assert meta["steps"] == 1 and meta["complete"] is False and meta["stopped_by"] == "time"


def test_stop_requests_turn_the_first_signal_into_a_flag():
    # a shell that starts jobs in the background makes them ignore SIGINT: set Python's own handler
    original = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with _StopRequests() as requests:
            os.kill(os.getpid(), signal.SIGINT)
            assert requests.requested == "SIGINT"
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C quits at once
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        signal.signal(signal.SIGINT, original)


def test_cli_writes_log_state_and_loadable_checkpoints(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["siam", "--tracker", "scs-siam", "--data", "synthetic:2", "--out", str(out), "--steps", "2",
            "--batch-size", "1", "--threads", "1", "--log-every", "1", "-q"]
    assert main(args) == 0
    assert "scs-siam: step 2 of 2 (done)" in capsys.readouterr().out
    lines = _log(out)
    assert [line["step"] for line in lines] == [1, 2]
    assert {"loss", "lr", "samples_per_s", "elapsed_s"} <= set(lines[0])
    assert lines[0]["lr"] == 1e-2 and lines[1]["lr"] < 1e-2
    state = load_training_state(out / "last.pt")
    assert state["step"] == 2
    model, checkpoint = load_model(out / "scs-siam.safetensors", expect_tracker="scs-siam")
    assert checkpoint.meta["steps"] == 2 and checkpoint.meta["complete"] is True
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, state["objective"][f"net.{name}"]), name
    half, _ = load_model(out / "scs-siam.fp16.safetensors", expect_tracker="scs-siam")
    weight = "features.0.weight"
    assert torch.allclose(half.state_dict()[weight], model.state_dict()[weight], atol=1e-3)
    record = json.loads((out / "run.json").read_text())
    assert record["options"]["tracker"] == "scs-siam" and record["processes"] == 1

    assert main(args) == 2  # a run is there: --resume or another --out
    assert "already holds a training run" in capsys.readouterr().err
    assert main(args + ["--resume", "--batch-size", "2"]) == 2  # other options than the run's
    assert "batch_size: run 1, now 2" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0  # all steps done: nothing to train, files rewritten


def test_cli_trains_aff_atom(tmp_path):
    out = tmp_path / "atom"
    assert main(["atom", "--tracker", "aff-atom", "--data", "synthetic:1", "--out", str(out), "--steps", "1",
                 "--batch-size", "2", "--threads", "1", "-q"]) == 0
    line = _log(out)[0]
    assert {"loss", "iou_mse", "corr"} <= set(line) and line["loss"] == pytest.approx(line["iou_mse"] + line["corr"])
    load_model(out / "aff-atom.safetensors", expect_tracker="aff-atom")


def test_arch_overrides_build_and_record_a_narrower_network(tmp_path, capsys):
    out = tmp_path / "narrow"
    assert main(["atom", "--tracker", "aff-atom", "--data", "synthetic:1", "--out", str(out), "--steps", "1",
                 "--batch-size", "2", "--threads", "1", "--arch", "backbone_width=16", "--arch",
                 "iou_pred_dim=32", "-q"]) == 0
    net, checkpoint = load_model(out / "aff-atom.safetensors", expect_tracker="aff-atom")
    assert checkpoint.config.backbone_width == 16 and checkpoint.config.iou_pred_dim == 32
    assert net.backbone.layer4[1].conv2.weight.shape[0] == 128
    assert json.loads((out / "run.json").read_text())["options"]["arch"] == {"backbone_width": 16, "iou_pred_dim": 32}
    # --init takes the checkpoint's architecture; an --arch that contradicts it is refused
    again = ["atom", "--tracker", "aff-atom", "--data", "synthetic:1", "--steps", "1", "--batch-size", "2",
             "--threads", "1", "--init", str(out / "aff-atom.safetensors"), "-q"]
    assert main(again + ["--out", str(tmp_path / "from_init")]) == 0
    assert load_model(tmp_path / "from_init" / "aff-atom.safetensors")[1].config == checkpoint.config
    capsys.readouterr()
    assert main(again + ["--out", str(tmp_path / "clash"), "--arch", "backbone_width=32"]) == 2
    assert "does not match the architecture of --init" in capsys.readouterr().err


@pytest.mark.parametrize("arch, message", [("backbone_width", "KEY=VALUE"),
                                           ("widht=32", "unknown key(s) ['widht']"),
                                           ("sample_size=256", "--arch cannot set ['sample_size']"),
                                           ("backbone_width=30", "multiple of mscam_reduction")])
def test_bad_arch_exits_2_with_the_reason(arch, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["atom", "--tracker", "aff-atom", "--data", "synthetic:1", "--out", str(out), "--steps", "1",
                 "--arch", arch, "-q"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("case", ["missing data", "bad synthetic", "unknown tracker", "tracker of the other task",
                                  "out is a file", "batch size 0", "atom batch size 1", "resume without a run",
                                  "init and resume", "missing init", "cuda"])
def test_bad_input_exits_2(case, tmp_path, capsys):
    out = tmp_path / "out"
    args = {"task": "siam", "--tracker": "scs-siam", "--data": "synthetic:1", "--out": str(out), "--steps": "1"}
    extra: list[str] = []
    if case == "missing data":
        args["--data"] = str(tmp_path / "nowhere")
    elif case == "bad synthetic":
        args["--data"] = "synthetic:many"
    elif case == "unknown tracker":
        args["--tracker"] = "kcf"
    elif case == "tracker of the other task":
        args["--tracker"] = "aff-atom"
    elif case == "out is a file":
        (tmp_path / "file").write_text("x")
        args["--out"] = str(tmp_path / "file")
    elif case == "batch size 0":
        extra = ["--batch-size", "0"]
    elif case == "atom batch size 1":
        args.update({"task": "atom", "--tracker": "aff-atom"})
        extra = ["--batch-size", "1"]
    elif case == "resume without a run":
        extra = ["--resume"]
    elif case == "init and resume":
        extra = ["--resume", "--init", str(tmp_path / "x.safetensors")]
    elif case == "missing init":
        extra = ["--init", str(tmp_path / "x.safetensors")]
    elif case == "cuda":
        if torch.cuda.is_available():
            pytest.skip("CUDA is available here")
        extra = ["--device", "cuda"]
    argv = [args.pop("task")] + [item for pair in args.items() for item in pair] + extra
    assert main(argv) == 2
    # argparse prints its own errors ("error: ..."); ours go through the package logger ("ERROR ...")
    assert "error" in capsys.readouterr().err.lower()
    assert not (out / "last.pt").exists()


def test_torchrun_two_processes_on_cpu(tmp_path):
    """Two processes over Gloo: disjoint shards, DDP keeps the weights identical, rank 0 writes."""
    out = tmp_path / "ddp"
    script = tmp_path / "launch.py"
    script.write_text(
        "import hashlib, os, torch\n"
        "from training.config import make_config\n"
        "from training.engine import train\n"
        f"config = make_config('siam', 'scs-siam', ['synthetic:2'], {str(out)!r}, batch_size=1, steps=2,\n"
        f"                     template_size=103, search_size=151, log_every=1, quiet=True, threads=1)\n"
        "result = train(config)\n"
        "digest = hashlib.sha256()\n"
        "for name, p in sorted(result.network.named_parameters()):\n"
        "    digest.update(p.detach().cpu().numpy().tobytes())\n"
        f"open(os.path.join({str(tmp_path)!r}, 'rank' + os.environ['RANK']), 'w').write(digest.hexdigest())\n")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "rank0").read_text() == (tmp_path / "rank1").read_text()
    lines = _log(out)
    assert [line["step"] for line in lines] == [1, 2]  # one writer
    assert load_training_state(out / "last.pt")["world_size"] == 2
    assert read_checkpoint(out / "scs-siam.safetensors").meta["processes"] == 2
