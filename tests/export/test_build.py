"""``python -m export build``: FP16 and INT8 graphs per phase, measured against FP32, run by ``--precision``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from calibration.builder import SamplingParams, build_calibration_set
from calibration.sources import parse_source
from edge_tracker.cli import main as track_main
from edge_tracker.datasets.synthetic import SyntheticConfig, generate_sequence
from edge_tracker.errors import InputError
from edge_tracker.session import Session
from export.build import EXIT_NO_TENSORRT, engines_available
from export.cli import main as export_main
from export.graph_check import check_graph
from export.precision.fp16 import to_fp16


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    root = tmp_path_factory.mktemp("build")
    sequence = generate_sequence(6, SyntheticConfig(num_frames=30))
    return sequence.write(root / "clip"), sequence


@pytest.fixture(scope="module")
def built(exports, clip, tmp_path_factory):
    """The seeded SCS-Siam export built at fp32, fp16 and int8 from a calibration set of the clip."""
    _, onnx_dir = exports("scs-siam")
    root = tmp_path_factory.mktemp("scs-built")
    build_calibration_set([parse_source(str(clip[0]))], root / "calib", model=onnx_dir,
                          params=SamplingParams(size=36, episode_length=4, seed=2))
    out = root / "out"
    code = export_main(["-q", "build", "--tracker", "scs-siam", "--onnx", str(onnx_dir), "--calib", str(root / "calib"),
                        "--precision", "fp32,fp16,int8", "--out", str(out), "--graphs-only"])
    assert code == 0
    return out, json.loads((out / "manifest.json").read_text())


def test_every_phase_has_checked_and_measured_variants(built):
    out, manifest = built
    assert manifest["precisions"] == ["fp32", "fp16", "int8"]
    search, template = (next(p for p in manifest["phases"] if p["name"] == n) for n in ("search", "template"))
    assert search["variants"]["int8"]["precision"] == "int8" and search["variants"]["int8"]["file"] == "search.int8.onnx"
    assert template["variants"]["int8"]["precision"] == "fp16" and "once per sequence" in template["variants"]["int8"]["why"]
    for phase in manifest["phases"]:
        for precision, variant in phase["variants"].items():
            path = out / variant["file"]
            assert path.is_file()
            assert check_graph(onnx.load(str(path))).problems == []  # the FP32 export's checks
            if precision != "fp32":
                tolerance = {"fp16": 1e-2, "int8": 5e-2}[variant["precision"]]
                for output in variant["error"]["outputs"].values():
                    assert output["relative_error"] <= tolerance and output["passed"]
    int8 = search["variants"]["int8"]
    assert set(int8["sensitivity"]) == set(int8["quantized_nodes"]) | set(int8["kept_float_nodes"])
    order = sorted(int8["sensitivity"], key=lambda n: -int8["sensitivity"][n])
    assert int8["kept_float_nodes"] == order[:len(int8["kept_float_nodes"])]  # the most sensitive stay float
    graph = onnx.load(str(out / "search.int8.onnx")).graph
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in graph.node}
    assert all(i.type.tensor_type.elem_type == TensorProto.FLOAT for i in graph.input)  # float I/O kept


def test_precision_runs_through_track_and_the_session(built, clip, tmp_path, capsys):
    out, _ = built
    folder, sequence = clip
    init = ",".join(f"{v:.2f}" for v in sequence.boxes[0])
    boxes = {}
    for precision in ("fp32", "fp16", "int8"):
        jsonl = tmp_path / f"{precision}.jsonl"
        assert track_main(["track", str(folder), str(jsonl), "--model", str(out), "--precision", precision,
                           "--init", init, "--headless", "-q", "--max-frames", "12"]) == 0
        boxes[precision] = np.array([json.loads(line)["box"] for line in jsonl.read_text().splitlines()])
    assert boxes["fp16"].shape == boxes["fp32"].shape == (12, 4)
    assert np.abs(boxes["fp16"] - boxes["fp32"]).max() <= 1.0  # fp16: the same track
    assert np.abs(boxes["int8"] - boxes["fp32"]).max() <= 20.0  # int8: near it (seeded random weights)
    with Session(out, precision="int8") as session:
        assert session.runners["search"].path.name == "search.int8.onnx"
        assert session.runners["template"].path.name == "template.fp16.onnx"


def test_a_missing_or_tampered_variant_is_refused(built, exports, tmp_path, capsys):
    _, fp32_only = exports("scs-siam")
    with pytest.raises(InputError, match=r"has no int8 graph of phase 'template'.*python -m export build"):
        Session(fp32_only, precision="int8")
    out, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "search.int8.onnx").write_bytes((copy / "search.int8.onnx").read_bytes() + b"x")
    with pytest.raises(InputError, match="does not match the sha256"):
        Session(copy, precision="int8")


def test_int8_without_a_calibration_set_and_bad_sources_exit_2(tmp_path, capsys):
    code = export_main(["build", "--tracker", "scs-siam", "--precision", "int8", "--out", str(tmp_path / "o")])
    assert code == 2 and "needs a calibration set" in capsys.readouterr().err
    (tmp_path / "frames").mkdir()
    code = export_main(["build", "--tracker", "scs-siam", "--precision", "int8", f"{tmp_path / 'frames'}@1,1,5,5",
                        "--out", str(tmp_path / "o")])
    assert code == 2 and "holds no image" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # bad input: nothing written


# --engines tensorrt: TensorRT-RTX, which `make test` installs, would build the engines under auto
@pytest.mark.skipif(engines_available("tensorrt"), reason="TensorRT is installed here: the engine step would run")
def test_without_tensorrt_the_graphs_are_kept_and_the_exit_code_says_so(exports, built, tmp_path, capsys):
    _, onnx_dir = exports("scs-siam")
    code = export_main(["build", "--tracker", "scs-siam", "--onnx", str(onnx_dir), "--precision", "fp32",
                        "--out", str(tmp_path / "o"), "--engines", "tensorrt"])
    assert code == EXIT_NO_TENSORRT == 3
    assert "pip install tensorrt" in capsys.readouterr().err
    assert (tmp_path / "o" / "manifest.json").is_file() and (tmp_path / "o" / "search.onnx").is_file()


def test_fp16_keeps_in_float32_what_overflows_by_measurement(tmp_path):
    """A sum over 4096 values of ~1000 is ~4e6, past float16's 65504: measured, that node stays float32."""
    nodes = [helper.make_node("Mul", ["x", "k"], ["big"], name="scale_up"),
             helper.make_node("ReduceSum", ["big"], ["sum"], keepdims=1, name="sum"),
             helper.make_node("Mul", ["sum", "small"], ["y"], name="scale_down")]
    graph = helper.make_graph(nodes, "overflow", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4096])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
                              [helper.make_tensor("k", TensorProto.FLOAT, [1], [100.0]),
                               helper.make_tensor("small", TensorProto.FLOAT, [1], [1e-4])])
    path = tmp_path / "overflow.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    feeds = [{"x": np.random.default_rng(0).uniform(5, 15, (1, 4096)).astype(np.float32)}]
    result = to_fp16(path, tmp_path / "overflow.fp16.onnx", feeds, 1e-2)
    # the sum reaches 4e6 and stays float32, with its reader; the product 100 x (~1500) is fp16-safe
    assert sorted(result.kept_nodes) == ["scale_down", "sum"]
    assert result.kept_nodes["sum"] == pytest.approx(4.08e6, rel=0.01)
    assert result.kept_float32 == [] and result.error <= 1e-2
    fp16 = onnx.load(str(tmp_path / "overflow.fp16.onnx"))
    node = next(n for n in fp16.graph.node if n.name == "sum")
    values = {v.name: v.type.tensor_type.elem_type for v in fp16.graph.value_info}
    assert values.get(node.input[0]) == TensorProto.FLOAT  # the sum reads float32


def test_precision_speed_benchmark_smoke(built, capsys):
    """``benchmarks.precision_speed --smoke`` on the build: per-phase and end-to-end ratios are printed."""
    import re

    from benchmarks import precision_speed

    out, _ = built
    assert precision_speed.main(["--model", str(out), "--smoke", "--sequence", str(out / "no-such-sequence")]) == 0
    text = capsys.readouterr().out
    search = re.search(r"^  search +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+)$", text, re.MULTILINE)
    assert search is not None, text
    fp32, fp16, int8, ratio16, ratio8 = (float(v) for v in search.groups())
    assert fp32 > 0 and int8 > 0 and ratio8 == pytest.approx(fp32 / int8, rel=0.02)
    assert re.search(r"^  int8 +[\d.]+ FPS tracker alone, median frame +[\d.]+ ms, [\d.]+x fp32$", text, re.MULTILINE)
