import dataclasses

import pytest

from edge_tracker.errors import ConfigError
from export.models.config import (AtomConfig, SiamConfig, config_from_dict, config_to_dict,
                                  default_config)


@pytest.mark.parametrize("tracker", ["scs-siam", "sca-siam", "ssa-siam", "aff-atom", "atom"])
def test_round_trip(tracker):
    config = default_config(tracker)
    assert config_from_dict(config_to_dict(config)) == config


def test_unknown_key_is_rejected_with_valid_keys_listed():
    data = config_to_dict(SiamConfig()) | {"templat_size": 127}
    with pytest.raises(ConfigError) as err:
        config_from_dict(data)
    assert "templat_size" in str(err.value) and "template_size" in str(err.value)


def test_unknown_tracker_lists_choices():
    with pytest.raises(ConfigError, match="aff-atom"):
        default_config("siamfc")


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        AtomConfig().sample_size = 256


def test_invalid_values_are_rejected():
    with pytest.raises(ConfigError, match="multiple of 32"):
        AtomConfig(sample_size=300)
    with pytest.raises(ConfigError, match="num_scales"):
        SiamConfig(num_scales=0)


def test_variant_properties():
    assert (SiamConfig("scs-siam").channel_attention, SiamConfig("scs-siam").spatial_attention) == (True, True)
    assert (SiamConfig("sca-siam").channel_attention, SiamConfig("sca-siam").spatial_attention) == (True, False)
    assert (SiamConfig("ssa-siam").channel_attention, SiamConfig("ssa-siam").spatial_attention) == (False, True)
    assert AtomConfig("aff-atom").iou_layers == ("layer3", "layer4") and AtomConfig("aff-atom").iaff
    assert AtomConfig("atom").iou_layers == ("layer2", "layer3") and not AtomConfig("atom").iaff
    assert AtomConfig("atom").classifier_layers == ("layer3",)
