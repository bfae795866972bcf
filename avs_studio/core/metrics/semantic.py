"""AVSS metrics: the official per-class mIoU and F-score, streamed clip by clip.

Definitions (``metrics.md`` §5), reproduced in the official float32 arithmetic:

* The prediction is the argmax over all classes (background included) of the float32
  softmax, first index on ties.  Since the metric needs only that argmax, label maps (e.g.
  decoded colour PNGs) give exactly the same numbers as the logits they came from.
* Per time step and class c: ``I``, ``P = count(pred == c)``, ``G = count(gt == c)``,
  ``U = P + G - I``; the class's IoU ``I / (U + 2.2e-16)`` and F-beta (beta^2 = 0.3, 0/0 -> 0)
  are added to its sums, and its count goes up by one, whenever ``U > 0``.  Padded time
  steps are evaluated like any other.
* Sums are float32: per batch over its time steps in order, then a running total over
  batches (so the batch size changes only the last bits).  The class mean is sum / count,
  0 for a class never seen; ``miou`` / ``fscore`` average all C classes (``torch.mean``).
* ``miou_nobg_official`` / ``fscore_nobg_official``: the official "noBg" figures, which drop
  the **last** class (70, 'woman'), not background.  ``miou_no_background`` /
  ``fscore_no_background`` (not official) average classes 1..C-1 with the same rule that a
  class never seen counts as 0.
* ``per_frame_miou_list``: the official per-frame value, the sum of the frame's class IoUs
  over the classes with a non-zero IoU divided by their number (``None`` where 0/0).

Per clip (review figures, not official): a clip's mIoU is the mean, over the classes that
occur in that clip (in its prediction or ground truth, in any of its time steps), of the
class's mean IoU over the clip's time steps where it occurs; likewise its F.

``protocol='per-dataset'`` gives the labelled CAVP alternative (``metrics.md`` §7) instead:
intersections and unions pooled per class over all pixels of all frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from avs_studio.core.metrics.f32 import softmax_argmax, torch_mean_f32, torch_sum_f32
from avs_studio.core.metrics.inputs import (
    MetricInputError,
    check_positive_int,
    check_protocol,
    label_map,
    semantic_logits,
)

F32 = np.float32
BETA2 = F32(0.3)
ONE_PLUS_BETA2 = F32(1.3)
IOU_EPS = F32(2.220446049250313e-16)


def frame_counts(pred_labels: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    """Per-frame confusion matrices ``[T, C(gt), C(pred)]`` (int64) of two label maps."""
    t = gt.shape[0]
    c = num_classes
    idx = gt * c + pred_labels
    idx += (np.arange(t, dtype=np.int64) * (c * c))[:, None, None]
    return np.bincount(idx.ravel(), minlength=t * c * c).reshape(t, c, c)


def _frame_values(conf: np.ndarray):
    """Official float32 per-frame class IoU, F, presence (U > 0) and frame mIoU from confusions."""
    inter = np.diagonal(conf, axis1=1, axis2=2)
    pred = conf.sum(axis=1)
    gt = conf.sum(axis=2)
    union = pred + gt - inter
    i32 = inter.astype(F32)
    iou = i32 / (union.astype(F32) + IOU_EPS)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = i32 / pred.astype(F32)
        rec = i32 / gt.astype(F32)
        f = ONE_PLUS_BETA2 * prec * rec / (BETA2 * prec + rec)
    f = np.where(np.isnan(f), F32(0.0), f).astype(F32)
    present = union > 0
    frame_miou = []
    for row in iou:
        n = int(np.count_nonzero(row))
        frame_miou.append(None if n == 0 else float(F32(torch_sum_f32(row) / F32(n))))
    return iou.astype(F32), f, present, frame_miou


@dataclass
class _Clip:
    clip_id: object
    frames: int
    iou: np.ndarray | None  # [T, C] float32, dropped once its batch is closed
    fscore: np.ndarray | None
    present: np.ndarray | None
    frame_miou: list
    clip_miou: float | None
    clip_fscore: float | None
    clip_classes: int


@dataclass
class _Totals:
    iou: np.ndarray
    fscore: np.ndarray
    count: np.ndarray
    batches: int = 0

    def copy(self) -> _Totals:
        return _Totals(self.iou.copy(), self.fscore.copy(), self.count.copy(), self.batches)


def _add_batch(totals: _Totals, clips: list[_Clip]) -> None:
    c = totals.iou.shape[0]
    b_iou = np.zeros(c, F32)
    b_f = np.zeros(c, F32)
    b_cnt = np.zeros(c, F32)
    for clip in clips:  # official: in-place float32 sums over the batch's steps, in order
        for t in range(clip.frames):
            b_iou = b_iou + clip.iou[t]
            b_f = b_f + clip.fscore[t]
            b_cnt = b_cnt + clip.present[t].astype(F32)
    totals.iou = (totals.iou + b_iou).astype(F32)
    totals.fscore = (totals.fscore + b_f).astype(F32)
    totals.count = (totals.count + b_cnt).astype(F32)
    totals.batches += 1


def _clip_review(iou: np.ndarray, fs: np.ndarray, present: np.ndarray):
    seen = present.any(axis=0)
    if not seen.any():
        return None, None, 0
    n = present.sum(axis=0)[seen].astype(np.float64)
    ci = (np.where(present, iou, 0).astype(np.float64).sum(axis=0)[seen]) / n
    cf = (np.where(present, fs, 0).astype(np.float64).sum(axis=0)[seen]) / n
    return float(ci.mean()), float(cf.mean()), int(seen.sum())


@dataclass
class SemanticMetricAccumulator:
    """Streams AVSS clips through the official metric loop without holding the logits.

    ``add_clip`` takes ``[T, C, H, W]`` logits or ``[T, H, W]`` predicted labels, and
    ``[T, H, W]`` ground-truth class indices 0..C-1.  Clips are batched ``batch_size`` at a
    time in the order added (the official test uses 4, with clips of 10 time steps).
    ``protocol`` picks what :meth:`result` reports by default.
    """

    num_classes: int = 71
    batch_size: int = 4
    frames_per_clip: int | None = 10
    protocol: str = "official"
    _clips: list[_Clip] = field(default_factory=list, init=False, repr=False)
    _pending: list[_Clip] = field(default_factory=list, init=False, repr=False)
    _totals: _Totals | None = field(default=None, init=False, repr=False)
    _confusion: np.ndarray | None = field(default=None, init=False, repr=False)
    _inputs: set = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self.num_classes = check_positive_int(self.num_classes, "num_classes")
        if self.num_classes < 2:
            raise MetricInputError("num_classes must be at least 2 (background and one class)")
        self.batch_size = check_positive_int(self.batch_size, "batch_size")
        if self.frames_per_clip is not None:
            self.frames_per_clip = check_positive_int(self.frames_per_clip, "frames_per_clip")
        check_protocol(self.protocol)
        c = self.num_classes
        self._totals = _Totals(np.zeros(c, F32), np.zeros(c, F32), np.zeros(c, F32))
        self._confusion = np.zeros((c, c), dtype=np.int64)

    @property
    def num_clips(self) -> int:
        """Clips added so far."""
        return len(self._clips)

    def add_clip(self, pred_clip, gt_clip, clip_id=None, *, kind: str | None = None) -> None:
        """Score one clip of logits (``kind='logits'``) or labels (``'labels'``; default: by rank)."""
        pred = np.asarray(pred_clip)
        if kind is None:
            kind = "logits" if pred.ndim == 4 else "labels"
        if kind == "logits":
            labels = softmax_argmax(semantic_logits(pred, self.num_classes))
        elif kind == "labels":
            labels = label_map(pred, self.num_classes, "predicted labels")
        else:
            raise MetricInputError(f"unknown AVSS prediction kind {kind!r}: 'logits' or 'labels'")
        if self.frames_per_clip is not None and labels.shape[0] != self.frames_per_clip:
            raise MetricInputError(
                f"clip has {labels.shape[0]} time steps, expected {self.frames_per_clip} "
                "(frames_per_clip; the official AVSS loader pads every clip to 10)"
            )
        gt = label_map(gt_clip, self.num_classes, "ground truth", labels.shape)
        conf = frame_counts(labels, gt, self.num_classes)
        self._confusion += conf.sum(axis=0)
        iou, fs, present, frame_miou = _frame_values(conf)
        cm, cf, ncls = _clip_review(iou, fs, present)
        clip = _Clip(
            clip_id=len(self._clips) if clip_id is None else clip_id,
            frames=labels.shape[0],
            iou=iou,
            fscore=fs,
            present=present,
            frame_miou=frame_miou,
            clip_miou=cm,
            clip_fscore=cf,
            clip_classes=ncls,
        )
        self._inputs.add(kind)
        self._clips.append(clip)
        self._pending.append(clip)
        if len(self._pending) == self.batch_size:
            _add_batch(self._totals, self._pending)
            for c in self._pending:
                c.iou = c.fscore = c.present = None
            self._pending = []

    def result(self, protocol: str | None = None) -> dict:
        """The scores so far (a short last batch counts as a batch); adding may continue."""
        protocol = check_protocol(protocol or self.protocol)
        if not self._clips:
            raise MetricInputError("no clips to score: add at least one clip first")
        if protocol == "per-dataset":
            return _per_dataset_result(self)
        totals = self._totals.copy()
        if self._pending:
            _add_batch(totals, self._pending)
        with np.errstate(invalid="ignore", divide="ignore"):
            miou_pc = totals.iou / totals.count
            f_pc = totals.fscore / totals.count
        miou_pc = np.where(np.isnan(miou_pc), F32(0.0), miou_pc).astype(F32)
        f_pc = np.where(np.isnan(f_pc), F32(0.0), f_pc).astype(F32)
        clips = self._clips
        out = {
            "protocol": "official",
            "inputs": sorted(self._inputs),
            "num_classes": self.num_classes,
            "batch_size": self.batch_size,
            "frames_per_clip": self.frames_per_clip,
            "num_clips": len(clips),
            "num_frames": int(sum(c.frames for c in clips)),
            "num_batches": totals.batches,
            "miou": float(torch_mean_f32(miou_pc)),
            "fscore": float(torch_mean_f32(f_pc)),
            "miou_nobg_official": float(torch_mean_f32(miou_pc[:-1])),
            "fscore_nobg_official": float(torch_mean_f32(f_pc[:-1])),
            "miou_no_background": float(torch_mean_f32(miou_pc[1:])),
            "fscore_no_background": float(torch_mean_f32(f_pc[1:])),
            "per_class_iou": [float(v) for v in miou_pc],
            "per_class_fscore": [float(v) for v in f_pc],
            "per_class_count": [int(v) for v in totals.count],
            "classes_seen": int(np.count_nonzero(totals.count)),
            "per_frame_miou_list": [v for c in clips for v in c.frame_miou],
            "per_clip_miou": [c.clip_miou for c in clips],
            "per_clip_fscore": [c.clip_fscore for c in clips],
            "per_clip_classes": [c.clip_classes for c in clips],
            "per_clip_frames": [c.frames for c in clips],
            "clip_ids": [c.clip_id for c in clips],
        }
        # names used by the reference fixtures (cases.json) for the official "noBg" figures
        out["miou_noBg"] = out["miou_nobg_official"]
        out["fscore_noBg"] = out["fscore_nobg_official"]
        return out


def _per_dataset_result(acc: SemanticMetricAccumulator) -> dict:
    """CAVP-style pooled metrics (``metrics.md`` §7) from the split's confusion matrix."""
    conf = acc._confusion.astype(np.float64)
    tp = np.diagonal(conf)
    fp = conf.sum(axis=0) - tp
    fn = conf.sum(axis=1) - tp
    iou = tp / (tp + fp + fn + np.finfo(np.float64).eps)
    den = 1.3 * tp + 0.3 * fn + fp
    with np.errstate(invalid="ignore", divide="ignore"):
        f = 1.3 * tp / den
    valid = ~np.isnan(f)
    return {
        "protocol": "per-dataset",
        "inputs": sorted(acc._inputs),
        "num_classes": acc.num_classes,
        "num_clips": len(acc._clips),
        "num_frames": int(sum(c.frames for c in acc._clips)),
        "miou": float(iou.mean()),
        "fscore": float(f[valid].mean()) if valid.any() else 0.0,
        "per_class_iou": [float(v) for v in iou],
        "per_class_fscore": [None if math.isnan(v) else float(v) for v in f],
        "confusion": acc._confusion.tolist(),
    }


