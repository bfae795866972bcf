"""S4 / MS3 metrics: the official mask mIoU and F-measure, streamed clip by clip.

Definitions (``metrics.md`` §2-§4), reproduced in the official float32 arithmetic:

* **Frame IoU** ``inter / (union + 1e-7)`` with the prediction ``sigmoid(logit) > 0.5``;
  an empty ground truth scores the fraction of pixels predicted background.  (The ``+1e-7``
  is kept in float32: it changes a union of exactly 1 pixel to 1.0000001.)
* **Batch mIoU** = mean of the batch's frame IoUs; the reported mIoU is the mean over
  batches (equal weight), summed in float32 in batch order as the official ``AverageMeter``.
  Within a batch the frame IoUs are summed in torch's own float32 order
  (:func:`~avs_studio.core.metrics.f32.torch_sum_f32`), so batch values are bit-identical.
* **Batch F** = max over the 255 thresholds of the mean, over the batch's frames with
  non-empty ground truth, of the per-frame F-beta (beta^2 = 0.3) at ``prob >= t``; a batch
  whose frames are all empty scores 0.  The reported F is the mean over batches (float64).
  Batches are ``batch_size`` consecutive clips in the order given, the last one may be short.

All 255 operating points of a frame come from one histogram of the pixels' threshold buckets
(:mod:`avs_studio.core.metrics.f32`), not from 255 passes over the pixels.

``kind='masks'`` takes hard 0/1 predictions (e.g. saved PNGs).  IoU is then exact, but the
threshold sweep collapses, so the F reported is the *hard-mask* F: per frame the F-beta of the
mask itself, averaged over the batch's non-empty frames like the official one, and labelled
``fscore_kind='hard-mask'``.  (Fed to the official code as probabilities, 0/1 masks would also
offer the threshold-0 point "every pixel is object"; that artefact is left out.)

Fractional ground truth (the official MS3 loader turns a stored value v into v/255) is refused
by default; ``allow_fractional_gt=True`` scores it with the official float formulas
(``inter = sum(pred * gt)``, ``union = sum(max(pred, gt))``, ``tp = sum((prob >= t) * gt)``),
with sums taken in float64 and rounded once to float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from avs_studio.core.metrics.f32 import (
    NUM_THRESHOLDS,
    bucket_logits,
    bucket_probs,
    half_logit,
    torch_sum_f32,
)
from avs_studio.core.metrics.inputs import (
    MetricInputError,
    binary_ground_truth,
    binary_prediction,
    check_positive_int,
    check_protocol,
)

F32 = np.float32
BETA2 = F32(0.3)
ONE_PLUS_BETA2 = F32(1.3)  # fl32(1 + 0.3), as torch multiplies by the Python float 1.3
IOU_EPS = F32(1e-7)
PR_EPS = F32(1e-20)
PER_DATASET_CLASSES = ("background+object", "object")
_BINS = NUM_THRESHOLDS + 1  # bucket values 0..255


def f_beta_f32(tp: np.ndarray, predicted: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """Official F-beta (beta^2 = 0.3) in float32 from counts; 0/0 (NaN) becomes 0.

    ``prec = tp / (predicted + 1e-20)``, ``rec = tp / (positives + 1e-20)``,
    ``f = 1.3 * prec * rec / (0.3 * prec + rec)``, evaluated in this order in float32.
    """
    tp = np.asarray(tp, F32)
    prec = tp / (np.asarray(predicted, F32) + PR_EPS)
    rec = tp / (np.asarray(positives, F32) + PR_EPS)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = ONE_PLUS_BETA2 * prec * rec / (BETA2 * prec + rec)
    return np.where(np.isnan(f), F32(0.0), f).astype(F32, copy=False)


def _frame_stats(pred: np.ndarray, gt: np.ndarray, kind: str, fractional: bool):
    """Per frame of one clip: IoU (float32), F curve (float32 [T, L]), non-empty flag, counts.

    ``counts`` is float64 ``[T, 4]`` = TP, FP, FN, TN of the 0.5-binarised prediction.
    Frames are processed one at a time so the work stays in cache for large frames.
    """
    t, h, w = pred.shape
    hw = h * w
    inter = np.empty(t)
    union = np.empty(t)
    pcount = np.empty(t)
    gcount = np.empty(t)
    curve_len = 1 if kind == "masks" else NUM_THRESHOLDS
    predicted = np.empty((t, curve_len))
    tp = np.empty((t, curve_len))
    half = half_logit()
    for f in range(t):
        p, g = pred[f], gt[f]
        if kind == "logits":
            pos = p >= half  # float32 sigmoid(p) > 0.5, exactly
        elif kind == "probs":
            pos = p > F32(0.5)
        else:
            pos = p
        if kind != "masks":
            bucket = bucket_logits(p) if kind == "logits" else bucket_probs(p)
        if fractional:
            g64 = g.astype(np.float64)
            inter[f] = float((pos * g64).sum())
            union[f] = float(np.maximum(pos, g64).sum())
            pcount[f] = np.count_nonzero(pos)
            gcount[f] = float(g64.sum())
            if kind != "masks":
                all_hist = np.bincount(bucket.ravel(), minlength=_BINS)
                pos_hist = np.bincount(bucket.ravel(), weights=g64.ravel(), minlength=_BINS)
        elif kind == "masks":
            inter[f] = np.count_nonzero(pos & g)
            pcount[f] = np.count_nonzero(pos)
            gcount[f] = np.count_nonzero(g)
            union[f] = pcount[f] + gcount[f] - inter[f]
        else:
            # one histogram over (prediction > 0.5, gt, bucket): 4 x 256 bins, uint16 codes
            code = bucket.view(np.uint16).copy()
            code += g * np.uint16(_BINS)
            code += pos * np.uint16(2 * _BINS)
            hist = np.bincount(code.ravel(), minlength=4 * _BINS).reshape(2, 2, _BINS)
            inter[f] = hist[1, 1].sum()
            pcount[f] = hist[1].sum()
            per_gt = hist.sum(axis=0)
            pos_hist = per_gt[1]
            all_hist = per_gt.sum(axis=0)
            gcount[f] = pos_hist.sum()
            union[f] = pcount[f] + gcount[f] - inter[f]
        if kind == "masks":
            predicted[f, 0] = pcount[f]
            tp[f, 0] = inter[f]
        else:
            # pixels predicted at threshold i are those whose bucket is > i
            predicted[f] = np.cumsum(all_hist[::-1])[::-1][1:]
            tp[f] = np.cumsum(pos_hist[::-1])[::-1][1:]

    nonempty = gcount > 0
    # official mask_iou: empty ground truth -> true-negative ratio over all pixels
    inter_iou = np.where(nonempty, inter, hw - pcount)
    union_iou = np.where(nonempty, union, float(hw))
    iou = inter_iou.astype(F32) / (union_iou.astype(F32) + IOU_EPS)
    curves = f_beta_f32(tp, predicted, gcount[:, None])
    counts = np.stack([inter, pcount - inter, gcount - inter, hw - pcount - gcount + inter], axis=1)
    return iou.astype(F32), curves, nonempty, counts


def fscore_curve(pred_frame, gt_frame, *, kind: str = "logits", allow_fractional_gt: bool = False):
    """The official F-beta of one ``[H, W]`` frame at each of the 255 thresholds (float32).

    This is the curve ``Eval_Fmeasure`` averages over a batch before taking its maximum; for
    ``kind='masks'`` it has the single hard-mask value.
    """
    pred = binary_prediction(np.asarray(pred_frame)[None], kind)
    gt, fractional = binary_ground_truth(
        np.asarray(gt_frame)[None], pred.shape, allow_fractional_gt
    )
    return _frame_stats(pred, gt, kind, fractional)[1][0]


def mean_iou_f32(ious: np.ndarray) -> np.float32:
    """``torch.sum(iou) / N`` for one batch, in torch's float32 summation order."""
    ious = np.asarray(ious, F32)
    return F32(torch_sum_f32(ious) / F32(len(ious)))


