"""The built-in segmenter: GrabCut seeded by clicks, a box or a prior mask, on a small crop.

No weights, any footage. Each request works on a crop around the object (the box, the
prior mask and the clicks, with a margin), shrunk so that its long side is at most
``work_side`` pixels:

1. seeds: positive clicks are certain foreground, negative clicks certain background
   (small discs); the crop's border is background unless it is the image's border; the
   prior mask, the box or (for the first clicks alone) a watershed from the clicks
   towards the crop border says what is *probably* foreground;
2. GrabCut (colour models + graph cut) on the shrunk crop; only the parts connected to a
   positive click are kept;
3. back at full resolution, a guided filter snaps the upscaled mask to the image's edges
   (its guide is the colour direction that best separates the object from its
   surroundings), so a 1280x720 frame gets full-resolution outlines from a 160-pixel cut;
4. a result that runs into the crop's border (the object is larger than guessed) is
   redone on a larger crop.

The state of an answer (crop, labels, colour models) is reused by the next click on the
same object: GrabCut resumes from it (``GC_EVAL``) instead of starting over.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from avs_studio.core.assist.prompt import AssistError, Prompt, Segmenter, SegmentResult, check_image

__all__ = ["ClassicalSegmenter", "guided_filter"]

_BGD, _FGD, _PR_BGD, _PR_FGD = 0, 1, 2, 3
#: Blurs (shares of the crop's side) before the watershed: texture is not an outline.
WATERSHED_BLUR = (0.012, 0.03)


@dataclass
class _CutState:
    """What the next click on the same object reuses: the answer so far and its crop."""

    shape: tuple[int, int]
    key: Hashable | None
    roi: tuple[int, int, int, int]  # x0, y0, x1, y1 (full resolution, x1/y1 exclusive)
    mask: np.ndarray  # the answer (bool, full resolution)
    box: tuple[float, float, float, float] | None


class ClassicalSegmenter(Segmenter):
    """GrabCut on a shrunk crop, refined at full resolution (see the module docstring)."""

    name = "GrabCut (built in)"

    def __init__(self, *, work_side: int = 160, iterations: int = 2, first_extent: float = 0.35,
                 max_grow: int = 2, refine: bool = True) -> None:  # fmt: skip
        self.work_side = int(work_side)
        self.iterations = int(iterations)
        self.first_extent = float(first_extent)
        self.max_grow = int(max_grow)
        self.refine = bool(refine)

    # ------------------------------------------------------------------ the request
    def segment(self, image: np.ndarray, prompt: Prompt, *, state: Any = None,
                key: Hashable | None = None) -> SegmentResult:  # fmt: skip
        """The object's mask; see :class:`~avs_studio.core.assist.prompt.Segmenter`."""
        img = check_image(image)
        h, w = img.shape[:2]
        estimate = None
        if prompt.prior is not None:
            estimate = np.asarray(prompt.prior, bool)
            if estimate.shape != (h, w):
                raise AssistError(f"the prior mask is {estimate.shape[1]}x{estimate.shape[0]}, the image {w}x{h}")
        old = state if isinstance(state, _CutState) else None
        if old is not None and (old.shape != (h, w) or old.key != key or old.box != prompt.box):
            old = None
        if estimate is not None and not estimate.any():
            estimate = None
        if not prompt.positives and prompt.box is None and estimate is None:
            return SegmentResult(np.zeros((h, w), bool), notes=["no positive click, box or prior mask"])
        # Only the user's prior anchors the cut; the previous answer (a guess from fewer
        # clicks) only keeps the crop where it was, so that answers stay stable.
        extent = estimate
        if old is not None and old.mask.any():
            extent = old.mask if estimate is None else (old.mask | estimate)
        roi = self._roi(prompt, extent, (h, w), None if old is None else old.roi)
        grows = 0
        while True:
            may_grow = prompt.box is None and grows < self.max_grow and roi != (0, 0, w, h)
            mask, touches = self._cut(img, prompt, estimate, roi, may_grow=may_grow)
            if not touches or not may_grow:
                break
            roi = _grow(roi, 1.8, (h, w))
            grows += 1
        if mask.any() and prompt.box is None:
            # Coarse to fine: an object much smaller than its crop was cut at a low
            # resolution; cut it again on a crop that fits it, starting from this answer.
            tight = self._roi(prompt, mask, (h, w), None)
            if _work_scale(tight, self.work_side) > 1.5 * _work_scale(roi, self.work_side):
                roi = tight
                mask, _ = self._cut(img, prompt, mask if estimate is None else estimate, roi)
        return SegmentResult(mask, state=_CutState((h, w), key, roi, mask, prompt.box))

    def _roi(self, prompt: Prompt, estimate: np.ndarray | None, shape: tuple[int, int],
             previous: tuple[int, int, int, int] | None) -> tuple[int, int, int, int]:  # fmt: skip
        """The crop: the box, or the estimate and the clicks, with a margin (kept when the
        previous crop still holds everything, so that answers stay stable)."""
        h, w = shape
        if prompt.box is not None:
            x0, y0, x1, y1 = prompt.box
            margin = max(8.0, 0.15 * max(x1 - x0, y1 - y0))
            return _clip_roi(x0 - margin, y0 - margin, x1 + margin + 1, y1 + margin + 1, shape)
        xs = [c.x for c in prompt.clicks]
        ys = [c.y for c in prompt.clicks]
        # A positive click off the object so far says "more object here, of unknown size":
        # it gets the generous context of a first click (the fine cut follows).
        reach = self.first_extent * min(h, w)
        fresh = [c for c in prompt.positives if estimate is None or not _inside(estimate, c.x, c.y)]
        if estimate is not None:
            rows = np.flatnonzero(estimate.any(axis=1))
            cols = np.flatnonzero(estimate.any(axis=0))
            xs += [float(cols[0]), float(cols[-1])]
            ys += [float(rows[0]), float(rows[-1])]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        margin = max(10.0, 0.3 * max(x1 - x0, y1 - y0))
        x0, y0, x1, y1 = x0 - margin, y0 - margin, x1 + margin + 1, y1 + margin + 1
        for c in fresh:
            x0, y0 = min(x0, c.x - reach), min(y0, c.y - reach)
            x1, y1 = max(x1, c.x + reach + 1), max(y1, c.y + reach + 1)
        if previous is not None:
            px0, py0, px1, py1 = previous
            if px0 <= x0 and py0 <= y0 and x1 <= px1 and y1 <= py1:
                return previous
        return _clip_roi(x0, y0, x1, y1, shape)

    # ------------------------------------------------------------------ one cut
    def _cut(self, img: np.ndarray, prompt: Prompt, estimate: np.ndarray | None, roi, *,
             may_grow: bool = False) -> tuple[np.ndarray | None, bool]:  # fmt: skip
        """The mask cut on ``roi``, and whether the object seems to run beyond the crop (then,
        when ``may_grow``, no mask: the caller cuts again on a larger crop)."""
        import cv2

        h, w = img.shape[:2]
        x0, y0, x1, y1 = roi
        crop = img[y0:y1, x0:x1]
        rh, rw = crop.shape[:2]
        scale = min(1.0, self.work_side / max(rh, rw))
        sw, sh = max(8, round(rw * scale)), max(8, round(rh * scale))
        small = crop if scale == 1.0 else cv2.resize(crop, (sw, sh), interpolation=cv2.INTER_AREA)
        small = np.ascontiguousarray(small[:, :, ::-1])  # OpenCV's order (the colour models do not care)
        sx, sy = sw / rw, sh / rh

        def to_work(x: float, y: float) -> tuple[int, int]:
            return (min(sw - 1, max(0, int((x - x0 + 0.5) * sx))), min(sh - 1, max(0, int((y - y0 + 0.5) * sy))))

        seeds = [(to_work(c.x, c.y), c.positive) for c in prompt.clicks]
        seed_r = max(1, int(round(0.015 * max(sw, sh))))
        inner = (x0 > 0, y0 > 0, x1 < w, y1 < h)  # crop sides that are not the image's border
        if may_grow and estimate is None and _border_like_clicks(small, seeds, inner):
            return None, True  # the crop lies inside the object: cutting it would be wasted
        est_small = None
        if estimate is not None:
            est_small = cv2.resize(estimate[y0:y1, x0:x1].astype(np.uint8), (sw, sh),
                                   interpolation=cv2.INTER_NEAREST) > 0  # fmt: skip
        guess, flooded = _watershed_guess(small, seeds, seed_r, inner, est_small, prompt.box and
                                          (to_work(*prompt.box[:2]), to_work(*prompt.box[2:])))  # fmt: skip
        labels = np.where(guess, _PR_FGD, _PR_BGD).astype(np.uint8)
        if prompt.box is not None:
            (bx0, by0), (bx1, by1) = to_work(*prompt.box[:2]), to_work(*prompt.box[2:])
            outside = np.ones((sh, sw), bool)
            outside[by0 : by1 + 1, bx0 : bx1 + 1] = False
            if est_small is None and not prompt.negatives:
                labels[~outside] = _PR_FGD  # GrabCut's own start: the whole box is probably the object
            labels[outside] = _BGD
        _mark_border(labels, inner, _BGD)
        for (cx, cy), positive in seeds:
            cv2.circle(labels, (cx, cy), seed_r, _FGD if positive else _BGD, -1)
        certain_fg = labels == _FGD
        started = int(((labels == _FGD) | (labels == _PR_FGD)).sum())
        has_fg = bool(((labels == _FGD) | (labels == _PR_FGD)).any())
        has_bg = bool(((labels == _BGD) | (labels == _PR_BGD)).any())
        if has_fg and has_bg and self.iterations > 0:
            try:
                bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
                # a coarse cut of a big crop (a finer one follows) needs fewer rounds
                rounds = 1 if scale < 0.5 and estimate is None else self.iterations
                cv2.grabCut(small, labels, None, bgd, fgd, rounds, cv2.GC_INIT_WITH_MASK)
            except cv2.error:
                pass  # degenerate colour statistics: keep the watershed's answer
        fg = (labels == _FGD) | (labels == _PR_FGD)
        if fg.sum() < 0.15 * started:
            # The colour models found no object (a white bird on a white wall): the edges
            # (the watershed's partition) know more than the colours here.
            fg = (guess & (labels != _BGD)) | certain_fg
        fg = _honour_clicks(fg, flooded, seeds)
        fg = _connected_to(fg, certain_fg if certain_fg.any() else guess)
        touches = _touches_inner_border(fg, inner)
        if scale < 1.0:
            soft = cv2.resize(fg.astype(np.float32), (rw, rh), interpolation=cv2.INTER_LINEAR)
            full = _refine(crop, soft, fg, small, 1.0 / scale) if self.refine else soft > 0.5
        else:
            full = fg
        mask = np.zeros((h, w), bool)
        mask[y0:y1, x0:x1] = full
        for c in prompt.clicks:  # a click's own pixel is what the user said it is
            r, col = int(round(c.y)), int(round(c.x))
            if 0 <= r < h and 0 <= col < w:
                mask[r, col] = c.positive
        return mask, touches


