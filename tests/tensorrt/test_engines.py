"""Filling the engine cache from an export folder: graph kinds, variant lookup, --no-build, the loader's checks.

Everything here runs without TensorRT: the graphs are tiny ONNX files made on the spot, the
machine is a :class:`DeviceInfo` record, and the engines in the cache are bytes stored through the
cache's own ``store`` (as a build on a GPU would leave them).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_tracker.backends.trt_io import INPUT, OUTPUT, TensorIO
from edge_tracker.backends.trt_loader import cuda_index
from edge_tracker.errors import InputError
from edge_tracker.manifest import MANIFEST_FORMAT, MANIFEST_NAME, sha256_file
from export.tensorrt import (
    BuildOptions,
    BuiltEngine,
    DeviceInfo,
    EngineCache,
    EngineCacheError,
    EngineKey,
)
from export.tensorrt.build import graph_kind
from export.tensorrt.engines import engines_for_export, phase_graph
from tests.tensorrt.graphs import tiny_graph

ORIN = DeviceInfo("Orin", (8, 7), "8.5.2.2")


def _export(folder, variants: bool = True):
    """An export folder of one phase ("search") with fp32, fp16 and int8 variants, and its manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"fp32": tiny_graph(folder / "search.onnx", "fp32"), "fp16": tiny_graph(folder / "search.fp16.onnx", "fp16"),
             "int8": tiny_graph(folder / "search.int8.onnx", "qdq")}
    phase = {"name": "search", "file": "search.onnx", "sha256": sha256_file(files["fp32"])}
    if variants:
        phase["variants"] = {p: {"file": f.name, "sha256": sha256_file(f), "precision": p} for p, f in files.items()}
    manifest = {"format": MANIFEST_FORMAT, "tracker": "scs-siam", "phases": [phase], "source": {"meta": {}}}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    return folder, phase


def test_graph_kind_is_read_from_thetiny_graph(tmp_path):
    assert graph_kind(tiny_graph(tmp_path / "a.onnx", "fp32")).name == "fp32"
    assert graph_kind(tiny_graph(tmp_path / "b.onnx", "fp16")).name == "fp16"
    assert graph_kind(tiny_graph(tmp_path / "c.onnx", "qdq")).name == "qdq"
    (tmp_path / "d.onnx").write_bytes(b"not onnx")
    with pytest.raises(InputError, match="cannot read the ONNX graph"):
        graph_kind(tmp_path / "d.onnx")


def test_each_precision_takes_its_variant_checked_against_the_manifest(tmp_path):
    folder, phase = _export(tmp_path / "export")
    for precision, name in (("fp32", "search.onnx"), ("fp16", "search.fp16.onnx"), ("int8", "search.int8.onnx")):
        path, digest = phase_graph(folder, phase, precision)
        assert path.name == name and digest == sha256_file(path)
    plain_folder, plain = _export(tmp_path / "plain", variants=False)
    assert phase_graph(plain_folder, plain, "fp32")[0].name == "search.onnx"
    with pytest.raises(InputError, match=r"no fp16 graph of phase 'search' \(it has \['fp32'\]\).*--precision fp16"):
        phase_graph(plain_folder, plain, "fp16")
    (folder / "search.fp16.onnx").write_bytes(b"changed")
    with pytest.raises(InputError, match="does not match the sha256"):
        phase_graph(folder, phase, "fp16")


def test_no_build_refuses_with_the_reason_and_finds_built_engines(tmp_path):
    folder, phase = _export(tmp_path / "export")
    cache = EngineCache(tmp_path / "engines")
    with pytest.raises(EngineCacheError, match=r"no usable int8 engine for scs-siam-search .*missing.*"
                                               r"python -m export build \.\.\. --precision int8"):
        engines_for_export(folder, "int8", cache, ORIN, build=False)
    # an engine a build on this machine left (stored the way the build stores it) is found, not rebuilt
    key = EngineKey.for_build(phase["variants"]["int8"]["sha256"], "int8", ORIN, BuildOptions())
    io = [TensorIO("x", INPUT, (1, 4), np.dtype(np.float32)), TensorIO("y", OUTPUT, (1, 4), np.dtype(np.float32))]
    cache.store(key, "scs-siam-search", BuiltEngine(b"PLAN", io, {}), {})
    tracker, engines = engines_for_export(folder, "int8", cache, ORIN, build=False)
    assert tracker == "scs-siam" and engines["search"].load_plan() == b"PLAN" and engines["search"].io == io
    # the graph changed since: that engine is stale now, and says so
    tiny_graph(folder / "search.int8.onnx", "fp16")
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    manifest["phases"][0]["variants"]["int8"]["sha256"] = sha256_file(folder / "search.int8.onnx")
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(EngineCacheError, match="stale: .* was built from another graph"):
        engines_for_export(folder, "int8", cache, ORIN, build=False)
    # back to the graph it was built from: seen from another machine, the engine is foreign
    tiny_graph(folder / "search.int8.onnx", "qdq")
    manifest["phases"][0]["variants"]["int8"]["sha256"] = sha256_file(folder / "search.int8.onnx")
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert engines_for_export(folder, "int8", cache, ORIN, build=False)[1]["search"].load_plan() == b"PLAN"
    with pytest.raises(EngineCacheError, match="foreign: .*TensorRT 8.5.2.2 on Orin"):
        engines_for_export(folder, "int8", cache, DeviceInfo("Xavier", (7, 2), "8.5.2.2"), build=False)


@pytest.mark.parametrize("device, index", [("auto", 0), ("cuda", 0), ("cuda:0", 0), ("cuda:3", 3)])
def test_trt_devices(device, index):
    assert cuda_index(device) == index


@pytest.mark.parametrize("device", ["cpu", "cuda:", "cuda:x", "gpu0"])
def test_trt_refuses_non_gpu_devices(device):
    with pytest.raises(InputError, match="runs on an NVIDIA GPU"):
        cuda_index(device)
