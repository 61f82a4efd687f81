"""The PyTorch reference backend under the runner contract: host arrays, outputs left where they are
computed, inference times, and (``gpu``) device tensors chained between phases without host copies."""

from __future__ import annotations

import numpy as np
import pytest

from edge_tracker.backends import open_model
from edge_tracker.errors import InputError


@pytest.fixture(scope="module")
def siam_phases():
    import torch

    from export.models import build_model, default_config
    from export.phases import build_phases

    torch.manual_seed(3)
    return {p.name: p for p in build_phases(build_model(default_config("scs-siam")).eval())}


def _template(seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (1, 3, 135, 135)).astype(np.float32)


def test_torch_runner_on_the_cpu_honours_the_contract(siam_phases):
    import torch

    from export.torch_backend import TorchRunner

    with TorchRunner(siam_phases["template"], "cpu") as runner:
        assert runner.timing == "host" and runner.last_inference_ms is None
        kernel = runner.infer({"template": _template()})["kernel"]
        assert isinstance(kernel, np.ndarray) and kernel.shape == (1, 384, 7, 7)
        assert runner.last_inference_ms > 0
        left = runner.infer({"template": torch.from_numpy(_template())}, copy_outputs_to_host=False)["kernel"]
        assert isinstance(left, torch.Tensor)  # outputs left as computed (a torch tensor)
        np.testing.assert_array_equal(left.numpy(), kernel)


def test_torch_backend_loads_a_checkpoint_with_its_recommendation(exports):
    checkpoint, _ = exports("scs-siam")
    loaded = open_model(checkpoint, "torch", "cpu", "scs-siam")
    assert loaded.tracker == "scs-siam" and sorted(loaded.runners) == ["search", "template"]
    assert loaded.backend == "torch" and loaded.recommended_params == {}
    with pytest.raises(InputError, match="fp32 reference"):
        open_model(checkpoint, "torch", "cpu", precision="fp16")


@pytest.mark.gpu
def test_device_tensors_chain_from_template_to_search_without_host_copies(siam_phases):
    """On CUDA: inputs read in place, the kernel stays on the device between phases, CUDA-event times."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (torch.cuda.is_available() is False here)")
    from export.torch_backend import TorchRunner

    template = torch.from_numpy(_template()).cuda()
    search = torch.from_numpy(np.random.default_rng(1).uniform(0, 255, (3, 3, 263, 263)).astype(np.float32)).cuda()
    with TorchRunner(siam_phases["template"], "cuda") as t_runner, TorchRunner(siam_phases["search"], "cuda") as s_runner:
        assert t_runner.timing == "cuda_events" and t_runner.accepts_device_arrays
        kernel = t_runner.infer({"template": template}, copy_outputs_to_host=False)["kernel"]
        assert kernel.is_cuda and t_runner.last_inference_ms > 0
        response = s_runner.infer({"search": search, "kernel": kernel}, copy_outputs_to_host=False)["response"]
        assert response.is_cuda and response.shape == (3, 1, 17, 17)
    with TorchRunner(siam_phases["template"], "cpu") as t_cpu, TorchRunner(siam_phases["search"], "cpu") as s_cpu:
        kernel_cpu = t_cpu.infer({"template": template.cpu().numpy()})["kernel"]
        reference = s_cpu.infer({"search": search.cpu().numpy(), "kernel": kernel_cpu})["response"]
    scale = np.abs(reference).max()
    assert np.abs(response.cpu().numpy() - reference).max() <= 1e-3 * scale
