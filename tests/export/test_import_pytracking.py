"""`python -m export import-pytracking`: pytracking's ATOM checkpoints in, safely, and on to ONNX and tracking.

The pytracking-shaped files are made here: a plain-ATOM network's state dict renamed to pytracking's
keys (plus the ResNet's ImageNet ``fc`` layer), saved with a stand-in ``NetConstructor`` from a
temporary ``ltr`` package, in a separate process: pytracking is never importable in this one.
"""

import hashlib
import importlib.util
import json
import os
import pickle
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from edge_tracker.cli import main as tracker_main
from export.checkpoint import load_model
from export.cli import main
from export.models import build_model, default_config
from tests.conftest import REPO_ROOT, randomise_batchnorm

PYTRACKING_PREFIXES = {"backbone.": "feature_extractor.", "iou_net.": "bb_regressor."}
FC_KEYS = ("feature_extractor.fc.weight", "feature_extractor.fc.bias")

# a NetConstructor as pytracking's (ltr/admin/model_constructor.py); TRAP, when set, marks any run of its code
NET_CONSTRUCTOR = '''
TRAP = {trap!r}


class NetConstructor:
    def __init__(self, fun_name, fun_module, args, kwds):
        self.fun_name, self.fun_module, self.args, self.kwds = fun_name, fun_module, args, kwds
        if TRAP:
            open(TRAP, "a").close()

    def __setstate__(self, state):
        if TRAP:
            open(TRAP, "a").close()
        self.__dict__.update(state)
'''

# run in a child process: wrap a saved state dict with the stand-in constructor, as pytracking's trainer
# saves; spec "payload" = [global, args] puts a call of that global into the constructor's kwds
SAVE_WITH_CONSTRUCTOR = '''
import builtins, importlib, json, os, subprocess, sys, torch
spec = json.loads(sys.argv[1])
sys.path.insert(0, spec["package_root"])
NetConstructor = importlib.import_module(spec["module"]).NetConstructor
state = torch.load(spec["state"], weights_only=True)
kwds = {"iou_input_dim": (256, 256), "iou_inter_dim": (256, 256), "backbone_pretrained": True}


class Payload:
    def __init__(self, function, args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


if spec.get("payload"):
    kind, args = spec["payload"]
    function = {"posix.system": os.system, "builtins.exec": builtins.exec, "subprocess.call": subprocess.call}[kind]
    kwds["callback"] = Payload(function, tuple(args))
constructor = NetConstructor(spec["fun_name"], "ltr.models.bbreg.atom", (), kwds)
torch.save({"net": state, "constructor": constructor, "net_type": "ATOMnet", "epoch": 50, "net_info": None},
           spec["out"], _use_new_zipfile_serialization=spec["zip"])
'''


def to_pytracking_keys(state: dict) -> OrderedDict:
    renamed = OrderedDict()
    for name, tensor in state.items():
        prefix = next(p for p in PYTRACKING_PREFIXES if name.startswith(p))
        renamed[PYTRACKING_PREFIXES[prefix] + name[len(prefix):]] = tensor.clone()
    return renamed


def write_ltr_package(root: Path, module: str, trap: Path | None = None) -> Path:
    """A minimal stand-in for pytracking's package, holding only ``module``'s NetConstructor."""
    parts = module.split(".")
    for depth in range(1, len(parts)):
        folder = root.joinpath(*parts[:depth])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").touch()
    root.joinpath(*parts[:-1], parts[-1] + ".py").write_text(NET_CONSTRUCTOR.format(trap=str(trap) if trap else ""))
    return root


def save_with_constructor(out: Path, state_file: Path, package_root: Path, module: str,
                          fun_name: str = "atom_resnet18", zip_format: bool = True, payload=None) -> Path:
    spec = {"package_root": str(package_root), "module": module, "state": str(state_file), "out": str(out),
            "fun_name": fun_name, "zip": zip_format, "payload": payload}
    subprocess.run([sys.executable, "-c", SAVE_WITH_CONSTRUCTOR, json.dumps(spec)], check=True)
    return out


