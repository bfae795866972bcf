"""PVT-v2-b5 backbone as the official AVSBench code builds it (spec §4.2).

No positional embedding, class token or head; ``forward`` returns the four stage maps.
LayerNorm eps is 1e-6 for the block and stage norms but 1e-5 for the patch-embedding and
spatial-reduction norms (those two are hard-coded ``nn.LayerNorm(dim)`` upstream).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EMBED_DIMS = (64, 128, 320, 512)
NUM_HEADS = (1, 2, 5, 8)
DEPTHS = (3, 6, 40, 3)
SR_RATIOS = (8, 4, 2, 1)
MLP_RATIO = 4
NORM_EPS = 1e-6


class DWConv(nn.Module):
    """Depthwise 3x3 convolution applied to tokens laid out back on their H x W grid."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, bias=True, groups=dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """Tokens ``[B, H*W, C]`` -> tokens ``[B, H*W, C]``."""
        b, n, c = x.shape
        x = x.transpose(1, 2).view(b, c, h, w)
        return self.dwconv(x).flatten(2).transpose(1, 2)


class Mlp(nn.Module):
    """fc1 -> depthwise conv -> GELU (exact erf form) -> fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = DWConv(hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """Token MLP with a spatial depthwise convolution in the middle."""
        return self.fc2(self.act(self.dwconv(self.fc1(x), h, w)))


class Attention(nn.Module):
    """Multi-head attention whose keys/values come from a spatially reduced token grid."""

    def __init__(self, dim: int, num_heads: int, sr_ratio: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.sr_ratio = sr_ratio
        # When True the score matrix is formed explicitly as upstream does; otherwise the
        # fused scaled_dot_product_attention kernel computes the same softmax(q k^T * s) v.
        self.literal = False
        self.q = nn.Linear(dim, dim, bias=True)
        self.kv = nn.Linear(dim, dim * 2, bias=True)
        self.proj = nn.Linear(dim, dim)
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, kernel_size=sr_ratio, stride=sr_ratio)
            self.norm = nn.LayerNorm(dim)  # eps 1e-5, as upstream

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """Tokens ``[B, N, C]`` attend to the (reduced) tokens of the same image."""
        b, n, c = x.shape
        q = self.q(x).reshape(b, n, self.num_heads, self.head_dim).permute(0, 2, 1, 3)
        if self.sr_ratio > 1:
            kv_in = x.permute(0, 2, 1).reshape(b, c, h, w)
            kv_in = self.norm(self.sr(kv_in).reshape(b, c, -1).permute(0, 2, 1))
        else:
            kv_in = x
        # The first C output rows of `kv` are the keys, the last C the values (head-major).
        kv = self.kv(kv_in).reshape(b, -1, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        if self.literal:
            attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
            out = attn @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    """Pre-norm transformer block (DropPath is the identity at inference)."""

    def __init__(self, dim: int, num_heads: int, sr_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=NORM_EPS)
        self.attn = Attention(dim, num_heads, sr_ratio)
        self.norm2 = nn.LayerNorm(dim, eps=NORM_EPS)
        self.mlp = Mlp(dim, dim * MLP_RATIO)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``."""
        x = x + self.attn(self.norm1(x), h, w)
        return x + self.mlp(self.norm2(x), h, w)


class OverlapPatchEmbed(nn.Module):
    """Strided overlapping convolution, then row-major tokens and LayerNorm (eps 1e-5)."""

    def __init__(self, patch_size: int, stride: int, in_channels: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=stride,
                              padding=patch_size // 2)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        """Image/feature map ``[B, C, H, W]`` -> tokens ``[B, H'*W', dim]``, H', W'."""
        x = self.proj(x)
        h, w = x.shape[-2:]
        return self.norm(x.flatten(2).transpose(1, 2)), h, w


class PyramidVisionTransformerV2(nn.Module):
    """PVT-v2-b5 (``encoder_backbone.*`` keys of the PVT AVS models)."""

    def __init__(self) -> None:
        super().__init__()
        in_channels = 3
        for i, dim in enumerate(EMBED_DIMS):
            # setattr keeps the upstream registration order patch_embed1, block1, norm1, ...
            patch_embed = OverlapPatchEmbed(7 if i == 0 else 3, 4 if i == 0 else 2,
                                            in_channels, dim)
            blocks = nn.ModuleList(Block(dim, NUM_HEADS[i], SR_RATIOS[i])
                                   for _ in range(DEPTHS[i]))
            setattr(self, f"patch_embed{i + 1}", patch_embed)
            setattr(self, f"block{i + 1}", blocks)
            setattr(self, f"norm{i + 1}", nn.LayerNorm(dim, eps=NORM_EPS))
            in_channels = dim

    def set_literal(self, literal: bool) -> None:
        """Form attention score matrices explicitly (True) or use the fused kernel."""
        for m in self.modules():
            if isinstance(m, Attention):
                m.literal = literal

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The four stage maps ``[B, C_s, H/4s, W/4s]`` for strides 4, 8, 16, 32."""
        b = x.shape[0]
        outs = []
        for i in range(len(EMBED_DIMS)):
            x, h, w = getattr(self, f"patch_embed{i + 1}")(x)
            for blk in getattr(self, f"block{i + 1}"):
                x = blk(x, h, w)
            x = getattr(self, f"norm{i + 1}")(x)
            x = x.reshape(b, h, w, -1).permute(0, 3, 1, 2).contiguous()
            outs.append(x)
        return outs
