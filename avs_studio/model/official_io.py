"""Files in the official formats that only torch can write: the cached log-mel pickles.

The official S4/MS3 preprocessing stores each clip's VGGish input as a plain ``pickle`` of
a float32 ``torch.Tensor [5, 1, 96, 64]`` with ``requires_grad=True`` (audio.md §5.2).
Reading such files never needs this module: ``avs_studio.core.audio.logmel.load_logmel_pickle``
rebuilds them with a restricted unpickler that runs no code.
"""

from __future__ import annotations

import os
import pickle

import torch

from avs_studio.core.audio.logmel import log_mel_from_wav
from avs_studio.core.fsutil import atomic_path


def save_logmel_pickle(pkl_path: str | os.PathLike[str], wav_path: str | os.PathLike[str]) -> None:
    """Compute the S4/MS3 log-mel examples of a WAV and pickle them as the official script does."""
    examples = log_mel_from_wav(wav_path, layout="s4")  # [5, 96, 64]; refuses what the script refuses
    tensor = torch.from_numpy(examples[:, None].copy()).float().requires_grad_(True)
    with atomic_path(pkl_path, suffix=".pkl") as tmp, open(tmp, "wb") as fh:
        pickle.dump(tensor, fh)
