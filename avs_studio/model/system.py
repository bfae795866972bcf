"""AVSSystem: an audio encoder and an AVS model, the unit the engine runs and training saves.

Two kinds exist:

- **official**: VGGish + one of the six TPAVI variants, from the official checkpoint files
  (``load_system(model=PATH, vggish=PATH)``);
- **AVS Studio models** (the shipped demo model, and models trained or fine-tuned with
  ``avs-studio train``): one file holding the architecture description and the weights of
  both parts, readable with ``torch.load(weights_only=True)`` (plain dicts, strings,
  numbers and tensors only; no pickled classes).

Both take the same inputs: frames ``[N*T, 3, 224, 224]`` ImageNet-normalised, log-mel
examples ``[N*T, 96, 64]`` (or ``[N*T, 1, 96, 64]``) and, for AVSS, flags ``[N*T]``; both
return logits ``[N*T, C, 224, 224]``. Padded steps get their audio zeroed before the AVS
model, as the official AVSS test loop does.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from avs_studio.core.setting import Setting
from avs_studio.model.checkpoint import CheckpointError

FILE_FORMAT = "avs-studio-model"
FILE_VERSION = 1
MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


@dataclass
class SystemInfo:
    """What a loaded system is: setting, architecture, where it came from."""

    setting: Setting
    arch: str
    name: str
    checkpoint_hash: str = ""
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class AVSSystem(nn.Module):
    """Audio encoder + AVS model with one forward: (frames, log-mel, flags) -> logits."""

    def __init__(self, audio_encoder: nn.Module, avs: nn.Module, info: SystemInfo) -> None:
        super().__init__()
        self.audio_encoder = audio_encoder
        self.avs = avs
        self.info = info

    @property
    def setting(self) -> Setting:
        """The setting this system segments for."""
        return self.info.setting

    def encode_audio(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Log-mel examples ``[N, 96, 64]`` or ``[N, 1, 96, 64]`` -> embeddings ``[N, 128]``."""
        if log_mel.dim() == 3:
            log_mel = log_mel.unsqueeze(1)
        return self.audio_encoder(log_mel)

    def forward(
        self, frames: torch.Tensor, log_mel: torch.Tensor, flags: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``[N*T, C, 224, 224]``."""
        audio = self.encode_audio(log_mel)
        if self.setting is Setting.AVSS:
            if flags is None:
                flags = torch.ones(frames.shape[0], dtype=frames.dtype, device=frames.device)
            audio = audio * flags.to(audio.dtype).view(-1, 1)  # the official loop zeroes padded audio
            return self.avs(frames, audio, flags)[0]
        return self.avs(frames, audio)[0]


def file_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a weights file (provenance of proposals)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def demo_model_path(setting: Setting | str) -> Path:
    """The shipped demo model of a setting: ``models/demo_<setting>.pt``."""
    return MODELS_DIR / f"demo_{Setting.parse(setting).value}.pt"


def is_studio_file(obj: Any) -> bool:
    """True for the dict an AVS Studio model file holds."""
    return isinstance(obj, dict) and obj.get("format") == FILE_FORMAT


def save_system(path: str | os.PathLike[str], system: AVSSystem, *, config: dict, card: dict | None = None) -> None:
    """Write an AVS Studio model file atomically (architecture config + both state dicts)."""
    from avs_studio.core.fsutil import atomic_path

    payload = {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "arch": system.info.arch,
        "setting": system.setting.value,
        "name": system.info.name,
        "config": config,
        "card": card or {},
        "audio_encoder": {k: v.detach().cpu() for k, v in system.audio_encoder.state_dict().items()},
        "avs": {k: v.detach().cpu() for k, v in system.avs.state_dict().items()},
    }
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(payload, tmp)


def load_system(
    model: str | os.PathLike[str] | None = None,
    *,
    vggish: str | os.PathLike[str] | None = None,
    setting: Setting | str | None = None,
    name: str | None = None,
    tpavi_mode: str = "fast",
) -> AVSSystem:
    """Load what the engine runs.

    - ``model=None``: the shipped demo model of ``setting`` (default S4);
    - an AVS Studio model file: its own architecture and audio encoder;
    - an official checkpoint: the TPAVI variant (detected, or ``name``) plus VGGish from
      ``vggish`` (required: the official models were trained on VGGish embeddings).
    Never unpickles arbitrary objects; errors are :class:`CheckpointError`.
    """
    if model is None:
        path = demo_model_path(setting or Setting.S4)
        if not path.is_file():
            raise CheckpointError(f"the demo model {path} is missing from this installation")
        model = path
    path = Path(model)
    from avs_studio.model.checkpoint import read_checkpoint_object

    raw = read_checkpoint_object(path)
    if is_studio_file(raw):
        return studio_system(path, raw, setting)
    from avs_studio.model import setting_of
    from avs_studio.model.checkpoint import load as load_official
    from avs_studio.model.checkpoint import load_vggish, state_dict_of

    sd = state_dict_of(raw, path)
    del raw
    avs = load_official(path, name=name, tpavi_mode=tpavi_mode, state_dict=sd)
    del sd
    st = setting_of(avs.variant)
    if name is None and st is Setting.S4 and setting is not None and Setting.parse(setting) is Setting.MS3:
        # S4 and MS3 checkpoints have the same keys and code: detection can only say s4_*
        avs.variant, avs.setting, st = f"ms3_{avs.backbone}", Setting.MS3, Setting.MS3
    if setting is not None and Setting.parse(setting) is not st:
        raise CheckpointError(
            f"{path.name} is {_an(st)} model, not {_an(Setting.parse(setting))} model"
        )
    if vggish is None:
        raise CheckpointError(
            f"{path.name} is an official {avs.variant} checkpoint; it needs the VGGish weights the "
            "official code uses (vggish-10086976.pth): pass --vggish PATH"
        )
    audio = load_vggish(vggish)
    info = SystemInfo(st, "official", avs.variant, file_hash(path), str(path), {"vggish": str(vggish)})
    return AVSSystem(audio, avs, info).eval()


def studio_system(path: Path, raw: dict, setting: Setting | str | None = None) -> AVSSystem:
    """The system an AVS Studio model file holds, from what ``read_checkpoint_object(path)``
    returned (so that a caller that has read the file does not read it again)."""
    if raw.get("version") != FILE_VERSION:
        raise CheckpointError(f"{path}: AVS Studio model format version {raw.get('version')} is not supported")
    arch = raw.get("arch")
    st = Setting.parse(raw.get("setting", "s4"))
    if setting is not None and Setting.parse(setting) is not st:
        raise CheckpointError(
            f"{path.name} is {_an(st)} model, not {_an(Setting.parse(setting))} model"
        )
    builders = _studio_builders()
    if arch not in builders:
        raise CheckpointError(f"{path}: unknown architecture {arch!r}")
    system = builders[arch](st, dict(raw.get("config", {})))
    for part in ("audio_encoder", "avs"):
        try:
            getattr(system, part).load_state_dict(raw[part], strict=True)
        except (KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: weights do not fit the {arch} architecture ({exc})"[:600]) from None
    system.info = SystemInfo(st, arch, str(raw.get("name", path.stem)), file_hash(path), str(path),
                             {"card": raw.get("card", {}), "config": raw.get("config", {})})  # fmt: skip
    return system.eval()


def _studio_builders() -> dict:
    """Architectures an AVS Studio model file may name -> builder(setting, config) -> AVSSystem."""
    builders = {"official": _official_builder}
    try:
        from avs_studio.model.demo_model import ARCH, build_demo_system
    except ImportError:  # pragma: no cover - the demo architecture ships with the package
        return builders
    builders[ARCH] = build_demo_system
    return builders


def _official_builder(setting: Setting, config: dict) -> AVSSystem:
    """A fine-tuned official variant saved by ``avs-studio train`` (VGGish included)."""
    from avs_studio.model import build, build_vggish

    variant = config.get("variant")
    if not variant:
        raise CheckpointError("an 'official' AVS Studio model file must name its variant")
    info = SystemInfo(setting, "official", variant)
    return AVSSystem(build_vggish(), build(variant, config.get("tpavi_mode", "fast")), info)


def _an(setting: Setting) -> str:
    """'an S4', 'an MS3', 'an AVSS' (each name is read letter by letter)."""
    return f"an {setting.value.upper()}"
