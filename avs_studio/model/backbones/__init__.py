"""Visual backbones of the AVS models: the official two-branch ResNet-50 and PVT-v2-b5."""

from avs_studio.model.backbones.pvt_v2 import PyramidVisionTransformerV2
from avs_studio.model.backbones.resnet import B2ResNet

__all__ = ["B2ResNet", "PyramidVisionTransformerV2"]
