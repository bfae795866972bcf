"""Torch models of AVSBench: the six TPAVI variants and the VGGish audio encoder.

Public API (torch is imported only when one of the model functions is first used, so
``import avs_studio.model`` stays cheap):

* ``VARIANTS``: ``("s4_resnet50", "s4_pvt", "ms3_resnet50", "ms3_pvt", "avss_resnet50",
  "avss_pvt")``; ``setting_of(name)`` / ``backbone_of(name)`` tell what a name means.
* ``build(name, tpavi_mode="fast")``: a randomly initialised model (eval mode).
* ``load(path, name=None, tpavi_mode="fast")``: an official checkpoint, variant detected
  from the keys (S4 and MS3 share code and keys: detection answers ``s4_*``).
* ``build_vggish()`` / ``load_vggish(path)``: the audio encoder.
* ``CheckpointError``: raised for any unusable weights file.

``model(frames, audio)`` (S4/MS3) or ``model(frames, audio, flags)`` (AVSS) returns
``(logits [N, K, H, W], feature_map_list, a_fea_list)`` like the official model.

Fastest CPU inference (same outputs up to float rounding): the default ``"fast"`` mode,
``model.to_channels_last()`` once, and calls under ``torch.inference_mode()``.
``model.set_tpavi_mode("literal")`` switches to the official evaluation order.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from avs_studio.core.setting import Setting

if TYPE_CHECKING:  # pragma: no cover
    from avs_studio.model.avs_model import AVSModel, build
    from avs_studio.model.checkpoint import (
        CheckpointError,
        detect_variant,
        load,
        load_vggish,
        read_state_dict,
    )
    from avs_studio.model.vggish import VGGish, build_vggish

VARIANTS: tuple[str, ...] = (
    "s4_resnet50", "s4_pvt", "ms3_resnet50", "ms3_pvt", "avss_resnet50", "avss_pvt")
BACKBONES: tuple[str, ...] = ("resnet50", "pvt")
TPAVI_MODES: tuple[str, ...] = ("fast", "literal")

_LAZY = {
    "AVSModel": "avs_model", "build": "avs_model",
    "CheckpointError": "checkpoint", "load": "checkpoint", "load_vggish": "checkpoint",
    "read_state_dict": "checkpoint", "detect_variant": "checkpoint",
    "VGGish": "vggish", "build_vggish": "vggish",
}

__all__ = [
    "BACKBONES", "TPAVI_MODES", "VARIANTS", "AVSModel", "CheckpointError", "VGGish",
    "backbone_of", "build", "build_vggish", "detect_variant", "load", "load_vggish",
    "read_state_dict", "setting_of", "variant_name",
]


def setting_of(name: str) -> Setting:
    """The AVSBench Setting a variant name belongs to (``"ms3_pvt"`` -> ``Setting.MS3``)."""
    if name not in VARIANTS:
        raise ValueError(f"unknown model variant {name!r}: expected one of {', '.join(VARIANTS)}")
    return Setting.parse(name.split("_", 1)[0])


def backbone_of(name: str) -> str:
    """The visual backbone of a variant name: ``"resnet50"`` or ``"pvt"``."""
    setting_of(name)
    return name.split("_", 1)[1]


def variant_name(setting: Setting | str, backbone: str) -> str:
    """Inverse of setting_of/backbone_of: ``(Setting.AVSS, "pvt")`` -> ``"avss_pvt"``."""
    name = f"{Setting.parse(setting).value}_{backbone}"
    if name not in VARIANTS:
        raise ValueError(f"unknown backbone {backbone!r}: expected one of {', '.join(BACKBONES)}")
    return name


def __getattr__(attr: str) -> Any:
    module = _LAZY.get(attr)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    globals()[attr] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
