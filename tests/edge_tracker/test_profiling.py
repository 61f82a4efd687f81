"""edge-tracker profile: verdict and percentile arithmetic, the roofline counts, tegrastats lines, a real run."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edge_tracker.cli import main
from edge_tracker.datasets.synthetic import SyntheticConfig, generate_sequence
from edge_tracker.profiling.roofline import Device, fps_bound, graph_cost
from edge_tracker.profiling.run import CombinationResult
from edge_tracker.profiling.tegrastats import parse_line


def _result(stages: dict[str, list[float]]) -> CombinationResult:
    result = CombinationResult("ort-fp32", "ort", "fp32", "cpu")
    for stage, values in stages.items():
        for value in values:
            result.stages.add(stage, value)
    return result


def test_verdicts_on_hand_computed_frames():
    met = _result({"read": [1, 1, 1, 1], "search": [8, 8, 8, 8], "track": [9, 9, 9, 9], "frame": [10, 10, 10, 10]})
    assert met.fps() == pytest.approx(100.0) and met.fps("track") == pytest.approx(1000 / 9)
    assert met.verdict(73) == "73 FPS target: met at 100.0 FPS"
    slow = _result({"read": [2, 2], "backbone": [180, 220], "update": [0, 80], "track": [198, 318],
                    "frame": [200, 320]})
    # mean frame 260 ms -> 3.8 FPS; the backbone's mean 200 ms is 77% of it
    assert slow.verdict(73) == "73 FPS target: not met: 3.8 FPS, backbone 200.0 ms is 77% of the frame"
    summary = slow.stages.summary("update")
    assert (summary.p50, summary.p90, summary.p99, summary.max) == (40.0, 72.0, 79.2, 80.0)
    document = slow.as_dict(73)
    assert document["frames"] == 2 and [s["stage"] for s in document["stages"]] == [
        "read", "backbone", "update", "track", "frame"]
    assert document["frame_ms"] == [200.0, 320.0]


def test_roofline_counts_a_graph_whose_flops_are_known(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["y"], ["z"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], np.ones(108).tolist())])
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    cost = graph_cost(path, "fp32")
    # Conv: 2 x (3 x 3 x 3) multiply-adds per output x 256 outputs; Relu: 1 per output
    assert cost.flops == 2 * 27 * 256 + 256
    assert cost.weight_bytes == 108 * 4 and cost.activation_bytes == 2 * 2 * 256 * 4
    half = graph_cost(path, "fp16")
    assert half.flops == cost.flops and half.bytes == cost.bytes / 2
    device = Device("toy", "toy", {"fp32": 1e6, "fp16": 2e6, "int8": 4e6}, 1e6, "made up")
    # compute-bound: 14080 FLOPs at 1e6/s (14.08 ms) vs 4528 bytes at 1e6 B/s (4.5 ms)
    assert fps_bound(cost, device, "fp32") == pytest.approx(1e6 / 14080)


def test_tegrastats_lines_of_an_orin_and_a_xavier():
    orin = ("11-29-2026 18:00:01 RAM 2448/7620MB (lfb 1x4MB) SWAP 0/3810MB (cached 0MB) CPU [12%@1510,5%@1510,"
            "off,off,9%@1510,3%@1510] EMC_FREQ 0%@2133 GR3D_FREQ 61%@[624] NVENC off NVDEC off VIC_FREQ 0%@115 "
            "APE 174 cpu@45.5C soc2@44.1C soc0@43.8C gpu@46.2C tj@46.2C soc1@43.9C VDD_IN 7215mW/6890mW "
            "VDD_CPU_GPU_CV 2005mW/1800mW VDD_SOC 1802mW/1750mW")
    sample = parse_line(orin)
    assert (sample["ram_mb"], sample["ram_total_mb"], sample["gpu_load"]) == (2448, 7620, 61)
    assert sample["cpu_load"] == pytest.approx(7.25)  # the four cores that are on
    assert sample["temperatures"]["gpu"] == 46.2 and max(sample["temperatures"].values()) == 46.2
    assert sample["power_mw"]["VDD_CPU_GPU_CV"] == 2005 and sample["power_total_mw"] == 7215
    xavier = ("RAM 3041/7772MB (lfb 211x4MB) SWAP 0/3886MB CPU [30%@1190,20%@1190] GR3D_FREQ 99%@1109 "
              "CPU@52C GPU@50.5C VDD_IN 9100mW/8800mW VDD_CPU_GPU_CV 4000mW/3900mW VDD_SOC 1500mW/1500mW")
    assert parse_line(xavier)["power_total_mw"] == 9100 and parse_line(xavier)["gpu_load"] == 99
    assert parse_line("no stats here") == {}


@pytest.fixture(scope="module")
def tiny_sequence(tmp_path_factory):
    root = tmp_path_factory.mktemp("profile")
    return generate_sequence(8, SyntheticConfig(num_frames=12)).write(root / "seq")


def test_profile_on_a_generated_sequence_writes_json_and_a_plot(exports, tiny_sequence, tmp_path, capsys):
    _, onnx_dir = exports("scs-siam")
    out_json, out_png = tmp_path / "profile.json", tmp_path / "profile.png"
    code = main(["profile", str(tiny_sequence), "--model", str(onnx_dir), "--frames", "8", "--warmup", "2",
                 "--json", str(out_json), "--plot", str(out_png), "-q"])
    assert code == 0
    text = capsys.readouterr().out
    assert "ort-fp32: 5 frames measured" in text and "73 FPS target:" in text
    document = json.loads(out_json.read_text())
    assert document["tracker"] == "scs-siam" and document["frames"] == 8 and document["warmup"] == 2
    assert {"cpu", "cpu_count", "onnxruntime", "python"} <= set(document["machine"])
    combination = document["combinations"][0]
    assert combination["label"] == "ort-fp32" and len(combination["frame_ms"]) == 5
    stages = {s["stage"]: s for s in combination["stages"]}
    assert {"read", "crop", "network", "post", "track", "frame"} <= set(stages)
    assert stages["frame"]["mean_ms"] == pytest.approx(np.mean(combination["frame_ms"]))
    assert combination["verdict"].startswith("73 FPS target:")
    assert out_png.stat().st_size > 10_000 and out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_profile_refuses_bad_input_before_running(tmp_path, capsys):
    assert main(["profile", str(tmp_path / "nowhere.mp4"), "--init", "1,2,3,4", "-q"]) == 2
    assert main(["profile", str(tmp_path), "--precision", "int4"]) == 2
    assert main(["profile", "clip.mp4", "--init", "1,2,3", "-q"]) == 2
    assert "is not 4 numbers" in capsys.readouterr().err


def test_project_prints_a_labelled_projection_without_running(exports, capsys):
    _, onnx_dir = exports("scs-siam")
    assert main(["profile", "--project", "orin-nano", "--model", str(onnx_dir)]) == 0
    text = capsys.readouterr().out
    assert "PROJECTION (an upper bound, not a measurement)" in text and "40 sparse INT8 TOPS" in text
    assert "fp32" in text and "int8" not in text.split("FPS bound")[1]  # no int8 graphs in a plain export
