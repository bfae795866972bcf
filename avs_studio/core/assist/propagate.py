"""Propagation: an object's mask on one sampled frame proposed on the others.

The object is followed through the decoded video between two sampled frames
(:class:`~avs_studio.core.assist.frames.ClipFrames`): objects move tens of pixels between
sampled frames, further than flow between the two alone can follow, but only a few pixels
from one video frame to the next. Each step tracks points of the object (its corners, or
its outline when it is flat) with pyramidal Lucas-Kanade optical flow, checks every track
backwards (a point whose backward track does not come back within a pixel is dropped),
and fits a similarity transform to what is left (RANSAC, seeded). The object's outline is
carried by that transform and filled once at the end, so nothing blurs or erodes along the
way; the share of tracked points that agreed is the proposal's confidence.

Why not dense flow (OpenCV's DIS, as first planned): chained through the same frames it
followed the demo scenes' objects far worse (``bench/bench_propagation_flow.py``: IoU mean
0.48 against 0.76, median 0.48 against 0.95, in 5x the time): flat objects give dense flow
no texture to hold on to, and a warped mask drifts and erodes at its rim.

Optionally each proposal is *refined*: the carried mask becomes clicks and a prior for a
segmenter (the click tool's backend), which snaps it to the target frame's edges.

Without video (an AVSBench frame folder) the tracking goes straight from one sampled frame to
the next, which fails beyond about 30 pixels of motion: the result says so in ``notes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from avs_studio.core.assist.frames import ClipFrames
from avs_studio.core.assist.prompt import Segmenter, proposal_prompt
from avs_studio.core.jobs import CancelToken, Progress, no_progress

__all__ = ["FlowTracker", "Propagated", "PropagationResult", "copy_mask", "propagate"]

#: The model name propagated proposals carry (their provenance).
PROPAGATION_MODEL = "propagation (optical flow)"


@dataclass
class Propagated:
    """An object's proposed mask on one sampled frame."""

    frame: int
    mask: np.ndarray  # bool [H, W]
    confidence: float  # the weakest walk's share of tracked points that agreed with the motion
    steps: int  # flow steps from the source frame
    direct: bool = False  # True: flow between sampled frames, no video in between
    refined: bool = False


@dataclass
class PropagationResult:
    """What a propagation produced, frame by frame, and what the user should know."""

    source: int
    frames: list[Propagated] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)  # frames where the object vanished (no proposal)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the status bar."""
        n = len(self.frames)
        text = f"{n} frame(s) proposed from frame {self.source + 1}"
        if self.lost:
            text += f"; lost on frame(s) {', '.join(str(k + 1) for k in self.lost)} (nothing proposed there)"
        if any(p.direct for p in self.frames):
            text += "; no video between the sampled frames: direct flow (less reliable beyond ~30 px)"
        return text