def _split(a: np.ndarray, frames_per_clip: int, rank: int, what: str) -> np.ndarray:
    """``[N, ...]`` (rank dims) -> ``[V, T, ...]``; ``[V, T, ...]`` (rank+1 dims) unchanged."""
    if a.ndim == rank + 1:
        if a.shape[0] == 0:
            raise MetricInputError("no clips to score")
        return a
    if a.ndim != rank:
        raise MetricInputError(f"{what} has an unexpected shape {tuple(a.shape)}")
    n = a.shape[0]
    if n == 0 or n % frames_per_clip:
        raise MetricInputError(
            f"{n} time steps cannot be split into clips of {frames_per_clip} (frames_per_clip)"
        )
    return a.reshape(n // frames_per_clip, frames_per_clip, *a.shape[1:])


def _run(acc: SemanticMetricAccumulator, clips_p, clips_g, kind: str, clip_ids) -> dict:
    if len(clips_p) != len(clips_g):
        raise MetricInputError(
            f"{len(clips_p)} predicted clips but {len(clips_g)} ground-truth clips"
        )
    if clip_ids is not None and len(clip_ids) != len(clips_p):
        raise MetricInputError(f"{len(clip_ids)} clip ids for {len(clips_p)} clips")
    for i in range(len(clips_p)):
        acc.add_clip(clips_p[i], clips_g[i], None if clip_ids is None else clip_ids[i], kind=kind)
    return acc.result()


def semantic_scores(
    pred_logits,
    gt,
    *,
    batch_size: int = 4,
    frames_per_clip: int = 10,
    protocol: str = "official",
    clip_ids=None,
) -> dict:
    """Official AVSS mIoU / F of ``[N, C, H, W]`` logits against ``[N, H, W]`` class indices.

    ``N`` is split into clips of ``frames_per_clip`` (``[V, T, C, H, W]`` is also accepted);
    the number of classes is taken from the logits.  See :class:`SemanticMetricAccumulator`
    for the returned keys.
    """
    fpc = check_positive_int(frames_per_clip, "frames_per_clip")
    p = np.asarray(pred_logits)
    g = np.asarray(gt)
    if p.ndim not in (4, 5):
        raise MetricInputError(
            f"AVSS logits must be [time steps, classes, H, W], got shape {tuple(p.shape)}"
        )
    clips_p = _split(p, fpc, 4, "prediction")
    clips_g = _split(g, clips_p.shape[1], 3, "ground truth")
    acc = SemanticMetricAccumulator(
        num_classes=clips_p.shape[2],
        batch_size=batch_size,
        frames_per_clip=clips_p.shape[1],
        protocol=protocol,
    )
    return _run(acc, clips_p, clips_g, "logits", clip_ids)


def semantic_scores_from_labels(
    pred_labels,
    gt,
    *,
    num_classes: int = 71,
    batch_size: int = 4,
    frames_per_clip: int = 10,
    protocol: str = "official",
    clip_ids=None,
) -> dict:
    """Official AVSS mIoU / F of predicted label maps ``[N, H, W]`` against ``[N, H, W]``.

    The official metric depends only on the argmax of the logits, so labels (e.g. decoded
    colour PNG predictions) reproduce the figures of :func:`semantic_scores` exactly.
    """
    fpc = check_positive_int(frames_per_clip, "frames_per_clip")
    p = np.asarray(pred_labels)
    g = np.asarray(gt)
    if p.ndim not in (3, 4):
        raise MetricInputError(
            f"predicted labels must be [time steps, H, W], got shape {tuple(p.shape)}"
        )
    clips_p = _split(p, fpc, 3, "predicted labels")
    clips_g = _split(g, clips_p.shape[1], 3, "ground truth")
    acc = SemanticMetricAccumulator(
        num_classes=num_classes,
        batch_size=batch_size,
        frames_per_clip=clips_p.shape[1],
        protocol=protocol,
    )
    return _run(acc, clips_p, clips_g, "labels", clip_ids)
