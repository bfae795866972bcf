"""The TPAVI block (temporal pixel-wise audio-visual interaction), spec §6.

Two evaluation orders of the same function:

* ``"literal"``: the official order.  Every query position of a 5-frame group is dotted with
  every key position, ``F = theta(x)^T phi(A) / (t*h*w)`` as a ``[t*h*w, t*h*w]`` matrix,
  then ``F @ g(x)``.  At 56x56 that is a 15680 x 15680 matrix (~1 GB) per group.
* ``"fast"`` (default): the keys ``phi(A)`` are constant over (y, x) within a frame, so
  ``Y[p] = theta(x)[p] @ M`` with ``M = (1/t) sum_tau phi_tau g_bar_tau^T`` (spec §6.3),
  where ``g_bar_tau`` is the spatial mean of ``g(x)`` over frame tau; since ``g`` is a 1x1
  convolution that mean is ``g`` applied to the frame's mean feature.  In eval mode the whole
  chain theta -> M -> W_z conv -> BatchNorm (running statistics) -> residual is one affine
  map per group, applied with a single batched matmul.  Only float rounding differs from the
  literal order (about 1e-6 on the block output).

The "vv" form (visual self-attention, ``audio=None``) has no shortcut and is always evaluated
literally; the official scripts never use it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from avs_studio.model import TPAVI_MODES

GROUP = 5  # the official model hard-codes 5-frame groups in every setting (spec §6.4)
AUDIO_DIM = 128


class TPAVIModule(nn.Module):
    """Dot-product non-local block whose keys come from the audio (``mode='dot'`` upstream).

    ``audio_bias`` is True for S4/MS3 and False for AVSS (``align_channel`` has no bias).
    """

    def __init__(self, in_channels: int = 256, audio_bias: bool = True,
                 mode: str = "fast") -> None:
        super().__init__()
        inter = max(in_channels // 2, 1)
        self.in_channels = in_channels
        self.inter_channels = inter
        # Registration order is the official state-dict order.
        self.align_channel = nn.Linear(AUDIO_DIM, in_channels, bias=audio_bias)
        self.norm_layer = nn.LayerNorm(in_channels)
        self.g = nn.Conv3d(in_channels, inter, kernel_size=1)
        self.W_z = nn.Sequential(nn.Conv3d(inter, in_channels, kernel_size=1),
                                 nn.BatchNorm3d(in_channels))
        nn.init.zeros_(self.W_z[1].weight)
        nn.init.zeros_(self.W_z[1].bias)
        self.theta = nn.Conv3d(in_channels, inter, kernel_size=1)
        self.phi = nn.Conv3d(in_channels, inter, kernel_size=1)
        self.mode = mode

    @property
    def mode(self) -> str:
        """``"fast"`` or ``"literal"`` evaluation order (same function, see module doc)."""
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in TPAVI_MODES:
            raise ValueError(f"unknown TPAVI mode {value!r}: expected one of {TPAVI_MODES}")
        self._mode = value

    # -- the official 5-D interface ---------------------------------------------------------

    def forward(self, x: torch.Tensor,
                audio: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | int]:
        """Official signature: ``x [b, C, t, h, w]``, ``audio [b, t, 128]`` or None.

        Returns ``(z [b, C, t, h, w], align_channel(audio) [b, t, C])``, or ``(z, 0)`` for the
        visual-only form.
        """
        if audio is None:
            return self._literal(x, x), 0
        a = self.align_channel(audio)
        if self._mode == "literal":
            b, _, t, h, w = x.shape
            keys = a.permute(0, 2, 1)[..., None, None].expand(b, self.in_channels, t, h, w)
            return self._literal(x, keys), a
        b, c, t, h, w = x.shape
        tokens = x.permute(0, 2, 3, 4, 1).reshape(b, t * h * w, c)
        z = self._fast_tokens(tokens, x.mean(dim=(3, 4)).transpose(1, 2), a)
        return z.view(b, t, h, w, c).permute(0, 4, 1, 2, 3), a

    # -- the interface the AVS model uses ---------------------------------------------------

    def forward_frames(self, feat: torch.Tensor,
                       audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame-major form: ``feat [N, C, h, w]``, ``audio [N, 128]``, N a multiple of 5.

        Frames are grouped 5 by 5 (clip-major order), as the official model does.  Returns
        ``(z [N, C, h, w], a [N/5, 5, C])``; ``z`` is laid out channels-last in memory, like
        the official ``post_reshape_for_tpavi`` view.
        """
        n, c, h, w = feat.shape
        audio = audio.reshape(-1, GROUP, audio.shape[-1])
        if self._mode == "literal":
            x = feat.reshape(-1, GROUP, c, h, w).permute(0, 2, 1, 3, 4).contiguous()
            z, a = self.forward(x, audio)
            return z.permute(0, 2, 1, 3, 4).reshape(n, c, h, w), a
        a = self.align_channel(audio)
        tokens = feat.permute(0, 2, 3, 1).reshape(n // GROUP, GROUP * h * w, c)
        frame_means = feat.mean(dim=(2, 3)).view(n // GROUP, GROUP, c)
        z = self._fast_tokens(tokens, frame_means, a)
        return z.view(n, h, w, c).permute(0, 3, 1, 2), a

    # -- evaluation orders ------------------------------------------------------------------

    def _literal(self, x: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Official order with the explicit ``[P, P]`` affinity matrix (P = t*h*w)."""
        b = x.shape[0]
        g_x = self.g(x).view(b, self.inter_channels, -1).permute(0, 2, 1)
        theta_x = self.theta(x).view(b, self.inter_channels, -1).permute(0, 2, 1)
        phi_x = self.phi(keys).view(b, self.inter_channels, -1)
        positions = phi_x.shape[-1]
        ys = []
        # One group at a time: the same products as the batched matmul upstream, but only
        # one P x P matrix alive (and divided in place) instead of two per group.
        for i in range(b):
            f = torch.matmul(theta_x[i], phi_x[i])
            f = f.div_(positions) if not f.requires_grad else f / positions
            ys.append(torch.matmul(f, g_x[i]))
            del f
        y = torch.stack(ys).permute(0, 2, 1).contiguous()
        y = y.view(b, self.inter_channels, *x.shape[2:])
        z = self.W_z(y) + x
        return self.norm_layer(z.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)

    def _fast_tokens(self, tokens: torch.Tensor, frame_means: torch.Tensor,
                     a: torch.Tensor) -> torch.Tensor:
        """Cheap order on channels-last tokens.

        ``tokens [G, t*h*w, C]`` (frame-major positions), ``frame_means [G, t, C]`` (spatial
        mean of each frame's input), ``a [G, t, C]`` (aligned audio).  Returns the
        LayerNorm-ed block output as tokens ``[G, t*h*w, C]``.
        """
        t = frame_means.shape[1]
        inter, c = self.inter_channels, self.in_channels
        w_theta = self.theta.weight.view(inter, c)
        w_phi = self.phi.weight.view(inter, c)
        w_g = self.g.weight.view(inter, c)
        w_z = self.W_z[0].weight.view(c, inter)
        phi_a = F.linear(a, w_phi, self.phi.bias)                 # [G, t, inter]
        g_bar = F.linear(frame_means, w_g, self.g.bias)           # [G, t, inter]
        m = torch.bmm(phi_a.transpose(1, 2), g_bar) / t           # [G, inter, inter]
        bn = self.W_z[1]
        if bn.training or bn.running_mean is None:
            # Batch statistics needed: keep W_z's convolution and BatchNorm as modules.
            g_n, p, _ = tokens.shape
            y = torch.bmm(F.linear(tokens, w_theta, self.theta.bias), m)   # [G, P, inter]
            wy = F.linear(y, w_z, self.W_z[0].bias)
            wy = bn(wy.view(g_n, t, p // t, 1, c).permute(0, 4, 1, 2, 3))
            z = wy.permute(0, 2, 3, 4, 1).reshape(g_n, p, c) + tokens
        else:
            # Eval: BatchNorm is affine, so theta -> M -> W_z -> BN -> +x is one affine map.
            scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)          # [C]
            wz_m = torch.matmul(w_z, m.transpose(1, 2))                       # [G, C, inter]
            lin = scale[:, None] * torch.matmul(wz_m, w_theta)                # [G, C, C]
            lin = lin + torch.eye(c, dtype=lin.dtype, device=lin.device)      # residual
            shift = torch.matmul(wz_m, self.theta.bias) + self.W_z[0].bias    # [G, C]
            shift = scale * (shift - bn.running_mean) + bn.bias
            z = torch.baddbmm(shift[:, None, :], tokens, lin.transpose(1, 2))
        return F.layer_norm(z, (c,), self.norm_layer.weight, self.norm_layer.bias,
                            self.norm_layer.eps)
