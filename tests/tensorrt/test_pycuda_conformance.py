"""Our pycuda calls checked against pycuda's real API surface, read from its source (pycuda 2026.1).

**A check of our calls against pycuda's real API surface (its source), not a test of pycuda or of
a GPU.** pycuda cannot be imported without a CUDA driver, so its pinned sdist is downloaded once
into the user cache and its registrations are parsed (``pycuda_source.py``: the Boost.Python
wrapper ``src/wrapper/*.cpp`` and ``pycuda/driver.py``/``compiler.py``). Every pycuda name our
modules use is collected from their source (``pycuda_calls.py``: ``cuda.<name>``, methods called
on the pycuda objects we hold, ``SourceModule(...)``) and must exist there, with the keyword
names we pass, a number of positional arguments it takes, and not only under a build option or
an old CUDA. What pycuda does with the values, and whether the GPU computes the right thing, is
for the ``gpu`` tests.

Skips with the reason when the package index is not reachable (the sdist cannot be downloaded).
"""

from __future__ import annotations

import ast
import subprocess

import pytest

from tests.conftest import REPO_ROOT
from tests.tensorrt.pycuda_calls import (
    CLASSREF,
    DRIVER,
    OURS,
    Collector,
    Typing,
    Use,
    check,
    read_files,
)
from tests.tensorrt.pycuda_source import prepare

# The modules of ours that call pycuda (test_every_module_that_calls_pycuda_is_checked keeps this complete).
OUR_MODULES = ["edge_tracker/backends/tensorrt.py", "edge_tracker/backends/trt_loader.py",
               "edge_tracker/backends/cuda_memory.py",
               "edge_tracker/preprocess/cuda/preprocessor.py", "export/tensorrt/calibrator.py",
               "tests/tensorrt/gpu.py", "tests/tensorrt/test_gpu_crop_kernel.py"]

# What the collector is told rather than infers; everything else follows from assignments.
TYPING = Typing(
    # our convention: `cuda` is pycuda.driver wherever it appears (import_gpu_runtime()[1], a parameter);
    # `gpu` is a CudaDevice (the crop kernel tests' fixture; CudaPreprocessor annotates its own)
    names={"cuda": DRIVER, "gpu": OURS + "CudaDevice"},
    # CudaDevice.cuda is a property returning import_gpu_runtime()[1]; _cuda is its constructor argument
    attributes={("CudaDevice", "cuda"): DRIVER, ("CudaDevice", "_cuda"): DRIVER},
    # result classes of the pycuda calls whose results we keep (from pycuda's source: mem_alloc's
    # manage_new_object of a device_allocation, retain_primary_context's context, CudaModule.get_function
    # -> Module.get_function's function, Event.record/synchronize's return_self)
    returns={(DRIVER, "mem_alloc"): "DeviceAllocation", ("Device", "retain_primary_context"): "Context",
             ("SourceModule", "get_function"): "Function", ("Event", "record"): "Event",
             ("Event", "synchronize"): "Event"},
    imports={"pycuda.compiler.SourceModule": CLASSREF + "SourceModule"},
)

# Uses the collector must find (a floor: if the inference loses track of a variable, this fails).
EXPECTED = {
    "driver.init()", "Device.count()", "Device.__init__(1 positional)", "Device.name()", "Device.compute_capability()",
    "Device.retain_primary_context()", "Context.push()", "Context.pop()", "Context.synchronize()", "driver.Error",
    "Stream.__init__()", "Stream.synchronize()", "Stream.handle", "Event.__init__()", "Event.record(1 positional)",
    "Event.synchronize()", "Event.time_since(1 positional)", "driver.mem_alloc(1 positional)",
    "DeviceAllocation.__int__()", "DeviceAllocation.free()", "driver.pagelocked_empty(2 positional)",
    "driver.memcpy_htod_async(3 positional)", "driver.memcpy_dtoh_async(3 positional)",
    "driver.memcpy_htod(2 positional)", "driver.memcpy_dtoh(2 positional)",
    "driver.memcpy_dtod_async(4 positional)", "driver.memset_d8_async(4 positional)",
    "SourceModule.__init__(1 positional, no_extern_c=)", "SourceModule.get_function(1 positional)",
    "Function.prepare(1 positional)", "Function.prepared_async_call(14 positional)",
}


@pytest.fixture(scope="module")
def surface():
    found = prepare()
    if isinstance(found, str):
        pytest.skip(found)
    return found


def _uses(surface, files: dict[str, str]) -> list[Use]:
    return Collector(surface, TYPING).collect(files)


