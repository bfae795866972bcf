"""The demo architecture ``demo-tpavi``: the official TPAVI model family, small enough to train
from scratch on a laptop CPU.

Same structure as ``Pred_endecoder`` (spec §2-§9), scaled down:

* visual backbone: a stem and four strided conv stages (BatchNorm + ReLU), strides 4, 8, 16,
  32 like ResNet/PVT, widths ``widths`` (no pretrained weights exist offline);
* necks ``conv1..conv4``: one 3x3 convolution to ``channels`` (the official neck is the sum of
  four dilated 3x3 convolutions; at this width one branch is enough and four times cheaper);
* TPAVI at all four stages: the official :class:`~avs_studio.model.tpavi.TPAVIModule` itself
  at ``channels`` width (5-frame groups, dot product without softmax, divided by the number of
  positions, W_z + BatchNorm, residual, LayerNorm);
* decoder ``path4..path1``: the official :class:`FeatureFusionBlock` (with its in-place ReLU
  quirk, so the returned feature maps are rectified as upstream);
* head: 3x3 conv -> ReLU -> 1x1 conv at 112x112, then bilinear x2 to 224x224 (the official
  head runs a 128->32 conv at 224x224, which would cost more than the whole demo network);
* audio: a small VGG-like encoder on the same VGGish log-mel examples, ``[N, 1, 96, 64]`` ->
  ``[N, 128]`` ending in ReLU like VGGish.

One deliberate addition (``frame_audio``): each neck output also receives a projection of its
own frame's audio embedding (a per-frame bias, ``Linear(128, channels)`` per stage) before
TPAVI.  TPAVI's output at a pixel is ``sum_tau (theta_p . phi_tau) g_tau / t`` over the five
frames of its group, so it tells which objects sound *somewhere in those five seconds* but
not in which second; on the demo data (objects sounding in some seconds only) a model with
TPAVI alone learnt to mark every object that sounds at any time in the clip.  The bias gives
the decoder the frame's own second to gate with.  That is enough for S4 (one sounding kind
per clip: TPAVI finds the kind, the bias says whether anything sounds in this second), not
for MS3: there every object of a clip sounds in some second, and a model with the bias
alone learnt "all objects whenever anything sounds".  So ``frame_gate`` also scales each
channel by its frame's audio (``f * (1 + Linear(audio))``, FiLM-style, zero-initialised so
that it starts as the identity), which lets a channel that carries one kind of object pass
only in the seconds that kind is heard.  TPAVI's maths is unchanged.  (An older option,
``frame_embedding``, adds a learned embedding of the frame's position in its group instead;
it did not help in training and is off.)

``forward`` returns the official triple ``(logits, feature_map_list, a_fea_list)``; AVSS
multiplies by the frame flag at the necks, the TPAVI outputs, the decoder and the logits, as
the official AVSS model does.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from avs_studio.core.setting import Setting
from avs_studio.model.avs_model import FeatureFusionBlock
from avs_studio.model.checkpoint import CheckpointError
from avs_studio.model.system import AVSSystem, SystemInfo
from avs_studio.model.tpavi import AUDIO_DIM, GROUP, TPAVIModule

ARCH = "demo-tpavi"

DEFAULT_CONFIG: dict[str, Any] = {
    "stem": 16,
    "widths": [24, 32, 48, 64],
    "channels": 32,
    "head": 16,
    "audio_widths": [16, 32, 64, 64],
    "frame_embedding": False,
    "frame_audio": True,
    "frame_gate": True,
}


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SmallAudioEncoder(nn.Module):
    """VGGish-shaped audio encoder: log-mel examples ``[N, 1, 96, 64]`` -> ``[N, 128]`` (>= 0).

    Four conv + BatchNorm + ReLU + 2x2 max-pool blocks (96x64 -> 6x4), flattened, one linear
    layer and a final ReLU like VGGish's embedding.
    """

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for w in widths:
            layers += [*_conv_bn_relu(cin, w), nn.MaxPool2d(2)]
            cin = w
        self.features = nn.Sequential(*layers)
        h, w = 96 >> len(widths), 64 >> len(widths)
        self.embeddings = nn.Sequential(nn.Linear(cin * h * w, AUDIO_DIM), nn.ReLU(inplace=True))

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        """``[n, 1, 96, 64]`` (or ``[n, 96, 64]``) -> ``[n, 128]``."""
        if examples.dim() == 3:
            examples = examples.unsqueeze(1)
        if examples.dim() != 4 or tuple(examples.shape[1:]) != (1, 96, 64):
            raise ValueError(f"the audio encoder expects log-mel examples [n, 1, 96, 64], "
                             f"got {list(examples.shape)}")
        x = self.features(examples)
        return self.embeddings(x.flatten(1))


class LightBackbone(nn.Module):
    """Stem (stride 2) and four stages (each a strided conv and a conv): strides 4..32."""

    def __init__(self, stem: int, widths: list[int]) -> None:
        super().__init__()
        self.stem = _conv_bn_relu(3, stem, stride=2)
        stages = []
        cin = stem
        for w in widths:
            stages.append(nn.Sequential(_conv_bn_relu(cin, w, stride=2), _conv_bn_relu(w, w)))
            cin = w
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The four stage maps ``[N, widths[i], H / 2**(i+2), W / 2**(i+2)]``."""
        x = self.stem(x)
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out


