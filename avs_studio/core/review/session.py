"""Review predictions against ground truth: official figures, per-clip and per-frame scores.

A :class:`ReviewSession` opens a prediction folder (a ``propose`` output or any AVSBench
prediction folder, see :mod:`avs_studio.core.metrics.predictions`) against ground truth (an
AVSBench dataset folder or an annotation project), optionally with a second model's
predictions to compare with. :meth:`ReviewSession.compute` is a cancellable job::

    with ReviewSession("pred/", "avsbench_data/Single-source", "s4", compare="pred2/") as rs:
        rs.compute(progress, cancel)
        print("\\n".join(rs.summary_lines()))        # what `avs-studio evaluate` prints
        rows = rs.table.view("worst", categories={"helicopter"})
        detail = rs.clip_detail(rs.table.clip_ids[rows[0]])

The overall figures are :func:`avs_studio.core.metrics.evaluation.evaluate`'s own result (for a
project, the same accumulators fed with the project's clips in the order they were added);
per-clip mIoU / F are the official per-clip values of :func:`~avs_studio.core.metrics.clip_rows`.
Per-frame values come from the same metric functions with each frame scored on its own
(binary: IoU and the 255-threshold F of the frame as its own batch, NaN where the frame has
no sounding object; AVSS: mean IoU / F over the classes in the frame). Object size is the
fraction of the frame the ground-truth objects cover, at the metric's 224 x 224.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avs_studio.core.clip import Clip
from avs_studio.core.errors import AVSError, DatasetError
from avs_studio.core.jobs import CancelToken, Progress, no_progress
from avs_studio.core.metrics import binary_scores, semantic_scores_from_labels
from avs_studio.core.metrics.evaluation import Evaluation, evaluate, evaluate_clips
from avs_studio.core.metrics.predictions import Predictions
from avs_studio.core.review.images import diff_codes, hard_masks, render_diff, render_overlay
from avs_studio.core.review.table import ReviewTable
from avs_studio.core.setting import Setting

__all__ = ["ClipDetail", "Figure", "FrameDetail", "ReviewSession", "official_figures"]


@dataclass(frozen=True)
class Figure:
    """One overall figure as ``evaluate`` labels it (``official`` False for the extras)."""

    label: str
    key: str
    value: float
    official: bool = True
    note: str = ""


def official_figures(ev: Evaluation) -> list[Figure]:
    """The figures of :meth:`Evaluation.summary_lines`, as values with the same labels."""
    r = ev.result
    f_label = "F-score*" if ev.hard_masks else "F-score"
    f_note = ""
    if ev.hard_masks and ev.setting.is_binary:
        f_note = ("F-score of hard masks: the official threshold sweep needs score maps "
                  "(propose --probs); mIoU is exact")  # fmt: skip
    out = [Figure("mIoU", "miou", r["miou"]), Figure(f_label, "fscore", r["fscore"], note=f_note)]
    if ev.setting is Setting.AVSS and r.get("protocol", "official") == "official":
        out += [
            Figure("mIoU noBg", "miou_nobg_official", r["miou_nobg_official"],
                   note="official: drops class 70 'woman', keeps background"),
            Figure("F noBg", "fscore_nobg_official", r["fscore_nobg_official"]),
            Figure("mIoU w/o background", "miou_no_background", r["miou_no_background"], False,
                   "classes 1..70; not official"),
            Figure("F w/o background", "fscore_no_background", r["fscore_no_background"], False),
        ]  # fmt: skip
    return out


@dataclass
class FrameDetail:
    """One sampled frame of a clip under review; masks at the metric's 224 x 224.

    ``gt`` is None for a frame without ground truth; ``pred_b`` etc. only when comparing.
    """

    index: int
    time: float
    rgb: np.ndarray
    gt: np.ndarray | None
    pred: np.ndarray
    iou: float = math.nan
    fscore: float = math.nan
    gt_size: float = math.nan
    pred_b: np.ndarray | None = None
    iou_b: float = math.nan
    fscore_b: float = math.nan
    binary: bool = True

    def diff(self, model: str = "a") -> np.ndarray | None:
        """Difference codes of model ``a`` or ``b`` (see :func:`review_images.diff_codes`)."""
        pred = self.pred if model == "a" else self.pred_b
        if self.gt is None or pred is None:
            return None
        return diff_codes(self.gt, pred, binary=self.binary)


@dataclass
class ClipDetail:
    """What the review view shows of one clip: its scores and every sampled frame."""

    clip: Clip
    row: dict
    frames: list[FrameDetail]

    @property
    def clip_id(self) -> str:
        """The clip's id."""
        return self.clip.clip_id

    @property
    def binary(self) -> bool:
        """True for S4/MS3 (one foreground), False for AVSS (class maps)."""
        return self.clip.setting.is_binary

    def gt_image(self, k: int, *, width: int | None = None) -> np.ndarray:
        """Frame ``k`` (position in :attr:`frames`) with its ground truth painted over it."""
        f = self.frames[k]
        return render_overlay(f.rgb, f.gt, binary=self.binary, width=width)

    def pred_image(self, k: int, model: str = "a", *, width: int | None = None) -> np.ndarray:
        """Frame ``k`` with model ``a``'s (or ``b``'s) prediction painted over it."""
        f = self.frames[k]
        return render_overlay(f.rgb, f.pred if model == "a" else f.pred_b, binary=self.binary, width=width)

    def diff_image(self, k: int, model: str = "a", *, width: int | None = None) -> np.ndarray | None:
        """Frame ``k``'s difference image (None where the frame has no ground truth)."""
        codes = self.frames[k].diff(model)
        return None if codes is None else render_diff(self.frames[k].rgb, codes, width=width)


