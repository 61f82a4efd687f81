import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from edge_tracker.errors import CheckpointError
from export.checkpoint import FORMAT, FORMAT_VERSION, load_model, read_checkpoint, save_checkpoint
from export.models import build_model
from export.models.config import SiamConfig, config_to_json


@pytest.fixture(scope="module")
def siam():
    torch.manual_seed(3)
    config = SiamConfig("sca-siam")
    return build_model(config), config


def _write_raw(path, tensors, config_json, **extra_meta):
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": config_json, "meta": "{}"}
    metadata.update(extra_meta)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)


def test_round_trip_restores_every_tensor(tmp_path, siam):
    model, config = siam
    path = save_checkpoint(tmp_path / "m.safetensors", model, config, meta={"steps": 12})
    loaded, ckpt = load_model(path, expect_tracker="sca-siam")
    assert ckpt.config == config and ckpt.meta == {"steps": 12}
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_half_precision_checkpoint_is_smaller_and_close(tmp_path, siam):
    model, config = siam
    full = save_checkpoint(tmp_path / "f.safetensors", model, config)
    half = save_checkpoint(tmp_path / "h.safetensors", model, config, half=True)
    assert half.stat().st_size < 0.55 * full.stat().st_size
    loaded, _ = load_model(half)
    weight = model.state_dict()["features.0.weight"]
    assert loaded.state_dict()["features.0.weight"].dtype == torch.float32
    assert torch.allclose(loaded.state_dict()["features.0.weight"], weight, rtol=1e-3, atol=1e-4)


def test_wrong_architecture_names_both(tmp_path, siam):
    model, config = siam
    path = save_checkpoint(tmp_path / "m.safetensors", model, config)
    with pytest.raises(CheckpointError, match=r"'sca-siam'.*'aff-atom'"):
        read_checkpoint(path, expect_tracker="aff-atom")


def test_missing_extra_and_mismatched_keys_are_all_listed(tmp_path, siam):
    model, config = siam
    tensors = dict(model.state_dict())
    del tensors["corr_bias"]
    tensors["surplus.weight"] = torch.zeros(2)
    tensors["features.0.weight"] = torch.zeros(3, 3)
    path = tmp_path / "bad.safetensors"
    _write_raw(path, tensors, config_to_json(config))
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    message = str(err.value)
    assert "1 missing key(s): corr_bias" in message
    assert "1 unexpected key(s): surplus.weight" in message
    assert "features.0.weight: file (3, 3) vs model" in message


def test_truncated_file(tmp_path, siam):
    model, config = siam
    path = save_checkpoint(tmp_path / "m.safetensors", model, config)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        read_checkpoint(path)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "nope.safetensors")


def test_pickle_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"state_dict": Evil()}))
    with pytest.raises(CheckpointError, match="not a readable edge_tracker checkpoint"):
        read_checkpoint(path)
    assert not marker.exists()


def test_foreign_safetensors_and_bad_record(tmp_path, siam):
    model, config = siam
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(1)}, str(foreign))
    with pytest.raises(CheckpointError, match="not an edge_tracker checkpoint"):
        read_checkpoint(foreign)
    record = json.loads(config_to_json(config)) | {"bogus": 1}
    bad = tmp_path / "bad_record.safetensors"
    _write_raw(bad, model.state_dict(), json.dumps(record))
    with pytest.raises(CheckpointError, match="bogus"):
        read_checkpoint(bad)
    newer = tmp_path / "newer.safetensors"
    _write_raw(newer, model.state_dict(), config_to_json(config), format_version="99")
    with pytest.raises(CheckpointError, match="format version '99'"):
        read_checkpoint(newer)
