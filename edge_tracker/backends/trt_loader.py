"""Loading an export folder as TensorRT runners: one cached engine per phase, built where missing.

``open_model(export_dir, backend="trt", device="cuda:N", precision=...)`` comes here. In order:

1. the device is read (``auto``/``cuda`` -> GPU 0, ``cuda:N``), and TensorRT (or TensorRT-RTX:
   ``tensorrt`` first, then ``tensorrt_rtx``) and pycuda are imported (:func:`check_available`):
   where either is missing, this fails first, with one line saying what is missing and how to get
   it (``MissingDependencyError``, exit code 2), before any file is read or written;
2. the GPU's primary context is opened; its name and compute capability and TensorRT's version
   make the engines' cache keys (``export.tensorrt.cache``); a TensorRT-RTX plan's key is the
   portable one it was built under (product, version, compute capability targets), and the
   runners share a runtime cache file for this GPU in the engine cache;
3. each phase's engine is taken from the engine cache (``$EDGE_TRACKER_ENGINES``, else
   ``<user cache>/engines``), built now where missing or unusable, or, with ``no_build``, refused
   with the reason (stale, foreign, corrupt, missing) and the command that builds it;
4. one :class:`~edge_tracker.backends.tensorrt.TensorRTRunner` per phase, all on the tracker's
   stream (one :class:`~edge_tracker.backends.tensorrt.CudaDevice` per loaded model).

The engine cache and the build live on the build side (``export.tensorrt``) and are imported here
lazily, the way the PyTorch backend is reached: only when ``--backend trt`` is asked for.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_tracker.backends import LoadedModel
from edge_tracker.backends import recommended_params as _recommended
from edge_tracker.backends.cuda_memory import CudaMemory
from edge_tracker.backends.tensorrt import (
    CudaDevice,
    TensorRTRunner,
    import_gpu_runtime,
    import_tensorrt,
)
from edge_tracker.backends.trt_runtime_cache import RuntimeCacheFile
from edge_tracker.errors import InputError
from edge_tracker.manifest import read_manifest

ENGINES_ENV = "EDGE_TRACKER_ENGINES"  # where engines are cached when no engine_dir is given


@dataclass
class TensorRTModel(LoadedModel):
    """A loaded model whose runners share one GPU context and stream (``gpu``).

    :meth:`preprocessor` gives a tracker the GPU crop kernel on the same stream, so crops flow
    into the engines without a host copy or a synchronisation; :meth:`device_memory` gives it
    buffers of its own on that stream, so what it keeps between phases stays on the device.
    """

    gpu: CudaDevice | None = None
    preprocessors: list = field(default_factory=list)
    memories: list = field(default_factory=list)

    def preprocessor(self):
        """A new :class:`~edge_tracker.preprocess.cuda.CudaPreprocessor` on this model's GPU and stream."""
        from edge_tracker.preprocess.cuda import CudaPreprocessor

        made = CudaPreprocessor(self.gpu)
        self.preprocessors.append(made)
        return made

    def device_memory(self) -> CudaMemory:
        """A new :class:`~edge_tracker.backends.cuda_memory.CudaMemory` on this model's GPU and stream."""
        made = CudaMemory(self.gpu)
        self.memories.append(made)
        return made

    def close(self) -> None:
        for made in self.preprocessors + self.memories:
            made.close()
        self.preprocessors, self.memories = [], []
        super().close()
        if self.gpu is not None:
            self.gpu.close()
            self.gpu = None


def cuda_index(device: str) -> int:
    """``auto``/``cuda`` -> 0, ``cuda:N`` -> N; anything else (``cpu``) is refused: TensorRT runs on a GPU."""
    if device in ("auto", "cuda"):
        return 0
    match = re.fullmatch(r"cuda:(\d+)", str(device))
    if match is None:
        raise InputError(f"--backend trt runs on an NVIDIA GPU: use --device cuda or cuda:N, not {device!r} "
                         "(--backend ort runs on the CPU)")
    return int(match.group(1))


def check_available(what: str = "--backend trt", instead: str = "Without them use --backend ort",
                    product: str = "auto") -> tuple[Any, Any]:
    """``(tensorrt, pycuda.driver)`` of a release we know, or one line saying what is missing (see step 1).

    Cheap to call first: a command that will need engines (``track --backend trt``, the engine step
    of ``python -m export build``) calls it before it reads or writes anything.
    """
    from export.tensorrt_support import PRODUCTS, features, product_named, product_of

    modules = [p.module for p in PRODUCTS.values()] if product == "auto" else [product_named(product).module]
    trt, cuda = import_gpu_runtime(what, instead, modules)

    features(trt.__version__, product_of(trt).key)  # InputError for a release the build and runner are not written for
    return trt, cuda