class DemoHead(nn.Module):
    """3x3 conv -> ReLU -> 1x1 conv at half resolution, then bilinear x2 (align_corners=False)."""

    def __init__(self, channels: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, hidden, kernel_size=3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.out = nn.Conv2d(hidden, classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits at twice the input resolution."""
        x = self.out(self.relu(self.conv(x)))
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class DemoAVSModel(nn.Module):
    """The ``demo-tpavi`` AVS model (see the module docstring).

    ``forward(frames [N,3,224,224], audio [N,128], flags [N] or None)`` with N a multiple of 5,
    frames clip after clip, returns ``(logits [N,K,224,224], feature_map_list, a_fea_list)``:
    the four TPAVI outputs ``[N, C, h, w]`` (rectified in place by the decoder, as upstream)
    and the four aligned audio features ``[N/5, 5, C]``.  ``decode`` (training only) names the
    frames whose logits are wanted; the decoder then runs on those frames alone.
    """

    def __init__(self, setting: Setting, config: dict[str, Any]) -> None:
        super().__init__()
        cfg = {**DEFAULT_CONFIG, **config}
        self.setting = Setting.parse(setting)
        self.num_classes = self.setting.num_classes
        c = int(cfg["channels"])
        widths = [int(w) for w in cfg["widths"]]
        if len(widths) != 4:
            raise ValueError("the demo backbone has four stages: 'widths' needs four numbers")
        self.backbone = LightBackbone(int(cfg["stem"]), widths)
        self.conv1, self.conv2, self.conv3, self.conv4 = (
            nn.Conv2d(w, c, kernel_size=3, padding=1) for w in widths)
        self.path4, self.path3, self.path2, self.path1 = (FeatureFusionBlock(c) for _ in range(4))
        audio_bias = self.setting is not Setting.AVSS  # as the official AVSS align_channel
        self.tpavi_b1, self.tpavi_b2, self.tpavi_b3, self.tpavi_b4 = (
            TPAVIModule(c, audio_bias=audio_bias) for _ in range(4))
        if cfg["frame_embedding"]:
            self.frame_embedding = nn.Parameter(torch.randn(4, GROUP, c) * 0.1)
        else:
            self.register_parameter("frame_embedding", None)
        self.frame_audio = nn.ModuleList(nn.Linear(AUDIO_DIM, c) for _ in range(4)) \
            if cfg["frame_audio"] else None
        self.frame_gate = None
        if cfg["frame_gate"]:
            self.frame_gate = nn.ModuleList(nn.Linear(AUDIO_DIM, c) for _ in range(4))
            for lin in self.frame_gate:  # starts as the identity: a model without it, unchanged
                nn.init.zeros_(lin.weight)
                nn.init.zeros_(lin.bias)
        self.output_conv = DemoHead(c, int(cfg["head"]), self.num_classes)

    @property
    def necks(self) -> list[nn.Module]:
        """``[conv1, ..., conv4]`` (stage order)."""
        return [self.conv1, self.conv2, self.conv3, self.conv4]

    @property
    def tpavi_blocks(self) -> list[TPAVIModule]:
        """``[tpavi_b1, ..., tpavi_b4]``."""
        return [self.tpavi_b1, self.tpavi_b2, self.tpavi_b3, self.tpavi_b4]

    def forward(self, frames: torch.Tensor, audio: torch.Tensor,
                flags: torch.Tensor | None = None, *, decode: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Logits, stage features and aligned audio features (see the class docstring)."""
        n = frames.shape[0]
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f"frames must be [N, 3, H, W], got {list(frames.shape)}")
        if n == 0 or n % GROUP:
            raise ValueError(f"the number of frames must be a positive multiple of {GROUP}, "
                             f"got {n}")
        if audio.numel() != n * AUDIO_DIM:
            raise ValueError(f"audio must be [{n}, {AUDIO_DIM}], got {list(audio.shape)}")
        audio = audio.reshape(n, AUDIO_DIM)
        mask = None
        if flags is not None and self.setting is Setting.AVSS:
            mask = flags.reshape(n, 1, 1, 1).to(frames.dtype)

        feats: list[torch.Tensor] = []
        audio_feats: list[torch.Tensor] = []
        stage_maps = self.backbone(frames)
        for i, (neck, block, x) in enumerate(zip(self.necks, self.tpavi_blocks, stage_maps)):
            f = neck(x)
            if self.frame_embedding is not None:
                emb = self.frame_embedding[i].repeat(n // GROUP, 1)  # [N, C]: position n % 5
                f = f + emb[:, :, None, None]
            if self.frame_gate is not None:
                f = f * (1.0 + self.frame_gate[i](audio))[:, :, None, None]
            if self.frame_audio is not None:
                f = f + self.frame_audio[i](audio)[:, :, None, None]
            if mask is not None:
                f = f * mask
            out, a = block.forward_frames(f, audio)
            if mask is not None:
                out = out * mask
            feats.append(out)
            audio_feats.append(a)

        if decode is None:
            skips, dmask = feats, mask  # the decoder rectifies them in place, as upstream
        else:
            # The decoder sees copies, so rectify the returned maps here as upstream would.
            skips = [f.relu_().index_select(0, decode) for f in feats]
            dmask = None if mask is None else mask.index_select(0, decode)
        d = self.path4(skips[3])
        for path, skip in ((self.path3, skips[2]), (self.path2, skips[1]),
                           (self.path1, skips[0])):
            if dmask is not None:
                d = d * dmask
            d = path(d, skip)
        if dmask is not None:
            d = d * dmask
        pred = self.output_conv(d)
        if dmask is not None:
            pred = pred * dmask
        return pred, feats, audio_feats


def build_demo_system(setting: Setting | str, config: dict) -> AVSSystem:
    """A randomly initialised ``demo-tpavi`` system (audio encoder + AVS model), eval mode.

    ``config`` overrides :data:`DEFAULT_CONFIG` (the saved file keeps the full config).
    """
    setting = Setting.parse(setting)
    cfg = {**DEFAULT_CONFIG, **(config or {})}
    unknown = set(cfg) - set(DEFAULT_CONFIG)
    if unknown:
        raise CheckpointError(f"unknown demo-tpavi config keys: {', '.join(sorted(unknown))}")
    audio = SmallAudioEncoder([int(w) for w in cfg["audio_widths"]])
    avs = DemoAVSModel(setting, cfg)
    info = SystemInfo(setting, ARCH, f"demo-{setting.value}")
    return AVSSystem(audio, avs, info).eval()


def full_config(config: dict | None = None) -> dict[str, Any]:
    """:data:`DEFAULT_CONFIG` updated with ``config`` (what a model file records)."""
    return {**DEFAULT_CONFIG, **(config or {})}


def count_parameters(module: nn.Module) -> int:
    """Number of parameter elements of a module."""
    return sum(p.numel() for p in module.parameters())
