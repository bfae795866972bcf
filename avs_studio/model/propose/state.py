"""The output folder's layout and its state: the names propose writes, the run file (which model
wrote the folder), and the per-clip done markers a re-run reads to skip finished clips.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from avs_studio.core.errors import AVSError
from avs_studio.core.fsutil import (
    atomic_write_text,
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
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        prev = old.get("model", {}) if isinstance(old, dict) else {}
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
    try:
        data = json.loads(marker_path(out, clip_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("clip_id") == clip_id else None


def is_done(out: Path, clip_id: str, kinds: list[str]) -> bool:
    marker = read_marker(out, clip_id)
    if marker is None:
        return False
    files = marker.get("files", {})
    for kind in kinds:
        if kind not in files:
            return False
        if not all((out / rel).is_file() for rel in files[kind]):
            return False
    return True
