"""The TPAVI audio-visual segmentation model of AVSBench (``Pred_endecoder``), spec §1-§9.

One class covers the six official variants; module and attribute names follow the official
code so that official checkpoints load with ``strict=True``.  S4 and MS3 are identical code;
AVSS differs only by a bias-free ``align_channel``, 71 output channels and the frame flag.

Two evaluation orders (``tpavi_mode``):

* ``"literal"`` reproduces the official order of operations everywhere: quadratic TPAVI,
  explicit PVT attention matrices, all four neck branches over their full kernels, and every
  frame (padded or not) through the whole network.
* ``"fast"`` (default) gives the same function up to float rounding, skipping work whose
  result is known: the cheap TPAVI of §6.3, the fused attention kernel, neck kernel taps that
  only ever read zero padding (dilation >= feature size), and, for AVSS, the backbone, neck
  and decoder of frames whose flag is exactly 0 (their outputs are multiplied by 0; in eval
  mode only, since in training mode those frames enter BatchNorm's batch statistics).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from avs_studio.core.setting import Setting
from avs_studio.model import TPAVI_MODES, VARIANTS, backbone_of, setting_of
from avs_studio.model.backbones.pvt_v2 import PyramidVisionTransformerV2
from avs_studio.model.backbones.resnet import B2ResNet
from avs_studio.model.tpavi import AUDIO_DIM, GROUP, TPAVIModule

__all__ = ["VARIANTS", "AVSModel", "build", "split_variant"]

CHANNELS = 256
_BACKBONE_DIMS = {"resnet50": (256, 512, 1024, 2048), "pvt": (64, 128, 320, 512)}
_DILATIONS = (3, 6, 12, 18)


def split_variant(name: str) -> tuple[Setting, str]:
    """``"ms3_pvt"`` -> ``(Setting.MS3, "pvt")``; raises ValueError for unknown names."""
    return setting_of(name), backbone_of(name)


class ClassifierModule(nn.Module):
    """Neck ``conv1..conv4``: sum of four dilated 3x3 convolutions (an ASPP without norm)."""

    def __init__(self, in_channels: int, out_channels: int = CHANNELS) -> None:
        super().__init__()
        self.conv2d_list = nn.ModuleList(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=d,
                      dilation=d, bias=True)
            for d in _DILATIONS)
        for conv in self.conv2d_list:
            nn.init.normal_(conv.weight, 0.0, 0.01)  # official training initialisation
        self.skip_padding_taps = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``sum_k conv_k(x)``, accumulated into the first branch as upstream."""
        if not self.skip_padding_taps:
            out = self.conv2d_list[0](x)
            for conv in self.conv2d_list[1:]:
                out += conv(x)
            return out
        out = None
        for conv in self.conv2d_list:
            y = _conv_without_padding_taps(conv, x)
            out = y if out is None else out.add_(y)
        return out


