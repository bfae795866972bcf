"""What a run did (:class:`ProposeReport`), and the folder-level files rebuilt from the done markers
at the end of every run: ``masks.json`` (PNG), ``coco_instances.json``, ``report.json`` and
``report.csv``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from avs_studio.core.fsutil import (
    atomic_write_text,
    is_temporary,
)
from avs_studio.core.jobs import ItemFailure
from avs_studio.core.setting import Setting
from avs_studio.core.text import plural
from avs_studio.model.propose.discover import Discovery
from avs_studio.model.propose.state import (
    COCO_FILE,
    REPORT_CSV,
    REPORT_JSON,
    STATE_DIR,
    read_marker,
)

if TYPE_CHECKING:  # pragma: no cover
    pass


@dataclass
class ProposeReport:
    """What a propose run did: clips done, skipped (already done), failed, and where time went."""

    out: Path
    setting: Setting
    total: int = 0
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    prefetch: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    #: True when nothing was proposed into a new folder and the folder was removed again
    out_removed: bool = False

    @property
    def clips_per_s(self) -> float:
        """Clips proposed per second of wall time in this run."""
        return len(self.done) / self.wall_s if self.wall_s > 0 else 0.0

    def summary(self) -> str:
        """One line for the end of the command."""
        parts = [f"{plural(len(self.done), 'clip')} proposed"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} already done")
        if self.failures:
            where = "" if self.out_removed else f" (see {self.out / REPORT_CSV})"
            parts.append(f"{len(self.failures)} failed{where}")
        if self.cancelled:
            parts.append("stopped early")
        rate = f", {self.clips_per_s:.2f} clips/s" if self.done else ""
        return f"{', '.join(parts)} in {self.wall_s:.1f} s{rate}"


def _markers_in_order(out: Path, disc: Discovery) -> list[dict]:
    """Markers of this input's clips in input order, then any others in the folder by name."""
    found = {}
    for p in sorted((out / STATE_DIR / "done").glob("*.json")):
        if is_temporary(p):
            continue
        m = read_marker(out, p.stem)
        if m is not None:
            found[p.stem] = m
    ordered = [found.pop(t.clip_id) for t in disc.tasks if t.clip_id in found]
    return ordered + list(found.values())


def finish_run(out: Path, disc: Discovery, fmt: str, report: ProposeReport) -> None:
    """Rebuild the folder-level files from the markers, then write the report."""
    markers = _markers_in_order(out, disc)
    if fmt == "png":
        _write_png_manifest(out, disc.setting, markers)
    elif fmt == "coco":
        _write_coco(out, disc.setting, markers)
    _write_report(out, report, disc)


def _write_png_manifest(out: Path, setting: Setting, markers: list[dict]) -> None:
    from avs_studio.core.export.png import FORMAT, MANIFEST

    entries = [e for m in markers if "png" in m.get("files", {}) for e in m.get("png", [])]
    manifest = {
        "format": FORMAT, "version": 1, "setting": setting.value,
        "encoding": "binary 0/255" if setting.is_binary else "class index 0..70",
        "frames": entries,
    }  # fmt: skip
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")


def _write_coco(out: Path, setting: Setting, markers: list[dict]) -> None:
    from avs_studio.core.export import FrameMask, MaskSet, write_coco
    from avs_studio.core.export.maskset import clip_meta

    ms = MaskSet(setting, info={"mask_resolution": "native"})
    for m in markers:
        if "coco" not in m.get("files", {}):
            continue
        for f in m.get("coco", []):
            ms.frames.append(FrameMask(
                clip_id=m["clip_id"], frame=int(f["frame"]), file_name=str(f["file_name"]),
                split=m.get("split", ""), category=m.get("category", ""), subset=m.get("subset", ""),
                loader=_coco_loader(f, setting), meta=clip_meta(setting, m.get("meta") or {}),
            ))  # fmt: skip
    write_coco(out / COCO_FILE, ms)


def _coco_loader(frame: dict, setting: Setting) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from avs_studio.core.masks.rle import decode_rle

        out = np.zeros((int(frame["height"]), int(frame["width"])), dtype=np.uint8)
        for obj in frame["objects"]:
            m = decode_rle(obj["rle"]).astype(bool)
            out[m] = 1 if setting.is_binary else int(obj["category"])
        return out

    return load


def _write_report(out: Path, report: ProposeReport, disc: Discovery) -> None:
    failed = {f.item: f for f in report.failures}
    rows = []
    done, skipped = set(report.done), set(report.skipped)
    for t in disc.tasks:
        if t.clip_id in failed:
            continue
        status = "done" if t.clip_id in done else "skipped (already done)" if t.clip_id in skipped else "not run"
        rows.append({"clip_id": t.clip_id, "status": status, "source": t.source, "reason": ""})
    for f in report.failures:
        rows.append({"clip_id": f.item, "status": "failed", "source": f.detail, "reason": f.error})
    data = {
        "setting": report.setting.value, "clips": report.total, "done": len(report.done),
        "skipped": len(report.skipped), "failed": len(report.failures), "cancelled": report.cancelled,
        "wall_s": round(report.wall_s, 3), "clips_per_s": round(report.clips_per_s, 4),
        "timings_s": {k: round(v, 4) for k, v in report.timings.items()},
        "prefetch": report.prefetch, "notes": report.notes,
        "failures": [{"clip_id": f.item, "source": f.detail, "reason": f.error} for f in report.failures],
    }  # fmt: skip
    atomic_write_text(out / REPORT_JSON, json.dumps(data, indent=1) + "\n")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["clip_id", "status", "source", "reason"], lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    with contextlib.suppress(OSError):
        atomic_write_text(out / REPORT_CSV, buf.getvalue())
