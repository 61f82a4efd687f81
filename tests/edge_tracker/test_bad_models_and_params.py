"""Bad tracking parameters and malformed manifests: exit 2, a message naming the culprit, nothing written.

Each case is one row: what the user gives, the exit code, a fragment of the message, and what must
be left on disk (nothing: both are refused before any output is opened).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_tracker.cli import main as track_main
from edge_tracker.errors import ConfigError, InputError
from edge_tracker.evaluation.cli import main as eval_main
from edge_tracker.manifest import MANIFEST_NAME, check_manifest, read_manifest, variant_file
from edge_tracker.params import Range, params_from_dict
from edge_tracker.trackers import tracker_params
from edge_tracker.trackers.atom_params import AtomParams
from edge_tracker.trackers.siamfc import SIAM_PARAM_RANGES, SiamParams

INIT = "--init=40,30,30,30"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Four 160x120 frames in a folder (the parameter and manifest checks fail before any is read)."""
    folder = tmp_path_factory.mktemp("frames")
    rng = np.random.default_rng(0)
    for i in range(4):
        cv2.imwrite(str(folder / f"{i:04d}.png"), rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    return folder


@pytest.fixture(scope="module")
def siam_export(exports) -> Path:
    return exports("scs-siam")[1]


# -- parameters ---------------------------------------------------------------------------------------

# (--param text, fragment of the message): each value is refused with its name, value and range.
BAD_SIAM_PARAMS = [
    ("exemplar_size=0", "SiamParams.exemplar_size = 0: expected a whole number >= 1"),
    ("response_upsample=0", "SiamParams.response_upsample = 0: expected a whole number in [1, 32]"),
    ("response_upsample=1000", "response_upsample = 1000: expected a whole number in [1, 32]"),
    ("window_influence=nan", "SiamParams.window_influence = nan: expected a finite number in [0, 1]"),
    ("window_influence=-0.1", "window_influence = -0.1: expected a finite number in [0, 1]"),
    ("scale_lr=inf", "SiamParams.scale_lr = inf: expected a finite number in [0, 1]"),
    ("scale_step=0.5", "scale_step = 0.5: expected a finite number in [1, 2]"),
    ("scale_penalty=0", "scale_penalty = 0.0: expected a finite number in (0, 1]"),
    ("context=-1", "context = -1.0: expected a finite number in [0, 4]"),
    ("total_stride=-8", "total_stride = -8: expected a whole number >= 1"),
    ("min_side=0", "min_side = 0.0: expected a finite number > 0"),
    ("exemplar_size=2.5", "exemplar_size takes a whole number"),
]


@pytest.mark.parametrize("text, message", BAD_SIAM_PARAMS, ids=[t for t, _ in BAD_SIAM_PARAMS])
def test_a_bad_siam_parameter_exits_2_naming_it_and_writes_nothing(siam_export, clip, tmp_path, capsys,
                                                                   text, message):
    out = tmp_path / "out.jsonl"
    code = track_main(["track", str(clip), str(out), "--model", str(siam_export), INIT, "--headless",
                       "--param", text])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_siam_parameters_are_checked_wherever_the_object_is_built():
    assert SiamParams() == SiamParams.from_dict({})  # the defaults are in range
    with pytest.raises(ConfigError, match=r"SiamParams.window_influence = nan"):
        SiamParams(window_influence=float("nan"))
    with pytest.raises(ConfigError, match=r"exemplar_size = True: expected a whole number"):
        SiamParams(exemplar_size=True)
    with pytest.raises(ConfigError, match=r"response_upsample = 0"):
        SiamParams.from_dict({"response_upsample": 0})  # e.g. a checkpoint's recommendation
    # every number has a range; the one switch is checked as a boolean
    numbers = {name for name, field in SiamParams.__dataclass_fields__.items() if field.type not in (bool, "bool")}
    assert set(SIAM_PARAM_RANGES) == numbers and numbers | {"redetect"} == set(SiamParams.__dataclass_fields__)
    with pytest.raises(ConfigError, match=r"SiamParams.redetect = 'yes': expected true or false"):
        SiamParams(redetect="yes")


def test_every_params_object_refuses_non_finite_numbers_and_wrong_kinds():
    # AFF-ATOM's own checks do not test finiteness; the shared builder does, for every tracker.
    with pytest.raises(ConfigError, match=r"AtomParams.distractor_threshold = nan: expected a finite number"):
        tracker_params("aff-atom", texts={"distractor_threshold": "nan"})
    with pytest.raises(ConfigError, match=r"AtomParams.search_area_scale = inf"):
        AtomParams.from_dict({"search_area_scale": float("inf")})
    with pytest.raises(ConfigError, match=r"AtomParams.refine = 'yes': expected true or false"):
        AtomParams.from_dict({"refine": "yes"})
    with pytest.raises(ConfigError, match=r"AtomParams.train_skipping = 2.5: expected a whole number"):
        params_from_dict(AtomParams, {"train_skipping": 2.5})


@pytest.mark.parametrize("valid, value, ok", [
    (Range(0, 1), 0.0, True), (Range(0, 1), 1, True), (Range(0, 1, low_open=True), 0, False),
    (Range(0, 1, high_open=True), 1.0, False), (Range(1, None, integer=True), 3, True),
    (Range(1, None, integer=True), 3.0, False), (Range(), float("nan"), False), (Range(), True, False),
    (Range(None, 5), -1e9, True), (Range(None, 5), "2", False),
])
def test_range_membership(valid, value, ok):
    assert valid.contains(value) is ok


# -- manifests ----------------------------------------------------------------------------------------

def _edit(manifest: dict, change) -> dict:
    manifest = json.loads(json.dumps(manifest))
    change(manifest)
    return manifest


def _manifest_cases(good: dict):
    """(name, manifest.json bytes, fragment of the message naming the field)."""
    def as_bytes(manifest):
        return (json.dumps(manifest) + "\n").encode()

    def drop(key):
        return lambda m: m.pop(key)

    def phase(key, value):
        return lambda m: m["phases"][0].__setitem__(key, value)

    return [
        ("binary bytes", b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "is not text (byte"),
        ("truncated JSON", as_bytes(good)[:40], "is not valid JSON"),
        ("a JSON array", b"[1, 2, 3]\n", "holds a JSON list, not an object"),
        ("a JSON string", b'"manifest"\n', "holds a JSON str, not an object"),
        ("another format", as_bytes(_edit(good, lambda m: m.__setitem__("format", "x"))), "field 'format' is 'x'"),
        ("no phases key", as_bytes(_edit(good, drop("phases"))), "field 'phases' is missing"),
        ("phases not a list", as_bytes(_edit(good, lambda m: m.__setitem__("phases", {}))),
         "field 'phases' must be a list"),
        ("empty phases", as_bytes(_edit(good, lambda m: m.__setitem__("phases", []))), "field 'phases' is empty"),
        ("no tracker", as_bytes(_edit(good, drop("tracker"))), "field 'tracker' is missing"),
        ("no source", as_bytes(_edit(good, drop("source"))), "field 'source' is missing"),
        ("phase not an object", as_bytes(_edit(good, lambda m: m["phases"].__setitem__(0, 7))),
         "field 'phases[0]' must be an object"),
        ("phase without file", as_bytes(_edit(good, lambda m: m["phases"][0].pop("file"))),
         "field 'phases[0].file' is missing"),
        ("file outside the folder", as_bytes(_edit(good, phase("file", "../../etc/passwd"))),
         "field 'phases[0].file' must be a file name inside the export folder"),
        ("short sha256", as_bytes(_edit(good, phase("sha256", "abc"))),
         "field 'phases[0].sha256' must be 64 lowercase hex digits"),
        ("sha256 a number", as_bytes(_edit(good, phase("sha256", 12))), "field 'phases[0].sha256' must be text"),
        ("duplicate phase", as_bytes(_edit(good, lambda m: m["phases"].append(m["phases"][0]))),
         "must be a unique, non-empty phase name"),
        ("bad shape", as_bytes(_edit(good, lambda m: m["phases"][0]["inputs"][0].__setitem__("shape", [1, -3]))),
         "field 'phases[0].inputs[0].shape' must list positive whole numbers"),
        ("variant without sha256", as_bytes(_edit(good, phase("variants", {"fp16": {"file": "x.onnx"}}))),
         "field 'phases[0].variants.fp16.sha256' is missing"),
        ("tracking_params a list", as_bytes(_edit(good, lambda m: m["source"].__setitem__(
            "meta", {"tracking_params": [1]}))), "field 'source.meta.tracking_params' must be an object"),
        ("newer format", as_bytes(_edit(good, lambda m: m.__setitem__("format_version", 2))),
         "field 'format_version' is 2"),
        ("precisions not names", as_bytes(_edit(good, lambda m: m.__setitem__("precisions", [16]))),
         "field 'precisions' must list precision names"),
    ]


def _copy_export(source: Path, target: Path) -> dict:
    shutil.copytree(source, target)
    return json.loads((target / MANIFEST_NAME).read_text())


def test_a_malformed_manifest_exits_2_naming_the_file_and_field_in_track_and_eval(siam_export, clip, tmp_path,
                                                                                  capsys):
    good = _copy_export(siam_export, tmp_path / "export")
    sequence = tmp_path / "seq"
    shutil.copytree(clip, sequence / "img")
    (sequence / "groundtruth.txt").write_text("40,30,30,30\n" * 4)
    results = tmp_path / "results"
    results.mkdir()
    for name, data, message in _manifest_cases(good):
        (tmp_path / "export" / MANIFEST_NAME).write_bytes(data)
        manifest_path = str(tmp_path / "export" / MANIFEST_NAME)
        runs = {
            "track": lambda: track_main(["track", str(clip), str(results / "out.jsonl"), "--model",
                                         str(tmp_path / "export"), INIT, "--headless"]),
            "eval": lambda: eval_main([str(sequence), "--ours", f"x={tmp_path / 'export'}", "-q",
                                       "--json", str(results / "eval.json")]),
        }
        for command, run in runs.items():
            code = run()
            err = capsys.readouterr().err
            assert code == 2, f"{name} ({command}): exit {code}: {err}"
            assert manifest_path in err and message in err, f"{name} ({command}): {err}"
            assert "Traceback" not in err, f"{name} ({command})"
            assert list(results.iterdir()) == [], f"{name} ({command}) left {list(results.iterdir())}"


def test_the_manifests_the_exporter_writes_pass_the_schema_and_variants_still_resolve(siam_export, tmp_path):
    manifest = read_manifest(siam_export)
    check_manifest(manifest)
    phase = manifest["phases"][0]
    assert variant_file(siam_export, phase, "fp32") == siam_export / phase["file"]
    # What `python -m export build` adds: per-phase variants (an INT8 entry may hold the FP16 graph of a
    # phase kept out of INT8), the precisions and the calibration set's record.
    copy = tmp_path / "copy"
    built = _copy_export(siam_export, copy)
    fp16 = copy / "template.fp16.onnx"
    shutil.copy(copy / "template.onnx", fp16)
    from edge_tracker.manifest import sha256_file
    for record in built["phases"]:
        record["variants"] = {"fp32": {"file": record["file"], "sha256": record["sha256"], "precision": "fp32"}}
        if record["name"] == "template":
            fp16_record = {"file": fp16.name, "sha256": sha256_file(fp16), "precision": "fp16"}
            record["variants"].update(fp16=fp16_record, int8={**fp16_record, "why": "once per sequence"})
    built.update(precisions=["fp32", "fp16", "int8"], calibration={"folder": "calibration", "counts": {}})
    (copy / MANIFEST_NAME).write_text(json.dumps(built))
    reread = read_manifest(copy)
    template = next(p for p in reread["phases"] if p["name"] == "template")
    assert variant_file(copy, template, "int8") == fp16
    search = next(p for p in reread["phases"] if p["name"] == "search")
    with pytest.raises(InputError, match="has no int8 graph of phase 'search'"):
        variant_file(copy, search, "int8")