class ReviewSession:
    """Predictions (and optionally a second model's) reviewed against ground truth.

    ``gt`` is an AVSBench dataset folder, a project file (``*.avsproj``) or an open
    :class:`~avs_studio.core.project.project.Project`. ``split`` None or ``"all"`` takes every clip.
    The constructor checks the inputs (clear :class:`AVSError` messages); :meth:`compute`
    does the work. Close the session (or use ``with``) to release a project it opened.
    """

    def __init__(
        self,
        pred: str | os.PathLike[str],
        gt,
        setting: Setting | str,
        *,
        compare: str | os.PathLike[str] | None = None,
        split: str | None = "test",
        batch_size: int = 4,
        allow_missing: bool = False,
    ) -> None:
        try:
            self.setting = Setting.parse(setting)
        except ValueError as exc:
            raise AVSError(str(exc)) from None
        self.split = None if split in (None, "all") else split
        self.batch_size = batch_size
        self.allow_missing = allow_missing
        self.pred_path = Path(pred)
        self.compare_path = Path(compare) if compare is not None else None
        self.predictions = Predictions(pred, self.setting)
        self.predictions_b = Predictions(compare, self.setting) if compare is not None else None
        self._project = None
        self._own_project = False
        self._dataset = None
        self._clips: dict[str, Clip] = {}
        self._open_gt(gt)
        self.evaluation: Evaluation | None = None
        self.evaluation_b: Evaluation | None = None
        self.table: ReviewTable | None = None
        self.notes: list[str] = []

    # ------------------------------------------------------------------ ground truth
    def _open_gt(self, gt) -> None:
        from avs_studio.core.project.project import Project

        if isinstance(gt, Project):
            self._project, self.gt_path, self.gt_kind = gt, gt.path, "project"
        else:
            p = Path(gt)
            self.gt_path = p
            if p.is_dir():
                from avs_studio.core.datasets import open_dataset

                self._dataset = open_dataset(p, self.setting)
                self.gt_kind = "dataset"
                return
            if not p.exists():
                raise DatasetError(f"{p}: no such dataset folder or project file")
            self._project = Project.open(p, readonly=True)
            self._own_project = True
            self.gt_kind = "project"
        if self._project.setting is not self.setting:
            setting = self._project.setting.value
            self.close()
            raise AVSError(f"{self.gt_path}: a {setting.upper()} project, not {self.setting.value.upper()}")

    def gt_clips(self) -> list[Clip]:
        """The ground truth's clips of the split, in evaluation order."""
        if self._dataset is not None:
            return list(self._dataset.clips(self.split))
        from avs_studio.core.project.project import ProjectClip

        return [ProjectClip(self._project, rec) for rec in self._project.clips(split=self.split)]

    def clip(self, clip_id: str) -> Clip:
        """One clip of the ground truth (frames, audio, masks)."""
        if clip_id not in self._clips:
            if self._dataset is not None:
                try:
                    self._clips[clip_id] = self._dataset.get(clip_id)
                except KeyError:
                    raise DatasetError(f"{self.gt_path}: no clip {clip_id!r}") from None
            else:
                self._clips[clip_id] = self._project.clip(clip_id)
        return self._clips[clip_id]

    def close(self) -> None:
        """Release the project this session opened (idempotent)."""
        for c in self._clips.values():
            if hasattr(c, "close"):
                c.close()
        if self._own_project and self._project is not None:
            self._project.close()
        self._own_project = False

    def __enter__(self) -> ReviewSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the job
    @property
    def computed(self) -> bool:
        """True once :meth:`compute` has finished."""
        return self.table is not None

    @property
    def compared(self) -> bool:
        """True when a second model is reviewed too."""
        return self.predictions_b is not None

    def compute(self, progress: Progress = no_progress, cancel: CancelToken | None = None) -> ReviewSession:
        """Score everything (a job): the official figures, then per-clip and per-frame rows.

        Progress runs over all passes (one per model, then one over the frames).
        """
        self.table = self.evaluation = self.evaluation_b = None  # a cancelled run leaves nothing half-set
        clips = self.gt_clips()
        for c in clips:
            self._clips.setdefault(c.clip_id, c)
        have = self.predictions.clip_ids()
        n = sum(1 for c in clips if c.clip_id in have) if self.allow_missing else len(clips)
        passes = 3 if self.compared else 2
        total = max(1, n) * passes

        def phase(i: int, name: str) -> Progress:
            def report(done: int, _total: int | None, message: str = "") -> None:
                progress(i * max(1, n) + min(done, n), total, f"{name} {message}".strip())

            return report

        self.evaluation = self._evaluate(self.pred_path, self.predictions, clips, phase(0, "scoring"), cancel)
        if self.compared:
            self.evaluation_b = self._evaluate(self.compare_path, self.predictions_b, clips,
                                               phase(1, "scoring B"), cancel)  # fmt: skip
        self.table = self._frame_pass(clips, phase(passes - 1, "frames"), cancel)
        self.notes = list(self.evaluation.notes)
        if self.evaluation_b is not None:
            self.notes += [f"B: {note}" for note in self.evaluation_b.notes]
        progress(total, total, "done")
        return self

    def _evaluate(self, path: Path, preds: Predictions, clips: list[Clip], progress: Progress,
                  cancel: CancelToken | None) -> Evaluation:  # fmt: skip
        if self._dataset is not None:
            return evaluate(path, self.gt_path, self.setting, split=self.split, batch_size=self.batch_size,
                            allow_missing=self.allow_missing, progress=progress, cancel=cancel)  # fmt: skip
        return evaluate_clips(clips, preds, self.setting, split=self.split, batch_size=self.batch_size,
                              allow_missing=self.allow_missing, progress=progress, cancel=cancel)  # fmt: skip

    def _frame_pass(self, clips: list[Clip], progress: Progress, cancel: CancelToken | None) -> ReviewTable:
        ev = self.evaluation
        result = ev.result
        ids = list(result["clip_ids"])
        by_id = {c.clip_id: c for c in clips}
        n, t = len(ids), self.setting.frames_per_clip
        f_iou, f_f, f_gt, f_pred = (np.full((n, t), math.nan) for _ in range(4))
        pad = np.zeros((n, t), dtype=bool)
        f_iou_b, f_f_b, f_pred_b = (np.full((n, t), math.nan) for _ in range(3))
        have_b = self.predictions_b.clip_ids() if self.compared else set()
        progress(0, n, "")
        for i, cid in enumerate(ids):
            if cancel is not None:
                cancel.raise_if_cancelled()
            clip = by_id[cid]
            gt, has = clip.gt_stack()
            pad[i] = np.arange(t) >= clip.num_frames
            fg = (gt > 0).reshape(t, -1)
            size = fg.mean(axis=1)
            f_gt[i] = np.where(has, size, math.nan)
            f_iou[i], f_f[i], f_pred[i] = self._frame_scores(self.predictions, clip, gt)
            if cid in have_b:
                f_iou_b[i], f_f_b[i], f_pred_b[i] = self._frame_scores(self.predictions_b, clip, gt)
            progress(i + 1, n, cid)
        if self.setting.is_binary:
            # the official per-frame IoU of the evaluation itself (identical by construction)
            flat = np.asarray(result["per_frame_iou"], dtype=np.float64)
            annotated = result.get("per_clip_annotated")
            if annotated is None:
                f_iou[:] = flat.reshape(n, t)
            else:  # clips scored on the frames that have masks (S4 train: the first)
                f_iou[:] = math.nan
                pos = 0
                for i, frames in enumerate(annotated):
                    f_iou[i, frames] = flat[pos : pos + len(frames)]
                    pos += len(frames)
        real_gt = np.where(pad, math.nan, f_gt)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a clip without masks has no size
            clip_size = np.nanmean(real_gt, axis=1)
        binary = "per_clip_iou" in result
        cats = [by_id[c].category for c in ids]
        kw = {}
        if self.compared:
            rb = self.evaluation_b.result
            pos = {c: j for j, c in enumerate(rb["clip_ids"])}
            mb = rb["per_clip_iou"] if binary else rb["per_clip_miou"]
            kw = dict(
                miou_b=[mb[pos[c]] if c in pos else None for c in ids],
                fscore_b=[rb["per_clip_fscore"][pos[c]] if c in pos else None for c in ids],
                frame_iou_b=f_iou_b, frame_fscore_b=f_f_b, frame_pred_size_b=f_pred_b,
            )  # fmt: skip
        return ReviewTable.from_columns(
            ids,
            result["per_clip_iou"] if binary else result["per_clip_miou"],
            result["per_clip_fscore"],
            categories=cats,
            subsets=[by_id[c].subset for c in ids],
            splits=[by_id[c].split for c in ids],
            tags=[_tags(self.setting, c) for c in cats],
            frames=result["per_clip_frames"],
            gt_size=clip_size,
            frame_iou=f_iou, frame_fscore=f_f, frame_gt_size=f_gt, frame_pred_size=f_pred,
            frame_padded=pad,
            **kw,
        )  # fmt: skip

    def _frame_scores(self, preds: Predictions, clip: Clip, gt: np.ndarray):
        kind, arr = preds.load(clip)
        t = gt.shape[0]
        if self.setting.is_binary:
            r = binary_scores(arr, gt, kind=kind, batch_size=1, frames_per_clip=1)
            iou = np.asarray(r["per_clip_iou"], dtype=np.float64)
            f = np.asarray(r["per_clip_fscore"], dtype=np.float64)
            f[gt.reshape(t, -1).max(axis=1) == 0] = math.nan  # F skips frames without an object
            hard = hard_masks(kind, arr)
        else:
            r = semantic_scores_from_labels(arr, gt, batch_size=1, frames_per_clip=1)
            iou = np.array([math.nan if v is None else v for v in r["per_clip_miou"]], dtype=np.float64)
            f = np.array([math.nan if v is None else v for v in r["per_clip_fscore"]], dtype=np.float64)
            hard = arr
        return iou, f, (hard > 0).reshape(t, -1).mean(axis=1)

    # ------------------------------------------------------------------ results
    def _require(self) -> None:
        if self.table is None:
            raise AVSError("the review has not been computed yet (call compute())")

    def summary_lines(self, model: str = "a") -> list[str]:
        """The overall figures exactly as ``avs-studio evaluate`` prints them."""
        self._require()
        ev = self.evaluation if model == "a" else self.evaluation_b
        if ev is None:
            raise AVSError("there is no second model to summarise")
        return ev.summary_lines()

    def figures(self, model: str = "a") -> list[Figure]:
        """The overall figures with their labels (:func:`official_figures`)."""
        self._require()
        ev = self.evaluation if model == "a" else self.evaluation_b
        if ev is None:
            raise AVSError("there is no second model to summarise")
        return official_figures(ev)

    def clip_detail(self, clip_id: str) -> ClipDetail:
        """Frames, ground truth, hard predictions and scores of one clip (reads the files)."""
        self._require()
        row = self.table.index_of(clip_id)
        clip = self.clip(clip_id)
        kind, arr = self.predictions.load(clip)
        pred = hard_masks(kind, arr)
        pred_b = None
        if self.compared and clip_id in self.predictions_b.clip_ids():
            kind_b, arr_b = self.predictions_b.load(clip)
            pred_b = hard_masks(kind_b, arr_b)
        rgbs = clip.frames()
        times = clip.frame_times()
        tb = self.table
        frames = []
        for k in range(min(clip.num_frames, pred.shape[0])):
            gt = clip.mask(k) if k in clip.annotated else None
            if gt is not None:
                gt = gt.astype(np.uint8)
            frames.append(FrameDetail(
                index=k, time=float(times[k]) if k < len(times) else float(k), rgb=rgbs[k], gt=gt,
                pred=pred[k], iou=float(tb.frame_iou[row, k]), fscore=float(tb.frame_fscore[row, k]),
                gt_size=float(tb.frame_gt_size[row, k]),
                pred_b=None if pred_b is None else pred_b[k],
                iou_b=float(tb.frame_iou_b[row, k]) if tb.compared else math.nan,
                fscore_b=float(tb.frame_fscore_b[row, k]) if tb.compared else math.nan,
                binary=self.setting.is_binary,
            ))  # fmt: skip
        if hasattr(clip, "close"):
            clip.close()
        return ClipDetail(clip, tb.row_dict(row), frames)


def _tags(setting: Setting, category: str) -> tuple[str, ...]:
    """What a clip is grouped by: S4 its category, AVSS its sounding classes, MS3 nothing."""
    if not category:
        return ()
    if setting is Setting.AVSS:
        return tuple(dict.fromkeys(t for t in category.split("_") if t))
    return (category,)
