"""ResNet-50 with the duplicate last two stages of the official ``B2_ResNet`` (spec §4.1).

The AVS model runs ``conv1 -> bn1 -> relu -> maxpool -> layer1 -> layer2 -> layer3_1 ->
layer4_1``; ``layer3_2`` / ``layer4_2`` are never executed but must exist because every
official checkpoint holds them.
"""

from __future__ import annotations

import torch
from torch import nn


class Bottleneck(nn.Module):
    """ResNet "v1.5" bottleneck: 1x1 -> 3x3 (carries the stride) -> 1x1, expansion 4."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        # Attribute order is the state-dict order of the official checkpoints.
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block output ``relu(bn3(conv3(...)) + shortcut(x))``."""
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += shortcut
        return self.relu(out)


def _make_layer(in_channels: int, width: int, blocks: int, stride: int) -> nn.Sequential:
    out_channels = width * Bottleneck.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )
    layers = [Bottleneck(in_channels, width, stride, downsample)]
    layers += [Bottleneck(out_channels, width) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class B2ResNet(nn.Module):
    """The official two-branch ResNet-50 (``resnet.*`` keys of the ResNet AVS models)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = _make_layer(64, 64, 3, stride=1)
        self.layer2 = _make_layer(256, 128, 4, stride=2)
        self.layer3_1 = _make_layer(512, 256, 6, stride=2)
        self.layer4_1 = _make_layer(1024, 512, 3, stride=2)
        # The official code resets its running in-channel count to 512 before building the
        # duplicate branch, so it has exactly the shapes of layer3_1 / layer4_1.
        self.layer3_2 = _make_layer(512, 256, 6, stride=2)
        self.layer4_2 = _make_layer(1024, 512, 3, stride=2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The four stage maps the AVS model uses: strides 4, 8, 16, 32 (256..2048 ch)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x1 = self.layer1(x)
        x2 = self.layer2(x1)
        x3 = self.layer3_1(x2)
        x4 = self.layer4_1(x3)
        return [x1, x2, x3, x4]
