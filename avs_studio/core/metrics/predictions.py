"""Prediction folders: what ``propose`` writes and what the official test scripts save.

Recognised layouts (detected in this order):

- score maps: ``scores/<clip_id>.npz`` (or ``*.npz`` directly), lossless for the official
  metrics (:mod:`avs_studio.core.metrics.scores`);
- AVS Studio PNG masks (a folder with ``masks.json``): hard masks;
- the official ``pred_masks`` layouts (S4 ``<category>/<name>/<name>_<i>.png``, MS3 and
  AVSS ``<id>/<id>_<i>.png``, i = 0-based): hard binary masks or colour masks.

With hard masks the official mIoU is exact but the F-score is that of hard masks (the
threshold sweep needs scores), and results say so.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from avs_studio.core.clip import MODEL_SIZE, Clip
from avs_studio.core.errors import FormatError
from avs_studio.core.fsutil import is_temporary, safe_join
from avs_studio.core.masks.files import open_image, read_label_mask
from avs_studio.core.masks.palette import NUM_CLASSES, colour_to_index
from avs_studio.core.masks.resize import resize_nearest
from avs_studio.core.metrics.scores import read_score_file
from avs_studio.core.setting import Setting

_PRED_PNG = re.compile(r"^(?P<clip>.+)_(?P<i>\d+)\.png$")


class Predictions:
    """Predictions for the clips of one setting, found under ``root``."""

    def __init__(self, root: str | os.PathLike[str], setting: Setting | str) -> None:
        self.root = Path(root)
        self.setting = Setting.parse(setting)
        if not self.root.is_dir():
            raise FormatError(f"{self.root}: not a folder of predictions")
        self.notes: list[str] = []
        self._files: dict[str, Path] = {}
        self._dirs: dict[str, Path] = {}
        scores = self.root / "scores"
        base = scores if scores.is_dir() else self.root
        for f in sorted(base.glob("*.npz")):
            if is_temporary(f):  # a write cut short by a crash, not a clip
                continue
            self._files[f.stem] = f
        if self._files:
            self.layout = "scores"
            return
        if (self.root / "masks.json").is_file():
            from avs_studio.core.export.png import read_png_masks

            self.layout = "png"
            self._png = read_png_masks(self.root, self.setting).by_clip()
            return
        official = self.root / "pred_masks" if (self.root / "pred_masks").is_dir() else self.root
        for d in sorted(p for p in official.rglob("*") if p.is_dir() and not is_temporary(p)):
            if any(_clip_file(f, d.name) for f in d.iterdir()):
                if d.name in self._dirs:
                    raise FormatError(f"{self.root}: clip {d.name!r} appears twice ({self._dirs[d.name]}, {d})")
                self._dirs[d.name] = d
        if not self._dirs:
            raise FormatError(
                f"{self.root}: no predictions found (expected scores/*.npz, masks.json, or pred_masks/)"
            )
        self.layout = "official-png"
        if self.setting is Setting.AVSS:
            self.notes.append(
                "official AVSS prediction PNGs are visualisations (resized with Pillow's default "
                "filter, so boundary colours are blended); the official metrics use logits"
            )

    @property
    def hard(self) -> bool:
        """True when these predictions are hard masks (the F-score sweep cannot be reproduced)."""
        return self.layout != "scores"

    def clip_ids(self) -> set[str]:
        """Ids of the clips that have predictions."""
        if self.layout == "scores":
            return set(self._files)
        if self.layout == "png":
            return set(self._png)
        return set(self._dirs)

    def load(self, clip: Clip) -> tuple[str, np.ndarray]:
        """``(kind, array)`` for ``clip``: kind 'logits'/'probs'/'masks' ``[T, 224, 224]`` for
        S4/MS3, 'labels' ``[T, 224, 224]`` for AVSS, T = the setting's frames per clip."""
        t = self.setting.frames_per_clip
        cid = clip.clip_id
        if self.layout == "scores":
            if cid not in self._files:
                raise FormatError(f"no prediction for clip {cid}")
            kind, arr = read_score_file(self._files[cid])
            _check_score_map(self._files[cid], arr, kind, clip, self.setting)
        elif self.layout == "png":
            if cid not in self._png:
                raise FormatError(f"no prediction for clip {cid}")
            frames = {fm.frame: fm.mask for fm in self._png[cid]}
            kind = "masks" if self.setting.is_binary else "labels"
            arr = _stack(frames, clip, kind, t)
        else:
            kind, arr = self._load_official(clip)
        return kind, self._conform(arr, kind, clip)

    def _load_official(self, clip: Clip) -> tuple[str, np.ndarray]:
        d = self._dirs.get(clip.clip_id)
        if d is None:
            raise FormatError(f"no prediction for clip {clip.clip_id}")
        frames = {}
        for f in d.iterdir():
            m = _clip_file(f, d.name)
            if m is None:
                continue
            i = int(m.group("i"))
            path = safe_join(d, f.name)
            if self.setting.is_binary:
                img = open_image(path)
                frames[i] = (np.asarray(img.convert("L")) >= 128).astype(np.uint8)
            else:
                frames[i] = read_label_mask(path, size=MODEL_SIZE).astype(np.uint8)
        kind = "masks" if self.setting.is_binary else "labels"
        return kind, _stack(frames, clip, kind, self.setting.frames_per_clip)

    def _conform(self, arr: np.ndarray, kind: str, clip: Clip) -> np.ndarray:
        t = self.setting.frames_per_clip
        arr = np.asarray(arr)
        if arr.ndim != 3:
            raise FormatError(f"{clip.clip_id}: prediction has shape {arr.shape}, expected [T, H, W]")
        if arr.shape[0] < t and self.setting is Setting.AVSS and kind == "labels":
            # padded steps: the official model outputs all-zero logits there -> class 0
            arr = np.concatenate([arr, np.zeros((t - arr.shape[0], *arr.shape[1:]), arr.dtype)])
        if arr.shape[0] != t:
            raise FormatError(f"{clip.clip_id}: prediction has {arr.shape[0]} frames, expected {t}")
        if arr.shape[1:] != (MODEL_SIZE[1], MODEL_SIZE[0]):
            if kind in ("masks", "labels"):
                arr = np.stack([resize_nearest(a, MODEL_SIZE) for a in arr])
            else:
                raise FormatError(
                    f"{clip.clip_id}: score maps are {arr.shape[2]}x{arr.shape[1]}; the metrics use 224x224"
                )
        return arr