def batch_fscore(curves: list[np.ndarray], nonempty: list[np.ndarray]) -> float:
    """Official ``Eval_Fmeasure`` of one batch from its frames' F curves, in frame order."""
    acc = None
    m = 0
    for c, ne in zip(curves, nonempty):
        for row in c[ne]:
            acc = row.copy() if acc is None else (acc + row).astype(F32)
            m += 1
    if m == 0:
        return 0.0
    return float((acc / F32(m)).astype(F32).max())


@dataclass
class _Clip:
    clip_id: object
    frame_iou: np.ndarray
    curves: np.ndarray | None
    nonempty: np.ndarray
    clip_iou: np.float32
    clip_fscore: float
    counts: np.ndarray


@dataclass
class _Batch:
    miou: np.float32
    fscore: float
    clips: int
    all_empty: bool


@dataclass
class BinaryMetricAccumulator:
    """Streams S4/MS3 clips through the official metric loop; memory does not grow with pixels.

    Clips are grouped into batches of ``batch_size`` in the order they are added, exactly as
    the official test loader (``shuffle=False``) groups them.  Each clip is
    ``[frames_per_clip, H, W]`` (``[T, 1, H, W]`` is accepted); ``frames_per_clip=None``
    accepts any length.  ``kind`` is 'logits' (default, as the official test), 'probs'
    (float32 sigmoid outputs) or 'masks' (hard 0/1).  ``protocol`` chooses what
    :meth:`result` reports by default: 'official' or the labelled 'per-dataset' alternative
    (``per_dataset_classes``: 'background+object' or 'object', see ``metrics.md`` §7).
    """

    batch_size: int = 4
    frames_per_clip: int | None = 5
    kind: str = "logits"
    allow_fractional_gt: bool = False
    protocol: str = "official"
    per_dataset_classes: str = "background+object"
    _clips: list[_Clip] = field(default_factory=list, init=False, repr=False)
    _batches: list[_Batch] = field(default_factory=list, init=False, repr=False)
    _pending: list[_Clip] = field(default_factory=list, init=False, repr=False)
    _fractional_seen: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.batch_size = check_positive_int(self.batch_size, "batch_size")
        if self.frames_per_clip is not None:
            self.frames_per_clip = check_positive_int(self.frames_per_clip, "frames_per_clip")
        if self.kind not in ("logits", "probs", "masks"):
            raise MetricInputError(
                f"unknown prediction kind {self.kind!r}: expected 'logits', 'probs' or 'masks'"
            )
        check_protocol(self.protocol)
        _check_classes(self.per_dataset_classes)

    @property
    def num_clips(self) -> int:
        """Clips added so far."""
        return len(self._clips)

    def add_clip(self, pred_clip, gt_clip, clip_id=None) -> None:
        """Score one clip: ``pred_clip`` of this accumulator's ``kind`` and 0/1 ``gt_clip``."""
        pred = binary_prediction(pred_clip, self.kind)
        if self.frames_per_clip is not None and pred.shape[0] != self.frames_per_clip:
            raise MetricInputError(
                f"clip has {pred.shape[0]} frames, expected {self.frames_per_clip} "
                "(frames_per_clip)"
            )
        gt, fractional = binary_ground_truth(gt_clip, pred.shape, self.allow_fractional_gt)
        self._fractional_seen |= fractional
        iou, curves, nonempty, counts = _frame_stats(pred, gt, self.kind, fractional)
        clip = _Clip(
            clip_id=len(self._clips) if clip_id is None else clip_id,
            frame_iou=iou,
            curves=curves,
            nonempty=nonempty,
            clip_iou=mean_iou_f32(iou),
            clip_fscore=batch_fscore([curves], [nonempty]),
            counts=counts,
        )
        self._clips.append(clip)
        self._pending.append(clip)
        if len(self._pending) == self.batch_size:
            self._batches.append(_close_batch(self._pending))
            for c in self._pending:
                c.curves = None  # no longer needed: keeps memory per clip small
            self._pending = []

    def result(self, protocol: str | None = None) -> dict:
        """The scores so far (a short last batch counts as a batch); adding may continue."""
        protocol = check_protocol(protocol or self.protocol)
        if not self._clips:
            raise MetricInputError("no clips to score: add at least one clip first")
        if protocol == "per-dataset":
            return _per_dataset_result(self)
        batches = list(self._batches)
        if self._pending:
            batches.append(_close_batch(self._pending))
        total = F32(0.0)
        for b in batches:  # official AverageMeter: a float32 running sum in batch order
            total = F32(total + b.miou)
        miou = F32(total / F32(len(batches)))
        fsum = 0.0
        for b in batches:
            fsum += b.fscore
        clips = self._clips
        frame_iou = np.concatenate([c.frame_iou for c in clips])
        empty_frames = int(sum(int((~c.nonempty).sum()) for c in clips))
        return {
            "protocol": "official",
            "kind": self.kind,
            "fscore_kind": "hard-mask" if self.kind == "masks" else "official",
            "fractional_gt": self._fractional_seen,
            "batch_size": self.batch_size,
            "frames_per_clip": self.frames_per_clip,
            "num_clips": len(clips),
            "num_frames": int(frame_iou.size),
            "num_batches": len(batches),
            "miou": float(miou),
            "fscore": fsum / len(batches),
            "per_batch_miou": [float(b.miou) for b in batches],
            "per_batch_fscore": [b.fscore for b in batches],
            "per_frame_iou": [float(v) for v in frame_iou],
            "per_clip_iou": [float(c.clip_iou) for c in clips],
            "per_video_iou": [float(c.clip_iou) for c in clips],
            "per_clip_fscore": [c.clip_fscore for c in clips],
            "per_clip_frames": [int(c.frame_iou.size) for c in clips],
            "per_clip_empty_gt_frames": [int((~c.nonempty).sum()) for c in clips],
            "clip_ids": [c.clip_id for c in clips],
            "empty_gt_frames": empty_frames,
            "empty_gt_batches": sum(1 for b in batches if b.all_empty),
        }


