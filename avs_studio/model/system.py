"""AVSSystem: an audio encoder and an AVS model, the unit the engine runs and training saves.

Two kinds exist: **official** (VGGish + one of the six TPAVI variants, from the official
checkpoint files) and **AVS Studio models** (the shipped demo models, and models trained or
fine-tuned with ``avs-studio train``). Reading and writing either kind of file lives in
:mod:`avs_studio.model.model_files`.

Both take the same inputs: frames ``[N*T, 3, 224, 224]`` ImageNet-normalised, log-mel
examples ``[N*T, 96, 64]`` (or ``[N*T, 1, 96, 64]``) and, for AVSS, flags ``[N*T]``; both
return logits ``[N*T, C, 224, 224]``. Padded steps get their audio zeroed before the AVS
model, as the official AVSS test loop does.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from avs_studio.core.setting import Setting


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
    from avs_studio.core.fsutil import require_regular_file
    from avs_studio.model.checkpoint import CheckpointError

    h = hashlib.sha256()
    with open(require_regular_file(path, CheckpointError, "weights file"), "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
