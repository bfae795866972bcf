"""A simulated annotator (the standard NoC protocol of interactive segmentation).

Each next interaction goes to the *largest error region* between the current mask and the
truth (connected parts of the misses and of the false positives, separately), at its
interior point farthest from its boundary: a positive click in a miss, a negative one in a
false positive. :func:`interactions_to` counts interactions until the IoU reaches a target,
capped. The benchmark (``bench/bench_assist.py``) and the tests use it; nothing else does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from avs_studio.core.assist.prompt import Click


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two masks (1.0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def next_click(mask: np.ndarray, truth: np.ndarray) -> Click | None:
    """Where the robot clicks next (None when the mask is exactly right)."""
    import cv2

    pred, gt = np.asarray(mask, bool), np.asarray(truth, bool)
    best: tuple[int, np.ndarray, bool] | None = None
    for region, positive in ((gt & ~pred, True), (pred & ~gt, False)):
        if not region.any():
            continue
        count, labels, stats, _ = cv2.connectedComponentsWithStats(region.astype(np.uint8), connectivity=4)
        lab = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        area = int(stats[lab, cv2.CC_STAT_AREA])
        if best is None or area > best[0]:
            best = (area, labels == lab, positive)
    if best is None:
        return None
    _, part, positive = best
    # The image border counts as the region's boundary too (padding), as in the protocol.
    dist = cv2.distanceTransform(np.pad(part, 1).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    r, c = np.unravel_index(int(np.argmax(dist[1:-1, 1:-1])), part.shape)
    return Click(float(c), float(r), positive)


def disk(shape: tuple[int, int], x: float, y: float, radius: float) -> np.ndarray:
    """Bool mask of the pixels whose centres lie within ``radius`` of ``(x, y)``."""
    h, w = shape
    yy, xx = np.ogrid[:h, :w]
    return (xx - x) ** 2 + (yy - y) ** 2 <= radius**2


def interactions_to(truth: np.ndarray, step: Callable[[np.ndarray, Click], np.ndarray], *,
                    start: np.ndarray | None = None, target: float = 0.9, cap: int = 20,
                    ) -> tuple[int, float, np.ndarray]:  # fmt: skip
    """Interactions until IoU >= ``target`` (``cap`` when never): ``(count, final IoU, mask)``.

    ``step(mask, click)`` is one interaction: the mask after the robot's click. ``start``
    is the mask before any interaction (a proposal), empty by default.
    """
    gt = np.asarray(truth, bool)
    mask = np.zeros_like(gt) if start is None else np.asarray(start, bool)
    n = 0
    while iou(mask, gt) < target and n < cap:
        click = next_click(mask, gt)
        if click is None:
            break
        mask = np.asarray(step(mask, click), bool)
        n += 1
    return n, iou(mask, gt), mask


def brush_step(radius: float) -> Callable[[np.ndarray, Click], np.ndarray]:
    """The brush-only annotator: each interaction paints (or erases) one disk of ``radius``."""

    def step(mask: np.ndarray, click: Click) -> np.ndarray:
        d = disk(mask.shape, click.x, click.y, radius)
        return (mask | d) if click.positive else (mask & ~d)

    return step