def test_the_parsed_surface_holds_what_pycudas_source_defines(surface):
    counts = surface.counts()
    print(f"\npycuda {surface.version} from {surface.root}: {counts}")
    driver = surface.modules["driver"]
    assert counts["_driver functions"] >= 40 and counts["_driver classes"] >= 30 and counts["_driver enums"] >= 20
    # C++ registrations, with their keyword names (wrap_cudadrv.cpp) ...
    assert driver["memcpy_htod_async"].overloads[0].names == ("dest", "src", "stream")
    assert driver["memcpy_htod_async"].origin.startswith("src/wrapper/wrap_cudadrv.cpp:")
    assert driver["pagelocked_empty"].overloads[0].names == ("shape", "dtype", "order", "mem_flags")
    assert surface.lookup("Event", "record").overloads[0].names == ("stream",)
    assert surface.lookup("Event", "time_since").overloads[0].names is None  # DEF_SIMPLE_METHOD: positional only
    assert surface.lookup("Context", "synchronize").kind == "staticmethod"
    assert surface.lookup("Stream", "handle").kind == "property"
    assert {"Error", "LogicError", "MemoryError"} <= set(driver)
    assert "SCHED_BLOCKING_SYNC" in surface.classes["ctx_flags"].members
    # ... the Python layer: driver.py's own functions and what it attaches to the C++ classes ...
    assert driver["pagelocked_zeros"].origin.startswith("pycuda/driver.py:")
    prepared = surface.lookup("Function", "prepared_async_call")
    assert prepared.origin.startswith("pycuda/driver.py:")
    assert prepared.overloads[0].names == ("grid", "block", "stream") and prepared.overloads[0].keywords == ("shared_size",)
    assert set(surface.lookup("Function", "__call__").overloads[0].keywords) >= {"block", "grid", "stream", "shared"}
    # ... Device.__getattr__ reads device attributes by name; compiler.py's SourceModule and its base
    assert surface.lookup("Device", "max_threads_per_block") is not None
    assert surface.lookup("Device", "max_thread_per_block") is None
    assert surface.modules["compiler"]["SourceModule"].origin.startswith("pycuda/compiler.py:")
    assert "no_extern_c" in surface.lookup("SourceModule", "__init__").overloads[0].names
    assert surface.lookup("SourceModule", "get_function").origin.startswith("pycuda/compiler.py:")
    # registrations under a build option or an old CUDA are marked
    assert "HAVE_GL" in driver["make_gl_context"].condition
    assert "CUDAPP_CUDA_VERSION < 8000" in surface.lookup("compute_mode", "EXCLUSIVE").condition


def test_every_pycuda_call_of_ours_exists_with_the_arguments_we_pass(surface):
    uses = _uses(surface, read_files(REPO_ROOT, OUR_MODULES))
    names = sorted({str(u) for u in uses})
    print(f"\n{len(names)} distinct pycuda uses in {len(OUR_MODULES)} modules:\n  " + "\n  ".join(names))
    missing = EXPECTED - set(names)
    assert not missing, f"the collector no longer sees {sorted(missing)}"
    assert check(uses, surface) == []


BROKEN = '''
from pycuda.compiler import SourceModule

def run(cuda, host, n):
    stream = cuda.Stream()
    buffer = cuda.mem_alloc(n)
    cuda.memcpy_htod_asynx(buffer, host, stream)
    cuda.memcpy_htod_async(buffer, host, strem=stream)
    cuda.memcpy_htod_async(buffer, host, stream, src=host)
    cuda.memcpy_htod(buffer)
    stream.synchronise()
    stream.synchronize(timeout=1)
    event = cuda.Event()
    event.record(stream).time_till(event, 3)
    start = cuda.Event().record(stream)
    start.time_since(end=event)
    function = SourceModule("...", no_extern=True).get_function("k")
    function.prepared_async_call((1, 1), (16, 16, 1), stream, buffer, shared=64)
    function(buffer, block=(16, 16, 1), grid=(1, 1), stream=stream, shared=0)
    int(buffer.pointer)
    cuda.make_gl_context(0)
'''


def test_made_up_names_and_wrong_arguments_are_reported(surface):
    problems = check(_uses(surface, {"broken.py": BROKEN}), surface)
    print("\n" + "\n".join(problems))
    text = "\n".join(problems)
    assert "broken.py:7: pycuda.driver.memcpy_htod_asynx does not exist" in text
    assert "broken.py:8: " in text and "no argument named 'strem' (it has ['dest', 'src', 'stream'])" in text
    assert "broken.py:9: " in text and "'src' given both by position and by name" in text
    assert "broken.py:10: " in text and "argument(s) ['src'] missing" in text
    assert "broken.py:11: pycuda Stream.synchronise does not exist" in text
    assert "broken.py:12: " in text and "positional arguments only, got keywords ['timeout']" in text
    assert "broken.py:16: " in text and "positional arguments only, got keywords ['end']" in text
    assert "broken.py:17: " in text and "no argument named 'no_extern'" in text
    assert "broken.py:18: " in text and "its **kwargs takes only ['shared_size'], not 'shared'" in text
    assert "broken.py:20: pycuda DeviceAllocation.pointer does not exist" in text
    assert "broken.py:21: " in text and "exists only when HAVE_GL" in text
    # the correct calls in the same code are not reported: Event.record(stream) -> Event, Function.__call__'s keywords
    assert not [p for p in problems if p.startswith(("broken.py:5:", "broken.py:6:", "broken.py:13:", "broken.py:14:",
                                                     "broken.py:15:", "broken.py:19:"))]
    assert len(problems) == 11


def test_every_module_that_calls_pycuda_is_checked():
    """Any module of ours that imports pycuda or reads ``cuda.<name>`` / ``<x>.cuda.<name>`` (not ``torch.cuda``) is in OUR_MODULES."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    helpers = {"tests/tensorrt/pycuda_calls.py", "tests/tensorrt/pycuda_source.py", "tests/tensorrt/test_pycuda_conformance.py"}
    calling = []
    for path in sorted(set(listed) - helpers):
        tree = ast.parse((REPO_ROOT / path).read_text())
        for node in ast.walk(tree):
            imports = isinstance(node, ast.Import) and any(a.name.split(".")[0] == "pycuda" for a in node.names) or \
                isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pycuda"
            reads = isinstance(node, ast.Attribute) and (
                isinstance(node.value, ast.Name) and node.value.id == "cuda"
                or isinstance(node.value, ast.Attribute) and node.value.attr in ("cuda", "_cuda")
                and not _is_torch(node.value.value))
            if imports or reads:
                calling.append(path)
                break
    assert set(calling) - set(OUR_MODULES) == set()
    assert "edge_tracker/backends/tensorrt.py" in calling and "export/tensorrt/calibrator.py" in calling


def _is_torch(node) -> bool:
    return isinstance(node, ast.Name) and node.id == "torch" or isinstance(node, ast.Attribute) and node.attr == "torch"
