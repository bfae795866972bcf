"""The output folder's layout and its state: the names propose writes, the run file (which model
wrote the folder), and the per-clip done markers a re-run reads to skip finished clips.

Nothing in the folder is trusted blindly on a re-run: a run file that is not one this code
wrote (garbage, another format, a model entry that is not a mapping) stops the run with a
clear error rather than letting any model resume into the folder; a done marker counts only
if it names its clip and lists, for every wanted kind of output, files that are plain
relative paths *inside* the folder and exist as regular files (a marker pointing at
``../../somewhere`` or an absolute path is ignored and the clip is proposed again).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from avs_studio.core.errors import AVSError, UnsafePathError
from avs_studio.core.fsutil import (
    atomic_write_text,
    read_user_json,
    safe_join,
)
from avs_studio.core.setting import Setting

if TYPE_CHECKING:  # pragma: no cover
    from avs_studio.model.engine import Engine


FORMATS = ("avsbench", "png", "coco")
STATE_DIR = ".propose"
RUN_FILE = "run.json"
COCO_FILE = "coco_instances.json"
REPORT_JSON = "report.json"
REPORT_CSV = "report.csv"
RUN_FORMAT = "avs-studio-propose"


#: Clip ids that would collide with the folders propose writes beside the clips.
RESERVED = {"scores", "pred_masks", STATE_DIR}


def model_identity(engine: Engine) -> dict:
    info = engine.system.info
    return {"name": info.name, "arch": info.arch, "setting": info.setting.value,
            "checkpoint_hash": info.checkpoint_hash}  # fmt: skip


def check_run_file(path: Path, engine: Engine, setting: Setting) -> None:
    ident = model_identity(engine)
    if path.exists() or path.is_symlink():
        old = read_user_json(path, AVSError, "propose run file", max_bytes=1 << 20)
        prev = old.get("model") if isinstance(old, dict) else None
        if not isinstance(old, dict) or old.get("format") != RUN_FORMAT or not isinstance(prev, dict) \
                or not isinstance(old.get("clip_setting", ""), (str, type(None))):
            raise AVSError(
                f"{path}: not a propose run file this version wrote (damaged?): it cannot tell which "
                f"model wrote {path.parent.parent}; choose another --out"
            )
        if prev and prev != ident:
            raise AVSError(
                f"{path.parent.parent} holds proposals of another model ({prev.get('name')}, "
                f"{prev.get('arch')}); choose another --out, or use the same model to resume"
            )
        if isinstance(old, dict) and old.get("clip_setting") not in (None, setting.value):
            raise AVSError(f"{path.parent.parent} holds proposals for {old['clip_setting'].upper()} clips, "
                           f"not {setting.value.upper()}; choose another --out")  # fmt: skip
        return
    run = {"format": RUN_FORMAT, "version": 1, "model": ident, "clip_setting": setting.value}
    atomic_write_text(path, json.dumps(run, indent=1) + "\n")


def marker_path(out: Path, clip_id: str) -> Path:
    return safe_join(out / STATE_DIR / "done", f"{clip_id}.json")


def read_marker(out: Path, clip_id: str) -> dict | None:
    """A clip's done marker, or None when it is absent or not a marker of this clip."""
    path = marker_path(out, clip_id)
    if not (path.exists() or path.is_symlink()):
        return None
    try:
        data = read_user_json(path, AVSError, "done marker", max_bytes=64 << 20)
    except AVSError:
        return None  # damaged: the clip is simply proposed again
    return data if _valid_marker(out, data, clip_id) else None


#: Largest frame side a marker may name (as for COCO images and project clips).
_MAX_SIDE = 16384


def _valid_marker(out: Path, data: object, clip_id: str) -> bool:
    """A marker this code wrote for ``clip_id``: its file lists inside ``out``, its PNG entries
    and its COCO frames of sane types and sizes (they are copied into the folder's files)."""
    if not isinstance(data, dict) or data.get("clip_id") != clip_id:
        return False
    files = data.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(rels, list) and all(isinstance(r, str) for r in rels) for rels in files.values()
    ):
        return False
    png = data.get("png", [])
    if not isinstance(png, list) or not all(
        isinstance(e, dict) and isinstance(e.get("file"), str) and _inside(out, e["file"])
        and isinstance(e.get("frame"), int) and 0 <= e["frame"] < 1000 and e.get("clip_id") == clip_id
        for e in png
    ):
        return False
    coco = data.get("coco", [])
    if not isinstance(coco, list):
        return False
    for frame in coco:
        if not (isinstance(frame, dict) and isinstance(frame.get("frame"), int) and 0 <= frame["frame"] < 1000
                and all(isinstance(frame.get(k), int) and 1 <= frame[k] <= _MAX_SIDE for k in ("width", "height"))
                and isinstance(frame.get("file_name"), str) and isinstance(frame.get("objects"), list)):
            return False
        for obj in frame["objects"]:
            rle = obj.get("rle") if isinstance(obj, dict) else None
            if not (isinstance(rle, dict) and isinstance(rle.get("counts"), str)
                    and rle.get("size") == [frame["height"], frame["width"]]
                    and isinstance(obj.get("category"), int) and 0 < obj["category"] < 71):
                return False
    return True


def is_done(out: Path, clip_id: str, kinds: list[str]) -> bool:
    """True when the marker lists existing outputs of every kind inside ``out``."""
    marker = read_marker(out, clip_id)
    if marker is None:
        return False
    files = marker.get("files")
    if not isinstance(files, dict):
        return False
    for kind in kinds:
        rels = files.get(kind)
        # (COCO outputs live in the marker itself: their file list is empty)
        if not isinstance(rels, list) or not (rels or kind == "coco") or not all(_inside(out, r) for r in rels):
            return False
    return True


def _inside(out: Path, rel: object) -> bool:
    """``rel`` is a plain relative path to a regular file inside ``out`` (no '..', no links out)."""
    if not isinstance(rel, str) or not rel:
        return False
    try:
        path = safe_join(out, *rel.split("/"))
    except UnsafePathError:
        return False
    return path.is_file()