def _conv_without_padding_taps(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """A 3x3 dilated conv (padding = dilation) minus the kernel rows/columns that can only
    fall on zero padding: with dilation >= the map's height, the outer rows read rows
    ``y +- d`` which lie outside the map for every output row ``y`` (same for columns)."""
    d = conv.dilation[0]
    h, w = x.shape[-2:]
    rows = slice(1, 2) if d >= h else slice(0, 3)
    cols = slice(1, 2) if d >= w else slice(0, 3)
    if rows == slice(0, 3) and cols == slice(0, 3):
        return conv(x)
    weight = conv.weight[:, :, rows, cols]
    pad = (0 if d >= h else d, 0 if d >= w else d)
    return F.conv2d(x, weight, conv.bias, stride=1, padding=pad, dilation=d)


class ResidualConvUnit(nn.Module):
    """``conv2(relu(conv1(relu(x)))) + relu(x)``; the first ReLU rectifies ``x`` in place."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, kernel_size=3, stride=1, padding=1, bias=True)
        self.conv2 = nn.Conv2d(features, features, kernel_size=3, stride=1, padding=1, bias=True)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual unit; mutates ``x`` (the official in-place quirk, spec §7)."""
        out = self.relu(x)  # same tensor as x: the skip path adds the rectified input
        out = self.conv2(self.relu(self.conv1(out)))
        return out + x


class FeatureFusionBlock(nn.Module):
    """``upsample2x(RCU2(a + RCU1(b)))`` (bilinear, align_corners=True); ``a`` is updated in
    place.  With a single input the block is ``upsample2x(RCU2(a))``."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        """Fuse the coarser decoder map ``xs[0]`` with the skip feature ``xs[1]``."""
        output = xs[0]
        if len(xs) == 2:
            output += self.resConfUnit1(xs[1])
        output = self.resConfUnit2(output)
        return F.interpolate(output, scale_factor=2, mode="bilinear", align_corners=True)


class Interpolate(nn.Module):
    """Parameter-free resize inside ``output_conv`` (bilinear x2, align_corners=False)."""

    def __init__(self, scale_factor: float, mode: str, align_corners: bool = False) -> None:
        super().__init__()
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Resize by ``scale_factor``."""
        return F.interpolate(x, scale_factor=self.scale_factor, mode=self.mode,
                             align_corners=self.align_corners)


class AVSModel(nn.Module):
    """One official AVSBench TPAVI model (``Pred_endecoder`` with TPAVI at all four stages,
    audio-visual form only, as every official script configures it).

    ``forward(frames, audio)`` (S4/MS3) or ``forward(frames, audio, flags)`` (AVSS) with
    ``frames [N, 3, H, W]`` ImageNet-normalised (H = W = 224 in AVSBench), ``audio [N, 128]``
    VGGish embeddings and ``flags [N]`` (1 real frame, 0 padding), N a multiple of 5, frames
    clip after clip.  Returns ``(logits [N, K, H, W], feature_map_list, a_fea_list)`` exactly
    as the official model: the four TPAVI outputs ``[N, 256, H/4s, W/4s]`` (rectified in place
    by the decoder, hence >= 0) and the four aligned audio features ``[N/5, 5, 256]``.
    """

    def __init__(self, variant: str, tpavi_mode: str = "fast") -> None:
        super().__init__()
        self.variant = variant
        self.setting, self.backbone = split_variant(variant)
        self.num_classes = self.setting.num_classes
        dims = _BACKBONE_DIMS[self.backbone]
        # Registration order = official state-dict order.
        if self.backbone == "resnet50":
            self.resnet = B2ResNet()
        else:
            self.encoder_backbone = PyramidVisionTransformerV2()
        self.conv4 = ClassifierModule(dims[3])
        self.conv3 = ClassifierModule(dims[2])
        self.conv2 = ClassifierModule(dims[1])
        self.conv1 = ClassifierModule(dims[0])
        self.path4 = FeatureFusionBlock(CHANNELS)
        self.path3 = FeatureFusionBlock(CHANNELS)
        self.path2 = FeatureFusionBlock(CHANNELS)
        self.path1 = FeatureFusionBlock(CHANNELS)
        audio_bias = self.setting is not Setting.AVSS
        for stage in range(4):
            setattr(self, f"tpavi_b{stage + 1}", TPAVIModule(CHANNELS, audio_bias=audio_bias))
        self.output_conv = nn.Sequential(
            nn.Conv2d(CHANNELS, 128, kernel_size=3, stride=1, padding=1),
            Interpolate(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(128, 32, kernel_size=3, stride=1, padding=1),
            nn.ReLU(True),
            nn.Conv2d(32, self.num_classes, kernel_size=1, stride=1, padding=0),
        )
        self._channels_last = False
        self.set_tpavi_mode(tpavi_mode)

    # -- configuration ----------------------------------------------------------------------

    @property
    def tpavi_mode(self) -> str:
        """Current evaluation order, ``"fast"`` or ``"literal"``."""
        return self._tpavi_mode

    def set_tpavi_mode(self, mode: str) -> AVSModel:
        """Choose the evaluation order (see the module docstring); returns ``self``."""
        if mode not in TPAVI_MODES:
            raise ValueError(f"unknown TPAVI mode {mode!r}: expected one of {TPAVI_MODES}")
        self._tpavi_mode = mode
        fast = mode == "fast"
        for block in self.tpavi_blocks:
            block.mode = mode
        for neck in (self.conv1, self.conv2, self.conv3, self.conv4):
            neck.skip_padding_taps = fast
        if self.backbone == "pvt":
            self.encoder_backbone.set_literal(not fast)
        return self

    def to_channels_last(self) -> AVSModel:
        """Store 2-D convolution weights channels-last (NHWC), which oneDNN runs several
        times faster on CPU; the fast path then also lays the frames out channels-last.
        Values do not change.  Returns ``self``."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.data = module.weight.data.contiguous(
                    memory_format=torch.channels_last)
        self._channels_last = True
        return self

    @property
    def tpavi_blocks(self) -> list[TPAVIModule]:
        """``[tpavi_b1, ..., tpavi_b4]``."""
        return [self.tpavi_b1, self.tpavi_b2, self.tpavi_b3, self.tpavi_b4]

    @property
    def necks(self) -> list[ClassifierModule]:
        """``[conv1, ..., conv4]`` (stage order)."""
        return [self.conv1, self.conv2, self.conv3, self.conv4]

    # -- forward ----------------------------------------------------------------------------

    def forward(self, frames: torch.Tensor, audio: torch.Tensor,
                flags: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Logits, stage features and aligned audio features (see the class docstring).

        ``flags`` is required by the official AVSS model; here it may be omitted for AVSS
        (all frames real, which multiplies by 1 and changes nothing).  S4/MS3 models take
        no flags, as upstream.
        """
        audio, flags = self._check_inputs(frames, audio, flags)
        if self._tpavi_mode == "literal":
            return self._forward_literal(frames, audio, flags)
        return self._forward_fast(frames, audio, flags)

    def backbone_features(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """The four backbone stage maps (strides 4, 8, 16, 32)."""
        if self.backbone == "resnet50":
            return self.resnet(frames)
        return self.encoder_backbone(frames)

    def _check_inputs(self, frames: torch.Tensor, audio: torch.Tensor,
                      flags: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f"frames must be [N, 3, H, W], got {list(frames.shape)}")
        n = frames.shape[0]
        if n == 0 or n % GROUP:
            raise ValueError(f"the number of frames must be a positive multiple of {GROUP} "
                             f"(the official model groups frames by {GROUP}), got {n}")
        if audio is None:
            raise ValueError("audio features are required (the official model has no "
                             "visual-only path in its scripts)")
        if audio.numel() != n * AUDIO_DIM or audio.shape[-1] != AUDIO_DIM:
            raise ValueError(f"audio must hold one {AUDIO_DIM}-d feature per frame "
                             f"([{n}, {AUDIO_DIM}]), got {list(audio.shape)}")
        audio = audio.reshape(n, AUDIO_DIM)
        if flags is not None:
            if self.setting is not Setting.AVSS:
                raise ValueError(f"{self.variant} takes no frame flags (only AVSS models do)")
            if flags.numel() != n:
                raise ValueError(f"flags must hold one value per frame ([{n}]), "
                                 f"got {list(flags.shape)}")
            flags = flags.reshape(n).to(frames.dtype)
        return audio, flags

    def _forward_literal(self, frames, audio, flags):
        """The official order, step by step (including its in-place side effects)."""
        x1, x2, x3, x4 = self.backbone_features(frames)
        feats = [self.conv1(x1), self.conv2(x2), self.conv3(x3), self.conv4(x4)]
        mask = None if flags is None else flags.view(-1, 1, 1, 1)
        if mask is not None:
            feats = [f * mask for f in feats]
        audio_feats: list[torch.Tensor] = []
        for i, block in enumerate(self.tpavi_blocks):
            acc = torch.zeros_like(feats[i])
            out, a = block.forward_frames(feats[i], audio)
            if mask is not None:
                out = out * mask
            acc += out
            acc /= 1  # upstream averages over the (one) enabled TPAVI form
            feats[i] = acc
            audio_feats.append(a)
        d = self.path4(feats[3])
        for path, skip in ((self.path3, feats[2]), (self.path2, feats[1]),
                           (self.path1, feats[0])):
            if mask is not None:
                d = d * mask
            d = path(d, skip)
        if mask is not None:
            d = d * mask
        pred = self.output_conv(d)
        if mask is not None:
            pred = pred * mask
        return pred, feats, audio_feats

    def _forward_fast(self, frames, audio, flags):
        """Same function, skipping work with a known result (see the module docstring)."""
        n = frames.shape[0]
        keep = None  # indices of frames that need the per-frame network (flag != 0)
        scale = None  # flags of those frames, None when they are all exactly 1
        mask = None  # flags of all frames, None when they are all exactly 1
        if flags is not None:
            nonzero = flags != 0
            # Skipping padded frames is exact only with BatchNorm on running statistics:
            # in training mode they take part in the backbone's batch statistics.
            if not self.training and not bool(nonzero.all()):
                keep = nonzero.nonzero().flatten()
            kept_flags = flags if keep is None else flags[keep]
            if not bool((kept_flags == 1).all()):
                scale = kept_flags.view(-1, 1, 1, 1)
            if keep is not None or scale is not None:
                mask = flags.view(-1, 1, 1, 1)
        if keep is not None and keep.numel() == 0:
            keep, scale = None, mask  # every frame is padding: too rare for a shortcut

        x = frames if keep is None else frames[keep]
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        neck_out = [neck(f) for neck, f in zip(self.necks, self.backbone_features(x))]
        if scale is not None:
            neck_out = [f.mul_(scale) for f in neck_out]
        if keep is not None:
            neck_out = [_scatter_frames(f, keep, n) for f in neck_out]

        feats: list[torch.Tensor] = []
        audio_feats: list[torch.Tensor] = []
        for block, f in zip(self.tpavi_blocks, neck_out):
            out, a = block.forward_frames(f, audio)
            feats.append(out if mask is None else out * mask)
            audio_feats.append(a)

        if keep is None:
            skips = feats  # the decoder rectifies them in place, as upstream
        else:
            # The decoder only sees copies of the kept frames, so rectify the returned
            # features here (padded frames are all zero either way).
            skips = [f.relu_().index_select(0, keep) for f in feats]
        d = self.path4(skips[3])
        for path, skip in ((self.path3, skips[2]), (self.path2, skips[1]),
                           (self.path1, skips[0])):
            if scale is not None:
                d = d.mul_(scale)
            d = path(d, skip)
        if scale is not None:
            d = d.mul_(scale)
        pred = self.output_conv(d)
        if scale is not None:
            pred = pred.mul_(scale)
        if keep is not None:
            pred = _scatter_frames(pred, keep, n)
        return pred, feats, audio_feats


def _scatter_frames(x: torch.Tensor, keep: torch.Tensor, n: int) -> torch.Tensor:
    """Place the rows of ``x`` at frame indices ``keep`` of an all-zero ``[n, ...]`` tensor."""
    out = x.new_zeros((n, *x.shape[1:]))
    out.index_copy_(0, keep, x)
    return out


def build(name: str, tpavi_mode: str = "fast") -> AVSModel:
    """A freshly initialised model of one official variant, in eval mode (no download)."""
    return AVSModel(name, tpavi_mode=tpavi_mode).eval()
