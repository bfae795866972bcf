"""Model inputs of a clip, made on the CPU without torch: sampled frames resized and normalised as the
official loader does, log-mel examples in the setting's layout, flags and each frame's own size.

:func:`prepare_clip` is the CPU half of the engine (:mod:`avs_studio.model.engine`); the batch
``propose`` job runs it in worker processes (:mod:`avs_studio.model.prefetch`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avs_studio.core.clip import MODEL_SIZE, Clip
from avs_studio.core.errors import AVSError, MediaError
from avs_studio.core.export.maskset import clip_meta
from avs_studio.core.setting import Setting


@dataclass
class ClipInputs:
    """Everything the model needs for one clip, plus what outputs need to know.

    ``frames`` ``[T, 3, 224, 224]`` ImageNet-normalised float32, ``log_mel`` ``[T, 96, 64]``
    float32 and ``flags`` ``[T]`` (1 real step, 0 padding), ``T`` the setting's steps;
    ``frame_sizes`` the ``(width, height)`` of each real frame as the clip stores it;
    ``frame_names`` a name per real frame for exports; ``timings`` seconds spent decoding
    frames (``frames_s``, resizing and normalising included) and computing the log-mel
    (``log_mel_s``, audio decoding included).
    """

    clip_id: str
    setting: Setting
    frames: np.ndarray
    log_mel: np.ndarray
    flags: np.ndarray
    num_frames: int
    frame_sizes: list[tuple[int, int]]
    frame_names: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        """Time steps fed to the model (5, or 10 for AVSS)."""
        return int(self.frames.shape[0])


class _DecodedClip(Clip):
    """A clip over frames already decoded, so ``Clip.model_frames`` does not decode twice."""

    def __init__(self, clip: Clip, frames: Sequence[np.ndarray]) -> None:
        kw = {f.name: getattr(clip, f.name) for f in dataclasses.fields(Clip)}
        super().__init__(**kw)
        self._frames = list(frames)

    def frame(self, k: int) -> np.ndarray:
        return self._frames[k]

    def mask(self, k: int, *, size: tuple[int, int] | None = MODEL_SIZE) -> np.ndarray | None:
        return None

    def audio(self) -> tuple[np.ndarray, int]:  # pragma: no cover - never asked
        raise NotImplementedError

    def log_mel(self) -> np.ndarray:  # pragma: no cover - never asked
        raise NotImplementedError


def _frame_names(clip: Clip) -> list[str]:
    """Names of the real frames for exports: the official path in a dataset, else video@time."""
    names: list[str] = []
    holder = getattr(clip, "dataset", None) or getattr(clip, "record", None)  # dataset / project
    root = Path(holder.root) if getattr(holder, "root", None) is not None else None
    frame_path = getattr(clip, "frame_path", None)
    times = clip.frame_times()
    for k in range(clip.num_frames):
        path = None
        if frame_path is not None:
            with contextlib.suppress(Exception):
                path = frame_path(k)
        if path is not None and root is not None:
            with contextlib.suppress(ValueError):
                names.append(Path(path).relative_to(root).as_posix())
                continue
        if path is not None:
            names.append(Path(path).name)
        elif clip.video_path is not None:
            t = clip.start + (times[k] if k < len(times) else float(k))
            names.append(f"{Path(clip.video_path).name}@{t:.3f}s")
        else:
            names.append(f"{clip.clip_id}/{k}")
    return names


def _source_of(clip: Clip) -> str:
    """Where a clip comes from, for reports: its video, else its dataset folder."""
    if clip.video_path is not None:
        return str(clip.video_path)
    dataset = getattr(clip, "dataset", None)
    return str(dataset.root) if dataset is not None else ""


def prepare_clip(clip: Clip) -> ClipInputs:
    """CPU half of the engine (no torch): frames, log-mel, flags and frame sizes of a clip.

    Raises what the clip raises for bad media (:class:`MediaError`, :class:`AudioError`,
    :class:`DatasetError`, ...), with the file named.
    """
    t0 = time.perf_counter()
    frames = clip.frames()
    if len(frames) != clip.num_frames:
        raise MediaError(f"{clip}: {len(frames)} frames decoded, expected {clip.num_frames}")
    sizes = [(int(f.shape[1]), int(f.shape[0])) for f in frames]
    model_frames, flags = _DecodedClip(clip, frames).model_frames()
    del frames
    t1 = time.perf_counter()
    log_mel = np.ascontiguousarray(clip.log_mel(), dtype=np.float32).reshape(-1, 96, 64)
    t2 = time.perf_counter()
    steps = clip.frames_per_clip
    if log_mel.shape[0] != steps:
        raise AVSError(
            f"{clip}: {log_mel.shape[0]} log-mel examples for {steps} time steps; the "
            f"{clip.setting.value.upper()} layout has {steps}"
        )
    # "columns": the clip's metadata columns (S4 start; AVSS vid, s_min, s_sec, a_obj), so that
    # proposals exported to an AVSBench layout keep the source's rows instead of guessing them
    meta = {"split": clip.split, "category": clip.category, "subset": clip.subset,
            "source": _source_of(clip), "columns": clip_meta(clip.setting, clip.meta)}
    return ClipInputs(
        clip_id=clip.clip_id, setting=clip.setting, frames=model_frames, log_mel=log_mel,
        flags=flags.astype(np.float32), num_frames=min(clip.num_frames, steps),
        frame_sizes=sizes[:steps], frame_names=_frame_names(clip)[:steps], meta=meta,
        timings={"frames_s": t1 - t0, "log_mel_s": t2 - t1},
    )  # fmt: skip