@contextlib.contextmanager
def build_device(product: str = "auto", what: str = "building TensorRT engines",
                 instead: str = "The ONNX graphs are usable with --backend ort") -> Iterator[tuple[Any, Any]]:
    """``(trt module, export.tensorrt.DeviceInfo)`` to build ``product``'s engines ("tensorrt", "rtx", "auto").

    TensorRT builds on GPU 0, opened for the build (pycuda needed). TensorRT-RTX builds portable
    plans without a GPU, a CUDA driver or pycuda. "auto": TensorRT where installed, else TensorRT-RTX.
    """
    from export.tensorrt import DeviceInfo
    from export.tensorrt_support import PRODUCTS, features, product_named, product_of

    modules = [p.module for p in PRODUCTS.values()] if product == "auto" else [product_named(product).module]
    trt = import_tensorrt(what, instead, modules)
    release = features(trt.__version__, product_of(trt).key)
    if release.builds_without_gpu:
        yield trt, DeviceInfo.portable(release.version, release.product)
        return
    cuda = import_gpu_runtime(what, instead, (trt.__name__,))[1]
    gpu = CudaDevice(0, cuda).open()
    try:
        yield trt, DeviceInfo(gpu.name, gpu.compute_capability, release.version, release.product)
    finally:
        gpu.close()


def default_engine_dir() -> Path:
    """``$EDGE_TRACKER_ENGINES``, else ``engines`` in the user cache (``edge_tracker.cache.cache_dir``)."""
    if os.environ.get(ENGINES_ENV):
        return Path(os.environ[ENGINES_ENV]).expanduser()
    from edge_tracker.cache import cache_dir

    return cache_dir() / "engines"


def load(model: Path, device: str = "cuda", tracker: str | None = None, precision: str = "fp32", *,
         engine_dir: str | Path | None = None, no_build: bool = False, options=None,
         product: str = "auto") -> TensorRTModel:
    """Runners of every phase of the export folder ``model`` at ``precision`` (see the module docstring).

    ``options``: ``export.tensorrt.BuildOptions`` for engines built here (and the DLA core to run on;
    TensorRT-RTX's compute capability targets the plans were built for). ``product``: "tensorrt",
    "rtx" or "auto" (TensorRT where installed, else TensorRT-RTX).
    """
    index = cuda_index(device)
    trt, cuda = check_available(product=product)
    model = Path(model)
    if not model.is_dir():
        raise InputError(f"--backend trt needs an export folder (from `python -m export onnx|build`), got {model}")
    from export.tensorrt import BuildOptions, DeviceInfo, EngineCache
    from export.tensorrt.engines import engines_for_export

    from export.tensorrt_support import features, product_of

    options = options or BuildOptions()
    release = features(trt.__version__, product_of(trt).key)
    gpu = CudaDevice(index, cuda).open()
    try:
        here = DeviceInfo(gpu.name, gpu.compute_capability, release.version, release.product)
        machine = DeviceInfo.portable(release.version, release.product) if release.builds_without_gpu else here
        cache = EngineCache(Path(engine_dir) if engine_dir is not None else default_engine_dir())
        name, engines = engines_for_export(model, precision, cache, machine, options, build=not no_build, trt=trt)
        if tracker is not None and name != tracker:
            raise InputError(f"{model} holds a '{name}' export, but '{tracker}' was asked for")
        def runtime_cache():
            return RuntimeCacheFile(cache.runtime_cache_path(here), cache.write_runtime_cache)

        runners = {phase: TensorRTRunner(phase, entry.load_plan, entry.io, gpu, options.dla_core, trt,
                                         runtime_cache() if release.runtime_cache else None)
                   for phase, entry in engines.items()}
        return TensorRTModel(name, runners, model, "trt", precision, recommended_params(model), gpu=gpu)
    except BaseException:
        gpu.close()
        raise


def recommended_params(model: Path) -> dict[str, Any]:
    """The tracking parameters the export's checkpoint recommends (its manifest keeps the checkpoint's meta)."""
    return _recommended(read_manifest(model, verify=False)["source"].get("meta") or {}, model)
