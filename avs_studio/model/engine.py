"""The inference engine: clip -> model inputs -> AVS system -> score maps -> masks.

One engine serves the GUI (:meth:`Engine.propose_clip`) and ``avs-studio propose``
(:mod:`avs_studio.model.propose`). The work is cut in two halves:

* :func:`~avs_studio.model.inputs.prepare_clip` (CPU, no torch): decode the sampled frames,
  resize them as the official loader does and normalise them (``Clip.model_frames``),
  compute the log-mel examples in the setting's layout (``Clip.log_mel``: S4/MS3
  repeat-last, AVSS zero padding to 10) and record each frame's own size. It runs in worker
  processes while the main process runs the model;
  :func:`~avs_studio.model.prefetch.iter_prepared` keeps a bounded number of prepared clips
  in flight.
* :meth:`Engine.run` (torch): whole clips through the system under ``torch.inference_mode()``,
  returning one :class:`ClipScores` per clip: logits at 224 x 224 plus probabilities, masks
  and resizing to each frame's own resolution.

Devices: CUDA when present, else Apple MPS, else the CPU. Precision: float32 by default;
``bf16``/``fp16`` are autocast on a GPU only (refused on the CPU, where they would only be
slower or unsupported). With float32 on CUDA, TF32 is switched off (process-wide) so that
results match the reference within its tolerance (model.md §15: TF32 alone moves logits by
about 1e-3); pass ``tf32=True`` to trade that for speed. The engine prepares the system it
is given *in place*: eval mode, moved to the device, and on CPU/CUDA the official TPAVI
model's convolution weights stored channels-last (values unchanged).

Importing this module does not import torch (worker processes only prepare inputs); torch
is imported when an :class:`Engine` is built. :class:`VideoClip` (a segment of any video
the core opens, as a :class:`~avs_studio.core.clip.Clip`) lives in ``core.media.video_clip``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from avs_studio.core.clip import Clip
from avs_studio.core.errors import AVSError
from avs_studio.core.jobs import CancelToken, Progress, no_progress
from avs_studio.core.setting import Setting
from avs_studio.model.inputs import ClipInputs, prepare_clip
from avs_studio.model.prefetch import iter_prepared

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from avs_studio.model.system import AVSSystem

__all__ = [
    "DEVICES",
    "PRECISIONS",
    "ClipScores",
    "Engine",
    "EngineStats",
    "fold_resnet_batchnorm",
    "pick_device",
]

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16", "fp16")


def _torch():
    import torch

    return torch


# ====================================================================== scores


@dataclass
class ClipScores:
    """The model's answer for one clip, at 224 x 224, and resized to the frames' own size.

    ``logits``: ``[T, 224, 224]`` (S4/MS3) or ``[T, 71, 224, 224]`` (AVSS) float32 for all
    ``T`` steps of the setting (padded AVSS steps included: the official model gives them
    all-zero logits); ``flags`` ``[T]``; ``num_frames`` real frames, whose sizes are
    ``frame_sizes`` ``(width, height)``.

    Resizing to a frame's own size (``native=True``): binary probabilities bilinearly
    (OpenCV, half-pixel centres), then thresholded; AVSS labels with the Pillow NEAREST rule
    (the rule the official loader resizes AVSS masks with, so shrinking a native mask back to
    224 with it gives the 224 labels again whenever the frame is at least 224 on each side),
    AVSS per-class probabilities bilinearly (``C x H x W`` floats per frame: costly for large
    frames; ask only when needed).
    """

    clip_id: str
    setting: Setting
    logits: np.ndarray
    flags: np.ndarray
    num_frames: int
    frame_sizes: list[tuple[int, int]]
    frame_names: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    _labels: np.ndarray | None = field(default=None, repr=False)
    _confidence: np.ndarray | None = field(default=None, repr=False)

    @property
    def steps(self) -> int:
        """Time steps (5, or 10 for AVSS)."""
        return int(self.logits.shape[0])

    def probabilities(self) -> np.ndarray:
        """float32 sigmoid ``[T, 224, 224]`` (S4/MS3) or softmax ``[T, C, 224, 224]`` (AVSS),
        as torch computes them on the CPU (the values the official metrics see)."""
        if self.setting.is_binary:
            from avs_studio.core.metrics.f32 import float32_sigmoid

            return float32_sigmoid(self.logits)
        # torch's CPU softmax (which core.metrics_f32.float32_softmax reproduces bit for bit,
        # about 50x slower).
        torch = _torch()
        return torch.softmax(torch.from_numpy(np.ascontiguousarray(self.logits)), dim=1).numpy()

    def labels(self) -> np.ndarray:
        """AVSS: argmax class per pixel ``[T, 224, 224]`` uint8 (the official softmax argmax)."""
        self._need_semantic("labels")
        if self._labels is None:
            from avs_studio.core.metrics.f32 import softmax_argmax

            self._labels = softmax_argmax(self.logits).astype(np.uint8)
        return self._labels

    def confidence(self) -> np.ndarray:
        """AVSS: the winning class's softmax probability ``[T, 224, 224]`` float32."""
        self._need_semantic("confidence")
        if self._confidence is None:
            lab = self.labels().astype(np.intp)
            self._confidence = np.take_along_axis(self.probabilities(), lab[:, None], axis=1)[:, 0]
        return self._confidence

    def masks(self, threshold: float = 0.5, *, native: bool = False) -> np.ndarray | list[np.ndarray]:
        """Hard masks: S4/MS3 uint8 {0, 1} (probability > ``threshold``; 0.5 is the official
        ``sigmoid(logit) > 0.5``); AVSS class labels (argmax; ``threshold`` is not used).

        ``native=False``: ``[T, 224, 224]`` for every step. ``native=True``: a list with one
        mask per real frame at that frame's size (see the class docstring for the rules).
        """
        if self.setting.is_binary:
            if not native:
                return (self.probabilities() > np.float32(threshold)).astype(np.uint8)
            return [(p > np.float32(threshold)).astype(np.uint8) for p in self.probability_maps()]
        labels = self.labels()
        if not native:
            return labels
        from avs_studio.core.masks.resize import resize_nearest

        return [resize_nearest(labels[k], self.frame_sizes[k]) for k in range(self.num_frames)]

    def probability_maps(self, native: bool = True) -> list[np.ndarray]:
        """One probability map per real frame: S4/MS3 ``[H, W]`` foreground probability,
        AVSS ``[C, H, W]`` per-class probabilities; at each frame's own size (``native``) or
        at 224 x 224."""
        probs = self.probabilities()
        out = []
        for k in range(self.num_frames):
            p = probs[k]
            if native:
                p = _resize_linear(p, self.frame_sizes[k], channels_first=not self.setting.is_binary)
            out.append(p)
        return out

    def _need_semantic(self, what: str) -> None:
        if self.setting.is_binary:
            raise ValueError(f"{what} exist for AVSS scores only; S4/MS3 scores are binary")


