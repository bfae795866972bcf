"""Prompts and the one small interface every segmentation backend implements.

A :class:`Prompt` is what an annotator gives: clicks (positive inside the object,
negative outside it), an optional box, and an optional *prior* mask (the object's current
mask, a model proposal, a mask warped from another frame). A :class:`Segmenter` turns an
image and a prompt into a mask::

    result = segmenter.segment(rgb, Prompt(clicks=(Click(120, 80),)))
    result = segmenter.segment(rgb, prompt.with_click(Click(150, 90, positive=False)), state=result.state)

``state`` is the backend's own memory of the previous answer on the same image (GrabCut's
colour models, SAM's low-resolution logits): passing it back makes the next click cheaper
and more consistent, never different in kind. Coordinates are image pixels, pixel
(row ``r``, column ``c``) centred at ``(x, y) = (c, r)``, as everywhere in the core.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from avs_studio.core.errors import AVSError

__all__ = [
    "AssistError",
    "AssistUnavailable",
    "Click",
    "Prompt",
    "SegmentResult",
    "Segmenter",
    "proposal_prompt",
]


class AssistError(AVSError):
    """An assistance request that cannot be served (bad model files, an empty prompt)."""


class AssistUnavailable(AssistError):
    """A backend that cannot run here (a missing package, unusable model files); says why."""


@dataclass(frozen=True)
class Click:
    """One click: image position and polarity (True: the object is here)."""

    x: float
    y: float
    positive: bool = True


@dataclass(frozen=True)
class Prompt:
    """Clicks, an optional box ``(x0, y0, x1, y1)`` and an optional prior mask (bool ``[H, W]``)."""

    clicks: tuple[Click, ...] = ()
    box: tuple[float, float, float, float] | None = None
    prior: np.ndarray | None = field(default=None, compare=False, repr=False)

    def with_click(self, click: Click) -> Prompt:
        """This prompt with one more click."""
        return replace(self, clicks=(*self.clicks, click))

    def with_box(self, box: tuple[float, float, float, float] | None) -> Prompt:
        """This prompt with ``box`` (corners in any order) instead of its box."""
        if box is None:
            return replace(self, box=None)
        x0, y0, x1, y1 = (float(v) for v in box)
        return replace(self, box=(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))

    def without_last_click(self) -> Prompt:
        """This prompt without its latest click."""
        return replace(self, clicks=self.clicks[:-1])

    @property
    def positives(self) -> list[Click]:
        """The positive clicks."""
        return [c for c in self.clicks if c.positive]

    @property
    def negatives(self) -> list[Click]:
        """The negative clicks."""
        return [c for c in self.clicks if not c.positive]

    @property
    def empty(self) -> bool:
        """True when nothing says where the object is (no positive click, box or prior)."""
        has_prior = self.prior is not None and bool(np.any(self.prior))
        return not self.positives and self.box is None and not has_prior


@dataclass
class SegmentResult:
    """A backend's answer: the mask (bool ``[H, W]``), a score if it has one, its state."""

    mask: np.ndarray
    score: float | None = None
    state: Any = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)


class Segmenter(ABC):
    """Image + prompt -> mask. Implementations: the built-in classical segmenter and the
    SAM-family ONNX pairs (``avs_studio.core.assist.classical`` and ``...sam``)."""

    #: What the user sees ("GrabCut (built in)", "SAM ViT-B (ONNX)").
    name: str = ""

    def prepare(self, image: np.ndarray, key: Hashable) -> None:  # noqa: B027 - optional hook
        """Precompute what clicks on ``image`` need (an image embedding), cached under ``key``.

        Called in the background when a clip opens; the built-in segmenter needs nothing.
        """

    def is_prepared(self, key: Hashable) -> bool:
        """True when a click on the image of ``key`` needs no heavy work first."""
        return True

    @abstractmethod
    def segment(self, image: np.ndarray, prompt: Prompt, *, state: Any = None,
                key: Hashable | None = None) -> SegmentResult:  # fmt: skip
        """The mask of the object ``prompt`` points at on ``image`` (RGB uint8 ``[H, W, 3]``).

        ``state`` is the :attr:`SegmentResult.state` of the previous call on the same image
        and object (or None); ``key`` names the image for cached embeddings.
        """


def check_image(image: np.ndarray) -> np.ndarray:
    """``image`` as a C-contiguous RGB uint8 array, or an AssistError."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise AssistError(f"expected an RGB uint8 image [H, W, 3], got {img.dtype} {img.shape}")
    return np.ascontiguousarray(img)


def proposal_prompt(mask: np.ndarray, *, probability: np.ndarray | None = None, max_positive: int = 3,
                    max_negative: int = 4) -> Prompt:  # fmt: skip
    """"Refine proposal": a proposal turned into clicks for a segmenter.

    Positives go to the proposal's most confident interior (the points deepest inside its
    largest parts, or of its high-probability core when ``probability`` (0..1 or 0..255)
    is given); negatives to a ring just outside it, spread around it. The proposal itself
    is the prior. An empty proposal gives an empty prompt.
    """
    import cv2

    m = np.asarray(mask).astype(bool)
    if not m.any():
        return Prompt()
    core = m
    if probability is not None:
        p = np.asarray(probability, dtype=np.float32)
        if p.max() > 1.0:
            p = p / 255.0
        high = m & (p >= 0.8)
        if high.sum() >= max(16, 0.1 * m.sum()):
            core = high
    positives = _deep_points(core, max_positive)
    h, w = m.shape
    ys, xs = np.nonzero(m)
    size = max(int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    gap = max(3, int(round(0.12 * size)))
    dist_out = cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 3)
    ring = (dist_out > gap) & (dist_out <= 2 * gap + 2)
    negatives = _spread_points(ring, m, max_negative)
    clicks = tuple(Click(float(x), float(y), True) for x, y in positives)
    clicks += tuple(Click(float(x), float(y), False) for x, y in negatives)
    return Prompt(clicks=clicks, prior=m)


def _deep_points(region: np.ndarray, n: int) -> list[tuple[int, int]]:
    """Up to ``n`` points: the deepest point of each of the ``n`` largest parts of ``region``."""
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(region.astype(np.uint8), connectivity=8)
    order = np.argsort(stats[1:, cv2.CC_STAT_AREA])[::-1][:n] + 1
    biggest = stats[order[0], cv2.CC_STAT_AREA] if len(order) else 0
    out = []
    for lab in order:
        if stats[lab, cv2.CC_STAT_AREA] < max(9, 0.05 * biggest):
            continue
        part = np.pad(labels == lab, 1).astype(np.uint8)
        dist = cv2.distanceTransform(part, cv2.DIST_L2, 3)[1:-1, 1:-1]
        r, c = np.unravel_index(int(np.argmax(dist)), dist.shape)
        out.append((int(c), int(r)))
    return out


def _spread_points(ring: np.ndarray, mask: np.ndarray, n: int) -> list[tuple[int, int]]:
    """Up to ``n`` ring pixels in evenly spaced directions around the mask's centre."""
    ys, xs = np.nonzero(ring)
    if len(xs) == 0:
        return []
    my, mx = np.nonzero(mask)
    cy, cx = my.mean(), mx.mean()
    angle = np.arctan2(ys - cy, xs - cx)
    out = []
    for i in range(n):
        target = -np.pi + (i + 0.5) * 2 * np.pi / n
        diff = np.abs(np.angle(np.exp(1j * (angle - target))))
        j = int(np.argmin(diff))
        if diff[j] < np.pi / n:
            out.append((int(xs[j]), int(ys[j])))
    return out