def run_import(file: Path, out: Path, *extra: str) -> int:
    return main(["import-pytracking", str(file), "--out", str(out), *extra])


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The plain-ATOM network the files come from, its state dict in pytracking's names, and pytracking files.

    Returns a dict: ``model`` (eval), ``state`` (pytracking keys, with fc), ``files`` (name -> .pth), ``root``.
    """
    root = tmp_path_factory.mktemp("pytracking")
    torch.manual_seed(7)
    model = build_model(default_config("atom"))
    randomise_batchnorm(model)
    state = to_pytracking_keys(model.state_dict())
    generator = torch.Generator().manual_seed(1)
    state[FC_KEYS[0]] = torch.randn(1000, 512, generator=generator)
    state[FC_KEYS[1]] = torch.randn(1000, generator=generator)
    state_file = root / "state.pt"
    torch.save(state, state_file)
    ltr = write_ltr_package(root / "ltr_root", "ltr.admin.model_constructor")
    dlframework = write_ltr_package(root / "dlframework_root", "dlframework.common.utils.model_constructor")
    trapped = write_ltr_package(root / "trap_root", "ltr.admin.model_constructor", trap=root / "TRAP_RAN")
    files = {
        "atom": save_with_constructor(root / "atom.pth", state_file, ltr, "ltr.admin.model_constructor"),
        # pytracking's released networks predate the zip format and its rename from dlframework
        "legacy": save_with_constructor(root / "legacy.pth.tar", state_file, dlframework,
                                        "dlframework.common.utils.model_constructor", zip_format=False),
        "trapped": save_with_constructor(root / "trapped.pth", state_file, trapped, "ltr.admin.model_constructor"),
        "resnet50": save_with_constructor(root / "resnet50.pth", state_file, ltr, "ltr.admin.model_constructor",
                                          fun_name="atom_resnet50"),
    }
    (root / "TRAP_RAN").unlink()  # the constructor ran once when the trapped file was made
    return {"model": model, "state": state, "files": files, "root": root, "trap_root": trapped, "ltr_root": ltr,
            "state_file": state_file}


def assert_same_outputs(reference, imported) -> None:
    """Same backbone features, modulations and IoUs for the same inputs (tolerance 1e-6)."""
    generator = torch.Generator().manual_seed(3)
    images = 255 * torch.rand(2, 3, 288, 288, generator=generator)
    boxes = torch.tensor([[100.0, 110.0, 60.0, 50.0], [80.0, 90.0, 100.0, 70.0]])
    proposals = boxes[:, None, :] + 8 * torch.randn(2, 5, 4, generator=generator)
    with torch.no_grad():
        results = []
        for net in (reference, imported):
            feats = net.extract(images)
            iou_feats = net.iou_features(images)
            modulation = net.iou_net.get_modulation(iou_feats, boxes)
            ious = net.iou_net.predict_iou(modulation, net.iou_net.get_iou_feat(iou_feats), proposals)
            results.append({**feats, "mod_a": modulation[0], "mod_b": modulation[1], "ious": ious})
    assert results[0].keys() == results[1].keys()
    for name in results[0]:
        torch.testing.assert_close(results[1][name], results[0][name], rtol=0, atol=1e-6, msg=name)


def test_pytracking_atom_imports_without_ltr_and_gives_the_source_networks_outputs(source, tmp_path, capsys):
    assert importlib.util.find_spec("ltr") is None, "the test needs a process where pytracking is not importable"
    out = tmp_path / "atom.safetensors"
    assert run_import(source["files"]["atom"], out) == 0
    captured = capsys.readouterr()
    assert "ltr" not in sys.modules
    assert f"-> {out}" in captured.out and "feature_extractor.fc.weight" in captured.out
    assert "dropped 2 tensor(s)" in captured.err and "ImageNet classification layer" in captured.err

    model, checkpoint = load_model(out, expect_tracker="atom")
    assert checkpoint.config == default_config("atom")
    assert_same_outputs(source["model"], model)
    source_meta, mapping = checkpoint.meta["source"], checkpoint.meta["mapping"]
    assert source_meta["sha256"] == hashlib.sha256(source["files"]["atom"].read_bytes()).hexdigest()
    assert source_meta["file"] == "atom.pth" and source_meta["unpickling"] == "restricted"
    assert source_meta["net_type"] == "ATOMnet" and source_meta["epoch"] == 50
    assert source_meta["constructor"] == "ltr.models.bbreg.atom.atom_resnet18"
    assert source_meta["constructor_kwds"]["iou_input_dim"] == [256, 256]
    assert mapping["renamed"] == {"feature_extractor.": "backbone.", "bb_regressor.": "iou_net."}
    assert sorted(mapping["dropped"]) == sorted(FC_KEYS) and mapping["filled"] == {}


def test_legacy_torch_format_and_dlframework_names_import_the_same_weights(source, tmp_path):
    out = tmp_path / "legacy.safetensors"
    assert run_import(source["files"]["legacy"], out) == 0
    model, checkpoint = load_model(out, expect_tracker="atom")
    expected = source["model"].state_dict()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, expected[name]), name
    assert checkpoint.meta["source"]["constructor"] == "ltr.models.bbreg.atom.atom_resnet18"


def test_pytracking_classes_stay_inert_even_when_pytracking_is_importable(source, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(source["trap_root"]))
    assert importlib.util.find_spec("ltr") is not None
    assert run_import(source["files"]["trapped"], tmp_path / "a.safetensors") == 0
    assert not (source["root"] / "TRAP_RAN").exists(), "the stand-in NetConstructor's code ran"
    assert "ltr" not in sys.modules


class Payload:
    """Pickles as a call of ``function(*args)``: what a malicious checkpoint does."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def make_payload(kind: str, marker: Path) -> Payload:
    """A payload of ``kind`` (the global it names) that creates ``marker`` when unpickled."""
    import builtins

    return {
        "posix.system": lambda: Payload(os.system, f"touch {marker}"),
        "builtins.exec": lambda: Payload(builtins.exec, f"open({str(marker)!r}, 'w').close()"),
        "subprocess.call": lambda: Payload(subprocess.call, ["touch", str(marker)]),
    }[kind]()


