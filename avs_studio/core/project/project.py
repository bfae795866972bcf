"""Annotation projects: one SQLite file holding clips, objects, statuses and undo history.

A project is one file (``*.avsproj``) next to, not inside, the media it points at::

    with Project.create("birds.avsproj", "avss") as project:
        project.add_clips_from_dataset("avsbench_data/AVSS")
        project.add_video("recordings/park.mp4", start=30, seconds=10, split="train")
        session = project.session("park_30000_40000", user="ana")
        stroke = session.stroke(frame=0, instance_id=1, radius=12, label="bird")
        stroke.add_points([(100, 80), (140, 90), (170, 120)])
        session.apply(stroke.finish())          # committed at once: the autosave
        session.undo()
        project.export("out", "avsbench-avss", status="done")

Every change of a clip's objects or status is an :mod:`~avs_studio.core.project.edits` command
applied through a :class:`~avs_studio.core.project.session.ClipSession` (one transaction
each, undo history kept in the file). Adding clips, relinking media, exporting and merging
are project operations. One process at a time may open a project for writing (an OS lock
on the project file itself, and SQLite's write lock); others are refused with the holder's
name, or open it read-only.

This module is the public face; the work is done in the modules beside it: ``store``
(SQLite, transactions, crash safety), ``schema`` (tables, migrations), ``add`` (adding
clips), ``io`` (export, import), ``merge``, ``clip`` (clips as
:class:`~avs_studio.core.clip.Clip`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from avs_studio.core.datasets.common import Dataset
from avs_studio.core.errors import MediaError
from avs_studio.core.export.compose import Composition, Layer, compose_objects
from avs_studio.core.export.layout import read_segment_manifest
from avs_studio.core.jobs import CancelToken, ItemFailure, Progress, no_progress
from avs_studio.core.masks.rle import HOLES_LOSE
from avs_studio.core.project import rle
from avs_studio.core.project.add import (
    AddReport,
    AlreadyPresent,
    NewClip,
    dataset_clip,
    find_videos,
    insert_clip,
    is_list_file,
    merge_reports,
    open_project_dataset,
    read_list_file,
    run_adds,
    segment_starts,
    video_clip,
)
from avs_studio.core.project.clip import ProjectClip
from avs_studio.core.project.errors import (
    EditError,
    ProjectCorruptError,
    ProjectError,
    ProjectLockedError,
    ProjectReadOnlyError,
    ProjectStorageError,
    ProjectVersionError,
)
from avs_studio.core.project.lock import current_user
from avs_studio.core.project.media import hash_like, store_location
from avs_studio.core.project.records import (
    KIND_ACCEPTED,
    KIND_DATASET,
    KIND_IMPORT,
    KIND_MANUAL,
    KIND_PROPOSAL,
    STATUS_TITLES,
    ClipRecord,
    LabelSet,
    ObjectRecord,
    OpenProposal,
    Provenance,
    clip_record_from_row,
    paint_order,
    parse_status,
)
from avs_studio.core.project.schema import SCHEMA_VERSION, STATUSES
from avs_studio.core.project.session import HISTORY_LIMIT, ClipSession
from avs_studio.core.project.store import ClipStore, ProjectStore, now_iso
from avs_studio.core.setting import Setting

__all__ = [
    "HISTORY_LIMIT",
    "KIND_ACCEPTED",
    "KIND_DATASET",
    "KIND_IMPORT",
    "KIND_MANUAL",
    "KIND_PROPOSAL",
    "PROJECT_SUFFIX",
    "SCHEMA_VERSION",
    "STATUSES",
    "STATUS_TITLES",
    "ClipRecord",
    "ClipSession",
    "EditError",
    "LabelSet",
    "ObjectRecord",
    "OpenProposal",
    "Project",
    "ProjectClip",
    "ProjectCorruptError",
    "ProjectError",
    "ProjectLockedError",
    "ProjectReadOnlyError",
    "ProjectStorageError",
    "ProjectVersionError",
    "Provenance",
]

PROJECT_SUFFIX = ".avsproj"


class Project:
    """An open annotation project. Use :meth:`create` or :meth:`open`; close it (or use ``with``)."""

    def __init__(self, store: ProjectStore) -> None:
        self._store = store
        meta = {r[0]: r[1] for r in store.query("SELECT key, value FROM meta")}
        try:
            self.setting: Setting = Setting.parse(meta["setting"])
            self.labels: LabelSet = LabelSet.from_json(meta["labels"])
        except (KeyError, ValueError, TypeError, AttributeError, RecursionError) as exc:
            store.close()
            raise ProjectCorruptError(f"{store.path}: damaged project meta data ({exc})") from None
        self.name: str = meta.get("name", store.path.stem)
        self._clip_stores: dict[str, ClipStore] = {}

    # ------------------------------------------------------------------ lifetime
    @classmethod
    def create(cls, path: str | os.PathLike[str], setting: Setting | str, *, name: str | None = None,
               labels: LabelSet | None = None, user: str | None = None,
               durability: str = "normal") -> Project:  # fmt: skip
        """Create a new project file for ``setting`` and open it for writing.

        ``durability="normal"`` survives a killed process; ``"full"`` also survives a
        power cut (see :mod:`avs_studio.core.project.store`).
        """
        p = Path(path)
        s = Setting.parse(setting)
        meta = {
            "setting": s.value,
            "labels": (labels or LabelSet.for_setting(s)).to_json(),
            "name": name or p.stem,
            "created_at": now_iso(),
            "created_by": user or current_user(),
        }
        return cls(ProjectStore.create(p, meta, durability=durability, user=user or current_user()))

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, readonly: bool = False, user: str | None = None,
             durability: str = "normal") -> Project:  # fmt: skip
        """Open a project; a second writer gets :class:`ProjectLockedError` (or use ``readonly``)."""
        return cls(ProjectStore.open(Path(path), readonly=readonly, durability=durability,
                                     user=user or current_user()))  # fmt: skip

    def close(self) -> None:
        """Close the file and release the writer lock (idempotent)."""
        self._clip_stores.clear()
        self._store.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> Path:
        """The project file."""
        return self._store.path

    @property
    def readonly(self) -> bool:
        """True when opened read-only."""
        return self._store.readonly

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._store.closed

    @property
    def user(self) -> str:
        """Whom edits are recorded for by default."""
        return self._store.user

    def __repr__(self) -> str:
        mode = "read-only" if self.readonly else "read-write"
        return f"<Project {self.path.name} {self.setting.value} {mode}>"

    # ------------------------------------------------------------------ clips: reading
    def clips(self, status: str | None = None, split: str | None = None) -> list[ClipRecord]:
        """Clips in the order they were added, optionally one status and/or split."""
        sql, params = "SELECT * FROM clips", []
        where = []
        if status is not None:
            where.append("status = ?")
            params.append(parse_status(status))
        if split is not None:
            where.append("split = ?")
            params.append(split)
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._store.query(sql + " ORDER BY id", params)
        return [clip_record_from_row(r, self._store.dir, self.path) for r in rows]

    def clip_ids(self) -> list[str]:
        """Ids of all clips, in the order they were added."""
        return [r[0] for r in self._store.query("SELECT uid FROM clips ORDER BY id")]

    def clip_record(self, clip_id: str) -> ClipRecord:
        """The record of one clip (ProjectError if there is no such clip)."""
        row = self._store.query_one("SELECT * FROM clips WHERE uid = ?", (clip_id,))
        if row is None:
            raise ProjectError(f"{self.path.name}: no clip named {clip_id!r}")
        return clip_record_from_row(row, self._store.dir, self.path)

    def clip(self, clip_id: str) -> ProjectClip:
        """One clip as a :class:`~avs_studio.core.clip.Clip` (frames, audio, masks)."""
        return ProjectClip(self, self.clip_record(clip_id))

    def __len__(self) -> int:
        return int(self._store.query_one("SELECT count(*) FROM clips")[0])

    def __contains__(self, clip_id: object) -> bool:
        return self._store.query_one("SELECT 1 FROM clips WHERE uid = ?", (str(clip_id),)) is not None

    def counts(self) -> dict[str, dict[str, int]]:
        """Clips per status and per split: ``{"status": {...}, "split": {...}}``."""
        by_status = {s: 0 for s in STATUSES}
        for status, n in self._store.query("SELECT status, count(*) FROM clips GROUP BY status"):
            if status not in by_status:  # the CHECK constraint was bypassed: a damaged file
                raise ProjectCorruptError(f"{self.path}: damaged project: a clip has the status {status!r}")
            by_status[status] = int(n)
        by_split = {
            (str(split) if split else "none"): int(n)
            for split, n in self._store.query("SELECT split, count(*) FROM clips GROUP BY split ORDER BY split")
        }
        return {"status": by_status, "split": by_split}

    # ------------------------------------------------------------------ clips: adding
    def add_video(self, path: str | os.PathLike[str], *, start: float = 0.0, seconds: int | None = None,
                  split: str = "", category: str = "", clip_id: str | None = None,
                  vid: str | None = None, a_obj: str = "") -> ClipRecord:  # fmt: skip
        """Add ``[start, start + seconds)`` of a video (5 s, or for AVSS 5 or 10 s) as a clip.

        A segment of a longer video is named ``<vid>_<start_ms>_<end_ms>`` (the AVSS rule;
        AVSS clips always are), a whole 5 s video by its file name. Frames are sampled as
        the official preprocessing does; nothing is re-encoded.
        """
        self._store.require_writable()
        spec = video_clip(self, path, start=start, seconds=seconds, split=split, category=category,
                          clip_id=clip_id, vid=vid, a_obj=a_obj)  # fmt: skip
        try:
            return insert_clip(self, spec)
        except AlreadyPresent:
            return self.clip_record(spec.uid)

    def add_segments(self, path: str | os.PathLike[str], *, seconds: int | None = None,
                     step: float | None = None, split: str = "", category: str = "",
                     progress: Progress = no_progress, cancel: CancelToken | None = None) -> AddReport:  # fmt: skip
        """Cut a long recording into clips of ``seconds`` every ``step`` s (default back to back)."""
        from avs_studio.core.media.decode import probe

        self._store.require_writable()
        info = probe(path)
        secs = seconds or (5 if self.setting.is_binary else 10)
        starts = segment_starts(info.duration, secs, step)

        def add(start: float) -> ClipRecord:
            return insert_clip(self, video_clip(self, path, start=start, seconds=secs, split=split,
                                                category=category, clip_id=None))  # fmt: skip

        return run_adds(starts, add, name=lambda s: f"{Path(path).name}@{s:g}s", progress=progress,
                        cancel=cancel)  # fmt: skip

    def add_folder(self, folder: str | os.PathLike[str], *, recursive: bool = True,
                   seconds: int | None = None, split: str = "", category: str = "",
                   progress: Progress = no_progress, cancel: CancelToken | None = None) -> AddReport:  # fmt: skip
        """Add every video in a folder (an AVSBench dataset folder is added as a dataset)."""
        from avs_studio.core.datasets import detect_setting

        self._store.require_writable()
        f = Path(folder)
        if not f.is_dir():
            raise ProjectError(f"{f}: no such folder")
        if detect_setting(f):
            return self.add_clips_from_dataset(f, progress=progress, cancel=cancel)
        videos = find_videos(f, recursive=recursive)
        if not videos:
            raise MediaError(f"{f}: no video files here")

        def add(p: Path) -> ClipRecord:
            return insert_clip(self, video_clip(self, p, seconds=seconds, split=split, category=category))

        return run_adds(videos, add, name=lambda p: p.name, progress=progress, cancel=cancel)

    def add_list_file(self, path: str | os.PathLike[str], *, seconds: int | None = None,
                      split: str = "", category: str = "", progress: Progress = no_progress,
                      cancel: CancelToken | None = None) -> AddReport:  # fmt: skip
        """Add the clips a list file names: ``path[,start[,seconds[,split[,category]]]]`` a line.

        Paths are relative to the list file; empty fields take the arguments' values.
        """
        self._store.require_writable()
        entries = read_list_file(Path(path))

        def add(e) -> ClipRecord:
            return insert_clip(self, video_clip(
                self, e.path, start=e.start, seconds=e.seconds or seconds, split=e.split or split,
                category=e.category or category,
            ))  # fmt: skip

        return run_adds(entries, add, progress=progress, cancel=cancel)

    def add_clips_from_dataset(self, dataset: Dataset | str | os.PathLike[str], *,
                               split: str | None = None, clip_ids: Iterable[str] | None = None,
                               with_masks: bool = True, status: str | None = None,
                               progress: Progress = no_progress,
                               cancel: CancelToken | None = None) -> AddReport:  # fmt: skip
        """Add an AVSBench dataset's clips; its ground truth becomes objects (provenance "dataset").

        ``split`` and ``clip_ids`` choose which clips (e.g. one annotator's half). Clips
        keep pointing at the dataset's frame and WAV files. Clips with ground truth start
        as ``done`` (``status`` overrides), others as ``new``.
        """
        self._store.require_writable()
        ds = open_project_dataset(self, dataset)
        if status is not None:
            status = parse_status(status)

        origins, problem = read_segment_manifest(ds.root)  # clips an export cut from longer videos

        def add(clip) -> ClipRecord:
            spec, objects = dataset_clip(self, ds, clip, with_masks=with_masks, status=status,
                                         origin=origins.get(clip.clip_id))  # fmt: skip
            return insert_clip(self, spec, objects)

        clips = ds.clips(split)
        if clip_ids is not None:
            wanted = set(clip_ids)
            clips = [c for c in clips if c.clip_id in wanted]
        report = run_adds(clips, add, name=lambda c: c.clip_id, progress=progress, cancel=cancel)
        # Rows of the dataset's metadata that were refused are clips not added: failures.
        report.failures[:0] = [ItemFailure(p.where, p.message) for p in ds.skipped_rows]
        report.notes.extend(ds.notes())
        if problem:
            report.notes.append(problem)
        return report

    def add(self, sources: list[str | os.PathLike[str]], *, start: float = 0.0, seconds: int | None = None,
            split: str = "", category: str = "", progress: Progress = no_progress,
            cancel: CancelToken | None = None) -> AddReport:  # fmt: skip
        """Add videos, folders, list files and datasets, whichever each source is."""
        from avs_studio.core.datasets import detect_setting

        reports = []
        for src in sources:
            p = Path(src)
            if p.is_dir() and detect_setting(p):
                reports.append(self.add_clips_from_dataset(p, progress=progress, cancel=cancel))
            elif p.is_dir():
                reports.append(self.add_folder(p, seconds=seconds, split=split, category=category,
                                               progress=progress, cancel=cancel))  # fmt: skip
            elif is_list_file(p):
                reports.append(self.add_list_file(p, seconds=seconds, split=split, category=category,
                                                  progress=progress, cancel=cancel))  # fmt: skip
            else:
                def one(q: Path) -> ClipRecord:
                    return insert_clip(self, video_clip(self, q, start=start, seconds=seconds, split=split,
                                                        category=category))  # fmt: skip

                reports.append(run_adds([p], one, name=lambda q: q.name, progress=progress, cancel=cancel))
        return merge_reports(reports)

    def add_clip(self, clip: NewClip, objects=()) -> ClipRecord:
        """Insert a fully described clip (for tools that probe media themselves)."""
        self._store.require_writable()
        return insert_clip(self, clip, objects)

    # ------------------------------------------------------------------ media
    def missing_media(self) -> list[ClipRecord]:
        """Clips whose media cannot be found (moved or deleted): relink them, they are kept."""
        return [r for r in self.clips() if r.media_missing]

    def relink(self, target: str, new_path: str | os.PathLike[str], *, check_hash: bool = True) -> list[str]:
        """Point clips at moved media; return the ids relinked.

        ``target`` is a clip id (``new_path``: its video file, or the dataset folder of a
        dataset clip) or a folder the media used to live under (``new_path``: where that
        folder is now; every clip under it whose files are found there is relinked). The
        content hash must match unless ``check_hash`` is False. Not an edit: no undo.
        """
        self._store.require_writable()
        new = Path(new_path).resolve()
        if target in self:
            rec = self.clip_record(target)
            updates = [self._relink_one(rec, new, check_hash, strict=True)]
        else:
            old = Path(target).resolve().as_posix().rstrip("/")
            updates = []
            for rec in self.clips():
                root = rec.root_abs.rstrip("/")
                if root == old or root.startswith(old + "/"):
                    moved = new / root[len(old):].lstrip("/") if root != old else new
                    candidate = moved / rec.files["video"] if rec.source == "video" else moved
                    up = self._relink_one(rec, candidate, check_hash, strict=False)
                    if up is not None:
                        updates.append(up)
        updates = [u for u in updates if u is not None]
        with self._store.write("the relink") as conn:
            for uid, rel, absolute, files in updates:
                conn.execute("UPDATE clips SET root_rel=?, root_abs=?, files=?, updated_at=? WHERE uid=?",
                             (rel, absolute, json.dumps(files), now_iso(), uid))  # fmt: skip
        return [u[0] for u in updates]

    def _relink_one(self, rec: ClipRecord, new: Path, check_hash: bool, *, strict: bool):
        files = dict(rec.files)
        if rec.source == "video":
            if not new.is_file():
                if strict:
                    raise MediaError(f"{new}: no such video file")
                return None
            root, files["video"], key = new.parent, new.name, new
        else:
            key = new / files["frames"][0]
            if not key.is_file():
                if strict:
                    raise MediaError(f"{new}: does not hold the frames of {rec.clip_id} ({files['frames'][0]})")
                return None
            root = new
        if check_hash and rec.media_hash and hash_like(rec.media_hash, key) != rec.media_hash:
            if strict:
                raise ProjectError(
                    f"{key}: its content differs from the media {rec.clip_id} was made from "
                    "(hash mismatch); relink without the hash check only if you are sure"
                )
            return None
        rel, absolute = store_location(root, self._store.dir)
        return rec.clip_id, rel, absolute, files

    # ------------------------------------------------------------------ objects
    def _clip_store(self, clip_id: str) -> ClipStore:
        cs = self._clip_stores.get(clip_id)
        if cs is None:
            row = self._store.query_one(
                "SELECT id, width, height, num_frames FROM clips WHERE uid = ?", (clip_id,)
            )
            if row is None:
                raise ProjectError(f"{self.path.name}: no clip named {clip_id!r}")
            rec = self.clip_record(clip_id)  # checks the whole row: a damaged one is refused
            cs = ClipStore(self._store, int(row[0]), clip_id, height=rec.height, width=rec.width,
                           num_frames=rec.num_frames, labels=self.labels, user=self.user)  # fmt: skip
            self._clip_stores[clip_id] = cs
        return cs

    def frame_objects(self, clip_id: str, frame: int, *, include_proposals: bool = True) -> list[ObjectRecord]:
        """Objects of one frame (instance id, label, lazily decoded mask, provenance)."""
        objs = self._clip_store(clip_id).objects(frame)
        return objs if include_proposals else [o for o in objs if not o.provenance.is_proposal]

    def composed_mask(self, clip_id: str, frame: int, *, include_proposals: bool = False,
                      binary: bool | None = None) -> Composition:  # fmt: skip
        """The mask an export writes for one frame, and what its overlaps cost.

        The frame's objects are composed by :func:`~avs_studio.core.export.compose.compose_objects`
        in the clip's object order (bottom first): a class-index map where the object on
        top wins a shared pixel (AVSS), the union for S4/MS3 (``binary`` overrides). The
        annotator's "show as exported" view draws exactly this.
        """
        cs = self._clip_store(clip_id)
        # The frame's AVS mask holds only the objects sounding in it (AVSBench's definition):
        # silent ones are geometry for the annotator, never ground truth. Every export and
        # every reading of the project as ground truth comes through here.
        rows = {int(r[0]): r for r in self._store.query(
            "SELECT instance, label, rle, kind FROM objects WHERE clip=? AND frame=? AND sounding=1",
            (cs.rowid, frame))}  # fmt: skip
        layers = [
            Layer(i, int(rows[i][1]), rle.decode(rows[i][2], *cs.shape))
            for i in paint_order(cs.stored_order(), rows)
            if include_proposals or rows[i][3] != KIND_PROPOSAL
        ]
        return compose_objects(layers, cs.shape, binary=self.setting.is_binary if binary is None else binary)

    def label_mask(self, clip_id: str, frame: int, *, include_proposals: bool = False) -> np.ndarray:
        """Class-index map (uint8) of one frame as exported: objects painted in the clip's
        object order, the later on top (see :meth:`composed_mask`).

        For S4/MS3 projects this is the binary mask (1 = sounding object). Objects marked
        silent in this frame are left out (see :class:`~avs_studio.core.project.edits.SetSounding`).
        """
        return self.composed_mask(clip_id, frame, include_proposals=include_proposals).mask

    def binary_mask(self, clip_id: str, frame: int, *, include_proposals: bool = False) -> np.ndarray:
        """Union of the objects sounding in one frame: uint8 {0, 1}."""
        return self.composed_mask(clip_id, frame, include_proposals=include_proposals, binary=True).mask

    def object_order(self, clip_id: str) -> list[int]:
        """The objects of a clip, bottom to top, as the export composes them."""
        return self._clip_store(clip_id).object_order()

    def open_proposals(self, clip_id: str | None = None) -> list[OpenProposal]:
        """Model proposals nobody accepted or rejected yet: one per object per frame.

        Of one clip, or (``clip_id=None``) of the whole project, by clip, frame and object.
        The default export leaves them out, so marking a clip done or exporting it with open
        proposals drops what the model proposed: the annotator asks first and ``project
        export`` reports the clips that have some.
        """
        sql = ("SELECT c.uid, o.frame, o.instance, o.label, o.confidence FROM objects o "
               "JOIN clips c ON c.id = o.clip WHERE o.kind = ?")  # fmt: skip
        params: list = [KIND_PROPOSAL]
        if clip_id is not None:
            sql += " AND o.clip = ?"
            params.append(self._clip_store(clip_id).rowid)
        rows = self._store.query(sql + " ORDER BY c.id, o.frame, o.instance", params)
        return [OpenProposal(r[0], int(r[1]), int(r[2]), int(r[3]), self.labels.name(int(r[3])), r[4])
                for r in rows]  # fmt: skip

    def object_counts(self, clip_id: str) -> dict[str, int]:
        """Object rows (one per object per frame) of a clip by provenance kind."""
        rows = self._store.query("SELECT kind, count(*) FROM objects WHERE clip=? GROUP BY kind",
                                 (self._clip_store(clip_id).rowid,))  # fmt: skip
        return {str(k): int(n) for k, n in rows}

    def session(self, clip_id: str, *, user: str | None = None, auto_status: bool = True) -> ClipSession:
        """The undo stack of one clip, and the only way to change it."""
        cs = self._clip_store(clip_id)
        if user is not None and user != cs.user:
            cs = ClipStore(self._store, cs.rowid, clip_id, height=cs.height, width=cs.width,
                           num_frames=cs.num_frames, labels=self.labels, user=user)  # fmt: skip
        return ClipSession(self, cs, auto_status=auto_status)

    # ------------------------------------------------------------------ exchange
    def to_maskset(self, *, status: str | None = None, split: str | None = None,
                   include_proposals: bool = False):  # fmt: skip
        """The project's masks as a foundation :class:`~avs_studio.core.export.MaskSet` (lazy)."""
        from avs_studio.core.project.io import to_maskset

        return to_maskset(self, status=status, split=split, include_proposals=include_proposals)

    def export(self, out: str | os.PathLike[str], to: str, *, status: str | None = None,
               split: str | None = None, polygons: bool = False, holes: str = HOLES_LOSE,
               media: bool = True, include_proposals: bool = False, log_mel_writer=None,
               progress: Progress = no_progress, cancel: CancelToken | None = None):  # fmt: skip
        """Export to ``coco``, ``png`` or ``avsbench-s4|ms3|avss`` (see :mod:`~avs_studio.core.project.io`)."""
        from avs_studio.core.project.io import export_project

        return export_project(self, out, to, status=status, split=split, polygons=polygons, holes=holes,
                              media=media, include_proposals=include_proposals,
                              log_mel_writer=log_mel_writer, progress=progress, cancel=cancel)  # fmt: skip

    def import_masks(self, src: str | os.PathLike[str], *, setting: str | None = None,
                     split: str | None = None, user: str | None = None,
                     progress: Progress = no_progress, cancel: CancelToken | None = None):  # fmt: skip
        """Import COCO / PNG / AVSBench masks as objects of the clips they name (undoable)."""
        from avs_studio.core.project.io import import_masks

        return import_masks(self, src, setting=setting, split=split, user=user, progress=progress,
                            cancel=cancel)  # fmt: skip

    # ------------------------------------------------------------------ upkeep
    def checkpoint(self) -> None:
        """Fold the write-ahead log into the project file (every edit is committed already).

        After this the ``.avsproj`` file alone holds the whole project, e.g. for copying it
        while the app is open. A no-op for read-only projects.
        """
        self._store.fold_wal()

    def check(self) -> list[str]:
        """SQLite's integrity check, foreign keys, the schema (tables, columns, indexes) and
        every clip row: problems found (empty when all is well)."""
        from avs_studio.core.project.schema import schema_problems

        try:
            rows = self._store.query("PRAGMA integrity_check")
            problems = [r[0] for r in rows if r[0] != "ok"]
            problems += [f"dangling reference in {r[0]}" for r in self._store.query("PRAGMA foreign_key_check")]
            with self._store.mutex:
                problems += schema_problems(self._store.conn)
            if not problems:
                self.clips()  # every clip row decodes
        except ProjectCorruptError as exc:
            problems = [str(exc)]
        return problems

    def state_digest(self) -> str:
        """A hash of everything drawn and decided (clips, objects, statuses, undo history).

        Time stamps are left out, so two projects that went through the same edits have
        the same digest; used to check crash recovery and merges.
        """
        import hashlib

        h = hashlib.blake2b(digest_size=16)
        for table, sql in (
            ("clips", "SELECT uid, status, annotator, comment, split, category, annotated, object_order "
                      "FROM clips ORDER BY uid"),
            ("objects", "SELECT c.uid, o.frame, o.instance, o.label, o.rle, o.kind, o.model, o.checkpoint, "
                        "o.confidence, o.sounding, o.sounding_checked FROM objects o JOIN clips c ON c.id = o.clip "
                        "ORDER BY c.uid, o.frame, o.instance"),
            ("history", "SELECT c.uid, h.undone, h.description FROM history h JOIN clips c ON c.id = h.clip "
                        "ORDER BY c.uid, h.id"),
        ):  # fmt: skip
            h.update(table.encode())
            for row in self._store.query(sql):
                h.update(repr(tuple(bytes(v) if isinstance(v, (bytes, memoryview)) else v for v in row)).encode())
        return h.hexdigest()
