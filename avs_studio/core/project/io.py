"""Export a project through the foundation exporters, and import masks back into one.

:func:`to_maskset` turns the project's ground-truth slots into a lazy
:class:`~avs_studio.core.export.MaskSet` (one composite mask per annotated frame, proposals
left out), so the COCO and PNG writers work unchanged. The AVSBench export writes complete
datasets: masks, the sampled frames, the audio, the metadata rows and the clip's video;
a clip that is a segment of a longer video gets its segment cut out exactly
(:func:`~avs_studio.core.media.writer.trim_video` with ``exact=True``: a stream copy when
the segment starts on a keyframe, else a lossless re-encode), so that the official
preprocessing run on the exported video picks the exported frames; its position in the
long video goes to ``avs_studio_manifest.json``. Clips the official loader of the target
cannot read (too few masks, too many frames) are left out and named. Imports go through
edit commands, one undoable "Import masks" per clip.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from avs_studio.core.clip import MODEL_SIZE
from avs_studio.core.datasets.common import LogMelWriter
from avs_studio.core.errors import AVSError, DatasetError, FormatError
from avs_studio.core.export import (
    FrameMask,
    MaskSet,
    OverlapTally,
    load_masks,
    write_coco,
    write_png_masks,
)
from avs_studio.core.export.avsbench import FOLDER
from avs_studio.core.export.layout import (
    SEGMENT_MANIFEST,
    LeftOut,
    dropped_masks,
    frame_file_fits,
    left_out_note,
    output_folder,
    refusal,
    required_masks,
)
from avs_studio.core.export.report import write_export_report
from avs_studio.core.fsutil import atomic_dir, atomic_write_text
from avs_studio.core.jobs import CancelToken, ItemFailure, Progress, no_progress
from avs_studio.core.masks.resize import resize_nearest
from avs_studio.core.masks.rle import HOLES_LOSE
from avs_studio.core.project.errors import ProjectError
from avs_studio.core.project.records import KIND_IMPORT, ClipRecord, Provenance
from avs_studio.core.setting import Setting
from avs_studio.core.text import plural

if TYPE_CHECKING:
    from avs_studio.core.project.project import Project

TARGETS = ("coco", "png", "avsbench-s4", "avsbench-ms3", "avsbench-avss")


def official_frame_name(setting: Setting, rec: ClipRecord, k: int) -> str:
    """The frame's path in the official layout of ``setting`` (COCO ``file_name``)."""
    if setting is Setting.S4:
        split, category = rec.split or "none", rec.category or "unknown"
        return f"s4_data/visual_frames/{split}/{category}/{rec.clip_id}/{rec.clip_id}_{k + 1}.png"
    if setting is Setting.MS3:
        return f"ms3_data/visual_frames/{rec.clip_id}/{rec.clip_id}.mp4_{k + 1}.png"
    return f"{rec.subset or avss_subset(rec)}/{rec.clip_id}/frames/{k}.jpg"


def avss_subset(rec: ClipRecord) -> str:
    """The AVSS subset of a clip: as recorded, else v2 for 10 frames and v1s for 5."""
    return rec.subset or ("v2" if rec.num_frames == 10 else "v1s")


def to_maskset(project: Project, *, status: str | None = None, split: str | None = None,
               include_proposals: bool = False, overlaps: OverlapTally | None = None) -> MaskSet:  # fmt: skip
    """One lazy FrameMask per annotated frame of the chosen clips, in the order clips were added.

    Each mask is composed by :meth:`Project.composed_mask` (the clip's object order); the
    overlaps met are recorded in ``overlaps``.
    """
    out = MaskSet(project.setting, info={"source": str(project.path), "mask_resolution": "as stored"})
    for rec in project.clips(status=status, split=split):
        for k in rec.annotated:
            out.frames.append(FrameMask(
                clip_id=rec.clip_id, frame=k, file_name=official_frame_name(project.setting, rec, k),
                split=rec.split, category=rec.category, subset=rec.subset,
                loader=_loader(project, rec.clip_id, k, include_proposals, overlaps),
                meta=clip_columns(project.setting, rec),
            ))  # fmt: skip
    return out