class FlowTracker:
    """Carries a mask through a sequence of frames by tracking its points (Lucas-Kanade).

    Along a walk it carries the mask's outlines (holes included) by the similarity
    transform each step's tracked points agree on, and fills them once, at the end: no blur
    or erosion builds up over the steps. Tracks that fail the forward-backward check (the
    background an object uncovers, occlusions) do not vote, and lower the confidence.
    """

    def __init__(self, *, max_side: int = 320, max_step: float = 12.0, margin: float = 0.6,
                 travel: float = 0.15, check: bool = True) -> None:  # fmt: skip
        self.max_side = int(max_side)
        self.max_step = float(max_step)
        self.margin = float(margin)
        self.travel = float(travel)
        self.check = bool(check)

    def walk(self, mask: np.ndarray, start: np.ndarray, frames: Sequence[np.ndarray], *,
             direct: bool = False, cancel: CancelToken | None = None) -> tuple[np.ndarray, float, int]:  # fmt: skip
        """``mask`` (bool, on image ``start``) carried to the last of ``frames`` (the frames
        in between are stepping stones): the mask there, the share of tracked points that
        agreed with the motion (geometric mean over the steps taken), and the number of steps.

        Steps are as long as the motion allows: a step that moves the object more than
        :attr:`max_step` pixels (at work scale), or that most tracked points disagree with,
        is split at the frame half-way; small per-frame motions are thus never chained one
        video frame at a time, where the trackers' sub-pixel errors would add up. A step
        between two neighbouring frames that cannot be followed (a shot change, the object
        gone) ends the walk with an empty mask and a share of 0: the object is lost.
        ``direct`` marks a walk with no stepping stones (whole-frame search).
        """
        mask = np.asarray(mask, bool)
        h, w = mask.shape
        outlines = _outlines(mask)
        frames = list(frames)
        if not outlines or not frames:
            return mask.copy(), 0.0 if not outlines else 1.0, 0
        x0, y0, x1, y1 = (0, 0, w, h) if direct else self._crop(mask)
        rw, rh = x1 - x0, y1 - y0
        scale = min(1.0, self.max_side / max(rw, rh))
        sw, sh = max(8, round(rw * scale)), max(8, round(rh * scale))
        sx, sy = sw / rw, sh / rh
        grays: dict[int, np.ndarray] = {}
        thumbs: dict[int, np.ndarray] = {}

        def gray(i: int) -> np.ndarray:
            if i not in grays:
                grays[i] = _gray((start if i < 0 else frames[i])[y0:y1, x0:x1], (sw, sh))
            return grays[i]

        def thumb(i: int) -> np.ndarray:  # the whole frame, small: to tell a shot change
            if i not in thumbs:
                thumbs[i] = _gray(start if i < 0 else frames[i], (64, 36))
            return thumbs[i]

        shares: list[float] = []

        def step(i0: int, i1: int, outlines: list) -> list:
            if cancel is not None:
                cancel.raise_if_cancelled()
            work = [((pts - (x0, y0) + 0.5) * (sx, sy) - 0.5, hole) for pts, hole in outlines]
            inside = np.zeros((sh, sw), np.uint8)
            _fill(inside, [p for p, _ in work], [hole for _, hole in work])
            cut = _is_cut(thumb(i0), thumb(i1))
            found = None
            if inside.any() and not cut:
                found = self._motion(gray(i0), gray(i1), inside, work, levels=5 if direct else 4)
            doubtful = found is not None and found[2] and found[1] < 0.3
            if i1 - i0 > 1 and (found is None or doubtful or _travel(found[0], work) > self.max_step):
                mid = (i0 + i1) // 2
                return step(mid, i1, step(i0, mid, outlines))
            if found is None or (found[2] and found[1] < 0.1):
                raise _Lost  # a shot change, or nothing of the object could be followed
            matrix, share, _ = found
            shares.append(share)
            return [(_apply(pts, matrix, (x0, y0), (sx, sy)), hole) for pts, hole in outlines]

        try:
            outlines = step(-1, len(frames) - 1, outlines)
        except _Lost:
            return np.zeros((h, w), bool), 0.0, len(shares)
        out = np.zeros((h, w), np.uint8)
        _fill(out, [pts for pts, _ in outlines], [hole for _, hole in outlines])
        share = float(np.exp(np.mean(np.log(np.maximum(shares, 1e-3))))) if shares else 0.0
        return out > 0, share, len(shares)

    def _motion(self, prev: np.ndarray, cur: np.ndarray, inside: np.ndarray, work, *, levels: int
                ) -> tuple[np.ndarray, float, bool] | None:  # fmt: skip
        """The object's motion from ``prev`` to ``cur`` as a 2x3 similarity matrix (work
        coordinates), the share of its tracked points that agree with it, and whether they
        were the object's own corners (True) or, for a flat object, its outline (False:
        points sliding along an edge disagree by nature, so the share means less)."""
        import cv2

        core = cv2.erode(inside, np.ones((5, 5), np.uint8))
        pts = cv2.goodFeaturesToTrack(prev, 300, 0.01, 3, mask=core, blockSize=5) if core.any() else None
        pts = np.zeros((0, 1, 2), np.float32) if pts is None else pts.astype(np.float32)
        textured = len(pts) >= 15
        if not textured:
            # A flat object has few corners inside: its outline is what visibly moves. (On a
            # textured object the outline's points would half follow the background.)
            outline = np.concatenate([p for p, _ in work], axis=0)
            if len(outline) > 120:
                outline = outline[np.linspace(0, len(outline) - 1, 120).round().astype(int)]
            pts = np.concatenate([pts, outline.reshape(-1, 1, 2).astype(np.float32)], axis=0)
        lk = {"winSize": (15, 15), "maxLevel": levels,
              "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)}  # fmt: skip
        nxt, ok, _ = cv2.calcOpticalFlowPyrLK(prev, cur, pts, None, **lk)
        if nxt is None:
            return None
        ok = ok.reshape(-1).astype(bool)
        if self.check:
            back, ok_b, _ = cv2.calcOpticalFlowPyrLK(cur, prev, nxt, None, **lk)
            err = np.linalg.norm((back - pts).reshape(-1, 2), axis=1)
            ok &= ok_b.reshape(-1).astype(bool) & (err < 1.0)
        src, dst = pts.reshape(-1, 2)[ok], nxt.reshape(-1, 2)[ok]
        if len(src) < 3:
            return None
        cv2.setRNGSeed(14)  # RANSAC samples at random: the same frames give the same proposal
        matrix, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.0)
        if matrix is None:
            shift = np.median(dst - src, axis=0)
            matrix = np.array([[1, 0, shift[0]], [0, 1, shift[1]]], np.float64)
            agree = 0.5
        else:
            agree = float(inliers.sum()) / len(pts)
        return matrix, agree, textured

    def _crop(self, mask: np.ndarray) -> tuple[int, int, int, int]:
        """The object's box with room for its size and for how far objects travel in a walk."""
        h, w = mask.shape
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        bh, bw = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        m = max(24, int(self.margin * max(bh, bw) + self.travel * min(h, w)))
        return max(0, cols[0] - m), max(0, rows[0] - m), min(w, cols[-1] + m + 1), min(h, rows[-1] + m + 1)


