"""MaskSet: the masks of many frames, in evaluation order, whatever format they came from.

Every exporter writes a MaskSet and every importer returns one, so any format converts to
any other. Masks are loaded lazily: a set of 10,000 frames holds paths, not pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from avs_studio.core.datasets.common import Dataset
from avs_studio.core.errors import AVSError, MaskError
from avs_studio.core.setting import Setting


@dataclass
class FrameMask:
    """The mask of one frame: where it belongs and how to get its pixels.

    ``frame`` is 0-based. The mask is uint8 {0, 1} for S4/MS3 and a uint8 class-index map
    for AVSS. ``file_name`` is the frame's official path relative to the dataset root.
    ``meta`` holds the clip's metadata columns, so that a round trip through any format
    writes them back: S4 ``start``; AVSS ``vid``, ``s_min``, ``s_sec``, ``a_obj``.
    """

    clip_id: str
    frame: int
    file_name: str
    split: str = ""
    category: str = ""
    subset: str = ""
    loader: Callable[[], np.ndarray] | None = field(default=None, repr=False)
    meta: dict = field(default_factory=dict)
    _mask: np.ndarray | None = field(default=None, repr=False)

    @property
    def mask(self) -> np.ndarray:
        """The pixels (loaded on first use, then kept)."""
        if self._mask is None:
            if self.loader is None:
                raise MaskError(f"{self.clip_id} frame {self.frame}: no mask data")
            self._mask = self.loader()
        return self._mask

    def try_mask(self, failures: list[str] | None) -> np.ndarray | None:
        """The pixels, or None after noting why they cannot be read in ``failures``.

        With ``failures=None`` the error propagates: batch exports pass a list so that one
        unreadable mask is reported and the rest of the export goes on.
        """
        if failures is None:
            return self.mask
        try:
            return self.mask
        except AVSError as exc:
            failures.append(f"{self.clip_id} frame {self.frame}: {exc}")
            return None

    def release(self) -> None:
        """Forget loaded pixels (they can be loaded again)."""
        if self.loader is not None:
            self._mask = None

    @classmethod
    def of(cls, clip_id: str, frame: int, mask: np.ndarray, **kw) -> FrameMask:
        """A FrameMask that already holds its pixels."""
        kw.setdefault("file_name", f"{clip_id}/{frame}")
        return cls(clip_id=clip_id, frame=frame, _mask=np.asarray(mask), **kw)


@dataclass
class MaskSet:
    """Masks of many frames of one setting, clip after clip, frames in order."""

    setting: Setting
    frames: list[FrameMask] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    #: items of the source that were left out when it was read (each with why)
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[FrameMask]:
        return iter(self.frames)

    def clip_ids(self) -> list[str]:
        """Clip ids in order of first appearance."""
        return list(dict.fromkeys(f.clip_id for f in self.frames))

    def by_clip(self) -> dict[str, list[FrameMask]]:
        """Frames grouped by clip, keeping the order."""
        out: dict[str, list[FrameMask]] = {}
        for f in self.frames:
            out.setdefault(f.clip_id, []).append(f)
        return out

    def filter(self, *, split: str | None = None) -> MaskSet:
        """The frames of one split (all when None)."""
        if split is None:
            return self
        return MaskSet(self.setting, [f for f in self.frames if f.split == split], dict(self.info),
                       list(self.skipped))


def from_dataset(
    dataset: Dataset, *, split: str | None = None, size: tuple[int, int] | None = None
) -> MaskSet:
    """The ground-truth masks of a dataset in its CSV order.

    Only frames that have ground truth are included (S4 train: frame 0; AVSS: no padded
    steps). ``size`` applies to AVSS colour masks (None: native size).
    """
    out = MaskSet(dataset.setting, info={"source": str(dataset.root)})
    out.skipped = [str(p) for p in dataset.skipped_rows]  # rows of the metadata left out
    for clip in dataset.clips(split):
        for k in clip.annotated:
            path = clip.mask_path(k)
            rel = clip.frame_path(k).relative_to(dataset.root).as_posix()
            if dataset.setting is Setting.AVSS:
                loader = _avss_loader(dataset, path, size)
            else:
                loader = _binary_loader(dataset, path)
            out.frames.append(
                FrameMask(
                    clip_id=clip.clip_id, frame=k, file_name=rel, split=clip.split,
                    category=clip.category, subset=clip.subset, loader=loader,
                    meta=clip_meta(dataset.setting, clip.meta),
                )
            )  # fmt: skip
    return out


#: The metadata columns of each setting that a MaskSet carries from clip to clip.
META_KEYS = {Setting.S4: ("start",), Setting.MS3: (), Setting.AVSS: ("vid", "s_min", "s_sec", "a_obj")}
_INT_KEYS = {"start", "s_min", "s_sec"}


def clip_meta(setting: Setting, values: dict) -> dict:
    """The metadata columns of ``setting`` found in ``values`` (numbers as int, text as str).

    Values that do not parse are left out rather than guessed.
    """
    out: dict = {}
    for key in META_KEYS[setting]:
        v = values.get(key)
        if v is None or v == "":
            continue
        if key in _INT_KEYS:
            try:
                out[key] = int(v)
            except (TypeError, ValueError):
                continue
        else:
            out[key] = str(v)
    return out


def _binary_loader(dataset: Dataset, path) -> Callable[[], np.ndarray]:
    return lambda: dataset.read_mask(path)


def _avss_loader(dataset: Dataset, path, size) -> Callable[[], np.ndarray]:
    return lambda: dataset.read_mask(path, size=size).astype(np.uint8)