def clip_columns(setting: Setting, rec: ClipRecord) -> dict:
    """The metadata columns a clip gets in the official layout of ``setting``.

    S4 ``start`` (read by the official script to count the clip's seconds, 0..6) is the
    source's value for a dataset clip that has one, and 0 for a clip read from a video
    (exported trimmed, as the official raw videos are) or one whose position is no S4
    start (an AVSS clip's); AVSS ``s_min``/``s_sec`` give the clip's position in its source.
    """
    if setting is Setting.S4:
        start = int(rec.start)
        return {"start": start if rec.source == "dataset" and 0 <= start <= 6 else 0}
    if setting is Setting.AVSS:
        start = int(round(rec.start))
        return {"vid": rec.vid or rec.clip_id, "s_min": start // 60, "s_sec": start % 60, "a_obj": rec.a_obj}
    return {}


def silent_objects(project: Project, masks: MaskSet, *, include_proposals: bool = False) -> int:
    """How many objects of the frames ``masks`` holds are silent there (left out of the masks)."""
    wanted = {(fm.clip_id, fm.frame) for fm in masks.frames}
    rows = project._store.query(
        "SELECT c.uid, o.frame, o.kind FROM objects o JOIN clips c ON c.id = o.clip WHERE o.sounding = 0"
    )
    return sum(1 for uid, k, kind in rows
               if (uid, int(k)) in wanted and (include_proposals or kind != "proposal"))  # fmt: skip


def _loader(project: Project, clip_id: str, k: int, include_proposals: bool, overlaps: OverlapTally | None):
    def load() -> np.ndarray:
        return _composed(project, clip_id, k, include_proposals, overlaps)

    return load


def _composed(project: Project, clip_id: str, k: int, include_proposals: bool,
              overlaps: OverlapTally | None) -> np.ndarray:  # fmt: skip
    """The frame's mask as exported, its overlaps counted."""
    composition = project.composed_mask(clip_id, k, include_proposals=include_proposals)
    if overlaps is not None:
        overlaps.add(clip_id, k, composition)
    return composition.mask


# ====================================================================== export


@dataclass
class ExportSummary:
    """What an export wrote, and what it left out (counted and named)."""

    target: str
    out: Path
    clips: int = 0
    masks: int = 0
    annotations: int = 0
    notes: list[str] = field(default_factory=list)
    overlaps: OverlapTally | None = None  # frames where objects overlap, and what it cost
    left_out: list[LeftOut] = field(default_factory=list)
    #: clip id -> (frame, instance) of the proposals still open (not exported) in the chosen clips
    open_proposals: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    #: masks the layout has no place for (frames 2-5 of S4 / AVSS v1s train clips), named
    dropped: list[str] = field(default_factory=list)
    #: the report file naming all of the above (see :mod:`avs_studio.core.export.report`)
    report: Path | None = None

    def line(self) -> str:
        """One line for the CLI."""
        extra = f", {plural(self.annotations, 'annotation')}" if self.target == "coco" else ""
        left = f"; {plural(len(self.left_out), 'clip')} left out" if self.left_out else ""
        if self.open_proposals:
            left += f"; {plural(len(self.open_proposals), 'clip')} with open proposals not exported"
        if self.dropped:
            left += f"; {plural(len(self.dropped), 'train clip')} with masks the layout cannot hold"
        return (f"exported {plural(self.clips, 'clip')} ({plural(self.masks, 'mask')}{extra}) as {self.target} "
                f"to {self.out}{left}")  # fmt: skip

    @property
    def complete(self) -> bool:
        """False when something the user drew or was proposed did not make it into the export."""
        return not (self.left_out or self.open_proposals or self.dropped)


def open_proposals(project: Project, clip_ids: list[str]) -> dict[str, list[tuple[int, int]]]:
    """The proposals nobody accepted or rejected yet in these clips: ``(frame, instance)`` pairs.

    An export leaves them out (unless asked to include proposals), so it names them.
    """
    wanted = set(clip_ids)
    out: dict[str, list[tuple[int, int]]] = {}
    for prop in project.open_proposals():
        if prop.clip_id in wanted:
            out.setdefault(prop.clip_id, []).append((prop.frame, prop.instance_id))
    return out


MANIFEST = SEGMENT_MANIFEST  # beside an AVSBench export: where clips cut from longer videos come from


def export_project(project: Project, out: str | os.PathLike[str], to: str, *, status: str | None = None,
                   split: str | None = None, polygons: bool = False, holes: str = HOLES_LOSE,
                   media: bool = True, include_proposals: bool = False,
                   log_mel_writer: LogMelWriter | None = None, progress: Progress = no_progress,
                   cancel: CancelToken | None = None) -> ExportSummary:  # fmt: skip
    """Export the chosen clips to COCO (``out`` a .json file or a folder), PNG masks or AVSBench.

    ``media`` (AVSBench only) also writes frames, audio and videos; without it only masks
    and metadata are written (enough for evaluation). ``log_mel_writer(pkl, wav)`` writes
    the S4/MS3 ``audio_log_mel`` pickles (a torch tensor, so the caller supplies it).
    A failed export leaves no output folder behind.
    """
    if to not in TARGETS:
        raise FormatError(f"unknown export target {to!r}: expected one of {', '.join(TARGETS)}")
    out = Path(out)
    overlaps = OverlapTally(project.setting.is_binary)
    masks = to_maskset(project, status=status, split=split, include_proposals=include_proposals,
                       overlaps=overlaps)  # fmt: skip
    if len(masks) == 0:
        raise ProjectError(f"{project.path.name}: no masks to export (check the status and split filters)")
    summary = ExportSummary(to, out, clips=len(masks.clip_ids()), masks=len(masks))
    silent = silent_objects(project, masks, include_proposals=include_proposals)
    if silent:
        summary.notes.append(f"{silent} silent object(s) left out of the masks (visible but not sounding "
                             "in their frame, as AVSBench defines the masks)")  # fmt: skip
    if not include_proposals:
        summary.open_proposals = open_proposals(project, [r.clip_id for r in project.clips(status=status, split=split)])
        if summary.open_proposals:
            n = sum(len(v) for v in summary.open_proposals.values())
            names = ", ".join(f"{c} ({len(v)})" for c, v in list(summary.open_proposals.items())[:5])
            more = f" and {len(summary.open_proposals) - 5} more" if len(summary.open_proposals) > 5 else ""
            summary.notes.append(f"{n} open proposal(s) in {len(summary.open_proposals)} clip(s) not exported "
                                 f"(accept or reject them, or export with proposals): {names}{more}")  # fmt: skip
    with output_folder(out):
        if to == "coco":
            dest = out if out.suffix.lower() == ".json" else out / "annotations.json"
            s = write_coco(dest, masks, polygons=polygons, holes=holes, progress=progress, cancel=cancel)
            summary.out, summary.annotations = dest, s.annotations
            if polygons and s.rle_fallbacks:
                summary.notes.append(f"{s.rle_fallbacks} mask(s) kept as RLE (no polygon fits)")
        elif to == "png":
            write_png_masks(out, masks, progress=progress, cancel=cancel)
        else:
            target = Setting.parse(to.split("-", 1)[1])
            records = project.clips(status=status, split=split)
            wanted = set(masks.clip_ids())
            _write_layout(project, out, target, [r for r in records if r.clip_id in wanted], summary,
                          media=media, include_proposals=include_proposals, overlaps=overlaps,
                          log_mel_writer=log_mel_writer, progress=progress, cancel=cancel)  # fmt: skip
    summary.overlaps = overlaps
    if overlaps.frames:
        summary.notes.append(overlaps.note())
    if to == "coco":
        written = summary.out
    else:
        written = out if to == "png" else out / FOLDER[Setting.parse(to.split("-", 1)[1])]
    summary.report = write_export_report(
        written, source=str(project.path), target=to,
        counts={"clips": summary.clips, "masks": summary.masks, "annotations": summary.annotations},
        notes=summary.notes, left_out=summary.left_out, open_proposals=summary.open_proposals,
        overlaps=overlaps, dropped=summary.dropped,
    )  # fmt: skip
    return summary


def _layout_plan(project: Project, target: Setting, records: list[ClipRecord],
                 summary: ExportSummary) -> list[tuple[ClipRecord, str, str]]:  # fmt: skip
    """(record, split, AVSS subset) of the clips the target's official loader can read."""
    if target is Setting.AVSS and project.setting.is_binary:
        raise FormatError("binary masks carry no classes; they cannot be written as AVSS colour masks")
    plan = []
    for rec in records:
        split = rec.split or "test"
        subset = avss_subset(rec) if target is Setting.AVSS else ""
        why = refusal(target, split, subset, set(rec.annotated), rec.num_frames)
        if why is None:
            plan.append((rec, split, subset))
        else:
            summary.left_out.append(LeftOut(rec.clip_id, why))
    if not plan:
        shown = "; ".join(str(x) for x in summary.left_out[:3])
        raise ProjectError(f"no clip can be exported as {target.value.upper()}: {shown}")
    return plan


def _write_layout(project: Project, out: Path, target: Setting, records: list[ClipRecord],
                  summary: ExportSummary, *, media: bool, include_proposals: bool,
                  overlaps: OverlapTally | None, log_mel_writer: LogMelWriter | None, progress: Progress,
                  cancel: CancelToken | None) -> None:  # fmt: skip
    from avs_studio.core.datasets.avss import AVSSWriter
    from avs_studio.core.datasets.ms3 import MS3Writer
    from avs_studio.core.datasets.s4 import S4Writer

    dest = out / FOLDER[target]
    if dest.exists():
        raise FormatError(f"{dest} already exists; choose a new folder")
    plan = _layout_plan(project, target, records, summary)
    counts = {"resized": 0, "binarised": 0, "unsplit": 0, "train_masks": 0, "copied_frames": 0,
              "reencoded": 0, "no_media": 0, "no_pkl": 0}  # fmt: skip
    segments: dict[str, dict] = {}
    summary.masks = 0
    with atomic_dir(dest) as root:
        writer = {Setting.S4: S4Writer, Setting.MS3: MS3Writer, Setting.AVSS: AVSSWriter}[target](root)
        progress(0, len(plan), "")
        try:
            for i, (rec, split, subset) in enumerate(plan, start=1):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                counts["unsplit"] += not rec.split
                keep = required_masks(target, split, subset)
                kept = [k for k in rec.annotated if k in keep]
                counts["train_masks"] += len(rec.annotated) - len(kept)
                if len(kept) < len(rec.annotated):
                    summary.dropped.append(
                        dropped_masks(rec.clip_id, sorted(k for k in rec.annotated if k not in keep), target))
                clip_masks = {k: _layout_mask(project, rec, k, target, include_proposals, overlaps, counts)
                              for k in kept}  # fmt: skip
                extra = _clip_media(project, rec, target, counts) if media else {}
                video_job = extra.pop("_trim", None)
                if target.is_binary and "wav" in extra:
                    if log_mel_writer is not None:
                        extra["log_mel_writer"] = log_mel_writer
                    else:
                        counts["no_pkl"] += 1
                if rec.is_segment:
                    segments[rec.clip_id] = {"source_video": rec.files.get("video", ""), "source_start": rec.start,
                                             "seconds": rec.seconds, "vid": rec.vid}  # fmt: skip
                if target is Setting.S4:
                    category = rec.category or "unknown"
                    # The official script reads `start` (0..6) to count the seconds of a trimmed
                    # clip; a segment's position in its long video goes to the manifest instead.
                    start = clip_columns(Setting.S4, rec)["start"]
                    writer.add_clip(rec.clip_id, category=category, split=split, start=start,
                                    masks=clip_masks, **extra)  # fmt: skip
                    video_dest = writer.layout.video_path(split, category, rec.clip_id)
                elif target is Setting.MS3:
                    writer.add_clip(rec.clip_id, split=split, masks=clip_masks, **extra)
                    video_dest = writer.layout.video_path(rec.clip_id)
                else:
                    writer.add_clip(
                        rec.clip_id, vid=rec.vid or rec.clip_id, subset=subset, split=split,
                        start=int(round(rec.start)), a_obj=rec.a_obj or _a_obj(project, rec),
                        masks=clip_masks, **extra,
                    )  # fmt: skip
                    video_dest = writer.layout.video_path(rec.clip_id)
                if video_job is not None:
                    _trim(video_job, video_dest, rec, counts)
                summary.masks += len(clip_masks)
                progress(i, len(plan), rec.clip_id)
        except AVSError as exc:
            # Name the clip and the real destination, not the temporary folder being built.
            raise type(exc)(f"clip {rec.clip_id}: {str(exc).replace(str(root), str(dest))}") from None
        writer.finish()
        if segments:
            manifest = {"format": "avs-studio-export", "version": 1, "setting": target.value,
                        "segments": segments}  # fmt: skip
            atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    summary.clips = len(plan)
    notes = {
        "resized": "mask(s) resized to 224x224 (NEAREST), as the layout requires",
        "binarised": "class mask(s) turned binary (any class = sounding object)",
        "unsplit": "clip(s) without a split written to the test split",
        "train_masks": "mask(s) of frames 2-5 of train clips not written: the official layout keeps "
                       "the first frame's mask of a train clip (S4, AVSS v1s)",
        "copied_frames": "frame file(s) copied byte for byte from the source dataset",
        "reencoded": "segment video(s) re-encoded losslessly (H.264, qp 0) to start exactly at the clip: "
                     "its first frame is not a keyframe",
        "no_media": "clip(s) written without frames/audio (media missing: relink them)",
        "no_pkl": "clip(s) written without audio_log_mel/*.pkl (writing them needs torch); the official "
                  "S4/MS3 loaders open them",
    }  # fmt: skip
    summary.notes.extend(f"{counts[k]} {text}" for k, text in notes.items() if counts[k])
    if segments:
        summary.notes.append(f"{len(segments)} clip(s) cut from longer videos: their position in the "
                             f"source is in {MANIFEST}")  # fmt: skip
    if summary.left_out:
        summary.notes.append(left_out_note(summary.left_out, target))


def _layout_mask(project: Project, rec: ClipRecord, k: int, target: Setting, include_proposals: bool,
                 overlaps: OverlapTally | None, counts: dict) -> np.ndarray:  # fmt: skip
    m = _composed(project, rec.clip_id, k, include_proposals, overlaps)
    if target.is_binary:
        if not project.setting.is_binary:
            m = (m != 0).astype(np.uint8)
            counts["binarised"] += 1
        if m.shape != (MODEL_SIZE[1], MODEL_SIZE[0]):
            m = resize_nearest(m, MODEL_SIZE)
            counts["resized"] += 1
    return m


def _a_obj(project: Project, rec: ClipRecord) -> str:
    """The clip's sounding classes joined with '_' (AVSS ``a_obj``), from its objects."""
    rows = project._store.query(
        "SELECT DISTINCT o.label FROM objects o JOIN clips c ON c.id = o.clip "
        "WHERE c.uid = ? AND o.kind != 'proposal' AND o.sounding = 1 ORDER BY o.instance",
        (rec.clip_id,),
    )
    return "_".join(dict.fromkeys(project.labels.name(int(r[0])) for r in rows))


def _clip_media(project: Project, rec: ClipRecord, target: Setting, counts: dict) -> dict:
    """Frames, audio and video of one clip for the target layout (empty if media are missing).

    Frame files of a dataset clip that already are what the layout needs are copied byte
    for byte (no re-encoding of the JPEGs an AVSS clip came with).
    """
    import cv2

    if rec.media_missing:
        counts["no_media"] += 1
        return {}
    extra: dict = {}
    expected = 10 if target is Setting.AVSS and avss_subset(rec) == "v2" else 5
    files = [rec.root / f for f in rec.files.get("frames", [])]
    if rec.source == "dataset" and len(files) == expected and all(
        f.is_file() and frame_file_fits(f, target) for f in files
    ):
        extra["frames"] = files
        counts["copied_frames"] += len(files)
        frames = None
    else:
        with project.clip(rec.clip_id) as clip:
            frames = clip.frames()
        if target.is_binary:
            frames = [f if f.shape[:2] == (224, 224) else cv2.resize(f, MODEL_SIZE, interpolation=cv2.INTER_LINEAR)
                      for f in frames]  # fmt: skip
        if len(frames) == expected:
            extra["frames"] = frames
    wav = rec.files.get("wav")
    if wav and (rec.root / wav).is_file():
        extra["wav"] = rec.root / wav
    elif rec.source == "video":
        from avs_studio.core.media.decode import open_media

        with open_media(rec.media_path) as mf:
            if target.is_binary:  # the official preprocessing's 16 kHz int16 WAV
                extra["wav"] = mf.official_wav(rec.start, float(rec.seconds))
            else:
                extra["wav"] = mf.audio(rec.start, float(rec.seconds))
    if rec.source == "video":
        if rec.is_segment:
            extra["_trim"] = rec.media_path
        else:
            extra["video"] = rec.media_path
    elif rec.files.get("video") and (rec.root / rec.files["video"]).is_file():
        extra["video"] = rec.root / rec.files["video"]
    return extra


def _trim(src: Path, dest: Path, rec: ClipRecord, counts: dict) -> None:
    """Cut the clip's segment out of its long video into the layout's video path, exactly:
    the cut starts with the clip's first frame, so the official preprocessing run on it
    picks the frames the export wrote."""
    from avs_studio.core.media.writer import trim_video

    result = trim_video(src, dest, rec.start, float(rec.seconds), exact=True)
    counts["reencoded"] += result.reencoded


# ====================================================================== import


@dataclass
class ImportReport:
    """What an import did."""

    clips: int = 0
    frames: int = 0
    objects: int = 0
    unknown: list[str] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for the CLI."""
        parts = [f"imported {plural(self.frames, 'mask')} ({plural(self.objects, 'object')}) into "
                 f"{plural(self.clips, 'clip')}"]  # fmt: skip
        if self.unknown:
            parts.append(f"{len(self.unknown)} clips not in the project")
        if self.failures:
            parts.append(f"{len(self.failures)} failed")
        return ", ".join(parts)


def import_masks(project: Project, src: str | os.PathLike[str], *, setting: str | None = None,
                 split: str | None = None, user: str | None = None, progress: Progress = no_progress,
                 cancel: CancelToken | None = None) -> ImportReport:  # fmt: skip
    """Replace the annotations of the frames ``src`` holds masks for (proposals are kept).

    ``src`` is a COCO JSON, a PNG mask folder or an AVSBench dataset, read by the
    foundation readers. Each clip's import is one command ("Import masks"), so it can be
    undone; masks of another size are resized with the official NEAREST rule.
    """
    from avs_studio.core.project.edits import AddObject, Composite, DeleteObject, SetAnnotated

    project._store.require_writable()
    if setting is None:
        try:  # let the source say what it holds, so a mismatch is caught
            masks, _ = load_masks(src, None, split=split)
        except (FormatError, DatasetError):
            masks, _ = load_masks(src, project.setting, split=split)
    else:
        masks, _ = load_masks(src, setting, split=split)
    if masks.setting.is_binary != project.setting.is_binary:
        raise ProjectError(
            f"{src}: {masks.setting.value.upper()} masks cannot go into a "
            f"{project.setting.value.upper()} project"
        )
    report = ImportReport()
    # Items the source refused when it was read (rows of a dataset's metadata) are failures.
    report.failures.extend(ItemFailure("source", why) for why in masks.skipped)
    groups = masks.by_clip()
    resized = 0
    progress(0, len(groups), "")
    for i, (clip_id, frames) in enumerate(groups.items(), start=1):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if clip_id not in project:
            report.unknown.append(clip_id)
            progress(i, len(groups), clip_id)
            continue
        try:
            session = project.session(clip_id, user=user, auto_status=False)
            cs = session.store
            prov = Provenance(KIND_IMPORT)
            instance_of: dict[int, int] = {}
            for obj in cs.objects():
                if not obj.provenance.is_proposal:
                    instance_of.setdefault(obj.label, obj.instance_id)
            next_id = cs.next_instance_id()
            cmds, n_frames, n_objects = [], 0, 0
            for fm in frames:
                k = cs.check_frame(fm.frame)
                m = np.asarray(fm.mask)
                if m.shape != cs.shape:
                    m = resize_nearest(m, (cs.width, cs.height))
                    resized += 1
                labels = [1] if project.setting.is_binary and m.any() else []
                if not project.setting.is_binary:
                    labels = [int(c) for c in np.flatnonzero(np.bincount(m.ravel(), minlength=1)[1:]) + 1]
                reused = {instance_of[label] for label in labels if label in instance_of}
                for obj in cs.objects(k):
                    # An AVS mask holds only sounding objects: it replaces those, and a silent
                    # object keeps its geometry unless the import brings its instance back.
                    if not obj.provenance.is_proposal and (obj.sounding or obj.instance_id in reused):
                        cmds.append(DeleteObject(obj.instance_id, k))
                for label in labels:
                    if label not in instance_of:
                        instance_of[label] = next_id
                        next_id += 1
                    obj_mask = (m != 0) if project.setting.is_binary else (m == label)
                    cmds.append(AddObject(k, instance_of[label], label, obj_mask.astype(np.uint8), prov))
                    n_objects += 1
                n_frames += 1
                fm.release()
            new_slots = sorted({fm.frame for fm in frames} - set(cs.annotated()))
            if new_slots:
                cmds.append(SetAnnotated(new_slots))
            if cmds:
                session.apply(Composite(cmds, "Import masks"))
            report.clips += 1
            report.frames += n_frames
            report.objects += n_objects
        except (AVSError, ValueError) as exc:
            report.failures.append(ItemFailure(clip_id, f"{type(exc).__name__}: {exc}"))
        progress(i, len(groups), clip_id)
    if resized:
        report.notes.append(f"{resized} mask(s) resized to the clip's frame size (NEAREST)")
    return report

