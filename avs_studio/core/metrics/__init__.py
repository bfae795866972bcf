"""AVSBench evaluation metrics, computed as the official test scripts compute them.

This is the public face of the metric code (``metrics.md`` is the contract):

* :func:`binary_scores` / :class:`BinaryMetricAccumulator` — S4 and MS3: mask mIoU and the
  255-threshold F-measure, batch by batch (``metrics_binary``).
* :func:`semantic_scores`, :func:`semantic_scores_from_labels` /
  :class:`SemanticMetricAccumulator` — AVSS: per-class mIoU and F over 71 classes
  (``metrics_semantic``).
* :func:`clip_rows` / :func:`clip_rows_csv` — per-clip scores for the review view, worst first.

The official protocol is the default everywhere.  ``protocol='per-dataset'`` selects the
CAVP-style pooled metrics, and every result says which protocol produced it (``protocol``).
The float32 details that make the numbers bit-identical to the official PyTorch code (the
threshold vector, the sigmoid, the softmax, torch's summation order) live in ``metrics_f32``.
The convenience functions are thin wrappers over the accumulators, so streamed and one-shot
results are identical.
"""

from __future__ import annotations

import csv
import io

from avs_studio.core.metrics.binary import BinaryMetricAccumulator, binary_scores, fscore_curve
from avs_studio.core.metrics.f32 import (
    THRESHOLDS,
    float32_sigmoid,
    float32_softmax,
    softmax_argmax,
)
from avs_studio.core.metrics.inputs import MetricInputError
from avs_studio.core.metrics.semantic import (
    SemanticMetricAccumulator,
    semantic_scores,
    semantic_scores_from_labels,
)

__all__ = [
    "THRESHOLDS",
    "BinaryMetricAccumulator",
    "MetricInputError",
    "SemanticMetricAccumulator",
    "binary_scores",
    "clip_rows",
    "clip_rows_csv",
    "float32_sigmoid",
    "float32_softmax",
    "fscore_curve",
    "semantic_scores",
    "semantic_scores_from_labels",
    "softmax_argmax",
]


def clip_rows(result: dict, *, worst_first: bool = True) -> list[dict]:
    """One flat row per clip of an official result, sorted worst first (lowest mIoU, then F).

    Rows hold ``rank``, ``clip_id``, ``miou``, ``fscore`` and ``frames``.  Binary results give
    each clip's official mIoU (mean of its frames' IoU) and its F with the clip as its own
    batch, plus ``empty_gt_frames``; AVSS results give the per-clip review mIoU / F over the
    classes occurring in the clip (see ``metrics_semantic``), plus ``classes``.  Ties keep the
    input order; clips without a value sort last.
    """
    binary = "per_clip_iou" in result
    if result.get("protocol") != "official" or not (binary or "per_clip_miou" in result):
        raise MetricInputError(
            "per-clip rows need a result of the official protocol (per-dataset metrics are "
            "pooled over the whole split and have no per-clip values)"
        )
    mious = result["per_clip_iou"] if binary else result["per_clip_miou"]
    fs = result["per_clip_fscore"]
    extra_key = "empty_gt_frames" if binary else "classes"
    extra = result["per_clip_empty_gt_frames"] if binary else result["per_clip_classes"]
    order = list(range(len(mious)))
    if worst_first:

        def key(i: int):
            m, f = mious[i], fs[i]
            return (m is None, m if m is not None else 0.0, f if f is not None else 0.0, i)

        order.sort(key=key)
    return [
        {
            "rank": rank + 1,
            "clip_id": result["clip_ids"][i],
            "miou": mious[i],
            "fscore": fs[i],
            "frames": result["per_clip_frames"][i],
            extra_key: extra[i],
        }
        for rank, i in enumerate(order)
    ]


def clip_rows_csv(result: dict, *, worst_first: bool = True) -> str:
    """:func:`clip_rows` as CSV text with a header line (LF line endings; empty for no value)."""
    rows = clip_rows(result, worst_first=worst_first)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()
