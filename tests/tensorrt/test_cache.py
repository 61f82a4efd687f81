"""The engine cache: keys, the manifest beside each plan, atomic writes, the lock, stale/foreign/corrupt plans.

The build is a seam (a function returning the plan's bytes and I/O); the "device" is a plain
record of what TensorRT and the GPU would report. No TensorRT is involved or imitated here.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest

from edge_tracker.backends.trt_io import INPUT, OUTPUT, TensorIO
from edge_tracker.errors import InputError
from export.tensorrt import (
    BuildOptions,
    BuiltEngine,
    DeviceInfo,
    EngineCache,
    EngineCacheError,
    EngineKey,
)
from export.tensorrt.files import atomic_write_bytes, file_lock
from export.tensorrt.manifest import manifest_io, read_engine_manifest

SHA_A, SHA_B = "a" * 64, "b" * 64
ORIN = DeviceInfo("Orin", (8, 7), "10.3.0")
RTX = DeviceInfo("NVIDIA GeForce RTX 4090", (8, 9), "10.13.3.9")
IO = [TensorIO("search", INPUT, (3, 3, 263, 263), np.dtype(np.float32)),
      TensorIO("kernel", INPUT, (1, 384, 7, 7), np.dtype(np.float32)),
      TensorIO("response", OUTPUT, (3, 1, 17, 17), np.dtype(np.float32))]
LABEL = "scs-siam-search"


DEFAULT_OPTIONS = BuildOptions()


def _key(sha=SHA_A, precision="fp16", device=ORIN, options=DEFAULT_OPTIONS):
    return EngineKey.for_build(sha, precision, device, options)


def _builder(plan=b"PLAN-BYTES", calls=None):
    def build():
        if calls is not None:
            calls.append(1)
        return BuiltEngine(plan, IO, {"graph": "fp16"})
    return build


def test_every_key_field_changes_the_key():
    base = _key()
    variants = {
        "onnx_sha256": _key(sha=SHA_B),
        "precision": _key(precision="int8"),
        "tensorrt_version": _key(device=dataclasses.replace(ORIN, tensorrt_version="10.3.1")),
        "gpu_name": _key(device=dataclasses.replace(ORIN, gpu_name="Xavier")),
        "compute_capability": _key(device=dataclasses.replace(ORIN, compute_capability=(7, 2))),
        "dla_core": _key(options=BuildOptions(dla_core=0)),
        "options": _key(options=BuildOptions(workspace_mib=256)),
    }
    for field, other in variants.items():
        assert field in base.differences(other), field
        assert other.digest != base.digest, field
    # every option that changes the engine is in the key; the timing cache is not
    assert _key(options=BuildOptions(optimization_level=5)).digest != base.digest
    assert _key(options=BuildOptions(dla_core=0, gpu_fallback=False)).digest != variants["dla_core"].digest
    assert _key(options=BuildOptions(timing_cache=False)).digest == base.digest
    assert _key(options=BuildOptions(gpu_fallback=False)).digest == base.digest  # only meaningful with DLA
    # the same key on any machine gives the same digest, and survives a JSON round trip
    assert EngineKey.from_dict(json.loads(json.dumps(base.as_dict()))) == base
    assert _key().digest == base.digest and len(base.digest) == 64
    with pytest.raises(InputError, match="64 hex digits"):
        _key(sha="abc")


def test_manifest_round_trip(tmp_path):
    cache = EngineCache(tmp_path)
    entry = cache.get(_key(), LABEL, _builder(), source={"onnx": "search.fp16.onnx", "tracker": "scs-siam"})
    manifest = read_engine_manifest(entry.manifest_path)
    assert manifest == entry.manifest
    assert EngineKey.from_dict(manifest["key"]) == _key() and manifest["key_sha256"] == _key().digest
    assert manifest["plan"]["file"] == entry.plan_path.name and manifest["plan"]["bytes"] == len(b"PLAN-BYTES")
    assert manifest["source"] == {"label": LABEL, "onnx": "search.fp16.onnx", "tracker": "scs-siam"}
    assert manifest["build"]["graph"] == "fp16" and "created" in manifest["build"]
    assert manifest_io(manifest) == IO == entry.io
    assert entry.plan_path.name.startswith(f"{LABEL}.fp16.{_key().digest[:16]}")
    assert b"{" not in entry.plan_path.read_bytes()  # the manifest is beside the plan, never inside it
    assert entry.load_plan() == b"PLAN-BYTES"


def test_a_missing_engine_is_built_once_then_found(tmp_path):
    cache, calls = EngineCache(tmp_path / "engines"), []
    first = cache.get(_key(), LABEL, _builder(calls=calls))
    again = cache.get(_key(), LABEL, _builder(calls=calls))
    assert calls == [1] and again.plan_path == first.plan_path
    assert cache.get(_key(), LABEL, build=None).manifest == first.manifest  # --no-build finds it too


def test_no_build_refuses_a_missing_engine_with_the_command(tmp_path):
    with pytest.raises(EngineCacheError, match=r"no usable fp16 engine for scs-siam-search .*\(missing: no fp16 engine "
                                               r"of scs-siam-search has been built here\); build it with python -m "
                                               r"export build X, or run without --no-build"):
        EngineCache(tmp_path).get(_key(), LABEL, build=None, hint="python -m export build X")


def test_stale_engines_are_named_as_such(tmp_path):
    cache = EngineCache(tmp_path)
    cache.get(_key(sha=SHA_A), LABEL, _builder())
    with pytest.raises(EngineCacheError, match=r"stale: .* was built from another graph \(ONNX sha256 aaaaaaaaaaaa\.\.\., "
                                               r"the graph now is bbbbbbbbbbbb"):
        cache.get(_key(sha=SHA_B), LABEL, build=None)
    with pytest.raises(EngineCacheError, match=r"stale: .* with options"):
        cache.get(_key(options=BuildOptions(optimization_level=4)), LABEL, build=None)
    calls = []
    cache.get(_key(sha=SHA_B), LABEL, _builder(calls=calls))  # and rebuilt when building is allowed
    assert calls == [1]


def test_foreign_engines_are_named_as_such(tmp_path):
    cache = EngineCache(tmp_path)
    cache.get(_key(device=ORIN), LABEL, _builder())  # e.g. an engines/ folder copied from a Jetson
    with pytest.raises(EngineCacheError, match=r"foreign: .* was built for TensorRT 10\.3\.0\.0 on Orin \(compute 8\.7\); "
                                               r"this machine has TensorRT 10\.13\.3\.9 on NVIDIA GeForce RTX 4090 "
                                               r"\(compute 8\.9\)"):
        cache.get(_key(device=RTX), LABEL, build=None)


@pytest.mark.parametrize("damage, message", [
    (lambda plan, manifest: plan.write_bytes(b"PLAN-BYTEZ"), "fails the sha256 in its manifest"),
    (lambda plan, manifest: plan.write_bytes(b"PLAN"), "fails the sha256 in its manifest"),
    (lambda plan, manifest: plan.unlink(), "listed in its manifest, is missing"),
    (lambda plan, manifest: manifest.write_text("{not json"), "is not valid JSON"),
    (lambda plan, manifest: manifest.write_text('{"format": "other"}'), "is not an edge_tracker engine manifest"),
    (lambda plan, manifest: manifest.unlink(), "has no manifest beside it, and a plan is never loaded blindly"),
    (lambda plan, manifest: manifest.write_text(manifest.read_text().replace("a" * 64, "c" * 64)),
     "holds the key of another engine"),
])
def test_corrupt_engines_are_refused_or_rebuilt(tmp_path, damage, message):
    cache = EngineCache(tmp_path)
    entry = cache.get(_key(), LABEL, _builder())
    damage(entry.plan_path, entry.manifest_path)
    with pytest.raises(EngineCacheError, match=f"corrupt: .*{message}"):
        cache.get(_key(), LABEL, build=None)
    rebuilt = cache.get(_key(), LABEL, _builder(b"NEW-PLAN"))
    assert rebuilt.load_plan() == b"NEW-PLAN" and cache.check(_key(), LABEL)[1] is None


def test_a_plan_changed_after_the_lookup_is_caught_when_loaded(tmp_path):
    entry = EngineCache(tmp_path).get(_key(), LABEL, _builder())
    entry.plan_path.write_bytes(b"SWAPPED!!!")
    with pytest.raises(EngineCacheError, match="changed since it was checked"):
        entry.load_plan()


def test_atomic_write_leaves_the_old_file_when_it_fails(tmp_path, monkeypatch):
    target = tmp_path / "x.plan"
    atomic_write_bytes(target, b"old")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(InputError, match="disk full"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["x.plan"]


def _build_in_process(root: str, log: str) -> None:
    """A second process's build of the same key: slow, and logged, so the test sees who built."""
    def build():
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()} start\n")
        time.sleep(0.4)
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()} end\n")
        return BuiltEngine(b"PLAN-" + str(os.getpid()).encode(), IO, {})

    EngineCache(Path(root)).get(_key(), LABEL, build)