def _check_classes(classes: str) -> str:
    if classes not in PER_DATASET_CLASSES:
        raise MetricInputError(
            f"unknown per_dataset_classes {classes!r}: expected 'background+object' or 'object'"
        )
    return classes


def _close_batch(clips: list[_Clip]) -> _Batch:
    ious = np.concatenate([c.frame_iou for c in clips])
    return _Batch(
        miou=mean_iou_f32(ious),
        fscore=batch_fscore([c.curves for c in clips], [c.nonempty for c in clips]),
        clips=len(clips),
        all_empty=not any(bool(c.nonempty.any()) for c in clips),
    )


def _per_dataset_result(acc: BinaryMetricAccumulator) -> dict:
    """CAVP-style pooled metrics (``metrics.md`` §7) over every pixel of every clip added."""
    tp, fp, fn, tn = np.sum([c.counts.sum(axis=0) for c in acc._clips], axis=0)
    eps = np.finfo(np.float64).eps
    per_class = {
        "background": (tn / (tn + fn + fp + eps), _pooled_f(tn, fp, fn)),
        "object": (tp / (tp + fp + fn + eps), _pooled_f(tp, fn, fp)),
    }
    names = ["object"] if acc.per_dataset_classes == "object" else ["background", "object"]
    ious = [float(per_class[n][0]) for n in names]
    fs = [per_class[n][1] for n in names]
    valid_f = [f for f in fs if not math.isnan(f)]
    return {
        "protocol": "per-dataset",
        "per_dataset_classes": acc.per_dataset_classes,
        "classes": names,
        "kind": acc.kind,
        "fractional_gt": acc._fractional_seen,
        "num_clips": len(acc._clips),
        "num_frames": int(sum(c.frame_iou.size for c in acc._clips)),
        "miou": float(np.mean(ious)),
        "fscore": float(np.mean(valid_f)) if valid_f else 0.0,
        "per_class_iou": ious,
        "per_class_fscore": [None if math.isnan(f) else f for f in fs],
        "pixel_counts": {"tp": float(tp), "fp": float(fp), "fn": float(fn), "tn": float(tn)},
    }


