"""Merging two projects of the same setting (two annotators' halves) into a new one.

Clips found in only one project are copied as they are (objects, status, undo history).
A clip found in both is copied once: when both copies hold the same objects and status it
counts as identical; otherwise the version further along the workflow wins (``reviewed``
over ``done`` over ...; ties go to ``a``), or ``a``'s / ``b``'s when ``prefer`` says so,
and the clip is listed in the report with both statuses and annotators. The sources are
opened read-only; the result is built under a temporary name and appears complete or not
at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from avs_studio.core.jobs import CancelToken, Progress, no_progress
from avs_studio.core.project.errors import ProjectError
from avs_studio.core.project.lock import lock_path
from avs_studio.core.project.media import store_location
from avs_studio.core.project.project import Project
from avs_studio.core.project.records import clip_record_from_row, status_rank
from avs_studio.core.text import plural

_CLIP_COLUMNS = (
    "uid", "source", "files", "media_hash", "duration", "start", "seconds", "num_frames",
    "frame_times", "ordinals", "annotated", "width", "height", "split", "category", "subset",
    "vid", "a_obj", "status", "annotator", "comment", "added_at", "updated_at", "object_order",
)  # fmt: skip
_OBJECT_COLUMNS = (
    "frame", "instance", "label", "rle", "area", "kind", "model", "checkpoint", "confidence",
    "created_by", "edited_by", "edited_at", "sounding", "sounding_checked",
)  # fmt: skip
_HISTORY_COLUMNS = ("undone", "description", "command", "data", "user", "at")


@dataclass
class MergeConflict:
    """A clip both projects hold with different content, and which version was kept."""

    clip_id: str
    status_a: str
    status_b: str
    annotator_a: str
    annotator_b: str
    kept: str
    same_media: bool = True

    def __str__(self) -> str:
        media = "" if self.same_media else " (different media!)"
        return (f"{self.clip_id}: a={self.status_a} ({self.annotator_a or '?'}), "
                f"b={self.status_b} ({self.annotator_b or '?'}) -> kept {self.kept}{media}")  # fmt: skip


@dataclass
class MergeReport:
    """What a merge did."""

    out: Path
    only_a: int = 0
    only_b: int = 0
    identical: int = 0
    conflicts: list[MergeConflict] = field(default_factory=list)

    @property
    def in_both(self) -> int:
        """Clips found in both projects."""
        return self.identical + len(self.conflicts)

    @property
    def clips(self) -> int:
        """Clips in the merged project."""
        return self.only_a + self.only_b + self.in_both

    def line(self) -> str:
        """One line for the CLI."""
        return (f"merged {plural(self.clips, 'clip')} into {self.out}: {self.only_a} only in A, {self.only_b} only "
                f"in B, {self.in_both} in both ({self.identical} identical, {len(self.conflicts)} differing)")  # fmt: skip


def merge(a: str | os.PathLike[str], b: str | os.PathLike[str], out: str | os.PathLike[str], *,
                   prefer: str = "status", progress: Progress = no_progress,
                   cancel: CancelToken | None = None) -> MergeReport:  # fmt: skip
    """Merge projects ``a`` and ``b`` into the new project ``out`` (see the module docstring)."""
    if prefer not in ("status", "a", "b"):
        raise ValueError("prefer must be 'status', 'a' or 'b'")
    out = Path(out)
    if out.exists():
        raise ProjectError(f"{out} already exists; choose a new name for the merged project")
    tmp = out.with_name(f".avs-tmp-merge-{os.getpid()}-{out.name}")
    report = MergeReport(out)
    with Project.open(a, readonly=True) as pa, Project.open(b, readonly=True) as pb:
        if pa.setting is not pb.setting or pa.labels != pb.labels:
            raise ProjectError(
                f"cannot merge a {pa.setting.value.upper()} project with a {pb.setting.value.upper()} "
                "project (or their label sets differ)"
            )
        rows_a = {r["uid"]: r for r in pa._store.query("SELECT * FROM clips ORDER BY id")}
        rows_b = {r["uid"]: r for r in pb._store.query("SELECT * FROM clips ORDER BY id")}
        for project, rows in ((pa, rows_a), (pb, rows_b)):  # a damaged row is refused, not copied
            for row in rows.values():
                clip_record_from_row(row, project._store.dir, project.path)
        order = list(rows_a) + [u for u in rows_b if u not in rows_a]
        try:
            po = Project.create(tmp, pa.setting, name=out.stem, labels=pa.labels, user=pa.user)
            with po, po._store.write("the merge") as conn:
                progress(0, len(order), "")
                for i, uid in enumerate(order, start=1):
                    if cancel is not None:
                        cancel.raise_if_cancelled()
                    ra, rb = rows_a.get(uid), rows_b.get(uid)
                    if rb is None:
                        _copy_clip(pa, ra, po, conn)
                        report.only_a += 1
                    elif ra is None:
                        _copy_clip(pb, rb, po, conn)
                        report.only_b += 1
                    else:
                        same = _content(pa, ra) == _content(pb, rb) and ra["status"] == rb["status"]
                        if same:
                            _copy_clip(pa, ra, po, conn)
                            report.identical += 1
                        else:
                            kept = _choose(ra, rb, prefer)
                            src, row = (pa, ra) if kept == "a" else (pb, rb)
                            _copy_clip(src, row, po, conn)
                            report.conflicts.append(MergeConflict(
                                uid, ra["status"], rb["status"], ra["annotator"], rb["annotator"], kept,
                                same_media=ra["media_hash"] == rb["media_hash"],
                            ))  # fmt: skip
                    progress(i, len(order), uid)
            if out.exists():
                raise ProjectError(f"{out} appeared while merging; the merge was not saved")
            os.replace(tmp, out)
        finally:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(str(tmp) + suffix)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock_path(tmp))
    return report


def _choose(ra, rb, prefer: str) -> str:
    if prefer in ("a", "b"):
        return prefer
    return "b" if status_rank(rb["status"]) > status_rank(ra["status"]) else "a"


def _content(project, row) -> str:
    """Digest of one clip's objects (what was drawn, not when)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(row["object_order"].encode())  # the order decides what overlapping objects export
    for r in project._store.query(
        "SELECT frame, instance, label, rle, kind, sounding FROM objects WHERE clip=? ORDER BY frame, instance",
        (row["id"],),
    ):
        h.update(repr((r[0], r[1], r[2], bytes(r[3]), r[4], r[5])).encode())
    return h.hexdigest()