# ====================================================================== pieces


def _clip_roi(x0: float, y0: float, x1: float, y1: float, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    h, w = shape
    a, b = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    c, d = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
    if c - a < 8:
        a, c = max(0, min(a, w - 8)), min(w, max(c, a + 8))
    if d - b < 8:
        b, d = max(0, min(b, h - 8)), min(h, max(d, b + 8))
    return a, b, c, d


def _inside(mask: np.ndarray, x: float, y: float) -> bool:
    h, w = mask.shape
    c, r = int(round(x)), int(round(y))
    return 0 <= r < h and 0 <= c < w and bool(mask[r, c])


def _work_scale(roi: tuple[int, int, int, int], work_side: int) -> float:
    x0, y0, x1, y1 = roi
    return min(1.0, work_side / max(x1 - x0, y1 - y0))


def _grow(roi: tuple[int, int, int, int], factor: float, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = roi
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = (x1 - x0) * factor / 2, (y1 - y0) * factor / 2
    return _clip_roi(cx - hw, cy - hh, cx + hw, cy + hh, shape)


def _mark_border(labels: np.ndarray, inner, value: int, width: int = 1) -> None:
    left, top, right, bottom = inner
    if left:
        labels[:, :width] = value
    if top:
        labels[:width, :] = value
    if right:
        labels[:, -width:] = value
    if bottom:
        labels[-width:, :] = value


def _touches_inner_border(fg: np.ndarray, inner, width: int = 3) -> bool:
    left, top, right, bottom = inner
    w = width
    return bool((left and fg[:, w].any()) or (top and fg[w, :].any()) or (right and fg[:, -w - 1].any())
                or (bottom and fg[-w - 1, :].any()))  # fmt: skip


def _border_like_clicks(small: np.ndarray, seeds, inner, levels: int = 6) -> bool:
    """True when the crop's inner border looks like the surroundings of the positive clicks
    (colour histograms overlap by more than half): the crop probably lies inside the object."""
    import cv2

    sh, sw = small.shape[:2]
    band = np.zeros((sh, sw), np.uint8)
    _mark_border(band, inner, 1, width=3)
    positives = [xy for xy, positive in seeds if positive]
    if not band.any() or not positives:
        return False
    near = np.zeros((sh, sw), np.uint8)
    r = max(4, int(round(0.06 * max(sh, sw))))
    for xy in positives:
        cv2.circle(near, xy, r, 1, -1)
    blurred = cv2.GaussianBlur(small, (0, 0), max(1.0, 0.02 * max(sh, sw)))
    q = (blurred.astype(np.int32) * levels) // 256
    codes = (q[..., 0] * levels + q[..., 1]) * levels + q[..., 2]
    bins = levels**3
    a = np.bincount(codes[band > 0], minlength=bins).astype(np.float64)
    b = np.bincount(codes[near > 0], minlength=bins).astype(np.float64)
    return float(np.minimum(a / a.sum(), b / b.sum()).sum()) > 0.5


_BG_MARK, _FG_MARK, _CLICK_MARK = 1, 2, 10  # watershed labels: rest, object, click i -> 10 + i


def _watershed_guess(small: np.ndarray, seeds, seed_r: int, inner, estimate: np.ndarray | None,
                     box) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A first partition by seeded watershed on the colour image: each click floods its own
    region until it meets the flood of another click, of the crop's border, or of the
    estimate so far (its core stands for the object, the far outside for the rest).

    Near a click that contradicts the estimate (a negative click inside it, a positive one
    outside), the estimate's seeds are withdrawn up to twice as far as the click is deep
    inside the wrong region, so the click's flood can take that region over up to its edges.
    Returns the guess (the object's part) and the flood map, where click ``i``'s region
    carries the label ``10 + i``.
    """
    import cv2

    sh, sw = small.shape[:2]
    markers = np.zeros((sh, sw), np.int32)
    border = np.zeros((sh, sw), np.uint8)
    # OpenCV's watershed ignores markers on the image's outermost pixels: mark two rows.
    _mark_border(border, inner, 1, width=2)
    extra = []
    if box is not None:
        (bx0, by0), (bx1, by1) = box
        inside = np.zeros((sh, sw), bool)
        inside[by0 : by1 + 1, bx0 : bx1 + 1] = True
        border[~inside] = 1
        if estimate is None and not any(p for _, p in seeds):  # a box alone: its centre is the object
            extra = [(((bx0 + bx1) // 2, (by0 + by1) // 2), True)]
    if not border.any():  # the crop is the whole image: its outer frame stands for the rest
        border[:2, :] = border[-2:, :] = border[:, :2] = border[:, -2:] = 1
    markers[border > 0] = _BG_MARK
    if estimate is not None and estimate.any():
        kernel = np.ones((5, 5), np.uint8)
        core = cv2.erode(estimate.astype(np.uint8), kernel) > 0
        outer = cv2.erode((~estimate).astype(np.uint8), kernel) > 0
        depth_in = cv2.distanceTransform(estimate.astype(np.uint8), cv2.DIST_L2, 3)
        depth_out = cv2.distanceTransform((~estimate).astype(np.uint8), cv2.DIST_L2, 3)
        yy, xx = np.ogrid[:sh, :sw]
        for (cx, cy), positive in seeds:
            if positive and not estimate[cy, cx]:
                r = 2.0 * float(depth_out[cy, cx]) + 2.0
                outer &= (xx - cx) ** 2 + (yy - cy) ** 2 > r * r
            elif not positive and estimate[cy, cx]:
                r = 2.0 * float(depth_in[cy, cx]) + 2.0
                core &= (xx - cx) ** 2 + (yy - cy) ** 2 > r * r
        markers[outer] = _BG_MARK
        markers[core] = _FG_MARK
    all_seeds = [*seeds, *extra]
    for i, ((cx, cy), _) in enumerate(all_seeds):
        cv2.circle(markers, (cx, cy), seed_r, _CLICK_MARK + i, -1)
    object_labels = [_FG_MARK] + [_CLICK_MARK + i for i, (_, positive) in enumerate(all_seeds) if positive]
    flooded = markers
    guess = np.zeros((sh, sw), bool)
    if len(object_labels) == 1 and not (markers == _FG_MARK).any():
        return guess, flooded
    # Texture inside an object is edges too: a blur keeps where the colour *statistics*
    # change. A flood that stayed tiny was stopped by texture: flood again, blurred more.
    for blur in WATERSHED_BLUR:
        flooded = markers.copy()
        cv2.watershed(cv2.GaussianBlur(small, (0, 0), max(1.0, blur * max(sh, sw))), flooded)
        guess = np.isin(flooded, object_labels)
        if estimate is not None or guess.sum() >= 0.02 * sh * sw:
            break
    return guess, flooded


def _honour_clicks(fg: np.ndarray, flooded: np.ndarray, seeds) -> np.ndarray:
    """The user's clicks overrule the colour models: a positive click's region (its flood)
    that the cut left mostly out comes back in; a negative click's region that it kept goes."""
    import cv2

    out = fg.copy()
    for i, (_, positive) in enumerate(seeds):
        region = flooded == _CLICK_MARK + i
        n = int(region.sum())
        if n == 0:
            continue
        inside = int((out & region).sum())
        if positive and inside < 0.5 * n:
            out |= region
        elif not positive and inside > 0.5 * n:
            out &= ~region
    # the watershed's own boundary pixels (-1) between two object regions are object too
    edge = flooded == -1
    if edge.any():
        out |= edge & (cv2.blur(out.astype(np.float32), (3, 3)) > 0.5)
    return out


def _connected_to(fg: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """The parts of ``fg`` that touch ``anchor`` (all of ``fg`` when none does)."""
    import cv2

    if not fg.any() or not anchor.any():
        return fg
    count, labels = cv2.connectedComponents(fg.astype(np.uint8), connectivity=8)
    keep = np.unique(labels[anchor & fg])
    keep = keep[keep > 0]
    if len(keep) == 0:
        return fg
    return np.isin(labels, keep)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with a one-channel guide (float32 arrays of the same shape)."""
    import cv2

    k = (2 * int(radius) + 1,) * 2

    def box(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(a, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(guide), box(src)
    var_i = box(guide * guide) - mean_i * mean_i
    cov_ip = box(guide * src) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def _refine(crop: np.ndarray, soft: np.ndarray, fg_small: np.ndarray, small_bgr: np.ndarray,
            upscale: float) -> np.ndarray:  # fmt: skip
    """Snap an upscaled mask to the full-resolution image's edges (near its outline only)."""
    import cv2

    if not fg_small.any() or fg_small.all():
        return soft > 0.5
    # The guide: the colour axis from the surroundings' mean to the object's mean.
    small_rgb = small_bgr[:, :, ::-1].astype(np.float32)
    mean_fg = small_rgb[fg_small].mean(axis=0)
    mean_bg = small_rgb[~fg_small].mean(axis=0)
    axis = mean_fg - mean_bg
    norm = float(np.linalg.norm(axis))
    if norm < 8.0:  # hardly any colour difference: luminance is the best we have
        axis, norm = np.array([0.299, 0.587, 0.114], np.float32), 1.0
        guide = crop.astype(np.float32) @ axis / 255.0
    else:
        guide = (crop.astype(np.float32) - mean_bg) @ (axis / norm) / norm
    radius = max(2, int(round(1.5 * upscale)))
    out = guided_filter(guide.astype(np.float32), soft, radius, 1e-2)
    # Only the band around the outline may change: deep inside and far outside stay.
    band = (soft > 0.02) & (soft < 0.98)
    band = cv2.dilate(band.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=radius) > 0
    return np.where(band, out > 0.5, soft > 0.5)