@pytest.mark.parametrize("container", ["zip", "legacy", "raw pickle", "inside NetConstructor"])
@pytest.mark.parametrize("kind", ["posix.system", "builtins.exec", "subprocess.call"])
def test_a_pickle_that_would_run_code_is_refused_and_never_runs(source, tmp_path, capsys, kind, container):
    marker = tmp_path / "PAYLOAD_RAN"
    payload = make_payload(kind, marker)
    file = tmp_path / "evil.pth"
    weights = OrderedDict(list(source["state"].items())[:3])
    if container == "raw pickle":
        # no tensors: plain pickle stores them through torch.storage._load_from_bytes, refused in its own right
        file.write_bytes(pickle.dumps({"net": {}, "x": payload}, protocol=2))
    elif container == "inside NetConstructor":  # a placeholder's state goes through the same rules
        save_with_constructor(file, source["state_file"], source["ltr_root"], "ltr.admin.model_constructor",
                              payload=[kind, list(payload.args)])
        assert not marker.exists()
    else:
        torch.save({"net": weights, "x": payload}, file, _use_new_zipfile_serialization=container == "zip")
    out = tmp_path / "out.safetensors"
    assert run_import(file, out) == 2
    err = capsys.readouterr().err
    assert f"refused to unpickle '{kind}'" in err and "--trust-pickle" in err and str(file) in err
    assert not marker.exists(), f"the {kind} payload ran"
    assert not out.exists()
    if container == "raw pickle":  # control: the same bytes do run their payload under plain pickle
        subprocess.run([sys.executable, "-c", "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))",
                        str(file)], check=True, capture_output=True)
        assert marker.exists()


def test_trust_pickle_admits_other_globals_and_says_so_loudly(source, tmp_path, capsys):
    import datetime

    file = tmp_path / "with_settings.pth"
    torch.save({"net": source["state"], "net_type": "ATOMnet", "saved": datetime.date(2019, 4, 1)}, file)
    assert run_import(file, tmp_path / "refused.safetensors") == 2
    assert "refused to unpickle 'datetime.date'" in capsys.readouterr().err

    out = tmp_path / "trusted.safetensors"
    assert run_import(file, out, "--trust-pickle") == 0
    assert "unpickling WITHOUT RESTRICTIONS" in capsys.readouterr().err
    _, checkpoint = load_model(out, expect_tracker="atom")
    assert checkpoint.meta["source"]["unpickling"] == "trusted (--trust-pickle)"
    assert checkpoint.meta["source"]["ignored_entries"] == ["saved"]


def save_variant(tmp_path: Path, state: dict, **entries) -> Path:
    file = tmp_path / "variant.pth"
    torch.save({"net": state, **entries} if entries else state, file)
    return file


def test_another_pytracking_network_is_refused_by_net_type_constructor_or_modules(source, tmp_path, capsys):
    assert run_import(save_variant(tmp_path, source["state"], net_type="DiMPnet"), tmp_path / "o.safetensors") == 2
    err = capsys.readouterr().err
    assert "'DiMPnet'" in err and "'ATOMnet'" in err

    assert run_import(source["files"]["resnet50"], tmp_path / "o.safetensors") == 2
    assert "ltr.models.bbreg.atom.atom_resnet50" in capsys.readouterr().err

    dimp_like = OrderedDict(source["state"])
    dimp_like["classifier.filter_initializer.filter_conv.weight"] = torch.zeros(512, 512, 3, 3)
    assert run_import(save_variant(tmp_path, dimp_like), tmp_path / "o.safetensors") == 2
    err = capsys.readouterr().err
    assert "is not pytracking's ATOM" in err and "['classifier']" in err
    assert not (tmp_path / "o.safetensors").exists()


def test_missing_tensors_are_listed(source, tmp_path, capsys):
    state = OrderedDict(source["state"])
    del state["bb_regressor.iou_predictor.bias"], state["feature_extractor.layer2.0.conv1.weight"]
    assert run_import(save_variant(tmp_path, state, net_type="ATOMnet"), tmp_path / "o.safetensors") == 2
    err = capsys.readouterr().err
    assert "2 missing key(s)" in err
    assert "backbone.layer2.0.conv1.weight" in err and "iou_net.iou_predictor.bias" in err
    assert "feature_extractor. -> backbone." in err  # the message says how its names map to the file's


