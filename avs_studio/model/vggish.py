"""VGGish audio encoder as the official AVSBench code uses it (spec §11).

Input: log-mel examples ``[n, 1, 96, 64]`` (96 frames x 64 mel bands); output: the 128-d
embedding after the final ReLU.  No PCA / quantisation post-processing (every official
config disables it).  The convolutional map ``[n, 512, 6, 4]`` is flattened in
(H, W, C) order, matching the TensorFlow original.
"""

from __future__ import annotations

import torch
from torch import nn

EMBEDDING_DIM = 128
EXAMPLE_SHAPE = (96, 64)
_CONV_PLAN = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M")


def _features() -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 1
    for v in _CONV_PLAN:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_channels, int(v), kernel_size=3, padding=1),
                       nn.ReLU(inplace=True)]
            in_channels = int(v)
    return nn.Sequential(*layers)


class VGGish(nn.Module):
    """The VGG network of torchvggish (``features.*`` and ``embeddings.*`` keys)."""

    variant = "vggish"

    def __init__(self) -> None:
        super().__init__()
        self.features = _features()
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 6 * 4, 4096), nn.ReLU(True),
            nn.Linear(4096, 4096), nn.ReLU(True),
            nn.Linear(4096, EMBEDDING_DIM), nn.ReLU(True),
        )

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        """``[n, 1, 96, 64]`` (or ``[n, 96, 64]``) log-mel examples -> ``[n, 128]``."""
        if examples.dim() == 3:
            examples = examples.unsqueeze(1)
        if examples.dim() != 4 or examples.shape[1] != 1 or \
                tuple(examples.shape[2:]) != EXAMPLE_SHAPE:
            raise ValueError(f"VGGish expects log-mel examples [n, 1, 96, 64], "
                             f"got {list(examples.shape)}")
        x = self.features(examples)
        # (n, C, H, W) -> (n, H, W, C): channel fastest, as the TensorFlow weights expect.
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        return self.embeddings(x)


def build_vggish() -> VGGish:
    """A freshly initialised VGGish in eval mode (no download)."""
    return VGGish().eval()