def _check_score_map(path: Path, arr: np.ndarray, kind: str, clip: Clip, setting: Setting) -> None:
    """A score file is what ``propose --probs`` writes: 224 x 224 maps, one per frame, in range.

    Unlike PNG masks (resized to 224 x 224 as the official test does), a score map of another
    shape is not a prediction of this clip: it is refused, never resized or scored.
    """
    arr = np.asarray(arr)
    h, w = MODEL_SIZE[1], MODEL_SIZE[0]
    frames = {clip.num_frames, setting.frames_per_clip}
    if arr.ndim != 3 or arr.shape[1:] != (h, w) or arr.shape[0] not in frames:
        raise FormatError(
            f"{path}: score maps of shape {list(arr.shape)}; {clip.clip_id} needs "
            f"[{' or '.join(map(str, sorted(frames)))}, {h}, {w}] (re-run propose --probs)"
        )
    if kind == "labels":
        if not np.issubdtype(arr.dtype, np.integer) or (arr.size and (arr.min() < 0 or arr.max() >= NUM_CLASSES)):
            raise FormatError(f"{path}: class labels outside 0..{NUM_CLASSES - 1} (or not integers)")
    elif not np.isfinite(arr).all():
        raise FormatError(f"{path}: the score maps hold NaN or infinite values")


def _clip_file(f: Path, clip: str) -> re.Match[str] | None:
    m = _PRED_PNG.match(f.name)
    return m if (m and m.group("clip") == clip and f.is_file()) else None


def _stack(frames: dict[int, np.ndarray], clip: Clip, kind: str, t: int) -> np.ndarray:
    if not frames:
        raise FormatError(f"{clip.clip_id}: prediction folder holds no masks")
    n = max(frames) + 1
    missing = [i for i in range(min(n, clip.num_frames)) if i not in frames]
    if missing:
        raise FormatError(f"{clip.clip_id}: prediction lacks frame(s) {missing}")
    shape = next(iter(frames.values())).shape
    out = np.zeros((n, *shape), dtype=np.uint8)
    for i, m in frames.items():
        if m.shape != shape:
            m = resize_nearest(m, (shape[1], shape[0]))
        out[i] = m
    return out


def labels_from_colour(rgb: np.ndarray) -> np.ndarray:
    """Class indices of an RGB prediction image (unknown colours -> background)."""
    return colour_to_index(rgb).astype(np.uint8)
