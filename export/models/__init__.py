"""PyTorch definitions of the trackers' networks (the reference every exported graph is checked against)."""

from __future__ import annotations

from export.models.config import (
    ATOM_TRACKERS,
    SIAM_TRACKERS,
    TRACKERS,
    AtomConfig,
    ModelConfig,
    SiamConfig,
    config_from_dict,
    default_config,
)


def build_model(config: ModelConfig):
    """A freshly initialised network (eval mode) for an architecture record."""
    if isinstance(config, SiamConfig):
        from export.models.scs_siam import ScsSiamNet

        return ScsSiamNet(config).eval()
    if isinstance(config, AtomConfig):
        from export.models.atom_net import AtomNet

        return AtomNet(config).eval()
    raise TypeError(f"no network for config of type {type(config).__name__}")


__all__ = [
    "ATOM_TRACKERS",
    "SIAM_TRACKERS",
    "TRACKERS",
    "AtomConfig",
    "ModelConfig",
    "SiamConfig",
    "build_model",
    "config_from_dict",
    "default_config",
]