def test_mis_shaped_tensors_are_listed_with_both_shapes(source, tmp_path, capsys):
    state = OrderedDict(source["state"])
    state["bb_regressor.fc34_4r.0.weight"] = torch.zeros(128, 512, 1, 1)
    state["feature_extractor.layer3.1.bn2.running_var"] = torch.ones(200)
    assert run_import(save_variant(tmp_path, state), tmp_path / "o.safetensors") == 2
    err = capsys.readouterr().err
    assert "2 shape mismatch(es)" in err
    assert "iou_net.fc34_4r.0.weight: file (128, 512, 1, 1) vs model (256, 512, 1, 1)" in err
    assert "backbone.layer3.1.bn2.running_var: file (200,) vs model (256,)" in err


def test_old_pytorch_counters_and_data_parallel_names_are_handled(source, tmp_path, capsys):
    """Files from PyTorch < 0.4.1 lack BatchNorm's num_batches_tracked; DataParallel adds 'module.'."""
    state = OrderedDict((f"module.{name}", tensor) for name, tensor in source["state"].items()
                        if not name.endswith("num_batches_tracked"))
    out = tmp_path / "old.safetensors"
    assert run_import(save_variant(tmp_path, state, net_type="ATOMnet"), out) == 0
    model, checkpoint = load_model(out, expect_tracker="atom")
    assert_same_outputs(source["model"], model)
    filled = checkpoint.meta["mapping"]["filled"]
    assert len(filled) == sum(name.endswith("num_batches_tracked") for name in model.state_dict())
    assert "BatchNorm step counters" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["missing", "text", "safetensors", "list", "out is the input"])
def test_unreadable_inputs_exit_2_with_the_reason(source, tmp_path, capsys, case):
    file = tmp_path / "in.pth"
    out = tmp_path / "o.safetensors"
    expected = {"missing": "not found", "text": "not a readable torch.save checkpoint",
                "safetensors": "not a readable torch.save checkpoint", "list": "holds a list",
                "out is the input": "is the pytracking file itself"}[case]
    if case == "text":
        file.write_text("not a checkpoint\n")
    elif case == "safetensors":
        assert run_import(source["files"]["atom"], file) == 0
    elif case == "list":
        torch.save([1, 2], file)
    elif case == "out is the input":
        file.write_bytes(source["files"]["atom"].read_bytes())
        out = file
    capsys.readouterr()
    assert run_import(file, out) == 2
    assert expected in capsys.readouterr().err


@pytest.fixture(scope="module")
def readme_run(source, tmp_path_factory):
    """The README's three commands on the pytracking-format file: import, export (~90 s), track."""
    work = tmp_path_factory.mktemp("readme")
    checkpoint, export_dir = work / "atom.safetensors", work / "atom-onnx"
    commands = [
        [sys.executable, "-m", "export", "import-pytracking", str(source["files"]["atom"]), "--out", str(checkpoint)],
        [sys.executable, "-m", "export", "-q", "onnx", "--tracker", "atom", "--checkpoint", str(checkpoint),
         "--out", str(export_dir)],
    ]
    results = [subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
               for command in commands]
    return {"checkpoint": checkpoint, "export_dir": export_dir, "results": results, "work": work}


def test_readme_import_and_export_commands_run_on_a_pytracking_file(source, readme_run):
    for result in readme_run["results"]:
        assert result.returncode == 0, result.stderr
    manifest = json.loads((readme_run["export_dir"] / "manifest.json").read_text())
    assert manifest["source"]["weights"] == "checkpoint"
    assert manifest["source"]["meta"]["source"]["sha256"] == hashlib.sha256(
        source["files"]["atom"].read_bytes()).hexdigest()
    assert {phase["name"] for phase in manifest["phases"]} >= {"backbone", "iou_modulation", "iou_refine"}


def test_readme_track_command_runs_on_the_imported_export(readme_run):
    clip_root = readme_run["work"] / "clip"
    subprocess.run([sys.executable, "-m", "edge_tracker.datasets.synthetic", str(clip_root), "--count", "1",
                    "--frames", "10"], cwd=REPO_ROOT, check=True, capture_output=True)
    folder = clip_root / "synthetic_0000"
    init = (folder / "groundtruth.txt").read_text().splitlines()[0]
    out = readme_run["work"] / "track.jsonl"
    assert tracker_main(["track", str(folder), str(out), "--model", str(readme_run["export_dir"]),
                         "--init", init, "--headless", "-q"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 10
