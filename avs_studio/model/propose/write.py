"""Write one clip's outputs, each file atomically and each mask folder whole, then its done
marker last: the official ``pred_masks/`` layout, AVS Studio PNG masks, the COCO frames
(kept in the marker until the end of the run) and lossless score maps.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from avs_studio.core.fsutil import (
    atomic_dir,
    atomic_write_text,
    check_component,
    safe_join,
)
from avs_studio.core.setting import Setting
from avs_studio.model.engine import ClipScores
from avs_studio.model.propose.discover import ClipTask
from avs_studio.model.propose.state import (
    _inside,
    marker_path,
    read_marker,
)

if TYPE_CHECKING:  # pragma: no cover
    pass


def write_clip(out: Path, scores: ClipScores, kinds: list[str], task: ClipTask) -> None:
    """Write one clip's outputs, then its marker (last, atomically)."""
    old = read_marker(out, scores.clip_id) or {}
    files: dict[str, list[str]] = {
        k: v for k, v in old.get("files", {}).items()
        if k not in kinds and all(_inside(out, rel) for rel in v)
    }  # fmt: skip
    marker: dict[str, Any] = {
        "clip_id": scores.clip_id, "setting": scores.setting.value, "source": task.source,
        "split": scores.meta.get("split", ""), "category": scores.meta.get("category", ""),
        "subset": scores.meta.get("subset", ""), "num_frames": scores.num_frames,
        "frame_sizes": [list(s) for s in scores.frame_sizes], "frame_names": scores.frame_names,
        "meta": dict(scores.meta.get("columns") or {}),
    }  # fmt: skip
    for key in ("png", "coco"):
        if key in old and key in files:
            marker[key] = old[key]
    for kind in kinds:
        if kind == "avsbench":
            files[kind] = _write_official(out, scores)
        elif kind == "png":
            files[kind], marker["png"] = _write_png(out, scores)
        elif kind == "coco":
            files[kind], marker["coco"] = [], _coco_frames(scores)
        elif kind == "scores":
            files[kind] = [_write_scores(out, scores)]
    marker["files"] = files
    atomic_write_text(marker_path(out, scores.clip_id), json.dumps(marker) + "\n")


def _fresh_dir(path: Path):
    """A clip's output folder appears whole: written aside, renamed into place."""
    if path.exists():  # left by a run killed after the rename, before the marker
        shutil.rmtree(path)
    return atomic_dir(path)


def _write_official(out: Path, scores: ClipScores) -> list[str]:
    from avs_studio.core.masks.files import write_colour_mask, write_prediction_mask

    cid = scores.clip_id
    if scores.setting is Setting.S4:
        category = scores.meta.get("category") or "unknown"
        check_component(category, "category")
        parts = ["pred_masks", category, cid]
    else:
        parts = ["pred_masks", cid]
    dest = safe_join(out, *parts)
    masks = scores.masks()  # [T, 224, 224] for every step (AVSS: all 10, as the official script)
    names = [f"{cid}_{i}.png" for i in range(scores.steps)]
    with _fresh_dir(dest) as tmp:
        for name, m in zip(names, masks):
            if scores.setting.is_binary:
                write_prediction_mask(tmp / name, m)
            else:
                write_colour_mask(tmp / name, m)
    return ["/".join([*parts, n]) for n in names]


def _write_png(out: Path, scores: ClipScores) -> tuple[list[str], list[dict]]:
    from avs_studio.core.masks.files import write_binary_mask, write_index_mask

    cid = scores.clip_id
    masks = scores.masks(native=True)
    columns = dict(scores.meta.get("columns") or {})  # the source's metadata columns (PNG manifest "meta")
    rels, entries = [], []
    with _fresh_dir(safe_join(out, cid)) as tmp:
        for k, m in enumerate(masks):
            if scores.setting.is_binary:
                write_binary_mask(tmp / f"{k}.png", m)
            else:
                write_index_mask(tmp / f"{k}.png", m)
            rel = f"{cid}/{k}.png"
            rels.append(rel)
            entry = {"clip_id": cid, "frame": k, "file": rel,
                     "source": scores.frame_names[k] if k < len(scores.frame_names) else rel,
                     "split": scores.meta.get("split", ""), "category": scores.meta.get("category", ""),
                     "subset": scores.meta.get("subset", "")}  # fmt: skip
            if columns:
                entry["meta"] = columns
            entries.append(entry)
    return rels, entries


def _coco_frames(scores: ClipScores) -> list[dict]:
    """Per real frame: its name, size and objects as compressed RLE (kept in the marker)."""
    from avs_studio.core.export.coco import frame_objects
    from avs_studio.core.masks.rle import encode_rle

    frames = []
    for k, m in enumerate(scores.masks(native=True)):
        cats, stack = frame_objects(scores.setting, m)
        w, h = scores.frame_sizes[k]
        frames.append({
            "frame": k, "file_name": scores.frame_names[k] if k < len(scores.frame_names) else f"{scores.clip_id}/{k}",
            "width": int(w), "height": int(h),
            "objects": [{"category": int(c), "rle": encode_rle(obj)} for c, obj in zip(cats, stack)],
        })  # fmt: skip
    return frames


def _write_scores(out: Path, scores: ClipScores) -> str:
    rel = f"scores/{scores.clip_id}.npz"
    write_score_maps(safe_join(out, "scores", f"{scores.clip_id}.npz"), scores)
    return rel


def write_score_maps(path: str | os.PathLike[str], scores: ClipScores) -> None:
    """``scores/<clip>.npz`` as ``core.scores`` writes it (what ``evaluate`` reads).

    AVSS files hold the same arrays ``core.scores.write_semantic_scores`` writes (argmax labels
    and the winning probability x 255, rounded), from the labels and the torch softmax the
    scores already hold: that function's own softmax emulation takes seconds per clip.
    """
    from avs_studio.core.metrics.scores import write_binary_scores, write_score_file

    if scores.setting.is_binary:
        write_binary_scores(path, scores.logits)
        return
    conf = np.round(scores.confidence() * 255).astype(np.uint8)
    write_score_file(path, {"labels": scores.labels(), "confidence": conf}, "semantic-labels")