def _gray(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    g = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    if (g.shape[1], g.shape[0]) != size:
        g = cv2.resize(g, size, interpolation=cv2.INTER_AREA)
    return g


def _outlines(mask: np.ndarray) -> list[tuple[np.ndarray, bool]]:
    """The mask's outer and hole boundaries as float point arrays ``(x, y)``, with a hole flag."""
    import cv2

    contours, hierarchy = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    if hierarchy is None:
        return []
    return [(c.reshape(-1, 2).astype(np.float32), bool(hierarchy[0][i][3] >= 0))
            for i, c in enumerate(contours)]  # fmt: skip


_SHIFT = 4  # sub-pixel bits when filling outlines


def _fill(canvas: np.ndarray, outlines: list[np.ndarray], holes: list[bool]) -> None:
    """Fill outer outlines with 1, then hole outlines with 0 (pixel centres at integers).

    A contour traced through a mask's boundary pixels encloses those pixels' centres only
    half-way; OpenCV's polygon fill includes the boundary itself, so a contour drawn back
    gives the same mask.
    """
    import cv2

    k = 1 << _SHIFT
    outer = [np.round(p * k).astype(np.int32).reshape(-1, 1, 2) for p, hole in zip(outlines, holes) if not hole]
    inner = [np.round(p * k).astype(np.int32).reshape(-1, 1, 2) for p, hole in zip(outlines, holes) if hole]
    if outer:
        cv2.fillPoly(canvas, outer, 1, cv2.LINE_8, _SHIFT)
        cv2.polylines(canvas, outer, True, 1, 1, cv2.LINE_8, _SHIFT)
    if inner:
        cv2.fillPoly(canvas, inner, 0, cv2.LINE_8, _SHIFT)
        cv2.polylines(canvas, inner, True, 1, 1, cv2.LINE_8, _SHIFT)


def _object_motion(flow: np.ndarray, support: np.ndarray, sigma: float) -> np.ndarray:
    """The object's own motion everywhere near it: the flow of its trusted interior, spread
    outwards by normalised convolution (flow at an object's edge is a blur of the object's
    and the background's; the edge moves with the object)."""
    import cv2

    wgt = support.astype(np.float32)
    den = cv2.GaussianBlur(wgt, (0, 0), sigma)
    out = np.empty_like(flow)
    mean = flow[support].mean(axis=0) if support.any() else np.zeros(2, np.float32)
    for c in range(2):
        num = cv2.GaussianBlur(flow[..., c] * wgt, (0, 0), sigma)
        out[..., c] = np.where(den > 1e-3, num / np.maximum(den, 1e-6), mean[c])
    return out


class _Lost(Exception):
    """The object could not be followed through a step (a cut, an occlusion, a blur)."""


def _is_cut(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two (whole, shrunk) frames look like different shots: their grey-level
    histograms hardly correlate, however much an object moved in them."""
    import cv2

    ha = cv2.calcHist([a], [0], None, [32], [0, 256])
    hb = cv2.calcHist([b], [0], None, [32], [0, 256])
    return float(cv2.compareHist(ha, hb, cv2.HISTCMP_CORREL)) < 0.5


def _travel(matrix: np.ndarray, work) -> float:
    """How far ``matrix`` moves the outline's points at most (work pixels)."""
    pts = np.concatenate([p for p, _ in work], axis=0)
    moved = pts @ matrix[:, :2].T + matrix[:, 2]
    return float(np.abs(moved - pts).max()) if len(pts) else 0.0


def _apply(points: np.ndarray, matrix: np.ndarray, origin: tuple[int, int], scale: tuple[float, float]
           ) -> np.ndarray:  # fmt: skip
    """Outline points (full resolution) moved by a 2x3 matrix given in work coordinates."""
    ox, oy = origin
    sx, sy = scale
    wx = (points[:, 0] - ox + 0.5) * sx - 0.5
    wy = (points[:, 1] - oy + 0.5) * sy - 0.5
    nx = matrix[0, 0] * wx + matrix[0, 1] * wy + matrix[0, 2]
    ny = matrix[1, 0] * wx + matrix[1, 1] * wy + matrix[1, 2]
    return np.stack([(nx + 0.5) / sx - 0.5 + ox, (ny + 0.5) / sy - 0.5 + oy], axis=1).astype(np.float32)


def _move(points: np.ndarray, motion: np.ndarray, origin: tuple[int, int], scale: tuple[float, float]) -> np.ndarray:
    """Outline points (full resolution) moved by ``motion`` (work scale, crop coordinates)."""
    import cv2

    ox, oy = origin
    sx, sy = scale
    mx = ((points[:, 0] - ox + 0.5) * sx - 0.5).astype(np.float32).reshape(-1, 1)
    my = ((points[:, 1] - oy + 0.5) * sy - 0.5).astype(np.float32).reshape(-1, 1)
    dx = cv2.remap(motion[..., 0], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(-1)
    dy = cv2.remap(motion[..., 1], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(-1)
    return np.stack([points[:, 0] + dx / sx, points[:, 1] + dy / sy], axis=1).astype(np.float32)


def copy_mask(mask: np.ndarray) -> np.ndarray:
    """"Copy from the previous frame": the trivial propagation (the same pixels)."""
    return np.asarray(mask, bool).copy()


def propagate(frames: ClipFrames, source: int, mask: np.ndarray, targets: Sequence[int], *,
              tracker: FlowTracker | None = None, refine: Segmenter | None = None,
              min_area: int = 16, progress: Progress = no_progress,
              cancel: CancelToken | None = None) -> PropagationResult:  # fmt: skip
    """Propose ``mask`` (on sampled frame ``source``) on the sampled frames ``targets``.

    Targets after ``source`` are reached walking forwards, those before it backwards, each
    walk continuing from the frame before (so ten frames cost ten walks, not 55). A frame
    where the object vanished (fewer than ``min_area`` pixels) ends its walk: nothing is
    proposed there or beyond, and the result lists it in ``lost``. ``refine`` snaps each
    warped mask to the frame with that segmenter.
    """
    tracker = tracker or FlowTracker()
    result = PropagationResult(int(source))
    mask = np.asarray(mask, bool)
    forward = sorted(k for k in set(targets) if k > source)
    backward = sorted((k for k in set(targets) if k < source), reverse=True)
    total = len(forward) + len(backward)
    done = 0
    if not frames.has_video:
        result.notes.append("no video between the sampled frames: flow went straight from one sampled "
                            "frame to the next (reliable only for small motion)")  # fmt: skip
    for walk in (forward, backward):
        prev_k, current, conf = source, mask, 1.0
        for k in walk:
            if cancel is not None:
                cancel.raise_if_cancelled()
            progress(done, total, f"frame {k + 1}")
            between = frames.between(prev_k, k)
            direct = not between
            current, share, steps = tracker.walk(current, frames.sampled(prev_k), [*between, frames.sampled(k)],
                                                 direct=direct, cancel=cancel)  # fmt: skip
            conf = min(conf, share)  # as trustworthy as the weakest walk that led here
            if int(current.sum()) < min_area:
                result.lost.append(k)
                done += len(walk) - walk.index(k)
                break
            proposal = current
            refined = False
            if refine is not None:
                prompt = proposal_prompt(current)
                found = refine.segment(frames.sampled(k), prompt).mask
                if found.sum() >= min_area:
                    proposal, refined = found, True
            result.frames.append(Propagated(k, proposal, conf, steps, direct, refined))
            current = proposal
            prev_k = k
            done += 1
    result.notes.extend(frames.notes)
    result.frames.sort(key=lambda p: p.frame)
    progress(total, total, "")
    return result