def test_two_processes_building_one_key_take_turns(tmp_path):
    log = tmp_path / "log.txt"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_build_in_process, args=(str(tmp_path / "engines"), str(log))) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(20)
    assert [w.exitcode for w in workers] == [0, 0]
    lines = log.read_text().split()
    assert lines[1::2] == ["start", "end"]  # exactly one build ran; the other process found its engine
    entry, problem = EngineCache(tmp_path / "engines").check(_key(), LABEL)
    assert problem is None and entry.load_plan() == b"PLAN-" + lines[0].encode()


def test_the_lock_times_out_with_a_message(tmp_path):
    lock = tmp_path / "k.lock"
    context = multiprocessing.get_context("fork")
    ready = context.Event()

    def hold():
        with file_lock(lock):
            ready.set()
            time.sleep(0.6)

    holder = context.Process(target=hold)
    holder.start()
    try:
        assert ready.wait(5)
        with pytest.raises(InputError, match="still locked by another process"), file_lock(lock, timeout_s=0.2):
            pass
    finally:
        holder.join(5)
    with file_lock(lock, timeout_s=1.0):  # free again once its holder is gone
        pass


def test_an_unwritable_cache_folder_is_an_input_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="cannot create the engine folder"):
        EngineCache(blocker / "engines").get(_key(), LABEL, _builder())