def _pooled_f(tp: float, fn: float, fp: float) -> float:
    """``1.3 TP / (1.3 TP + 0.3 FN + FP)``; NaN when the class never occurs nor is predicted."""
    den = 1.3 * tp + 0.3 * fn + fp
    return float("nan") if den == 0 else float(1.3 * tp / den)


def split_clips(pred, gt, frames_per_clip: int) -> tuple[np.ndarray, np.ndarray]:
    """Reshape ``[V, T, H, W]`` or ``[N, H, W]`` predictions and ground truth into clips."""
    p = np.asarray(pred)
    g = np.asarray(gt)
    if p.shape != g.shape:
        raise MetricInputError(
            f"prediction shape {tuple(p.shape)} and ground-truth shape {tuple(g.shape)} differ"
        )
    if p.ndim == 3:
        n = p.shape[0]
        if n == 0 or n % frames_per_clip:
            raise MetricInputError(
                f"{n} frames cannot be split into clips of {frames_per_clip} frames "
                "(frames_per_clip); pass [clips, frames, H, W] for other lengths"
            )
        shape = (n // frames_per_clip, frames_per_clip, *p.shape[1:])
        return p.reshape(shape), g.reshape(shape)
    if p.ndim == 4:
        if p.shape[0] == 0:
            raise MetricInputError("no clips to score")
        return p, g
    raise MetricInputError(
        f"predictions must be [clips, frames, H, W] or [frames, H, W], got shape {tuple(p.shape)}"
    )


def binary_scores(
    pred,
    gt,
    *,
    kind: str = "logits",
    batch_size: int = 4,
    frames_per_clip: int = 5,
    allow_fractional_gt: bool = False,
    protocol: str = "official",
    per_dataset_classes: str = "background+object",
    clip_ids=None,
) -> dict:
    """Official S4/MS3 mIoU and F-score of predictions against 0/1 ground truth.

    ``pred`` is ``[V, T, H, W]``, or ``[N, H, W]`` split into clips of ``frames_per_clip``;
    ``gt`` has the same shape.  Clips are batched ``batch_size`` at a time in order (the
    official test uses 4).  Returns ``miou``, ``fscore``, ``per_batch_miou``,
    ``per_batch_fscore``, ``per_frame_iou``, ``per_clip_iou`` (alias ``per_video_iou``),
    ``per_clip_fscore`` (F with the clip as its own batch), ``fscore_kind`` ('official' or
    'hard-mask' for ``kind='masks'``) and bookkeeping; see :class:`BinaryMetricAccumulator`.
    """
    fpc = check_positive_int(frames_per_clip, "frames_per_clip")
    clips_p, clips_g = split_clips(pred, gt, fpc)
    acc = BinaryMetricAccumulator(
        batch_size=batch_size,
        frames_per_clip=clips_p.shape[1],
        kind=kind,
        allow_fractional_gt=allow_fractional_gt,
        protocol=protocol,
        per_dataset_classes=per_dataset_classes,
    )
    if clip_ids is not None and len(clip_ids) != len(clips_p):
        raise MetricInputError(f"{len(clip_ids)} clip ids for {len(clips_p)} clips")
    for i in range(len(clips_p)):
        acc.add_clip(clips_p[i], clips_g[i], None if clip_ids is None else clip_ids[i])
    return acc.result()