def _resize_linear(p: np.ndarray, size: tuple[int, int], *, channels_first: bool) -> np.ndarray:
    """Bilinear resize (half-pixel centres, as torch ``align_corners=False`` upsamples)."""
    import cv2

    w, h = int(size[0]), int(size[1])
    if channels_first:
        if p.shape[1:] == (h, w):
            return p.copy()
        # OpenCV resizes up to 512 interleaved channels at once.
        moved = np.ascontiguousarray(np.moveaxis(p, 0, -1))
        return np.ascontiguousarray(np.moveaxis(cv2.resize(moved, (w, h), interpolation=cv2.INTER_LINEAR), -1, 0))
    if p.shape == (h, w):
        return p.copy()
    return cv2.resize(np.ascontiguousarray(p), (w, h), interpolation=cv2.INTER_LINEAR)


# ====================================================================== the engine


@dataclass
class EngineStats:
    """Where the engine's time went (seconds, summed over batches)."""

    batches: int = 0
    clips: int = 0
    frames: int = 0
    audio_s: float = 0.0
    model_s: float = 0.0
    total_s: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """Plain dict (for reports)."""
        return dataclasses.asdict(self)


def fold_resnet_batchnorm(avs: Any) -> int:
    """Fold the eval-mode BatchNorms of an official ResNet-50 backbone into the convolutions
    they follow (``conv -> bn`` becomes one convolution with a bias); returns how many.

    Only the backbone whose forward is known to apply each ``bnK`` right after ``convK``
    (``B2ResNet``, its bottlenecks, and ``downsample`` Sequentials) is touched; any other
    model is left alone (0).
    """
    torch = _torch()
    from torch import nn

    from avs_studio.model.backbones.resnet import B2ResNet, Bottleneck

    resnet = getattr(avs, "resnet", None)
    if not isinstance(resnet, B2ResNet):
        return 0
    folded = 0

    def fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> bool:
        if bn.training or bn.running_var is None or bn.num_features != conv.out_channels:
            return False
        with torch.no_grad():
            gamma = bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)
            beta = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_mean)
            scale = gamma / torch.sqrt(bn.running_var + bn.eps)
            shift = beta - bn.running_mean * scale
            if conv.bias is not None:
                shift = shift + conv.bias * scale
            conv.weight = nn.Parameter(conv.weight * scale.view(-1, 1, 1, 1), requires_grad=False)
            conv.bias = nn.Parameter(shift, requires_grad=False)
        return True

    for mod in resnet.modules():
        if isinstance(mod, (B2ResNet, Bottleneck)):
            for c, b in (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")):
                conv, bn = getattr(mod, c, None), getattr(mod, b, None)
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and fold(conv, bn):
                    setattr(mod, b, nn.Identity())
                    folded += 1
        elif (isinstance(mod, nn.Sequential) and len(mod) == 2 and isinstance(mod[0], nn.Conv2d)
              and isinstance(mod[1], nn.BatchNorm2d) and fold(mod[0], mod[1])):  # fmt: skip
            mod[1] = nn.Identity()
            folded += 1
    return folded


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else MPS, else CPU. A named GPU that is absent is an error."""
    torch = _torch()
    name = (name or "auto").lower()
    if name not in DEVICES:
        raise AVSError(f"unknown device {name!r}: expected one of {', '.join(DEVICES)}")
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if cuda else "mps" if mps else "cpu"
    elif name == "cuda" and not cuda:
        raise AVSError("--device cuda: no CUDA GPU is available to torch here; use --device auto or cpu")
    elif name == "mps" and not mps:
        raise AVSError("--device mps: Apple's MPS backend is not available here; use --device auto or cpu")
    return torch.device(name)


class Engine:
    """Runs an :class:`~avs_studio.model.system.AVSSystem` on clips.

    ``device``: ``auto`` | ``cpu`` | ``cuda`` | ``mps``; ``precision``: ``fp32`` (default),
    ``bf16`` or ``fp16`` (autocast, GPU only); ``batch_clips``: clips per forward;
    ``threads``: torch's CPU threads (process-wide; None keeps torch's default).
    ``fold_batchnorm=True`` folds the official ResNet-50 backbone's BatchNorms into its
    convolutions (about 15 % faster on the CPU, logits within ~1e-4): the system is then for
    inference only (its state dict changes), which suits a system loaded just to propose.
    ``profile=True`` synchronises the GPU around the audio encoder so that :attr:`stats`
    splits GPU time correctly (CPU timings are always exact).
    """

    def __init__(
        self,
        system: AVSSystem,
        *,
        device: str = "auto",
        precision: str = "fp32",
        batch_clips: int = 1,
        threads: int | None = None,
        tf32: bool = False,
        channels_last: bool = True,
        fold_batchnorm: bool = False,
        profile: bool = False,
    ) -> None:
        torch = _torch()
        if precision not in PRECISIONS:
            raise AVSError(f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
        if int(batch_clips) < 1:
            raise AVSError(f"the batch size must be at least 1 clip, got {batch_clips}")
        self.device = pick_device(device)
        if precision != "fp32" and self.device.type == "cpu":
            raise AVSError(
                f"{precision} runs only on a GPU (CUDA or MPS, as autocast); on the CPU use fp32 "
                "(it is also the fastest there)"
            )
        if threads is not None:
            if int(threads) < 1:
                raise AVSError(f"threads must be at least 1, got {threads}")
            torch.set_num_threads(int(threads))
        if self.device.type == "cuda":
            # TF32 changes conv/matmul results by ~1e-3 (model.md §15): off unless asked for.
            torch.backends.cuda.matmul.allow_tf32 = bool(tf32)
            torch.backends.cudnn.allow_tf32 = bool(tf32)
        self.precision = precision
        self.batch_clips = int(batch_clips)
        self.threads = torch.get_num_threads()
        self.profile = profile
        self.stats = EngineStats()
        self.system = system.eval().to(self.device)
        self.folded = fold_resnet_batchnorm(self.system.avs) if fold_batchnorm else 0
        if channels_last and self.device.type in ("cpu", "cuda"):
            to_cl = getattr(self.system.avs, "to_channels_last", None)
            if callable(to_cl):
                to_cl()
        self._audio_t0 = 0.0
        enc = self.system.audio_encoder
        self._hooks = [enc.register_forward_pre_hook(self._audio_start),
                       enc.register_forward_hook(self._audio_end)]  # fmt: skip

    def close(self) -> None:
        """Detach the engine's timing hooks from the system (the system stays usable)."""
        for h in self._hooks:
            h.remove()
        self._hooks = []

    # ---------------------------------------------------------------- info
    @property
    def setting(self) -> Setting:
        """The setting of the system."""
        return self.system.setting

    def describe(self) -> str:
        """One line: system, device, precision, batch, threads."""
        info = self.system.info
        return (f"{info.name} ({info.arch}, {self.setting.value.upper()}) on {self.device.type}, "
                f"{self.precision}, {self.batch_clips} clip(s) per batch, {self.threads} CPU thread(s)")  # fmt: skip

    # ---------------------------------------------------------------- halves
    @staticmethod
    def prepare(clip: Clip) -> ClipInputs:
        """The CPU half (see :func:`prepare_clip`); safe to run in worker processes."""
        return prepare_clip(clip)

    def check_inputs(self, inputs: ClipInputs) -> None:
        """Refuse inputs the system cannot take (another setting's layout)."""
        st = self.setting
        if inputs.setting.is_binary != st.is_binary or inputs.steps != st.frames_per_clip:
            raise AVSError(
                f"{inputs.clip_id} is an {inputs.setting.value.upper()} clip ({inputs.steps} steps); "
                f"the model segments {st.value.upper()} clips ({st.frames_per_clip} steps)"
            )

    def run(self, batch: Sequence[ClipInputs]) -> list[ClipScores]:
        """Whole clips through the system in one forward; one :class:`ClipScores` per clip."""
        torch = _torch()
        if not batch:
            return []
        for b in batch:
            self.check_inputs(b)
        t0 = time.perf_counter()
        audio_before = self.stats.audio_s
        frames = torch.from_numpy(np.concatenate([b.frames for b in batch]))
        log_mel = torch.from_numpy(np.concatenate([b.log_mel for b in batch]))
        flags = None
        if not self.setting.is_binary:
            flags = torch.from_numpy(np.concatenate([b.flags for b in batch]))
        dev = self.device
        frames, log_mel = frames.to(dev), log_mel.to(dev)
        flags = flags.to(dev) if flags is not None else None
        with torch.inference_mode(), self._autocast():
            logits = self.system(frames, log_mel, flags)
        logits = logits.float().cpu().numpy()
        total = time.perf_counter() - t0
        st = self.stats
        st.batches += 1
        st.clips += len(batch)
        st.frames += int(frames.shape[0])
        st.total_s += total
        st.model_s += total - (st.audio_s - audio_before)
        out = []
        t = self.setting.frames_per_clip
        for i, b in enumerate(batch):
            lg = logits[i * t:(i + 1) * t]
            if self.setting.is_binary:
                lg = lg[:, 0]
            out.append(ClipScores(
                clip_id=b.clip_id, setting=b.setting, logits=lg, flags=b.flags.copy(),
                num_frames=b.num_frames, frame_sizes=list(b.frame_sizes),
                frame_names=list(b.frame_names), meta=dict(b.meta),
            ))  # fmt: skip
        return out

    # ---------------------------------------------------------------- conveniences
    def propose_clip(
        self, clip: Clip, *, progress: Progress = no_progress, cancel: CancelToken | None = None
    ) -> ClipScores:
        """Score maps of one clip (for the GUI): decode, check for cancel, run."""
        progress(0, 2, f"decoding {clip.clip_id}")
        inputs = prepare_clip(clip)
        if cancel is not None:
            cancel.raise_if_cancelled()
        progress(1, 2, f"running the model on {clip.clip_id}")
        scores = self.run([inputs])[0]
        progress(2, 2, clip.clip_id)
        return scores

    def score_clips(
        self,
        clips: Iterable[Clip],
        *,
        workers: int = 0,
        backend: str = "thread",
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> Iterator[ClipScores]:
        """Score maps of many clips, batch by batch, in order. A clip that cannot be prepared
        raises its error; ``cancel`` is checked between batches (raises :class:`Cancelled`).
        At most ``2 * workers`` prepared clips wait beside the batch being formed."""
        clips = list(clips)
        done = 0
        progress(0, len(clips), "")
        batch: list[ClipInputs] = []
        stream = iter_prepared(clips, workers=workers, backend=backend)
        try:
            for prepared in stream:
                if prepared.error is not None:
                    raise AVSError(f"{prepared.item}: {prepared.error}")
                batch.append(prepared.inputs)
                if len(batch) == self.batch_clips:
                    if cancel is not None:
                        cancel.raise_if_cancelled()
                    for s in self.run(batch):
                        done += 1
                        progress(done, len(clips), s.clip_id)
                        yield s
                    batch = []
            if batch:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                for s in self.run(batch):
                    done += 1
                    progress(done, len(clips), s.clip_id)
                    yield s
        finally:
            stream.close()

    # ---------------------------------------------------------------- internals
    def _autocast(self):
        torch = _torch()
        if self.precision == "fp32" or self.device.type == "cpu":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def _sync(self) -> None:
        if not self.profile:
            return
        torch = _torch()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elif self.device.type == "mps":
            torch.mps.synchronize()

    def _audio_start(self, module, args) -> None:
        self._sync()
        self._audio_t0 = time.perf_counter()

    def _audio_end(self, module, args, output) -> None:
        self._sync()
        self.stats.audio_s += time.perf_counter() - self._audio_t0