def test_timing_cache_is_per_tensorrt_and_gpu(tmp_path):
    cache = EngineCache(tmp_path)
    assert cache.timing_cache_path(ORIN).name == "timing.trt10.3.0.0.orin.sm87.cache"
    assert cache.timing_cache_path(RTX).name == "timing.trt10.13.3.9.nvidia-geforce-rtx-4090.sm89.cache"


def test_no_build_reads_a_read_only_cache_and_refuses_without_writing(tmp_path, monkeypatch):
    with pytest.raises(EngineCacheError, match="missing"):  # a cache folder that does not exist is not created
        EngineCache(tmp_path / "nowhere").get(_key(), LABEL, build=None)
    assert not (tmp_path / "nowhere").exists()
    cache = EngineCache(tmp_path / "engines")
    cache.get(_key(), LABEL, _builder())
    for leftover in (tmp_path / "engines").glob("*.lock"):
        leftover.unlink()
    before = sorted(p.name for p in (tmp_path / "engines").iterdir())
    monkeypatch.setattr("export.tensorrt.cache.os.access", lambda path, mode: False)  # as on a read-only mount
    assert cache.get(_key(), LABEL, build=None).load_plan() == b"PLAN-BYTES"
    with pytest.raises(EngineCacheError, match="stale: .* from another graph"):
        cache.get(_key(sha=SHA_B), LABEL, build=None)
    assert sorted(p.name for p in (tmp_path / "engines").iterdir()) == before  # no lock file, nothing written


PORTABLE_RTX = DeviceInfo.portable("1.7.1.116")


def test_product_and_compute_capability_targets_are_key_fields(tmp_path):
    """Issue 24, defect 8: a TensorRT-RTX plan is keyed by product, version and targets, not by the building GPU."""
    rtx = _key(device=PORTABLE_RTX)
    assert (rtx.product, rtx.tensorrt_version, rtx.gpu_name, rtx.compute_capability, rtx.targets) == \
        ("rtx", "1.7.1.116", "portable", "portable", "default")
    assert (_key().product, _key().targets) == ("tensorrt", "")
    turing = _key(device=PORTABLE_RTX, options=BuildOptions(compute_capabilities=("sm75",)))
    assert turing.targets == "sm75" and "targets" in rtx.differences(turing) and turing.digest != rtx.digest
    # TensorRT and TensorRT-RTX of the same numbers are different products
    same_numbers = _key(device=DeviceInfo("portable", None, "1.7.1.116", "tensorrt"))
    assert "product" in rtx.differences(same_numbers) and same_numbers.digest != rtx.digest
    cache = EngineCache(tmp_path)
    entry = cache.get(rtx, LABEL, _builder())
    assert entry.manifest["key"]["product"] == "rtx" and entry.manifest["key"]["targets"] == "default"
    with pytest.raises(EngineCacheError, match=r"foreign: .*TensorRT-RTX 1.7.1.116 \(targets default\); this "
                                               r"machine has TensorRT-RTX 1.7.1.116 \(targets sm75\)"):
        cache.get(turing, LABEL, None)
    assert cache.runtime_cache_path(DeviceInfo("NVIDIA GeForce RTX 4090", (8, 9), "1.7.1.116", "rtx")).name == \
        "runtime.rtx1.7.1.116.nvidia-geforce-rtx-4090.sm89.cache"