def _copy_clip(src, row, dst, conn) -> None:
    """Copy a clip row with its objects and history; media locations re-based on ``dst``."""
    from avs_studio.core.project.media import resolve_location

    root = resolve_location(row["root_rel"], row["root_abs"], src._store.dir)
    rel, absolute = store_location(root, dst._store.dir)
    values = [row[c] for c in _CLIP_COLUMNS]
    cur = conn.execute(
        f"INSERT INTO clips(root_rel, root_abs, {', '.join(_CLIP_COLUMNS)}) "
        f"VALUES (?, ?, {', '.join('?' * len(_CLIP_COLUMNS))})",
        (rel, absolute, *values),
    )
    new_id = cur.lastrowid
    objects = src._store.query(f"SELECT {', '.join(_OBJECT_COLUMNS)} FROM objects WHERE clip=?", (row["id"],))
    conn.executemany(
        f"INSERT INTO objects(clip, {', '.join(_OBJECT_COLUMNS)}) VALUES (?, {', '.join('?' * len(_OBJECT_COLUMNS))})",
        [(new_id, *tuple(r)) for r in objects],
    )
    history = src._store.query(
        f"SELECT {', '.join(_HISTORY_COLUMNS)} FROM history WHERE clip=? ORDER BY id", (row["id"],)
    )
    conn.executemany(
        f"INSERT INTO history(clip, {', '.join(_HISTORY_COLUMNS)}) VALUES (?, {', '.join('?' * len(_HISTORY_COLUMNS))})",
        [(new_id, *tuple(r)) for r in history],
    )
